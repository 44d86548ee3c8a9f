"""Value names unique across a graph and all its subgraphs, as ONNX Runtime requires.

onnx_ir's NameFixPass keeps names unique within a graph and against its parents, but
forgets a subgraph's names when it leaves it: a later value of the outer graph may take a
name used inside an earlier Loop body, and ONNX Runtime then rejects the model ("Graph
must be in single static assignment (SSA) form"). This pass, run after it, renames every
value whose name an earlier, different value already has anywhere in the same graph tree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import onnx_ir as ir

__all__ = ["make_names_unique"]


def make_names_unique(model: ir.Model) -> int:
    """Renames the values of the main graph and of each function (each its own tree of
    subgraphs) so that no two values of one tree share a name; returns the count renamed."""
    return sum(_make_unique(graph) for graph in (model.graph, *model.functions.values()))


def _make_unique(root: ir.Graph | ir.Function) -> int:
    used: set[str] = set()
    seen: set[int] = set()
    renamed = 0
    for value in _values(root):
        if id(value) in seen:  # listed twice (an initializer that is also a graph input)
            continue
        seen.add(id(value))
        if value.name is None:
            continue
        if value.name in used:
            stem = value.name
            value.name = next(name for name in (f"{stem}_{i}" for i in itertools.count(1))
                              if name not in used)
            renamed += 1
        used.add(value.name)
    return renamed


def _values(graph: ir.Graph | ir.Function) -> Iterator[ir.Value]:
    """Every value a graph defines, in order, with its subgraphs' values where they occur."""
    yield from graph.inputs
    if isinstance(graph, ir.Graph):
        yield from graph.initializers.values()
    for node in graph:
        for attribute in node.attributes.values():
            if attribute.type == ir.AttributeType.GRAPH:
                yield from _values(attribute.value)
            elif attribute.type == ir.AttributeType.GRAPHS:
                for subgraph in attribute.value:
                    yield from _values(subgraph)
        yield from node.outputs
