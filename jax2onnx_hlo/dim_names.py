"""Names for the dynamic dims of an op's result: the operand dims they equal by the op's
definition, so that the passes can prove an Expand redundant ("B" with "B")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo.lowering.context import attribute_value
from jax2onnx_hlo.lowering.dynamic_values import BROADCAST_SHAPE
from jax2onnx_hlo.lowering.types import TensorSpec, tensor_spec

from ._mlir import hlo
from ._mlir import ir as mlir

__all__ = ["merged_shape", "named_from_operands"]


# Elementwise ops whose operands of the result's rank have exactly the result's shape (the
# spec's SameOperandsAndResultShape; select and clamp may take rank-0 operands).
_SAME_SHAPE_OPS = frozenset(f"stablehlo.{name}" for name in (
    "add subtract multiply divide remainder power maximum minimum atan2 and or xor "
    "shift_left shift_right_logical shift_right_arithmetic compare select clamp abs negate "
    "sign exponential exponential_minus_one log log_plus_one logistic sqrt rsqrt cbrt sine "
    "cosine tan tanh floor ceil round_nearest_even round_nearest_afz is_finite not convert "
    "popcnt count_leading_zeros"
).split())


def named_from_operands(op: mlir.OpView, shape: ir.Shape,
                         operands: Sequence[ir.Value], rank: int) -> ir.Shape:
    """Names a result's unknown dims after the operand dims they equal by the op's
    definition (same-shape elementwise ops, transpose, dot_general, reduce, convolution's
    batch):
    named dims let the passes prove that an Expand is redundant. `rank`: the MLIR rank
    (a complex value has one more ONNX axis, the trailing pair, which stays as it is)."""
    dims = list(shape)
    if all(isinstance(d, int) or d.value is not None for d in dims[:rank]):
        return shape  # nothing to name
    sources = _dim_sources(op, rank)
    if sources is None:
        return shape
    for axis, dim in enumerate(dims[:rank]):
        if isinstance(dim, int) or dim.value is not None:
            continue
        for operand_index, operand_axis in sources[axis]:
            known = _named_shape(operands[operand_index]) if operand_index < len(operands) \
                else None
            if known is not None and operand_axis < len(known) and \
                    isinstance(known[operand_axis], ir.SymbolicDim) and \
                    known[operand_axis].value is not None:
                dims[axis] = known[operand_axis]
                break
    return ir.Shape(dims)


def _named_shape(value: ir.Value) -> ir.Shape | None:
    """The value's shape, or that of the broadcast it stands for (BROADCAST_SHAPE)."""
    return value.meta.get(BROADCAST_SHAPE, value.shape)


def _dim_sources(op: mlir.OpView, rank: int) -> list[list[tuple[int, int]]] | None:
    """For each result axis, the (operand, axis) pairs of equal size, or None."""
    name = op.operation.name
    operand_ranks = [len(tensor_spec(v.type).shape) for v in op.operands]
    if name in _SAME_SHAPE_OPS:
        return [[(i, axis) for i, r in enumerate(operand_ranks) if r == rank]
                for axis in range(rank)]
    if name == "stablehlo.transpose":
        return [[(0, p)] for p in attribute_value(op.attributes["permutation"])]
    if name == "stablehlo.dot_general":
        numbers = hlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
        lhs_batch = list(numbers.lhs_batching_dimensions)
        lhs_used = lhs_batch + list(numbers.lhs_contracting_dimensions)
        rhs_used = list(numbers.rhs_batching_dimensions) + list(numbers.rhs_contracting_dimensions)
        order = [(0, a) for a in lhs_batch]
        order += [(0, a) for a in range(operand_ranks[0]) if a not in lhs_used]
        order += [(1, a) for a in range(operand_ranks[1]) if a not in rhs_used]
        return [[pair] for pair in order] if len(order) == rank else None
    if name == "stablehlo.reduce":  # the axes not reduced keep their size, in order
        reduced = set(attribute_value(op.attributes["dimensions"]))
        kept = [a for a in range(operand_ranks[0]) if a not in reduced]
        return [[(0, a)] for a in kept] if len(kept) == rank else None
    if name == "stablehlo.reduce_window":  # axes the window leaves alone keep their size
        window = attribute_value(op.attributes["window_dimensions"])
        strides = _int_list(op, "window_strides", rank)
        padding = np.zeros((rank, 2), np.int64) if "padding" not in op.attributes else \
            np.asarray(attribute_value(op.attributes["padding"])).reshape(rank, 2)
        return [[(0, a)] if window[a] == 1 and strides[a] == 1 and not padding[a].any()
                and _int_list(op, "base_dilations", rank)[a] == 1 else []
                for a in range(rank)]
    if name == "stablehlo.convolution":
        numbers = hlo.ConvDimensionNumbers(op.attributes["dimension_numbers"])
        sources: list[list[tuple[int, int]]] = [[] for _ in range(rank)]
        sources[numbers.output_batch_dimension] = [(0, numbers.input_batch_dimension)]
        return sources
    return None


def _int_list(op: mlir.OpView, name: str, rank: int) -> list[int]:
    return list(attribute_value(op.attributes[name])) if name in op.attributes else [1] * rank


def merged_shape(known: ir.Shape | None, spec: TensorSpec) -> ir.Shape:
    """The MLIR shape, keeping symbolic dims a rule already derived for dynamic axes."""
    if known is None or len(known) != spec.rank:
        return ir.Shape(spec.shape)
    return ir.Shape([d if d is not None else known[i] for i, d in enumerate(spec.shape)])
