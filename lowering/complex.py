"""Complex numbers: their representation, the registry of complex rules, and shared helpers.

Representation: a complex64 (complex128) StableHLO tensor of shape S is, in the ONNX graph,
a float32 (float64) tensor of shape S + [2] holding the real and imaginary parts on a
trailing axis, as ONNX DFT produces. ONNX Runtime has kernels for almost no op on ONNX's
own complex types, so none ever appears in a graph. Complex graph inputs and outputs are
exposed the same way (`np.stack([z.real, z.imag], -1)`); the walker types every complex
result so (`types.onnx_spec`).

Registry: an op with a complex operand or result is lowered by the rule registered here
with `@lowers_complex(name)` (in lowering/complex_*.py), never by the ordinary rule, which
would take the trailing pair axis for data. Ops with no complex rule are refused before
conversion (`<op> on complex values`, lowering/refusals.py).

Ops that are linear in their complex operands and only move or select elements (reshape,
slice, add, select, ...) reuse the ordinary rule through `on_parts`: once on the real
parts, once on the imaginary parts, with the op's types seen as the parts' float types.

This module also keeps real and imag of *real* operands (StableHLO allows them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from . import Rule, lowers, registrar, rule_for
from .context import LoweringContext
from .types import component_spec

__all__ = ["complex_ops", "complex_rule_for", "lowers_complex", "on_parts", "pack", "parts"]

_COMPLEX_RULES: dict[str, Rule] = {}


# Registers the decorated function as the rule for `names` on complex values.
lowers_complex = registrar(_COMPLEX_RULES, "complex rule")


def complex_rule_for(name: str) -> Rule | None:
    return _COMPLEX_RULES.get(name)


def complex_ops() -> list[str]:
    return sorted(_COMPLEX_RULES)


# ---- helpers -------------------------------------------------------------------------


def parts(ctx: LoweringContext, z: ir.Value) -> tuple[ir.Value, ir.Value]:
    """The real and imaginary parts of a complex value (a float [..., 2] pair)."""
    if z.const_value is not None:  # constant parts stay constants, so folding sees them
        array = z.const_value.numpy()
        return ctx.const(array[..., 0]), ctx.const(array[..., 1])
    return ctx.b.Gather(z, ctx.i64(0), axis=-1), ctx.b.Gather(z, ctx.i64(1), axis=-1)


def pack(ctx: LoweringContext, re: ir.Value, im: ir.Value) -> ir.Value:
    """The complex value (float [..., 2] pair) with parts `re` and `im` of equal shape."""
    if re.const_value is not None and im.const_value is not None:
        return ctx.const(np.stack([re.const_value.numpy(), im.const_value.numpy()], -1))
    last = ctx.i64([-1])
    return ctx.b.Concat(ctx.b.Unsqueeze(re, last), ctx.b.Unsqueeze(im, last), axis=-1)


def split(ctx: LoweringContext, operands: Sequence[ir.Value]
          ) -> list[tuple[ir.Value, ir.Value | None]]:
    """(real, imaginary) parts of each operand; a real operand has None for its imag."""
    return [parts(ctx, v) if spec.is_complex else (v, None)
            for v, spec in zip(operands, ctx.operand_specs)]


def parts_view(ctx: LoweringContext) -> LoweringContext:
    """The op seen with each complex type replaced by the float type of its parts."""
    return ctx.with_specs([component_spec(s) for s in ctx.operand_specs],
                          [component_spec(s) for s in ctx.result_specs])


def on_parts(rule: Rule, ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """Runs the real `rule` on the real parts, then on the imaginary parts, and packs.

    Only right for ops that are linear in their complex operands and whose real operands
    (indices, predicates, sizes) mean the same for both parts.
    """
    pairs, view = split(ctx, operands), parts_view(ctx)
    re = rule(view, *[p[0] for p in pairs])
    im = rule(view, *[p[0] if p[1] is None else p[1] for p in pairs])
    return [pack(ctx, r, i) if spec.is_complex else r
            for r, i, spec in zip(re, im, ctx.result_specs)]


def reuse(name: str) -> Rule:
    """The ordinary rule of `name`, looked up when called (its module may load later)."""
    return lambda ctx, *operands: rule_for(name)(ctx, *operands)


# ---- real and imag of real operands ----------------------------------------------------


@lowers("stablehlo.real")
def real(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.real of a real operand -> the operand.

    Limits: complex operands go to the complex rule (complex_elementwise.py).
    """
    return [x]


@lowers("stablehlo.imag")
def imag(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.imag of a real operand -> zeros.

    Limits: complex operands go to the complex rule (complex_elementwise.py).
    """
    return [ctx.b.Expand(ctx.scalar_like(0, ctx.out), ctx.b.Shape(x))]
