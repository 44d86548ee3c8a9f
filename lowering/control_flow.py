"""Control flow: stablehlo.while -> Loop, stablehlo.case -> (nested) If."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from . import lowers
from .context import LoweringContext
from .types import TensorSpec

_BOOL_SCALAR = TensorSpec(ir.DataType.BOOL, ())
_ITERATION = TensorSpec(ir.DataType.INT64, ())


@lowers("stablehlo.while")
def while_(ctx: LoweringContext, *initial: ir.Value) -> list[ir.Value]:
    """stablehlo.while -> Loop(M="", cond) whose body runs `body` then `cond` on its result.

    The first condition is the cond region lowered on the initial values, outside the loop.
    """
    cond_region, body_region = ctx.op.regions
    specs = ctx.result_specs
    keep_going = ctx.inline_region(cond_region, list(initial))[0]
    carried = [ctx.graph_input(f"carried_{i}", s) for i, s in enumerate(specs)]

    def body(sub: LoweringContext) -> list[ir.Value]:
        updated = sub.inline_region(body_region, carried)
        return [sub.inline_region(cond_region, updated)[0], *updated]

    graph = ctx.subgraph(
        [ctx.graph_input("iteration", _ITERATION), ctx.graph_input("cond_in", _BOOL_SCALAR),
         *carried],
        body, [_BOOL_SCALAR, *specs], "while_body",
    )
    if not specs:
        raise ctx.error("a while loop that carries no values computes nothing")
    return ctx.b.op("Loop", None, keep_going, *initial, body=graph, _outputs=len(specs))


@lowers("stablehlo.case")
def case(ctx: LoweringContext, index: ir.Value) -> list[ir.Value]:
    """stablehlo.case -> If(index == 0, branch 0, If(index == 1, ...)): an index out of
    range runs the last branch, as StableHLO specifies."""
    return _branches_from(ctx, index, list(ctx.op.regions), 0)


def _branches_from(ctx: LoweringContext, index: ir.Value, branches: list, first: int):
    if first == len(branches) - 1:
        return ctx.inline_region(branches[first], [])
    specs = ctx.result_specs

    then_branch = ctx.subgraph([], lambda sub: sub.inline_region(branches[first], []), specs,
                               f"branch_{first}")
    else_branch = ctx.subgraph([], lambda sub: _branches_from(sub, index, branches, first + 1),
                               specs, f"not_branch_{first}")
    is_first = ctx.b.Equal(index, ctx.const(np.asarray(first, dtype=ctx.operand_specs[0].np_dtype)))
    if not specs:
        raise ctx.error("a case with no results has no effect to convert")
    return ctx.b.op("If", is_first, then_branch=then_branch, else_branch=else_branch,
                    _outputs=len(specs))
