"""Reading the small bodies of region-bearing ops (reduce, reduce_window, ...)."""

from __future__ import annotations

import numpy as np

from jax2onnx_hlo._mlir import ir as mlir

from .types import TensorSpec

__all__ = ["binary_reducer", "reducer_identity"]


def binary_reducer(region: mlir.Region) -> str | None:
    """The op name of a body `(a, b) -> op(a, b)` (e.g. "stablehlo.add"), else None.

    Both operand orders count; anything else in the body (several ops, constants, a
    different return) means the caller must lower the region generically or refuse.
    """
    block = region.blocks[0]
    ops = list(block.operations)
    if len(block.arguments) != 2 or len(ops) != 2:
        return None
    combine, ret = ops
    if ret.operation.name != "stablehlo.return" or len(combine.results) != 1:
        return None
    if list(ret.operands) != [combine.results[0]]:
        return None
    args = list(block.arguments)
    if list(combine.operands) not in (args, args[::-1]):
        return None
    return combine.operation.name


def reducer_identity(op_type: str, spec: TensorSpec) -> np.generic:
    """The value that leaves an Add, Mul, Max or Min unchanged, in the operand's type."""
    dtype = spec.np_dtype
    if op_type in ("Add", "Mul"):
        return dtype.type(0 if op_type == "Add" else 1)
    if spec.is_bool:
        return dtype.type(op_type == "Min")
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return dtype.type(info.min if op_type == "Max" else info.max)
    return dtype.type(-np.inf if op_type == "Max" else np.inf)
