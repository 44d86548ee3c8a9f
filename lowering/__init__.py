"""The lowering registry: one small rule per StableHLO op (or composite / custom call).

A rule is `rule(ctx, *operands) -> list[ir.Value]`, registered with `@lowers(name)`.
Keys are exact op names (`stablehlo.add`), composite names (`chlo.erf`, which also serve a
bare `chlo.erf` op), and custom calls as `stablehlo.custom_call@<call_target_name>`.
Rule modules are imported explicitly at the bottom so that a broken module fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable

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


# @lowers(*names): registers the decorated function as the rule for each of `names`.
lowers = registrar(_RULES, "lowering rule")


def rule_for(name: str) -> Rule | None:
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
