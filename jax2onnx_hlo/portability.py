"""Rewrites for kernels ONNX Runtime lacks, so a valid model also runs.

Where has kernels for float, double, float16, uint8, int32 and int64 in both ONNX Runtime
CPU and onnxruntime-web (measured: CPU adds int8 and uint32, web has neither, and neither
has bool, int16, uint16, uint64 or bfloat16). Other types go through a wider type that
keeps every value (or, for uint64 <-> int64, every bit) and back.
"""

from __future__ import annotations

import onnx_ir as ir

__all__ = ["route_where_types"]

DT = ir.DataType
_WHERE_THROUGH = {
    DT.BOOL: DT.UINT8, DT.INT8: DT.INT32, DT.INT16: DT.INT32, DT.UINT16: DT.INT32,
    DT.UINT32: DT.INT64, DT.UINT64: DT.INT64, DT.BFLOAT16: DT.FLOAT,
}


def route_where_types(model: ir.Model) -> int:
    """Casts the branches of every Where of an unportable type (in the main graph, its
    subgraphs and the model's functions); returns how many were rewritten."""
    graphs = [model.graph, *(f.graph for f in model.functions.values())]
    count = 0
    for graph in graphs:
        for node in list(ir.traversal.RecursiveGraphIterator(graph)):
            if node.op_type == "Where" and node.domain == "" and _route(node):
                count += 1
    return count


def _route(node: ir.Node) -> bool:
    out = node.outputs[0]
    dtype = out.type.dtype if out.type is not None else None
    wide = _WHERE_THROUGH.get(dtype)
    if wide is None:
        return False
    graph = node.graph
    # Explicit names: the model's names must stay unique across subgraphs too.
    base = out.name or node.name or "where"
    casts = [ir.node("Cast", [node.inputs[i]], {"to": wide}, name=f"{node.name}/Cast_{i}")
             for i in (1, 2)]
    for i, cast in zip((1, 2), casts):
        cast.outputs[0].name = f"{base}__{wide.name.lower()}_{i}"
        graph.insert_before(node, cast)
        node.replace_input_with(i, cast.outputs[0])
    narrow = ir.node("Cast", [out], {"to": dtype}, name=f"{node.name}/Cast_back")
    graph.insert_after(node, narrow)
    # Consumers (and a graph output, under its name) now read the narrowed copy.
    narrowed = narrow.outputs[0]
    name, out.name = out.name, f"{base}__{wide.name.lower()}"
    out.replace_all_uses_with(narrowed, replace_graph_outputs=True)
    narrow.replace_input_with(0, out)
    narrowed.name, narrowed.type = name, ir.TensorType(dtype)
    if narrowed.is_graph_output():
        narrowed.shape = out.shape
    out.type = ir.TensorType(wide)
    return True
