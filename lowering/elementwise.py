"""Elementwise StableHLO ops: arithmetic, math functions, logic, compare, select, convert."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext

# ---- ops that map to one ONNX op ---------------------------------------------------------


def _same(op_type: str, ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    return [ctx.b.op(op_type, *operands)]


_ONE_TO_ONE = {
    "stablehlo.add": "Add",
    "stablehlo.subtract": "Sub",
    "stablehlo.multiply": "Mul",
    "stablehlo.divide": "Div",
    "stablehlo.power": "Pow",
    "stablehlo.maximum": "Max",
    "stablehlo.minimum": "Min",
    "stablehlo.abs": "Abs",
    "stablehlo.negate": "Neg",
    "stablehlo.sign": "Sign",
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


@lowers("stablehlo.remainder")
def remainder(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.remainder -> Mod(fmod=1): the result takes the dividend's sign, as in C."""
    return [ctx.b.Mod(x, y, fmod=1)]


@lowers("stablehlo.rsqrt")
def rsqrt(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.rsqrt -> Reciprocal(Sqrt)."""
    return [ctx.b.Reciprocal(ctx.b.Sqrt(x))]


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
        x, y = ctx.b.Cast(x, to=ir.DataType.UINT8), ctx.b.Cast(y, to=ir.DataType.UINT8)
    result = ctx.b.op(op_type, x, y)
    return [ctx.b.Not(result) if negate else result]


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
    return [ctx.b.Min(ctx.b.Max(x, low), high)]


@lowers("stablehlo.convert")
def convert(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.convert -> Cast (float -> int truncates toward zero in both)."""
    source, target = ctx.operand_specs[0], ctx.out
    if target.is_bool and not source.is_bool:
        return [ctx.b.Not(ctx.b.Equal(x, ctx.scalar_like(0, source)))]
    if source.dtype == target.dtype:
        return [ctx.b.Identity(x)]
    return [ctx.b.Cast(x, to=target.dtype)]
