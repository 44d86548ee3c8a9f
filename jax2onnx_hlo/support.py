"""The up-front scan for ops without a rule: one error that names them all, with counts,
the first source line and, for ops refused on purpose, the reason."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from jax2onnx_hlo.lowering.refusals import COMPLEX, refusal_for

from ._mlir import SourceLocation, source_location, string_attr, symbol_ref
from ._mlir import ir as mlir
from .errors import ConversionError
from .functions import MARKER
from .rule_selection import COMPOSITE, STRUCTURAL_OPS, touches_complex

if TYPE_CHECKING:
    from .convert import ModuleLowering

__all__ = ["check_supported", "unsupported_ops"]


def unsupported_ops(module: ModuleLowering) -> dict[str, tuple[int, SourceLocation]]:
    """Every op reachable from the entry function without a rule: key -> (count, first loc)."""
    counts: Counter[str] = Counter()
    first: dict[str, SourceLocation] = {}
    visited: set[str] = set()

    def scan_function(name: str, caller: SourceLocation | None) -> None:
        if name in visited or name not in module.functions:
            return
        visited.add(name)
        scan_region(module.functions[name].regions[0], caller)

    def scan_region(region: mlir.Region, caller: SourceLocation | None) -> None:
        for block in region.blocks:
            for op in block.operations:
                scan_op(op, caller)

    def scan_op(op: mlir.OpView, caller: SourceLocation | None) -> None:
        name = op.operation.name
        if name in STRUCTURAL_OPS:
            return
        key, rule = module.rule_of(op)
        # An @onnx_function body is lowered, not replaced: its ops need rules too.
        if name == COMPOSITE and key not in (COMPOSITE, MARKER):
            return  # a composite with a rule of its own
        if name == COMPOSITE:
            scan_function(symbol_ref(op.attributes["decomposition"]), _site(op, caller))
        elif name == "func.call":
            scan_function(symbol_ref(op.attributes["callee"]), _site(op, caller))
        elif rule is None:
            key = f"{key} {COMPLEX}" if touches_complex(op) else key
            counts[key] += 1
            first.setdefault(key, _site(op, caller))
        for region in op.regions:
            scan_region(region, _site(op, caller))

    scan_function(string_attr(module.entry.attributes["sym_name"]), None)
    return {k: (counts[k], first[k]) for k in sorted(counts)}


def _site(op: mlir.OpView, caller: SourceLocation | None) -> SourceLocation:
    """Where an op comes from; ops in private functions often lack a file location: then
    the call site's."""
    location = source_location(op.location)
    return caller if location.file is None and caller is not None else location


def check_supported(module: ModuleLowering) -> None:
    missing = unsupported_ops(module)
    if not missing:
        return
    lines = []
    for key, (count, loc) in missing.items():
        reason = refusal_for(key)
        lines.append(f"  {key} x{count}, first at {loc}" + (f": {reason}" if reason else ""))
    raise ConversionError(
        f"{len(missing)} StableHLO op(s) in this program have no ONNX lowering:\n"
        + "\n".join(lines)
        + "\nRewrite the code that produces them, or open an issue with this message. "
        "`jax2onnx-hlo inspect` lists the ops of a saved module."
    )
