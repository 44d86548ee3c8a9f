"""The lowering registry: one small rule per StableHLO op (or composite / custom call).

A rule is `rule(ctx, *operands) -> list[ir.Value]`, registered with `@lowers(name)`.
Keys are exact op names (`stablehlo.add`), composite names (`chlo.erf`, which also serve a
bare `chlo.erf` op), and custom calls as `stablehlo.custom_call@<call_target_name>`.
Rule modules are imported explicitly at the bottom so that a broken module fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CUSTOM_CALL", "Rule", "lowers", "rule_for", "supported_ops"]

Rule = Callable[..., list]
CUSTOM_CALL = "stablehlo.custom_call"

_RULES: dict[str, Rule] = {}


def registrar(table: dict[str, Rule], kind: str) -> Callable[..., Callable[[Rule], Rule]]:
    """A decorator factory registering rules in `table` by op name, refusing a second rule
    for one name (`kind` names the table in that error)."""

    def registers(*names: str) -> Callable[[Rule], Rule]:
        def register(rule: Rule) -> Rule:
            for name in names:
                if name in table:
                    raise ValueError(
                        f"{name} already has a {kind} ({table[name].__module__}."
                        f"{table[name].__qualname__}); refusing to register "
                        f"{rule.__module__}.{rule.__qualname__}"
                    )
                table[name] = rule
            return rule

        return register

    return registers


_register = registrar(_RULES, "lowering rule")
_CONDITIONS: dict[str, Callable[[Any], bool]] = {}


def lowers(*names: str, only_where: Callable[[Any], bool] | None = None
           ) -> Callable[[Rule], Rule]:
    """Registers the decorated function as the rule for each of `names`. `only_where(op)`
    (an MLIR OpView): the rule lowers only the ops for which it holds; to the walker and
    its up-front scan the others have no rule (chlo.erfc: only inside exact gelu)."""
    register = _register(*names)

    def decorate(rule: Rule) -> Rule:
        register(rule)
        if only_where is not None:
            _CONDITIONS.update(dict.fromkeys(names, only_where))
        return rule

    return decorate


def rule_for(name: str, op: Any = None) -> Rule | None:
    """The rule registered for `name`; given the op, None where the rule's `only_where`
    excludes it."""
    condition = _CONDITIONS.get(name)
    if condition is not None and op is not None and not condition(op):
        return None
    return _RULES.get(name)


def supported_ops() -> list[str]:
    return sorted(_RULES)


# Rule modules, imported for their registrations.
from . import (  # noqa: E402, F401
    bitcast,
    bitwise,
    chlo,
    complex,
    complex_elementwise,
    complex_fft,
    complex_structure,
    composites,
    control_flow,
    convolution,
    cumulative,
    dot,
    dynamic_shape,
    elementwise,
    gather,
    reduce,
    rng,
    scatter,
    shape,
    sort,
    windows,
)
