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
    lhs_batch, rhs_batch = list(numbers.lhs_batching_dimensions), list(numbers.rhs_batching_dimensions)
    lhs_contract = list(numbers.lhs_contracting_dimensions)
    rhs_contract = list(numbers.rhs_contracting_dimensions)
    lhs_spec, rhs_spec, out = *ctx.operand_specs, ctx.out
    if lhs_spec.dtype != out.dtype:
        lhs = ctx.b.Cast(lhs, to=out.dtype)
    if rhs_spec.dtype != out.dtype:
        rhs = ctx.b.Cast(rhs, to=out.dtype)
    lhs_free = [d for d in range(lhs_spec.rank) if d not in lhs_batch + lhs_contract]
    rhs_free = [d for d in range(rhs_spec.rank) if d not in rhs_batch + rhs_contract]

    # x @ W with W 2-D (the Dense layer): MatMul broadcasts lhs's leading axes itself.
    if not lhs_batch and len(lhs_contract) == 1 and rhs_spec.rank == 2 and len(rhs_contract) == 1:
        if lhs_contract[0] == lhs_spec.rank - 1:
            if rhs_contract[0] == 1:
                rhs = ctx.b.Transpose(rhs, perm=[1, 0])
            return [ctx.b.MatMul(lhs, rhs)]

    lhs_shape, rhs_shape = lhs_spec.shape, rhs_spec.shape
    batch = [lhs_shape[d] for d in lhs_batch]
    m = [lhs_shape[d] for d in lhs_free]
    n = [rhs_shape[d] for d in rhs_free]
    k = [lhs_shape[d] for d in lhs_contract]
    lhs = _to_layout(ctx, lhs, lhs_batch + lhs_free + lhs_contract, lhs_shape,
                     batch + [math.prod(m), math.prod(k)])
    rhs = _to_layout(ctx, rhs, rhs_batch + rhs_contract + rhs_free, rhs_shape,
                     batch + [math.prod(k), math.prod(n)])
    product = ctx.b.MatMul(lhs, rhs)
    if batch + m + n != batch + [math.prod(m), math.prod(n)]:
        product = ctx.b.Reshape(product, ctx.i64(out.shape))
    return [product]


def _to_layout(ctx: LoweringContext, x: ir.Value, perm: list[int], shape: tuple,
               target: list[int]) -> ir.Value:
    if perm != list(range(len(perm))):
        x = ctx.b.Transpose(x, perm=perm)
    if [shape[p] for p in perm] != target:
        x = ctx.b.Reshape(x, ctx.i64(target))
    return x
