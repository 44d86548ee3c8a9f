"""jax2onnx_hlo: JAX programs to ONNX, converted at the StableHLO level."""

__version__ = "0.1.0"

from .api import to_onnx  # noqa: E402
from .errors import ConversionError  # noqa: E402
from .validate import allclose  # noqa: E402

__all__ = ["ConversionError", "__version__", "allclose", "to_onnx"]
