"""Index arithmetic shared by the gather and scatter rules.

Both work on the operand flattened to one axis: each element they touch gets a linear
index, the start of its window (per index vector, batching dims included) plus its offset
in the window. Dims may be runtime sizes: strides and sizes are then read from the graph.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from .context import LoweringContext
from .types import TensorSpec

__all__ = [
    "add_window_offsets", "batch_shape", "clamp_starts", "flat_size", "index_vectors", "iota",
    "row_strides", "start_limits", "start_offsets", "start_vector",
]

_I64 = ir.DataType.INT64


def index_vectors(ctx: LoweringContext, indices: ir.Value, spec: TensorSpec,
                   index_vector_dim: int) -> ir.Value:
    """The start indices as int64, index vector last, the batch axes before it in order."""
    x = indices if spec.dtype == _I64 else ctx.b.Cast(indices, to=_I64)
    if index_vector_dim == spec.rank:  # an implicit trailing index vector of length 1
        return ctx.b.Unsqueeze(x, ctx.i64([-1]))
    if index_vector_dim != spec.rank - 1:
        perm = [a for a in range(spec.rank) if a != index_vector_dim] + [index_vector_dim]
        x = ctx.b.Transpose(x, perm=perm)
    return x


def batch_shape(spec: TensorSpec, index_vector_dim: int) -> list[int | None]:
    return [d for a, d in enumerate(spec.shape) if a != index_vector_dim]


def start_vector(ctx: LoweringContext, starts: tuple[ir.Value, ...],
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


def start_limits(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...],
          axes: list[int], sizes: list[int]) -> ir.Value:
    """int64 vector of dim - size over `axes`: the largest start at which a window fits."""
    if all(shape[a] is not None for a in axes):
        return ctx.i64([shape[a] - s for a, s in zip(axes, sizes)])
    dims = ctx.b.Gather(ctx.b.Shape(x), ctx.i64(axes), axis=0)
    return ctx.b.Sub(dims, ctx.i64(sizes))


def clamp_starts(ctx: LoweringContext, starts: ir.Value, limits: ir.Value) -> ir.Value:
    """Start index vectors (int64, rank >= 1) clamped into [0, limits]: Clip where the
    limit is one constant number (Clip takes scalar bounds), else Min(Max(starts, 0),
    limits)."""
    limit = limits.const_value
    if limit is not None and limit.size == 1:
        return ctx.b.Clip(starts, ctx.i64(0), ctx.i64(limit.numpy().reshape(())))
    return ctx.b.Min(ctx.b.Max(starts, ctx.i64(0)), limits)


def row_strides(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...]) -> list:
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


def flat_size(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...]) -> ir.Value:
    """The operand's element count as an int64 scalar."""
    return ctx.const(np.int64(math.prod(shape))) if None not in shape else ctx.b.Size(x)


def start_offsets(ctx: LoweringContext, starts: ir.Value, start_map: list[int],
                   strides: list, batching: list[tuple[int, int]],
                   batch_shape: list[int | None], index_vector_dim: int) -> ir.Value:
    """Linear offset of each window start: the index vector dotted with the strides of the
    operand axes it indexes, plus each batching axis's position times its stride."""
    weighted = ctx.b.Mul(starts, _stride_vector(ctx, strides, start_map))
    linear = ctx.b.ReduceSum(weighted, ctx.i64([-1]), keepdims=0)
    for operand_axis, indices_axis in batching:
        axis = indices_axis - (indices_axis > index_vector_dim)
        line = iota(ctx, batch_shape[axis], len(batch_shape), axis, starts, axis)
        linear = ctx.b.Add(linear, ctx.b.Mul(line, _stride(ctx, strides, operand_axis)))
    return linear


def add_window_offsets(ctx: LoweringContext, linear: ir.Value, window: list[int],
                        sizes: list[int | None], strides: list, like: ir.Value,
                        like_axes: list[int]) -> ir.Value:
    """linear[..., None, ...] + the offset of each window position (new trailing axes); a
    None size (window axis j) is read at runtime from `like`'s axis like_axes[j]."""
    if not window:
        return linear
    expanded = ctx.b.Unsqueeze(linear, ctx.i64([-1 - j for j in range(len(window))]))
    if None in sizes or any(isinstance(strides[a], ir.Value) for a in window):
        for j, axis in enumerate(window):
            line = iota(ctx, sizes[j], len(window), j, like, like_axes[j])
            expanded = ctx.b.Add(expanded, ctx.b.Mul(line, _stride(ctx, strides, axis)))
        return expanded
    offsets = np.zeros(sizes, np.int64)
    for j, axis in enumerate(window):
        placed = [1] * len(window)
        placed[j] = sizes[j]
        offsets = offsets + (np.arange(sizes[j], dtype=np.int64) * strides[axis]).reshape(placed)
    return ctx.b.Add(expanded, ctx.i64(offsets))


def iota(ctx: LoweringContext, size: int | None, rank: int, axis: int, like: ir.Value,
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
