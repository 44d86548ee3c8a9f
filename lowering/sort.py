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
    GatherElements of every operand.

    Limits: comparators over several keys (lax.sort with num_keys > 1) or of other forms
    are refused.
    """
    direction = comparator_direction(ctx.op.regions[0])
    if direction is None:
        ops = "; ".join(op.operation.name for op in ctx.op.regions[0].blocks[0].operations)
        raise ctx.error(
            f"sort comparator not supported (ops: {ops}); supported are comparators that "
            "compare the first operand with LT or GT, as jnp.sort/argsort/lax.top_k emit"
        )
    axis = ctx.attr("dimension")
    permutation = stable_sort_permutation(ctx, operands[0], 0, axis, descending=direction == "GT")
    return [ctx.b.GatherElements(x, permutation, axis=axis) for x in operands]


def stable_sort_permutation(ctx: LoweringContext, key: ir.Value, operand: int, axis: int,
                            *, descending: bool) -> ir.Value:
    """int64 indices that sort `key` along `axis` stably, NaN above +inf."""
    b, spec = ctx.b, ctx.operand_specs[operand]
    key_type = spec.dtype if spec.dtype in _TOPK_TYPES else _TOPK_CAST.get(spec.dtype)
    if key_type is None:
        raise ctx.error(f"sorting {spec.dtype} keys is not supported")
    if key_type != spec.dtype:
        key = b.Cast(key, to=key_type)
    length = (b.Shape(key, start=axis, end=axis + 1) if spec.shape[axis] is None
              else ctx.i64([spec.shape[axis]]))
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
