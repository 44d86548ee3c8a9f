"""Elementwise ops on complex values (float [..., 2] pairs, see lowering/complex.py):
construction and parts, convert, constants, arithmetic, power, abs, exp, expm1, log, sqrt,
rsqrt, sign, sine, cosine, tan, tanh, compare EQ/NE, select.

Each rule splits its complex operands into real and imaginary parts, computes the parts
with real ONNX ops, and packs the result. Formulas follow XLA's CPU emitter where the
choice matters for accuracy (division by Smith's method, abs scaled as a hypot).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import onnx_ir as ir

from . import rule_for
from .complex import lowers_complex, on_parts, pack, parts, parts_view, reuse
from .constants import _TOKEN, _token_value
from .context import LoweringContext
from .elementwise import _sign_bit_of
from .types import TensorSpec, component_spec


def _part_spec(ctx: LoweringContext) -> TensorSpec:
    """The spec of the parts of the op's first complex result or operand."""
    return component_spec(next(s for s in (*ctx.result_specs, *ctx.operand_specs)
                               if s.is_complex))


def _zero(ctx: LoweringContext) -> ir.Value:
    return ctx.scalar_like(0, _part_spec(ctx))


def _part_scalar(ctx: LoweringContext, value: float) -> ir.Value:
    return ctx.scalar_like(value, _part_spec(ctx))


@lowers_complex("stablehlo.complex")
def complex_(ctx: LoweringContext, re: ir.Value, im: ir.Value) -> list[ir.Value]:
    """stablehlo.complex(re, im) -> the pair [re, im] on a trailing axis."""
    return [pack(ctx, re, im)]


@lowers_complex("stablehlo.real")
def real(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.real of a complex operand -> Gather of index 0 on the pair axis."""
    return [parts(ctx, z)[0]]


@lowers_complex("stablehlo.imag")
def imag(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.imag of a complex operand -> Gather of index 1 on the pair axis."""
    return [parts(ctx, z)[1]]


@lowers_complex("stablehlo.constant")
def constant(ctx: LoweringContext) -> list[ir.Value]:
    """stablehlo.constant of complex literals -> a float initializer of (re, im) pairs."""
    # The bindings cannot even hand out a complex DenseElementsAttr (they fail to downcast
    # it), so the op's printed form is read.
    return [ctx.const(_complex_literal(str(ctx.op), ctx.out))]


def _complex_literal(text: str, spec: TensorSpec) -> np.ndarray:
    """The (re, im) pairs of a printed complex DenseElementsAttr: `dense<(1.0,2.0)>`,
    `dense<[(..), ..]>` or a hex buffer of interleaved parts (complex weights are lifted to
    arguments, so such constants are small)."""
    dtype = component_spec(spec).np_dtype
    start = text.index("dense<") + len("dense<")
    body = text[start:text.index(">", start)].strip()
    if body.startswith('"0x'):
        flat = np.frombuffer(bytes.fromhex(body[3:-1]), dtype=dtype)
    else:  # non-finite parts print as hex bit patterns
        bits = np.dtype(f"u{dtype.itemsize}")
        flat = np.array([_token_value(t, dtype, bits) for t in _TOKEN.findall(body)], dtype)
    pairs = flat.reshape(-1, 2)
    return np.broadcast_to(pairs, (math.prod(spec.shape), 2)).reshape(*spec.shape, 2).copy()


@lowers_complex("stablehlo.convert")
def convert(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.convert to or from complex.

    real -> complex: the value (converted as the ordinary rule does) plus a zero imaginary
    part; complex -> complex: both parts cast; complex -> real: the real part converted,
    the imaginary part dropped, as XLA does.
    """
    source, target = ctx.operand_specs[0], ctx.out
    to_part = rule_for("stablehlo.convert")
    if source.is_complex and target.is_complex:
        return to_part(parts_view(ctx), x)  # a cast of the whole pair tensor
    if source.is_complex:
        return to_part(parts_view(ctx), parts(ctx, x)[0])
    re = to_part(parts_view(ctx), x)[0]
    return [pack(ctx, re, ctx.b.Expand(_zero(ctx), ctx.b.Shape(re)))]


# Linear ops: the ordinary rule on each part.
for _name in ("add", "subtract", "negate", "select"):
    lowers_complex(f"stablehlo.{_name}")(partial(on_parts, reuse(f"stablehlo.{_name}")))


@lowers_complex("stablehlo.multiply")
def multiply(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.multiply -> (ac - bd) + (ad + bc)i."""
    return [complex_multiply(ctx, x, y)]


def complex_multiply(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> ir.Value:
    b = ctx.b
    (a, bi), (c, d) = parts(ctx, x), parts(ctx, y)
    return pack(ctx, b.Sub(b.Mul(a, c), b.Mul(bi, d)), b.Add(b.Mul(a, d), b.Mul(bi, c)))


@lowers_complex("stablehlo.divide")
def divide(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.divide -> Smith's method: divide through by the larger part of the
    divisor, so |divisor|^2 is never formed (it would overflow or underflow).

    Limits: where an operand has an infinite or NaN part, the result may be NaN where XLA
    recovers an infinity or a zero (C99 Annex G); results below the smallest normal float
    are not flushed to zero as XLA CPU does.
    """
    return [pack(ctx, *_divide_parts(ctx, *parts(ctx, x), *parts(ctx, y)))]


def _divide_parts(ctx: LoweringContext, a: ir.Value, bi: ir.Value, c: ir.Value,
                  d: ir.Value) -> tuple[ir.Value, ir.Value]:
    b = ctx.b
    wide = b.GreaterOrEqual(b.Abs(c), b.Abs(d))
    big, small = b.Where(wide, c, d), b.Where(wide, d, c)
    ratio = b.Div(small, big)  # d/c where |c| >= |d|, else c/d
    denominator = b.Add(big, b.Mul(small, ratio))
    # |c| >= |d|: (a + b r) + (b - a r)i, else (a r + b) + (b r - a)i, over the denominator
    re = b.Add(b.Where(wide, a, bi), b.Mul(b.Where(wide, bi, a), ratio))
    minus_a = b.Neg(a)
    im = b.Add(b.Where(wide, bi, minus_a), b.Mul(b.Where(wide, minus_a, bi), ratio))
    return b.Div(re, denominator), b.Div(im, denominator)


def _hypot(ctx: LoweringContext, a: ir.Value, bi: ir.Value) -> ir.Value:
    """|a + bi| as big * sqrt(1 + (small/big)^2): no overflow for large parts."""
    b, zero, one = ctx.b, _zero(ctx), _part_scalar(ctx, 1)
    abs_a, abs_b = b.Abs(a), b.Abs(bi)
    big, small = b.Max(abs_a, abs_b), b.Min(abs_a, abs_b)
    ratio = b.Div(small, b.Where(b.Equal(big, zero), one, big))  # 0 + 0i: ratio 0, not NaN
    scaled = b.Mul(big, b.Sqrt(b.Add(one, b.Mul(ratio, ratio))))
    return b.Where(b.IsInf(big), big, scaled)  # inf and inf: inf, not inf * NaN


@lowers_complex("stablehlo.abs")
def abs_(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.abs of a complex operand -> the scaled hypot of its parts (a real result)."""
    return [complex_abs(ctx, z)]


def complex_abs(ctx: LoweringContext, z: ir.Value) -> ir.Value:
    return _hypot(ctx, *parts(ctx, z))


def complex_angle(ctx: LoweringContext, z: ir.Value) -> ir.Value:
    """atan2(imag, real), by the ordinary atan2 rule (signed zeros and infinities kept)."""
    a, bi = parts(ctx, z)
    spec = _part_spec(ctx)
    return rule_for("stablehlo.atan2")(ctx.with_specs([spec, spec], [spec]), bi, a)[0]


@lowers_complex("stablehlo.exponential")
def exp(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.exponential -> e^a cos b + (e^a sin b)i."""
    b = ctx.b
    a, bi = parts(ctx, z)
    scale = b.Exp(a)
    return [pack(ctx, b.Mul(scale, b.Cos(bi)), _times_sin(ctx, scale, bi))]


def _times_sin(ctx: LoweringContext, scale: ir.Value, angle: ir.Value) -> ir.Value:
    """scale * sin(angle), but angle itself (a signed zero) where it is 0: for a real
    argument the imaginary part stays 0 when scale overflows (inf * 0 would be NaN)."""
    b = ctx.b
    return b.Where(b.Equal(angle, _zero(ctx)), angle, b.Mul(scale, b.Sin(angle)))


@lowers_complex("stablehlo.log")
def log(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.log -> log|z| + atan2(b, a)i (the principal branch, as XLA).

    Limits: the real part is Log of the scaled hypot, so for |z| near 1 its error is
    float epsilon in absolute terms, not relative to the (small) result.
    """
    return [pack(ctx, ctx.b.Log(complex_abs(ctx, z)), complex_angle(ctx, z))]


@lowers_complex("stablehlo.exponential_minus_one")
def expm1(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.exponential_minus_one -> (expm1(a) cos b - 2 sin^2(b/2)) + (e^a sin b)i:
    cos b - 1 written as -2 sin^2(b/2), so both parts stay exact near 0."""
    b = ctx.b
    a, bi = parts(ctx, z)
    spec = _part_spec(ctx)
    em1 = rule_for("stablehlo.exponential_minus_one")(ctx.with_specs([spec], [spec]), a)[0]
    half_sin = b.Sin(b.Mul(bi, _part_scalar(ctx, 0.5)))
    cos_minus_1 = b.Mul(_part_scalar(ctx, -2), b.Mul(half_sin, half_sin))
    re = b.Add(b.Mul(em1, b.Cos(bi)), cos_minus_1)
    return [pack(ctx, re, _times_sin(ctx, b.Exp(a), bi))]


@lowers_complex("stablehlo.rsqrt")
def rsqrt(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.rsqrt -> 1 / sqrt(z), the complex sqrt and division rules combined."""
    root_re, root_im = _sqrt_parts(ctx, *parts(ctx, z))
    one, zero = _part_scalar(ctx, 1), _zero(ctx)
    ones = ctx.b.Expand(one, ctx.b.Shape(root_re))
    return [pack(ctx, *_divide_parts(ctx, ones, zero, root_re, root_im))]


@lowers_complex("stablehlo.sqrt")
def sqrt(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.sqrt -> the principal root: t = sqrt((|z| + |a|) / 2); a >= 0 gives
    t + (b / 2t)i, a < 0 gives |b| / 2t + (+-t)i with b's sign; 0 gives 0.

    Limits: parts near the float maximum overflow in |z| + |a| (XLA rescales).
    """
    return [pack(ctx, *_sqrt_parts(ctx, *parts(ctx, z)))]


def _sqrt_parts(ctx: LoweringContext, a: ir.Value, bi: ir.Value) -> tuple[ir.Value, ir.Value]:
    b = ctx.b
    zero, half = _zero(ctx), _part_scalar(ctx, 0.5)
    t = b.Sqrt(b.Mul(b.Add(_hypot(ctx, a, bi), b.Abs(a)), half))
    other = b.Div(b.Mul(bi, half), b.Where(b.Equal(t, zero), _part_scalar(ctx, 1), t))
    negative = b.Less(a, zero)
    re = b.Where(negative, b.Abs(other), t)
    im = b.Where(negative, b.Where(_sign_bit_of(ctx, bi, zero), b.Neg(t), t), other)
    return re, im


@lowers_complex("stablehlo.sign")
def sign(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.sign -> z / |z|, and 0 for 0 (NaN stays NaN)."""
    b = ctx.b
    a, bi = parts(ctx, z)
    magnitude = _hypot(ctx, a, bi)
    zero = _zero(ctx)
    safe = b.Where(b.Equal(magnitude, zero), _part_scalar(ctx, 1), magnitude)
    return [pack(ctx, b.Div(a, safe), b.Div(bi, safe))]


@lowers_complex("stablehlo.power")
def power(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.power (a + bi)^(c + di) -> the polar form: with L = ln|z| (of the scaled
    hypot, so no overflow) and t = atan2(b, a), e^(cL - dt) (cos q + i sin q), q = ct + dL.
    A zero base gives 1 for a zero exponent, 0 for a positive real one and NaN otherwise,
    as XLA does.

    Limits: the rounding of cL - dt grows with the exponent, as for any pow through exp.
    """
    b = ctx.b
    (c, d) = parts(ctx, y)
    zero = _zero(ctx)
    magnitude, t = complex_abs(ctx, x), complex_angle(ctx, x)
    log_r = b.Log(magnitude)
    scale = b.Exp(b.Sub(b.Mul(c, log_r), b.Mul(d, t)))
    q = b.Add(b.Mul(c, t), b.Mul(d, log_r))
    re, im = b.Mul(scale, b.Cos(q)), b.Mul(scale, b.Sin(q))
    base_zero = b.Equal(magnitude, zero)
    real_exponent = b.Equal(d, zero)
    at_zero = b.Where(b.And(real_exponent, b.Equal(c, zero)), _part_scalar(ctx, 1),
                      b.Where(b.And(real_exponent, b.Greater(c, zero)), zero,
                              _part_scalar(ctx, np.nan)))
    at_zero_im = b.Where(b.IsNaN(at_zero), at_zero, zero)
    return [pack(ctx, b.Where(base_zero, at_zero, re), b.Where(base_zero, at_zero_im, im))]


@lowers_complex("stablehlo.sine")
def sine(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.sine -> sin a cosh b + (cos a sinh b)i."""
    b = ctx.b
    a, bi = parts(ctx, z)
    return [pack(ctx, b.Mul(b.Sin(a), b.Cosh(bi)), b.Mul(b.Cos(a), b.Sinh(bi)))]


@lowers_complex("stablehlo.cosine")
def cosine(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.cosine -> cos a cosh b - (sin a sinh b)i."""
    b = ctx.b
    a, bi = parts(ctx, z)
    return [pack(ctx, b.Mul(b.Cos(a), b.Cosh(bi)), b.Neg(b.Mul(b.Sin(a), b.Sinh(bi))))]


def _tanh_parts(ctx: LoweringContext, a: ir.Value, bi: ir.Value) -> tuple[ir.Value, ir.Value]:
    """tanh(a + bi) = (sinh 2a + i sin 2b) / (cosh 2a + cos 2b); for |a| > 20 the real part
    is a's sign and the imaginary part below 1e-17 (cosh 2a would overflow to inf / inf)."""
    b = ctx.b
    two_a, two_b = b.Add(a, a), b.Add(bi, bi)
    denominator = b.Add(b.Cosh(two_a), b.Cos(two_b))
    large = b.Greater(b.Abs(a), _part_scalar(ctx, 20))
    re = b.Where(large, b.Sign(a), b.Div(b.Sinh(two_a), denominator))
    im = b.Where(large, _zero(ctx), b.Div(b.Sin(two_b), denominator))
    return re, im


@lowers_complex("stablehlo.tanh")
def tanh(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.tanh -> (sinh 2a + i sin 2b) / (cosh 2a + cos 2b), saturated for |a| > 20.

    Limits: near the poles (cosh 2a + cos 2b = 0) the accuracy is that of the sum.
    """
    return [pack(ctx, *_tanh_parts(ctx, *parts(ctx, z)))]


@lowers_complex("stablehlo.tan")
def tan(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.tan -> tan z = -i tanh(iz): with tanh(-b + ai) = p + qi, tan = q - pi.

    Limits: as tanh's.
    """
    a, bi = parts(ctx, z)
    p, q = _tanh_parts(ctx, ctx.b.Neg(bi), a)
    return [pack(ctx, q, ctx.b.Neg(p))]


@lowers_complex("stablehlo.compare")
def compare(ctx: LoweringContext, x: ir.Value, y: ir.Value) -> list[ir.Value]:
    """stablehlo.compare EQ/NE of complex values -> both parts Equal / either differs.

    Limits: ordering directions (LT, GE, ...) are refused: complex numbers have no order.
    """
    direction = ctx.attr("comparison_direction")
    if direction not in ("EQ", "NE"):
        raise ctx.error(f"comparison {direction} of complex values: only EQ and NE exist")
    b = ctx.b
    (a, bi), (c, d) = parts(ctx, x), parts(ctx, y)
    equal = b.And(b.Equal(a, c), b.Equal(bi, d))
    return [equal if direction == "EQ" else b.Not(equal)]
