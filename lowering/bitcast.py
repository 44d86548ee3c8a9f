"""Bit reinterpretation without an ONNX bitcast: bitcast_convert and reduce_precision.

ONNX has no bitcast op (up to opset 23), so the IEEE fields are moved by arithmetic:
- int <-> uint of one width is a Cast, which wraps (two's complement) in ONNX Runtime.
- bits -> float splits sign, exponent and mantissa with shifts and masks on the unsigned
  view and computes sign * (mantissa + 2^p) * 2^(exponent - bias - p) in float64, where it
  is exact; the powers of two come from a constant table (Pow's rounding is unspecified).
- float -> bits takes the exponent as floor(log2|x|), corrected by one against the same
  table, and the mantissa as |x| scaled by a power of two (exact) to an integer.
  Subnormals, +-0 and +-inf round-trip bit for bit. NaN payloads and NaN signs cannot be
  read or made by arithmetic: every NaN becomes the quiet NaN JAX writes for jnp.nan
  (0x7FC00000 for float32, the same pattern in the other formats).
- Width-changing bitcasts (u32[..., 2] <-> u64[...]) join or split the unsigned views
  little-endian, as XLA does on CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext
from .types import TensorSpec

__all__ = ["FLOAT_FORMATS", "FloatFormat", "bits_to_float", "float_to_bits", "from_bits",
           "to_bits"]

UNSIGNED = {8: ir.DataType.UINT8, 16: ir.DataType.UINT16, 32: ir.DataType.UINT32,
            64: ir.DataType.UINT64}


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE-style binary format: 1 sign bit, exponent_bits, mantissa_bits."""

    exponent_bits: int
    mantissa_bits: int

    @property
    def width(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def bias(self) -> int:
        return (1 << (self.exponent_bits - 1)) - 1

    @property
    def max_exponent(self) -> int:
        """The exponent field of inf and NaN."""
        return (1 << self.exponent_bits) - 1

    @property
    def word(self) -> ir.DataType:
        """The unsigned type the fields are computed in (BitShift has no 16-bit Max/Min)."""
        return ir.DataType.UINT64 if self.width > 32 else ir.DataType.UINT32

    @property
    def quiet_nan(self) -> int:
        return (self.max_exponent << self.mantissa_bits) | (1 << (self.mantissa_bits - 1))


FLOAT_FORMATS = {
    ir.DataType.FLOAT16: FloatFormat(5, 10),
    ir.DataType.BFLOAT16: FloatFormat(8, 7),
    ir.DataType.FLOAT: FloatFormat(8, 23),
    ir.DataType.DOUBLE: FloatFormat(11, 52),
}


def _word(ctx: LoweringContext, value: int, fmt: FloatFormat) -> ir.Value:
    return ctx.const(np.asarray(value, dtype=fmt.word.numpy()))


def _f64(ctx: LoweringContext, value: float | np.ndarray) -> ir.Value:
    return ctx.const(np.asarray(value, dtype=np.float64))


def _select(ctx: LoweringContext, condition: ir.Value, x: ir.Value, y: ir.Value,
            fmt: FloatFormat) -> ir.Value:
    """Where on words; ONNX Runtime has no uint64 Where, so those go through int64."""
    if fmt.word != ir.DataType.UINT64:
        return ctx.b.Where(condition, x, y)
    signed = [ctx.b.Cast(v, to=ir.DataType.INT64) for v in (x, y)]
    return ctx.b.Cast(ctx.b.Where(condition, *signed), to=fmt.word)


def _format(ctx: LoweringContext, dtype: ir.DataType) -> FloatFormat:
    if dtype not in FLOAT_FORMATS:
        raise ctx.error(f"bit patterns of {dtype.name} are not supported (float16, bfloat16, "
                        "float32 and float64 are)")
    return FLOAT_FORMATS[dtype]


def bits_to_float(ctx: LoweringContext, bits: ir.Value, dtype: ir.DataType) -> ir.Value:
    """The float of `dtype` whose bit pattern is `bits` (unsigned, the format's width)."""
    b, fmt = ctx.b, _format(ctx, dtype)
    p = fmt.mantissa_bits
    word = b.Cast(bits, to=fmt.word)
    exponent = b.BitwiseAnd(b.BitShift(word, _word(ctx, p, fmt), direction="RIGHT"),
                            _word(ctx, fmt.max_exponent, fmt))
    mantissa = b.BitwiseAnd(word, _word(ctx, (1 << p) - 1, fmt))
    negative = b.Equal(b.BitShift(word, _word(ctx, fmt.width - 1, fmt), direction="RIGHT"),
                       _word(ctx, 1, fmt))
    normal = b.Less(_word(ctx, 0, fmt), exponent)
    # value = (mantissa + implicit bit) * 2^(max(exponent, 1) - bias - p), exact in float64
    significand = b.Add(b.Cast(mantissa, to=ir.DataType.DOUBLE),
                        b.Where(normal, _f64(ctx, 2.0**p), _f64(ctx, 0.0)))
    scales = np.ldexp(1.0, np.arange(fmt.max_exponent + 1) - fmt.bias - p)
    index = b.Max(b.Cast(exponent, to=ir.DataType.INT64), ctx.i64(1))
    magnitude = b.Mul(significand, b.Gather(_f64(ctx, scales), index))
    special = b.Equal(exponent, _word(ctx, fmt.max_exponent, fmt))
    magnitude = b.Where(special, b.Where(b.Equal(mantissa, _word(ctx, 0, fmt)),
                                         _f64(ctx, np.inf), _f64(ctx, np.nan)), magnitude)
    # The sign by multiplication: ONNX Runtime's Where returns +0.0 for a chosen -0.0.
    value = b.Mul(magnitude, b.Where(negative, _f64(ctx, -1.0), _f64(ctx, 1.0)))
    return value if dtype == ir.DataType.DOUBLE else b.Cast(value, to=dtype)


def _binary_exponent(ctx: LoweringContext, a: ir.Value, fmt: FloatFormat) -> ir.Value:
    """The biased exponent field of finite a > 0 (float64), clamped to [1, max - 1]."""
    b = ctx.b
    with np.errstate(over="ignore"):  # float64's top entry is inf: never <= a finite a
        powers = _f64(ctx, np.ldexp(1.0, np.arange(fmt.max_exponent + 1) - fmt.bias))
    lowest, highest = ctx.i64(1), ctx.i64(fmt.max_exponent - 1)
    log2 = b.Floor(b.Mul(b.Log(a), _f64(ctx, 1 / math.log(2))))
    exponent = b.Add(b.Cast(log2, to=ir.DataType.INT64), ctx.i64(fmt.bias))
    exponent = b.Min(b.Max(exponent, lowest), highest)
    # Log is off by at most one near powers of two: 2^(e - bias) <= a < 2^(e + 1 - bias).
    too_high = b.Less(a, b.Gather(powers, exponent))
    exponent = b.Sub(exponent, b.Cast(too_high, to=ir.DataType.INT64))
    too_low = b.GreaterOrEqual(a, b.Gather(powers, b.Add(exponent, ctx.i64(1))))
    exponent = b.Add(exponent, b.Cast(too_low, to=ir.DataType.INT64))
    return b.Min(b.Max(exponent, lowest), highest)


def float_to_bits(ctx: LoweringContext, x: ir.Value, dtype: ir.DataType) -> ir.Value:
    """The bit pattern (unsigned, the format's width) of x, a float of `dtype`."""
    b, fmt = ctx.b, _format(ctx, dtype)
    p = fmt.mantissa_bits
    x = x if dtype == ir.DataType.DOUBLE else b.Cast(x, to=ir.DataType.DOUBLE)
    a, zero = b.Abs(x), _f64(ctx, 0.0)
    # -0.0 is only told from +0.0 by the sign of its reciprocal.
    negative = b.Or(b.Less(x, zero), b.Less(b.Div(_f64(ctx, 1.0), x), zero))
    finite = b.Where(b.IsInf(a), zero, b.Where(b.IsNaN(a), zero, a))
    positive = b.Where(b.Less(zero, finite), finite, _f64(ctx, 1.0))
    exponent = _binary_exponent(ctx, positive, fmt)
    # a * 2^(p + bias - exponent) is the integer significand; two factors keep each in range.
    shift = p + fmt.bias - np.arange(fmt.max_exponent + 1)
    significand = b.Mul(b.Mul(finite, b.Gather(_f64(ctx, np.ldexp(1.0, shift // 2)), exponent)),
                        b.Gather(_f64(ctx, np.ldexp(1.0, shift - shift // 2)), exponent))
    mantissa = b.BitwiseAnd(b.Cast(significand, to=fmt.word), _word(ctx, (1 << p) - 1, fmt))
    normal = b.GreaterOrEqual(finite, _f64(ctx, np.ldexp(1.0, 1 - fmt.bias)))
    exponent = b.Cast(b.Where(normal, exponent, ctx.i64(0)), to=fmt.word)
    sign = b.BitShift(b.Cast(negative, to=fmt.word), _word(ctx, fmt.width - 1, fmt),
                      direction="LEFT")
    infinity = b.BitwiseOr(sign, _word(ctx, fmt.max_exponent << p, fmt))
    bits = b.BitwiseOr(b.BitwiseOr(sign, b.BitShift(exponent, _word(ctx, p, fmt),
                                                    direction="LEFT")), mantissa)
    bits = _select(ctx, b.IsNaN(a), _word(ctx, fmt.quiet_nan, fmt),
                   _select(ctx, b.IsInf(a), infinity, bits, fmt), fmt)
    unsigned = UNSIGNED[fmt.width]
    return bits if unsigned == fmt.word else b.Cast(bits, to=unsigned)


def to_bits(ctx: LoweringContext, x: ir.Value, spec: TensorSpec) -> ir.Value:
    """The unsigned integer view (same width) of a float or integer tensor."""
    if spec.is_float:
        return float_to_bits(ctx, x, spec.dtype)
    if spec.is_bool or 8 * spec.np_dtype.itemsize not in UNSIGNED:
        raise ctx.error(f"cannot reinterpret the bits of {spec.dtype.name}")
    return x if spec.is_unsigned else ctx.b.Cast(x, to=UNSIGNED[8 * spec.np_dtype.itemsize])


def from_bits(ctx: LoweringContext, bits: ir.Value, spec: TensorSpec) -> ir.Value:
    """The tensor of `spec`'s type whose bits are `bits` (unsigned, same width)."""
    if spec.is_float:
        return bits_to_float(ctx, bits, spec.dtype)
    if spec.is_bool or 8 * spec.np_dtype.itemsize not in UNSIGNED:
        raise ctx.error(f"cannot reinterpret bits as {spec.dtype.name}")
    return bits if spec.is_unsigned else ctx.b.Cast(bits, to=spec.dtype)


def _join_words(ctx: LoweringContext, bits: ir.Value, narrow: int, wide: int) -> ir.Value:
    """u<narrow>[..., k] -> u<wide>[...]: element i of the last axis holds bits i*narrow..."""
    b, unsigned = ctx.b, UNSIGNED[wide]
    joined = None
    for i in range(wide // narrow):
        part = b.Cast(b.Gather(bits, ctx.i64(i), axis=-1), to=unsigned)
        part = b.BitShift(part, ctx.const(np.asarray(i * narrow, unsigned.numpy())),
                          direction="LEFT")
        joined = part if joined is None else b.BitwiseOr(joined, part)
    return joined


def _split_word(ctx: LoweringContext, bits: ir.Value, wide: int, narrow: int) -> ir.Value:
    """u<wide>[...] -> u<narrow>[..., k], lowest bits first; Cast keeps the low bits."""
    b, unsigned = ctx.b, UNSIGNED[wide]
    parts = [b.Unsqueeze(b.Cast(b.BitShift(bits, ctx.const(np.asarray(i * narrow,
                                                                      unsigned.numpy())),
                                           direction="RIGHT"), to=UNSIGNED[narrow]),
                         ctx.i64([-1]))
             for i in range(wide // narrow)]
    return b.Concat(*parts, axis=-1)


@lowers("stablehlo.bitcast_convert")
def bitcast_convert(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.bitcast_convert -> Cast (int <-> uint), IEEE field arithmetic (floats),
    BitShift/Concat for width changes."""
    source, target = ctx.operand_specs[0], ctx.out
    if source.dtype == target.dtype:
        return [ctx.b.Identity(x)]
    bits = to_bits(ctx, x, source)
    width_in, width_out = 8 * source.np_dtype.itemsize, 8 * target.np_dtype.itemsize
    if width_in < width_out:
        bits = _join_words(ctx, bits, width_in, width_out)
    elif width_in > width_out:
        bits = _split_word(ctx, bits, width_in, width_out)
    return [from_bits(ctx, bits, target)]


@lowers("stablehlo.reduce_precision")
def reduce_precision(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.reduce_precision -> XLA's bit recipe on the float's bits: round the
    mantissa to nearest even, then overflow to inf and flush underflow to signed zero."""
    b, spec = ctx.b, ctx.out
    fmt = _format(ctx, spec.dtype)
    exponent_bits, mantissa_bits = ctx.attr("exponent_bits"), ctx.attr("mantissa_bits")
    bits = b.Cast(float_to_bits(ctx, x, spec.dtype), to=fmt.word)
    if mantissa_bits < fmt.mantissa_bits:
        bits = _round_mantissa(ctx, bits, fmt, mantissa_bits)
    if exponent_bits < fmt.exponent_bits:
        bits = _clamp_exponent(ctx, bits, fmt, exponent_bits)
    result = bits_to_float(ctx, b.Cast(bits, to=UNSIGNED[fmt.width]), spec.dtype)
    # As XLA: NaN stays NaN (rounding or the exponent clamp would make it inf or zero).
    return [b.Where(b.IsNaN(x), x, result)]


def _round_mantissa(ctx: LoweringContext, bits: ir.Value, fmt: FloatFormat,
                    mantissa_bits: int) -> ir.Value:
    """Round-to-nearest-even to `mantissa_bits`: add half an ulp (less one, plus the last
    kept bit for ties) and clear the dropped bits; a carry correctly bumps the exponent."""
    b, dropped = ctx.b, fmt.mantissa_bits - mantissa_bits
    last_kept = b.BitwiseAnd(b.BitShift(bits, _word(ctx, dropped, fmt), direction="RIGHT"),
                             _word(ctx, 1, fmt))
    bias = b.Add(last_kept, _word(ctx, (1 << (dropped - 1)) - 1, fmt))
    truncation = ~((1 << dropped) - 1) & ((1 << fmt.width) - 1)
    return b.BitwiseAnd(b.Add(bits, bias), _word(ctx, truncation, fmt))


def _clamp_exponent(ctx: LoweringContext, bits: ir.Value, fmt: FloatFormat,
                    exponent_bits: int) -> ir.Value:
    """Exponents above the reduced range become inf, those at or below its minimum (the
    reduced format's subnormals included) become zero, both keeping the sign."""
    b, p = ctx.b, fmt.mantissa_bits
    reduced_bias = (1 << (exponent_bits - 1)) - 1
    exponent_mask = fmt.max_exponent << p
    exponent = b.BitwiseAnd(bits, _word(ctx, exponent_mask, fmt))
    overflows = b.Less(_word(ctx, (fmt.bias + reduced_bias) << p, fmt), exponent)
    underflows = b.LessOrEqual(exponent, _word(ctx, (fmt.bias - reduced_bias) << p, fmt))
    signed_zero = b.BitwiseAnd(bits, _word(ctx, 1 << (fmt.width - 1), fmt))
    signed_inf = b.BitwiseOr(signed_zero, _word(ctx, exponent_mask, fmt))
    return _select(ctx, overflows, signed_inf,
                   _select(ctx, underflows, signed_zero, bits, fmt), fmt)
