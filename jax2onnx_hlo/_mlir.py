"""The one place that imports JAX's private modules (the MLIR bindings, source info).

jaxlib ships the MLIR Python bindings with the stablehlo, chlo and func dialects, and JAX
builds its own context with them registered. These modules are private, so every other
module goes through the names exported here.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from jax._src import source_info_util
from jax._src.interpreters.mlir import make_ir_context
from jax._src.lib import _jax
from jax._src.lib.mlir import ir, passmanager
from jax._src.lib.mlir.dialects import hlo

__all__ = [
    "MLIRError",
    "SourceLocation",
    "conversion_caches",
    "deserialize_portable_artifact",
    "hlo",
    "ir",
    "location_name",
    "make_ir_context",
    "memoized",
    "parse_module",
    "run_mlir_passes",
    "source_location",
    "stablehlo_version",
    "string_attr",
    "symbol_ref",
]

MLIRError = ir.MLIRError


# Our tracing wrappers are not the user's code: source locations skip past them.
source_info_util.register_exclusion(os.path.dirname(__file__))


# ---- per-conversion caches -----------------------------------------------------------------
# MLIR uniques types and attributes in their context, and their Python objects hash and
# compare by that identity: a module of thousands of ops has a few dozen distinct types
# and locations. While a conversion runs, what is derived from them (TensorSpecs, parsed
# locations) is computed once each. A key keeps its context alive, so no other object
# can take its address while it is cached; the caches are dropped when the outermost
# conversion ends, so no context outlives its conversion.
_caches: dict[str, dict[Any, Any]] | None = None


@contextlib.contextmanager
def conversion_caches() -> Iterator[None]:
    """Within it, `cache_for` gives caches that live until the outermost one ends."""
    global _caches
    outermost = _caches is None
    if outermost:
        _caches = {}
    try:
        yield
    finally:
        if outermost:
            _caches = None


def memoized(kind: str, key: Any, compute: Callable[[], Any]) -> Any:
    """compute(), memoized under `key` in the running conversion's cache of `kind`;
    outside `conversion_caches`, computed every time."""
    caches = _caches
    if caches is None:
        return compute()
    cache = caches.get(kind)
    if cache is None:
        cache = caches[kind] = {}
    found = cache.get(key)
    if found is None:
        found = cache[key] = compute()
    return found


def deserialize_portable_artifact(data: bytes) -> ir.Module:
    """Reads a StableHLO portable artifact (what `Exported.mlir_module_serialized` holds)."""
    return _jax.mlir.deserialize_portable_artifact(data)


def parse_module(source: str | bytes) -> ir.Module:
    """Parses MLIR text or (non-portable) MLIR bytecode in the current context."""
    return ir.Module.parse(source)


def stablehlo_version() -> tuple[int, int, int]:
    """The newest StableHLO portable-artifact version this jaxlib reads."""
    major, minor, patch = hlo.get_current_version().split(".")
    return int(major), int(minor), int(patch)


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


# A named location, not a file one (`loc("file.py":3:1)`): no `:line` after the string.
_NAME = re.compile(r'loc\("((?:[^"\\]|\\.)*)"(?!:\d)')
_FILE_LINE = re.compile(r'"((?:[^"\\]|\\.)*)":(\d+):\d+')


def source_location(location: ir.Location) -> SourceLocation:
    """Parses the scope name and the innermost user frame (file:line) of a location.

    The printed form is parsed; JAX writes `loc("scope"(callsite("fn"("file":line:col) at
    ...)))`. Memoized per location while a conversion runs.
    """
    return memoized("location", location.attr, lambda: _parse_location(location))


def _parse_location(location: ir.Location) -> SourceLocation:
    text = str(location)
    name = _NAME.match(text)
    scope = name.group(1) if name else ""
    frame = _FILE_LINE.search(text)
    if frame is None:
        return SourceLocation(scope, None, None)
    return SourceLocation(scope, frame.group(1), int(frame.group(2)))


def location_name(location: ir.Location) -> str | None:
    """The name of a named location: `x` for `loc("x")` (how JAX names arguments)."""
    name = _NAME.match(str(location))
    return name.group(1) if name else None


def run_mlir_passes(operation: ir.Operation, passes: list[str]) -> None:
    """Runs an MLIR pass pipeline (`passes`, each a pass or a `func.func(...)` nest) on a
    module operation, in place."""
    passmanager.PassManager.parse(f"builtin.module({','.join(passes)})").run(operation)
