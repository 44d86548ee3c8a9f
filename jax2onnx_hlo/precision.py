"""Running bfloat16 and float16 models where the runtime has no kernels for them.

An export keeps the model's dtype: a bf16 model has bf16 inputs, weights, arithmetic and
outputs. ONNX Runtime's CPU provider has few bf16 kernels (MatMul, Add, Tanh, ... are
missing: the session refuses to load with NOT_IMPLEMENTED) and not every f16 op either.
`upcast_to_float32` rewrites such a model to compute in float32 inside while keeping its
interface: graph inputs and outputs keep their bf16/f16 dtype, with a Cast to float32 after
each such input and a Cast back before each such output.

What it changes, everywhere (the main graph, subgraphs of Loop/If/Scan, model functions):
- every bf16/f16 value (initializers, node outputs, subgraph inputs/outputs) becomes float32;
  initializers are converted (exactly: float32 holds every bf16 and f16 value);
- `Cast(to=bf16/f16)` and the `dtype` of RandomNormal/EyeLike/... become float32, tensor
  attributes (Constant, ConstantOfShape values) of those dtypes become float32 tensors.

Numerics: the result is the float32 computation of the model's function, rounded to
bf16/f16 at the outputs. It differs from bf16/f16 arithmetic by the rounding the low
precision would have done at each step (usually making it more accurate). Casts to bf16/f16
that the model itself made to round on purpose (`lax.reduce_precision`, `astype` round trips)
become no-ops. Bit-level reinterpretations of bf16/f16 values (`lax.bitcast_convert_type`
to/from a 16-bit int) do not make sense in float32, so a graph that has a BitCast-like
pattern on those dtypes is not a candidate; ONNX has no bitcast op, so the converter
lowers those through arithmetic on the integer side, which this pass leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx_ir as ir

__all__ = ["LOW_PRECISION_TYPES", "upcast_to_float32"]

LOW_PRECISION_TYPES = frozenset({ir.DataType.BFLOAT16, ir.DataType.FLOAT16})

# Integer attributes that name an element type of a node's output.
_DTYPE_ATTRIBUTES = frozenset({"to", "dtype"})


def upcast_to_float32(model: ir.Model) -> ir.Model:
    """Rewrites `model` (in place, and returns it) so that it computes in float32 wherever
    it computed in bfloat16 or float16, with its graph inputs and outputs keeping their
    dtypes (Casts at the boundary). A model without bf16/f16 is returned unchanged."""
    graph = model.graph
    main_inputs = set(graph.inputs)
    original_output_types = [_low_dtype(v.type) for v in graph.outputs]

    for g in _all_graphs(model):
        for value in _graph_values(g):
            if value not in main_inputs:
                _upcast_value(value)
    for node in _all_nodes(model):
        _upcast_attributes(node)

    _cast_inputs(graph)
    _cast_outputs(graph, original_output_types)
    return model


def _low_dtype(type_: ir.TypeProtocol | None) -> ir.DataType | None:
    """The bf16/f16 element type of a tensor (or sequence/optional of tensors) type."""
    while isinstance(type_, (ir.SequenceType, ir.OptionalType)):
        type_ = type_.elem_type
    if isinstance(type_, ir.TensorType) and type_.dtype in LOW_PRECISION_TYPES:
        return type_.dtype
    return None


def _float32_type(type_: ir.TypeProtocol | None) -> ir.TypeProtocol | None:
    """`type_` with a bf16/f16 element type made float32 (None when nothing changes)."""
    if isinstance(type_, ir.TensorType):
        return ir.TensorType(ir.DataType.FLOAT) if type_.dtype in LOW_PRECISION_TYPES else None
    if isinstance(type_, (ir.SequenceType, ir.OptionalType)):
        inner = _float32_type(type_.elem_type)
        return None if inner is None else type(type_)(inner)
    return None


def _upcast_value(value: ir.Value) -> None:
    new_type = _float32_type(value.type)
    if new_type is not None:
        value.type = new_type
    tensor = value.const_value
    if tensor is not None and tensor.dtype in LOW_PRECISION_TYPES:
        value.const_value = ir.tensor(tensor.numpy().astype(np.float32), name=tensor.name)
        value.type = ir.TensorType(ir.DataType.FLOAT)


def _upcast_attributes(node: ir.Node) -> None:
    for name, attr in list(node.attributes.items()):
        if attr.type == ir.AttributeType.INT and name in _DTYPE_ATTRIBUTES \
                and attr.value in {int(t) for t in LOW_PRECISION_TYPES}:
            node.attributes[name] = ir.AttrInt64(name, int(ir.DataType.FLOAT))
        elif attr.type == ir.AttributeType.TENSOR and attr.value.dtype in LOW_PRECISION_TYPES:
            tensor = attr.value
            node.attributes[name] = ir.AttrTensor(
                name, ir.tensor(tensor.numpy().astype(np.float32), name=tensor.name))
        elif attr.type == ir.AttributeType.TENSORS and any(
                t.dtype in LOW_PRECISION_TYPES for t in attr.value):
            node.attributes[name] = ir.AttrTensors(name, [
                ir.tensor(t.numpy().astype(np.float32), name=t.name)
                if t.dtype in LOW_PRECISION_TYPES else t for t in attr.value])


def _all_graphs(model: ir.Model) -> Iterable[ir.Graph | ir.Function]:
    yield model.graph
    yield from model.graph.subgraphs()
    for function in model.functions.values():
        yield function
        yield from function.subgraphs()


def _all_nodes(model: ir.Model) -> Iterable[ir.Node]:
    yield from model.graph.all_nodes()
    for function in model.functions.values():
        yield from function.all_nodes()


def _graph_values(graph: ir.Graph | ir.Function) -> Iterable[ir.Value]:
    """The values a graph defines: its inputs, initializers and node outputs (subgraphs'
    are visited as graphs of their own)."""
    yield from graph.inputs
    if isinstance(graph, ir.Graph):
        yield from graph.initializers.values()
    for node in graph:
        yield from node.outputs


def _cast_inputs(graph: ir.Graph) -> None:
    """After each bf16/f16 graph input: a Cast to float32 that its consumers read instead
    (an input that is also a graph output stays one as it is)."""
    casts = []
    for value in graph.inputs:
        if _low_dtype(value.type) is None or isinstance(value.type, ir.SequenceType):
            continue
        uses = list(value.uses())
        if not uses:
            continue
        cast = ir.node("Cast", [value], {"to": ir.DataType.FLOAT},
                       name=f"{value.name}_to_float32")
        upcast = cast.outputs[0]
        upcast.name = f"{value.name}_float32"
        upcast.type = ir.TensorType(ir.DataType.FLOAT)
        upcast.shape = value.shape
        for user, index in uses:
            user.replace_input_with(index, upcast)
        casts.append(cast)
    if casts:
        nodes = list(graph)
        if nodes:
            graph.insert_before(nodes[0], casts)
        else:
            graph.extend(casts)


def _cast_outputs(graph: ir.Graph, original: list[ir.DataType | None]) -> None:
    """Before each graph output that was bf16/f16: a Cast back to that dtype, its output
    taking the output's name (and place)."""
    done: dict[tuple[int, ir.DataType], ir.Value] = {}
    for i, (value, dtype) in enumerate(zip(list(graph.outputs), original)):
        if dtype is None or value.is_graph_input() or _low_dtype(value.type) is not None:
            continue  # not low precision, a passthrough input, or left as it was
        key = (id(value), dtype)
        if key not in done:
            name = value.name
            value.name = f"{name}_float32"
            cast = ir.node("Cast", [value], {"to": dtype}, name=f"{name}_to_{dtype.name}")
            out = cast.outputs[0]
            out.name = name
            out.type = ir.TensorType(dtype)
            out.shape = value.shape
            graph.append(cast)
            done[key] = out
        graph.outputs[i] = done[key]
