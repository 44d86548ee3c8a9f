"""Cumulative windows: jnp.cumsum/cumprod/cummax/cummin and lax.cumlogsumexp arrive as a
reduce_window whose window spans one whole axis, padded by its length - 1 on one side. They
become CumSum, or a log-step (Hillis-Steele) scan instead of an O(n^2) window: each step
combines two shifted slices with one ONNX op (add, multiply, max, min) or, for any other
elementwise body (cumlogsumexp's logaddexp), with the body itself lowered on the slices.

The scan combines the elements in a balanced tree that keeps their order (earlier element
first, init once in front): one of the schedules StableHLO allows a reduction, equal to
XLA's left fold for an associative body up to float rounding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .bodies import apply_body, apply_function, body_ops, function_block, not_elementwise
from .context import LoweringContext, attribute_value
from .dynamic_values import elements_of, same_dim
from .regions import binary_op_of, binary_reducer, identity_of, is_constant
from .types import TensorSpec

__all__ = ["cumulative_window"]

_REDUCERS = {"stablehlo.add": "Add", "stablehlo.multiply": "Mul",
             "stablehlo.maximum": "Max", "stablehlo.minimum": "Min"}
_CUMSUM_TYPES = {ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.INT32, ir.DataType.INT64}
_INT64_MAX = np.iinfo(np.int64).max


def cumulative_window(ctx: LoweringContext, x: ir.Value, init: ir.Value) -> ir.Value | None:
    """The scan along the one axis this reduce_window accumulates over, or None if it is
    not a cumulative window or its body is neither one known op nor elementwise (the
    caller then lowers it as a general window, or refuses it)."""
    found = _scan_axis(ctx)
    region = ctx.op.regions[0]
    body = binary_reducer(region) or ""
    if found is None or body not in _REDUCERS and not_elementwise(region.blocks[0]):
        return None
    combine = _one_op(body) if body in _REDUCERS else \
        lambda c, a, b, shape: apply_body(c, region, [a, b], shape)[0]
    return _scan(ctx, x, init, body, combine, *found, looped=False)


# combine(ctx, earlier, later, shape): the body on two tensors of that (broadcast) shape
Combine = Callable[[LoweringContext, ir.Value, ir.Value, "ir.Shape | None"], ir.Value]


def _one_op(body: str) -> Combine:
    return lambda ctx, a, b, shape: ctx.b.op(_REDUCERS[body], a, b)


def _scan(ctx: LoweringContext, x: ir.Value, init: ir.Value, body: str, combine: Combine,
          axis: int | None, reverse: bool, looped: bool) -> ir.Value:
    """CumSum where it applies, else the log-step scan (in a Loop where the axis length is
    only known at runtime). The scan leaves init out; unless it is the known reducer's
    identity it enters once, first, as in XLA's fold of each window: body(init, scan)."""
    spec = ctx.operand_specs[0]
    identity = body in _REDUCERS and is_constant(init, identity_of(body, spec.np_dtype))
    if axis is None:  # one element per window
        scanned = x
    elif identity and body == "stablehlo.add" and spec.dtype in _CUMSUM_TYPES:
        return ctx.b.CumSum(x, ctx.i64(axis), reverse=int(reverse))
    else:
        scan = _looped_scan if looped else _log_step_scan
        scanned = scan(ctx, x, combine, axis, reverse)
    return scanned if identity else combine(ctx, init, scanned, x.shape)


def _scan_axis(ctx: LoweringContext) -> tuple[int | None, bool] | None:
    """(axis, reverse) when the window is [1, ..., n, ..., 1] with n the axis length and
    padding (n - 1, 0) (forward) or (0, n - 1) (reverse), strides and dilations 1; axis
    None when every window is one element."""
    shape = ctx.operand_specs[0].shape
    rank = len(shape)
    dims = ctx.attr("window_dimensions")
    padding = np.asarray(ctx.attr("padding", np.zeros((rank, 2), np.int64))).reshape(rank, 2)
    for name in ("window_strides", "base_dilations", "window_dilations"):
        if any(v != 1 for v in ctx.attr(name, [1] * rank)):
            return None
    axes = [a for a in range(rank) if dims[a] != 1 or padding[a].any()]
    if not axes:  # every window is one element
        return None, False
    if len(axes) != 1 or shape[axes[0]] is None:
        return None
    axis, n = axes[0], shape[axes[0]]
    if dims[axis] != n or sorted(padding[axis].tolist()) != [0, n - 1]:
        return None
    return axis, bool(padding[axis][1] == n - 1 and n > 1)


def _log_step_scan(ctx: LoweringContext, x: ir.Value, combine: Combine, axis: int,
                   reverse: bool) -> ir.Value:
    """Hillis-Steele: step k combines each element with the one 2^k before it (after it,
    reversed): ceil(log2 n) steps of Slice + combine + Concat."""
    n = ctx.operand_specs[0].shape[axis]
    shift = 1
    while shift < n:
        x = _scan_step(ctx, x, combine, axis, reverse, shift, n)
        shift *= 2
    return x


def _scan_step(ctx: LoweringContext, x: ir.Value, combine: Combine, axis: int,
               reverse: bool, shift: int | ir.Value, n: int | None) -> ir.Value:
    """combine(x[:-s], x[s:]) along `axis`, x[:s] kept in front (forward) or x[-s:] behind
    (reverse): element i becomes body(x[i - s], x[i]) (body(x[i], x[i + s])), the earlier
    element first as in a left fold. `shift` s is an int, or an int64 [1] tensor known at
    runtime only (n, the static axis length, is then None); 0 < s < n."""
    b = ctx.b
    s, minus_s = (ctx.i64([shift]), ctx.i64([-shift])) if isinstance(shift, int) \
        else (shift, b.Neg(shift))
    axes, zero, end = ctx.i64([axis]), ctx.i64([0]), ctx.i64([_INT64_MAX])
    dims = list(ctx.operand_specs[0].shape)  # of the slices combined
    dims[axis] = n - shift if n is not None else None
    combined = combine(ctx, b.Slice(x, zero, minus_s, axes), b.Slice(x, s, end, axes),
                       ir.Shape(dims))
    if reverse:
        return b.Concat(combined, b.Slice(x, minus_s, end, axes), axis=axis)
    return b.Concat(b.Slice(x, zero, s, axes), combined, axis=axis)


def _looped_scan(ctx: LoweringContext, x: ir.Value, combine: Combine, axis: int,
                 reverse: bool) -> ir.Value:
    """The log-step scan along an axis of runtime length n: a Loop that doubles the shift
    while it is below n (ceil(log2 n) iterations), one _scan_step each."""
    spec = ctx.operand_specs[0]
    shift_spec = TensorSpec(ir.DataType.INT64, (1,))
    shift = ctx.graph_input("shift", shift_spec)
    carried = ctx.graph_input("scanned", spec)

    def step(sub: LoweringContext) -> list[ir.Value]:
        n = sub.b.Shape(carried, start=axis, end=axis + 1)
        doubled = sub.b.Mul(shift, sub.i64([2]))
        more = sub.b.Reshape(sub.b.Less(doubled, n), sub.i64([]))
        return [more, doubled, _scan_step(sub, carried, combine, axis, reverse, shift, None)]

    graph = ctx.subgraph(
        [ctx.graph_input("iteration", TensorSpec(ir.DataType.INT64, ())),
         ctx.graph_input("cond_in", TensorSpec(ir.DataType.BOOL, ())), shift, carried],
        step, [TensorSpec(ir.DataType.BOOL, ()), shift_spec, spec], "scan_step")
    first = ctx.i64([1])
    more = ctx.b.Reshape(ctx.b.Less(first, ctx.b.Shape(x, start=axis, end=axis + 1)),
                         ctx.i64([]))
    return ctx.b.op("Loop", None, more, first, x, body=graph, _outputs=2)[1]


@lowers("stablehlo.custom_call@stablehlo.dynamic_reduce_window")
def dynamic_reduce_window(ctx: LoweringContext, x: ir.Value, init: ir.Value,
                          *window: ir.Value) -> list[ir.Value]:
    """custom_call @stablehlo.dynamic_reduce_window, what jnp.cumsum & co. emit along a
    symbolic axis: the window spans that axis (its size `w` is the dim variable), padded by
    w - 1 on one side -> CumSum, or for the other bodies a log-step scan in a Loop.

    The window operands are traced back through the shape arithmetic (constants,
    concatenate, reshape, convert, add) to a dim variable, so that the form is recognised
    when it is known: strides and dilations 1, one symbolic axis whose window w is linear
    in a dim variable and whose padding is (w - 1, 0) or (0, w - 1), and the result shaped
    like the input. That w is the axis length (as JAX's cumulative ops build it) is checked
    where the graph names both (a window of another symbolic length is refused); where it
    cannot tell, it is assumed.

    Limits: the body must be one of the four reducers (add, multiply, maximum, minimum) or
    elementwise (cumlogsumexp's logaddexp); other dynamic windows along a symbolic axis are
    refused.
    """
    if len(ctx.op.operands) != 7:
        raise ctx.error("dynamic_reduce_window over several inputs is not supported")
    callee = attribute_value(ctx.raw_attr("called_computations"))[0]
    block = function_block(ctx, callee)
    body = binary_op_of(block, "func.return") if block is not None else ""
    spec = ctx.operand_specs[0]
    found = _dynamic_scan_axis(ctx)
    if found is None:
        raise ctx.error("only the cumulative form of dynamic_reduce_window (jnp.cumsum along "
                        "a symbolic axis) is supported, not a general window")
    # Where the graph knows both the window and the axis length, they must be equal.
    length = (elements_of(window[0]) or [None] * spec.rank)[found[0]]
    dim = x.shape[found[0]] if x.shape is not None else None
    if _named(length) and _named(dim) and not same_dim(length, dim):
        raise ctx.error(f"a window of {length} along an axis of {dim}: only the cumulative "
                        "form (the window as long as the axis) is supported")
    if body not in _REDUCERS and (block is None or not_elementwise(block)):
        found_ops = body_ops(block) if block is not None else f"@{callee}, not found"
        raise ctx.error(f"a cumulative window whose body [{found_ops}] is neither one "
                        "add/multiply/maximum/minimum nor elementwise is not supported")
    combine = _one_op(body) if body in _REDUCERS else \
        lambda c, a, b, shape: apply_function(c, callee, [a, b], shape)[0]
    return [_scan(ctx, x, init, body, combine, *found, looped=True)]


def _named(dim) -> bool:
    return isinstance(dim, int) or (isinstance(dim, ir.SymbolicDim) and dim.value is not None)


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
