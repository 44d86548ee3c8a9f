"""Shape ops: broadcast_in_dim, reshape, transpose, concatenate, slice, pad, iota, reverse."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext

_INT64_MIN = np.iinfo(np.int64).min


@lowers("stablehlo.broadcast_in_dim")
def broadcast_in_dim(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.broadcast_in_dim -> [Transpose] [Unsqueeze] [Expand], each only if needed."""
    dims = ctx.attr("broadcast_dimensions")
    source, out = ctx.operand_specs[0], ctx.out
    order = sorted(range(len(dims)), key=lambda i: dims[i])
    if order != list(range(len(dims))):  # operand axes land out of order: sort them first
        x = ctx.b.Transpose(x, perm=order)
    kept = sorted(dims)
    missing = [axis for axis in range(out.rank) if axis not in kept]
    if missing:
        x = ctx.b.Unsqueeze(x, ctx.i64(missing))
    aligned = [1] * out.rank
    for i, axis in zip(order, kept):
        aligned[axis] = source.shape[i]
    if tuple(aligned) != out.shape:
        x = ctx.b.Expand(x, ctx.i64(out.shape))
    return [x]


@lowers("stablehlo.reshape")
def reshape(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.reshape -> Reshape to the static result shape."""
    if ctx.operand_specs[0].shape == ctx.out.shape:
        return [x]
    # allowzero: a 0 in the target shape is an empty axis, not "copy the input's dim".
    allowzero = 1 if 0 in ctx.out.shape else None
    return [ctx.b.Reshape(x, ctx.i64(ctx.out.shape), allowzero=allowzero)]


@lowers("stablehlo.transpose")
def transpose(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.transpose -> Transpose."""
    return [ctx.b.Transpose(x, perm=ctx.attr("permutation"))]


@lowers("stablehlo.concatenate")
def concatenate(ctx: LoweringContext, *xs: ir.Value) -> list[ir.Value]:
    """stablehlo.concatenate -> Concat."""
    return [ctx.b.Concat(*xs, axis=ctx.attr("dimension"))]


@lowers("stablehlo.slice")
def slice_(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.slice -> Slice over the axes that change."""
    starts, limits = ctx.attr("start_indices"), ctx.attr("limit_indices")
    strides = ctx.attr("strides")
    shape = ctx.operand_specs[0].shape
    axes = [
        a for a in range(len(shape))
        if (starts[a], limits[a], strides[a]) != (0, shape[a], 1)
    ]
    if not axes:
        return [x]
    return [ctx.b.Slice(
        x,
        ctx.i64([starts[a] for a in axes]),
        ctx.i64([limits[a] for a in axes]),
        ctx.i64(axes),
        ctx.i64([strides[a] for a in axes]),
    )]


@lowers("stablehlo.pad")
def pad(ctx: LoweringContext, x: ir.Value, value: ir.Value) -> list[ir.Value]:
    """stablehlo.pad -> interior padding by reshaping, then Pad for positive edges and
    Slice for negative ones (which cut into the interior-padded tensor)."""
    low, high = ctx.attr("edge_padding_low"), ctx.attr("edge_padding_high")
    interior = ctx.attr("interior_padding")
    shape = list(ctx.operand_specs[0].shape)
    for axis, gap in enumerate(interior):
        if gap > 0 and shape[axis] > 0:
            x = _interior_pad(ctx, x, value, shape, axis, gap)
            shape[axis] = shape[axis] + (shape[axis] - 1) * gap
    grow_low, grow_high = [max(p, 0) for p in low], [max(p, 0) for p in high]
    if any(grow_low) or any(grow_high):
        x = ctx.b.Pad(x, ctx.i64(grow_low + grow_high), value, mode="constant")
    cut = [a for a in range(len(shape)) if low[a] < 0 or high[a] < 0]
    if cut:
        padded = [shape[a] + grow_low[a] + grow_high[a] for a in range(len(shape))]
        x = ctx.b.Slice(
            x,
            ctx.i64([-min(low[a], 0) for a in cut]),
            ctx.i64([padded[a] + min(high[a], 0) for a in cut]),
            ctx.i64(cut),
        )
    return [x]


def _interior_pad(ctx: LoweringContext, x: ir.Value, value: ir.Value, shape: list[int],
                  axis: int, gap: int) -> ir.Value:
    """Inserts `gap` copies of `value` between neighbours along `axis`: each element gets a
    trailing run of `gap` (unsqueeze, pad, merge), then the last run is cut off."""
    b, n = ctx.b, shape[axis]
    rank = len(shape)
    x = b.Unsqueeze(x, ctx.i64([axis + 1]))
    pads = [0] * (2 * (rank + 1))
    pads[rank + 1 + axis + 1] = gap
    x = b.Pad(x, ctx.i64(pads), value, mode="constant")
    merged = shape[:axis] + [n * (gap + 1)] + shape[axis + 1:]
    x = b.Reshape(x, ctx.i64(merged))
    return b.Slice(x, ctx.i64([0]), ctx.i64([n * (gap + 1) - gap]), ctx.i64([axis]))


@lowers("stablehlo.iota")
def iota(ctx: LoweringContext) -> list[ir.Value]:
    """stablehlo.iota -> a 1-D constant 0..n-1, placed on its axis and expanded."""
    out, axis = ctx.out, ctx.attr("iota_dimension")
    line = np.arange(out.shape[axis]).astype(out.np_dtype)
    placed = [1] * out.rank
    placed[axis] = out.shape[axis]
    x = ctx.const(line.reshape(placed))
    if tuple(placed) != out.shape:
        x = ctx.b.Expand(x, ctx.i64(out.shape))
    return [x]


@lowers("stablehlo.reverse")
def reverse(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.reverse -> Slice with step -1 on the reversed axes."""
    axes = list(ctx.attr("dimensions"))
    if not axes:
        return [x]
    return [ctx.b.Slice(
        x,
        ctx.i64([-1] * len(axes)),
        ctx.i64([_INT64_MIN] * len(axes)),
        ctx.i64(axes),
        ctx.i64([-1] * len(axes)),
    )]
