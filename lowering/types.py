"""StableHLO tensor types as ONNX element types and shapes.

A complex tensor of shape S is, in the ONNX graph, a float tensor of shape S + [2] (real and
imaginary parts on a trailing axis, as ONNX DFT produces): `onnx_spec` gives that type,
`component_spec` the type of either part.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir
from jax2onnx_hlo._mlir import memoized

__all__ = ["TensorSpec", "component_spec", "numpy_dtype", "onnx_spec", "tensor_spec"]

# MLIR element type spelling -> ONNX element type.
_ELEMENT_TYPES: dict[str, ir.DataType] = {
    "i1": ir.DataType.BOOL,
    "i2": ir.DataType.INT2,
    "i4": ir.DataType.INT4,
    "i8": ir.DataType.INT8,
    "i16": ir.DataType.INT16,
    "i32": ir.DataType.INT32,
    "i64": ir.DataType.INT64,
    "ui2": ir.DataType.UINT2,
    "ui4": ir.DataType.UINT4,
    "ui8": ir.DataType.UINT8,
    "ui16": ir.DataType.UINT16,
    "ui32": ir.DataType.UINT32,
    "ui64": ir.DataType.UINT64,
    "f16": ir.DataType.FLOAT16,
    "bf16": ir.DataType.BFLOAT16,
    "f32": ir.DataType.FLOAT,
    "f64": ir.DataType.DOUBLE,
    "f8E4M3FN": ir.DataType.FLOAT8E4M3FN,
    "f8E4M3FNUZ": ir.DataType.FLOAT8E4M3FNUZ,
    "f8E5M2": ir.DataType.FLOAT8E5M2,
    "f8E5M2FNUZ": ir.DataType.FLOAT8E5M2FNUZ,
    "complex<f32>": ir.DataType.COMPLEX64,
    "complex<f64>": ir.DataType.COMPLEX128,
}


@dataclass(frozen=True)
class TensorSpec:
    """Element type and shape of a StableHLO tensor; a dim is an int, or None if dynamic."""

    dtype: ir.DataType
    shape: tuple[int | None, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)

    @property
    def np_dtype(self) -> np.dtype:
        return numpy_dtype(self.dtype)

    @property
    def is_float(self) -> bool:
        return self.dtype.is_floating_point()

    @property
    def is_bool(self) -> bool:
        return self.dtype == ir.DataType.BOOL

    @property
    def is_unsigned(self) -> bool:
        return self.dtype in _UNSIGNED

    @property
    def is_complex(self) -> bool:
        return self.dtype in _COMPONENT


_UNSIGNED = {
    ir.DataType.UINT2,
    ir.DataType.UINT4,
    ir.DataType.UINT8,
    ir.DataType.UINT16,
    ir.DataType.UINT32,
    ir.DataType.UINT64,
}


# complex element type -> the float type of its real and imaginary parts
_COMPONENT = {ir.DataType.COMPLEX64: ir.DataType.FLOAT, ir.DataType.COMPLEX128: ir.DataType.DOUBLE}


def component_spec(spec: TensorSpec) -> TensorSpec:
    """The spec of the real (or imaginary) part of a complex tensor; other specs as given."""
    return TensorSpec(_COMPONENT[spec.dtype], spec.shape) if spec.is_complex else spec


def onnx_spec(spec: TensorSpec) -> TensorSpec:
    """The type a tensor has in the ONNX graph: complex ones are float [..., 2] pairs."""
    return TensorSpec(_COMPONENT[spec.dtype], (*spec.shape, 2)) if spec.is_complex else spec


def numpy_dtype(dtype: ir.DataType) -> np.dtype:
    if dtype == ir.DataType.BFLOAT16:
        return np.dtype(ml_dtypes.bfloat16)
    return dtype.numpy()


def tensor_spec(mlir_type: mlir.Type) -> TensorSpec:
    """TensorSpec of an MLIR `tensor<...>` type; raises TypeError for anything else.
    Memoized per type while a conversion runs (types are uniqued: a few dozen per model)."""
    return memoized("tensor_spec", mlir_type, lambda: _tensor_spec(mlir_type))


def _tensor_spec(mlir_type: mlir.Type) -> TensorSpec:
    if not isinstance(mlir_type, mlir.RankedTensorType):
        raise TypeError(f"expected a ranked tensor type, got {mlir_type}")
    tensor = mlir_type
    element = str(tensor.element_type)
    if element not in _ELEMENT_TYPES:
        raise TypeError(f"element type {element} has no ONNX counterpart")
    shape = tuple(
        None if mlir.ShapedType.is_dynamic_size(d) else int(d) for d in tensor.shape
    )
    return TensorSpec(_ELEMENT_TYPES[element], shape)
