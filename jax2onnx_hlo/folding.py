"""onnxscript's constant folding (`FoldConstantsPass`, onnxscript 0.7), with its result
and in less time.

The pass visits every node, and most nodes cannot change: an op without a partial
evaluator whose inputs are not all constant, whose outputs are typed. `_TensorFolder`
passes those over. The nodes that do fold are mostly data movement over constants
(Reshape, Unsqueeze, Expand, Transpose: ~450 of BERT-base's), which onnxscript computes
with ONNX's reference evaluator after an ONNX shape inference of the node; numpy does it
directly, and the inference is not needed where its result is replaced by the folded
value. This overrides onnxscript's `process_node` and uses its private module
`_constant_folding` (registry, Replacement, TapeBuilder): the pass offers no other hook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx_ir as ir
from onnxscript.optimizer import _constant_folding

from .naming import fix_names

__all__ = ["NUMPY_FOLDERS", "fold_constants"]

_Folder = Callable[[Sequence[np.ndarray | None], dict[str, Any]], np.ndarray]


def _reshape(inputs: Sequence[np.ndarray | None], attributes: dict[str, Any]) -> np.ndarray:
    """Reshape(data, shape, allowzero): a 0 copies the input's dim unless allowzero."""
    data, shape = inputs
    new_shape = np.copy(shape)
    if not attributes.get("allowzero", 0):
        zeros = np.where(shape == 0)
        new_shape[zeros] = np.array(data.shape)[zeros]
    return np.reshape(data, new_shape)


def _unsqueeze(inputs: Sequence[np.ndarray | None], attributes: dict[str, Any]) -> np.ndarray:
    """Unsqueeze(data, axes)."""
    data, axes = inputs
    return np.expand_dims(data, axis=tuple(axes) if axes.ndim else axes)


def _squeeze(inputs: Sequence[np.ndarray | None], attributes: dict[str, Any]) -> np.ndarray:
    """Squeeze(data, axes?): without axes, every dim of 1."""
    data, axes = (*inputs, None)[:2]
    if axes is None:
        return np.squeeze(data)
    return np.squeeze(data, axis=tuple(axes))


def _expand(inputs: Sequence[np.ndarray | None], attributes: dict[str, Any]) -> np.ndarray:
    """Expand(data, shape): numpy broadcasting of both ways, as a new array."""
    data, shape = inputs
    ones = np.ones(shape, dtype=data.dtype)
    return data * ones


def _transpose(inputs: Sequence[np.ndarray | None], attributes: dict[str, Any]) -> np.ndarray:
    """Transpose(data, perm): without perm, the dims reversed."""
    (data,) = inputs
    perm = attributes.get("perm")
    if not perm:
        return np.transpose(data)
    if len(perm) != data.ndim:
        raise ValueError(f"perm {perm} does not fit shape {data.shape}")
    return np.transpose(data, axes=perm)


# Op type (domain "", opset >= 14) -> its result over constant inputs, computed as ONNX's
# reference implementation computes it (onnx/reference/ops), with the same dtype.
NUMPY_FOLDERS: dict[str, _Folder] = {
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Expand": _expand,
    "Transpose": _transpose,
}
_KEPT = object()  # a node that process_node would leave as it is
_MIN_NUMPY_OPSET = 14  # Reshape's allowzero; Squeeze/Unsqueeze take axes as an input (13)


class _TensorFolder(_constant_folding.FoldConstantsPass):
    """onnxscript's constant folding (by default as `onnxscript.optimizer.fold_constants`):
    the same folds, faster (see the module's docstring), and folded arrays wrapped in
    `ir.Tensor` directly: `ir.tensor` makes the same tensor of a numpy array, after runtime
    Protocol checks that cost ~0.1 ms a call on Python 3.11."""

    def __init__(self, shape_inference: bool = False,
                 input_size_limit: int = _constant_folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
                 output_size_limit: int = _constant_folding.DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT,
                 should_fold=lambda node: None):
        super().__init__(shape_inference=shape_inference, input_size_limit=input_size_limit,
                         output_size_limit=output_size_limit, should_fold=should_fold)

    def call(self, model: ir.Model) -> _constant_folding.FoldConstantsResult:
        """onnxscript's `call`, whose NameFixPass after a fold runs only where names need
        fixing (fix_names): after most folds they are unique already."""
        self._reset()
        self._opset_imports = model.opset_imports
        self.visit_graph(model.graph)
        for function in model.functions.values():
            self.visit_function(function)
        if self._modified:
            fix_names(model)
        return _constant_folding.FoldConstantsResult(model, self._modified,
                                                     self._state.symbolic_value_map)

    def process_node(self, node: ir.Node,
                     is_function: bool) -> _constant_folding.Replacement | None:
        if self._has_substitute_input(node):
            return super().process_node(node, is_function)
        if not _all_constant(node):  # nothing to evaluate: a partial evaluator may act
            if self._needs_inference(node):
                return super().process_node(node, is_function)
            return self._partially_evaluate(node)  # None: process_node would change nothing
        if not is_function:
            folded = self._fold_with_numpy(node)
            if folded is _KEPT:
                return None
            if folded is not None:
                return folded
        return super().process_node(node, is_function)

    def _needs_inference(self, node: ir.Node) -> bool:
        return self.shape_inference

    def _has_substitute_input(self, node: ir.Node) -> bool:
        """Whether an input has a value to stand for it (an Identity's input, say)."""
        sym_values = self._state.symbolic_value_map
        return any(value in sym_values and isinstance(sym_values[value], ir.Value)
                   for value in node.inputs if value is not None)

    def _partially_evaluate(self, node: ir.Node) -> _constant_folding.Replacement | None:
        """onnxscript's partial evaluators of the node (a Reshape to the same shape becomes
        an Identity, say), run as process_node runs them after the inference, which the
        callers found not needed: a copy of those lines of onnxscript 0.7's process_node.
        Run once only: the nodes an evaluator builds take uses of their inputs."""
        if (node.domain, node.op_type) not in _constant_folding.registry.op_evaluators:
            return None
        version = self._opset_imports.get(node.domain)
        if version is None:
            return None  # process_node skips a node of an unknown domain
        for evaluator in _constant_folding.registry.lookup_evaluators(
                node.domain, node.op_type, version):
            context = _constant_folding.TapeBuilder()
            try:
                output = evaluator(node, context, self._state)
            except Exception as e:
                raise RuntimeError(f"Error during constant folding for node {node.name!r} "
                                   f"({node.domain}::{node.op_type})") from e
            if output is not None:
                if isinstance(output, _constant_folding.Replacement):
                    return output
                if isinstance(output, ir.Value):
                    output = [output]
                return _constant_folding.Replacement(output, context.nodes)
        return None

    def _fold_with_numpy(self, node: ir.Node) -> _constant_folding.Replacement | object | None:
        """The folded value of a NUMPY_FOLDERS node where onnxscript's process_node would
        fold it with the reference evaluator; _KEPT where it would keep the node as it is
        (for its size); None where process_node is left to decide."""
        inputs = self._numpy_inputs(node)
        if inputs is None:
            return None
        if (node.domain, node.op_type) in _constant_folding.registry.op_evaluators:
            if self._needs_inference(node):
                return None  # process_node infers, then evaluates
            if (replacement := self._partially_evaluate(node)) is not None:
                return replacement
        should_fold = self.should_fold(node)
        kept = None if self._needs_inference(node) else _KEPT
        if should_fold is False:
            return kept
        if should_fold is None and any(a is not None and a.size > self.input_size_limit
                                       for a in inputs):
            # onnxscript folds a Transpose of a large constant that it alone uses
            return None if node.op_type == "Transpose" else kept
        try:
            array = NUMPY_FOLDERS[node.op_type](inputs, _attribute_values(node))
        except Exception:  # noqa: BLE001 - the reference evaluator fails too: no fold
            return None
        initializer = self.new_initializer(node, array)
        if initializer is None:
            return None  # too large: process_node infers the shape and keeps the node
        node.graph.register_initializer(initializer)
        return _constant_folding.Replacement([initializer], [])

    def _numpy_inputs(self, node: ir.Node) -> list[np.ndarray | None] | None:
        """The (constant) inputs of a node numpy can fold, whose output type inference
        would not change (typed, or wholly unknown: then the folded tensor's type stands)."""
        if node.domain != "" or node.op_type not in NUMPY_FOLDERS or len(node.outputs) != 1:
            return None
        if self._opset_imports.get("", 0) < _MIN_NUMPY_OPSET:
            return None
        output = node.outputs[0]
        if self._needs_inference(node) and (output.type is not None
                                            or output.shape is not None):
            return None
        if any(attr.is_ref() for attr in node.attributes.values()):
            return None
        inputs = []
        for value in node.inputs:
            array = _constant_folding._get_numpy_value(value)
            if value is not None and (array is None
                                      or value.const_value.dtype == ir.DataType.STRING):
                return None
            inputs.append(array)
        return inputs

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


def _all_constant(node: ir.Node) -> bool:
    """Whether every input is a constant (a graph input is not: it keeps the signature)."""
    return not any(value is not None and (value.const_value is None or value.is_graph_input())
                   for value in node.inputs)


def _attribute_values(node: ir.Node) -> dict[str, Any]:
    return {name: attr.value for name, attr in node.attributes.items()}


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

    def _needs_inference(self, node: ir.Node) -> bool:
        return not all(_fully_typed(value) for value in node.outputs)

    def _do_inference(self, node: ir.Node) -> None:
        if self._needs_inference(node):
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


def fold_constants(model: ir.Model, *,
                   shape_inference: bool = True) -> _constant_folding.FoldConstantsResult:
    """onnxscript.optimizer.fold_constants(model, onnx_shape_inference=shape_inference),
    with the same result in less time (see _TensorFolder and _ConstantFolder)."""
    return (_ConstantFolder() if shape_inference else _TensorFolder())(model)
