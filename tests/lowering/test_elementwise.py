"""Elementwise ops against JAX: arithmetic, math functions, logic, compare, select, convert."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo.testing import check_against_jax, random_array

SHAPE = (3, 4)
f32 = np.float32


def _x(dtype=f32, seed=0, low=-3.0, high=3.0, shape=SHAPE):
    return random_array(shape, dtype, seed, low, high)


EDGES = np.array([0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, 1e-8, -1e-8,
                  np.inf, -np.inf, np.nan, 1e30, -1e30, 3.0], dtype=f32).reshape(4, 4)

UNARY_FLOAT = [
    ("abs", jnp.abs, {}),
    ("negate", jnp.negative, {}),
    ("sign", jnp.sign, {}),
    ("exp", jnp.exp, {}),
    ("expm1", jnp.expm1, dict(low=-1e-3, high=1e-3)),
    ("expm1_wide", jnp.expm1, {}),
    ("log", jnp.log, dict(low=0.01, high=5)),
    ("log1p_small", jnp.log1p, dict(low=-1e-4, high=1e-4)),
    ("log1p", jnp.log1p, dict(low=-0.9, high=5)),
    ("logistic", jax.nn.sigmoid, {}),
    ("sqrt", jnp.sqrt, dict(low=0, high=9)),
    ("rsqrt", lax.rsqrt, dict(low=0.1, high=9)),
    ("cbrt", jnp.cbrt, {}),
    ("sin", jnp.sin, {}),
    ("cos", jnp.cos, {}),
    ("tan", jnp.tan, dict(low=-1.2, high=1.2)),
    ("tanh", jnp.tanh, {}),
    ("floor", jnp.floor, {}),
    ("ceil", jnp.ceil, {}),
    ("round_even", jnp.round, {}),
    ("round_afz", lambda x: lax.round(x, lax.RoundingMethod.AWAY_FROM_ZERO), {}),
    ("is_finite", jnp.isfinite, {}),
    ("erf", lax.erf, {}),
    ("square", jnp.square, {}),
    ("reciprocal", jnp.reciprocal, dict(low=0.5, high=3)),
]


@pytest.mark.parametrize("name,fn,kw", UNARY_FLOAT, ids=[c[0] for c in UNARY_FLOAT])
def test_unary_float32(name, fn, kw):
    check_against_jax(fn, [_x(**kw)], rtol=2e-6, atol=1e-6)


EDGE_SAFE = ["abs", "negate", "sign", "floor", "ceil", "round_even", "round_afz", "is_finite",
             "exp", "tanh", "logistic", "cbrt", "expm1_wide"]


@pytest.mark.parametrize("name", EDGE_SAFE)
def test_unary_float32_special_values(name):
    fn = {c[0]: c[1] for c in UNARY_FLOAT}[name]
    check_against_jax(fn, [EDGES], rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["exp", "log1p", "sqrt", "tanh", "sin", "floor", "sign"])
def test_unary_float64(name):
    fn = {c[0]: c[1] for c in UNARY_FLOAT}[name]
    with jax.enable_x64(True):
        check_against_jax(fn, [_x(np.float64, low=0.1)], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["exp", "tanh", "abs", "negate", "sqrt", "floor"])
def test_unary_float16(name):
    fn = {c[0]: c[1] for c in UNARY_FLOAT}[name]
    check_against_jax(fn, [_x(np.float16, low=0.1)], rtol=2e-3, atol=2e-3)


BINARY = [
    ("add", jnp.add), ("sub", jnp.subtract), ("mul", jnp.multiply),
    ("max", jnp.maximum), ("min", jnp.minimum),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64], ids=str)
@pytest.mark.parametrize("name,fn", BINARY, ids=[c[0] for c in BINARY])
def test_binary(name, fn, dtype):
    check_against_jax(fn, [_x(dtype, 1), _x(dtype, 2)])


@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=str)
def test_divide(dtype):
    y = _x(dtype, 2, low=1, high=5) * np.where(_x(np.int32, 3) > 0, 1, -1).astype(dtype)
    check_against_jax(lambda a, b: lax.div(a, b), [_x(dtype, 1, low=-20, high=20), y])


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64], ids=str)
def test_remainder_takes_dividend_sign(dtype):
    x = np.array([[7, -7, 7, -7], [5, -5, 0, 9]], dtype)
    y = np.array([[3, 3, -3, -3], [2, 2, 4, -4]], dtype)
    check_against_jax(lax.rem, [x, y])


def test_power_float():
    check_against_jax(jnp.power, [_x(low=0.1, high=3), _x(seed=1)], rtol=1e-5)


def test_power_int():
    check_against_jax(jnp.power, [_x(np.int32, low=-3, high=3), _x(np.int32, 1, low=0, high=4)])


def test_atan2_quadrants_and_zeros():
    y = np.array([1, 1, -1, -1, 0, 0, -0.0, -0.0, 0, np.inf, -np.inf, 2], f32)
    x = np.array([1, -1, 1, -1, 0, -0.0, 0, -0.0, -2, np.inf, -np.inf, 0], f32)
    check_against_jax(jnp.arctan2, [y, x], rtol=1e-6, atol=1e-6)


def test_atan2_random():
    check_against_jax(jnp.arctan2, [_x(seed=1), _x(seed=2)], rtol=1e-5, atol=1e-6)


def test_max_min_with_nan_propagate():
    x = np.array([np.nan, 1, 2, np.nan], f32)
    y = np.array([0, np.nan, 3, np.nan], f32)
    check_against_jax(lambda a, b: (jnp.maximum(a, b), jnp.minimum(a, b)), [x, y])


@pytest.mark.parametrize("op", ["and", "or", "xor", "not"])
@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.uint8, np.int64], ids=str)
def test_logic(op, dtype):
    fns = {"and": jnp.bitwise_and, "or": jnp.bitwise_or, "xor": jnp.bitwise_xor,
           "not": lambda a, b: jnp.bitwise_not(a)}
    check_against_jax(fns[op], [_x(dtype, 1, 0, 100), _x(dtype, 2, 0, 100)])


COMPARES = [("eq", jnp.equal), ("ne", jnp.not_equal), ("lt", jnp.less),
            ("le", jnp.less_equal), ("gt", jnp.greater), ("ge", jnp.greater_equal)]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint32, np.bool_], ids=str)
@pytest.mark.parametrize("name,fn", COMPARES, ids=[c[0] for c in COMPARES])
def test_compare(name, fn, dtype):
    a, b = _x(dtype, 1, 0, 3), _x(dtype, 2, 0, 3)
    check_against_jax(fn, [a, b])


def test_compare_nan_is_unordered():
    x = np.array([np.nan, 1, np.nan, -0.0], f32)
    y = np.array([1, np.nan, np.nan, 0.0], f32)
    check_against_jax(lambda a, b: [f(a, b) for _, f in COMPARES], [x, y])


def test_select_and_scalar_predicate():
    check_against_jax(lambda p, a, b: jnp.where(p, a, b), [_x(np.bool_), _x(seed=1), _x(seed=2)])
    check_against_jax(lambda a, b: lax.select(a[0, 0] > 0, a, b), [_x(seed=1), _x(seed=2)])


def test_clamp_scalar_and_tensor_bounds():
    check_against_jax(lambda x: jnp.clip(x, -1.0, 2.0), [_x()])
    check_against_jax(lambda lo, x, hi: lax.clamp(lo, x, hi),
                      [_x(seed=1) - 2, _x(seed=2), _x(seed=3) + 2])


CONVERTS = [
    (np.float32, np.int32), (np.float32, np.uint8), (np.float32, np.bool_),
    (np.int32, np.float32), (np.bool_, np.float32), (np.int32, np.bool_),
    (np.float32, np.float16), (np.int64, np.int32), (np.float32, jnp.bfloat16),
]


@pytest.mark.parametrize("src,dst", CONVERTS, ids=lambda t: np.dtype(t).name)
def test_convert(src, dst):
    x = _x(src, 0, 0, 200) if np.dtype(dst) == np.uint8 else _x(src, 0, -5, 5)
    # ONNX Runtime's Python API cannot hand out bfloat16 arrays: compare them as float32.
    back = np.float32 if np.dtype(dst) == jnp.bfloat16 else dst
    check_against_jax(lambda a: a.astype(dst).astype(back), [x])


def test_convert_truncates_toward_zero():
    x = np.array([-2.7, -0.5, 0.5, 2.7, -1.0, 3.99], f32)
    check_against_jax(lambda a: a.astype(jnp.int32), [x])


def test_composition_of_elementwise_ops():
    def fn(x, y):
        return jnp.where(x > y, jnp.exp(-x) * y, jnp.sqrt(jnp.abs(y)) - x) / (1 + x * x)
    check_against_jax(fn, [_x(seed=1), _x(seed=2)], rtol=1e-5)


SHIFTS = [("left", lax.shift_left), ("right_logical", lax.shift_right_logical),
          ("right_arithmetic", lax.shift_right_arithmetic)]


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int8, np.uint8], ids=str)
@pytest.mark.parametrize("name,fn", SHIFTS, ids=[s[0] for s in SHIFTS])
def test_shifts_including_amounts_past_the_width(name, fn, dtype):
    bits = 8 * np.dtype(dtype).itemsize
    x = np.array([1, 5, 100, 127, 0, 3, 77, 1], dtype)
    if np.issubdtype(dtype, np.signedinteger):
        x[4:] = np.array([-1, -3, -77, -128 if bits == 8 else -(2**20)], dtype)
    amount = np.array([0, 1, 2, 3, bits - 1, bits, bits + 3, 1], dtype)
    check_against_jax(fn, [x, amount])


def test_select_between_booleans():
    check_against_jax(lambda p, a, b: jnp.where(p, a, b),
                      [_x(np.bool_), _x(np.bool_, seed=1), _x(np.bool_, seed=2)])


# TOTALORDER compares arrive from sort comparators; they are written here as StableHLO
# (jax.numpy has no direct spelling). Expected values follow the spec's total order:
# -inf < ... < -0.0 < +0.0 < ... < +inf < NaN.
_TOTAL_ORDER_MODULE = """
func.func @main(%x: tensor<8xf32>, %y: tensor<8xf32>) -> (tensor<8xi1>, tensor<8xi1>,
    tensor<8xi1>, tensor<8xi1>, tensor<8xi1>, tensor<8xi1>) {
  %lt = stablehlo.compare LT, %x, %y, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %le = stablehlo.compare LE, %x, %y, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %gt = stablehlo.compare GT, %x, %y, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %ge = stablehlo.compare GE, %x, %y, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %eq = stablehlo.compare EQ, %x, %y, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %ne = stablehlo.compare NE, %x, %y, TOTALORDER : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  return %lt, %le, %gt, %ge, %eq, %ne : tensor<8xi1>, tensor<8xi1>, tensor<8xi1>,
      tensor<8xi1>, tensor<8xi1>, tensor<8xi1>
}
"""


def _total_order_key(v: float) -> tuple:
    if np.isnan(v):
        return (5, 0.0)
    if v == 0:
        return (1 if np.signbit(v) else 2, 0.0)
    return (0 if v < 0 else 4, v)


def test_compare_totalorder_orders_signed_zeros_and_nan():
    import onnx
    import onnx_ir as ir

    from jax2onnx_hlo._mlir import ir as mlir
    from jax2onnx_hlo._mlir import make_ir_context
    from jax2onnx_hlo.convert import GraphInput, ModuleLowering, ir_version_for
    from jax2onnx_hlo.passes import run_passes
    from jax2onnx_hlo.testing import run_onnx

    with make_ir_context():
        graph = ModuleLowering(mlir.Module.parse(_TOTAL_ORDER_MODULE)).lower(
            [GraphInput("x"), GraphInput("y")], ["lt", "le", "gt", "ge", "eq", "ne"])
    graph.opset_imports[""] = 23
    model = ir.serde.serialize_model(run_passes(ir.Model(graph, ir_version=ir_version_for(23))))
    onnx.checker.check_model(model, full_check=True)
    x = np.array([-0.0, 0.0, np.nan, 1.0, -np.inf, np.nan, -2.0, 3.0], f32)
    y = np.array([0.0, -0.0, 1.0, np.nan, -1.0, np.nan, -2.0, np.inf], f32)
    kx, ky = [_total_order_key(v) for v in x], [_total_order_key(v) for v in y]
    expected = [
        [a < b for a, b in zip(kx, ky)], [a <= b for a, b in zip(kx, ky)],
        [a > b for a, b in zip(kx, ky)], [a >= b for a, b in zip(kx, ky)],
        [a == b for a, b in zip(kx, ky)], [a != b for a, b in zip(kx, ky)],
    ]
    got = run_onnx(model, [x, y])
    for name, want, have in zip(["lt", "le", "gt", "ge", "eq", "ne"], expected, got):
        np.testing.assert_array_equal(have, np.array(want), err_msg=name)


def test_logistic_written_as_stablehlo():
    """JAX writes sigmoid as 1/(1+exp(-x)); other producers emit stablehlo.logistic."""
    from jax2onnx_hlo import from_stablehlo
    from jax2onnx_hlo.testing import run_onnx

    module = """
    func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
      %0 = stablehlo.logistic %x : tensor<2x3xf32>
      return %0 : tensor<2x3xf32>
    }"""
    model = from_stablehlo(module)
    x = _x(shape=(2, 3))
    (got,) = run_onnx(model, [x])
    np.testing.assert_allclose(got, jax.nn.sigmoid(x), rtol=1e-6, atol=1e-7)
    assert [n.op_type for n in model.graph.node] == ["Sigmoid"]
