"""stablehlo.reduce_window against JAX: max, min and sum windows over any axes and dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnx_ir as ir
import pytest
from flax import nnx
from jax import lax

from jax2onnx_hlo import ConversionError, to_onnx
from jax2onnx_hlo._mlir import ir as mlir
from jax2onnx_hlo._mlir import make_ir_context
from jax2onnx_hlo.convert import GraphInput, ModuleLowering, ir_version_for
from jax2onnx_hlo.passes import run_passes
from jax2onnx_hlo.testing import assert_outputs_close, check_against_jax, random_array, run_onnx

f32, f64, f16 = np.float32, np.float64, np.float16
EXACT = dict(rtol=0, atol=0)
TOL = dict(rtol=1e-5, atol=1e-5)


def _window(reducer, init, dims, strides=None, padding="VALID", base=None, dilation=None):
    return lambda x: lax.reduce_window(x, init, reducer, dims, strides or (1,) * len(dims),
                                       padding, base, dilation)


# (id, fn, input shape, dtype, (low, high) of the input values, tolerance)
CASES = [
    ("nnx_max_pool_nhwc", lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2)), (2, 8, 8, 3),
     f32, (-3, 3), EXACT),
    # All inputs negative: a pool that pads with 0 instead of -inf gives 0 at the edges.
    ("nnx_max_pool_same_negative", lambda x: nnx.max_pool(x, (3, 3), strides=(2, 2),
                                                          padding="SAME"), (1, 7, 7, 2),
     f32, (-9, -1), EXACT),
    ("nnx_min_pool_same_positive", lambda x: nnx.min_pool(x, (2, 3), padding="SAME"),
     (1, 5, 6, 2), f32, (1, 9), EXACT),
    ("nnx_avg_pool_same", lambda x: nnx.avg_pool(x, (3, 3), strides=(1, 1), padding="SAME"),
     (2, 7, 7, 4), f32, (-3, 3), TOL),
    ("nnx_avg_pool_exclude_pad", lambda x: nnx.avg_pool(
        x, (3, 3), strides=(2, 2), padding="SAME", count_include_pad=False), (1, 8, 8, 3),
     f32, (-3, 3), TOL),
    ("nnx_max_pool_1d", lambda x: nnx.max_pool(x, (3,), strides=(2,), padding="SAME"),
     (2, 11, 4), f32, (-3, 3), EXACT),
    ("nnx_max_pool_3d", lambda x: nnx.max_pool(x, (2, 2, 2), strides=(2, 1, 2)),
     (1, 4, 5, 6, 2), f32, (-3, 3), EXACT),
    ("max_nchw_window_dilation", _window(lax.max, -jnp.inf, (1, 1, 2, 3), (1, 1, 2, 1),
                                         [(0, 0), (0, 0), (1, 1), (2, 0)],
                                         dilation=(1, 1, 2, 2)), (2, 3, 9, 9), f32, (-3, -1),
     EXACT),
    ("max_base_dilation", _window(lax.max, -jnp.inf, (1, 3, 3, 1), (1, 2, 2, 1),
                                  [(0, 0), (1, 1), (2, 1), (0, 0)], base=(1, 2, 2, 1)),
     (1, 5, 5, 2), f32, (-5, -1), EXACT),
    ("sum_base_dilation", _window(lax.add, 0.0, (2, 3), (1, 2), [(1, 0), (0, 2)],
                                  base=(3, 2)), (4, 5), f32, (-3, 3), TOL),
    ("sum_window_dilation_3d", _window(lax.add, 0.0, (2, 2, 2), (1, 2, 1),
                                       [(0, 1), (1, 1), (0, 0)], dilation=(2, 1, 3)),
     (5, 6, 7), f32, (-3, 3), TOL),
    ("sum_1d", _window(lax.add, 0.0, (4,), (2,), [(1, 2)]), (13,), f32, (-3, 3), TOL),
    # Windows over the first and last axes: the three middle axes fold into one.
    ("max_outer_axes_rank5", _window(lax.max, -jnp.inf, (2, 1, 1, 1, 3), (2, 1, 1, 1, 1),
                                     [(0, 1), (0, 0), (0, 0), (0, 0), (1, 1)]),
     (5, 2, 3, 2, 6), f32, (-3, 3), EXACT),
    ("sum_middle_axis", _window(lax.add, 0.0, (1, 3, 1), (1, 2, 1)), (2, 9, 3), f32, (-3, 3),
     TOL),
    ("max_negative_padding", _window(lax.max, -jnp.inf, (2, 2), (1, 2), [(-1, 1), (1, -2)]),
     (6, 7), f32, (-3, 3), EXACT),
    ("max_pad_beyond_window", _window(lax.max, -jnp.inf, (2, 2), (1, 1), [(3, 0), (0, 2)]),
     (4, 4), f32, (-3, 3), EXACT),
    ("min_base_dilation", _window(lax.min, jnp.inf, (2, 2), (1, 1), [(1, 0), (0, 1)],
                                  base=(2, 1)), (4, 5), f32, (1, 5), EXACT),
    ("max_strided_skip", _window(lax.max, -jnp.inf, (1, 2), (1, 3)), (3, 11), f32, (-3, 3),
     EXACT),
    # Init values that are not the reducer's identity enter every window (and the padding).
    ("max_init_zero", _window(lax.max, 0.0, (2, 2), (1, 1), "SAME"), (5, 5), f32, (-3, 3),
     EXACT),
    ("sum_init_one_padded", _window(lax.add, 1.0, (3, 2), (2, 1), [(1, 1), (0, 1)], (1, 2)),
     (6, 4), f32, (-3, 3), TOL),
    ("min_init_zero_padded", _window(lax.min, 0.0, (2, 2), (1, 2), [(1, 1), (1, 0)]),
     (4, 6), f32, (1, 5), EXACT),
    ("no_pooled_axis", _window(lax.max, -jnp.inf, (1, 1)), (3, 4), f32, (-3, 3), EXACT),
    ("float16_max_pool", lambda x: nnx.max_pool(x, (2, 2), padding="SAME"), (1, 5, 5, 3),
     f16, (-3, -1), EXACT),
    ("float16_avg_pool", lambda x: nnx.avg_pool(x, (2, 2), strides=(2, 2)), (1, 6, 6, 3),
     f16, (-3, 3), dict(rtol=2e-3, atol=2e-3)),
    ("int8_max_pool", lambda x: nnx.max_pool(x, (2, 2), padding="SAME"), (1, 5, 5, 2),
     np.int8, (-100, -50), EXACT),
    ("int32_max_pool", lambda x: nnx.max_pool(x, (3, 2), strides=(2, 1), padding="SAME"),
     (1, 7, 6, 2), np.int32, (-1000, -10), EXACT),
    ("int32_min_window", _window(lax.min, np.iinfo(np.int32).max, (2, 2), (1, 1),
                                 [(1, 0), (0, 1)]), (4, 5), np.int32, (10, 1000), EXACT),
    ("int32_sum_window", _window(lax.add, 0, (2, 3), (2, 1), [(0, 1), (1, 1)], base=(1, 2)),
     (5, 4), np.int32, (-50, 50), EXACT),
]


@pytest.mark.parametrize("name,fn,shape,dtype,value_range,tol", CASES,
                         ids=[c[0] for c in CASES])
def test_reduce_window(name, fn, shape, dtype, value_range, tol):
    x = random_array(shape, dtype, 0, *value_range)
    check_against_jax(fn, [x], **tol, dynamic_batch=DYNAMIC_LIMITS.get(name, True))


# At B=1 these windows are longer than the (padded) leading axis, so the result is empty
# along it; ONNX Runtime's Conv and MaxPool refuse an empty output rather than return one.
DYNAMIC_LIMITS = dict.fromkeys(
    ["sum_window_dilation_3d", "max_negative_padding"],
    "a window longer than the dynamic axis at B=1: ONNX Runtime refuses an empty pool")


X64_CASES = [
    ("avg_pool", lambda x: nnx.avg_pool(x, (3, 3), strides=(2, 2), padding="SAME")),
    ("max_pool_negative", lambda x: nnx.max_pool(x, (2, 2), padding="SAME")),
    ("min_pool", lambda x: nnx.min_pool(x, (3, 2), strides=(1, 2), padding="SAME")),
    ("sum_base_dilation", lambda x: _window(lax.add, 0.0, (1, 2, 2, 1), (1, 1, 2, 1),
                                            [(0, 0), (1, 1), (0, 1), (0, 0)],
                                            base=(1, 2, 1, 1))(x)),
]


@pytest.mark.parametrize("name,fn", X64_CASES, ids=[c[0] for c in X64_CASES])
def test_reduce_window_float64(name, fn):
    with jax.enable_x64(True):
        x = random_array((1, 7, 6, 2), f64, 0, -9, -1)
        check_against_jax(fn, [x], rtol=1e-12, atol=1e-12)


def test_reduce_window_traced_init():
    # An init value that is an input, not a constant: it is combined with every window.
    def fn(x, init):
        return lax.reduce_window(x, init, lax.max, (2, 2), (1, 1), "SAME")

    check_against_jax(fn, [random_array((5, 5), f32, 0, -3, 3), np.float32(0.5)], **EXACT)


def test_reduce_window_product_is_refused():
    with pytest.raises(ConversionError, match=r"body \[stablehlo.multiply\]"):
        to_onnx(_window(lax.mul, 1.0, (2, 2)), [(4, 4)])


def test_reduce_window_variadic_is_refused():
    def argmax_pool(x):
        index = lax.broadcasted_iota(jnp.int32, x.shape, 1)

        def pick(a, b):
            take_b = b[0] > a[0]
            return lax.select(take_b, b[0], a[0]), lax.select(take_b, b[1], a[1])

        return lax.reduce_window((x, index), (-jnp.inf, 0), pick, (1, 2), (1, 2), "VALID")

    with pytest.raises(ConversionError, match="over 2 inputs"):
        to_onnx(argmax_pool, [(3, 6)])


# Two max pools over a dynamic batch, as `jax.export` writes them for ("B", 5, 5, 2) but
# without the shape checks around them (those belong to the dynamic-shape rules). The
# second pools three axes and folds the batch into [P, 1, ...].
DYNAMIC_BATCH = """
func.func @main(%x: tensor<?x5x5x2xf32>) -> tensor<?x2x2x1xf32> {
  %init = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %0 = "stablehlo.reduce_window"(%x, %init) <{
      padding = dense<[[0, 0], [0, 1], [0, 1], [0, 0]]> : tensor<4x2xi64>,
      window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %m = stablehlo.maximum %a, %b : tensor<f32>
      stablehlo.return %m : tensor<f32>
    }) : (tensor<?x5x5x2xf32>, tensor<f32>) -> tensor<?x3x3x2xf32>
  %1 = "stablehlo.reduce_window"(%0, %init) <{
      window_dimensions = array<i64: 1, 2, 2, 2>}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %m = stablehlo.maximum %a, %b : tensor<f32>
      stablehlo.return %m : tensor<f32>
    }) : (tensor<?x3x3x2xf32>, tensor<f32>) -> tensor<?x2x2x1xf32>
  return %1 : tensor<?x2x2x1xf32>
}
"""


def test_reduce_window_dynamic_batch():
    with make_ir_context():
        graph = ModuleLowering(mlir.Module.parse(DYNAMIC_BATCH)).lower([GraphInput("x")], ["y"])
    graph.opset_imports[""] = 23
    model = ir.serde.serialize_model(run_passes(ir.Model(graph, ir_version=ir_version_for(23))))
    onnx.checker.check_model(model, full_check=True)

    def fn(x):
        pooled = nnx.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        return _window(lax.max, -jnp.inf, (1, 2, 2, 2))(pooled)

    for batch in (1, 3):
        x = random_array((batch, 5, 5, 2))
        assert_outputs_close([fn(x)], run_onnx(model, [x]), **EXACT)
