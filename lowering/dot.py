"""stablehlo.dot_general -> MatMul, with transposes and reshapes only where needed."""

from __future__ import annotations

import math

import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .context import LoweringContext


@lowers("stablehlo.dot_general")
def dot_general(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value) -> list[ir.Value]:
    """stablehlo.dot_general -> MatMul over [batch..., M, K] x [batch..., K, N].

    Operands are first cast to the result type (preferred_element_type), then brought to
    that layout; the result of StableHLO is [batch..., lhs free..., rhs free...]. MatMul
    has no 8/16-bit integer or bool form: those multiply in 32 bits and cast back (the
    low bits, so integers wrap as in XLA; bool: any AND-pair true).
    """
    out = ctx.out
    compute = _MATMUL_TYPE.get(out.dtype)
    if compute is None:
        return _dot_general(ctx, lhs, rhs, out.dtype)
    product = _dot_general(ctx, lhs, rhs, compute)[0]
    if out.is_bool:
        return [ctx.b.Greater(product, ctx.const(0, compute))]
    return [ctx.b.Cast(product, to=out.dtype)]


# Result types MatMul lacks -> the type to multiply in.
_MATMUL_TYPE = {
    ir.DataType.BOOL: ir.DataType.INT32, ir.DataType.INT8: ir.DataType.INT32,
    ir.DataType.INT16: ir.DataType.INT32, ir.DataType.UINT8: ir.DataType.UINT32,
    ir.DataType.UINT16: ir.DataType.UINT32,
}


def _dot_general(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value,
                 dtype: ir.DataType) -> list[ir.Value]:
    numbers = hlo.DotDimensionNumbers(ctx.raw_attr("dot_dimension_numbers"))
    lhs_batch = list(numbers.lhs_batching_dimensions)
    rhs_batch = list(numbers.rhs_batching_dimensions)
    lhs_contract = list(numbers.lhs_contracting_dimensions)
    rhs_contract = list(numbers.rhs_contracting_dimensions)
    lhs_spec, rhs_spec = ctx.operand_specs
    if lhs_spec.dtype != dtype:
        lhs = ctx.typed(ctx.b.Cast(lhs, to=dtype), dtype, lhs_spec.shape)
    if rhs_spec.dtype != dtype:
        rhs = ctx.typed(ctx.b.Cast(rhs, to=dtype), dtype, rhs_spec.shape)
    # Every value made below is typed as ONNX shape inference would type it (ctx.typed).
    out_shape = ctx.out.shape
    lhs_free = [d for d in range(lhs_spec.rank) if d not in lhs_batch + lhs_contract]
    rhs_free = [d for d in range(rhs_spec.rank) if d not in rhs_batch + rhs_contract]

    # x @ W and x @ v (W 2-D, v 1-D): MatMul broadcasts lhs's leading axes and treats a
    # 1-D operand as numpy does, which is exactly StableHLO's [lhs free..., rhs free...].
    if (not lhs_batch and lhs_contract == [lhs_spec.rank - 1] and rhs_spec.rank <= 2
            and len(rhs_contract) == 1):
        if rhs_contract == [1]:
            rhs = ctx.typed(ctx.b.Transpose(rhs, perm=[1, 0]), dtype, rhs_spec.shape[::-1])
        return [ctx.typed(ctx.b.MatMul(lhs, rhs), dtype, out_shape)]

    lhs_shape, rhs_shape = lhs_spec.shape, rhs_spec.shape
    batch = [[(lhs, d)] for d in lhs_batch]
    m = [(lhs, d) for d in lhs_free]
    k = [(lhs, d) for d in lhs_contract]
    n = [(rhs, d) for d in rhs_free]
    dims = {id(lhs): lhs_shape, id(rhs): rhs_shape}
    if (lhs_contract and len(lhs_free) == len(rhs_free) == 1
            and _is_identity(lhs_batch + lhs_contract + lhs_free)
            and _is_identity(rhs_batch + rhs_free + rhs_contract)):
        # Both operands come transposed, [.., K, M] and [.., N, K]: one Transpose of
        # rhs @ lhs = [.., N, M] replaces a Transpose of each.
        rk = [(rhs, d) for d in rhs_contract]
        rhs = _to_layout(ctx, rhs, list(range(rhs_spec.rank)), batch + [n, rk], dims, dtype)
        lhs = _to_layout(ctx, lhs, list(range(lhs_spec.rank)), batch + [k, m], dims, dtype)
        nb = len(batch)
        sizes = _sizes(batch + [n, m], dims)
        product = ctx.typed(ctx.b.MatMul(rhs, lhs), dtype, sizes)
        return [ctx.typed(ctx.b.Transpose(product, perm=[*range(nb), nb + 1, nb]), dtype,
                          (*sizes[:nb], sizes[nb + 1], sizes[nb]))]
    lhs_perm = lhs_batch + lhs_free + lhs_contract
    rhs_perm = rhs_batch + rhs_contract + rhs_free
    rk = [(rhs, d) for d in rhs_contract]
    product = ctx.typed(ctx.b.MatMul(
        _to_layout(ctx, lhs, lhs_perm, batch + [m, k], dims, dtype),
        _to_layout(ctx, rhs, rhs_perm, batch + [rk, n], dims, dtype),
    ), dtype, _sizes(batch + [m, n], dims))
    if len(m) != 1 or len(n) != 1:  # [batch..., M, N] -> [batch..., lhs free..., rhs free...]
        product = ctx.b.Reshape(product, _target(ctx, batch + [[f] for f in m + n], dims))
    return [ctx.typed(product, dtype, out_shape)]


# A dim of a Reshape target: the product of these (operand, axis) dims, 1 if there are none.
Factors = list[tuple[ir.Value, int]]


def _to_layout(ctx: LoweringContext, x: ir.Value, perm: list[int], target: list[Factors],
               dims: dict[int, tuple], dtype: ir.DataType) -> ir.Value:
    """x transposed by `perm`, then merged into the groups of `target` if that is a change."""
    if not _is_identity(perm):
        shape = dims[id(x)]
        x = ctx.typed(ctx.b.Transpose(x, perm=perm), dtype, [shape[axis] for axis in perm])
    if any(len(group) != 1 for group in target):
        x = ctx.typed(ctx.b.Reshape(x, _target(ctx, target, dims)), dtype,
                      _sizes(target, dims))
    return x


def _is_identity(perm: list[int]) -> bool:
    return perm == list(range(len(perm)))


def _sizes(target: list[Factors], dims: dict[int, tuple]) -> list[int | None]:
    """The dims of `target`: each group's product, None if one of its factors is dynamic."""
    sizes = []
    for group in target:
        factors = [dims[id(v)][axis] for v, axis in group]
        sizes.append(None if None in factors else math.prod(factors))
    return sizes


def _target(ctx: LoweringContext, target: list[Factors], dims: dict[int, tuple]) -> ir.Value:
    """The int64 Reshape target: constants (and one -1) while at most one dim is dynamic,
    else each dynamic dim multiplied together from Shape slices of the operands."""
    sizes = _sizes(target, dims)
    if sizes.count(None) <= 1:
        return ctx.i64([-1 if s is None else s for s in sizes])
    parts = []
    for group, size in zip(target, sizes):
        if size is not None:
            parts.append(ctx.i64([size]))
            continue
        part = None
        for v, axis in group:
            dim = ctx.b.Shape(v, start=axis, end=axis + 1)
            part = dim if part is None else ctx.b.Mul(part, dim)
        parts.append(part)
    return ctx.b.Concat(*parts, axis=0)
