"""real and imag of real operands (StableHLO allows them; JAX only emits them on complex
values). Complex numbers themselves are refused before conversion (lowering/refusals.py):
ONNX has complex64/complex128 types, but ONNX Runtime has kernels for almost no op on
them. A float tensor with a trailing (real, imag) axis of 2, as ONNX DFT produces, is the
representation to build when complex support lands; the walker would type complex MLIR
results that way.
"""

from __future__ import annotations

import onnx_ir as ir

from . import lowers
from .context import LoweringContext


@lowers("stablehlo.real")
def real(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.real of a real operand -> the operand.

    Limits: complex operands are refused before conversion (no complex representation).
    """
    return [x]


@lowers("stablehlo.imag")
def imag(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.imag of a real operand -> zeros.

    Limits: complex operands are refused before conversion (no complex representation).
    """
    return [ctx.b.Expand(ctx.scalar_like(0, ctx.out), ctx.b.Shape(x))]
