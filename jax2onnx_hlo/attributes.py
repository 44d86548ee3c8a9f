"""Node attributes made without onnx_ir's general conversion where the kind is plain."""

from __future__ import annotations

from typing import Any

import onnx_ir as ir

__all__ = ["attribute"]


def attribute(name: str, value: Any) -> ir.Attr:
    """ir.convenience.convert_attribute(name, value), with the common kinds (an int, a float,
    a string, a non-empty list of ints) made directly: its general path checks runtime
    Protocols with isinstance, which costs more than the node itself."""
    kind = type(value)
    if kind is int or kind is bool:
        return ir.AttrInt64(name, value)
    if kind is float:
        return ir.AttrFloat32(name, value)
    if kind is str:
        return ir.AttrString(name, value)
    if (kind is list or kind is tuple) and value and all(type(x) is int for x in value):
        return ir.AttrInt64s(name, value)
    return ir.convenience.convert_attribute(name, value)
