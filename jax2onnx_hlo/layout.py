"""inputs_as_nchw / outputs_as_nchw: a channels-first ONNX interface around a channels-last
JAX computation. Each adapted input gets a Transpose to channels-last after it, each
adapted output one to channels-first before it; the passes then cancel them against the
transposes that the convolution lowering puts around ONNX's NCHW Conv."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from .attributes import attribute

__all__ = ["adapt_layout", "channels_first", "channels_last"]


def adapt_layout(graph: ir.Graph, inputs_as_nchw: Sequence[int],
                 outputs_as_nchw: Sequence[int]) -> None:
    """Makes the listed graph inputs and outputs (positions) channels-first."""
    for position in _checked(inputs_as_nchw, graph.inputs, "inputs_as_nchw", "input"):
        old = graph.inputs[position]
        rank = len(old.shape)
        new = ir.Value(name=old.name, type=old.type,
                       shape=ir.Shape(_permuted(old.shape, [0, rank - 1, *range(1, rank - 1)])))
        old.name = f"{new.name}__channels_last"
        to_last = _transpose(new, [0, *range(2, rank), 1], f"{new.name}/to_channels_last")
        old.replace_all_uses_with(to_last.outputs[0])
        to_last.outputs[0].type, to_last.outputs[0].shape = old.type, old.shape
        if len(graph):
            graph.insert_before(graph[0], to_last)
        else:
            graph.append(to_last)
        graph.inputs[position] = new
    for position in _checked(outputs_as_nchw, graph.outputs, "outputs_as_nchw", "output"):
        old = graph.outputs[position]
        rank = len(old.shape)
        perm = [0, rank - 1, *range(1, rank - 1)]
        to_first = _transpose(old, perm, f"{old.name}/to_channels_first")
        graph.append(to_first)
        new = to_first.outputs[0]
        new.type, new.shape = old.type, ir.Shape(_permuted(old.shape, perm))
        new.name, old.name = old.name, f"{old.name}__channels_last"
        graph.outputs[position] = new


def _checked(positions: Sequence[int], values: Sequence[ir.Value], option: str,
             what: str) -> list[int]:
    checked = []
    for position in positions:
        if not isinstance(position, int) or not 0 <= position < len(values):
            raise ValueError(f"{option}: {position!r} is not an {what} position "
                             f"(the model has {len(values)} {what}s, 0..{len(values) - 1})")
        value = values[position]
        if value.shape is None or len(value.shape) < 3:
            raise ValueError(f"{option}: {what} {position} ({value.name}) has shape "
                             f"{value.shape}; a channels-last tensor needs rank 3 or more")
        checked.append(position)
    return checked


def _transpose(value: ir.Value, perm: list[int], name: str) -> ir.Node:
    """A Transpose node, its perm made by `attribute`: onnx_ir's own conversion of a list
    costs ~0.05 ms a node (3 of linen_cnn's 4 ms in sink_transposes)."""
    return ir.node("Transpose", [value], {"perm": attribute("perm", perm)}, name=name)


def _permuted(shape: ir.Shape, perm: list[int]) -> list:
    dims = list(shape)
    return [dims[p] for p in perm]


def channels_first(array):
    """NHWC... -> NCHW... (numpy), as an adapted input expects its data."""
    rank = np.ndim(array)
    return np.transpose(array, [0, rank - 1, *range(1, rank - 1)])


def channels_last(array):
    """NCHW... -> NHWC... (numpy), to compare an adapted output with JAX's."""
    rank = np.ndim(array)
    return np.transpose(array, [0, *range(2, rank), 1])


# Elementwise ops a Transpose can move below: unary, or with constant other operands.
_ELEMENTWISE = frozenset({
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs", "Neg", "Sqrt", "Erf", "Gelu", "Cast",
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "LeakyRelu", "Elu", "Softplus",
})


def sink_transposes(graph: ir.Graph) -> int:
    """Moves each Transpose below the elementwise ops that consume it alone, permuting
    their constant operands instead (Add(Transpose(x), c) = Transpose(Add(x, c'))), so
    that a Transpose pair around them (NCHW Conv -> bias, relu -> NCHW Conv) meets and
    cancels. Returns how many ops the transposes moved past."""
    moved = 0
    changed = True
    while changed:
        changed = False
        for node in list(graph):
            if node.op_type == "Transpose" and node.domain == "" and _sink_once(graph, node):
                moved += 1
                changed = True
    return moved


def _sink_once(graph: ir.Graph, transpose: ir.Node) -> bool:
    out = transpose.outputs[0]
    uses = list(out.uses())
    if len(uses) != 1 or out.is_graph_output():
        return False
    consumer = uses[0].node
    if consumer.op_type not in _ELEMENTWISE or consumer.domain != "" or consumer.graph is not graph:
        return False
    perm = list(transpose.attributes["perm"].as_ints())
    inverse = list(np.argsort(perm))
    replacements = {}
    for i, value in enumerate(consumer.inputs):
        if value is out:
            continue
        if value is None or value.const_value is None or value.shape is None \
                or len(value.shape) > len(perm):
            return False
        array = value.const_value.numpy()
        if array.size == 1:
            continue  # one element broadcasts the same in either layout
        array = array.reshape((1,) * (len(perm) - array.ndim) + array.shape)
        replacements[i] = np.transpose(array, inverse)
    source = transpose.inputs[0]
    for i, array in replacements.items():
        value = consumer.inputs[i]
        if value.is_initializer() and len(value.uses()) == 1:  # permute it in place, so a
            value.const_value = ir.Tensor(array, name=value.name)  # weight keeps its name
            value.shape = ir.Shape(array.shape)
            continue
        constant = ir.Value(name=f"{value.name}__permuted_{consumer.name}",
                            shape=ir.Shape(array.shape),
                            type=ir.TensorType(ir.DataType.from_numpy(array.dtype)),
                            const_value=ir.Tensor(array))
        graph.register_initializer(constant)
        consumer.replace_input_with(i, constant)
    consumer.replace_input_with(uses[0].idx, source)
    result = consumer.outputs[0]
    moved = _transpose(result, perm, transpose.name)
    graph.insert_after(consumer, moved)
    name = result.name
    result.replace_all_uses_with(moved.outputs[0], replace_graph_outputs=True)
    moved.replace_input_with(0, result)
    moved.outputs[0].type, moved.outputs[0].shape = result.type, result.shape
    result.name, moved.outputs[0].name = f"{name}__unpermuted", name
    result.shape = ir.Shape(_permuted(result.shape, inverse)) if result.shape else None
    graph.remove(transpose, safe=True)
    return True
