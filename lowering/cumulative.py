"""Cumulative windows: jnp.cumsum/cumprod/cummax/cummin arrive as a reduce_window whose
window spans one whole axis, padded by its length - 1 on one side. They become CumSum,
or a log-step (Hillis-Steele) scan for the other reducers, instead of an O(n^2) window."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .context import LoweringContext, attribute_value
from .regions import binary_reducer, identity_of, is_constant

__all__ = ["cumulative_window"]

_REDUCERS = {"stablehlo.add": "Add", "stablehlo.multiply": "Mul",
             "stablehlo.maximum": "Max", "stablehlo.minimum": "Min"}
_CUMSUM_TYPES = {ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.INT32, ir.DataType.INT64}


def cumulative_window(ctx: LoweringContext, x: ir.Value, init: ir.Value) -> ir.Value | None:
    """The scan along the one axis this reduce_window accumulates over, or None if it is
    not a cumulative window (the caller then lowers it as a general window)."""
    body = binary_reducer(ctx.op.regions[0]) or ""
    op_type = _REDUCERS.get(body)
    spec = ctx.operand_specs[0]
    found = _scan_axis(ctx)
    if op_type is None or found is None \
            or not is_constant(init, identity_of(body, spec.np_dtype)):
        return None
    axis, reverse = found
    if op_type == "Add" and spec.dtype in _CUMSUM_TYPES:
        return ctx.b.CumSum(x, ctx.i64(axis), reverse=int(reverse))
    return _log_step_scan(ctx, x, body, axis, reverse)


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


def _log_step_scan(ctx: LoweringContext, x: ir.Value, body: str, axis: int,
                   reverse: bool) -> ir.Value:
    """y_k = op(y_{k-1}, y_{k-1} shifted by 2^k along the axis, identity shifted in):
    ceil(log2 n) steps of Pad + Slice + op."""
    spec = ctx.operand_specs[0]
    n, rank = spec.shape[axis], spec.rank
    identity = ctx.const(identity_of(body, spec.np_dtype))
    op_type = _REDUCERS[body]
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


@lowers("stablehlo.custom_call@stablehlo.dynamic_reduce_window")
def dynamic_reduce_window(ctx: LoweringContext, x: ir.Value, init: ir.Value,
                          *window: ir.Value) -> list[ir.Value]:
    """custom_call @stablehlo.dynamic_reduce_window, what jnp.cumsum & co. emit along a
    symbolic axis: the window spans that axis (its size `w` is the dim variable), padded by
    w - 1 on one side -> CumSum.

    The window operands are traced back through the shape arithmetic (constants,
    concatenate, reshape, convert, add) to a dim variable, so that the form is recognised
    when it is known: strides and dilations 1, one symbolic axis whose window w is linear
    in a dim variable and whose padding is (w - 1, 0) or (0, w - 1), and the result shaped
    like the input. That w is the axis length (as JAX's cumulative ops build it) is
    assumed, not proven: a sliding window shorter than the axis would need it.

    Limits: only sums of the CumSum types; cumprod/cummax/cummin and other dynamic windows
    along a symbolic axis are refused.
    """
    if len(ctx.op.operands) != 7:
        raise ctx.error("dynamic_reduce_window over several inputs is not supported")
    callee = attribute_value(ctx.raw_attr("called_computations"))[0]
    reducer = _REDUCERS.get(_function_reducer(ctx, callee) or "")
    spec = ctx.operand_specs[0]
    found = _dynamic_scan_axis(ctx)
    if found is None:
        raise ctx.error("only the cumulative form of dynamic_reduce_window (jnp.cumsum along "
                        "a symbolic axis) is supported, not a general window")
    axis, reverse = found
    if reducer != "Add" or spec.dtype not in _CUMSUM_TYPES:
        raise ctx.error(f"a cumulative {reducer or 'reduction'} of {spec.dtype} along a "
                        "symbolic axis is not supported (only cumsum, as CumSum); export "
                        "with a static size for that axis")
    if not is_constant(init, identity_of("stablehlo.add", spec.np_dtype)):
        raise ctx.error("a cumulative sum whose init value is not 0 is not supported")
    return [ctx.b.CumSum(x, ctx.i64(axis), reverse=int(reverse))]


def _function_reducer(ctx: LoweringContext, name: str) -> str | None:
    """The binary op of the module function `name`: `return op(arg0, arg1)`."""
    module = ctx.op.operation
    while module.parent is not None:
        module = module.parent
    for op in module.regions[0].blocks[0].operations:
        if op.operation.name == "func.func" and \
                mlir.StringAttr(op.attributes["sym_name"]).value == name:
            block = op.regions[0].blocks[0]
            ops, args = list(block.operations), list(block.arguments)
            if len(ops) != 2 or len(args) != 2 or ops[1].operation.name != "func.return":
                return None
            combine, ret = ops
            if list(ret.operands) != [combine.results[0]] or \
                    list(combine.operands) not in (args, args[::-1]):
                return None
            return combine.operation.name
    return None


# A traced shape element: an int, or (arg, scale, offset) for scale * block argument + offset.
def _trace(value: mlir.Value, depth: int = 0) -> list | None:
    """The elements of a small integer tensor built from constants and dim variables."""
    if depth > 20:
        return None
    if isinstance(value, mlir.BlockArgument):
        return [(value.arg_number, 1, 0)]
    if not isinstance(value, mlir.OpResult):
        return None
    op = value.owner
    name = op.name
    if name == "stablehlo.constant":
        attr = op.attributes["value"]
        return ([int(v) for v in np.asarray(attribute_value(attr)).ravel()]
                if isinstance(attr, mlir.DenseIntElementsAttr) else None)
    if name in ("stablehlo.convert", "stablehlo.reshape", "stablehlo.broadcast_in_dim"):
        traced = _trace(op.operands[0], depth + 1)
        return traced if name != "stablehlo.broadcast_in_dim" or len(traced or []) == 1 \
            else None
    if name == "stablehlo.concatenate":
        parts = [_trace(v, depth + 1) for v in op.operands]
        return None if any(p is None for p in parts) else [e for p in parts for e in p]
    if name in ("stablehlo.add", "stablehlo.multiply"):
        a, b = (_trace(v, depth + 1) for v in op.operands)
        if a is None or b is None or len(a) != len(b):
            return None
        combined = [_combine(name, u, v) for u, v in zip(a, b)]
        return None if None in combined else combined
    return None


def _combine(name: str, u, v):
    """u + v or u * v on traced elements, where the result stays linear in one argument."""
    if isinstance(u, int) and isinstance(v, int):
        return u + v if name == "stablehlo.add" else u * v
    if isinstance(u, int) == isinstance(v, int):
        return None  # two dim variables: not needed for the forms recognised here
    (arg, scale, offset), k = (v, u) if isinstance(u, int) else (u, v)
    if name == "stablehlo.add":
        return arg, scale, offset + k
    return arg, scale * k, offset * k


def _dynamic_scan_axis(ctx: LoweringContext) -> tuple[int, bool] | None:
    """(axis, reverse) of the cumulative form of a dynamic_reduce_window, else None."""
    spec, rank = ctx.operand_specs[0], ctx.operand_specs[0].rank
    dims, strides, base, dilations, padding = (_trace(v) for v in ctx.op.operands[2:])
    if any(t is None for t in (dims, strides, base, dilations, padding)) \
            or ctx.out.shape != spec.shape or len(padding) != 2 * rank:
        return None
    if any(v != 1 for v in strides + base + dilations):
        return None
    axes = [a for a in range(rank) if dims[a] != 1 or padding[2 * a] != 0
            or padding[2 * a + 1] != 0]
    if len(axes) != 1 or spec.shape[axes[0]] is not None or isinstance(dims[axes[0]], int):
        return None
    axis = axes[0]
    arg, scale, offset = dims[axis]
    low, high = padding[2 * axis], padding[2 * axis + 1]
    edge = (arg, scale, offset - 1)  # w - 1
    if low == edge and high == 0:
        return axis, False
    if low == 0 and high == edge:
        return axis, True
    return None
