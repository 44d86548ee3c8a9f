"""Shape ops: broadcast_in_dim, reshape, transpose, concatenate, slice, pad, iota, reverse."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max


@lowers("stablehlo.broadcast_in_dim")
def broadcast_in_dim(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.broadcast_in_dim -> [Transpose] [Unsqueeze] [Expand], each only if needed."""
    # Expand keeps an input dim where the target says 1: a dynamic result dim is one the
    # operand already has, so 1 stands in for it.
    target = [1 if d is None else d for d in ctx.out.shape]
    return [broadcast_to(ctx, x, ctx.attr("broadcast_dimensions"), ctx.i64(target))]


def broadcast_to(ctx: LoweringContext, x: ir.Value, dims: list[int],
                 target: ir.Value) -> ir.Value:
    """Operand axis i moved to result axis dims[i], then Expand to `target` (int64 shape),
    which is left out where the aligned operand already has the static result shape."""
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
    if None in aligned or tuple(aligned) != out.shape:
        x = ctx.b.Expand(x, target)
    return x


@lowers("stablehlo.reshape")
def reshape(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.reshape -> Reshape to the result shape (-1 for its one dynamic dim)."""
    if ctx.operand_specs[0].shape == ctx.out.shape and ctx.out.shape.count(None) <= 1:
        return [x]
    target = static_reshape_target(ctx.out.shape)
    if target is None:
        raise ctx.error(
            f"reshape to {ctx.out.shape} has several dynamic dims and no runtime shape; "
            "JAX emits stablehlo.dynamic_reshape for such reshapes"
        )
    return [reshape_to(ctx, x, ctx.i64(target), literal_zeros=0 in target)]


def static_reshape_target(shape: tuple[int | None, ...]) -> list[int] | None:
    """The Reshape target for `shape` as constants, -1 for a single dynamic dim, or None
    when there are several (their sizes are known at runtime only)."""
    if shape.count(None) > 1 or (None in shape and 0 in shape):
        return None
    return [-1 if d is None else d for d in shape]


def reshape_to(ctx: LoweringContext, x: ir.Value, target: ir.Value, *,
               literal_zeros: bool) -> ir.Value:
    """Reshape to `target`; `literal_zeros`: a 0 in it is an empty axis, as StableHLO means,
    not ONNX's default "copy the input's dim" (allowzero)."""
    return ctx.b.Reshape(x, target, allowzero=1 if literal_zeros else None)


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
        if gap > 0 and shape[axis] != 0:
            x = _interior_pad(ctx, x, value, shape, axis, gap)
            if shape[axis] is not None:
                shape[axis] += (shape[axis] - 1) * gap
    grow_low, grow_high = [max(p, 0) for p in low], [max(p, 0) for p in high]
    if any(grow_low) or any(grow_high):
        x = ctx.b.Pad(x, ctx.i64(grow_low + grow_high), value, mode="constant")
    cut = [a for a in range(len(shape)) if low[a] < 0 or high[a] < 0]
    if cut:
        x = ctx.b.Slice(
            x,
            ctx.i64([-min(low[a], 0) for a in cut]),
            ctx.i64([high[a] if high[a] < 0 else _INT64_MAX for a in cut]),
            ctx.i64(cut),
        )
    return [x]


def _interior_pad(ctx: LoweringContext, x: ir.Value, value: ir.Value,
                  shape: list[int | None], axis: int, gap: int) -> ir.Value:
    """Inserts `gap` copies of `value` between neighbours along `axis`: each element gets a
    trailing run of `gap` (unsqueeze, pad, merge), then the last run is cut off."""
    b = ctx.b
    rank = len(shape)
    x = b.Unsqueeze(x, ctx.i64([axis + 1]))
    pads = [0] * (2 * (rank + 1))
    pads[rank + 1 + axis + 1] = gap
    x = b.Pad(x, ctx.i64(pads), value, mode="constant")
    if None in shape:  # the dims as the runtime has them, axis and its run merged
        run = b.Mul(b.Shape(x, start=axis, end=axis + 1), ctx.i64([gap + 1]))
        merged = b.Concat(b.Shape(x, end=axis), run, b.Shape(x, start=axis + 2), axis=0)
    else:
        merged = ctx.i64(shape[:axis] + [shape[axis] * (gap + 1)] + shape[axis + 1:])
    x = reshape_to(ctx, x, merged, literal_zeros=True)
    return b.Slice(x, ctx.i64([0]), ctx.i64([-gap]), ctx.i64([axis]))


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
