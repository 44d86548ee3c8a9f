"""stablehlo.convolution against JAX: layouts, strides, padding, dilations, groups, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnx_ir as ir
import pytest
from flax import nnx
from jax import lax
from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

from jax2onnx_hlo import ConversionError, to_onnx
from jax2onnx_hlo._mlir import ir as mlir
from jax2onnx_hlo._mlir import make_ir_context
from jax2onnx_hlo.convert import GraphInput, ModuleLowering, ir_version_for
from jax2onnx_hlo.passes import run_passes
from jax2onnx_hlo.testing import assert_outputs_close, check_against_jax, random_array, run_onnx

f32, f16 = np.float32, np.float16
TOL = dict(rtol=1e-5, atol=1e-4)


def _conv(dims=("NCHW", "OIHW", "NCHW"), strides=None, padding="VALID", lhs_dilation=None,
          rhs_dilation=None, groups=1, preferred=None):
    def fn(x, w):
        n = len(dims[0]) - 2
        return lax.conv_general_dilated(
            x, w, strides or (1,) * n, padding, lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation, dimension_numbers=dims, feature_group_count=groups,
            preferred_element_type=preferred,
        )
    return fn


NHWC = ("NHWC", "HWIO", "NHWC")

# (id, fn, input shape, kernel shape, dtype, tolerance)
LAX_CASES = [
    ("nchw_oihw", _conv(), (2, 3, 8, 8), (4, 3, 3, 3), f32, TOL),
    ("nhwc_hwio", _conv(NHWC), (2, 8, 8, 3), (3, 3, 3, 4), f32, TOL),
    ("nhwc_stride2_same", _conv(NHWC, (2, 2), "SAME"), (1, 9, 9, 3), (3, 3, 3, 5), f32, TOL),
    ("stride_above_kernel", _conv(strides=(3, 4)), (1, 2, 11, 13), (3, 2, 2, 2), f32, TOL),
    ("pad_asymmetric", _conv(padding=[(2, 0), (1, 3)]), (1, 2, 6, 7), (3, 2, 3, 2), f32, TOL),
    ("pad_negative", _conv(padding=[(-1, -2), (-2, 0)]), (1, 2, 9, 9), (3, 2, 3, 3), f32, TOL),
    ("pad_mixed_sign", _conv(NHWC, (2, 1), [(2, -1), (-3, 1)]), (1, 10, 10, 2), (3, 2, 2, 4),
     f32, TOL),
    ("rhs_dilation", _conv(NHWC, padding="SAME", rhs_dilation=(2, 3)), (1, 12, 12, 2),
     (3, 3, 2, 3), f32, TOL),
    ("lhs_dilation", _conv(padding=[(0, 0), (0, 0)], lhs_dilation=(2, 3)), (1, 2, 5, 4),
     (3, 2, 3, 3), f32, TOL),
    ("lhs_dilation_pad_stride", _conv(NHWC, (2, 1), [(2, 1), (0, 2)], lhs_dilation=(2, 2)),
     (2, 5, 6, 3), (3, 3, 3, 2), f32, TOL),
    ("lhs_dilation_negative_pad", _conv(padding=[(-1, -1), (1, -2)], lhs_dilation=(3, 2)),
     (1, 2, 4, 5), (2, 2, 2, 2), f32, TOL),
    ("all_at_once", _conv(NHWC, (2, 1), [(1, -1), (2, 0)], (2, 1), (1, 2), groups=2),
     (1, 8, 8, 4), (3, 3, 2, 6), f32, TOL),
    ("groups_2", _conv(groups=2), (2, 4, 7, 7), (6, 2, 3, 3), f32, TOL),
    ("depthwise_x2", _conv(NHWC, padding="SAME", groups=3), (1, 7, 7, 3), (3, 3, 1, 6), f32,
     TOL),
    # Odd layouts: every operand in a different order, spatial axes swapped.
    ("layout_hwcn_iohw_wnch", _conv(("HWCN", "IOHW", "WNCH"), (2, 1), [(1, 0), (0, 2)]),
     (7, 6, 3, 2), (3, 4, 3, 2), f32, TOL),
    ("layout_cnwh_wohi", _conv(("CNWH", "WOHI", "HCNW"), padding="SAME", groups=2),
     (4, 2, 6, 5), (3, 6, 2, 2), f32, TOL),
    ("conv1d_nwc", _conv(("NWC", "WIO", "NWC"), (2,), [(3, 1)]), (2, 17, 3), (4, 3, 5), f32,
     TOL),
    ("conv1d_ncw_dilated", _conv(("NCW", "OIW", "NCW"), padding=[(3, 2)], rhs_dilation=(3,),
                                  lhs_dilation=(2,)), (1, 4, 9), (2, 4, 3), f32, TOL),
    ("conv3d_ndhwc", _conv(("NDHWC", "DHWIO", "NDHWC"), (1, 2, 1), "SAME"), (1, 5, 6, 7, 2),
     (3, 3, 2, 2, 4), f32, TOL),
    ("conv3d_ncdhw_groups", _conv(("NCDHW", "OIDHW", "NCDHW"), padding=[(1, -1), (0, 0),
                                   (2, 1)], rhs_dilation=(1, 2, 1), groups=2),
     (1, 4, 6, 7, 5), (4, 2, 2, 2, 3), f32, TOL),
    ("float16", _conv(NHWC, (2, 2), "SAME"), (1, 8, 8, 4), (3, 3, 4, 4), f16,
     dict(rtol=1e-2, atol=2e-2)),
    ("float16_lhs_dilation", _conv(padding=[(1, 1), (0, 0)], lhs_dilation=(2, 2), groups=2),
     (1, 4, 4, 4), (2, 2, 2, 2), f16, dict(rtol=1e-2, atol=2e-2)),
    # preferred_element_type: float16 operands, float32 result; ONNX must cast first.
    ("preferred_f32", _conv(NHWC, padding="SAME", preferred=jnp.float32), (1, 6, 6, 3),
     (3, 3, 3, 2), f16, dict(rtol=1e-3, atol=1e-3)),
]


@pytest.mark.parametrize("name,fn,x_shape,w_shape,dtype,tol", LAX_CASES,
                         ids=[c[0] for c in LAX_CASES])
def test_conv_general_dilated(name, fn, x_shape, w_shape, dtype, tol):
    x, w = random_array(x_shape, dtype, 0), random_array(w_shape, dtype, 1)
    check_against_jax(fn, [x, w], **tol)


@pytest.mark.xfail(strict=True, raises=OrtNotImplemented,
                   reason="ONNX Runtime's CPU provider has no double Conv kernel")
def test_conv_float64():
    with jax.enable_x64(True):
        x, w = random_array((1, 6, 6, 2), np.float64), random_array((3, 3, 2, 3), np.float64, 1)
        check_against_jax(_conv(NHWC, padding="SAME"), [x, w], rtol=1e-12, atol=1e-12)


def _nnx(layer):
    return lambda x: layer(x)


def _rngs():
    return nnx.Rngs(0)


# (id, fn of x, input shape, tolerance): flax layers, transposed convs, gradients.
MODEL_CASES = [
    ("nnx_conv_same", _nnx(nnx.Conv(3, 8, (3, 3), rngs=_rngs())), (2, 9, 9, 3), TOL),
    ("nnx_conv_strided_dilated", _nnx(nnx.Conv(4, 6, (3, 3), strides=2, kernel_dilation=2,
                                               padding="VALID", rngs=_rngs())),
     (1, 13, 13, 4), TOL),
    ("nnx_conv_groups", _nnx(nnx.Conv(4, 8, (3,), feature_group_count=4, padding="CAUSAL",
                                      rngs=_rngs())), (2, 10, 4), TOL),
    ("nnx_conv_3d", _nnx(nnx.Conv(2, 3, (2, 3, 3), padding=((1, 0), (1, 1), (0, 2)),
                                  rngs=_rngs())), (1, 4, 5, 6, 2), TOL),
    ("nnx_conv_transpose", _nnx(nnx.ConvTranspose(3, 5, (3, 3), strides=2, rngs=_rngs())),
     (1, 5, 5, 3), TOL),
    ("nnx_conv_transpose_valid", _nnx(nnx.ConvTranspose(2, 4, (4, 3), strides=(2, 3),
                                                        padding="VALID", rngs=_rngs())),
     (2, 4, 3, 2), TOL),
    ("nnx_conv_transpose_kernel", _nnx(nnx.ConvTranspose(3, 2, (3, 3), strides=2,
                                                         transpose_kernel=True, rngs=_rngs())),
     (1, 4, 4, 3), TOL),
    ("lax_conv_transpose_1d", lambda x: lax.conv_transpose(
        x, jnp.asarray(random_array((4, 3, 2), seed=2)), (3,), "SAME",
        dimension_numbers=("NWC", "WIO", "NWC")), (2, 7, 3), TOL),
    ("lax_conv_transpose_dilated", lambda x: lax.conv_transpose(
        x, jnp.asarray(random_array((3, 3, 2, 2), seed=2)), (2, 2), [(1, 2), (0, 1)],
        rhs_dilation=(2, 1), dimension_numbers=NHWC), (1, 5, 5, 2), TOL),
    # The input gradient of a strided conv: lhs dilation with a reversed kernel.
    ("grad_wrt_input", jax.grad(lambda x: jnp.sum(jnp.sin(_conv(NHWC, (2, 2), "SAME")(
        x, jnp.asarray(random_array((3, 3, 2, 4), seed=3)))))), (1, 7, 7, 2), TOL),
    ("grad_wrt_kernel", jax.grad(lambda w: jnp.sum(jnp.sin(_conv(NHWC, (1, 1), "SAME")(
        jnp.asarray(random_array((2, 6, 6, 2), seed=4)), w)))), (3, 3, 2, 3), TOL),
]


@pytest.mark.parametrize("name,fn,x_shape,tol", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_conv_models(name, fn, x_shape, tol):
    check_against_jax(fn, [random_array(x_shape)], **tol)


def test_conv_grouped_kernel_gradient_is_refused():
    # The kernel gradient of a grouped conv is a conv with batch_group_count > 1.
    fn = jax.grad(lambda w, x: jnp.sum(_conv(groups=2)(x, w)))
    with pytest.raises(ConversionError, match="batch_group_count=2"):
        to_onnx(fn, [(4, 1, 3, 3), (1, 2, 6, 6)])


def test_conv_integer_is_refused():
    with pytest.raises(ConversionError, match="ONNX Conv takes floats only"):
        to_onnx(_conv(), [jax.ShapeDtypeStruct((1, 1, 4, 4), jnp.int32),
                          jax.ShapeDtypeStruct((1, 1, 2, 2), jnp.int32)])


def _model_from_mlir(text: str, input_names: list[str]) -> onnx.ModelProto:
    """Converts a hand-written @main, for what `jax.export` of a function cannot show."""
    with make_ir_context():
        graph = ModuleLowering(mlir.Module.parse(text)).lower(
            [GraphInput(name) for name in input_names], ["y"])
    graph.opset_imports[""] = 23
    model = ir.serde.serialize_model(run_passes(ir.Model(graph, ir_version=ir_version_for(23))))
    onnx.checker.check_model(model, full_check=True)
    return model


# JAX never sets window_reversal: this module is written by hand.
REVERSED = """
func.func @main(%x: tensor<1x2x6x5xf32>, %w: tensor<3x2x3x2xf32>) -> tensor<1x3x5x4xf32> {
  %0 = stablehlo.convolution(%x, %w) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1],
    window = {stride = [1, 1], pad = [[1, 0], [0, 0]], lhs_dilate = [1, 1],
    rhs_dilate = [1, 1], reverse = [true, false]}
    {batch_group_count = 1 : i64, feature_group_count = 1 : i64}
    : (tensor<1x2x6x5xf32>, tensor<3x2x3x2xf32>) -> tensor<1x3x5x4xf32>
  return %0 : tensor<1x3x5x4xf32>
}
"""


def test_conv_window_reversal():
    model = _model_from_mlir(REVERSED, ["x", "w"])
    x, w = random_array((1, 2, 6, 5)), random_array((3, 2, 3, 2), seed=1)
    want = _conv(padding=[(1, 0), (0, 0)])(x, w[:, :, ::-1, :])
    assert_outputs_close([want], run_onnx(model, [x, w]), **TOL)


# A dynamic batch as `jax.export` writes it for ("B", 5, 6, 4), without the shape checks
# around it (get_dimension_size and shape_assertion belong to the dynamic-shape rules).
DYNAMIC_BATCH = """
func.func @main(%x: tensor<?x5x6x4xf32>, %w: tensor<3x3x2x4xf32>) -> tensor<?x4x11x4xf32> {
  %0 = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f],
    window = {stride = [2, 1], pad = [[1, -1], [0, 2]], lhs_dilate = [2, 2]}
    {batch_group_count = 1 : i64, feature_group_count = 2 : i64}
    : (tensor<?x5x6x4xf32>, tensor<3x3x2x4xf32>) -> tensor<?x4x11x4xf32>
  return %0 : tensor<?x4x11x4xf32>
}
"""


def test_conv_dynamic_batch():
    model = _model_from_mlir(DYNAMIC_BATCH, ["x", "w"])
    fn = _conv(NHWC, (2, 1), [(1, -1), (0, 2)], lhs_dilation=(2, 2), groups=2)
    w = random_array((3, 3, 2, 4), seed=1)
    for batch in (1, 3):
        x = random_array((batch, 5, 6, 4))
        assert_outputs_close([fn(x, w)], run_onnx(model, [x, w]), **TOL)


# JAX emits dynamic_conv for "SAME" padding over symbolic spatial dims (tests/lowering/
# test_dynamic.py); StableHLO allows any runtime padding, negative too, and lhs dilation.
DYNAMIC_CONV = """
func.func @main(%x: tensor<?x6x5x2xf32>, %w: tensor<3x2x2x4xf32>, %p: tensor<2x2xi32>)
    -> tensor<?x?x?x4xf32> {
  %0 = "stablehlo.dynamic_conv"(%x, %w, %p) <{batch_group_count = 1 : i64,
    dimension_numbers = #stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]>,
    feature_group_count = 1 : i64, lhs_dilation = array<i64: 1, 2>,
    window_strides = array<i64: 2, 1>}>
    : (tensor<?x6x5x2xf32>, tensor<3x2x2x4xf32>, tensor<2x2xi32>) -> tensor<?x?x?x4xf32>
  return %0 : tensor<?x?x?x4xf32>
}
"""


@pytest.mark.parametrize("padding", [[(0, 0), (0, 0)], [(1, 2), (0, 1)], [(-1, 1), (2, -3)],
                                     [(-2, -1), (-1, 0)]], ids=str)
def test_dynamic_conv_with_runtime_padding(padding):
    model = _model_from_mlir(DYNAMIC_CONV, ["x", "w", "p"])
    fn = _conv(NHWC, (2, 1), padding, lhs_dilation=(1, 2))
    w = random_array((3, 2, 2, 4), seed=1)
    for batch in (1, 3):
        x = random_array((batch, 6, 5, 2), seed=batch)
        got = run_onnx(model, [x, w, np.array(padding, np.int32)])
        assert_outputs_close([fn(x, w)], got, **TOL)


def test_conv_lhs_dilation_along_symbolic_dims():
    """A transposed convolution over symbolic spatial dims dilates them at runtime (this
    was refused before)."""
    w = random_array((3, 3, 2, 4), seed=1)
    fn = lambda x: lax.conv_transpose(x, w, (2, 3), "SAME", dimension_numbers=NHWC)  # noqa: E731
    model = to_onnx(fn, [("B", "H", "W", 2)])
    onnx.checker.check_model(model, full_check=True)
    for shape in [(1, 1, 1, 2), (2, 4, 3, 2), (3, 5, 6, 2)]:
        x = random_array(shape, seed=shape[1])
        assert_outputs_close([fn(x)], run_onnx(model, [x]), **TOL)
