"""CHLO ops the walker lowers where JAX's lowering has them (WALKER_LOWERS_CHLO), instead
of the decomposition into StableHLO that a jax.export artifact holds.

trace.py keeps a module's CHLO ops for the walker only where every one of them passes its
check here; otherwise the module is decomposed as the artifact is.

- chlo.square (real): x * x, which is its decomposition.
- chlo.erfc where it stands in jax.nn.gelu(approximate=False), `0.5 * x * erfc(-x * √½)`.
  Decomposed, it is a polynomial of about 60 ops, which fusions.py's GeluErfcFusion folds
  back into one Gelu: a third of BERT's first graph is those polynomials. The rule writes
  erfc(z) as 1 - erf(z), which the same fusion folds into the same Gelu. Written out
  (opset < 20, no Gelu), 0.5 * x * (1 - erf(z)) is Gelu's own formula (ONNX's function
  body, ONNX Runtime's kernel): erfc's relative precision is lost for x < 0 only where
  the product is below float32's absolute precision of gelu's values. An erfc anywhere
  else has no rule: 1 - erf(z) loses all precision for z > 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import lowers
from .context import LoweringContext

__all__ = ["WALKER_LOWERS_CHLO"]

_SQRT_HALF = float(np.float32(math.sqrt(0.5)))  # as JAX writes it for float32


@lowers("chlo.square")
def square(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """chlo.square (real) -> Mul(x, x)."""
    return [ctx.b.Mul(x, x)]


@lowers("chlo.erfc")
def erfc_in_gelu(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """chlo.erfc -> 1 - Erf(z), which GeluErfcFusion folds into Gelu.

    Limits: only the erfc of jax.nn.gelu(approximate=False) on float32, the one place JAX's
    lowering keeps it for the walker; elsewhere erfc comes decomposed into StableHLO, as a
    jax.export artifact holds it."""
    if not is_gelu_erfc(ctx.op):
        raise ctx.error(
            "chlo.erfc is lowered only inside jax.nn.gelu(approximate=False) on float32, "
            "where 1 - erf(z) is precise enough; elsewhere convert the program's "
            "jax.export artifact, which decomposes erfc into StableHLO (to_onnx does)"
        )
    return [ctx.b.Sub(ctx.scalar_like(1.0, ctx.out), ctx.b.Erf(z))]


def is_gelu_erfc(op: mlir.OpView) -> bool:
    """Whether `op`, a chlo.erfc on float32, computes erfc(-x * √½) and every use of it is
    a product with 0.5 * x: the erfc of JAX's exact gelu."""
    result = op.operation.results[0]
    if not isinstance(mlir.RankedTensorType(result.type).element_type, mlir.F32Type):
        return False
    x = _negated_operand(op.operation.operands[0])
    if x is None:
        return False
    uses = list(result.uses)
    return bool(uses) and all(_times_half_of(use, x) for use in uses)


def _negated_operand(z: mlir.Value) -> mlir.Value | None:
    """x where z = negate(x) * √½ (either order), else None."""
    factors = _factors(z)
    if factors is None:
        return None
    for negated, other in (factors, factors[::-1]):
        if _producer_name(negated) == "stablehlo.negate" and _splat(other) == _SQRT_HALF:
            return negated.owner.operation.operands[0]
    return None


def _times_half_of(use: mlir.OpOperand, x: mlir.Value) -> bool:
    """Whether `use` is a stablehlo.multiply by (x * 0.5) or (0.5 * x)."""
    user = use.owner.operation
    if user.name != "stablehlo.multiply":
        return False
    half_x = _factors(user.operands[1 - use.operand_number])
    return half_x is not None and any(
        a == x and _splat(b) == 0.5 for a, b in (half_x, half_x[::-1]))


def _factors(value: mlir.Value) -> tuple[mlir.Value, mlir.Value] | None:
    if _producer_name(value) != "stablehlo.multiply":
        return None
    a, b = value.owner.operation.operands
    return a, b


def _splat(value: mlir.Value) -> float | None:
    """The one value of a splat constant, also broadcast from a scalar, else None."""
    if _producer_name(value) == "stablehlo.broadcast_in_dim":
        value = value.owner.operation.operands[0]
    if _producer_name(value) != "stablehlo.constant":
        return None
    attr = value.owner.operation.attributes["value"]
    if not isinstance(attr, mlir.DenseFPElementsAttr) or not attr.is_splat:
        return None
    return mlir.FloatAttr(attr.get_splat_value()).value


def _producer_name(value: mlir.Value) -> str | None:
    return value.owner.operation.name if isinstance(value, mlir.OpResult) else None


def _is_real(op: mlir.OpView) -> bool:
    return "complex<" not in str(op.operation.results[0].type)


# CHLO op -> whether the rule above lowers this one
WALKER_LOWERS_CHLO: dict[str, Callable[[mlir.OpView], bool]] = {
    "chlo.square": _is_real,
    "chlo.erfc": is_gelu_erfc,
}
