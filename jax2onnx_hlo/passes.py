"""Post-conversion passes over the onnx_ir model, built on onnx_ir and onnxscript."""

from __future__ import annotations

import onnx_ir as ir
import onnx_ir.passes.common as common
import onnxscript.optimizer
from onnxscript.rewriter import RewritePass
from onnxscript.rewriter.rules.common import expand_before_binary_op_rules

__all__ = ["run_passes"]


def run_passes(model: ir.Model) -> ir.Model:
    """Cleans and folds the walker's output.

    broadcast_in_dim lowers to Expand, which elementwise ops do not need (they broadcast):
    those Expands go first, so that folding does not bake a batch-sized copy of every bias
    into the model. Then the onnxscript optimizer folds constants and removes dead code,
    and every value gets a unique name.
    """
    common.RemoveUnusedNodesPass()(model)
    common.NameFixPass()(model)  # folded values become initializers: names must be unique
    RewritePass(expand_before_binary_op_rules)(model)
    onnxscript.optimizer.optimize_ir(model)
    common.NameFixPass()(model)
    return model
