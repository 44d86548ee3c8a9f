"""Reading dense StableHLO constants into numpy arrays."""

from __future__ import annotations

import math
import re

import numpy as np

from jax2onnx_hlo._mlir import ir as mlir

from .types import TensorSpec

__all__ = ["dense_to_numpy"]


def dense_to_numpy(attr: mlir.Attribute, spec: TensorSpec) -> np.ndarray:
    """The array of a DenseElementsAttr, read from its buffer (never by printing it).

    The bindings expose no buffer for bf16 and other small float types; those (rare
    outside weights, which are lifted to arguments) are read back from the printed form.
    """
    dtype = spec.np_dtype
    dense = mlir.DenseElementsAttr(attr)
    try:
        array = np.asarray(attr)
    except (TypeError, ValueError, RuntimeError):
        return _parse_printed(str(dense), dtype, spec.shape)
    if dense.is_splat:  # a read-only broadcast view: no batch-sized copy (the passes
        # shrink splats that feed broadcasting ops to scalars; the rest is copied on save)
        scalar = np.asarray(array.reshape(-1)[0] if array.ndim else array, dtype=dtype)
        return np.broadcast_to(scalar, spec.shape)
    return np.asarray(array, dtype=dtype).reshape(spec.shape)


_TOKEN = re.compile(r"0x[0-9A-Fa-f]+|true|false|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _parse_printed(text: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    start = text.index("dense<") + len("dense<")
    body = text[start : text.index(">", start)].strip()  # not the `>` of `tensor<...>`
    if body.startswith('"0x'):  # the raw little-endian buffer, hex-encoded
        flat = np.frombuffer(bytes.fromhex(body[3:-1]), dtype=dtype)
    else:  # a (nested) list; non-finite floats print as hex bit patterns
        bits = np.dtype(f"u{dtype.itemsize}")
        flat = np.array([_token_value(t, dtype, bits) for t in _TOKEN.findall(body)], dtype=dtype)
    if flat.size == math.prod(shape):
        return flat.reshape(shape)
    return np.broadcast_to(flat.reshape(()), shape).copy()  # a splat


def _token_value(token: str, dtype: np.dtype, bits: np.dtype):
    if token.startswith("0x"):
        return np.array(int(token, 16), dtype=bits).view(dtype)
    if token in ("true", "false"):
        return token == "true"
    return float(token)
