"""stablehlo.sort -> stable TopK passes and GatherElements.

JAX's comparators compare the first operand pair only (num_keys = 1), after mapping -0.0
to 0.0 and every NaN to one NaN, with LT (ascending) or GT (descending) in TOTALORDER.
ONNX has no Sort, but TopK over the whole axis is one, and its ties keep the lower index
first (the ONNX spec says so), so it is stable. NaN sorts above +inf: a second stable
TopK pass over "is NaN" moves the NaNs past the infinities.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .context import LoweringContext, attribute_value
from .types import numpy_dtype

__all__ = ["sort", "stable_sort_permutation"]

# ONNX Runtime's TopK kernels: float, double, int32, int64 (and a few more on newer builds).
_TOPK_TYPES = {ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.INT32, ir.DataType.INT64}
_TOPK_CAST = {
    ir.DataType.FLOAT16: ir.DataType.FLOAT, ir.DataType.BFLOAT16: ir.DataType.FLOAT,
    ir.DataType.BOOL: ir.DataType.INT32, ir.DataType.INT8: ir.DataType.INT32,
    ir.DataType.UINT8: ir.DataType.INT32, ir.DataType.INT16: ir.DataType.INT32,
    ir.DataType.UINT16: ir.DataType.INT32, ir.DataType.UINT32: ir.DataType.INT64,
}


@lowers("stablehlo.sort")
def sort(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.sort (comparator on operand 0, LT or GT) -> TopK permutation, then
    GatherElements of every operand. A comparator on the raw keys in TOTALORDER (lax.top_k's)
    ranks -0.0 below +0.0: one more stable TopK pass on the zeros' signs comes first.

    Several keys (lax.sort with num_keys > 1, jnp.lexsort: "k0 < k0' or (k0 == k0' and
    ...)") -> one stable pass per key, the last key first.

    Limits: comparators of other forms are refused.
    """
    direction = comparator_direction(ctx.op.regions[0])
    axis = ctx.attr("dimension")
    if direction is None:
        keys = _lexicographic_keys(ctx.op.regions[0])
        if keys is None:
            ops = "; ".join(op.operation.name for op in ctx.op.regions[0].blocks[0].operations)
            raise ctx.error(
                f"sort comparator not supported (ops: {ops}); supported are comparators that "
                "compare the first operand with LT or GT, as jnp.sort/argsort/lax.top_k "
                "emit, and lexicographic ones over several keys, as lax.sort(num_keys=n)"
            )
        permutation = None
        for index, key_direction in reversed(keys):
            key = operands[index]
            if permutation is not None:
                key = ctx.b.GatherElements(key, permutation, axis=axis)
            step = stable_sort_permutation(ctx, key, index, axis,
                                           descending=key_direction == "GT")
            permutation = step if permutation is None else ctx.b.GatherElements(
                permutation, step, axis=axis)
        return [ctx.b.GatherElements(x, permutation, axis=axis) for x in operands]
    descending = direction == "GT"
    key = operands[0]
    pre_order = None
    if ctx.operand_specs[0].is_float and _compares_raw_signed_zeros(ctx.op.regions[0]):
        # lax.top_k's comparator sees -0.0 < +0.0 (TOTALORDER on the raw keys), which the
        # value passes below tie: sort stably by "is the zero that comes last" first, so
        # those ties already stand in order.
        b = ctx.b
        zero = ctx.scalar_like(0, ctx.operand_specs[0])
        is_zero = b.Equal(key, zero)
        negative = b.Less(b.Reciprocal(key), zero)  # -0.0: 1/-0.0 = -inf
        last = b.And(is_zero, b.Not(negative) if not descending else negative)
        pre_order = b.TopK(b.Cast(last, to=ir.DataType.INT32),
                           _axis_length(ctx, key, 0, axis), axis=axis, largest=0, sorted=1,
                           _outputs=2)[1]
        key = b.GatherElements(key, pre_order, axis=axis)
    permutation = stable_sort_permutation(ctx, key, 0, axis, descending=descending)
    if pre_order is not None:
        permutation = ctx.b.GatherElements(pre_order, permutation, axis=axis)
    return [ctx.b.GatherElements(x, permutation, axis=axis) for x in operands]


def _axis_length(ctx: LoweringContext, key: ir.Value, operand: int, axis: int) -> ir.Value:
    spec = ctx.operand_specs[operand]
    return (ctx.b.Shape(key, start=axis, end=axis + 1) if spec.shape[axis] is None
            else ctx.i64([spec.shape[axis]]))


def _compares_raw_signed_zeros(region: mlir.Region) -> bool:
    """True when the comparator compares its first two arguments themselves in TOTALORDER
    (lax.top_k's), so -0.0 sorts below +0.0; jnp.sort maps -0.0 to 0.0 first."""
    block = region.blocks[0]
    compare = list(block.operations)[-1].operands[0].owner
    if "compare_type" not in compare.attributes:
        return False
    if "TOTALORDER" not in str(compare.attributes["compare_type"]):
        return False
    lhs, rhs = compare.operands
    return lhs == block.arguments[0] and rhs == block.arguments[1]


def stable_sort_permutation(ctx: LoweringContext, key: ir.Value, operand: int, axis: int,
                            *, descending: bool) -> ir.Value:
    """int64 indices that sort `key` along `axis` stably, NaN above +inf."""
    b, spec = ctx.b, ctx.operand_specs[operand]
    key_type = spec.dtype if spec.dtype in _TOPK_TYPES else _TOPK_CAST.get(spec.dtype)
    if key_type is None:
        raise ctx.error(f"sorting {spec.dtype} keys is not supported")
    if key_type != spec.dtype:
        key = b.Cast(key, to=key_type)
    length = _axis_length(ctx, key, operand, axis)
    largest = int(descending)
    if not spec.is_float:
        return b.TopK(key, length, axis=axis, largest=largest, sorted=1, _outputs=2)[1]
    is_nan = b.IsNaN(key)
    infinity = ctx.const(np.asarray(np.inf, dtype=numpy_dtype(key_type)))
    first = b.TopK(b.Where(is_nan, infinity, key), length, axis=axis, largest=largest,
                   sorted=1, _outputs=2)[1]
    nan_in_order = b.Cast(b.GatherElements(is_nan, first, axis=axis), to=ir.DataType.INT32)
    second = b.TopK(nan_in_order, length, axis=axis, largest=largest, sorted=1, _outputs=2)[1]
    return b.GatherElements(first, second, axis=axis)


def comparator_direction(region: mlir.Region) -> str | None:
    """"LT" or "GT" if the comparator returns `compare DIR, f(a0), g(b0)` where a0 and b0
    are its first two arguments and f, g only canonicalize (selects against constants)."""
    block = region.blocks[0]
    ops = list(block.operations)
    if len(block.arguments) < 2 or not ops or ops[-1].operation.name != "stablehlo.return":
        return None
    result = ops[-1].operands[0]
    if not isinstance(result, mlir.OpResult) or result.owner.name != "stablehlo.compare":
        return None
    compare = result.owner
    direction = attribute_value(compare.attributes["comparison_direction"])
    if direction not in ("LT", "GT"):
        return None
    lhs, rhs = (_arguments_feeding(v) for v in compare.operands)
    first, second = block.arguments[0], block.arguments[1]
    return direction if lhs == {first} and rhs == {second} else None


def _lexicographic_keys(region: mlir.Region) -> list[tuple[int, str]] | None:
    """[(operand, "LT" or "GT"), ...] in priority order if the comparator is
    `less(k0) or (equal(k0) and <the same for k1, ...>)`, the last key compared alone."""
    block = region.blocks[0]
    ops = list(block.operations)
    if not ops or ops[-1].operation.name != "stablehlo.return":
        return None
    arguments = list(block.arguments)

    def compared_key(value: mlir.Value, directions: tuple[str, ...]) -> tuple[int, str] | None:
        if not isinstance(value, mlir.OpResult) or value.owner.name != "stablehlo.compare":
            return None
        compare = value.owner
        direction = attribute_value(compare.attributes["comparison_direction"])
        lhs, rhs = (_arguments_feeding(v) for v in compare.operands)
        if direction not in directions or len(lhs) != 1 or len(rhs) != 1:
            return None
        (a,), (c,) = lhs, rhs
        if a not in arguments or c not in arguments:
            return None
        i = arguments.index(a)
        if i % 2 or arguments.index(c) != i + 1:
            return None
        return i // 2, direction

    def parse(value: mlir.Value) -> list[tuple[int, str]] | None:
        single = compared_key(value, ("LT", "GT"))
        if single is not None:
            return [single]
        if not isinstance(value, mlir.OpResult) or value.owner.name != "stablehlo.or":
            return None
        for less, tie in (value.owner.operands, reversed(list(value.owner.operands))):
            first = compared_key(less, ("LT", "GT"))
            if first is None or not isinstance(tie, mlir.OpResult) \
                    or tie.owner.name != "stablehlo.and":
                continue
            for equal, rest in (tie.owner.operands, reversed(list(tie.owner.operands))):
                if compared_key(equal, ("EQ",)) != (first[0], "EQ"):
                    continue
                tail = parse(rest)
                if tail is not None and first[0] not in [k for k, _ in tail]:
                    return [first, *tail]
        return None

    return parse(ops[-1].operands[0])


def _arguments_feeding(value: mlir.Value) -> set[mlir.Value]:
    """The block arguments a value is computed from (constants contribute none)."""
    found, stack, seen = set(), [value], set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if isinstance(v, mlir.BlockArgument):
            found.add(v)
        elif isinstance(v, mlir.OpResult):
            stack.extend(v.owner.operands)
    return found
