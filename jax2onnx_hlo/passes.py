"""Post-conversion passes over the onnx_ir model, built on onnx_ir and onnxscript."""

from __future__ import annotations

import ast
import math
from collections.abc import Collection
from typing import Any

import numpy as np
import onnx_ir as ir
import onnx_ir.passes.common as common
import onnxscript.optimizer
import onnxscript.rewriter
from onnxscript.optimizer import _constant_folding

from .fusions import fuse
from .layout import sink_transposes
from .naming import make_names_unique
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
    common.RemoveUnusedNodesPass()(model)
    common.NameFixPass()(model)  # folded values become initializers: names must be unique
    drop_broadcasting_expands(model.graph)
    optimize(model)
    # Expands of constants too large to fold survive the first round, where the values
    # a rule made inside had no shapes yet; the optimizer's shape inference gave them.
    if drop_broadcasting_expands(model.graph):
        common.RemoveUnusedNodesPass()(model)
    if sink_transposes(model.graph):  # NCHW Conv -> bias, relu -> NCHW Conv: pairs cancel
        optimize(model)
    shrink_splat_constants(model.graph, weight_names)
    common.CommonSubexpressionEliminationPass()(model)
    if fuse(model):  # fold the reshaped scales of fused norms, drop what the fusions left
        _TensorFolder()(model)  # onnxscript.optimizer.fold_constants(model), faster
        common.RemoveUnusedNodesPass()(model)
    route_where_types(model)  # kernels ONNX Runtime (CPU and web) lacks
    restore_weight_names(model.graph, weight_names)
    common.NameFixPass()(model)
    make_names_unique(model)  # across subgraphs too, which NameFixPass does not ensure
    return model


# onnxscript's default rewrite rules less SlicesSplit: a pattern with two output nodes is
# matched by scanning the whole graph at every node, which makes conversion time quadratic
# in the graph size (a 1024-layer MLP took 50 s); our lowerings emit no Slice pair to split.
_REWRITE_RULES = RuleIndex(
    rule for rule in onnxscript.rewriter._DEFAULT_REWRITE_RULES if rule.name != "SlicesSplit"
)


def optimize(model: ir.Model, iterations: int = 2) -> None:
    """onnxscript.optimizer.optimize_ir (fold constants, rewrite, remove unused,
    deduplicate initializers, CSE) with the rules above, in linear time. Functions are not
    inlined: @onnx_function boundaries stay in the model."""
    for _ in range(iterations):
        folded = fold_constants(model)
        rewritten = _REWRITE_RULES.apply_to_model(model)
        if not _REWRITE_RULES.remove_unused_nodes:  # else the rewriting just removed them
            common.RemoveUnusedNodesPass()(model)
        if not folded.modified and not rewritten:
            break
    common.RemoveUnusedFunctionsPass()(model)
    common.RemoveUnusedOpsetsPass()(model)
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    common.LiftSubgraphInitializersToMainGraphPass()(model)
    common.DeduplicateInitializersPass()(model)
    common.CommonSubexpressionEliminationPass()(model)
    common.OutputFixPass()(model)
    common.NameFixPass()(model)


class _TensorFolder(_constant_folding.FoldConstantsPass):
    """onnxscript's constant folding (by default as `onnxscript.optimizer.fold_constants`)
    that wraps folded arrays in `ir.Tensor` directly: `ir.tensor` makes the same tensor of
    a numpy array, after runtime Protocol checks that cost ~0.1 ms a call on Python 3.11
    (BERT-base folds ~500 arrays)."""

    def __init__(self, shape_inference: bool = False,
                 input_size_limit: int = _constant_folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
                 output_size_limit: int = _constant_folding.DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT,
                 should_fold=lambda node: None):
        super().__init__(shape_inference=shape_inference, input_size_limit=input_size_limit,
                         output_size_limit=output_size_limit, should_fold=should_fold)

    def _prepare_folded_tensor(self, node: ir.Node, output_name: str,
                               output_array: np.ndarray | Any) -> ir.Tensor | None:
        """As onnxscript's (0.7): the array as a named tensor, None when it is not an array
        or is too large for what folding it frees."""
        if not isinstance(output_array, np.ndarray):
            return super()._prepare_folded_tensor(node, output_name, output_array)
        tensor = ir.Tensor(output_array)
        tensor.name = output_name
        if output_array.size > self.output_size_limit:
            removed_input_size = 0
            for input_val in node.inputs:
                if input_val is not None and len(input_val.uses()) == 1:
                    input_array = _constant_folding._get_numpy_value(input_val)
                    if input_array is not None:
                        removed_input_size += input_array.size
            if output_array.size - removed_input_size > 0:
                return None
        return tensor


class _ConstantFolder(_TensorFolder):
    """onnxscript's constant folding with ONNX shape inference, run only on the nodes whose
    outputs the walker did not type completely (the rewrites' new nodes, say): inference
    keeps a known dim, so it cannot change those. Nodes whose folded value would be
    dropped as too large (an Expand of a scalar to a batch-sized tensor) are not
    evaluated."""

    def __init__(self):
        super().__init__(
            shape_inference=True,
            input_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
            output_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT,
            should_fold=self._should_fold,
        )

    def _do_inference(self, node: ir.Node) -> None:
        if not all(_fully_typed(value) for value in node.outputs):
            super()._do_inference(node)

    def _should_fold(self, node: ir.Node) -> bool | None:
        """False where the fold would be computed and then dropped for its size (as
        _prepare_folded_tensor decides: larger than the limit and than the inputs it
        frees); None: onnxscript's own rules decide."""
        if len(node.outputs) != 1:
            return None
        shape = node.outputs[0].shape
        if shape is None or not shape.is_static():
            return None
        size = math.prod(shape.numpy())
        if size <= self.output_size_limit:
            return None
        freed = sum(value.const_value.size for value in node.inputs
                    if value is not None and value.const_value is not None
                    and len(value.uses()) == 1)
        return False if size - freed > 0 else None


def _fully_typed(value: ir.Value) -> bool:
    """Whether value has a type and a shape whose every dim is a number or a name."""
    if value.type is None or value.shape is None:
        return False
    return all(isinstance(d, int) or d.value is not None for d in value.shape)


def fold_constants(model: ir.Model) -> _constant_folding.FoldConstantsResult:
    """onnxscript.optimizer.fold_constants(model, onnx_shape_inference=True), with
    the same result in less time (see _ConstantFolder)."""
    return _ConstantFolder()(model)


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
    scalars: dict[tuple, ir.Value] = {}
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
            key = (array.dtype.str, array.flat[0].tobytes())
            if key not in scalars:
                scalar = np.array(array.flat[0], dtype=array.dtype)
                scalars[key] = ir.Value(name=f"{value.name}_scalar",
                                        const_value=ir.Tensor(scalar),
                                        shape=ir.Shape([]), type=value.type)
                graph.register_initializer(scalars[key])
            node.replace_input_with(index, scalars[key])
            count += 1
        if not value.uses() and not value.is_graph_output():
            graph.initializers.pop(value.name)
    return count


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
