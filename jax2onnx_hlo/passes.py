"""Post-conversion passes over the onnx_ir model."""

from __future__ import annotations

import onnx_ir as ir
import onnx_ir.passes.common as common

__all__ = ["run_passes"]


def run_passes(model: ir.Model) -> ir.Model:
    """Cleans the walker's output: drops dead nodes, gives every value a unique name."""
    passes = ir.passes.PassManager(
        [
            common.RemoveUnusedNodesPass(),
            common.NameFixPass(),
        ]
    )
    return passes(model).model
