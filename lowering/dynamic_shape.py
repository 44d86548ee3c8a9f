"""Shape ops with runtime shapes, from symbolic dims: get_dimension_size,
dynamic_broadcast_in_dim, dynamic_reshape, dynamic_iota, real_dynamic_slice, dynamic_pad.

The shape operands are small integer tensors computed in the graph (Shape -> Cast -> ...);
where the result type leaves a single dim dynamic, a constant target with -1 is used
instead, so that the shape arithmetic becomes dead code and shape inference sees more.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext
from .dynamic_values import BROADCAST_SHAPE, elements_of, name_dims, shape_of
from .shape import (
    Widths,
    broadcast_to,
    pad_with,
    reshape_to,
    static_reshape_target,
    users_broadcast,
)

_INT64 = ir.DataType.INT64


def _as_int64(ctx: LoweringContext, x: ir.Value, index: int) -> ir.Value:
    """A shape or index operand (i32 mostly) as the int64 ONNX wants."""
    if ctx.operand_specs[index].dtype == _INT64:
        return x
    return ctx.b.Cast(x, to=_INT64)


@lowers("stablehlo.get_dimension_size")
def get_dimension_size(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.get_dimension_size -> Shape(start=d, end=d+1) -> Cast -> Reshape to ()."""
    axis = ctx.attr("dimension")
    size = ctx.b.Shape(x, start=axis, end=axis + 1)
    if ctx.out.dtype != _INT64:
        size = ctx.b.Cast(size, to=ctx.out.dtype)
    return [ctx.b.Reshape(size, ctx.i64([]))]


@lowers("stablehlo.dynamic_broadcast_in_dim")
def dynamic_broadcast_in_dim(ctx: LoweringContext, x: ir.Value,
                             shape: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_broadcast_in_dim -> broadcast_in_dim's nodes, Expand to `shape`
    unless the operand's named dims already are the ones `shape` is made of, or every
    user broadcasts the aligned operand itself (as broadcast_in_dim): the shape's
    arithmetic (Shape, Cast, Concat, ...: most of a dynamic-batch BERT's first graph)
    is then dead code. The aligned value carries the dims `shape` names, for the walker
    to name its users' results (an operand used elsewhere as it is keeps the Expand)."""
    known = elements_of(shape)
    if users_broadcast(ctx):
        value = broadcast_to(ctx, x, ctx.attr("broadcast_dimensions"), None)
        names = known is not None and any(isinstance(e, ir.SymbolicDim) for e in known)
        if value is not x or not names:  # x itself, used as it is elsewhere, may not
            if names and len(known) == ctx.out.rank:  # carry the names
                value.meta[BROADCAST_SHAPE] = shape_of(known)
            ctx.keep_result_types()
            return [value]
    out = broadcast_to(ctx, x, ctx.attr("broadcast_dimensions"), _as_int64(ctx, shape, 1),
                       known if known is not None and len(known) == ctx.out.rank else None)
    return [out if out is x else name_dims(out, known)]


@lowers("stablehlo.dynamic_reshape")
def dynamic_reshape(ctx: LoweringContext, x: ir.Value, shape: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_reshape -> Reshape (to constants and one -1 where that is enough).

    The result's dynamic dims are named after the symbolic dims the shape operand is made
    of (a flatten to (B, -1) keeps "B"), so that later ops can see they are equal.
    """
    static = static_reshape_target(ctx.out.shape)
    if static is not None:
        out = reshape_to(ctx, x, ctx.i64(static), literal_zeros=0 in static)
    else:
        out = reshape_to(ctx, x, _as_int64(ctx, shape, 1), literal_zeros=True)
    return [name_dims(out, elements_of(shape))]


@lowers("stablehlo.dynamic_iota")
def dynamic_iota(ctx: LoweringContext, shape: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_iota -> Range(0, shape[d]) placed on axis d, Expand to `shape`."""
    out, axis = ctx.out, ctx.attr("iota_dimension")
    shape = _as_int64(ctx, shape, 0)
    n = out.shape[axis]
    if n is None:
        n = ctx.b.Reshape(ctx.b.Slice(shape, ctx.i64([axis]), ctx.i64([axis + 1])), ctx.i64([]))
    else:
        n = ctx.const(np.int64(n))
    line = ctx.b.Range(ctx.const(np.int64(0)), n, ctx.const(np.int64(1)))
    if out.dtype != _INT64:
        line = ctx.b.Cast(line, to=out.dtype)
    others = [a for a in range(out.rank) if a != axis]
    if others:
        line = ctx.b.Expand(ctx.b.Unsqueeze(line, ctx.i64(others)), shape)
    return [line]


@lowers("stablehlo.real_dynamic_slice")
def real_dynamic_slice(ctx: LoweringContext, x: ir.Value, starts: ir.Value, limits: ir.Value,
                       strides: ir.Value) -> list[ir.Value]:
    """stablehlo.real_dynamic_slice -> Slice with runtime starts, limits and strides."""
    axes = ctx.i64(list(range(ctx.out.rank)))
    return [ctx.b.Slice(x, _as_int64(ctx, starts, 1), _as_int64(ctx, limits, 2), axes,
                        _as_int64(ctx, strides, 3))]


@lowers("stablehlo.dynamic_pad")
def dynamic_pad(ctx: LoweringContext, x: ir.Value, value: ir.Value, low: ir.Value,
                high: ir.Value, interior: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_pad (jnp.pad / lax.pad by widths that depend on a symbolic dim)
    -> stablehlo.pad's nodes with runtime widths: Pad, then a Slice for negative widths.

    Widths that trace back to constants are used as such (interior padding is mostly 0);
    a runtime interior width treats every axis (Unsqueeze, Pad, Reshape, Slice).
    """
    low, high, interior = (_widths(ctx, v, i) for i, v in enumerate((low, high, interior), 2))
    return [pad_with(ctx, x, value, low, high, interior)]


def _widths(ctx: LoweringContext, widths: ir.Value, index: int) -> Widths:
    """Pad widths as ints where the graph says they are constants, else an int64 vector."""
    known = elements_of(widths)
    if known is not None and all(isinstance(e, int) for e in known):
        return known
    return _as_int64(ctx, widths, index)
