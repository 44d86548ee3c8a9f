"""stablehlo.reduce -> ReduceSum/ReduceProd/ReduceMax/ReduceMin, and ArgMax/ArgMin for
JAX's (value, iota) argmax/argmin reductions."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo
from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .context import LoweringContext, attribute_value
from .regions import binary_reducer, identity_of, is_constant
from .types import TensorSpec

__all__ = ["reduce"]

DT = ir.DataType

# body op -> (ONNX reduction, elementwise op that folds in a non-identity init value)
_REDUCTIONS = {
    "stablehlo.add": ("ReduceSum", "Add"),
    "stablehlo.multiply": ("ReduceProd", "Mul"),
    "stablehlo.maximum": ("ReduceMax", "Max"),
    "stablehlo.minimum": ("ReduceMin", "Min"),
}
# logical body -> (fold op on booleans, fold op on integers); reduced bit by bit
_LOGICAL = {
    "stablehlo.and": ("And", "BitwiseAnd"),
    "stablehlo.or": ("Or", "BitwiseOr"),
    "stablehlo.xor": ("Xor", "BitwiseXor"),
}

# Element types ONNX Runtime's CPU kernels accept (checked with onnxruntime 1.32); ReduceMax
# and ReduceMin take bool only from opset 20, so booleans go through uint8 everywhere.
_SUM_TYPES = frozenset({DT.INT32, DT.INT64, DT.FLOAT16, DT.FLOAT, DT.DOUBLE})
_ORDER_TYPES = _SUM_TYPES | {DT.INT8, DT.UINT8}
_KERNEL_TYPES = {
    "ReduceSum": _SUM_TYPES, "ReduceProd": _SUM_TYPES,
    "ReduceMax": _ORDER_TYPES, "ReduceMin": _ORDER_TYPES,
    "ArgMax": _ORDER_TYPES, "ArgMin": _ORDER_TYPES,
}
# Casts that keep both order and value, tried in turn until a kernel type is reached.
_WIDER = {
    DT.BOOL: DT.UINT8, DT.INT8: DT.INT32, DT.UINT8: DT.INT32, DT.INT16: DT.INT32,
    DT.UINT16: DT.INT32, DT.UINT32: DT.INT64, DT.BFLOAT16: DT.FLOAT,
}
# Sums and products wrap modulo 2^64 alike in int64 and uint64, so the bits come out right.
_WRAPPING = {**_WIDER, DT.UINT64: DT.INT64}


@lowers("stablehlo.reduce")
def reduce(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.reduce -> Reduce{Sum,Prod,Max,Min}(keepdims=0), one per operand/init pair
    whose body combines that pair alone; the argmax/argmin body -> ArgMax/ArgMin.

    Limits: bodies other than one add/multiply/maximum/minimum/and/or/xor per operand and
    JAX's argmax/argmin pair are refused; max/min of uint64 too.
    """
    n = len(operands) // 2
    xs, inits = operands[:n], operands[n:]
    block = ctx.op.regions[0].blocks[0]
    bodies = [binary_reducer(ctx.op.regions[0])] if n == 1 else _pairwise_reducers(block, n)
    if bodies is not None and all(b in _REDUCTIONS or b in _LOGICAL for b in bodies):
        return [_reduce_pair(ctx, i, body, xs[i], inits[i]) for i, body in enumerate(bodies)]
    direction = _argminmax_direction(block) if n == 2 else None
    if direction is not None:
        return _argminmax(ctx, direction, xs, inits)
    found = ", ".join(op.operation.name for op in block.operations)
    raise ctx.error(
        f"reduction body not supported (body ops: {found}); supported are a single "
        "add/multiply/maximum/minimum/and/or/xor per operand, and JAX's argmax/argmin body"
    )


def _reduce_pair(ctx: LoweringContext, i: int, body: str, x: ir.Value,
                 init: ir.Value) -> ir.Value:
    """Reduces operand i with `body`, then folds in the init value unless it is the identity."""
    spec, dims = ctx.operand_specs[i], ctx.attr("dimensions")
    if not dims:  # XLA applies no init at all when nothing is reduced
        return x
    if body in _LOGICAL:
        reduced = _reduce_logical(ctx, body, x, spec, dims)
        combine = _LOGICAL[body][0 if spec.is_bool else 1]
    else:
        op_type, combine = _REDUCTIONS[body]
        reduced = _reduce(ctx, op_type, x, spec, dims)
    if is_constant(init, identity_of(body, spec.np_dtype)):
        return reduced
    return ctx.b.op(combine, reduced, init)


def _reduce(ctx: LoweringContext, op_type: str, x: ir.Value, spec: TensorSpec,
            dims: list[int]) -> ir.Value:
    """One ONNX reduction over `dims` (keepdims=0) in a type its kernel accepts."""
    b = ctx.b
    compute = _kernel_type(ctx, op_type, spec.dtype)
    xc = x if compute == spec.dtype else ctx.typed(b.Cast(x, to=compute), compute, spec.shape)
    reduced_shape = _reduced(spec.shape, dims)
    result = ctx.typed(b.op(op_type, xc, ctx.i64(dims), keepdims=0), compute, reduced_shape)
    if spec.is_float and op_type in ("ReduceMax", "ReduceMin"):
        # stablehlo.maximum/minimum propagate NaN; ORT's kernels only when it comes first.
        _, any_nan = _nan_mask(ctx, xc, spec.shape, dims)
        result = ctx.typed(
            b.Where(any_nan, ctx.const(np.array(np.nan, compute.numpy())), result),
            compute, reduced_shape)
    return result if compute == spec.dtype else b.Cast(result, to=spec.dtype)


def _reduced(shape: tuple[int | None, ...], dims: list[int]) -> list[int | None]:
    """The shape left by reducing `dims` away (keepdims=0)."""
    return [d for axis, d in enumerate(shape) if axis not in dims]


def _kernel_type(ctx: LoweringContext, op_type: str, dtype: DT) -> DT:
    widen = _WRAPPING if op_type in ("ReduceSum", "ReduceProd") else _WIDER
    compute = dtype
    while compute not in _KERNEL_TYPES[op_type]:
        if compute not in widen:
            raise ctx.error(f"{op_type} of {dtype.name} is not supported by ONNX Runtime")
        compute = widen[compute]
    return compute


def _nan_mask(ctx: LoweringContext, x: ir.Value, shape: tuple[int | None, ...],
              dims: list[int]) -> tuple[ir.Value, ir.Value]:
    """IsNaN(x) as uint8 (ArgMax of it finds the first NaN), and whether `dims` hold one;
    `shape`: x's shape."""
    b, reduced = ctx.b, _reduced(shape, dims)
    mask = ctx.typed(b.Cast(ctx.typed(b.IsNaN(x), DT.BOOL, shape), to=DT.UINT8), DT.UINT8, shape)
    any_nan = ctx.typed(b.ReduceMax(mask, ctx.i64(dims), keepdims=0), DT.UINT8, reduced)
    return mask, ctx.typed(b.Cast(any_nan, to=DT.BOOL), DT.BOOL, reduced)


def _reduce_logical(ctx: LoweringContext, body: str, x: ir.Value, spec: TensorSpec,
                    dims: list[int]) -> ir.Value:
    """and/or/xor as, per bit, min/max/sum mod 2. Integers are unpacked into bits along a
    new last axis and packed back by a BitwiseOr tree (ORT's int64 ReduceSum is inexact)."""
    b = ctx.b
    if spec.is_bool:
        bits = ctx.typed(b.Cast(x, to=DT.UINT8), DT.UINT8, spec.shape)
        reduced = ctx.typed(_reduce_bits(ctx, body, bits, dims), DT.UINT8,
                            _reduced(spec.shape, dims))
        return b.Cast(reduced, to=DT.BOOL)
    unsigned = np.dtype(f"uint{spec.np_dtype.itemsize * 8}")  # BitShift takes unsigned only
    shifts = ctx.const(np.arange(unsigned.itemsize * 8, dtype=unsigned))
    u = b.Unsqueeze(b.Cast(x, to=DT.from_numpy(unsigned)), ctx.i64([-1]))
    bits = b.BitwiseAnd(b.BitShift(u, shifts, direction="RIGHT"), ctx.const(np.ones((), unsigned)))
    per_bit = _reduce_bits(ctx, body, b.Cast(bits, to=DT.UINT8), dims)
    packed = b.BitShift(b.Cast(per_bit, to=DT.from_numpy(unsigned)), shifts, direction="LEFT")
    width = unsigned.itemsize * 8
    while width > 1:  # halve the bit axis until one word is left
        low, high = b.Split(packed, axis=-1, num_outputs=2, _outputs=2)
        packed, width = b.BitwiseOr(low, high), width // 2
    return b.Cast(b.Squeeze(packed, ctx.i64([-1])), to=spec.dtype)


def _reduce_bits(ctx: LoweringContext, body: str, bits: ir.Value, dims: list[int]) -> ir.Value:
    """Reduces a uint8 tensor of 0/1 over `dims` with and (min), or (max) or xor (parity)."""
    b, axes = ctx.b, ctx.i64(dims)
    if body == "stablehlo.xor":
        count = b.ReduceSum(b.Cast(bits, to=DT.INT32), axes, keepdims=0)
        return b.Cast(b.Mod(count, ctx.const(np.array(2, np.int32))), to=DT.UINT8)
    return b.op("ReduceMin" if body == "stablehlo.and" else "ReduceMax", bits, axes, keepdims=0)


# ---- several independent operand/init pairs ---------------------------------------------


def _pairwise_reducers(block: mlir.Block, n: int) -> list[str] | None:
    """The op names of a body that returns op_i(acc_i, x_i) for each pair i, else None."""
    args = list(block.arguments)
    ret = list(block.operations)[-1]
    if ret.operation.name != "stablehlo.return" or len(ret.operands) != n:
        return None
    names = []
    for i, value in enumerate(ret.operands):
        if not isinstance(value, mlir.OpResult):
            return None
        combine = value.owner
        if list(combine.operands) not in ([args[i], args[n + i]], [args[n + i], args[i]]):
            return None
        names.append(combine.name)
    return names


# ---- argmax / argmin --------------------------------------------------------------------


def _argminmax(ctx: LoweringContext, direction: str, xs, inits) -> list[ir.Value]:
    """(values, iota) reduced by the argmax (GT) or argmin (LT) body -> ArgMax/ArgMin and
    ReduceMax/ReduceMin; the first index wins ties, and a NaN wins as in JAX."""
    dims = ctx.attr("dimensions")
    spec, index_spec = ctx.operand_specs[0], ctx.operand_specs[1]
    is_max = direction == "GT"
    body = "stablehlo.maximum" if is_max else "stablehlo.minimum"
    if len(dims) != 1 or not _is_iota(ctx.op.operands[1], dims[0]):
        raise ctx.error("argmax/argmin body over an index operand that is not an iota "
                        "along the one reduced dimension")
    if not (is_constant(inits[0], identity_of(body, spec.np_dtype))
            and is_constant(inits[1], np.zeros((), index_spec.np_dtype))):
        raise ctx.error("argmax/argmin with an init pair other than (identity, 0)")
    x, b = xs[0], ctx.b
    value = _reduce(ctx, "ReduceMax" if is_max else "ReduceMin", x, spec, dims)
    arg_op = "ArgMax" if is_max else "ArgMin"
    compute = _kernel_type(ctx, arg_op, spec.dtype)
    xc = x if compute == spec.dtype else ctx.typed(b.Cast(x, to=compute), compute, spec.shape)
    reduced = _reduced(spec.shape, dims)
    index = ctx.typed(b.op(arg_op, xc, axis=dims[0], keepdims=0, select_last_index=0),
                      DT.INT64, reduced)
    if spec.is_float:  # ORT's ArgMax skips NaN unless it comes first; JAX picks the first NaN
        mask, any_nan = _nan_mask(ctx, xc, spec.shape, dims)
        first_nan = ctx.typed(b.ArgMax(mask, axis=dims[0], keepdims=0), DT.INT64, reduced)
        index = ctx.typed(b.Where(any_nan, first_nan, index), DT.INT64, reduced)
    return [value, b.Cast(index, to=index_spec.dtype)]


def _is_iota(value: mlir.Value, dimension: int) -> bool:
    # With symbolic dims JAX builds the index operand with dynamic_iota.
    iotas = ("stablehlo.iota", "stablehlo.dynamic_iota")
    if not isinstance(value, mlir.OpResult) or value.owner.name not in iotas:
        return False
    return attribute_value(value.owner.attributes["iota_dimension"]) == dimension


def _argminmax_direction(block: mlir.Block) -> str | None:
    """The direction, GT (argmax) or LT (argmin), if the body is JAX's argmax/argmin reducer:

    pick = v0 DIR v1 [or v0 != v0];  tie = v0 == v1 and i0 < i1;
    return select(pick, v0, v1), select(pick or tie, i0, i1)
    """
    v0, i0, v1, i1 = block.arguments
    ret = list(block.operations)[-1]
    if ret.operation.name != "stablehlo.return" or len(ret.operands) != 2:
        return None
    value_select = _select_of(ret.operands[0], v0, v1)
    index_select = _select_of(ret.operands[1], i0, i1)
    if value_select is None or index_select is None:
        return None
    direction = _value_pick(value_select, v0, v1)
    tie = _other_operand(_defining(index_select, "stablehlo.or"), value_select)
    tie_terms = _defining(tie, "stablehlo.and")
    if direction is None or tie_terms is None:
        return None
    terms = {_compare(t) for t in tie_terms.operands}
    return direction if terms == {("EQ", v0, v1), ("LT", i0, i1)} else None


def _value_pick(pick: mlir.Value, v0: mlir.Value, v1: mlir.Value) -> str | None:
    """DIR for `v0 DIR v1` or `(v0 DIR v1) or (v0 != v0)` with DIR GT or LT, else None."""
    either = _defining(pick, "stablehlo.or")
    if either is not None:
        if ("NE", v0, v0) not in {_compare(t) for t in either.operands}:
            return None
        pick = _other_operand(either, _first(either.operands, ("NE", v0, v0)))
    compared = _compare(pick)
    if compared in (("GT", v0, v1), ("LT", v0, v1)):
        return compared[0]
    return None


def _defining(value: mlir.Value | None, name: str):
    """The op named `name` that defines `value`, else None."""
    if isinstance(value, mlir.OpResult) and value.owner.name == name:
        return value.owner
    return None


def _select_of(value: mlir.Value, on_true: mlir.Value, on_false: mlir.Value):
    """The predicate of `select(pred, on_true, on_false)` defining `value`, else None."""
    select = _defining(value, "stablehlo.select")
    if select is None or list(select.operands)[1:] != [on_true, on_false]:
        return None
    return select.operands[0]


def _compare(value: mlir.Value) -> tuple | None:
    compare = _defining(value, "stablehlo.compare")
    if compare is None:
        return None
    direction = hlo.ComparisonDirectionAttr(compare.attributes["comparison_direction"]).value
    return (direction, *compare.operands)


def _other_operand(op, value: mlir.Value | None) -> mlir.Value | None:
    """The operand of binary `op` that is not `value` (None if `value` is not one)."""
    if op is None or value is None:
        return None
    a, b = op.operands
    return b if a == value else a if b == value else None


def _first(values, compared: tuple) -> mlir.Value | None:
    return next((v for v in values if _compare(v) == compared), None)
