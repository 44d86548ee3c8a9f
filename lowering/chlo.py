"""CHLO ops the walker lowers where JAX's lowering has them, instead of the decomposition
into StableHLO that a jax.export artifact holds; trace.py keeps a module's CHLO ops for
the walker only where it has a rule for every one of them.

- chlo.square (real): x * x, which is its decomposition.
- chlo.erfc where it stands in jax.nn.gelu(approximate=False), `0.5 * x * erfc(-x * √½)`,
  written as JAX writes it (the operand order of GeluErfcFusion's pattern). Decomposed,
  erfc is a polynomial of about 60 ops, which GeluErfcFusion folds back into one Gelu: a
  third of BERT's first graph was those polynomials. The rule writes erfc(z) as
  1 - erf(z), which the same fusion folds into the same Gelu (opset >= 20). Written out
  (opset < 20, no Gelu), 0.5 * x * (1 - erf(z)) is Gelu's own formula (ONNX's function
  body, ONNX Runtime's kernel), precise to float32's absolute precision of gelu's values:
  for x below about -5 the product comes out 0 where JAX's is a tiny negative number
  (its relative precision is lost, as in ONNX Runtime's Gelu). An erfc anywhere else has
  no rule: 1 - erf(z) loses all precision for z > 4.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .constants import dense_to_numpy
from .context import LoweringContext
from .types import tensor_spec

__all__ = ["is_gelu_erfc"]

_SQRT_HALF = float(np.float32(math.sqrt(0.5)))  # as JAX writes it for float32


@lowers("chlo.square")
def square(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """chlo.square (real) -> Mul(x, x)."""
    return [ctx.b.Mul(x, x)]


def is_gelu_erfc(op: mlir.OpView) -> bool:
    """Whether `op`, a chlo.erfc on float32, is erfc(negate(x) * √½) and every use of it is
    (0.5 * x) * erfc, in that order: the erfc of JAX's exact gelu."""
    result = op.operation.results[0]
    if not isinstance(mlir.RankedTensorType(result.type).element_type, mlir.F32Type):
        return False
    scaled = _factors(op.operation.operands[0])
    if scaled is None or _producer_name(scaled[0]) != "stablehlo.negate" \
            or _splat(scaled[1]) != _SQRT_HALF:
        return False
    x = scaled[0].owner.operation.operands[0]
    uses = list(result.uses)
    return bool(uses) and all(_is_half_x_times(use, x) for use in uses)


def _is_half_x_times(use: mlir.OpOperand, x: mlir.Value) -> bool:
    """Whether `use` is the right operand of a stablehlo.multiply whose left one is 0.5 * x."""
    user = use.owner.operation
    if user.name != "stablehlo.multiply" or use.operand_number != 1:
        return False
    half_x = _factors(user.operands[0])
    return half_x is not None and _splat(half_x[0]) == 0.5 and half_x[1] == x


def _factors(value: mlir.Value) -> tuple[mlir.Value, mlir.Value] | None:
    if _producer_name(value) != "stablehlo.multiply":
        return None
    a, b = value.owner.operation.operands
    return a, b


def _splat(value: mlir.Value) -> float | None:
    """The one value of a float splat constant, also broadcast from a scalar, else None."""
    if _producer_name(value) == "stablehlo.broadcast_in_dim":
        value = value.owner.operation.operands[0]
    if _producer_name(value) != "stablehlo.constant":
        return None
    spec, attr = tensor_spec(value.type), value.owner.operation.attributes["value"]
    if not spec.is_float or not mlir.DenseElementsAttr(attr).is_splat:
        return None
    return float(dense_to_numpy(attr, spec).flat[0])  # (a splat is read without copies)


def _producer_name(value: mlir.Value) -> str | None:
    return value.owner.operation.name if isinstance(value, mlir.OpResult) else None


@lowers("chlo.erfc", only_where=is_gelu_erfc)
def erfc(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """chlo.erfc -> 1 - Erf(z), which GeluErfcFusion folds into Gelu.

    Limits: only the erfc of jax.nn.gelu(approximate=False) on float32, the one place JAX's
    lowering keeps it for the walker; elsewhere erfc comes decomposed into StableHLO, as a
    jax.export artifact holds it."""
    return [ctx.b.Sub(ctx.scalar_like(1.0, ctx.out), ctx.b.Erf(z))]
