"""Elementwise StableHLO ops: arithmetic, math functions, logic, compare, select, convert."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext
from .types import TensorSpec

# ---- ops that map to one ONNX op ---------------------------------------------------------


def _same(op_type: str, ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    return [ctx.b.op(op_type, *operands)]


_ONE_TO_ONE = {
    "stablehlo.add": "Add",
    "stablehlo.subtract": "Sub",
    "stablehlo.multiply": "Mul",
    "stablehlo.power": "Pow",
    "stablehlo.abs": "Abs",
    "stablehlo.negate": "Neg",
    "stablehlo.exponential": "Exp",
    "stablehlo.log": "Log",
    "stablehlo.logistic": "Sigmoid",
    "stablehlo.sqrt": "Sqrt",
    "stablehlo.sine": "Sin",
    "stablehlo.cosine": "Cos",
    "stablehlo.tan": "Tan",
    "stablehlo.tanh": "Tanh",
    "stablehlo.floor": "Floor",
    "stablehlo.ceil": "Ceil",
    "stablehlo.round_nearest_even": "Round",
    "chlo.erf": "Erf",
}
for _name, _op_type in _ONE_TO_ONE.items():
    lowers(_name)(partial(_same, _op_type))


# Ops whose rule, on floats, builds only elementwise ONNX nodes that broadcast their
# operands numpy-style (Add, Sub, Mul, Div; Max and Min with their signed-zero fix): an
# operand broadcast_in_dim only aligned to their rank gives the same result (shape.py).
FLOAT_BROADCASTING_OPS = frozenset({
    "stablehlo.add", "stablehlo.subtract", "stablehlo.multiply", "stablehlo.divide",
    "stablehlo.maximum", "stablehlo.minimum",
})


def _safe_integer_divisor(ctx: LoweringContext, x: ir.Value, y: ir.Value
                          ) -> tuple[ir.Value, ir.Value | None]:
    """For integer division: the divisor with 0 (and, for signed types, -1 under INT_MIN)
    replaced by 1, and the mask of y == 0 (None when neither can occur). ONNX Runtime fails
    on an integer division by zero, and INT_MIN / -1 traps in hardware, while XLA defines
    both: x / 0 = -1 (all bits set), x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0,
    which x / 1 and x % 1 give for the second pair."""
    spec = ctx.out
    if spec.is_float or spec.is_bool:
        return y, None
    if y.const_value is not None:
        divisors = y.const_value.numpy()
        if not (divisors == 0).any() and (spec.is_unsigned or not (divisors == -1).any()):
            return y, None
    b = ctx.b
    one = ctx.scalar_like(1, spec)
    is_zero = b.Equal(y, ctx.scalar_like(0, spec))
    replace = is_zero
    if not spec.is_unsigned:
        int_min = ctx.scalar_like(np.iinfo(spec.np_dtype).min, spec)
        overflow = b.And(b.Equal(x, int_min), b.Equal(y, ctx.scalar_like(-1, spec)))
        replace = b.Or(is_zero, overflow)
    return b.Where(replace, one, y), is_zero


@lowers("stablehlo.divide")
def divide(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.divide -> Div; for integers x / 0 is -1 (all bits set) and INT_MIN / -1 is
    INT_MIN, as in XLA (ONNX Runtime fails on the first, the second traps)."""
    safe_y, is_zero = _safe_integer_divisor(ctx, x, y)
    quotient = ctx.b.Div(x, safe_y)
    if is_zero is None:
        return [quotient]
    all_ones = ctx.scalar_like(np.iinfo(ctx.out.np_dtype).max if ctx.out.is_unsigned else -1,
                               ctx.out)
    return [ctx.b.Where(is_zero, all_ones, quotient)]


@lowers("stablehlo.remainder")
def remainder(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.remainder -> Mod(fmod=1): the result takes the dividend's sign, as in C.
    For integers x % 0 is x and INT_MIN % -1 is 0, as in XLA (ONNX Runtime fails on the
    first, the second traps)."""
    safe_y, is_zero = _safe_integer_divisor(ctx, x, y)
    rest = ctx.b.Mod(x, safe_y, fmod=1)
    if is_zero is None:
        return [rest]
    return [ctx.b.Where(is_zero, x, rest)]


@lowers("stablehlo.maximum")
def maximum(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.maximum -> Max; for floats max(-0.0, +0.0) is +0.0 either way round, as in
    XLA (ONNX Runtime's Max of two tensors returns its first operand on that tie, of a
    tensor and a +0.0 constant the +0.0): + 0.0 where an operand has its sign bit clear,
    + -0.0 (no change) elsewhere."""
    return [_ordered_zeros(ctx, "Max", x, y)]


@lowers("stablehlo.minimum")
def minimum(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.minimum -> Min; for floats min(-0.0, +0.0) is -0.0 either way round, as in
    XLA: -(-min + 0.0) where an operand has its sign bit set."""
    return [_ordered_zeros(ctx, "Min", x, y)]


def _constant_values(value: ir.Value) -> np.ndarray | None:
    """The values of a constant, or of a constant broadcast (Expand) or reshaped: the same
    set of numbers; None if the value is computed."""
    for _ in range(4):
        producer = value.producer()
        if value.const_value is not None or producer is None or producer.op_type not in (
                "Expand", "Reshape", "Identity", "Unsqueeze", "Transpose"):
            break
        value = producer.inputs[0]
    return None if value.const_value is None else value.const_value.numpy()


def _ordered_zeros(ctx: LoweringContext, op_type: str, x: ir.Value, y: ir.Value) -> ir.Value:
    b, spec = ctx.b, ctx.out
    result = b.op(op_type, x, y)
    if not spec.is_float:
        return result
    constants = [c for c in (_constant_values(x), _constant_values(y)) if c is not None]
    if any(not (c == 0).any() for c in constants):
        return result  # a zero result then comes from the other operand alone: it is right
    is_max = op_type == "Max"
    if is_max and any((~np.signbit(c)).all() for c in constants):
        # relu, max(x, +0.0): ONNX Runtime's Max with a +0.0 constant gives +0.0 for -0.0
        # (tests/lowering/test_jnp_table.py: relu_negzero_signbit); a `+ 0.0` to make sure
        # would go anyway: onnxscript's no-op rule removes it, as XLA's simplifier does.
        return result
    zero = ctx.scalar_like(0, spec)
    # The operand whose sign decides: max picks +0.0 if either has a clear sign bit, min
    # picks -0.0 if either has a set one. 1/v keeps the sign of v, zeros included; an
    # infinite v (1/v = 0) cannot meet a zero result.
    sign_test = b.Greater if is_max else b.Less
    decides = b.Or(sign_test(b.Reciprocal(x), zero), sign_test(b.Reciprocal(y), zero))
    # -0.0 in Where's second branch: ONNX Runtime's Where turns one from the first into +0.0.
    offset = b.Where(decides, zero, ctx.scalar_like(-0.0, spec))
    if is_max:
        return b.Add(result, offset)
    return b.Neg(b.Add(b.Neg(result), offset))


@lowers("stablehlo.sign")
def sign(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.sign -> Sign; for floats a zero passes through, so sign(-0.0) is -0.0 as in
    XLA (ONNX Runtime's Sign gives +0.0). The zero rides in Where's second branch: ONNX
    Runtime's Where turns a -0.0 taken from the first one into +0.0."""
    if not ctx.out.is_float:
        return [ctx.b.Sign(x)]
    b = ctx.b
    # |x| > 0, not Not(x == 0): ONNX Runtime fuses Where(Not(c), a, b) into Where(c, b, a).
    return [b.Where(b.Greater(b.Abs(x), ctx.scalar_like(0, ctx.out)), b.Sign(x), x)]


@lowers("stablehlo.rsqrt")
def rsqrt(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.rsqrt -> Reciprocal(Sqrt)."""
    return [ctx.b.Reciprocal(ctx.typed(ctx.b.Sqrt(x), ctx.out.dtype, ctx.out.shape))]


@lowers("stablehlo.cbrt")
def cbrt(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.cbrt -> Sign(x) * |x|^(1/3): Pow alone is NaN for negative x."""
    third = ctx.scalar_like(1.0 / 3.0, ctx.out)
    return [ctx.b.Mul(ctx.b.Sign(x), ctx.b.Pow(ctx.b.Abs(x), third))]


@lowers("stablehlo.exponential_minus_one")
def expm1(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.exponential_minus_one -> Kahan's (u-1)*x/log(u), u = e^x: exact near 0."""
    b, spec = ctx.b, ctx.out
    one = ctx.scalar_like(1, spec)
    u = b.Exp(x)
    u_minus_1 = b.Sub(u, one)
    accurate = b.Div(b.Mul(u_minus_1, x), b.Log(u))
    # u == 1: e^x rounded to 1, so x itself is the answer; u == inf or u - 1 == -1: u - 1.
    saturated = b.Or(b.IsInf(u), b.Equal(u_minus_1, ctx.scalar_like(-1, spec)))
    return [b.Where(b.Equal(u, one), x, b.Where(saturated, u_minus_1, accurate))]


@lowers("stablehlo.log_plus_one")
def log1p(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.log_plus_one -> Kahan's log(u)*x/(u-1), u = 1+x: exact near 0."""
    b, spec = ctx.b, ctx.out
    one = ctx.scalar_like(1, spec)
    u = b.Add(x, one)
    accurate = b.Div(b.Mul(b.Log(u), x), b.Sub(u, one))
    # u == 1: log1p(x) == x to working precision; u == inf or u == 0: log(u) itself.
    special = b.Or(b.IsInf(u), b.Equal(u, ctx.scalar_like(0, spec)))
    return [b.Where(b.Equal(u, one), x, b.Where(special, b.Log(u), accurate))]


@lowers("stablehlo.round_nearest_afz")
def round_nearest_afz(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.round_nearest_afz -> Round (half to even), with exact .5 ties moved away
    from zero; floor(|x| + 0.5) would round 0.49999997 up."""
    b, spec = ctx.b, ctx.out
    truncated = b.Mul(b.Sign(x), b.Floor(b.Abs(x)))
    is_tie = b.Equal(b.Abs(b.Sub(x, truncated)), ctx.scalar_like(0.5, spec))
    return [b.Where(is_tie, b.Add(truncated, b.Sign(x)), b.Round(x))]


@lowers("stablehlo.atan2")
def atan2(ctx: LoweringContext, y: ir.Value, x: ir.Value) -> list[ir.Value]:
    """stablehlo.atan2 -> Atan(y/x) moved into the quadrant of (x, y), signed zeros kept."""
    b, spec = ctx.b, ctx.out
    zero, pi = ctx.scalar_like(0, spec), ctx.scalar_like(np.pi, spec)
    y_negative = _sign_bit(ctx, y)
    x_negative = _sign_bit(ctx, x)
    signed_pi = b.Where(y_negative, b.Neg(pi), pi)
    # atan(y/x) is right for x > 0; for x < 0 (or -0.0) add pi with y's sign.
    base = b.Atan(b.Div(y, x))
    shifted = b.Where(x_negative, b.Add(base, signed_pi), base)
    # y == 0 and x == 0: +-0 or +-pi by the signs alone (y/x is NaN there).
    both_zero = b.And(b.Equal(y, zero), b.Equal(x, zero))
    at_origin = b.Where(x_negative, signed_pi, b.Where(y_negative, b.Neg(zero), zero))
    # Both infinite: atan(nan); the answer is +-pi/4 or +-3pi/4.
    both_inf = b.And(b.IsInf(y), b.IsInf(x))
    quarter = b.Where(
        x_negative, ctx.scalar_like(0.75 * np.pi, spec), ctx.scalar_like(np.pi / 4, spec)
    )
    at_infinity = b.Where(y_negative, b.Neg(quarter), quarter)
    return [b.Where(both_zero, at_origin, b.Where(both_inf, at_infinity, shifted))]


def _sign_bit(ctx: LoweringContext, x: ir.Value) -> ir.Value:
    """True where x < 0 or x is -0.0 (1/-0.0 is -inf); NaN counts as positive."""
    return _sign_bit_of(ctx, x, ctx.scalar_like(0, ctx.out))


def _sign_bit_of(ctx: LoweringContext, x: ir.Value, zero: ir.Value) -> ir.Value:
    b = ctx.b
    negative_zero = b.And(b.Equal(x, zero), b.Less(b.Reciprocal(x), zero))
    return b.Or(b.Less(x, zero), negative_zero)


@lowers("stablehlo.is_finite")
def is_finite(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.is_finite -> Not(IsInf or IsNaN)."""
    return [ctx.b.Not(ctx.b.Or(ctx.b.IsInf(x), ctx.b.IsNaN(x)))]


# ---- logic: boolean ops on i1, bitwise ops on integers -----------------------------------


def _logical(bool_op: str, bitwise_op: str, ctx: LoweringContext, *xs: ir.Value) -> list[ir.Value]:
    return [ctx.b.op(bool_op if ctx.out.is_bool else bitwise_op, *xs)]


lowers("stablehlo.and")(partial(_logical, "And", "BitwiseAnd"))
lowers("stablehlo.or")(partial(_logical, "Or", "BitwiseOr"))
lowers("stablehlo.xor")(partial(_logical, "Xor", "BitwiseXor"))
lowers("stablehlo.not")(partial(_logical, "Not", "BitwiseNot"))


# ---- compare, select, clamp, convert -----------------------------------------------------

_COMPARISONS = {
    "EQ": ("Equal", False),
    "NE": ("Equal", True),
    "LT": ("Less", False),
    "LE": ("LessOrEqual", False),
    "GT": ("Greater", False),
    "GE": ("GreaterOrEqual", False),
}


@lowers("stablehlo.compare")
def compare(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.compare -> Equal/Less/LessOrEqual/Greater/GreaterOrEqual (NE as Not Equal).

    FLOAT, SIGNED and UNSIGNED comparisons are what ONNX computes for the operand type;
    TOTALORDER on floats goes through _total_order_class.

    Limits: TOTALORDER cannot read a NaN's sign bit, so every NaN orders above +inf (JAX's
    sort comparators canonicalize NaN, so their results are exact).
    """
    direction = ctx.attr("comparison_direction")
    compare_type = ctx.attr("compare_type", None)
    if compare_type == "TOTALORDER" and ctx.operand_specs[0].is_float:
        return [_total_order_compare(ctx, direction, x, y)]
    op_type, negate = _COMPARISONS[direction]
    if ctx.operand_specs[0].is_bool and direction not in ("EQ", "NE"):
        # ONNX orders numbers only; False < True as 0 < 1.
        x, y = (ctx.typed(ctx.b.Cast(v, to=ir.DataType.UINT8), ir.DataType.UINT8, spec.shape)
                for v, spec in zip((x, y), ctx.operand_specs))
    result = ctx.b.op(op_type, x, y)
    if not negate:
        return [result]
    return [ctx.b.Not(ctx.typed(result, ir.DataType.BOOL, ctx.out.shape))]


def _total_order_class(ctx: LoweringContext, x: ir.Value) -> ir.Value:
    """-1 for x < 0 (-inf included), 0 for -0.0, 1 for +0.0, 2 for x > 0, 3 for NaN.

    Within classes -1 and 2 the float order decides; zeros and NaNs are equal within their
    class. NaN's sign bit cannot be read without a bitcast, so every NaN sorts last, as
    JAX's sort comparators (which canonicalize NaN) expect.
    """
    b, zero = ctx.b, ctx.scalar_like(0, ctx.operand_specs[0])
    cls = [ctx.const(np.int32(c)) for c in range(-1, 4)]  # cls[k + 1] is class k
    zero_class = b.Where(_sign_bit_of(ctx, x, zero), cls[1], cls[2])
    by_sign = b.Where(b.Equal(x, zero), zero_class, b.Where(b.Less(x, zero), cls[0], cls[3]))
    return b.Where(b.IsNaN(x), cls[4], by_sign)


def _total_order_compare(ctx: LoweringContext, direction: str, x: ir.Value,
                         y: ir.Value) -> ir.Value:
    """x DIR y under StableHLO's TOTALORDER: -inf < ... < -0.0 < +0.0 < ... < +inf < NaN."""
    b = ctx.b
    cx, cy = _total_order_class(ctx, x), _total_order_class(ctx, y)
    same_class = b.Equal(cx, cy)
    by_value = b.And(same_class, b.Or(b.Equal(cx, ctx.const(np.int32(-1))),
                                      b.Equal(cx, ctx.const(np.int32(2)))))
    less = b.Or(b.Less(cx, cy), b.And(by_value, b.Less(x, y)))
    equal = b.And(same_class, b.Or(b.Not(by_value), b.Equal(x, y)))
    results = {
        "LT": less, "EQ": equal, "LE": b.Or(less, equal),
        "NE": b.Not(equal), "GT": b.Not(b.Or(less, equal)), "GE": b.Not(less),
    }
    return results[direction]


@lowers("stablehlo.select")
def select(ctx: LoweringContext, pred: ir.Value, on_true: ir.Value, on_false: ir.Value):
    """stablehlo.select -> Where (a scalar predicate broadcasts the same way; types ONNX
    Runtime has no Where kernel for are routed by jax2onnx_hlo/portability.py)."""
    return [ctx.b.Where(pred, on_true, on_false)]


@lowers("stablehlo.clamp")
def clamp(ctx: LoweringContext, low: ir.Value, x: ir.Value, high: ir.Value) -> list[ir.Value]:
    """stablehlo.clamp -> Min(Max(x, low), high); bounds may be scalars or full tensors."""
    # Max(x, low) has x's shape, the result's (the bounds broadcast to it).
    return [ctx.b.Min(ctx.typed(ctx.b.Max(x, low), ctx.out.dtype, ctx.out.shape), high)]


@lowers("stablehlo.convert")
def convert(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.convert -> Cast (float -> int truncates toward zero in both); float -> int
    saturates as XLA does: NaN -> 0 and values out of range -> the type's min or max (a
    bare Cast is undefined there and wraps in ONNX Runtime)."""
    source, target = ctx.operand_specs[0], ctx.out
    if target.is_bool and not source.is_bool:
        nonzero = ctx.b.Equal(x, ctx.scalar_like(0, source))
        return [ctx.b.Not(ctx.typed(nonzero, ir.DataType.BOOL, source.shape))]
    if source.dtype == target.dtype:
        return [ctx.b.Identity(x)]
    if source.is_float and not target.is_float and not target.is_bool:
        return [_saturating_float_to_int(ctx, x, source, target)]
    return [ctx.b.Cast(x, to=target.dtype)]


def _saturating_float_to_int(ctx: LoweringContext, x: ir.Value, source: TensorSpec,
                             target: TensorSpec) -> ir.Value:
    """Cast of x with NaN -> 0, x >= 2^k -> max, x < min -> min (k: the value bits)."""
    b, shape = ctx.b, source.shape
    float_type, compute = source.np_dtype, source.dtype
    if source.dtype == ir.DataType.BFLOAT16:  # exact in float32, which has every kernel
        float_type, compute = np.dtype(np.float32), ir.DataType.FLOAT
        x = ctx.typed(b.Cast(x, to=compute), compute, shape)
    info = np.iinfo(target.np_dtype)
    with np.errstate(over="ignore"):
        upper = float_type.type(2.0 ** (info.bits - (0 if target.is_unsigned else 1)))
        lower = float_type.type(info.min)  # 0 or -2^(bits-1): exact, or -inf in float16
    below_upper = np.nextafter(upper, float_type.type(0))  # the largest float < upper
    # Each value below is typed as ONNX shape inference would type it (ctx.typed).
    is_nan = ctx.typed(b.IsNaN(x), ir.DataType.BOOL, shape)
    not_nan = ctx.typed(b.Where(is_nan, ctx.const(float_type.type(0)), x), compute, shape)
    below = ctx.typed(b.Min(not_nan, ctx.const(below_upper)), compute, shape)
    clamped = ctx.typed(b.Max(below, ctx.const(lower)), compute, shape)
    too_large = ctx.typed(b.GreaterOrEqual(x, ctx.const(upper)), ir.DataType.BOOL, shape)
    return b.Where(too_large, ctx.scalar_like(info.max, target),
                   ctx.typed(b.Cast(clamped, to=target.dtype), target.dtype, shape))
