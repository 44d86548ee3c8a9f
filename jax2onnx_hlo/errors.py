"""The errors users see."""

from __future__ import annotations

__all__ = ["ConversionError"]


class ConversionError(Exception):
    """A JAX program (or StableHLO module) that cannot be converted to ONNX as asked.

    The message says which op or argument was wrong, where in the JAX source it came
    from when that is known, and what to do about it.
    """
