"""Cumulative windows: jnp.cumsum/cumprod/cummax/cummin arrive as a reduce_window whose
window spans one whole axis, padded by its length - 1 on one side. They become CumSum,
or a log-step (Hillis-Steele) scan for the other reducers, instead of an O(n^2) window."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from .context import LoweringContext
from .regions import binary_reducer, reducer_identity

__all__ = ["cumulative_window"]

_REDUCERS = {"stablehlo.add": "Add", "stablehlo.multiply": "Mul",
             "stablehlo.maximum": "Max", "stablehlo.minimum": "Min"}
_CUMSUM_TYPES = {ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.INT32, ir.DataType.INT64}


def cumulative_window(ctx: LoweringContext, x: ir.Value, init: ir.Value) -> ir.Value | None:
    """The scan along the one axis this reduce_window accumulates over, or None if it is
    not a cumulative window (the caller then lowers it as a general window)."""
    op_type = _REDUCERS.get(binary_reducer(ctx.op.regions[0]) or "")
    spec = ctx.operand_specs[0]
    found = _scan_axis(ctx)
    if op_type is None or found is None or not _is_identity(init, op_type, spec):
        return None
    axis, reverse = found
    if op_type == "Add" and spec.dtype in _CUMSUM_TYPES:
        return ctx.b.CumSum(x, ctx.i64(axis), reverse=int(reverse))
    return _log_step_scan(ctx, x, op_type, axis, reverse)


def _scan_axis(ctx: LoweringContext) -> tuple[int, bool] | None:
    """(axis, reverse) when the window is [1, ..., n, ..., 1] with n the axis length and
    padding (n - 1, 0) (forward) or (0, n - 1) (reverse), strides and dilations 1."""
    shape = ctx.operand_specs[0].shape
    rank = len(shape)
    dims = ctx.attr("window_dimensions")
    padding = np.asarray(ctx.attr("padding", np.zeros((rank, 2), np.int64))).reshape(rank, 2)
    for name in ("window_strides", "base_dilations", "window_dilations"):
        if any(v != 1 for v in ctx.attr(name, [1] * rank)):
            return None
    axes = [a for a in range(rank) if dims[a] != 1 or padding[a].any()]
    if len(axes) != 1 or shape[axes[0]] is None:
        return None
    axis, n = axes[0], shape[axes[0]]
    if dims[axis] != n or sorted(padding[axis].tolist()) != [0, n - 1]:
        return None
    return axis, bool(padding[axis][1] == n - 1 and n > 1)


def _is_identity(init: ir.Value, op_type: str, spec) -> bool:
    return init.const_value is not None and bool(
        init.const_value.numpy() == reducer_identity(op_type, spec))


def _log_step_scan(ctx: LoweringContext, x: ir.Value, op_type: str, axis: int,
                   reverse: bool) -> ir.Value:
    """y_k = op(y_{k-1}, y_{k-1} shifted by 2^k along the axis, identity shifted in):
    ceil(log2 n) steps of Pad + Slice + op."""
    spec = ctx.operand_specs[0]
    n, rank = spec.shape[axis], spec.rank
    identity = ctx.const(np.asarray(reducer_identity(op_type, spec)))
    shift = 1
    while shift < n:
        pads = [0] * (2 * rank)
        pads[axis + (rank if reverse else 0)] = shift
        padded = ctx.b.Pad(x, ctx.i64(pads), identity, mode="constant")
        start = shift if reverse else 0
        shifted = ctx.b.Slice(padded, ctx.i64([start]), ctx.i64([start + n]), ctx.i64([axis]))
        x = ctx.b.op(op_type, x, shifted)
        shift *= 2
    return x
