"""Shape ops with runtime shapes, from symbolic dims: get_dimension_size,
dynamic_broadcast_in_dim, dynamic_reshape, dynamic_iota, real_dynamic_slice, dynamic_gather.

The shape operands are small integer tensors computed in the graph (Shape -> Cast -> ...);
where the result type leaves a single dim dynamic, a constant target with -1 is used
instead, so that the shape arithmetic becomes dead code and shape inference sees more.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .context import LoweringContext
from .shape import broadcast_to, reshape_to, static_reshape_target

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
    """stablehlo.dynamic_broadcast_in_dim -> broadcast_in_dim's nodes, Expand to `shape`."""
    dims = ctx.attr("broadcast_dimensions")
    return [broadcast_to(ctx, x, dims, _as_int64(ctx, shape, 1))]


@lowers("stablehlo.dynamic_reshape")
def dynamic_reshape(ctx: LoweringContext, x: ir.Value, shape: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_reshape -> Reshape (to constants and one -1 where that is enough)."""
    static = static_reshape_target(ctx.out.shape)
    if static is not None:
        return [reshape_to(ctx, x, ctx.i64(static), literal_zeros=0 in static)]
    return [reshape_to(ctx, x, _as_int64(ctx, shape, 1), literal_zeros=True)]


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


@lowers("stablehlo.dynamic_gather")
def dynamic_gather(ctx: LoweringContext, x: ir.Value, indices: ir.Value,
                   slice_sizes: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_gather of one slice (JAX's x[:, 1:] over a dynamic dim) -> Slice
    at the clamped start, Squeeze of the collapsed axes.

    Limits: only the single-slice form; other dynamic gathers are refused.
    """
    numbers = hlo.GatherDimensionNumbers(ctx.raw_attr("dimension_numbers"))
    rank = ctx.operand_specs[0].rank
    collapsed = list(numbers.collapsed_slice_dims)
    start_map = list(numbers.start_index_map)
    kept = [a for a in range(rank) if a not in collapsed]
    if (ctx.operand_specs[1].rank != 1 or numbers.index_vector_dim != 0
            or list(numbers.offset_dims) != list(range(len(kept)))
            or list(numbers.operand_batching_dims)):
        raise ctx.error(
            "only the single-slice form of dynamic_gather (a slice with a dynamic size, "
            "as x[:, 1:] over a symbolic dim) is supported, not a batched gather"
        )
    sizes = _as_int64(ctx, slice_sizes, 2)
    # StableHLO clamps each start into [0, dim - size]; axes outside start_index_map start at 0.
    given = ctx.b.ScatterElements(ctx.i64([0] * rank), ctx.i64(start_map),
                                  _as_int64(ctx, indices, 1))
    highest = ctx.b.Sub(ctx.b.Shape(x), sizes)
    starts = ctx.b.Max(ctx.b.Min(given, highest), ctx.i64([0] * rank))
    out = ctx.b.Slice(x, starts, ctx.b.Add(starts, sizes), ctx.i64(list(range(rank))))
    if collapsed:
        out = ctx.b.Squeeze(out, ctx.i64(collapsed))
    return [out]
