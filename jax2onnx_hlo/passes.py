"""Post-conversion passes over the onnx_ir model, built on onnx_ir and onnxscript."""

from __future__ import annotations

import ast
from collections.abc import Collection

import numpy as np
import onnx_ir as ir
import onnx_ir.passes.common as common
import onnxscript.optimizer
import onnxscript.rewriter

from .dead_code import remove_unused_nodes
from .folding import fold_constants
from .fusions import fuse
from .layout import sink_transposes
from .naming import fix_names, make_names_unique
from .portability import route_where_types
from .rewriting import RuleIndex

__all__ = [
    "drop_broadcasting_expands", "restore_weight_names", "run_passes", "shrink_splat_constants",
]

# ONNX ops that broadcast their inputs numpy-style (multidirectional broadcasting).
_BROADCASTING_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Where", "And", "Or", "Xor",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "BitShift", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor",  # not PRelu: it broadcasts its slope to X only
})


def run_passes(model: ir.Model, weight_names: Collection[str] = ()) -> ir.Model:
    """Cleans and folds the walker's output.

    broadcast_in_dim lowers to Expand, which elementwise ops do not need: those Expands go
    first, so that folding does not bake a batch-sized copy of every bias or relu zero
    into the model. Then the onnxscript optimizer folds constants and removes dead code,
    and every value gets a unique name. Splat constants that broadcasting makes redundant
    shrink to scalars, repeated subexpressions merge, and known patterns are fused back
    into ONNX's own ops (Softmax, LayerNormalization, Gelu, Gemm, ...: see fusions.py).
    """
    weight_names = set(weight_names)
    remove_unused_nodes(model)
    fix_names(model)  # folded values become initializers: names must be unique
    drop_broadcasting_expands(model.graph)
    optimize(model)
    # Expands of constants too large to fold survive the first round, where the values
    # a rule made inside had no shapes yet; the optimizer's shape inference gave them.
    if drop_broadcasting_expands(model.graph):
        remove_unused_nodes(model)
    # NCHW Conv -> bias, relu -> NCHW Conv: the pairs meet and cancel, to an Identity that
    # the folder bypasses. Sinking permutes the constants itself: nothing else to fold.
    if sink_transposes(model.graph) and _TRANSPOSE_PAIRS.apply_to_model(model):
        fold_constants(model, shape_inference=False)
        remove_unused_nodes(model)
    shrink_splat_constants(model.graph, weight_names)
    common.CommonSubexpressionEliminationPass()(model)
    if fuse(model):  # fold the reshaped scales of fused norms, drop what the fusions left
        fold_constants(model, shape_inference=False)
        remove_unused_nodes(model)
    route_where_types(model)  # kernels ONNX Runtime (CPU and web) lacks
    restore_weight_names(model.graph, weight_names)
    fix_names(model)
    make_names_unique(model)  # across subgraphs too, which NameFixPass does not ensure
    return model


# onnxscript's default rewrite rules less SlicesSplit: a pattern with two output nodes is
# matched by scanning the whole graph at every node, which makes conversion time quadratic
# in the graph size (a 1024-layer MLP took 50 s); our lowerings emit no Slice pair to split.
_REWRITE_RULES = RuleIndex(
    rule for rule in onnxscript.rewriter._DEFAULT_REWRITE_RULES if rule.name != "SlicesSplit"
)

_TRANSPOSE_PAIRS = RuleIndex(
    rule for rule in onnxscript.rewriter._DEFAULT_REWRITE_RULES
    if rule.name in ("TransposeTranspose", "TransposeIdentity"))


def optimize(model: ir.Model, iterations: int = 2) -> None:
    """onnxscript.optimizer.optimize_ir (fold constants, rewrite, remove unused,
    deduplicate initializers, CSE) with the rules above, in linear time. Functions are not
    inlined: @onnx_function boundaries stay in the model."""
    for _ in range(iterations):
        fold_constants(model)
        rewritten = _REWRITE_RULES.apply_to_model(model)
        if not _REWRITE_RULES.remove_unused_nodes:  # else the rewriting just removed them
            remove_unused_nodes(model)
        # The folder is one pass in graph order, so it leaves nothing foldable behind it:
        # only the rewrites' new nodes can give another round something to do.
        if not rewritten:
            break
    if model.functions:  # else the pass walks every node to find none to remove
        common.RemoveUnusedFunctionsPass()(model)
    common.RemoveUnusedOpsetsPass()(model)
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    common.LiftSubgraphInitializersToMainGraphPass()(model)
    common.DeduplicateInitializersPass()(model)
    common.CommonSubexpressionEliminationPass()(model)
    common.OutputFixPass()(model)
    fix_names(model)


def restore_weight_names(graph: ir.Graph, weight_names: set[str]) -> None:
    """A weight folded into a new initializer (a conv kernel transposed to OIHW, say) takes
    back the weight's name when it was made from that one weight and the name is free."""
    for value in list(graph.initializers.values()):
        sources = value.metadata_props.get(onnxscript.optimizer.FOLDED_FROM_KEY)
        if value.name in weight_names or not sources:
            continue
        named = [s for s in ast.literal_eval(sources) if s in weight_names]
        if len(named) == 1 and named[0] not in graph.initializers:
            graph.initializers.pop(value.name)
            value.name = named[0]
            graph.register_initializer(value)


def drop_broadcasting_expands(graph: ir.Graph) -> int:
    """Feeds Expand's input straight to broadcasting consumers whose inputs, with that one
    unexpanded, still broadcast to the (static) output shape: the result is the same. The
    onnxscript rule for this covers binary ops only, not Max/Min/Where; returns the count."""
    count = 0
    for node in list(graph):
        for index, value in enumerate(node.inputs):
            expand = value.producer() if value is not None else None
            if expand is None or expand.op_type != "Expand" or expand.domain != "":
                continue
            if _broadcasts_without(node, index, expand.inputs[0].shape):
                node.replace_input_with(index, expand.inputs[0])
                count += 1
    return count


def shrink_splat_constants(graph: ir.Graph, weight_names: set[str]) -> int:
    """Replaces a constant filled with one value (StableHLO's `dense<0.5> : tensor<BxN>`)
    by a scalar where it feeds a broadcasting op whose other inputs give the output shape,
    so that a batch-sized copy is not stored; returns the count of replaced uses."""
    count = 0
    # (dtype, bytes) -> a scalar constant to share: one made here, or one already there
    # (a broadcast that its users did themselves left its scalar as it was).
    scalars: dict[tuple, ir.Value] = {}
    for value in graph.initializers.values():
        tensor = value.const_value
        if tensor is not None and tensor.shape.dims == () and not value.is_graph_input() \
                and tensor.dtype != ir.DataType.STRING and not _from_weight(value, weight_names):
            scalars.setdefault(_scalar_key(tensor.numpy()), value)
    for value in list(graph.initializers.values()):
        if value.is_graph_input() or value.const_value is None or _from_weight(value, weight_names):
            continue
        if value.shape is None or value.shape.rank() == 0:
            continue
        if value.const_value.size <= 1:
            continue
        array = value.const_value.numpy()
        if any(array.strides) and (array.flat[-1] != array.flat[0]  # strides 0: a broadcast
                                   or not np.all(array == array.flat[0])):
            continue
        for node, index in list(value.uses()):
            if not _broadcasts_without(node, index, ir.Shape([])):
                continue
            scalar = np.array(array.flat[0], dtype=array.dtype)
            key = _scalar_key(scalar)
            if key not in scalars:
                scalars[key] = ir.Value(name=f"{value.name}_scalar",
                                        const_value=ir.Tensor(scalar),
                                        shape=ir.Shape([]), type=value.type)
                graph.register_initializer(scalars[key])
            node.replace_input_with(index, scalars[key])
            count += 1
        if not value.uses() and not value.is_graph_output():
            graph.initializers.pop(value.name)
    return count


def _scalar_key(scalar: np.ndarray) -> tuple[str, bytes]:
    """What makes two rank-0 constants the same one: dtype and bits (0.0 is not -0.0)."""
    return scalar.dtype.str, scalar.tobytes()


def _from_weight(value: ir.Value, weight_names: set[str]) -> bool:
    """Whether value is a weight or was folded from one (a zero bias stays a weight)."""
    if value.name in weight_names:
        return True
    sources = value.metadata_props.get(onnxscript.optimizer.FOLDED_FROM_KEY)
    return bool(sources) and any(s in weight_names for s in ast.literal_eval(sources))


def _broadcasts_without(node: ir.Node, index: int, shape: ir.Shape | None) -> bool:
    """Whether node's inputs, with input `index` of `shape`, still broadcast to its output.
    Named symbolic dims count: the same name is the same size ("B" with "B", or with 1)."""
    if node.op_type not in _BROADCASTING_OPS or node.domain != "" or shape is None:
        return False
    out_shape = node.outputs[0].shape
    shapes = [shape if i == index else v.shape for i, v in enumerate(node.inputs)
              if v is not None]
    if out_shape is None or any(s is None for s in shapes):
        return False
    broadcast = _broadcast_dims([_dims(s) for s in shapes])
    return broadcast is not None and broadcast == _dims(out_shape)


def _dims(shape: ir.Shape) -> list[int | str | None]:
    """A shape's dims: ints, symbolic names, or None where nothing is known."""
    return [d if isinstance(d, int) else d.value for d in shape]


def _broadcast_dims(shapes: list[list[int | str | None]]) -> list[int | str] | None:
    """numpy broadcasting over known and named dims; None when it cannot be decided."""
    rank = max(len(s) for s in shapes)
    result: list[int | str] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        if None in dims:
            return None
        dims.discard(1)
        if len(dims) > 1:
            return None
        result.append(dims.pop() if dims else 1)
    return result
