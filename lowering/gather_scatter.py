"""Indexing ops with StableHLO's semantics: gather, dynamic_slice, dynamic_update_slice and
scatter.

Where ONNX's Gather/Slice/ScatterND would error, wrap or shorten, StableHLO clamps the start
of every gather, dynamic_slice and dynamic_update_slice window so that it fits, and scatter
skips every update whose window does not fit. The general gather and scatter work on the
operand flattened to one axis: each element they touch gets a linear index, start (per
index vector, batching dims included) plus offset (per window position), so that one
Gather or ScatterElements covers any dimension numbers.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .bodies import apply_body, body_ops, not_elementwise
from .context import LoweringContext
from .dynamic_values import elements_of, same_dim
from .regions import binary_reducer
from .types import TensorSpec, numpy_dtype

__all__ = ["dynamic_slice", "dynamic_update_slice", "gather", "gather_slices", "scatter"]

_I64 = ir.DataType.INT64
_BOOL = ir.DataType.BOOL

# scatter body -> ScatterElements reduction ("none": the body returns the update)
_SCATTER_REDUCTIONS = {
    "stablehlo.add": "add",
    "stablehlo.multiply": "mul",
    "stablehlo.maximum": "max",
    "stablehlo.minimum": "min",
    # on booleans (computed as uint8) `or` is max and `and` is min
    "stablehlo.or": "max",
    "stablehlo.and": "min",
}
_BOOL_ONLY = {"stablehlo.or", "stablehlo.and"}
# (element type, reduction) -> the type ONNX Runtime's CPU ScatterElements computes it in
_SCATTER_COMPUTE_TYPES = {
    **{(_BOOL, r): ir.DataType.UINT8 for r in ("max", "min")},
    **{(ir.DataType.FLOAT16, r): ir.DataType.FLOAT for r in ("add", "mul")},
    **{(ir.DataType.BFLOAT16, r): ir.DataType.FLOAT for r in ("add", "mul", "max", "min")},
}


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
    starts = _index_vectors(ctx, indices, ctx.operand_specs[1], numbers.index_vector_dim)
    room = _room(ctx, operand, ctx.operand_specs[0].shape, [axis], [1])
    starts = ctx.b.Min(ctx.b.Max(starts, ctx.i64(0)), room)  # before the Squeeze: room is [1]
    starts = ctx.b.Squeeze(starts, ctx.i64([-1]))
    out = ctx.b.Gather(operand, starts, axis=axis)
    nbatch = len(_batch_shape(ctx.operand_specs[1], numbers.index_vector_dim))
    nwindow = ctx.operand_specs[0].rank - 1
    # Gather puts the batch axes where `axis` was, between the window axes.
    window_at = [j if j < axis else j + nbatch for j in range(nwindow)]
    return _to_result_order(ctx, out, list(numbers.offset_dims), window_at,
                            [axis + i for i in range(nbatch)])


def _flat_gather(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                 numbers: hlo.GatherDimensionNumbers, sizes: list[int]) -> ir.Value:
    """Any gather: Gather(axis 0) of the flattened operand at start + window offsets."""
    spec, ispec = ctx.operand_specs[:2]
    strides = _strides(ctx, operand, spec.shape)
    start_map = list(numbers.start_index_map)
    starts = _index_vectors(ctx, indices, ispec, numbers.index_vector_dim)
    room = _room(ctx, operand, spec.shape, start_map, [sizes[a] for a in start_map])
    starts = ctx.b.Min(ctx.b.Max(starts, ctx.i64(0)), room)
    batching = list(zip(numbers.operand_batching_dims, numbers.start_indices_batching_dims))
    linear = _start_offsets(ctx, starts, start_map, strides, batching,
                            _batch_shape(ispec, numbers.index_vector_dim),
                            numbers.index_vector_dim)
    skipped = set(numbers.collapsed_slice_dims) | set(numbers.operand_batching_dims)
    window = [a for a in range(spec.rank) if a not in skipped]
    linear = _add_window_offsets(ctx, linear, window, [sizes[a] for a in window], strides,
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
    begin = _start_vector(ctx, starts, axes)
    begin = ctx.b.Min(ctx.b.Max(begin, ctx.i64(0)),
                      _room(ctx, x, shape, axes, [sizes[a] for a in axes]))
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
    begin = _start_vector(ctx, starts, axes)
    if None in shape[:lead] or None in ushape[:lead]:
        room = ctx.b.Sub(ctx.b.Shape(x, end=lead), ctx.b.Shape(update, end=lead))
    else:
        room = ctx.i64([shape[a] - ushape[a] for a in axes])
    begin = ctx.b.Min(ctx.b.Max(begin, ctx.i64(0)), room)
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
        line = _iota(ctx, dims[a], lead + 1, a, update, a)
        line = ctx.b.Add(line, ctx.b.Slice(begin, ctx.i64([a]), ctx.i64([a + 1])))
        columns.append(ctx.b.Expand(line, full))
    return ctx.b.Concat(*columns, axis=-1)


# ---- scatter ----------------------------------------------------------------------------
@lowers("stablehlo.scatter")
def scatter(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.scatter (set/add/multiply/maximum/minimum/subtract body) -> ScatterElements
    on the flattened operand; updates whose window does not fit go to a spare slot, cut off
    after. Repeated indices with a set body: ONNX Runtime applies them in order (the last
    wins), as XLA's CPU backend does; the spec leaves that order to the implementation.
    subtract (x.at[i].subtract) adds the negated updates: x - u1 - u2 is x + -u1 + -u2,
    rounding included. Other elementwise bodies: see _scatter_body.

    Limits: an elementwise body that uses its update, other than the above, needs
    unique_indices (refused otherwise); non-elementwise bodies are refused.
    """
    if len(operands) != 3:
        raise ctx.error(f"scatter of {len(operands) // 2} operands at once is not supported; "
                        "only single-operand scatter")
    operand, indices, updates = operands
    spec = ctx.operand_specs[0]
    numbers = hlo.ScatterDimensionNumbers(ctx.raw_attr("scatter_dimension_numbers"))
    reduction = _scatter_reduction(ctx)
    if reduction is None:
        return [_scatter_body(ctx, operand, indices, updates, numbers)]
    negate, reduction = reduction == "sub", "add" if reduction == "sub" else reduction
    compute = _SCATTER_COMPUTE_TYPES.get((spec.dtype, reduction), spec.dtype)
    if compute != spec.dtype:
        operand = ctx.b.Cast(operand, to=compute)
        updates = ctx.b.Cast(updates, to=compute)
    if negate:  # ONNX has no Neg for unsigned types; 0 - u wraps the same way
        updates = ctx.b.Sub(ctx.const(np.zeros((), numpy_dtype(compute))), updates) \
            if spec.is_unsigned else ctx.b.Neg(updates)
    linear, updates = _scatter_targets(ctx, operand, indices, updates, numbers)
    out = ctx.b.ScatterElements(_with_spare(ctx, operand, compute), linear, updates, axis=0,
                                reduction=reduction)
    out = _without_spare(ctx, out, operand)
    return [ctx.b.Cast(out, to=spec.dtype) if compute != spec.dtype else out]


def _with_spare(ctx: LoweringContext, x: ir.Value, dtype: ir.DataType) -> ir.Value:
    """x flattened, with one more (zero) element: the slot of the updates that do not fit."""
    spare = ctx.const(np.zeros(1, numpy_dtype(dtype)))
    return ctx.b.Concat(ctx.b.Reshape(x, ctx.i64([-1])), spare, axis=0)


def _without_spare(ctx: LoweringContext, flat: ir.Value, operand: ir.Value) -> ir.Value:
    """The spare slot cut off and the operand's shape restored."""
    shape = ctx.operand_specs[0].shape
    total = _flat_size(ctx, operand, shape)
    out = ctx.b.Slice(flat, ctx.i64([0]), ctx.b.Reshape(total, ctx.i64([1])))
    target = ctx.b.Shape(operand) if None in shape else ctx.i64(shape)
    return ctx.b.Reshape(out, target, allowzero=1 if 0 in shape else None)


def _scatter_reduction(ctx: LoweringContext) -> str | None:
    """The ScatterElements reduction that the scatter body amounts to, "sub" for
    subtract(current, update), None for another elementwise body."""
    region = ctx.op.regions[0]
    block = region.blocks[0]
    ops = list(block.operations)
    if (len(block.arguments) == 2 and len(ops) == 1
            and list(ops[0].operands) == [block.arguments[1]]):
        return "none"
    body = binary_reducer(region)
    is_bool = ctx.operand_specs[0].is_bool
    if body in _SCATTER_REDUCTIONS and (is_bool or body not in _BOOL_ONLY):
        return _SCATTER_REDUCTIONS[body]
    if body == "stablehlo.subtract" and list(ops[0].operands) == list(block.arguments):
        return "sub"
    culprit = not_elementwise(block)
    if culprit is None:
        return None
    raise ctx.error(
        f"scatter body [{body_ops(block)}] not supported: {culprit} is not elementwise on "
        "scalars; supported are set, add/multiply/maximum/minimum/subtract (or/and on "
        "booleans) and elementwise bodies")


def _scatter_body(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                  updates: ir.Value, numbers: hlo.ScatterDimensionNumbers) -> ir.Value:
    """An elementwise body f(current, update) other than the reductions: with
    unique_indices, f at each target (Gather, the body on whole tensors, ScatterElements).
    A body that ignores its update (x.at[i].apply(f)) gives f applied once per hit, in any
    order: see _apply_per_hit. Others, with indices that may repeat, are refused: the
    result would depend on how repeated updates are ordered and grouped."""
    region, spec = ctx.op.regions[0], ctx.operand_specs[0]
    block = region.blocks[0]
    update_used = any(block.arguments[1] == v for op in block.operations for v in op.operands)
    unique = bool(ctx.attr("unique_indices", False))
    if update_used and not unique:
        raise ctx.error(
            f"scatter body [{body_ops(block)}] with indices that may repeat is not supported: "
            "only add/multiply/maximum/minimum/subtract bodies combine repeated updates "
            "exactly; pass unique_indices=True if the indices do not repeat")
    linear, updates = _scatter_targets(ctx, operand, indices, updates, numbers)
    flat = _with_spare(ctx, operand, spec.dtype)
    if not unique:
        return _without_spare(ctx, _apply_per_hit(ctx, flat, linear), operand)
    count = ctx.operand_specs[2].shape
    count = math.prod(count) if None not in count else None
    current = ctx.b.Gather(flat, linear, axis=0)
    changed = apply_body(ctx, region, [current, updates], ir.Shape([count]))[0]
    return _without_spare(ctx, ctx.b.ScatterElements(flat, linear, changed, axis=0), operand)


def _apply_per_hit(ctx: LoweringContext, flat: ir.Value, linear: ir.Value) -> ir.Value:
    """The body f(current, _) applied to each element of `flat` as often as `linear` names
    it: a Loop of as many rounds as the most hits, round r keeping f(y) where hits > r."""
    b, region = ctx.b, ctx.op.regions[0]
    ones = b.Expand(ctx.i64(1), b.Shape(linear))
    hits = b.ScatterElements(b.Expand(ctx.i64(0), b.Shape(flat)), linear, ones, axis=0,
                             reduction="add")
    flat_spec = TensorSpec(ctx.operand_specs[0].dtype, (None,))
    round_ = ctx.graph_input("round", TensorSpec(_I64, ()))
    cond = ctx.graph_input("cond_in", TensorSpec(_BOOL, ()))
    y = ctx.graph_input("applied", flat_spec)

    def apply_round(sub: LoweringContext) -> list[ir.Value]:
        once = apply_body(sub, region, [y, y], ir.Shape([None]))[0]  # the update is unused
        return [cond, sub.b.Where(sub.b.Less(round_, hits), once, y)]

    graph = ctx.subgraph([round_, cond, y], apply_round,
                         [TensorSpec(_BOOL, ()), flat_spec], "apply_round")
    return b.op("Loop", b.ReduceMax(hits, keepdims=0), None, flat, body=graph)


def _scatter_targets(ctx: LoweringContext, operand: ir.Value, indices: ir.Value,
                     updates: ir.Value, numbers: hlo.ScatterDimensionNumbers
                     ) -> tuple[ir.Value, ir.Value]:
    """Flat linear index of every update element (the spare slot where its window does not
    fit) and the updates flattened in the same order."""
    spec, ispec, uspec = ctx.operand_specs
    strides = _strides(ctx, operand, spec.shape)
    window_dims = list(numbers.update_window_dims)
    sizes = [uspec.shape[d] for d in window_dims]
    skipped = set(numbers.inserted_window_dims) | set(numbers.input_batching_dims)
    window = [a for a in range(spec.rank) if a not in skipped]
    extent = dict(zip(window, sizes))
    start_map = list(numbers.scattered_dims_to_operand_dims)
    if any(extent.get(a, 1) is None for a in start_map):
        raise ctx.error(f"scatter with an update window {uspec.shape} of dynamic size along "
                        "an axis its indices start is not supported")
    starts = _index_vectors(ctx, indices, ispec, numbers.index_vector_dim)
    room = _room(ctx, operand, spec.shape, start_map, [extent.get(a, 1) for a in start_map])
    fits = ctx.b.And(ctx.b.GreaterOrEqual(starts, ctx.i64(0)), ctx.b.LessOrEqual(starts, room))
    fits = ctx.b.ReduceMin(ctx.b.Cast(fits, to=_I64), ctx.i64([-1]), keepdims=0)
    batching = list(zip(numbers.input_batching_dims, numbers.scatter_indices_batching_dims))
    linear = _start_offsets(ctx, starts, start_map, strides, batching,
                            _batch_shape(ispec, numbers.index_vector_dim),
                            numbers.index_vector_dim)
    nbatch = uspec.rank - len(window_dims)
    if window:
        fits = ctx.b.Unsqueeze(fits, ctx.i64(list(range(nbatch, nbatch + len(window)))))
    # A dynamic window dim (not indexed, so starting at 0) is the update's own.
    linear = _add_window_offsets(ctx, linear, window, sizes, strides, updates, window_dims)
    linear = ctx.b.Where(ctx.b.Cast(fits, to=_BOOL), linear,
                         _flat_size(ctx, operand, spec.shape))
    order = [d for d in range(uspec.rank) if d not in window_dims] + window_dims
    if order != list(range(uspec.rank)):
        updates = ctx.b.Transpose(updates, perm=order)
    flat = ctx.i64([-1])
    return ctx.b.Reshape(linear, flat), ctx.b.Reshape(updates, flat)


# ---- shared index arithmetic ----------------------------------------------------------
def _index_vectors(ctx: LoweringContext, indices: ir.Value, spec: TensorSpec,
                   index_vector_dim: int) -> ir.Value:
    """The start indices as int64, index vector last, the batch axes before it in order."""
    x = indices if spec.dtype == _I64 else ctx.b.Cast(indices, to=_I64)
    if index_vector_dim == spec.rank:  # an implicit trailing index vector of length 1
        return ctx.b.Unsqueeze(x, ctx.i64([-1]))
    if index_vector_dim != spec.rank - 1:
        perm = [a for a in range(spec.rank) if a != index_vector_dim] + [index_vector_dim]
        x = ctx.b.Transpose(x, perm=perm)
    return x


def _batch_shape(spec: TensorSpec, index_vector_dim: int) -> list[int | None]:
    return [d for a, d in enumerate(spec.shape) if a != index_vector_dim]


def _start_vector(ctx: LoweringContext, starts: tuple[ir.Value, ...],
                  axes: list[int]) -> ir.Value:
    """The scalar start operands of `axes` as one int64 vector."""
    first = len(ctx.operand_specs) - len(starts)
    parts = []
    for a in axes:
        s = starts[a]
        if ctx.operand_specs[first + a].dtype != _I64:
            s = ctx.b.Cast(s, to=_I64)
        parts.append(ctx.b.Unsqueeze(s, ctx.i64([0])))
    return parts[0] if len(parts) == 1 else ctx.b.Concat(*parts, axis=0)


def _stride(ctx: LoweringContext, strides: list, axis: int) -> ir.Value:
    """The stride of `axis` as an int64 scalar."""
    stride = strides[axis]
    return ctx.i64(stride) if isinstance(stride, int) else ctx.b.Squeeze(stride, ctx.i64([0]))


def _room(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...],
          axes: list[int], sizes: list[int]) -> ir.Value:
    """int64 vector of dim - size over `axes`: the largest start at which a window fits."""
    if all(shape[a] is not None for a in axes):
        return ctx.i64([shape[a] - s for a, s in zip(axes, sizes)])
    dims = ctx.b.Gather(ctx.b.Shape(x), ctx.i64(axes), axis=0)
    return ctx.b.Sub(dims, ctx.i64(sizes))


def _strides(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...]) -> list:
    """Row-major strides: ints, or int64 [1] tensors read from x's runtime shape where a
    later dim is dynamic."""
    return [math.prod(shape[a + 1:]) if None not in shape[a + 1:]
            else ctx.b.ReduceProd(ctx.b.Shape(x, start=a + 1), keepdims=1)
            for a in range(len(shape))]


def _stride_vector(ctx: LoweringContext, strides: list, axes: list[int]) -> ir.Value:
    """The strides of `axes` as one int64 vector."""
    picked = [strides[a] for a in axes]
    if not any(isinstance(v, ir.Value) for v in picked):
        return ctx.i64(picked)
    parts = [v if isinstance(v, ir.Value) else ctx.i64([v]) for v in picked]
    return parts[0] if len(parts) == 1 else ctx.b.Concat(*parts, axis=0)


def _flat_size(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...]) -> ir.Value:
    """The operand's element count as an int64 scalar."""
    return ctx.const(np.int64(math.prod(shape))) if None not in shape else ctx.b.Size(x)


def _start_offsets(ctx: LoweringContext, starts: ir.Value, start_map: list[int],
                   strides: list, batching: list[tuple[int, int]],
                   batch_shape: list[int | None], index_vector_dim: int) -> ir.Value:
    """Linear offset of each window start: the index vector dotted with the strides of the
    operand axes it indexes, plus each batching axis's position times its stride."""
    weighted = ctx.b.Mul(starts, _stride_vector(ctx, strides, start_map))
    linear = ctx.b.ReduceSum(weighted, ctx.i64([-1]), keepdims=0)
    for operand_axis, indices_axis in batching:
        axis = indices_axis - (indices_axis > index_vector_dim)
        line = _iota(ctx, batch_shape[axis], len(batch_shape), axis, starts, axis)
        linear = ctx.b.Add(linear, ctx.b.Mul(line, _stride(ctx, strides, operand_axis)))
    return linear


def _add_window_offsets(ctx: LoweringContext, linear: ir.Value, window: list[int],
                        sizes: list[int | None], strides: list, like: ir.Value,
                        like_axes: list[int]) -> ir.Value:
    """linear[..., None, ...] + the offset of each window position (new trailing axes); a
    None size (window axis j) is read at runtime from `like`'s axis like_axes[j]."""
    if not window:
        return linear
    expanded = ctx.b.Unsqueeze(linear, ctx.i64([-1 - j for j in range(len(window))]))
    if None in sizes or any(isinstance(strides[a], ir.Value) for a in window):
        for j, axis in enumerate(window):
            line = _iota(ctx, sizes[j], len(window), j, like, like_axes[j])
            expanded = ctx.b.Add(expanded, ctx.b.Mul(line, _stride(ctx, strides, axis)))
        return expanded
    offsets = np.zeros(sizes, np.int64)
    for j, axis in enumerate(window):
        placed = [1] * len(window)
        placed[j] = sizes[j]
        offsets = offsets + (np.arange(sizes[j], dtype=np.int64) * strides[axis]).reshape(placed)
    return ctx.b.Add(expanded, ctx.i64(offsets))


def _iota(ctx: LoweringContext, size: int | None, rank: int, axis: int, like: ir.Value,
          like_axis: int) -> ir.Value:
    """0..size-1 (int64) on `axis` of a rank-`rank` tensor of size 1 elsewhere; a dynamic
    size is read from `like`'s axis `like_axis`."""
    if size is not None:
        placed = [1] * rank
        placed[axis] = size
        return ctx.i64(np.arange(size, dtype=np.int64).reshape(placed))
    n = ctx.b.Squeeze(ctx.b.Shape(like, start=like_axis, end=like_axis + 1), ctx.i64([0]))
    line = ctx.b.Range(ctx.const(np.int64(0)), n, ctx.const(np.int64(1)))
    others = [a for a in range(rank) if a != axis]
    return ctx.b.Unsqueeze(line, ctx.i64(others)) if others else line
