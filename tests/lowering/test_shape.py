"""Shape ops against JAX: broadcast_in_dim, reshape, transpose, concatenate, slice, pad, iota,
reverse, over several dtypes and the 0-d / size-1 / zero-size edges."""

import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from jax import lax

from jax2onnx_hlo import from_stablehlo
from jax2onnx_hlo.testing import assert_outputs_close, check_against_jax, random_array, run_onnx

f32, f16, i32, b = np.float32, np.float16, np.int32, np.bool_


def _x(shape, dtype=f32, seed=0):
    return random_array(shape, dtype, seed)


# (id, fn, argument shapes, dtype). Each row is exported, checked and run in ONNX Runtime.
CASES = [
    # ---- broadcast_in_dim ---------------------------------------------------------------
    ("broadcast_to_new_leading_axes", lambda x: jnp.broadcast_to(x, (2, 3, 4)), [(3, 4)], f32),
    ("broadcast_to_size1_axis", lambda x: jnp.broadcast_to(x, (3, 5)), [(3, 1)], i32),
    ("broadcast_binary_size1_axes", jnp.add, [(3, 1, 4), (1, 5, 4)], f32),
    ("broadcast_binary_bool", jnp.logical_and, [(2, 1), (1, 3)], b),
    ("broadcast_scalar_to_tensor", lambda x: jnp.broadcast_to(x, (2, 3)), [()], f32),
    ("broadcast_scalar_to_tensor_f16", lambda x: jnp.broadcast_to(x, (4,)), [()], f16),
    # Operand axes land out of order: (3, 4) -> (4, 5, 3) needs a Transpose before Unsqueeze.
    ("broadcast_dims_out_of_order",
     lambda x: lax.broadcast_in_dim(x, (4, 5, 3), (2, 0)), [(3, 4)], f32),
    ("broadcast_dims_reversed_with_size1",
     lambda x: lax.broadcast_in_dim(x, (4, 2, 3), (2, 0)), [(3, 1)], i32),
    # Same rank, axes swapped: the rule must emit the Transpose alone, nothing to expand.
    ("broadcast_is_pure_transpose",
     lambda x: lax.broadcast_in_dim(x, (3, 4), (1, 0)), [(4, 3)], f32),
    ("broadcast_to_zero_size", lambda x: jnp.broadcast_to(x, (0, 3)), [(1, 3)], f32),
    # ---- reshape --------------------------------------------------------------------------
    ("reshape", lambda x: jnp.reshape(x, (4, 3)), [(3, 4)], f32),
    ("reshape_infer_dim", lambda x: jnp.reshape(x, (2, -1)), [(3, 4)], i32),
    ("ravel", jnp.ravel, [(2, 3, 4)], f16),
    ("expand_dims", lambda x: jnp.expand_dims(x, (0, 2)), [(3, 4)], b),
    ("squeeze", lambda x: jnp.squeeze(x, (0, 2)), [(1, 3, 1, 4)], f32),
    ("reshape_scalar_to_1x1", lambda x: jnp.reshape(x, (1, 1)), [()], f32),
    ("reshape_size1_to_scalar", lambda x: jnp.reshape(x, ()), [(1, 1)], i32),
    # A 0 in the target shape must mean an empty axis, not "copy the input's dim".
    ("reshape_zero_size", lambda x: jnp.reshape(x, (0, 5)), [(2, 0)], f32),
    ("reshape_zero_size_moves_zero", lambda x: jnp.reshape(x, (3, 0)), [(0, 3)], f32),
    # ---- transpose ------------------------------------------------------------------------
    ("transpose_default", jnp.transpose, [(2, 3, 4)], f32),
    ("transpose_perm_120", lambda x: jnp.transpose(x, (1, 2, 0)), [(2, 3, 4)], i32),
    ("transpose_perm_0213", lambda x: jnp.transpose(x, (0, 2, 1, 3)), [(2, 3, 4, 5)], f16),
    ("transpose_dot_T", lambda x: x.T, [(3, 4)], b),
    ("moveaxis", lambda x: jnp.moveaxis(x, 0, -1), [(2, 3, 4)], f32),
    ("swapaxes", lambda x: jnp.swapaxes(x, 0, 2), [(2, 3, 4)], f32),
    ("transpose_zero_size", lambda x: x.T, [(0, 3)], f32),
    # ---- concatenate ----------------------------------------------------------------------
    ("concatenate_axis0", lambda x, y: jnp.concatenate([x, y], 0), [(2, 4), (3, 4)], f32),
    ("concatenate_axis1", lambda x, y: jnp.concatenate([x, y, x], 1), [(3, 2), (3, 1)], i32),
    ("concatenate_bool", lambda x, y: jnp.concatenate([x, y], -1), [(2, 2), (2, 3)], b),
    ("stack", lambda x, y: jnp.stack([x, y], 1), [(3, 4), (3, 4)], f16),
    ("hstack", lambda x, y: jnp.hstack([x, y]), [(3,), (2,)], f32),
    ("concatenate_with_empty", lambda x, y: jnp.concatenate([x, y]), [(0, 3), (2, 3)], f32),
    # ---- slice ----------------------------------------------------------------------------
    ("slice_basic", lambda x: x[1:3], [(5, 4)], f32),
    ("slice_step", lambda x: x[::2], [(5, 4)], i32),
    ("slice_last_two", lambda x: x[-2:], [(5, 4)], f16),
    ("slice_two_axes", lambda x: x[1:, :3], [(5, 4)], b),
    ("slice_lax_strides", lambda x: lax.slice(x, (0, 1), (5, 4), (2, 2)), [(5, 4)], f32),
    ("slice_to_size1", lambda x: x[2:3, 1:2], [(5, 4)], f32),
    ("slice_to_empty", lambda x: lax.slice(x, (2, 0), (2, 4)), [(5, 4)], f32),
    ("slice_noop", lambda x: lax.slice(x, (0, 0), (5, 4)), [(5, 4)], f32),
    # ---- pad ------------------------------------------------------------------------------
    ("pad_constant", lambda x: jnp.pad(x, ((1, 2), (0, 3))), [(3, 4)], f32),
    ("pad_constant_value", lambda x: jnp.pad(x, 2, constant_values=-7.5), [(3, 4)], f32),
    ("pad_negative_low_high",
     lambda x: lax.pad(x, 0.0, [(-1, 2, 0), (1, -2, 0)]), [(3, 4)], f32),
    ("pad_interior", lambda x: lax.pad(x, 0.0, [(0, 0, 2), (1, 1, 1)]), [(3, 4)], f32),
    # Negative edges cut into the interior-padded tensor, not the original one.
    ("pad_interior_and_negative",
     lambda x: lax.pad(x, 9.0, [(-2, -1, 1), (-1, 3, 2)]), [(3, 4)], f32),
    ("pad_value_operand", lambda x, v: lax.pad(x, v, [(1, 1, 1), (2, 0, 0)]), [(3, 4), ()], f32),
    ("pad_int32", lambda x: lax.pad(x, i32(5), [(1, -1, 1), (2, 1, 0)]), [(3, 4)], i32),
    ("pad_bool", lambda x: lax.pad(x, True, [(1, 0, 1), (0, 2, 0)]), [(3, 4)], b),
    ("pad_f16", lambda x: lax.pad(x, f16(1.5), [(1, 1, 0)]), [(3,)], f16),
    ("pad_interior_size1_axis", lambda x: lax.pad(x, 0.0, [(0, 0, 3), (0, 0, 2)]), [(1, 2)], f32),
    ("pad_zero_size", lambda x: lax.pad(x, 1.0, [(1, 1, 2), (0, 0, 0)]), [(0, 3)], f32),
    # ---- iota -----------------------------------------------------------------------------
    ("arange_plus", lambda x: jnp.arange(5) + x, [(5,)], i32),
    ("arange_float", lambda x: jnp.arange(6.0).reshape(2, 3) * x, [(2, 3)], f32),
    ("broadcasted_iota_dim0",
     lambda x: lax.broadcasted_iota(jnp.int32, (3, 4, 2), 0) + x, [(3, 4, 2)], i32),
    ("broadcasted_iota_dim1",
     lambda x: lax.broadcasted_iota(jnp.float32, (3, 4, 2), 1) + x, [(3, 4, 2)], f32),
    ("broadcasted_iota_dim2",
     lambda x: lax.broadcasted_iota(jnp.int32, (3, 4, 2), 2) * x, [(3, 4, 2)], i32),
    ("iota_f16", lambda x: lax.broadcasted_iota(jnp.float16, (2, 3), 1) - x, [(2, 3)], f16),
    ("iota_size1", lambda x: lax.broadcasted_iota(jnp.int32, (1, 3), 0) + x, [(1, 3)], i32),
    # ---- reverse --------------------------------------------------------------------------
    ("flip_one_axis", lambda x: jnp.flip(x, 1), [(3, 4)], f32),
    ("flip_several_axes", lambda x: jnp.flip(x, (0, 2)), [(2, 3, 4)], i32),
    ("flip_all", jnp.flip, [(3, 4)], b),
    ("reverse_last_axis_indexing", lambda x: x[..., ::-1], [(2, 5)], f16),
    ("flip_size1_axis", lambda x: jnp.flip(x, 0), [(1, 4)], f32),
    ("flip_zero_size", lambda x: jnp.flip(x, 1), [(2, 0)], f32),
]


@pytest.mark.parametrize("name,fn,shapes,dtype", CASES, ids=[c[0] for c in CASES])
def test_shape_op(name, fn, shapes, dtype):
    args = [_x(shape, dtype, seed) for seed, shape in enumerate(shapes)]
    tol = 1e-3 if dtype == f16 else 1e-6
    # x[..., ::-1] with a symbolic leading dim is a batched dynamic_gather.
    model = check_against_jax(fn, args, rtol=tol, atol=tol)
    # Every node a rule built says where in this file its op came from.
    for node in model.graph.node:
        source = {p.key: p.value for p in node.metadata_props}.get("jax2onnx_hlo.source")
        assert source is None or source.rpartition(":")[0] == __file__, (node.name, source)


def test_composition_of_shape_ops():
    # Several rules feeding each other, so a wrong shape in one shows up downstream.
    def fn(x, y):
        z = jnp.concatenate([jnp.flip(x, 0), y.T], axis=1)[:, ::2]
        return jnp.pad(z.reshape(-1, 2), ((1, 0), (0, 1))) + jnp.arange(3.0)
    check_against_jax(fn, [_x((4, 3)), _x((2, 4), seed=1)])


# JAX computes dynamic_pad's widths from dim variables; StableHLO allows any runtime widths,
# negative edges and interior ones included: this module takes them all as inputs.
DYNAMIC_PAD = """
func.func @main(%x: tensor<?x4xf32>, %v: tensor<f32>, %lo: tensor<2xi64>, %hi: tensor<2xi64>,
                %in: tensor<2xi64>) -> tensor<?x?xf32> {
  %0 = stablehlo.dynamic_pad %x, %v, %lo, %hi, %in
    : (tensor<?x4xf32>, tensor<f32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>)
    -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
"""


@pytest.mark.parametrize("config", [
    [(0, 0, 0), (0, 0, 0)],
    [(1, 2, 0), (0, 3, 0)],
    [(-1, 1, 1), (2, -3, 2)],
    [(2, -2, 3), (-1, 0, 0)],
    [(0, 0, 1), (-4, 1, 0)],
], ids=str)
def test_dynamic_pad_with_runtime_widths(config):
    model = from_stablehlo(DYNAMIC_PAD)
    value = np.float32(0.5)
    low, high, interior = (np.array(w, np.int64) for w in zip(*config))
    for batch in (1, 3):
        x = _x((batch, 4), seed=batch)
        want = lax.pad(x, value, config)
        got = run_onnx(model, [x, value, low, high, interior])
        assert_outputs_close([want], got, rtol=0, atol=0)


# ---- ops built composed (lowering/context.py, lowering/indexing.py) ----------------------
# What onnxscript's rewriter would otherwise compose in a round of its own.
_STACKED = {("Transpose", "Transpose"), ("Reshape", "Reshape"), ("Min", "Max")}

COMPOSED = [
    ("transpose_of_transpose",
     lambda x: jnp.transpose(jnp.transpose(x, (1, 2, 0)), (1, 0, 2)), [(2, 3, 4)], f32),
    ("transposes_that_cancel",
     lambda x: jnp.transpose(jnp.transpose(x, (1, 2, 0)), (2, 0, 1)) * 2, [(2, 3, 4)], f32),
    ("reshape_of_reshape", lambda x: jnp.reshape(jnp.reshape(x, (6, 4)), (2, 12)),
     [(2, 3, 4)], f32),
    ("reshapes_back", lambda x: jnp.reshape(jnp.reshape(x, (24,)), (2, 3, 4)) + 1,
     [(2, 3, 4)], f32),
    ("reshape_to_zero_size_dims", lambda x: jnp.reshape(jnp.reshape(x, (0, 3)), (3, 0)),
     [(0, 3)], f32),
    ("take_clamps_with_clip", lambda x, i: jnp.take(x, i, axis=0), [(5, 3), (4,)], i32),
    ("dynamic_slice_clamps_with_clip",
     lambda x, i: lax.dynamic_slice_in_dim(x, i[0], 2, axis=0), [(5, 3), (1,)], i32),
    ("dynamic_slice_clamps_from_above",
     lambda x, i: lax.dynamic_slice_in_dim(x, i[3] + 1, 2, axis=0), [(5, 3), (4,)], i32),
]


@pytest.mark.parametrize("fn,shapes,dtype", [c[1:] for c in COMPOSED],
                         ids=[c[0] for c in COMPOSED])
def test_layout_ops_of_layout_ops_are_built_composed(monkeypatch, fn, shapes, dtype):
    """No Transpose of a Transpose, Reshape of a Reshape or Min of a Max in the walker's
    own graph, so that the optimizer's rewriting has nothing to do in a second round."""
    from jax2onnx_hlo import api

    stacked, run_passes = [], api.run_passes

    def capture(model, *args, **kwargs):
        stacked.extend((node.op_type, node.inputs[0].producer().op_type) for node in model.graph
                       if node.inputs and node.inputs[0] is not None
                       and node.inputs[0].producer() is not None
                       and (node.op_type, node.inputs[0].producer().op_type) in _STACKED)
        return run_passes(model, *args, **kwargs)

    monkeypatch.setattr(api, "run_passes", capture)
    indices = np.arange(4, dtype=np.int32) * 2 - 3  # [-3, -1, 1, 3]: some out of range
    args = [_x(shapes[0], dtype)] + [indices[:shape[0]] for shape in shapes[1:]]
    check_against_jax(fn, args, dynamic_batch=False)
    assert not stacked


@pytest.mark.parametrize("op,attributes", [
    ("Cast", {"to": onnx.TensorProto.INT32}), ("Shape", {}), ("Shape", {"start": 1}),
    ("Shape", {"start": -2, "end": -1}), ("Shape", {"start": 5}), ("Shape", {"end": -9})])
def test_builder_types_casts_and_shapes_as_shape_inference_does(op, attributes):
    """The walker's builder types Cast and Shape outputs itself (the folder then infers
    none of a dynamic-batch model's shape arithmetic): as ONNX shape inference would."""
    import onnx_ir as ir
    from jax2onnx_hlo.lowering.context import _TYPED

    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(["B", 3, 4]))
    node = ir.node(op, [x], attributes)
    _TYPED[op](node)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node(op, ["x"], ["y"], **attributes)], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["B", 3, 4])],
        [onnx.helper.make_tensor_value_info("y", 0, None)])
    inferred = onnx.shape_inference.infer_shapes(onnx.helper.make_model(graph), strict_mode=True)
    (y,) = inferred.graph.output
    dims = [d.dim_param or d.dim_value for d in y.type.tensor_type.shape.dim]
    assert node.outputs[0].dtype == ir.DataType(y.type.tensor_type.elem_type)
    assert [d if isinstance(d, int) else d.value for d in node.outputs[0].shape] == dims
