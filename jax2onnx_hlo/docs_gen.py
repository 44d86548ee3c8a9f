"""Generates docs/supported_ops.md from the rule registry (`--check` fails if stale)."""

from __future__ import annotations

import argparse
import functools
import inspect
import sys
from pathlib import Path

from jax2onnx_hlo.lowering import rule_for, supported_ops

DOC = Path(__file__).resolve().parent.parent / "docs" / "supported_ops.md"


def _mapping(name: str) -> str:
    """What the rule's docstring says the op becomes (its text after "op ->")."""
    rule = rule_for(name)
    if isinstance(rule, functools.partial):  # a family helper bound to its ONNX op(s)
        return " / ".join(a for a in rule.args if isinstance(a, str))
    summary = " ".join((inspect.getdoc(rule) or "").split("\n\n")[0].split())
    return summary.split("->", 1)[-1].strip().replace("|", "\\|")


def render() -> str:
    lines = [
        "# Supported StableHLO ops",
        "",
        "Generated from the lowering registry by `python -m jax2onnx_hlo.docs_gen`; "
        "do not edit by hand.",
        "",
        "| op | ONNX |",
        "| --- | --- |",
    ]
    lines += [f"| `{name}` | {_mapping(name)} |" for name in supported_ops()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run python -m jax2onnx_hlo.docs_gen", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
