"""Dead code removal: onnx_ir's RemoveUnusedNodesPass (onnx_ir 1.1), with its result and
in less time.

The pass visits every node from the last; a node whose outputs are all used stays, and it
then looks up the node's ONNX schema (`onnx.defs.get_schema`, the most of the pass's time)
to drop unused optional outputs. A node whose outputs are all used and named has none to
drop: `remove_unused_nodes` skips the lookup there, and otherwise calls the pass's own
(private) helpers, so that what it removes and renames stays the pass's.
"""

from __future__ import annotations

import onnx_ir as ir
from onnx_ir.passes.common import unused_removal

__all__ = ["remove_unused_nodes"]


def remove_unused_nodes(model: ir.Model) -> int:
    """As `RemoveUnusedNodesPass()(model)`: removes the nodes whose outputs nothing uses,
    then the unused initializers, then the dead nodes of functions; returns the count."""
    graph = model.graph
    count = _remove_in(graph)
    graph_outputs = frozenset(graph.outputs)
    graph_inputs = frozenset(graph.inputs)
    for initializer in list(graph.initializers.values()):
        if not (initializer.uses() or initializer in graph_outputs
                or initializer in graph_inputs):
            del graph.initializers[initializer.name]
            count += 1
    for function in model.functions.values():
        count += _remove_in(function)
    return count


def _remove_in(graph: ir.Graph | ir.Function, opset_version: int | None = None, *,
               is_subgraph: bool = False) -> int:
    """The pass's `_remove_unused_nodes_in_graph_like`, less the schema lookups that
    change nothing (see _has_no_unused_outputs)."""
    graph_outputs = frozenset(graph.outputs)
    if not is_subgraph:
        opset_version = graph.opset_imports.get("", opset_version)
    count = 0
    for node in reversed(graph):
        if not any(output in graph_outputs or output.uses() for output in node.outputs):
            graph.remove(node, safe=True)
            count += 1
            continue
        inputs = node.inputs
        if inputs and inputs[-1] is None:
            unused_removal._remove_trailing_empty_inputs(node)
        if opset_version is not None and not _has_no_unused_outputs(node, graph_outputs):
            unused_removal._remove_unused_optional_outputs(node, graph_outputs, opset_version)
        for attribute in node.attributes.values():
            if attribute.type == ir.AttributeType.GRAPH:
                count += _remove_in(attribute.as_graph(), opset_version, is_subgraph=True)
            elif attribute.type == ir.AttributeType.GRAPHS:
                for subgraph in attribute.as_graphs():
                    count += _remove_in(subgraph, opset_version, is_subgraph=True)
    return count


def _has_no_unused_outputs(node: ir.Node, graph_outputs: frozenset[ir.Value]) -> bool:
    """Whether `_remove_unused_optional_outputs` would leave node as it is: it only renames
    unused outputs to "" and then drops trailing unnamed ones, and BatchNormalization is
    its one op with more to it (its training_mode attribute)."""
    if node.op_type == "BatchNormalization":
        return False
    return all(output.name and (output in graph_outputs or output.uses())
               for output in node.outputs)
