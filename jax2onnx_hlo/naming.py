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
import onnx_ir.passes.common as common

__all__ = ["fix_names", "make_names_unique"]

_SUBGRAPH_ATTRIBUTES = (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)


def fix_names(model: ir.Model) -> None:
    """onnx_ir's NameFixPass, which names unnamed values and nodes and renames duplicates,
    run only where it has something to do: most calls find every name set and unique, and
    walking the values to check that costs a fraction of the pass's own walk."""
    if not all(_names_fixed(graph) for graph in (model.graph, *model.functions.values())):
        common.NameFixPass()(model)


def _names_fixed(graph: ir.Graph | ir.Function) -> bool:
    """Whether NameFixPass would leave this graph as it is: its values have distinct,
    non-empty names, and so do its nodes. False also where the answer would take longer
    to find (subgraphs, whose scopes the pass handles in its own way; an input that is
    not a graph input, an initializer or an earlier node's output): the pass decides."""
    values_by_name: dict[str | None, ir.Value] = {}
    defined = [*graph.inputs, *graph.initializers.values()] if isinstance(graph, ir.Graph) \
        else graph.inputs
    for value in defined:
        if not value.name or values_by_name.setdefault(value.name, value) is not value:
            return False
    node_names: set[str] = set()
    for node in graph:
        name = node.name
        if not name or name in node_names:
            return False
        node_names.add(name)
        if node.attributes and any(attribute.type in _SUBGRAPH_ATTRIBUTES
                                   for attribute in node.attributes.values()):
            return False
        for value in node.inputs:
            if value is not None and values_by_name.get(value.name) is not value:
                return False
        for value in node.outputs:
            name = value.name
            if not name or name in values_by_name:
                return False
            values_by_name[name] = value
    return all(values_by_name.get(value.name) is value for value in graph.outputs)


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
