"""What the graph built so far says about a small integer tensor (a shape, pads, sizes):
its elements as ints or symbolic dims, read back through the shape arithmetic.

Rules with runtime shape operands use it to keep what is known statically: a dynamic
reshape to (B, -1) whose result dim is then named "B", a slice size that is a whole
operand dim, pads that are constants.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

__all__ = ["BROADCAST_SHAPE", "Element", "elements_of", "name_dims", "same_dim", "shape_of"]

# An element: an int, a named symbolic dim, or None (not known before runtime).
Element = int | ir.SymbolicDim | None

_PASS_THROUGH = {"Cast", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten"}


# Value.meta key: the named shape of the broadcast a value stands for, where a rule
# returned the operand only aligned to the result's rank (its users broadcast it): the
# walker names the users' dims from it as from the broadcast's result.
BROADCAST_SHAPE = "jax2onnx_hlo.broadcast_shape"


def elements_of(value: ir.Value, depth: int = 0) -> list[Element] | None:
    """The elements of a 0-D or 1-D integer `value`, or None when even its length is not
    known; traces constants, Shape, Cast, Reshape/Squeeze/Unsqueeze, Concat and Gather."""
    if value.const_value is not None:
        array = value.const_value.numpy()
        if array.ndim > 1 or array.dtype.kind not in "iu":
            return None
        return [int(v) for v in np.ravel(array)]
    node = value.producer()
    if node is None or depth > 16:
        return _unknown(value)
    if node.op_type == "Shape" and node.inputs[0].shape is not None:
        dims = list(node.inputs[0].shape)
        start, end = _attr(node, "start", 0), _attr(node, "end", len(dims))
        return [_element(d) for d in dims[start:end]]
    if node.op_type in _PASS_THROUGH:
        return elements_of(node.inputs[0], depth + 1) or _unknown(value)
    if node.op_type == "Concat":
        parts = [elements_of(v, depth + 1) for v in node.inputs]
        return None if any(p is None for p in parts) else [e for p in parts for e in p]
    if node.op_type == "Gather" and _attr(node, "axis", 0) == 0:
        data, index = elements_of(node.inputs[0], depth + 1), elements_of(node.inputs[1])
        if data is not None and index is not None and None not in index:
            return [data[i] for i in index]
    return _unknown(value)


def _unknown(value: ir.Value) -> list[Element] | None:
    """Unknown elements of a value whose length is static."""
    shape = value.shape
    if shape is None or len(shape) > 1 or any(not isinstance(d, int) for d in shape):
        return None
    return [None] * (shape[0] if len(shape) == 1 else 1)


def _element(dim: int | ir.SymbolicDim) -> Element:
    if isinstance(dim, int):
        return dim
    return dim if dim.value is not None else None


def _attr(node: ir.Node, name: str, default: int) -> int:
    attr = node.attributes.get(name)
    return default if attr is None else attr.as_int()


def name_dims(result: ir.Value, elements: list[Element] | None) -> ir.Value:
    """Gives `result` the symbolic dims that `elements` (its shape) names; the walker
    keeps them for the axes the MLIR type leaves dynamic."""
    if elements is not None and any(isinstance(e, ir.SymbolicDim) for e in elements):
        result.shape = shape_of(elements)
    return result


def shape_of(elements: list[Element]) -> ir.Shape:
    """The shape whose dims `elements` are (None where unknown)."""
    return ir.Shape([e if isinstance(e, (int, ir.SymbolicDim)) else None for e in elements])


def same_dim(a: Element, b: Element) -> bool:
    """Whether two dims (ints or symbolic dims) are known to be equal."""
    if isinstance(a, ir.SymbolicDim) and isinstance(b, ir.SymbolicDim):
        return a.value is not None and a.value == b.value
    return isinstance(a, int) and isinstance(b, int) and a == b
