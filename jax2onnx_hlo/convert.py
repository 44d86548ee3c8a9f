"""The walker: a StableHLO module's entry function -> an onnx_ir graph.

It does the plumbing once for every rule: maps SSA values to ONNX values, inlines
`func.call`s and composite decompositions, lifts `@onnx_function` composites into ONNX
functions, names and types each op's results from the MLIR result types, and names nodes
after the JAX scope that produced them.
"""

from __future__ import annotations

import contextlib
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx_ir as ir

from jax2onnx_hlo.lowering import Rule
from jax2onnx_hlo.lowering.context import LoweringContext
from jax2onnx_hlo.lowering.types import TensorSpec, onnx_spec, tensor_spec

from ._mlir import SourceLocation, conversion_caches, memoized, string_attr
from ._mlir import ir as mlir
from .dim_names import merged_shape, named_from_operands
from .errors import ConversionError
from .functions import FunctionDomains
from .rule_selection import STRUCTURAL_OPS, rule_key, select_rule
from .support import check_supported

__all__ = ["GraphInput", "ModuleLowering", "ir_version_for", "rule_key"]


def _short_scope(location: SourceLocation) -> str:
    """The JAX name stack without our own outer `jit(...)` wrapper."""
    return memoized("short_scope", location.scope, lambda: _strip_jit(location))


def _strip_jit(location: SourceLocation) -> str:
    parts = [p for p in location.scope.split("/") if p]
    if parts and parts[0].startswith("jit("):
        parts = parts[1:]
    return "/".join(parts)


@dataclass
class GraphInput:
    """How an argument of the entry function enters the graph."""

    name: str
    array: np.ndarray | None = None  # set: an initializer (a lifted weight)
    dim_names: dict[int, str] = field(default_factory=dict)  # axis -> ONNX dim_param


class ModuleLowering:
    """Converts one StableHLO module (already loaded in an MLIR context) to an ONNX graph."""

    def __init__(self, module: mlir.Module, *, entry: str = "main"):
        self.module = module
        self.functions: dict[str, mlir.OpView] = {}
        for op in module.body.operations:
            if op.operation.name == "func.func":
                self.functions[string_attr(op.attributes["sym_name"])] = op
        if entry not in self.functions:
            raise ConversionError(
                f"the module has no function @{entry}; it has "
                f"{', '.join('@' + n for n in self.functions) or 'no functions'}"
            )
        self.entry = self.functions[entry]
        self.graph = ir.Graph([], [], nodes=[], name="main")
        self._constants: dict[tuple, ir.Value] = {}
        self._rules: dict[mlir.OpView, tuple[str, Rule | None]] = {}  # see rule_of
        # (key, op, location) per op lowered, formatted by `record` when asked
        self._lowered: list[tuple[str, mlir.OpView, SourceLocation]] = []
        # The ONNX functions lifted from @onnx_function composites, in conversion order.
        self.onnx_functions: dict[ir.OperatorIdentifier, ir.Function] = {}
        self.function_domains = FunctionDomains()
        # Edits that depend on the model's opset, which is set after lowering (DFT's axis).
        self.opset_fixes: list[Callable[[int], None]] = []

    # ---- module-wide state ---------------------------------------------------------
    def rule_of(self, op: mlir.OpView) -> tuple[str, Rule | None]:
        """select_rule(op), once per op: the up-front scan and the lowering both ask, and
        each answer costs several calls into the MLIR bindings."""
        found = self._rules.get(op)
        if found is None:
            found = self._rules[op] = select_rule(op)
        return found

    @property
    def record(self) -> list[str]:
        """One line per op lowered (record_primitive_calls_file), formatted on request:
        most conversions never ask."""
        return [_record_line(key, op, location) for key, op, location in self._lowered]

    def constant(self, array: np.ndarray) -> ir.Value:
        """An initializer holding `array`; small repeated constants share one."""
        key = None
        if array.size <= 64:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._constants:
                return self._constants[key]
        value = ir.Value(
            name=f"const_{len(self.graph.initializers)}",
            shape=ir.Shape(array.shape),
            type=ir.TensorType(ir.DataType.from_numpy(array.dtype)),
            const_value=ir.Tensor(array),
        )
        self.graph.register_initializer(value)
        if key is not None:
            self._constants[key] = value
        return value

    # ---- conversion ----------------------------------------------------------------
    def lower(self, inputs: Sequence[GraphInput], output_names: Sequence[str]) -> ir.Graph:
        """Lowers the entry function; `inputs` describes each of its arguments."""
        with conversion_caches():
            return self._lower(inputs, output_names)

    def _lower(self, inputs: Sequence[GraphInput], output_names: Sequence[str]) -> ir.Graph:
        check_supported(self)
        block = self.entry.regions[0].blocks[0]
        if len(inputs) != len(block.arguments):
            raise ConversionError(
                f"the entry function takes {len(block.arguments)} arguments, "
                f"{len(inputs)} were described"
            )
        args = [self._graph_input(arg, spec) for arg, spec in zip(block.arguments, inputs)]
        results = FunctionLowering(self).lower_block(block, args)
        if len(output_names) != len(results):
            raise ConversionError(
                f"{len(output_names)} output names for {len(results)} outputs"
            )
        _set_outputs(self.graph, results, None, "main")
        for value, name in zip(self.graph.outputs, output_names):
            value.name = name
        return self.graph

    def attach_functions(self, model: ir.Model) -> None:
        """Adds the lifted functions to `model`, each importing the model's opset, and
        applies the edits rules left for when that opset is known."""
        for fix in self.opset_fixes:
            fix(model.graph.opset_imports[""])
        for function in self.onnx_functions.values():
            function.opset_imports[""] = model.graph.opset_imports[""]
            model.functions[function.identifier()] = function
            model.graph.opset_imports.setdefault(function.domain, 1)

    def _graph_input(self, arg: mlir.Value, described: GraphInput) -> ir.Value:
        # Complex inputs are float [..., 2] pairs, like every complex value in the graph.
        spec = onnx_spec(tensor_spec(arg.type))
        dims = [
            described.dim_names.get(axis, d) if d is None else d
            for axis, d in enumerate(spec.shape)
        ]
        value = ir.Value(name=described.name, shape=ir.Shape(dims), type=ir.TensorType(spec.dtype))
        if described.array is None:
            self.graph.inputs.append(value)
        else:
            array = np.asarray(described.array)
            if np.iscomplexobj(array):
                array = np.stack([array.real, array.imag], -1)
            value.const_value = ir.Tensor(array)
            self.graph.register_initializer(value)
        return value


class FunctionLowering:
    """Lowers a block's ops, in order, into a graph's node list (the main graph, the body
    of a Loop or a branch of an If, or the body of an ONNX function).

    `opset_imports` receives the domains of the function calls made here: the main
    graph's or the function's own. `in_function`: constants become Constant nodes, since
    a function body cannot use the main graph's initializers.
    """

    def __init__(self, module: ModuleLowering, graph: ir.Graph | None = None,
                 outer_env: Mapping[mlir.Value, ir.Value] | None = None, *,
                 in_function: bool = False, opset_imports: dict[str, int] | None = None):
        self.module = module
        self.graph = graph if graph is not None else module.graph
        self.in_function = in_function
        self.opset_imports = self.graph.opset_imports if opset_imports is None else opset_imports
        self._constants: dict[tuple, ir.Value] = {}  # small Constant nodes, shared
        # ids of the nodes appended here, by any op's rule so far (see _lower_op)
        self._made: set[int] = set()
        self._call_scopes: list[str] = []  # scopes of the calls being inlined, outermost first
        # Values visible to the ops being lowered: regions see their enclosing scopes.
        self._envs: list[Mapping[mlir.Value, ir.Value]] = [outer_env or {}]
        # While a body of scalars is lowered on whole tensors (lower_elementwise): the
        # shape its rank-0 results really have (None: unknown).
        self._elementwise_shapes: list[ir.Shape | None] = []

    def constant(self, array: np.ndarray) -> ir.Value:
        if not self.in_function:
            return self.module.constant(array)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key in self._constants:
            return self._constants[key]
        tensor = ir.Tensor(array)
        node = ir.Node("", "Constant", [], attributes=[ir.AttrTensor("value", tensor)],
                       num_outputs=1, name=f"Constant_{len(self.graph)}")
        self.append_node(node)
        value = node.outputs[0]
        value.name = f"const_{len(self.graph)}"
        value.type = ir.TensorType(tensor.dtype)
        value.shape = ir.Shape(array.shape)
        value.const_value = tensor  # rules that read constant operands still see it
        if key is not None:
            self._constants[key] = value
        return value

    def append_node(self, node: ir.Node) -> None:
        self.graph.append(node)
        self._made.add(id(node))

    def node_scope(self, location: SourceLocation) -> str:
        scope = _short_scope(location)
        # JAX writes a callee's locations relative to the callee ("sin", not
        # "encoder/jit(inner)/sin"): put them under the scope of the call being inlined.
        if self._call_scopes and not location.scope.startswith("jit("):
            return "/".join(s for s in (self._call_scopes[-1], scope) if s)
        return scope

    def inline_function(self, name: str, args: Sequence[ir.Value],
                        call_scope: str = "") -> list[ir.Value]:
        if name not in self.module.functions:
            raise ConversionError(f"call of @{name}, which the module does not define")
        self._call_scopes.append(call_scope)
        try:
            # A function sees only its arguments (func.func is isolated from above).
            return self.lower_block(self.module.functions[name].regions[0].blocks[0], args,
                                    isolated=True)
        finally:
            self._call_scopes.pop()

    def inline_region(self, region: mlir.Region, args: Sequence[ir.Value]) -> list[ir.Value]:
        """Lowers a region's block here; it may use values of the enclosing scopes."""
        return self.lower_block(region.blocks[0], args)

    @contextlib.contextmanager
    def lower_elementwise(self, shape: ir.Shape | None) -> Iterator[None]:
        """Within it, inlined bodies of scalars (reducer and scatter bodies applied to whole
        tensors) have their rank-0 results typed with `shape` instead of the MLIR's ()."""
        self._elementwise_shapes.append(shape)
        try:
            yield
        finally:
            self._elementwise_shapes.pop()

    def subgraph(self, inputs: Sequence[ir.Value], build: Callable[[FunctionLowering], list],
                 output_specs: Sequence[TensorSpec], name: str) -> ir.Graph:
        """A graph (Loop body, If branch) with `inputs`, whose nodes `build` makes through the
        FunctionLowering it is given; that lowering sees this scope's values."""
        graph = ir.Graph(list(inputs), [], nodes=[], name=name)
        sub = FunctionLowering(self.module, graph, outer_env=self._envs[-1],
                               in_function=self.in_function, opset_imports=self.opset_imports)
        sub._call_scopes = list(self._call_scopes)
        _set_outputs(graph, build(sub), output_specs, name)
        return graph

    def lift_function(self, decomposition: str, args: Sequence[ir.Value], domain: str,
                      op_type: str, output_specs: Sequence[TensorSpec]) -> ir.Function:
        """The module's function `decomposition` as an ONNX function `domain`.`op_type`
        (registered in the module) that takes values like `args`."""
        block = self.module.functions[decomposition].regions[0].blocks[0]
        inputs = [ir.Value(name=f"{op_type}_in{i}", type=a.type, shape=a.shape)
                  for i, a in enumerate(args)]
        graph = ir.Graph(inputs, [], nodes=[], name=op_type)
        body = FunctionLowering(self.module, graph, in_function=True)
        _set_outputs(graph, body.lower_block(block, inputs, isolated=True), output_specs,
                     f"{domain}.{op_type}")
        # Registered after its body: functions it calls come first in the model.
        function = ir.Function(domain, op_type, graph=graph, attributes=[])
        self.module.onnx_functions[function.identifier()] = function
        return function

    def call_function(self, function: ir.Function, args: Sequence[ir.Value],
                      build: Callable[..., list[ir.Value]]) -> list[ir.Value]:
        """A call of `function` made by `build(op_type, *args, _domain=..., _outputs=n)`."""
        self.opset_imports.setdefault(function.domain, 1)
        return build(function.name, *args, _domain=function.domain,
                     _outputs=len(function.outputs))

    def lower_block(self, block: mlir.Block, args: Sequence[ir.Value],
                    isolated: bool = False) -> list[ir.Value]:
        outer = {} if isolated else self._envs[-1]
        local = dict(zip(block.arguments, args))
        # A plain dict where nothing encloses the block: a ChainMap lookup runs Python code.
        env: Mapping[mlir.Value, ir.Value] = ChainMap(local, outer) if outer else local
        self._envs.append(env)
        try:
            for op in block.operations:
                name = op.operation.name
                if name in STRUCTURAL_OPS:
                    return [env[v] for v in op.operands]
                results = self._lower_op(op, [env[v] for v in op.operands])
                for mlir_result, value in zip(op.results, results):
                    local[mlir_result] = value
        finally:
            self._envs.pop()
        raise ConversionError("a block ended without a return op")

    def _lower_op(self, op: mlir.OpView, operands: list[ir.Value]) -> list[ir.Value]:
        ctx = LoweringContext(self, op)
        key, rule = self.module.rule_of(op)
        if rule is None:  # check_supported ran first, so this is a walker bug
            raise ctx.error("no lowering rule")
        self.module._lowered.append((key, op, ctx.location))
        try:
            results = rule(ctx, *operands)
        except ConversionError:
            raise
        except Exception as e:
            raise ctx.error(f"lowering failed: {type(e).__name__}: {e}") from e
        if len(results) != len(op.results):
            raise ctx.error(f"rule returned {len(results)} values for {len(op.results)} results")
        scope_leaf = ctx.scope.rsplit("/", 1)[-1] or key.rsplit(".", 1)[-1]
        for i, value in enumerate(results):
            # Made here: by this rule, or by an earlier op's that the rule passes through
            # (optimization_barrier, a no-op reshape), which is renamed after this op.
            if id(value.producer()) in self._made and not ctx.result_types_kept:  # type, name
                mlir_spec = ctx.result_spec(i)
                spec = onnx_spec(mlir_spec)  # complex: a float [..., 2] pair
                value.type = ir.TensorType(spec.dtype)
                if None in spec.shape:
                    value.shape = named_from_operands(op, merged_shape(value.shape, spec),
                                                       operands, mlir_spec.rank)
                else:  # static: nothing to keep from the rule's shape, nothing to name
                    value.shape = ir.Shape(spec.shape)
                if self._elementwise_shapes and mlir_spec.rank == 0 and \
                        any(_not_scalar(v) for v in operands):
                    # made from the body's tensor arguments, not from its constants alone
                    shape = self._elementwise_shapes[-1]
                    value.shape = None if shape is None else ir.Shape(list(shape))
                value.name = scope_leaf if len(results) == 1 else f"{scope_leaf}_{i}"
        return results


def _not_scalar(value: ir.Value | None) -> bool:
    """Whether a value may have more than one element (rank > 0, or unknown)."""
    return value is not None and (value.shape is None or value.shape.rank() > 0)


def _set_outputs(graph: ir.Graph, results: Sequence[ir.Value],
                 output_specs: Sequence[TensorSpec] | None, name: str) -> None:
    """Makes `results` the outputs of a graph, subgraph or function body; `output_specs`
    types the ones that have no type yet (None: all are typed)."""
    if output_specs is not None and len(results) != len(output_specs):
        raise ConversionError(f"{name}: {len(results)} results for {len(output_specs)} types")
    for value, spec in zip(results, output_specs or [None] * len(results)):
        # An output must be made in the graph, once per output.
        producer = value.producer()
        if producer is None or producer.graph is not graph or value in graph.outputs:
            identity = ir.Node("", "Identity", [value], num_outputs=1, name=f"{name}/Identity")
            graph.append(identity)
            identity.outputs[0].type, identity.outputs[0].shape = value.type, value.shape
            value = identity.outputs[0]
        if value.type is None and spec is not None:
            value.type = ir.TensorType(spec.dtype)
            value.shape = ir.Shape(spec.shape)
        graph.outputs.append(value)


def _record_line(key: str, op: mlir.OpView, location: SourceLocation) -> str:
    """`op<TAB>operand types<TAB>result types<TAB>file:line<TAB>scope`."""
    operands = ", ".join(_type_str(v.type) for v in op.operands)
    results = ", ".join(_type_str(r.type) for r in op.results)
    where = f"{location.file}:{location.line}" if location.file else "unknown"
    return "\t".join((key, f"({operands})", f"({results})", where, location.scope))


def _type_str(mlir_type: mlir.Type) -> str:
    """str(mlir_type), memoized while a conversion runs."""
    return memoized("type_str", mlir_type, lambda: str(mlir_type))


def ir_version_for(opset: int) -> int:
    return onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
