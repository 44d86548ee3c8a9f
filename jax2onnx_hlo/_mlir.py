"""The one place that imports JAX's private modules (the MLIR bindings, source info).

jaxlib ships the MLIR Python bindings with the stablehlo, chlo and func dialects, and JAX
builds its own context with them registered. These modules are private, so every other
module goes through the names exported here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from jax._src import source_info_util
from jax._src.interpreters.mlir import make_ir_context
from jax._src.lib import _jax
from jax._src.lib.mlir import ir
from jax._src.lib.mlir.dialects import hlo

__all__ = [
    "SourceLocation",
    "deserialize_portable_artifact",
    "hlo",
    "ir",
    "make_ir_context",
    "source_location",
    "string_attr",
    "symbol_ref",
]


# Our tracing wrappers are not the user's code: source locations skip past them.
source_info_util.register_exclusion(os.path.dirname(__file__))


def deserialize_portable_artifact(data: bytes) -> ir.Module:
    """Reads a StableHLO portable artifact (what `Exported.mlir_module_serialized` holds)."""
    return _jax.mlir.deserialize_portable_artifact(data)


def string_attr(attr: ir.Attribute) -> str:
    return ir.StringAttr(attr).value


def symbol_ref(attr: ir.Attribute) -> str:
    return ir.FlatSymbolRefAttr(attr).value


@dataclass(frozen=True)
class SourceLocation:
    """What an MLIR location says about the JAX code that produced an op."""

    scope: str  # the name stack, e.g. "jit(f)/MyModel/Linear/dot_general"
    file: str | None
    line: int | None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else "unknown source"
        return f"{where} ({self.scope})" if self.scope else where


_NAME = re.compile(r'loc\("((?:[^"\\]|\\.)*)"')
_FILE_LINE = re.compile(r'"((?:[^"\\]|\\.)*)":(\d+):\d+')


def source_location(location: ir.Location) -> SourceLocation:
    """Parses the scope name and the innermost user frame (file:line) of a location.

    The bindings give no structured accessors for named/callsite locations, so the printed
    form is parsed; JAX writes `loc("scope"(callsite("fn"("file":line:col) at ...)))`.
    """
    text = str(location)
    name = _NAME.match(text)
    scope = name.group(1) if name else ""
    frame = _FILE_LINE.search(text)
    if frame is None:
        return SourceLocation(scope, None, None)
    return SourceLocation(scope, frame.group(1), int(frame.group(2)))
