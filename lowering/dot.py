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
    that layout; the result of StableHLO is [batch..., lhs free..., rhs free...].
    """
    numbers = hlo.DotDimensionNumbers(ctx.raw_attr("dot_dimension_numbers"))
    lhs_batch = list(numbers.lhs_batching_dimensions)
    rhs_batch = list(numbers.rhs_batching_dimensions)
    lhs_contract = list(numbers.lhs_contracting_dimensions)
    rhs_contract = list(numbers.rhs_contracting_dimensions)
    lhs_spec, rhs_spec, out = *ctx.operand_specs, ctx.out
    if lhs_spec.dtype != out.dtype:
        lhs = ctx.b.Cast(lhs, to=out.dtype)
    if rhs_spec.dtype != out.dtype:
        rhs = ctx.b.Cast(rhs, to=out.dtype)
    lhs_free = [d for d in range(lhs_spec.rank) if d not in lhs_batch + lhs_contract]
    rhs_free = [d for d in range(rhs_spec.rank) if d not in rhs_batch + rhs_contract]

    # x @ W and x @ v (W 2-D, v 1-D): MatMul broadcasts lhs's leading axes and treats a
    # 1-D operand as numpy does, which is exactly StableHLO's [lhs free..., rhs free...].
    if (not lhs_batch and lhs_contract == [lhs_spec.rank - 1] and rhs_spec.rank <= 2
            and len(rhs_contract) == 1):
        if rhs_contract == [1]:
            rhs = ctx.b.Transpose(rhs, perm=[1, 0])
        return [ctx.b.MatMul(lhs, rhs)]

    lhs_shape, rhs_shape = lhs_spec.shape, rhs_spec.shape
    batch = [lhs_shape[d] for d in lhs_batch]
    m = _merged(ctx, [lhs_shape[d] for d in lhs_free])
    k = _merged(ctx, [lhs_shape[d] for d in lhs_contract])
    n = _merged(ctx, [rhs_shape[d] for d in rhs_free])
    if (lhs_contract and len(lhs_free) == len(rhs_free) == 1
            and _is_identity(lhs_batch + lhs_contract + lhs_free)
            and _is_identity(rhs_batch + rhs_free + rhs_contract)):
        # Both operands come transposed, [.., K, M] and [.., N, K]: one Transpose of
        # rhs @ lhs = [.., N, M] replaces a Transpose of each.
        rhs = _to_layout(ctx, rhs, list(range(rhs_spec.rank)), rhs_shape, batch + [n, k])
        lhs = _to_layout(ctx, lhs, list(range(lhs_spec.rank)), lhs_shape, batch + [k, m])
        nb = len(batch)
        return [ctx.b.Transpose(ctx.b.MatMul(rhs, lhs), perm=[*range(nb), nb + 1, nb])]
    lhs_perm = lhs_batch + lhs_free + lhs_contract
    rhs_perm = rhs_batch + rhs_contract + rhs_free
    lhs = _to_layout(ctx, lhs, lhs_perm, lhs_shape, batch + [m, k])
    rhs = _to_layout(ctx, rhs, rhs_perm, rhs_shape, batch + [k, n])
    product = ctx.b.MatMul(lhs, rhs)
    if list(out.shape) != batch + [m, n]:
        product = ctx.b.Reshape(product, ctx.i64(_static_shape(ctx, out.shape)))
    return [product]


def _to_layout(ctx: LoweringContext, x: ir.Value, perm: list[int], shape: tuple,
               target: list[int | None]) -> ir.Value:
    if not _is_identity(perm):
        x = ctx.b.Transpose(x, perm=perm)
    if [shape[p] for p in perm] != target:
        x = ctx.b.Reshape(x, ctx.i64(_static_shape(ctx, target)))
    return x


def _is_identity(perm: list[int]) -> bool:
    return perm == list(range(len(perm)))


def _merged(ctx: LoweringContext, dims: list[int | None]) -> int | None:
    """The size of `dims` merged into one axis (a single dim stays as it is, even dynamic)."""
    if len(dims) == 1:
        return dims[0]
    return math.prod(_static_shape(ctx, dims))


def _static_shape(ctx: LoweringContext, dims) -> list[int]:
    if None in dims:
        raise ctx.error(
            "dot_general would need a Reshape over dynamic dimensions (several free or "
            "contracting dims merged, or a dynamic batch with them); not supported yet"
        )
    return list(dims)
