"""Which rule lowers an op: the registry key of a StableHLO op and the rule registered
for it, from the complex registry when the op touches complex values."""

from __future__ import annotations

from jax2onnx_hlo.lowering import CUSTOM_CALL, Rule, rule_for
from jax2onnx_hlo.lowering.complex import complex_rule_for

from ._mlir import ir as mlir
from ._mlir import memoized, string_attr

__all__ = ["COMPOSITE", "STRUCTURAL_OPS", "rule_key", "select_rule", "touches_complex"]

# Ops the walker handles itself rather than through a rule.
STRUCTURAL_OPS = frozenset({"func.return", "stablehlo.return"})
COMPOSITE = "stablehlo.composite"


def rule_key(op: mlir.OpView) -> str:
    """The registry key of an op: its name, or `stablehlo.custom_call@<target>`."""
    name = op.operation.name
    if name == CUSTOM_CALL:
        return f"{name}@{string_attr(op.attributes['call_target_name'])}"
    return name


def _composite_rule_name(op: mlir.OpView) -> str:
    return string_attr(op.attributes["name"])


def select_rule(op: mlir.OpView) -> tuple[str, Rule | None]:
    """The registry key of an op and its rule: from the complex registry when the op has a
    complex operand or result (lowering/complex.py), else from the ordinary one. A
    composite with a rule of its own (chlo.erf) is keyed by its name."""
    if touches_complex(op):
        lookup = complex_rule_for
    else:
        def lookup(name: str) -> Rule | None:
            return rule_for(name, op)  # the rule's only_where asks the op
    key = rule_key(op)
    if op.operation.name == COMPOSITE and lookup(_composite_rule_name(op)):
        key = _composite_rule_name(op)
    return key, lookup(key)


def touches_complex(op: mlir.OpView) -> bool:
    return any(_is_complex(v.type) for v in op.operands) or \
        any(_is_complex(r.type) for r in op.results)


def _is_complex(mlir_type: mlir.Type) -> bool:
    """Whether a type has complex elements, memoized while a conversion runs."""
    return memoized("is_complex", mlir_type, lambda: "complex<" in str(mlir_type))
