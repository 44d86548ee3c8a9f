"""What the fusions ask of a pattern's constants and inputs: float types, one number."""

from __future__ import annotations

import math

import onnx_ir as ir
from onnxscript.rewriter._ir_utils import get_numpy_value

__all__ = ["FLOATS", "close", "scalar"]

FLOATS = frozenset({ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16,
                    ir.DataType.BFLOAT16})


def scalar(value: ir.Value | None) -> float | None:
    """The value of a constant holding one number (of any rank), else None."""
    array = get_numpy_value(value)
    return float(array.reshape(-1)[0]) if array is not None and array.size == 1 else None


def close(value: ir.Value | None, expected: float, rtol: float = 1e-6) -> bool:
    got = scalar(value)
    return got is not None and math.isclose(got, expected, rel_tol=rtol, abs_tol=0.0)
