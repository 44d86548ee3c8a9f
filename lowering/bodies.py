"""Region bodies applied to whole tensors. A reducer or scatter body is a function of
scalars; when every op in it is elementwise, lowering it with tensor arguments computes
that function on every element: cumlogsumexp's logaddexp combines two shifted copies of a
tensor, a scatter body combines gathered values with their updates."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from jax2onnx_hlo._mlir import ir as mlir

from . import rule_for
from .context import LoweringContext
from .types import tensor_spec

__all__ = ["apply_body", "apply_function", "body_ops", "function_block", "not_elementwise"]

# Rules of these modules lower each op to elementwise ONNX ops, whatever the operands' rank.
_ELEMENTWISE_MODULES = {f"jax2onnx_hlo.lowering.{m}" for m in ("elementwise", "bitwise")}
_RETURNS = {"stablehlo.return", "func.return"}


def body_ops(block: mlir.Block) -> str:
    """The names of a body's ops, for error messages."""
    return ", ".join(op.operation.name for op in block.operations
                     if op.operation.name not in _RETURNS)


def not_elementwise(block: mlir.Block) -> str | None:
    """None if every op of the body is elementwise on scalars of a real type and uses only
    the body's own values and constants (so it applies to whole tensors), else the first op
    that is not."""
    inside = set(block.arguments)
    for op in block.operations:
        name = op.operation.name
        rule = rule_for(name)
        module = getattr(getattr(rule, "func", rule), "__module__", "")
        types = [v.type for v in (*op.operands, *op.results)]
        specs = [tensor_spec(t) for t in types if isinstance(t, mlir.RankedTensorType)]
        if len(specs) != len(types) or any(s.rank or s.is_complex for s in specs) \
                or not all(v in inside or _is_constant(v) for v in op.operands):
            return name
        if name not in _RETURNS and name != "stablehlo.constant" \
                and module not in _ELEMENTWISE_MODULES:
            return name
        inside.update(op.results)
    return None


def _is_constant(value: mlir.Value) -> bool:
    """Whether `value` is a stablehlo.constant's (which the module's preparation may hoist
    out of a body); lowered, it is an initializer or a Constant node."""
    return isinstance(value, mlir.OpResult) and value.owner.name == "stablehlo.constant"


def apply_body(ctx: LoweringContext, region: mlir.Region, args: Sequence[ir.Value],
               shape: ir.Shape | None) -> list[ir.Value]:
    """The op's elementwise `region` (see not_elementwise) lowered on tensors `args`, whose
    broadcast shape is `shape` (None: unknown)."""
    with ctx.lower_elementwise(shape):
        return ctx.inline_region(region, args)


def apply_function(ctx: LoweringContext, name: str, args: Sequence[ir.Value],
                   shape: ir.Shape | None) -> list[ir.Value]:
    """apply_body for the module function `name` (a custom_call's called computation)."""
    with ctx.lower_elementwise(shape):
        return ctx.inline_function(name, args)


def function_block(ctx: LoweringContext, name: str) -> mlir.Block | None:
    """The body of the module function `name`."""
    function = ctx.module_function(name)
    return function.regions[0].blocks[0] if function is not None else None
