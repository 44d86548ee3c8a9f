"""onnxscript's pattern rewriting, with the rules indexed by the op type of their root.

`onnxscript.rewriter.RewriteRuleSet.apply_to_model` tries every rule at every node; a
pattern with one output node fails at once on a node of another op type, but the attempt
(a matcher set up, a failure reason built) is what most of the conversion time of a large
model went into (ViT-B/16: 45 rules x 7,000 nodes per round, about 1 s). `RuleIndex`
applies the same rules in the same order with the same effect, trying at each node only
those whose root op type is the node's (and the few it cannot index: multi-output
patterns, custom matchers, op type prefixes) and whose root's inputs (and theirs, in
turn) come from the op types the pattern names there, or are constants of the shape it
names (`Mul(x, 1)`). One difference: a 0 or 1 in a pattern matches that value only, not
any value within onnxscript's tolerance (see _requirements).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import onnx_ir as ir
import onnxscript.optimizer
from onnxscript.ir import convenience
from onnxscript.rewriter import _matcher, _pattern_ir, _rewrite_rule, pattern

from .dead_code import remove_unused_nodes
from .naming import fix_names

__all__ = ["RuleIndex"]


def _root_op_type(rule: pattern.RewriteRule) -> str | None:
    """The op type every node this rule can match at must have; None if not known."""
    if type(rule._matcher) is not _matcher.SimplePatternMatcher:
        return None
    graph_pattern = rule._target_pattern
    if not graph_pattern.has_single_output_node:
        return None
    op = graph_pattern.output_node.op
    return op.value() if isinstance(op, _pattern_ir.StringConstantPattern) else None


# (input position, what the input must be): the output of an op of this type whose own
# inputs meet these requirements, or a constant of this shape and these values
_Requirement = tuple[int, "tuple[str, tuple[_Requirement, ...]] | tuple[tuple[int, ...], Any]"]


def _input_requirements(rule: pattern.RewriteRule) -> tuple[_Requirement, ...]:
    """What the root's inputs must be for the rule to match (see _requirements)."""
    if _root_op_type(rule) is None:
        return ()
    return _requirements(rule._target_pattern.output_node)


def _requirements(node_pattern: _pattern_ir.NodePattern) -> tuple[_Requirement, ...]:
    """Where the pattern takes a node's output (not a choice or a variable), the output of
    an op of that type, recursively; where it takes a constant, a constant of its shape (a
    scalar, or a list's length), and where that is a scalar 0 or 1, exactly that value.
    onnxscript's matcher compares values within a tolerance (abs 1e-8, rel 1e-5), right
    for a fused op's coefficients (Gelu's 0.044715), wrong for an identity element: its
    no-op rule Add(x, 0) took isclose's atol of 1e-8 for a 0 and dropped it, and
    Mul(x, 1) would drop a 1.000001."""
    required: list[_Requirement] = []
    for position, value in enumerate(node_pattern.inputs):
        if type(value) is _pattern_ir.NodeOutputPattern:
            producer = value.producer()
            if isinstance(producer.op, _pattern_ir.StringConstantPattern):
                required.append((position, (producer.op.value(), _requirements(producer))))
        elif type(value) is _pattern_ir.Constant:
            constant = value.value
            shape = (len(constant),) if isinstance(constant, list) else ()
            exact = None if isinstance(constant, list) or constant not in (0, 1) else constant
            required.append((position, (shape, exact)))
    return tuple(required)


def _may_match(node: ir.Node, required: tuple[_Requirement, ...]) -> bool:
    inputs = node.inputs
    for position, requirement in required:
        value = inputs[position] if position < len(inputs) else None
        if value is None:
            return False
        if requirement and isinstance(requirement[0], str):
            op_type, producer_requirements = requirement
            producer = value.producer()
            if (producer is None or producer.op_type != op_type
                    or not _may_match(producer, producer_requirements)):
                return False
        else:
            shape, constant = requirement
            tensor = value.const_value
            if tensor is None or tensor.shape.dims != shape or (
                    constant is not None and tensor.numpy() != constant):
                return False
    return True


class RuleIndex:
    """A rule set whose application tries only the rules that can match at each node."""

    def __init__(self, rules: Iterable[pattern.RewriteRule]):
        self.rules: list[pattern.RewriteRule] = list(rules)
        if any(rule.as_function for rule in self.rules):
            raise ValueError("rules that rewrite to functions are not supported")
        roots = [_root_op_type(rule) for rule in self.rules]
        by_op: dict[str, list[int]] = {}
        for position, root in enumerate(roots):
            if root is not None:
                by_op.setdefault(root, []).append(position)
        anywhere = [i for i, root in enumerate(roots) if root is None]
        # op type -> its rules and the unindexed ones, in the order of the rule set
        self._by_op = {op: [self.rules[i] for i in sorted(positions + anywhere)]
                       for op, positions in by_op.items()}
        self._anywhere = [self.rules[i] for i in anywhere]
        self.remove_unused_nodes = any(not rule.remove_nodes for rule in self.rules)
        self._required = {id(rule): _input_requirements(rule) for rule in self.rules}

    def candidates(self, node: ir.Node) -> Sequence[pattern.RewriteRule]:
        return self._by_op.get(node.op_type, self._anywhere)

    def apply_to_model(self, model: ir.Model) -> int:
        """As `RewriteRuleSet.apply_to_model` (no tracer, no verbose): the count of
        rewrites."""
        onnxscript.optimizer.basic_constant_propagation(model.graph)
        functions = list(model.functions.values())
        count = self._apply(model, model.graph)
        for function in functions:
            onnxscript.optimizer.basic_constant_propagation(function)
            count += self._apply(model, function)
        if self.remove_unused_nodes:
            remove_unused_nodes(model)
        if count:
            fix_names(model)  # the rewrites' values may reuse names
        return count

    def _apply(self, model: ir.Model, graph: ir.Graph | ir.Function) -> int:
        count = 0
        for rule in self.rules:
            if rule.graph_pre_visitor:
                rule.graph_pre_visitor()
        for node in graph:
            for rule in self.candidates(node):
                if not _may_match(node, self._required[id(rule)]):
                    continue
                delta = rule.try_rewrite(model, graph, node)
                if delta is None:
                    continue
                if delta.new_initializers and isinstance(graph, ir.Function):
                    continue  # a function has no initializers (as onnxscript does)
                for initializer in delta.new_initializers:
                    graph.initializers[initializer.name] = initializer
                onnxscript.optimizer.basic_constant_propagation(delta.new_nodes)
                if rule.name:
                    for new in delta.new_nodes:
                        new.metadata_props[_rewrite_rule.RULE_NAME_TAG] = rule.name
                convenience.replace_nodes_and_values(
                    graph, node, delta.match.nodes if rule.remove_nodes else [],
                    delta.new_nodes, delta.match.outputs, delta.new_outputs,
                )
                if _rewrite_rule.merge_metadata:
                    _rewrite_rule._default_metadata_merger.copy_merged_metadata(
                        delta.match.nodes, delta.new_nodes)
                count += 1
                break
            for attr in node.attributes.values():
                if attr.type == ir.AttributeType.GRAPH:
                    count += self._apply(model, attr.value)
                elif attr.type == ir.AttributeType.GRAPHS:
                    for subgraph in attr.value:
                        count += self._apply(model, subgraph)
        for rule in self.rules:
            if rule.graph_post_visitor:
                rule.graph_post_visitor()
        return count
