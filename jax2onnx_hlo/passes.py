"""Post-conversion passes over the onnx_ir model, built on onnx_ir and onnxscript."""

from __future__ import annotations

import ast
from collections.abc import Collection

import onnx_ir as ir
import onnx_ir.passes.common as common
import onnxscript.optimizer

__all__ = ["drop_broadcasting_expands", "restore_weight_names", "run_passes"]

# ONNX ops that broadcast their inputs numpy-style (multidirectional broadcasting).
_BROADCASTING_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Where", "And", "Or", "Xor",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "BitShift", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor", "PRelu",
})


def run_passes(model: ir.Model, weight_names: Collection[str] = ()) -> ir.Model:
    """Cleans and folds the walker's output.

    broadcast_in_dim lowers to Expand, which elementwise ops do not need: those Expands go
    first, so that folding does not bake a batch-sized copy of every bias or relu zero
    into the model. Then the onnxscript optimizer folds constants and removes dead code,
    and every value gets a unique name.
    """
    common.RemoveUnusedNodesPass()(model)
    common.NameFixPass()(model)  # folded values become initializers: names must be unique
    drop_broadcasting_expands(model.graph)
    onnxscript.optimizer.optimize_ir(model)
    restore_weight_names(model.graph, set(weight_names))
    common.NameFixPass()(model)
    return model


def restore_weight_names(graph: ir.Graph, weight_names: set[str]) -> None:
    """A weight folded into a new initializer (a conv kernel transposed to OIHW, say) takes
    back the weight's name when it was made from that one weight and the name is free."""
    for value in list(graph.initializers.values()):
        sources = value.metadata_props.get(onnxscript.optimizer.FOLDED_FROM_KEY)
        if value.name in weight_names or not sources:
            continue
        named = [s for s in ast.literal_eval(sources) if s in weight_names]
        if len(named) == 1 and named[0] not in graph.initializers:
            graph.initializers.pop(value.name)
            value.name = named[0]
            graph.register_initializer(value)


def drop_broadcasting_expands(graph: ir.Graph) -> int:
    """Feeds Expand's input straight to broadcasting consumers that have another input of
    the full (static) output shape: broadcasting then yields the same result. The
    onnxscript rule for this covers binary ops only, not Max/Min/Where; returns the count."""
    count = 0
    for node in list(graph):
        if node.op_type not in _BROADCASTING_OPS or node.domain != "":
            continue
        out_shape = node.outputs[0].shape
        if out_shape is None or not out_shape.is_static():
            continue
        for index, value in enumerate(node.inputs):
            expand = value.producer() if value is not None else None
            if expand is None or expand.op_type != "Expand" or value.shape != out_shape:
                continue
            others = [v for i, v in enumerate(node.inputs) if i != index and v is not None]
            if any(v.shape == out_shape for v in others):
                node.replace_input_with(index, expand.inputs[0])
                count += 1
    return count
