"""Calls, composites, constants, and the ops that carry no computation."""

from __future__ import annotations

import onnx_ir as ir

from jax2onnx_hlo._mlir import symbol_ref
from jax2onnx_hlo.functions import MARKER

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


@lowers(MARKER)
def onnx_function(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """@onnx_function composite -> a call of an ONNX function lifted from its decomposition.

    Operands: JAX's leading extras (dimension variables), the call's arrays (`n_args`),
    then the arrays it captures (`n_captures`, weights). Unique functions are shared by
    call sites with equal input types, captured values and baked-in parameters.
    """
    attrs = ctx.attr("composite_attributes")
    captures = operands[len(operands) - attrs["n_captures"]:]
    key = (attrs["target"], attrs["params"],
           tuple(ctx.operand_specs),
           tuple(id(v) for v in captures))
    domain, new = ctx.function_domains.domain(attrs["namespace"], attrs["base"],
                                              attrs["unique"], key)
    decomposition = symbol_ref(ctx.raw_attr("decomposition"))
    function = (ctx.lift_function(decomposition, operands, domain, attrs["base"]) if new
                else ctx.onnx_function(domain, attrs["base"]))
    return ctx.call_function(function, operands)


@lowers("stablehlo.optimization_barrier")
def optimization_barrier(ctx: LoweringContext, *args: ir.Value) -> list[ir.Value]:
    """stablehlo.optimization_barrier -> its operands (it only orders XLA's scheduling)."""
    return list(args)


@lowers(f"{CUSTOM_CALL}@shape_assertion")
def shape_assertion(ctx: LoweringContext, *args: ir.Value) -> list[ir.Value]:
    """custom_call @shape_assertion -> nothing: a check of the input shapes, no results."""
    return []
