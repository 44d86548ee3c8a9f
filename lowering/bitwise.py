"""Bit shifts and bit counts. ONNX BitShift takes unsigned integers only, and leaves shifts
by the bit width or more undefined, where StableHLO defines them; both are handled here.
popcnt and count_leading_zeros have no ONNX op: they are SWAR shift-and-mask sequences."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext

_UNSIGNED = {1: ir.DataType.UINT8, 2: ir.DataType.UINT16, 4: ir.DataType.UINT32,
             8: ir.DataType.UINT64}


def _logical_shift(ctx: LoweringContext, x: ir.Value, amount: ir.Value, direction: str):
    """BitShift on the unsigned view of x; shifts >= the bit width give 0."""
    spec = ctx.out
    unsigned = _UNSIGNED[spec.np_dtype.itemsize]
    if not spec.is_unsigned:
        x, amount = ctx.b.Cast(x, to=unsigned), ctx.b.Cast(amount, to=unsigned)
    shifted = ctx.b.BitShift(x, amount, direction=direction)
    width = ctx.const(np.asarray(8 * spec.np_dtype.itemsize, dtype=unsigned.numpy()))
    shifted = ctx.b.Where(ctx.b.Less(amount, width), shifted,
                          ctx.const(np.asarray(0, dtype=unsigned.numpy())))
    return shifted if spec.is_unsigned else ctx.b.Cast(shifted, to=spec.dtype)


@lowers("stablehlo.shift_left")
def shift_left(ctx: LoweringContext, x: ir.Value, amount: ir.Value) -> list[ir.Value]:
    """stablehlo.shift_left -> BitShift(LEFT) on the unsigned view."""
    return [_logical_shift(ctx, x, amount, "LEFT")]


@lowers("stablehlo.shift_right_logical")
def shift_right_logical(ctx: LoweringContext, x: ir.Value, amount: ir.Value):
    """stablehlo.shift_right_logical -> BitShift(RIGHT) on the unsigned view."""
    return [_logical_shift(ctx, x, amount, "RIGHT")]


@lowers("stablehlo.shift_right_arithmetic")
def shift_right_arithmetic(ctx: LoweringContext, x: ir.Value, amount: ir.Value):
    """stablehlo.shift_right_arithmetic -> logical shift of x, or of ~x then ~, for x < 0
    (shifting in sign bits); shifts >= the width give 0 or -1."""
    if ctx.out.is_unsigned:
        return [_logical_shift(ctx, x, amount, "RIGHT")]
    negative = ctx.b.Less(x, ctx.scalar_like(0, ctx.out))
    flipped = ctx.b.BitwiseNot(_logical_shift(ctx, ctx.b.BitwiseNot(x), amount, "RIGHT"))
    return [ctx.b.Where(negative, flipped, _logical_shift(ctx, x, amount, "RIGHT"))]


# ---- bit counting: SWAR on the zero-extended unsigned view --------------------------


def _word_view(ctx: LoweringContext, x: ir.Value) -> tuple[ir.Value, int, ir.DataType]:
    """x's bits, zero-extended to uint32 (uint64 for 64-bit ints), and x's width."""
    spec = ctx.operand_specs[0]
    width = 8 * spec.np_dtype.itemsize
    if not spec.is_unsigned:
        x = ctx.b.Cast(x, to=_UNSIGNED[width // 8])  # wraps: the same bits
    word = ir.DataType.UINT64 if width == 64 else ir.DataType.UINT32
    return (x if width in (32, 64) else ctx.b.Cast(x, to=word)), width, word


def _popcount(ctx: LoweringContext, x: ir.Value, word: ir.DataType) -> ir.Value:
    """Bits set in each element: pairs, nibbles, bytes, then folding the byte counts."""
    b = ctx.b
    bits = 64 if word == ir.DataType.UINT64 else 32

    def c(value: int) -> ir.Value:
        return ctx.const(np.asarray(value & ((1 << bits) - 1), dtype=word.numpy()))

    def shr(v: ir.Value, n: int) -> ir.Value:
        return b.BitShift(v, c(n), direction="RIGHT")

    x = b.Sub(x, b.BitwiseAnd(shr(x, 1), c(0x5555555555555555)))
    x = b.Add(b.BitwiseAnd(x, c(0x3333333333333333)),
              b.BitwiseAnd(shr(x, 2), c(0x3333333333333333)))
    x = b.BitwiseAnd(b.Add(x, shr(x, 4)), c(0x0F0F0F0F0F0F0F0F))
    for shift in (8, 16, 32)[: 3 if bits == 64 else 2]:
        x = b.Add(x, shr(x, shift))
    return b.BitwiseAnd(x, c(0x7F))


@lowers("stablehlo.popcnt")
def popcnt(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.popcnt -> SWAR bit count (BitShift/BitwiseAnd/Add) on the unsigned view."""
    x, _, word = _word_view(ctx, x)
    return [ctx.b.Cast(_popcount(ctx, x, word), to=ctx.out.dtype)]


@lowers("stablehlo.count_leading_zeros")
def count_leading_zeros(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.count_leading_zeros -> width - popcount(x with every bit below its
    highest set bit also set)."""
    b = ctx.b
    x, width, word = _word_view(ctx, x)
    for shift in (1, 2, 4, 8, 16, 32):
        if shift < width:
            x = b.BitwiseOr(x, b.BitShift(x, ctx.const(np.asarray(shift, word.numpy())),
                                          direction="RIGHT"))
    zeros = b.Sub(ctx.const(np.asarray(width, word.numpy())), _popcount(ctx, x, word))
    return [b.Cast(zeros, to=ctx.out.dtype)]
