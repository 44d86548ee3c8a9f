"""Complex values through calls, shape ops, reductions and dot_general (float [..., 2]
pairs, see lowering/complex.py).

Calls and composites are inlined as for real values. Ops that only move, select or add
elements run their ordinary rule on each part (`on_parts`); while and case carry pairs;
dot_general is four real products; reduce sums each part or multiplies in polar form.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo.functions import MARKER

from . import rule_for
from .complex import lowers_complex, on_parts, pack, parts_view, reuse, split
from .complex_elementwise import complex_abs, complex_angle, complex_multiply
from .context import LoweringContext
from .regions import binary_reducer, is_constant, returns_update
from .types import onnx_spec

# The walker's own plumbing: the callee's ops lower one by one, each by its own rule.
for _name in ("func.call", "stablehlo.composite", MARKER, "stablehlo.optimization_barrier"):
    lowers_complex(_name)(reuse(_name))

# Ops that move or pick elements (indices, sizes, predicates are the same for both parts).
_MOVES = (
    "broadcast_in_dim reshape transpose slice concatenate pad reverse dynamic_slice "
    "dynamic_update_slice gather dynamic_broadcast_in_dim dynamic_reshape real_dynamic_slice "
    "dynamic_gather dynamic_pad"
).split()
for _name in _MOVES:
    lowers_complex(f"stablehlo.{_name}")(partial(on_parts, reuse(f"stablehlo.{_name}")))


@lowers_complex("stablehlo.while", "stablehlo.case")
def control_flow(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.while / case carrying complex values -> the ordinary Loop / If rule, its
    subgraph inputs and outputs typed as float [..., 2] pairs; the ops of the regions
    lower one by one, complex ones by their complex rules."""
    view = ctx.with_specs([onnx_spec(s) for s in ctx.operand_specs],
                          [onnx_spec(s) for s in ctx.result_specs])
    return rule_for(ctx.name)(view, *operands)


@lowers_complex("stablehlo.scatter")
def scatter(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.scatter of complex values with a set or add body -> the ordinary rule on
    each part (x.at[i].set(v), x.at[i].add(v)).

    Limits: one operand; other bodies (multiply, ...) are refused.
    """
    region = ctx.op.regions[0]
    body = binary_reducer(region) or ("set" if returns_update(region) else None)
    if len(operands) != 3 or body not in ("stablehlo.add", "set"):
        raise ctx.error("scatter of complex values: only a single-operand set or add converts")
    return on_parts(rule_for("stablehlo.scatter"), ctx, *operands)


@lowers_complex("stablehlo.get_dimension_size")
def get_dimension_size(ctx: LoweringContext, z: ir.Value) -> list[ir.Value]:
    """stablehlo.get_dimension_size of a complex operand -> that of its real part."""
    return rule_for("stablehlo.get_dimension_size")(parts_view(ctx), split(ctx, [z])[0][0])


@lowers_complex("stablehlo.reduce")
def reduce(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.reduce of complex values: an add body -> ReduceSum of each part (sums are
    linear); a multiply body -> in polar form, ReduceProd of the magnitudes and ReduceSum
    of the angles, then times the init unless it is 1 (jnp.prod; norm="ortho" FFTs).

    Limits: one operand only; other bodies (max, min) are refused. A product's angle is a
    sum, so its rounding grows with the number of factors (1 ulp of the angle per factor).
    """
    body = binary_reducer(ctx.op.regions[0])
    if len(operands) != 2 or body not in ("stablehlo.add", "stablehlo.multiply"):
        raise ctx.error(f"reduce of complex values with body {body or 'of several ops'} and "
                        f"{len(operands) // 2} operand(s): only a single-operand sum or "
                        "product converts")
    if body == "stablehlo.add":
        return on_parts(rule_for("stablehlo.reduce"), ctx, *operands)
    return [_product(ctx, *operands)]


def _product(ctx: LoweringContext, x: ir.Value, init: ir.Value) -> ir.Value:
    b, axes = ctx.b, ctx.attr("dimensions")
    if not axes:  # XLA applies no init at all when nothing is reduced
        return x
    dims = ctx.i64(axes)
    product = b.ReduceProd(complex_abs(ctx, x), dims, keepdims=0)
    turn = b.ReduceSum(complex_angle(ctx, x), dims, keepdims=0)
    result = pack(ctx, b.Mul(product, b.Cos(turn)), b.Mul(product, b.Sin(turn)))
    if is_constant(init, np.array([1, 0])):
        return result
    return complex_multiply(ctx, result, init)


@lowers_complex("stablehlo.reduce_window")
def reduce_window(ctx: LoweringContext, *operands: ir.Value) -> list[ir.Value]:
    """stablehlo.reduce_window with an add body (cumsum, window sums) -> the ordinary rule
    on each part.

    Limits: one operand; other bodies (max, product) are refused.
    """
    body = binary_reducer(ctx.op.regions[0])
    if len(operands) != 2 or body != "stablehlo.add":
        raise ctx.error("reduce_window of complex values: only a single-operand sum converts")
    return on_parts(rule_for("stablehlo.reduce_window"), ctx, *operands)


@lowers_complex("stablehlo.dot_general", "stablehlo.convolution")
def bilinear(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value) -> list[ir.Value]:
    """stablehlo.dot_general / convolution -> (AC - BD) + (AD + BC)i, four real products
    by the ordinary rule; a real operand (imaginary part 0) needs two.
    """
    b, view = ctx.b, parts_view(ctx)
    (a, bi), (c, d) = split(ctx, [lhs, rhs])

    def dot(x: ir.Value, y: ir.Value) -> ir.Value:
        return rule_for(ctx.name)(view, x, y)[0]

    re = dot(a, c) if bi is None or d is None else b.Sub(dot(a, c), dot(bi, d))
    terms = [dot(a, d)] if d is not None else []
    terms += [dot(bi, c)] if bi is not None else []
    im = terms[0] if len(terms) == 1 else b.Add(*terms)
    return [pack(ctx, re, im)]
