"""Indexing against JAX: gather, dynamic_slice, dynamic_update_slice and scatter, with the
cases a naive ONNX mapping gets wrong: out-of-range starts (StableHLO clamps them),
out-of-bounds scatter windows (StableHLO skips them), repeated scatter indices (with every
body JAX's .at[] emits: set, add, subtract, multiply, min, max, apply), batching dims from
vmap, and operands with symbolic dims."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx
from jax import lax

from jax2onnx_hlo import ConversionError, from_stablehlo, onnx_function, to_onnx
from jax2onnx_hlo.testing import (
    assert_outputs_close,
    check_against_jax,
    random_array,
    run_onnx,
)

f32, f16, i32, b = np.float32, np.float16, np.int32, np.bool_
GSM = lax.GatherScatterMode


def _x(shape, dtype=f32, seed=0):
    return random_array(shape, dtype, seed)


def _i(*values):
    return np.array(values, np.int32)


X = _x((5, 4))
X3 = _x((2, 5, 3), seed=1)
ROWS = _x((3, 4), seed=2)
VALUES = _x((4,), seed=3)

# lax.gather of 2x2 windows at (row, col) starts: the last two starts do not fit and clamp.
_PATCHES = lax.GatherDimensionNumbers(offset_dims=(1, 2), collapsed_slice_dims=(),
                                      start_index_map=(0, 1))
# Window axis before the batch axis in the result: x[idx, :] laid out as (4, n).
_ROWS_FIRST = lax.GatherDimensionNumbers(offset_dims=(0,), collapsed_slice_dims=(0,),
                                         start_index_map=(0,))
# Windows of 2 at a start: one at 4 on a length-5 axis does not fit and is skipped whole.
_PAIRS = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(),
                                     scatter_dims_to_operand_dims=(0,))


def _gather(dn, sizes, mode):
    return lambda x, idx: lax.gather(x, idx, dn, sizes, mode=mode)


class _Embedding(nnx.Module):
    def __init__(self):
        self.embed = nnx.Embed(10, 4, rngs=nnx.Rngs(0))

    def __call__(self, tokens):
        return self.embed(tokens)


# (id, fn, args, tolerance). Each row is exported, checked and run in ONNX Runtime.
CASES = [
    # ---- x[i]: dynamic_slice and gather ----------------------------------------------------
    ("x_i_traced", lambda x, i: x[i], [X, np.int32(3)], 0),
    ("x_i_traced_negative", lambda x, i: x[i], [X, np.int32(-2)], 0),
    # A scalar index past the end: dynamic_slice clamps it to the last row.
    ("x_i_traced_out_of_range", lambda x, i: x[i], [X, np.int32(9)], 0),
    ("x_i_constant", lambda x: x[2], [X], 0),
    ("x_idx", lambda x, i: x[i], [X, _i(0, 4, 2)], 0),
    ("x_idx_negative", lambda x, i: x[i], [X, _i(-1, -5, 2)], 0),
    # Out-of-range array indices: jnp's default for retrieval clamps (PROMISE_IN_BOUNDS).
    ("x_idx_out_of_range", lambda x, i: x[i], [X, _i(7, -9, 1)], 0),
    ("x_idx_constant", lambda x: x[jnp.array([3, 1, 1])], [X], 0),
    ("x_idx_2d", lambda x, i: x[i], [X, _i(0, 1, 4, 3, 3, 2).reshape(2, 3)], 0),
    ("x_col_idx", lambda x, i: x[:, i], [X, _i(3, 0, 1, 3)], 0),
    ("x_idx1_idx2", lambda x, i, j: x[i, j], [X, _i(0, 4, 2), _i(3, 0, -1)], 0),
    ("x_idx1_idx2_out_of_range", lambda x, i, j: x[i, j], [X, _i(0, 8, 2), _i(3, 0, 6)], 0),
    ("x_ellipsis_none_idx", lambda x, i: x[..., None, i], [X3, _i(2, 0)], 0),
    ("x_idx_then_slice", lambda x, i: x[i, 1:3], [X, _i(4, 0)], 0),
    ("x_middle_axis_idx", lambda x, i: x[:, i, :], [X3, _i(4, 4, 0)], 0),
    ("x_idx_int32", lambda x, i: x[:, i], [_x((3, 4), i32), _i(3, -4)], 0),
    ("x_idx_bool", lambda x, i: x[i], [_x((5, 2), b), _i(1, 3, 3)], 0),
    ("x_idx_scalar_array_index", lambda x, i: x[i, 2], [X3[0], _i(4, 1)], 0),
    # ---- jnp.take, take_along_axis ----------------------------------------------------------
    ("take_axis0", lambda x, i: jnp.take(x, i, axis=0), [X, _i(1, 3)], 0),
    # A 0-d index: the clamp bound must not give the batch shape an axis it lacks.
    ("take_scalar_index", lambda x, i: jnp.take(x, i, axis=1), [X, np.int32(-1)], 0),
    ("take_scalar_index_flat", lambda x, i: jnp.take(x, i), [X, np.int32(22)], 0),
    ("take_axis1_clip", lambda x, i: jnp.take(x, i, axis=1, mode="clip"),
     [X, _i(-3, 2, 10)], 0),
    # mode="fill" (jnp.take's default) gives NaN for the out-of-range ones.
    ("take_fill", lambda x, i: jnp.take(x, i, axis=1), [X, _i(-9, 2, 4, 3)], 0),
    ("take_fill_int32", lambda x, i: jnp.take(x, i, axis=0, mode="fill", fill_value=-1),
     [_x((5, 4), i32), _i(2, 5, 0)], 0),
    ("take_wrap", lambda x, i: jnp.take(x, i, axis=0, mode="wrap"), [X, _i(-1, 7, 12)], 0),
    ("take_flat", lambda x, i: jnp.take(x, i), [X, _i(0, 19, 7)], 0),
    ("take_along_axis1", lambda x, i: jnp.take_along_axis(x, i, axis=1),
     [X, _i(0, 3, 1, 1, 2, 2, 3, 0, 1, 1).reshape(5, 2)], 0),
    ("take_along_axis0", lambda x, i: jnp.take_along_axis(x, i, axis=0),
     [X, _i(4, 0, 1, 2, 3, 3, 0, 1).reshape(2, 4)], 0),
    ("take_along_last_3d", lambda x, i: jnp.take_along_axis(x, i, axis=-1),
     [X3, random_array((2, 5, 2), i32, seed=4, low=0, high=2)], 0),
    ("take_along_argmax", lambda x: jnp.take_along_axis(x, jnp.argmax(x, 1, keepdims=True), 1),
     [X], 0),
    ("embedding_nnx", _Embedding(), [_i(1, 9, 0, 9, 3, 4).reshape(2, 3)], 1e-6),
    # ---- vmap'ed gathers: operand_batching_dims -----------------------------------------
    ("vmap_x_idx", jax.vmap(lambda x, i: x[i]), [X3, _i(0, 4, 3, 1).reshape(2, 2)], 0),
    ("vmap_x_i_scalar", jax.vmap(lambda x, i: x[i]), [X3, _i(4, 1)], 0),
    ("vmap_take_along", jax.vmap(lambda x, i: jnp.take_along_axis(x, i, 0)),
     [X3, random_array((2, 3, 3), i32, seed=5, low=0, high=4)], 0),
    ("vmap_in_axes1", jax.vmap(lambda x, i: x[i], in_axes=(1, None)), [X3, _i(1, 0, 1)], 0),
    # ---- lax.gather with explicit modes and dimension numbers -----------------------------
    ("gather_clip", _gather(_ROWS_FIRST, (1, 4), GSM.CLIP), [X, _i(-4, 2, 11)[:, None]], 0),
    ("gather_promise_in_bounds", _gather(_ROWS_FIRST, (1, 4), GSM.PROMISE_IN_BOUNDS),
     [X, _i(-4, 2, 11)[:, None]], 0),
    ("gather_fill", _gather(_ROWS_FIRST, (1, 4), GSM.FILL_OR_DROP),
     [X, _i(-4, 2, 11)[:, None]], 0),
    ("gather_patches_clamped", _gather(_PATCHES, (2, 2), GSM.CLIP),
     [X, _i(0, 0, 3, 2, 4, 3, -1, 9).reshape(4, 2)], 0),
    ("gather_patches_promise", _gather(_PATCHES, (2, 2), GSM.PROMISE_IN_BOUNDS),
     [X, _i(1, 1, 4, 3, 7, -2).reshape(3, 2)], 0),
    # ---- dynamic_slice ------------------------------------------------------------------------
    ("dynamic_slice", lambda x, i, j: lax.dynamic_slice(x, (i, j), (2, 3)),
     [X, np.int32(1), np.int32(1)], 0),
    ("dynamic_slice_start_past_end", lambda x, i, j: lax.dynamic_slice(x, (i, j), (2, 3)),
     [X, np.int32(4), np.int32(100)], 0),
    ("dynamic_slice_negative_start", lambda x, i: lax.dynamic_slice(x, (i, 0), (3, 2)),
     [X, np.int32(-9)], 0),
    ("dynamic_slice_3d", lambda x, i, j: lax.dynamic_slice(x, (1, i, j), (1, 3, 2)),
     [X3, np.int32(3), np.int32(2)], 0),
    ("dynamic_slice_in_dim_int32", lambda x, i: lax.dynamic_slice_in_dim(x, i, 2, axis=1),
     [_x((5, 4), i32), np.int32(3)], 0),
    ("dynamic_slice_bool", lambda x, i: lax.dynamic_slice(x, (i, 0), (2, 2)),
     [_x((5, 2), b), np.int32(7)], 0),
    ("dynamic_slice_whole_axis", lambda x, i: lax.dynamic_slice(x, (i, 0), (5, 2)),
     [X, np.int32(2)], 0),
    # ---- dynamic_update_slice -----------------------------------------------------------------
    ("dynamic_update_slice", lambda x, u, i: lax.dynamic_update_slice(x, u, (i, 1)),
     [X, _x((2, 2), seed=1), np.int32(2)], 0),
    ("dynamic_update_slice_past_end", lambda x, u, i, j: lax.dynamic_update_slice(x, u, (i, j)),
     [X, _x((2, 3), seed=1), np.int32(9), np.int32(3)], 0),
    ("dynamic_update_slice_negative", lambda x, u, i: lax.dynamic_update_slice(x, u, (i, i)),
     [X, _x((3, 2), seed=1), np.int32(-8)], 0),
    ("dynamic_update_slice_row", lambda x, u, i: lax.dynamic_update_index_in_dim(x, u, i, 0),
     [X, VALUES, np.int32(3)], 0),
    ("dynamic_update_slice_kv_cache",
     lambda c, u, t: lax.dynamic_update_slice(c, u, (0, t, 0)),
     [X3, _x((2, 1, 3), seed=1), np.int32(4)], 0),
    ("dynamic_update_slice_covers_all", lambda x, u, i: lax.dynamic_update_slice(x, u, (i, i)),
     [X, _x((5, 4), seed=1), np.int32(2)], 0),
    ("dynamic_update_slice_int32", lambda x, u, i: lax.dynamic_update_slice(x, u, (1, i)),
     [_x((3, 4), i32), _x((2, 2), i32, seed=1), np.int32(5)], 0),
    ("dynamic_update_slice_bool", lambda x, u, i: lax.dynamic_update_slice(x, u, (i,)),
     [_x((6,), b), _x((2,), b, seed=1), np.int32(-1)], 0),
    # ---- .at[] updates: scatter -----------------------------------------------------------------
    ("at_set_unique", lambda x, i, u: x.at[i].set(u), [VALUES, _i(3, 0), _x((2,), seed=1)], 0),
    # Repeated indices with set: XLA's CPU backend and ONNX Runtime both let the last win.
    ("at_set_repeated", lambda x, i, u: x.at[i].set(u),
     [VALUES, _i(1, 1, 2, 1), _x((4,), seed=1)], 0),
    ("at_add_repeated", lambda x, i, u: x.at[i].add(u),
     [VALUES, _i(1, 1, 2, 1), _x((4,), seed=1)], 1e-6),
    ("at_multiply_repeated", lambda x, i, u: x.at[i].multiply(u),
     [VALUES, _i(0, 3, 0), _x((3,), seed=1)], 1e-6),
    ("at_min_repeated", lambda x, i, u: x.at[i].min(u),
     [VALUES, _i(2, 2, 3), _x((3,), seed=1)], 0),
    ("at_max_repeated", lambda x, i, u: x.at[i].max(u),
     [VALUES, _i(2, 2, 3), _x((3,), seed=1)], 0),
    ("at_get_fill", lambda x, i: x.at[i].get(mode="fill", fill_value=-1.0),
     [VALUES, _i(0, 4, -1, -5)], 0),
    ("at_set_unique_indices_flag", lambda x, i, u: x.at[i].set(u, unique_indices=True),
     [VALUES, _i(2, 0), _x((2,), seed=1)], 0),
    # Out-of-bounds updates are dropped, not clamped or wrapped.
    ("at_set_out_of_bounds_dropped", lambda x, u: x.at[10].set(u, mode="drop"),
     [_x((5,)), np.float32(7)], 0),
    ("at_add_out_of_bounds_mixed", lambda x, i, u: x.at[i].add(u, mode="drop"),
     [_x((5,)), _i(-1, -7, 9, 2, 5), _x((5,), seed=1)], 1e-6),
    ("at_set_clip_mode", lambda x, i, u: x.at[i].set(u, mode="clip"),
     [_x((5,)), _i(12,), _x((1,), seed=1)], 0),
    ("at_set_rows", lambda x, i, u: x.at[i].set(u), [X, _i(4, 0, 2), ROWS], 0),
    ("at_add_rows_repeated", lambda x, i, u: x.at[i].add(u), [X, _i(1, 1, 4), ROWS], 1e-6),
    ("at_set_row_out_of_bounds", lambda x, i, u: x.at[i].set(u, mode="drop"),
     [X, _i(6, 1, -8), ROWS], 0),
    ("at_add_columns", lambda x, i, u: x.at[:, i].add(u),
     [X, _i(3, 0, 3), _x((5, 3), seed=1)], 1e-6),
    ("at_set_points_2d", lambda x, i, j, u: x.at[i, j].set(u),
     [X, _i(0, 4, 2), _i(3, 0, 1), _x((3,), seed=1)], 0),
    ("at_set_slice", lambda x, u: x.at[1:3].set(u), [X, _x((2, 4), seed=1)], 0),
    ("at_set_scalar_index_traced", lambda x, i, u: x.at[i].set(u), [X, np.int32(-1), VALUES], 0),
    ("segment_sum", lambda d, s: jax.ops.segment_sum(d, s, num_segments=3),
     [_x((6, 2)), _i(0, 2, 2, 1, 0, 2)], 1e-6),
    # A window of 2 starting at the last element does not fit: skipped whole.
    ("scatter_add_window_past_end",
     lambda x, i, u: lax.scatter_add(x, i, u, _PAIRS, mode=GSM.FILL_OR_DROP),
     [_x((5,)), _i(4, 1, 3).reshape(3, 1), _x((3, 2), seed=1)], 1e-6),
    ("at_add_int32", lambda x, i, u: x.at[i].add(u),
     [_x((5,), i32), _i(1, 1, 3), _x((3,), i32, seed=1)], 0),
    ("at_min_int32_rows", lambda x, i, u: x.at[i].min(u),
     [_x((5, 4), i32), _i(0, 0, 3), _x((3, 4), i32, seed=1)], 0),
    ("at_set_bool", lambda x, i, u: x.at[i].set(u), [_x((5,), b), _i(0, 3), _x((2,), b, 1)], 0),
    ("at_max_bool", lambda x, i, u: x.at[i].max(u), [_x((5,), b), _i(0, 0, 3), _x((3,), b, 1)], 0),
    ("at_min_bool", lambda x, i, u: x.at[i].min(u), [_x((5,), b), _i(1, 1, 2), _x((3,), b, 2)], 0),
    ("at_add_f16", lambda x, i, u: x.at[i].add(u),
     [_x((5,), f16), _i(1, 1, 3), _x((3,), f16, seed=1)], 1e-2),
    ("at_multiply_f16", lambda x, i, u: x.at[i].multiply(u),
     [_x((5,), f16), _i(1, 1, 3), _x((3,), f16, seed=1)], 1e-2),
    # subtract: ScatterElements add of -u. x - u1 - u2 is x + -u1 + -u2 with the same
    # roundings, in the same (update) order: 1 - 1e8 + 1e8 is 0 in float32, as in JAX.
    ("at_subtract_repeated", lambda x, i, u: x.at[i].subtract(u),
     [VALUES, _i(1, 1, 2, 1), _x((4,), seed=1)], 1e-6),
    ("at_subtract_rounding_order", lambda x, i, u: x.at[i].subtract(u),
     [np.ones(3, f32), _i(0, 0, 2), np.array([1e8, -1e8, 3.0], f32)], 0),
    ("at_subtract_out_of_bounds", lambda x, i, u: x.at[i].subtract(u, mode="drop"),
     [_x((5,)), _i(-1, -7, 9, 2, 5, 2), _x((6,), seed=1)], 1e-6),
    ("at_subtract_rows_repeated", lambda x, i, u: x.at[i].subtract(u),
     [X, _i(1, 1, 4, 7), _x((4, 4), seed=1)], 1e-6),
    ("at_subtract_int32_wraps", lambda x, i, u: x.at[i].subtract(u),
     [np.array([0, -2**31, 5, 2**31 - 1], i32), _i(1, 1, 0, 3, 6),
      np.array([1, 2**31 - 1, -2**31, -1, 4], i32)], 0),
    ("at_subtract_uint8_wraps", lambda x, i, u: x.at[i].subtract(u),
     [np.array([0, 3, 250], np.uint8), _i(0, 1, 1, 2),
      np.array([1, 2, 9, 200], np.uint8)], 0),
    ("at_subtract_f16", lambda x, i, u: x.at[i].subtract(u),
     [_x((5,), f16), _i(1, 1, 3), _x((3,), f16, seed=1)], 1e-2),
    ("at_subtract_unique_indices_flag", lambda x, i, u: x.at[i].subtract(u, unique_indices=True),
     [VALUES, _i(2, 0), _x((2,), seed=1)], 1e-6),
    # divide and power scatter a product of the updates, then divide / raise the operand
    ("at_divide_repeated", lambda x, i, u: x.at[i].divide(u),
     [VALUES, _i(1, 1, 3, 8), _x((4,), seed=1)], 1e-5),
    ("at_power_repeated", lambda x, i, u: x.at[i].power(u),
     [np.abs(VALUES) + 0.5, _i(0, 0, 2), np.array([2.0, 0.5, 3.0], f32)], 1e-5),
    # apply(f): the body ignores the update; f runs once per hit (twice where repeated),
    # out-of-range indices are dropped
    ("at_apply_repeated", lambda x, i: x.at[i].apply(jnp.sin),
     [VALUES, _i(1, 1, 2, 1, 9, -7)], 1e-6),
    ("at_apply_int32_constants", lambda x, i: x.at[i].apply(lambda v: v * 2 + 1),
     [_x((5,), i32), _i(0, 0, 3, 0, -1, 12)], 0),
    ("at_apply_rows_repeated", lambda x, i: x.at[i].apply(jnp.exp), [X, _i(4, 0, 4, -9)], 1e-5),
    ("at_apply_unique_indices_flag", lambda x, i: x.at[i].apply(jnp.cos, unique_indices=True),
     [VALUES, _i(3, 0, 7)], 1e-6),
    ("at_apply_bool", lambda x, i: x.at[i].apply(jnp.logical_not),
     [_x((5,), b), _i(0, 0, 3, 3, 3)], 0),
    # ---- vmap'ed scatters: input_batching_dims ----------------------------------------------
    ("vmap_at_set", jax.vmap(lambda x, i, u: x.at[i].set(u)),
     [X, _i(0, 3, 1, 1, 2, 0, 3, 3, 0, 2).reshape(5, 2), _x((5, 2), seed=1)], 0),
    ("vmap_at_add", jax.vmap(lambda x, i, u: x.at[i].add(u)),
     [X3, _i(0, 0, 4, 2).reshape(2, 2), _x((2, 2, 3), seed=1)], 1e-6),
    ("vmap_at_add_drop", jax.vmap(lambda x, i, u: x.at[i].add(u, mode="drop")),
     [X3, _i(0, 9, -6, 2).reshape(2, 2), _x((2, 2, 3), seed=1)], 1e-6),
    ("vmap_at_subtract_drop", jax.vmap(lambda x, i, u: x.at[i].subtract(u, mode="drop")),
     [X3, _i(0, 9, 4, 4).reshape(2, 2), _x((2, 2, 3), seed=1)], 1e-6),
    ("vmap_at_apply", jax.vmap(lambda x, i: x.at[i].apply(jnp.tanh)),
     [X3, _i(0, 0, 9, 2).reshape(2, 2)], 1e-6),
]


@pytest.mark.parametrize("name,fn,args,tol", CASES, ids=[c[0] for c in CASES])
def test_gather_scatter(name, fn, args, tol):
    # x[..., None, idx] with a symbolic leading dim is a batched dynamic_gather.
    check_against_jax(fn, args, rtol=tol, atol=tol)


def test_gather_bypasses_flattening_for_axis_take():
    # x[idx] along one axis is a single Gather on the operand, not on a flattened copy.
    model = check_against_jax(lambda x, i: x[:, i], [X, _i(3, 0)])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gather") == 1 and "Reshape" not in ops, ops


# A scatter whose body divides (JAX's .at[].divide scatters a product instead): exact only
# when no index repeats, which the unique_indices attribute promises.
_SCATTER_DIVIDE = """
func.func @main(%x: tensor<5xf32>, %idx: tensor<3x1xi32>, %u: tensor<3xf32>) -> tensor<5xf32> {
  %0 = "stablehlo.scatter"(%x, %idx, %u) <{indices_are_sorted = false,
      scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0],
      scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = UNIQUE}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %1 = stablehlo.divide %a, %b : tensor<f32>
    stablehlo.return %1 : tensor<f32>
  }) : (tensor<5xf32>, tensor<3x1xi32>, tensor<3xf32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}
"""


def test_scatter_divide_body_with_unique_indices():
    model = from_stablehlo(_SCATTER_DIVIDE.replace("UNIQUE", "true"))
    x, u = _x((5,)), np.array([2.0, -4.0, 8.0], f32)
    idx = _i(4, 0, 7).reshape(3, 1)  # 7 does not fit: dropped
    expected = x.copy()
    expected[4], expected[0] = x[4] / 2.0, x[0] / -4.0
    assert_outputs_close([expected], run_onnx(model, [x, idx, u]), rtol=1e-6, atol=1e-6)


def test_scatter_divide_body_with_indices_that_may_repeat_is_refused():
    with pytest.raises(ConversionError, match=r"\[stablehlo.divide\] with indices that may"):
        from_stablehlo(_SCATTER_DIVIDE.replace("UNIQUE", "false"))


def test_scatter_with_non_elementwise_body_is_refused():
    body = _SCATTER_DIVIDE.replace("UNIQUE", "true").replace(
        "stablehlo.divide %a, %b : tensor<f32>",
        "stablehlo.reshape %a : (tensor<f32>) -> tensor<f32>")
    with pytest.raises(ConversionError, match="stablehlo.reshape is not elementwise"):
        from_stablehlo(body)


# (id, fn, specs with symbolic dims, concrete arg shapes at two sizes)
_S = jax.ShapeDtypeStruct
SYMBOLIC = [
    ("embedding_tokens", lambda t, i: t[i], [_S((10, 4), f32), _S(("B", "T"), i32)],
     [[(10, 4), (2, 3)], [(10, 4), (5, 1)]]),
    ("vmap_gather", jax.vmap(lambda x, i: x[i]), [_S(("B", 5, 4), f32), _S(("B", 2), i32)],
     [[(1, 5, 4), (1, 2)], [(3, 5, 4), (3, 2)]]),
    ("take_along_axis", lambda x, i: jnp.take_along_axis(x, i, axis=1),
     [_S(("B", 5), f32), _S(("B", 2), i32)], [[(2, 5), (2, 2)], [(4, 5), (4, 2)]]),
    ("dynamic_slice", lambda c, t: lax.dynamic_slice_in_dim(c, t, 2, axis=1),
     [_S(("B", 5, 4), f32), _S((), i32)], [[(3, 5, 4), ()], [(1, 5, 4), ()]]),
    ("dynamic_update_slice_kv", lambda c, u, t: lax.dynamic_update_slice(c, u, (0, t, 0)),
     [_S(("B", 8, 4), f32), _S(("B", 1, 4), f32), _S((), i32)],
     [[(1, 8, 4), (1, 1, 4), ()], [(3, 8, 4), (3, 1, 4), ()]]),
    ("scatter_add_rows", lambda x, i, u: x.at[i].add(u),
     [_S(("B", 4), f32), _S(("N",), i32), _S(("N", 4), f32)],
     [[(5, 4), (6,), (6, 4)], [(2, 4), (3,), (3, 4)]]),
    ("vmap_scatter", jax.vmap(lambda x, i, u: x.at[i].set(u)),
     [_S(("B", 5), f32), _S(("B", 2), i32), _S(("B", 2), f32)],
     [[(1, 5), (1, 2), (1, 2)], [(4, 5), (4, 2), (4, 2)]]),
    ("at_subtract_rows", lambda x, i, u: x.at[i].subtract(u),
     [_S(("B", 4), f32), _S(("N",), i32), _S(("N", 4), f32)],
     [[(5, 4), (6,), (6, 4)], [(2, 4), (3,), (3, 4)]]),
    ("at_apply_rows", lambda x, i: x.at[i].apply(jnp.sin),
     [_S(("B", 4), f32), _S(("N",), i32)], [[(5, 4), (6,)], [(2, 4), (3,)]]),
    # batched dynamic_gather: the slice sizes hold B (or T), the indices are inputs
    ("take_columns_clip", lambda x, i: jnp.take(x, i, axis=1, mode="clip"),
     [_S(("B", 5), f32), _S(("N",), i32)], [[(3, 5), (4,)], [(1, 5), (2,)]]),
    ("take_columns_fill", lambda x, i: jnp.take(x, i, axis=1),
     [_S(("B", 5), f32), _S(("N",), i32)], [[(3, 5), (4,)], [(1, 5), (2,)]]),
    ("ellipsis_none_index", lambda x, i: x[..., None, i],
     [_S(("B", 5), f32), _S((3,), i32)], [[(2, 5), (3,)], [(6, 5), (3,)]]),
    ("two_index_arrays_window_b", lambda x, i, j: x[:, i, j],
     [_S(("B", 4, 5), f32), _S((3,), i32), _S((3,), i32)],
     [[(2, 4, 5), (3,), (3,)], [(1, 4, 5), (3,), (3,)]]),
    # a scatter whose update window spans B (not indexed): offsets read from the update
    ("at_add_strided_columns", lambda x, u: x.at[:, ::2].add(u),
     [_S(("B", 5), f32), _S(("B", 3), f32)], [[(2, 5), (2, 3)], [(1, 5), (1, 3)]]),
    ("at_set_column_block", lambda x, u: x.at[:, 1:3].set(u),
     [_S(("B", 4, 3), f32), _S(("B", 2, 3), f32)],
     [[(2, 4, 3), (2, 2, 3)], [(3, 4, 3), (3, 2, 3)]]),
    # a symbolic dim after the first: the flattened operand's strides are read at runtime
    ("at_set_column_block_b_t", lambda x, u: x.at[:, 1:3].set(u),
     [_S(("B", 4, "T"), f32), _S(("B", 2, "T"), f32)],
     [[(2, 4, 3), (2, 2, 3)], [(3, 4, 1), (3, 2, 1)]]),
    ("two_index_arrays_b_t_s", lambda x, i, j: x[:, i, j],
     [_S(("B", "T", "S"), f32), _S((3,), i32), _S((3,), i32)],
     [[(2, 4, 5), (3,), (3,)], [(1, 6, 2), (3,), (3,)]]),
    ("vmap_take_b_t", jax.vmap(lambda x, i: x[i]), [_S(("B", "T", 4), f32), _S(("B", 2), i32)],
     [[(1, 5, 4), (1, 2)], [(3, 2, 4), (3, 2)]]),
    ("take_middle_axis_b_t", lambda x, i: jnp.take(x, i, axis=1, mode="clip"),
     [_S(("B", 5, "T"), f32), _S((2,), i32)], [[(2, 5, 3), (2,)], [(3, 5, 1), (2,)]]),
]


@pytest.mark.parametrize("name,fn,specs,sizes", SYMBOLIC, ids=[c[0] for c in SYMBOLIC])
def test_symbolic_dims(name, fn, specs, sizes):
    # Exported once; run at two sizes with indices that include out-of-range ones.
    model = to_onnx(fn, specs)
    onnx.checker.check_model(model, full_check=True)
    for seed, shapes in enumerate(sizes):
        args = [random_array(shape, spec.dtype, seed=seed + k, low=-6, high=9)
                for k, (shape, spec) in enumerate(zip(shapes, specs))]
        expected = jax.tree_util.tree_leaves(jax.jit(fn)(*args))
        assert_outputs_close(expected, run_onnx(model, args), rtol=1e-6, atol=1e-6)


_GATHER_IVD0 = """
func.func @main(%x: tensor<5x4xf32>, %idx: tensor<2x3xi32>) -> tensor<3x2xf32> {
  %0 = "stablehlo.gather"(%x, %idx) {dimension_numbers = #stablehlo.gather<
      offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0, 1],
      index_vector_dim = 0>, slice_sizes = array<i64: 1, 2>}
      : (tensor<5x4xf32>, tensor<2x3xi32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}
"""


# A batched dynamic_gather whose indices start a window of runtime size (JAX does not
# emit one): refused, not lowered as if the size were the whole dim.
_DYNAMIC_GATHER_RUNTIME_WINDOW = """
func.func @main(%x: tensor<?x5xf32>, %idx: tensor<3x1xi32>, %s: tensor<2xi32>)
    -> tensor<3x?x?xf32> {
  %0 = "stablehlo.dynamic_gather"(%x, %idx, %s) <{dimension_numbers = #stablehlo.gather<
      offset_dims = [1, 2], start_index_map = [1], index_vector_dim = 1>}>
      : (tensor<?x5xf32>, tensor<3x1xi32>, tensor<2xi32>) -> tensor<3x?x?xf32>
  return %0 : tensor<3x?x?xf32>
}
"""


def test_dynamic_gather_with_a_runtime_started_window_is_refused():
    with pytest.raises(ConversionError, match="single-slice form"):
        from_stablehlo(_DYNAMIC_GATHER_RUNTIME_WINDOW)


def test_gather_index_vector_dim_first():
    # JAX always puts the index vector last; other StableHLO producers need not.
    model = from_stablehlo(_GATHER_IVD0)
    idx = _i(0, 4, 9, 1, 3, -2).reshape(2, 3)  # rows, then cols; two starts clamp
    numbers = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,),
                                         start_index_map=(0, 1))
    expected = lax.gather(X, idx.T, numbers, (1, 2), mode=GSM.CLIP)
    assert_outputs_close([expected], run_onnx(model, [X, idx]), rtol=0, atol=0)


def test_scatter_body_with_a_scalar_subexpression_inside_a_function():
    """A body applied to whole tensors types its results with the tensors' shape, except
    those made from its constants alone: exp(0.5) stays a scalar (inside an @onnx_function
    it is not folded away, and a rank-1 type on it made ONNX Runtime refuse the model)."""
    @onnx_function
    def scaled(x, i):
        return x.at[i].apply(lambda v: v * lax.exp(jnp.float32(0.5)))

    check_against_jax(lambda x, i: scaled(x, i) + 1,
                      [np.arange(6, dtype=np.float32), np.array([1, 1, 3], np.int32)],
                      dynamic_batch=False)
