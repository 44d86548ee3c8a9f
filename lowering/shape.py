"""Shape ops: broadcast_in_dim, reshape, transpose, concatenate, slice, pad, iota, reverse."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .context import LoweringContext
from .dynamic_values import elements_of, same_dim
from .elementwise import FLOAT_BROADCASTING_OPS
from .types import tensor_spec

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max


@lowers("stablehlo.broadcast_in_dim")
def broadcast_in_dim(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.broadcast_in_dim -> [Transpose] [Unsqueeze] [Expand], each only if needed.

    The Expand is left out where every user broadcasts the aligned operand itself (a bias
    or a norm's mean added to a full-shape tensor, relu's zero): the passes would drop it
    (and fold its shape) after building it, a seventh of the nodes of BERT's first graph."""
    dims = ctx.attr("broadcast_dimensions")
    if ctx.out.is_static and ctx.operand_specs[0].is_static and users_broadcast(ctx):
        aligned = broadcast_to(ctx, x, dims, None)
        ctx.keep_result_types()
        return [aligned]
    # Expand keeps an input dim where the target says 1: a dynamic result dim is one the
    # operand already has, so 1 stands in for it.
    target = [1 if d is None else d for d in ctx.out.shape]
    return [broadcast_to(ctx, x, dims, ctx.i64(target))]


_BROADCASTS = ("stablehlo.broadcast_in_dim", "stablehlo.dynamic_broadcast_in_dim")


def users_broadcast(ctx: LoweringContext) -> bool:
    """Whether every use of the (float) broadcast's result is one of FLOAT_BROADCASTING_OPS
    whose other operand is not a broadcast: that operand has the full shape, so the user's
    node gives the result's shape with this one only aligned to its rank."""
    result = ctx.op.results[0]
    # (complex rules see the op through float specs: its own type says what it is)
    if not tensor_spec(result.type).is_float:
        return False
    users = 0
    for use in result.uses:
        user = use.owner.operation  # (an OpView's `name` may be its op's name attribute)
        if user.name not in FLOAT_BROADCASTING_OPS or len(user.operands) != 2:
            return False
        other = user.operands[1 - use.operand_number]
        if other == result or (isinstance(other, mlir.OpResult)
                               and other.owner.operation.name in _BROADCASTS):
            return False
        users += 1
    return users > 0


def broadcast_to(ctx: LoweringContext, x: ir.Value, dims: list[int], target: ir.Value | None,
                 known: list | None = None) -> ir.Value:
    """Operand axis i moved to result axis dims[i], then Expand to `target` (int64 shape),
    which is left out where the aligned operand already has the result shape: the static
    one, or `known`, the target's elements as ints and symbolic dims. Without a target,
    the aligned operand (typed: the walker types the op's result, and this is not it;
    a dynamic dim as the operand's ONNX value names it, so a batch keeps its name)."""
    source, out, operand = ctx.operand_specs[0], ctx.out, x
    named = list(x.shape) if x.shape is not None and len(x.shape) == len(source.shape) and (
        known is not None or (target is None and not source.is_static)) else None
    order = sorted(range(len(dims)), key=lambda i: dims[i])
    if order != list(range(len(dims))):  # operand axes land out of order: sort them first
        x = ctx.b.Transpose(x, perm=order)
    kept = sorted(dims)
    missing = [axis for axis in range(out.rank) if axis not in kept]
    if target is None and not dims:  # a scalar broadcasts as it is
        return x
    if missing:
        x = ctx.b.Unsqueeze(x, ctx.i64(missing))
    aligned = [1] * out.rank
    for i, axis in zip(order, kept):
        # The operand's dims as its ONNX value names them, where `known` can match them.
        aligned[axis] = named[i] if named is not None else source.shape[i]
    if known is not None and all(same_dim(a, k) for a, k in zip(aligned, known)):
        return x
    if target is None:
        if named is None or x is operand:
            return ctx.typed(x, source.dtype, aligned)
        x.type, x.shape = operand.type, ir.Shape(aligned)  # typed() keeps off dynamic dims
        return x
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
    return [pad_with(ctx, x, value, ctx.attr("edge_padding_low"),
                     ctx.attr("edge_padding_high"), ctx.attr("interior_padding"))]


# Pad widths per axis: ints, or an int64 vector known at runtime only.
Widths = list[int] | ir.Value


def pad_with(ctx: LoweringContext, x: ir.Value, value: ir.Value, low: Widths, high: Widths,
             interior: Widths) -> ir.Value:
    """x padded as stablehlo.pad does (interior first, then the edges, negative ones cut)."""
    x = interior_pad(ctx, x, value, list(ctx.operand_specs[0].shape), interior)
    return edge_pad(ctx, x, value, low, high)


def edge_pad(ctx: LoweringContext, x: ir.Value, value: ir.Value, low: Widths,
             high: Widths) -> ir.Value:
    """Pad by the positive widths, Slice off the negative ones; each only where some width
    may need it (a runtime width made of symbolic dims is known not to be negative)."""
    b = ctx.b
    if not isinstance(low, ir.Value) and not isinstance(high, ir.Value):
        grow_low, grow_high = [max(p, 0) for p in low], [max(p, 0) for p in high]
        if any(grow_low) or any(grow_high):
            x = b.Pad(x, ctx.i64(grow_low + grow_high), value, mode="constant")
        cut = [a for a in range(len(low)) if low[a] < 0 or high[a] < 0]
        if not cut:
            return x
        return b.Slice(x, ctx.i64([-min(low[a], 0) for a in cut]),
                       ctx.i64([high[a] if high[a] < 0 else _INT64_MAX for a in cut]),
                       ctx.i64(cut))
    known = [*_known_widths(low), *_known_widths(high)]
    low, high = _widths_value(ctx, low), _widths_value(ctx, high)
    may_cut = any(not isinstance(e, ir.SymbolicDim) and (e is None or e < 0) for e in known)
    if any(not isinstance(e, int) or e > 0 for e in known):
        both = b.Concat(low, high, axis=0)
        x = b.Pad(x, b.Max(both, ctx.i64([0])) if may_cut else both, value, mode="constant")
    if not may_cut:
        return x
    zero = ctx.i64([0])
    return b.Slice(x, b.Neg(b.Min(low, zero)), b.Add(b.Shape(x), b.Min(high, zero)))


def _known_widths(widths: Widths) -> list:
    """Each width as an int, a symbolic dim (never negative) or None (unknown)."""
    if not isinstance(widths, ir.Value):
        return list(widths)
    return elements_of(widths) or [None]


def _widths_value(ctx: LoweringContext, widths: Widths) -> ir.Value:
    return widths if isinstance(widths, ir.Value) else ctx.i64(widths)


def interior_pad(ctx: LoweringContext, x: ir.Value, value: ir.Value,
                 shape: list[int | None], gaps: Widths) -> ir.Value:
    """Inserts gaps[a] copies of `value` between neighbours along every axis a: each
    element gets a trailing run on a new axis (Unsqueeze, one Pad), every axis is merged
    with its run (Reshape), then the last run of each is cut off (Slice). Runtime `gaps`
    (int64) treat every axis; dynamic dims are read from the runtime shape."""
    b, rank = ctx.b, len(shape)
    runtime = isinstance(gaps, ir.Value)
    axes = list(range(rank)) if runtime else \
        [a for a in range(rank) if gaps[a] > 0 and shape[a] != 0]
    if not axes:
        return x
    dims = b.Shape(x) if runtime or None in shape else None
    # Axis a (j-th of `axes`) stays at a + j after the Unsqueeze, its run at a + j + 1.
    x = b.Unsqueeze(x, ctx.i64([a + j + 1 for j, a in enumerate(axes)]))
    if runtime:
        runs = b.Concat(ctx.i64(np.zeros((rank, 1), np.int64)),
                        b.Unsqueeze(gaps, ctx.i64([1])), axis=1)
        pads = b.Concat(ctx.i64([0] * 2 * rank), b.Reshape(runs, ctx.i64([-1])), axis=0)
        merged = b.Mul(dims, b.Add(gaps, ctx.i64([1])))
        ends = b.Sub(merged, gaps)
    else:
        ends_pad = [0] * (rank + len(axes))
        for j, a in enumerate(axes):
            ends_pad[a + j + 1] = gaps[a]
        pads = ctx.i64([0] * len(ends_pad) + ends_pad)
        factors = [gaps[a] + 1 if a in axes else 1 for a in range(rank)]
        if dims is None:
            merged = ctx.i64([d * f for d, f in zip(shape, factors)])
            ends = ctx.i64([shape[a] * factors[a] - gaps[a] for a in axes])
        else:
            merged = b.Mul(dims, ctx.i64(factors))
            ends = b.Sub(b.Gather(merged, ctx.i64(axes)), ctx.i64([gaps[a] for a in axes]))
    x = b.Pad(x, pads, value, mode="constant")
    x = reshape_to(ctx, x, merged, literal_zeros=True)
    return b.Slice(x, ctx.i64([0] * len(axes)), ends, ctx.i64(axes))


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
