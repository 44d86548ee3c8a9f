"""Bit shifts. ONNX BitShift takes unsigned integers only, and leaves shifts by the bit
width or more undefined, where StableHLO defines them; both are handled here."""

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
