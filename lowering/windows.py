"""stablehlo.reduce_window -> MaxPool (max, min), Conv with a ones kernel (sum), or slices."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext
from .convolution import crop_negative_padding, dilate_axes
from .cumulative import cumulative_window
from .regions import binary_reducer, identity_of, is_constant
from .types import TensorSpec, numpy_dtype

_REDUCERS = {"stablehlo.maximum": "Max", "stablehlo.minimum": "Min", "stablehlo.add": "Add"}
# Element types ONNX Runtime has kernels for; other types reduce through strided slices.
_MAX_POOL_TYPES = {ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16,
                   ir.DataType.INT8, ir.DataType.UINT8}
_NEGATABLE_TYPES = {ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16}
_CONV_TYPES = {ir.DataType.FLOAT, ir.DataType.FLOAT16}
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class _Window:
    """The window on the pooled axes, in their order on the folded [P, 1, pooled...] tensor."""

    dims: list[int]
    strides: list[int]
    dilations: list[int]
    pads: list[int]  # ONNX order: all begins, then all ends; never negative


@lowers("stablehlo.reduce_window")
def reduce_window(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.reduce_window (max, min or add body) -> MaxPool, Conv with a ones kernel, or
    strided slices, on the pooled axes moved last and the other axes folded into [P, 1, ...].
    Cumulative windows (cumsum & co.) -> CumSum or a log-step scan.

    Axes of dynamic size may be pooled or kept: the folding Reshapes then read their sizes
    from the runtime shape.

    Limits: other elementwise bodies (cumlogsumexp's logaddexp) only as a cumulative
    window (cumulative.py); several inputs are refused; multiply only as a cumulative
    window.
    """
    if len(operands) != 2:
        raise ctx.error(f"reduce_window over {len(operands) // 2} inputs (a variadic window "
                        "such as an argmax pool) is not supported")
    x, init = operands
    cumulative = cumulative_window(ctx, x, init)
    if cumulative is not None:
        return [cumulative]
    body = ctx.op.regions[0]
    reducer = binary_reducer(body)
    if reducer not in _REDUCERS:
        found = reducer or " ; ".join(op.operation.name for op in body.blocks[0].operations)
        raise ctx.error(f"reduce_window body [{found}] is not a max, min or add of its two "
                        "arguments, the only windows supported")
    op_type, spec = _REDUCERS[reducer], ctx.operand_specs[0]
    rank = spec.rank
    dims = ctx.attr("window_dimensions")
    strides = ctx.attr("window_strides", [1] * rank)
    base_dilations = ctx.attr("base_dilations", [1] * rank)
    padding = np.asarray(ctx.attr("padding", np.zeros((rank, 2), np.int64))).reshape(rank, 2)
    pooled = [a for a in range(rank)
              if dims[a] > 1 or strides[a] > 1 or base_dilations[a] > 1 or padding[a].any()]
    identity = identity_of(reducer, spec.np_dtype)
    result = x
    if pooled:
        kept = [a for a in range(rank) if a not in pooled]
        # ONNX pools [N, C, spatial...]; other kept axes fold into [P, 1, spatial...].
        fold = len(kept) != 2 or spec.shape[kept[1]] is None
        window = _Window(
            dims=[dims[a] for a in pooled],
            strides=[strides[a] for a in pooled],
            dilations=[ctx.attr("window_dilations", [1] * rank)[a] for a in pooled],
            pads=[max(int(padding[a][side]), 0) for side in (0, 1) for a in pooled],
        )
        folded = _fold(ctx, x, spec, kept, pooled, fold)
        # Holes from base dilation and padded edges take no part in a window (as in XLA;
        # the spec fills them with init, which differs only for a non-identity sum init).
        fill = ctx.scalar_like(identity, spec)
        folded = dilate_axes(ctx, folded, [None, None] + [spec.shape[a] for a in pooled],
                             [base_dilations[a] for a in pooled], 2, fill)
        folded = crop_negative_padding(ctx, folded, padding[pooled], 2)
        channels = 1 if fold else spec.shape[kept[1]]
        pooled_result = ctx.typed(_pool(ctx, folded, fill, op_type, spec.dtype, window, channels),
                                  spec.dtype, _folded_shape(ctx.out.shape, kept, pooled, fold))
        result = _unfold(ctx, pooled_result, x, kept, pooled, fold)
    if not is_constant(init, identity):  # the init value enters every window once
        result = ctx.b.op(op_type, result, init)
    return [result]


def _pool(ctx: LoweringContext, x: ir.Value, fill: ir.Value, op_type: str,
          dtype: ir.DataType, window: _Window, channels: int) -> ir.Value:
    """Reduces the windows of x, [N, C, pooled...]; `fill` is the reducer's identity."""
    b = ctx.b
    use_max_pool = (dtype in _MAX_POOL_TYPES if op_type == "Max"
                    else op_type == "Min" and dtype in _NEGATABLE_TYPES)
    use_conv = op_type == "Add" and dtype in _CONV_TYPES
    n = len(window.dims)
    # MaxPool's own pads count as the lowest value and Conv's as 0, the identities; ONNX
    # Runtime's MaxPool wants them smaller than the window.
    own_pads = use_conv or use_max_pool and all(
        p < k for p, k in zip(window.pads, window.dims * 2))
    pads = window.pads
    padded = any(pads) and not own_pads
    if padded:
        x = b.Pad(x, ctx.i64([0, 0, *pads[:n], 0, 0, *pads[n:]]), fill, mode="constant")
        pads = [0] * (2 * n)
    attrs = dict(strides=window.strides, pads=pads, dilations=window.dilations)
    if use_max_pool:  # min(x) = -max(-x), exact for floats
        negate = op_type == "Min"
        source = b.Neg(x) if negate else x
        pooled = b.MaxPool(source, kernel_shape=window.dims, **attrs)
        if padded and dtype in _NEGATABLE_TYPES:
            pooled = _empty_windows_to_minus_inf(ctx, source, pooled, dtype, window, attrs)
        return b.Neg(pooled) if negate else pooled
    if use_conv:
        # One group per channel: each sums its own windows.
        ones = ctx.const(np.ones([channels, 1, *window.dims], dtype=numpy_dtype(dtype)))
        return b.Conv(x, ones, group=channels, **attrs)
    return _reduce_by_slices(ctx, x, op_type, window)


def _empty_windows_to_minus_inf(ctx: LoweringContext, x: ir.Value, pooled: ir.Value,
                                dtype: ir.DataType, window: _Window, attrs: dict) -> ir.Value:
    """ONNX Runtime's MaxPool starts a window at the lowest finite float, so a window that
    lies wholly in -inf padding gives -FLT_MAX where StableHLO gives -inf: pool an "is
    above -inf" indicator (NaN counts) and put -inf where a window has nothing above it."""
    b = ctx.b
    minus_inf = ctx.const(np.asarray(-np.inf, dtype=numpy_dtype(dtype)))
    above = b.Cast(b.Not(b.Equal(x, minus_inf)), to=dtype)
    anything = b.MaxPool(above, kernel_shape=window.dims, **attrs)
    return b.Where(b.Greater(anything, ctx.const(np.asarray(0, dtype=numpy_dtype(dtype)))),
                   pooled, minus_inf)


def _reduce_by_slices(ctx: LoweringContext, x: ir.Value, op_type: str,
                      window: _Window) -> ir.Value:
    """A box window reduces one axis at a time: per axis, combine the `dims[i]` strided
    slices that hold each window's i-th element (padding must already be explicit).

    Element j of every window lies in [j * d, L - (k - 1 - j) * d) with step s, L the axis
    length: the same count for every j, and no static length needed."""
    for i, (k, s, d) in enumerate(zip(window.dims, window.strides, window.dilations)):
        if k == 1 and s == 1:
            continue
        parts = [ctx.b.Slice(x, ctx.i64([j * d]),
                             ctx.i64([-(k - 1 - j) * d if j < k - 1 else _INT64_MAX]),
                             ctx.i64([2 + i]), ctx.i64([s])) for j in range(k)]
        if op_type == "Add":  # Sum would take them all, but floats only
            x = functools.reduce(ctx.b.Add, parts)
        else:
            x = ctx.b.op(op_type, *parts)
    return x


def _fold(ctx: LoweringContext, x: ir.Value, spec: TensorSpec, kept: list[int],
          pooled: list[int], fold: bool) -> ir.Value:
    """Moves the pooled axes last and, if `fold`, merges the kept ones into [P, 1]."""
    perm = kept + pooled
    if perm != sorted(perm):
        x = ctx.typed(ctx.b.Transpose(x, perm=perm), spec.dtype, [spec.shape[a] for a in perm])
    if fold:
        sizes = [spec.shape[a] for a in pooled]
        if None in sizes:  # the pooled dims as the runtime has them
            target = ctx.b.Concat(ctx.i64([-1, 1]), ctx.b.Shape(x, start=len(kept)), axis=0)
        else:
            target = ctx.i64([-1, 1, *sizes])
        x = ctx.typed(ctx.b.Reshape(x, target), spec.dtype,
                      _folded_shape(spec.shape, kept, pooled, fold))
    return x


def _folded_shape(shape: tuple[int | None, ...], kept: list[int], pooled: list[int],
                  fold: bool) -> list[int | None]:
    """`shape` with the pooled axes last and, if `fold`, the kept ones merged into [P, 1]."""
    if not fold:
        return [shape[a] for a in kept + pooled]
    kept_dims = [shape[a] for a in kept]
    size = None if None in kept_dims else math.prod(kept_dims)
    return [size, 1, *(shape[a] for a in pooled)]


def _unfold(ctx: LoweringContext, x: ir.Value, source: ir.Value, kept: list[int],
            pooled: list[int], fold: bool) -> ir.Value:
    """Undoes _fold on the pooled result; dynamic kept dims are read from `source`."""
    perm = kept + pooled
    if fold:
        shape = [ctx.out.shape[a] for a in perm]
        if all(d is not None for d in shape):
            target = ctx.i64(shape)
        else:  # kept dims from the input, pooled ones from the pooled result
            parts = [ctx.b.Gather(ctx.b.Shape(source), ctx.i64(kept), axis=0)] if kept else []
            pooled_dims = shape[len(kept):]
            parts.append(ctx.b.Shape(x, start=2) if None in pooled_dims
                         else ctx.i64(pooled_dims))
            target = parts[0] if len(parts) == 1 else ctx.b.Concat(*parts, axis=0)
        x = ctx.b.Reshape(x, target)
    if perm != sorted(perm):
        x = ctx.b.Transpose(x, perm=[perm.index(a) for a in range(len(perm))])
    return x
