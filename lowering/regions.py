"""Reading the small bodies of region-bearing ops (reduce, reduce_window, ...)."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

__all__ = ["binary_op_of", "binary_reducer", "identity_of", "is_constant", "returns_update"]


def binary_reducer(region: mlir.Region) -> str | None:
    """The op name of a body `(a, b) -> op(a, b)` (e.g. "stablehlo.add"), else None.

    Both operand orders count; anything else in the body (several ops, constants, a
    different return) means the caller must lower the region generically or refuse.
    """
    return binary_op_of(region.blocks[0], "stablehlo.return")


def binary_op_of(block: mlir.Block, return_op: str) -> str | None:
    """binary_reducer of a block ending in `return_op` (a function's body: "func.return")."""
    ops = list(block.operations)
    if len(block.arguments) != 2 or len(ops) != 2:
        return None
    combine, ret = ops
    if ret.operation.name != return_op or len(combine.results) != 1:
        return None
    if list(ret.operands) != [combine.results[0]]:
        return None
    args = list(block.arguments)
    if list(combine.operands) not in (args, args[::-1]):
        return None
    return combine.operation.name


def returns_update(region: mlir.Region) -> bool:
    """Whether a scatter body `(current, update)` returns its update (x.at[i].set)."""
    block = region.blocks[0]
    ops = list(block.operations)
    return (len(block.arguments) == 2 and len(ops) == 1
            and list(ops[0].operands) == [block.arguments[1]])


def identity_of(body: str, dtype: np.dtype) -> np.ndarray:
    """The value that leaves the reducer op `body` (e.g. "stablehlo.add") unchanged."""
    if body in ("stablehlo.add", "stablehlo.or", "stablehlo.xor"):
        return np.zeros((), dtype)
    if body == "stablehlo.multiply":
        return np.ones((), dtype)
    if body == "stablehlo.and":
        return ~np.zeros((), dtype)  # all bits set; True for booleans
    lowest = body == "stablehlo.maximum"
    if dtype == np.bool_:
        return np.array(not lowest)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.array(info.min if lowest else info.max, dtype)
    return np.array(-np.inf if lowest else np.inf, dtype)


def is_constant(value: ir.Value, expected: np.ndarray) -> bool:
    """Whether `value` is a constant equal (everywhere) to `expected`."""
    tensor = value.const_value
    return tensor is not None and bool(np.all(tensor.numpy() == expected))
