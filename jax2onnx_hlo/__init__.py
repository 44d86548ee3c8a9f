"""jax2onnx_hlo: JAX programs to ONNX, converted at the StableHLO level."""

__version__ = "0.1.0"

from .api import from_stablehlo, to_onnx  # noqa: E402
from .errors import ConversionError  # noqa: E402
from .functions import onnx_function as onnx_function  # noqa: E402 (re-export)
from .validate import allclose  # noqa: E402
from .web_runner import allclose_onnxruntime_web  # noqa: E402

__all__ = ["ConversionError", "__version__", "allclose", "allclose_onnxruntime_web",
           "from_stablehlo", "onnx_function", "to_onnx"]
