"""Calls, composites, constants, and the ops that carry no computation."""

from __future__ import annotations

import onnx_ir as ir

from jax2onnx_hlo._mlir import symbol_ref

from . import CUSTOM_CALL, lowers
from .context import LoweringContext


@lowers("stablehlo.constant")
def constant(ctx: LoweringContext) -> list[ir.Value]:
    """stablehlo.constant -> an initializer read from the attribute's buffer."""
    return [ctx.const(ctx.dense_attr("value", ctx.out))]


@lowers("func.call")
def call(ctx: LoweringContext, *args: ir.Value) -> list[ir.Value]:
    """func.call -> the callee's body, inlined."""
    return ctx.inline_function(symbol_ref(ctx.raw_attr("callee")), args)


@lowers("stablehlo.composite")
def composite(ctx: LoweringContext, *args: ir.Value) -> list[ir.Value]:
    """stablehlo.composite without a rule of its own -> its decomposition, inlined."""
    return ctx.inline_function(symbol_ref(ctx.raw_attr("decomposition")), args)


@lowers("stablehlo.optimization_barrier")
def optimization_barrier(ctx: LoweringContext, *args: ir.Value) -> list[ir.Value]:
    """stablehlo.optimization_barrier -> its operands (it only orders XLA's scheduling)."""
    return list(args)


@lowers(f"{CUSTOM_CALL}@shape_assertion")
def shape_assertion(ctx: LoweringContext, *args: ir.Value) -> list[ir.Value]:
    """custom_call @shape_assertion -> nothing: a check of the input shapes, no results."""
    return []
