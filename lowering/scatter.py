"""stablehlo.scatter with StableHLO's semantics: an update whose window does not fit is
skipped (ONNX's ScatterElements would error). The operand is flattened to one axis and
each update element gets a linear index (see indexing.py), so that one ScatterElements
covers any dimension numbers; the updates that do not fit go to a spare slot, cut off
after.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .bodies import apply_body, body_ops, not_elementwise
from .context import LoweringContext
from .indexing import (
    add_window_offsets,
    batch_shape,
    flat_size,
    index_vectors,
    row_strides,
    start_limits,
    start_offsets,
)
from .regions import binary_reducer, returns_update
from .types import TensorSpec, numpy_dtype

__all__ = ["scatter"]

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
    total = flat_size(ctx, operand, shape)
    out = ctx.b.Slice(flat, ctx.i64([0]), ctx.b.Reshape(total, ctx.i64([1])))
    target = ctx.b.Shape(operand) if None in shape else ctx.i64(shape)
    return ctx.b.Reshape(out, target, allowzero=1 if 0 in shape else None)


def _scatter_reduction(ctx: LoweringContext) -> str | None:
    """The ScatterElements reduction that the scatter body amounts to, "sub" for
    subtract(current, update), None for another elementwise body."""
    region = ctx.op.regions[0]
    if returns_update(region):
        return "none"
    block = region.blocks[0]
    ops = list(block.operations)
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
    strides = row_strides(ctx, operand, spec.shape)
    window_dims = list(numbers.update_window_dims)
    sizes = [uspec.shape[d] for d in window_dims]
    skipped = set(numbers.inserted_window_dims) | set(numbers.input_batching_dims)
    window = [a for a in range(spec.rank) if a not in skipped]
    extent = dict(zip(window, sizes))
    start_map = list(numbers.scattered_dims_to_operand_dims)
    if any(extent.get(a, 1) is None for a in start_map):
        raise ctx.error(f"scatter with an update window {uspec.shape} of dynamic size along "
                        "an axis its indices start is not supported")
    starts = index_vectors(ctx, indices, ispec, numbers.index_vector_dim)
    room = start_limits(ctx, operand, spec.shape, start_map, [extent.get(a, 1) for a in start_map])
    fits = ctx.b.And(ctx.b.GreaterOrEqual(starts, ctx.i64(0)), ctx.b.LessOrEqual(starts, room))
    fits = ctx.b.ReduceMin(ctx.b.Cast(fits, to=_I64), ctx.i64([-1]), keepdims=0)
    batching = list(zip(numbers.input_batching_dims, numbers.scatter_indices_batching_dims))
    linear = start_offsets(ctx, starts, start_map, strides, batching,
                            batch_shape(ispec, numbers.index_vector_dim),
                            numbers.index_vector_dim)
    nbatch = uspec.rank - len(window_dims)
    if window:
        fits = ctx.b.Unsqueeze(fits, ctx.i64(list(range(nbatch, nbatch + len(window)))))
    # A dynamic window dim (not indexed, so starting at 0) is the update's own.
    linear = add_window_offsets(ctx, linear, window, sizes, strides, updates, window_dims)
    linear = ctx.b.Where(ctx.b.Cast(fits, to=_BOOL), linear,
                         flat_size(ctx, operand, spec.shape))
    order = [d for d in range(uspec.rank) if d not in window_dims] + window_dims
    if order != list(range(uspec.rank)):
        updates = ctx.b.Transpose(updates, perm=order)
    flat = ctx.i64([-1])
    return ctx.b.Reshape(linear, flat), ctx.b.Reshape(updates, flat)
