"""Gather and slicing ops with StableHLO's semantics: gather, dynamic_gather,
dynamic_slice and dynamic_update_slice.

Where ONNX's Gather/Slice/ScatterND would error, wrap or shorten, StableHLO clamps the start
of every gather, dynamic_slice and dynamic_update_slice window so that it fits. The general
gather works on the operand flattened to one axis (see indexing.py), so that one Gather
covers any dimension numbers.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .context import LoweringContext
from .dynamic_values import elements_of, same_dim
from .indexing import (
    add_window_offsets,
    batch_shape,
    clamp_starts,
    index_vectors,
    iota,
    row_strides,
    start_limits,
    start_offsets,
    start_vector,
)

__all__ = ["dynamic_slice", "dynamic_update_slice", "gather", "gather_slices"]

_I64 = ir.DataType.INT64


# ---- gather ---------------------------------------------------------------------------
@lowers("stablehlo.gather")
def gather(ctx: LoweringContext, operand: ir.Value, indices: ir.Value) -> list[ir.Value]:
    """stablehlo.gather -> Gather on one axis (x[idx], take, embeddings), else Gather of
    the flattened operand at linear indices; every start clamped so its slice fits."""
    numbers = hlo.GatherDimensionNumbers(ctx.raw_attr("dimension_numbers"))
    return [gather_slices(ctx, operand, indices, numbers, list(ctx.attr("slice_sizes")))]


def gather_slices(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                  numbers: hlo.GatherDimensionNumbers, sizes: list[int | None]) -> ir.Value:
    """The gather with slice `sizes`, None for a whole dynamic dim (dynamic_gather)."""
    shape = ctx.operand_specs[0].shape
    start_map = list(numbers.start_index_map)
    if (len(start_map) == 1 and list(numbers.collapsed_slice_dims) == start_map
            and not list(numbers.operand_batching_dims)
            and all(sizes[a] == shape[a] for a in range(len(shape)) if a != start_map[0])):
        return _axis_gather(ctx, operand, indices, numbers, start_map[0])
    return _flat_gather(ctx, operand, indices, numbers, sizes)


def _axis_gather(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                 numbers: hlo.GatherDimensionNumbers, axis: int) -> ir.Value:
    """Whole slices along the other axes: Gather(axis) at indices clamped into [0, dim-1]."""
    starts = index_vectors(ctx, indices, ctx.operand_specs[1], numbers.index_vector_dim)
    room = start_limits(ctx, operand, ctx.operand_specs[0].shape, [axis], [1])
    starts = clamp_starts(ctx, starts, room)  # before the Squeeze
    starts = ctx.b.Squeeze(starts, ctx.i64([-1]))
    out = ctx.b.Gather(operand, starts, axis=axis)
    nbatch = len(batch_shape(ctx.operand_specs[1], numbers.index_vector_dim))
    nwindow = ctx.operand_specs[0].rank - 1
    # Gather puts the batch axes where `axis` was, between the window axes.
    window_at = [j if j < axis else j + nbatch for j in range(nwindow)]
    return _to_result_order(ctx, out, list(numbers.offset_dims), window_at,
                            [axis + i for i in range(nbatch)])


def _flat_gather(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                 numbers: hlo.GatherDimensionNumbers, sizes: list[int]) -> ir.Value:
    """Any gather: Gather(axis 0) of the flattened operand at start + window offsets."""
    spec, ispec = ctx.operand_specs[:2]
    strides = row_strides(ctx, operand, spec.shape)
    start_map = list(numbers.start_index_map)
    starts = index_vectors(ctx, indices, ispec, numbers.index_vector_dim)
    room = start_limits(ctx, operand, spec.shape, start_map, [sizes[a] for a in start_map])
    starts = clamp_starts(ctx, starts, room)
    batching = list(zip(numbers.operand_batching_dims, numbers.start_indices_batching_dims))
    linear = start_offsets(ctx, starts, start_map, strides, batching,
                            batch_shape(ispec, numbers.index_vector_dim),
                            numbers.index_vector_dim)
    skipped = set(numbers.collapsed_slice_dims) | set(numbers.operand_batching_dims)
    window = [a for a in range(spec.rank) if a not in skipped]
    linear = add_window_offsets(ctx, linear, window, [sizes[a] for a in window], strides,
                                 operand, window)
    out = ctx.b.Gather(ctx.b.Reshape(operand, ctx.i64([-1])), linear, axis=0)
    nbatch = ctx.out.rank - len(window)
    return _to_result_order(ctx, out, list(numbers.offset_dims),
                            [nbatch + j for j in range(len(window))], list(range(nbatch)))


def _to_result_order(ctx: LoweringContext, x: ir.Value, offset_dims: list[int],
                     window_at: list[int], batch_at: list[int]) -> ir.Value:
    """Transposes so that window axis j lands on offset_dims[j] and the batch axes, in
    order, on the other result axes; `*_at` say where those axes are in x."""
    rank = len(window_at) + len(batch_at)
    perm = [0] * rank
    for j, pos in enumerate(offset_dims):
        perm[pos] = window_at[j]
    for i, pos in enumerate(p for p in range(rank) if p not in offset_dims):
        perm[pos] = batch_at[i]
    return x if perm == list(range(rank)) else ctx.b.Transpose(x, perm=perm)


@lowers("stablehlo.dynamic_gather")
def dynamic_gather(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                   slice_sizes: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_gather (x[..., idx], x[..., ::-1], take along a static axis with a
    symbolic batch; x[:, 1:] over a symbolic dim) -> the gather's nodes, once the sizes are
    known: from the result type, else traced in the graph. A window axis that no start
    indexes begins at 0, so a runtime size there is a Slice of the operand first.

    Limits: a runtime size on an axis the indices start (other than in the single-slice
    form, a Slice at the clamped start) is refused.
    """
    numbers = hlo.GatherDimensionNumbers(ctx.raw_attr("dimension_numbers"))
    shape = ctx.operand_specs[0].shape
    sizes = _known_slice_sizes(ctx, operand, slice_sizes, numbers)
    start_map = list(numbers.start_index_map)
    if all(isinstance(sizes[a], int) for a in start_map):
        cut = [a for a, s in enumerate(sizes) if isinstance(s, ir.Value)]
        if any(shape[a] is not None for a in cut):
            raise ctx.error(f"a runtime slice size along the static axes {cut} of {shape}")
        if cut:  # these windows start at 0: keep their first `size` elements
            ends = ctx.b.Concat(*[ctx.b.Reshape(sizes[a], ctx.i64([1])) for a in cut], axis=0)
            operand = ctx.b.Slice(operand, ctx.i64([0] * len(cut)), ends, ctx.i64(cut))
        sizes = [None if isinstance(s, ir.Value) else s for s in sizes]
        return [gather_slices(ctx, operand, indices, numbers, sizes)]
    if ctx.operand_specs[1].rank == 1 and numbers.index_vector_dim == 0 \
            and not list(numbers.operand_batching_dims):
        return [_single_slice(ctx, operand, indices, slice_sizes, numbers)]
    raise ctx.error("a dynamic_gather whose indices start a window of runtime size is only "
                    "supported in the single-slice form (x[:, 1:] over a symbolic dim)")


def _known_slice_sizes(ctx: LoweringContext, operand: ir.Value, slice_sizes: ir.Value,
                       numbers: hlo.GatherDimensionNumbers) -> list:
    """Per operand axis: an int, None (the whole dynamic dim: the operand's own symbolic
    dim) or a runtime int64 scalar. Window sizes come from the result type where static."""
    rank = ctx.operand_specs[0].rank
    known = elements_of(slice_sizes) or [None] * rank
    dropped = set(numbers.collapsed_slice_dims) | set(numbers.operand_batching_dims)
    window = [a for a in range(rank) if a not in dropped]
    from_result = dict(zip(window, (ctx.out.shape[d] for d in numbers.offset_dims)))
    named = list(operand.shape) if operand.shape is not None else [None] * rank
    if ctx.operand_specs[2].dtype != _I64:
        slice_sizes = ctx.b.Cast(slice_sizes, to=_I64)  # dead code unless a size is runtime
    sizes: list = []
    for a in range(rank):
        size = from_result.get(a) if a in from_result else 1  # dropped axes: size 1
        if size is None:
            size = known[a]
        if isinstance(size, ir.SymbolicDim) and same_dim(size, named[a]):
            size = None
        elif not isinstance(size, int):
            size = ctx.b.Gather(slice_sizes, ctx.i64(a))
        sizes.append(size)
    return sizes


def _single_slice(ctx: LoweringContext, x: ir.Value, indices: ir.Value, sizes: ir.Value,
                  numbers: hlo.GatherDimensionNumbers) -> ir.Value:
    """One slice of runtime size: Slice at the start clamped into [0, dim - size] (axes
    outside start_index_map start at 0), Squeeze of the collapsed axes."""
    rank = ctx.operand_specs[0].rank
    if ctx.operand_specs[2].dtype != _I64:
        sizes = ctx.b.Cast(sizes, to=_I64)
    if ctx.operand_specs[1].dtype != _I64:
        indices = ctx.b.Cast(indices, to=_I64)
    given = ctx.b.ScatterElements(ctx.i64([0] * rank), ctx.i64(list(numbers.start_index_map)),
                                  indices)
    highest = ctx.b.Sub(ctx.b.Shape(x), sizes)
    starts = ctx.b.Max(ctx.b.Min(given, highest), ctx.i64([0] * rank))
    out = ctx.b.Slice(x, starts, ctx.b.Add(starts, sizes), ctx.i64(list(range(rank))))
    collapsed = list(numbers.collapsed_slice_dims)
    return ctx.b.Squeeze(out, ctx.i64(collapsed)) if collapsed else out


# ---- dynamic_slice, dynamic_update_slice --------------------------------------------
@lowers("stablehlo.dynamic_slice")
def dynamic_slice(ctx: LoweringContext, x: ir.Value, *starts: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_slice -> Slice at starts clamped into [0, dim - size], on the axes
    the slice does not cover whole (elsewhere the start clamps to 0)."""
    sizes, shape = ctx.attr("slice_sizes"), ctx.operand_specs[0].shape
    axes = [a for a in range(len(shape)) if sizes[a] != shape[a]]
    if not axes:
        return [x]
    begin = start_vector(ctx, starts, axes)
    begin = clamp_starts(ctx, begin, start_limits(ctx, x, shape, axes, [sizes[a] for a in axes]))
    end = ctx.b.Add(begin, ctx.i64([sizes[a] for a in axes]))
    return [ctx.b.Slice(x, begin, end, ctx.i64(axes))]


@lowers("stablehlo.dynamic_update_slice")
def dynamic_update_slice(ctx: LoweringContext, x: ir.Value, update: ir.Value,
                         *starts: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_update_slice -> ScatterND of the update at starts clamped into
    [0, dim - update dim], indexing the leading axes up to the last one not covered whole."""
    shape, ushape = ctx.operand_specs[0].shape, ctx.operand_specs[1].shape
    partial = [a for a in range(len(shape)) if shape[a] is None or ushape[a] != shape[a]]
    lead = partial[-1] + 1 if partial else 0
    if lead == 0:  # the update covers the operand: every start clamps to 0
        return [update]
    axes = list(range(lead))
    begin = start_vector(ctx, starts, axes)
    if None in shape[:lead] or None in ushape[:lead]:
        room = ctx.b.Sub(ctx.b.Shape(x, end=lead), ctx.b.Shape(update, end=lead))
    else:
        room = ctx.i64([shape[a] - ushape[a] for a in axes])
    begin = clamp_starts(ctx, begin, room)
    return [ctx.b.ScatterND(x, _index_grid(ctx, begin, update, ushape[:lead]), update)]


def _index_grid(ctx: LoweringContext, begin: ir.Value, update: ir.Value,
                dims: tuple[int | None, ...]) -> ir.Value:
    """The [*dims, len(dims)] grid of indices begin + (i, j, ...) over the update's axes."""
    lead = len(dims)
    if None not in dims:
        offsets = np.stack(np.indices(dims, dtype=np.int64), axis=-1)
        return ctx.b.Add(ctx.i64(offsets), begin)
    full = ctx.b.Concat(ctx.b.Shape(update, end=lead), ctx.i64([1]), axis=0)
    columns = []
    for a in range(lead):
        line = iota(ctx, dims[a], lead + 1, a, update, a)
        line = ctx.b.Add(line, ctx.b.Slice(begin, ctx.i64([a]), ctx.i64([a + 1])))
        columns.append(ctx.b.Expand(line, full))
    return ctx.b.Concat(*columns, axis=-1)
