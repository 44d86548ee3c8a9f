"""The LoweringContext every rule receives, and the node builder `ctx.b`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import SourceLocation, hlo, source_location
from jax2onnx_hlo._mlir import ir as mlir
from jax2onnx_hlo.attributes import attribute
from jax2onnx_hlo.errors import ConversionError

from .constants import dense_to_numpy
from .types import TensorSpec, numpy_dtype, tensor_spec

if TYPE_CHECKING:
    from jax2onnx_hlo.convert import FunctionLowering
    from jax2onnx_hlo.functions import FunctionDomains

__all__ = ["LoweringContext", "OpBuilder"]

_MISSING = object()


class OpBuilder:
    """`ctx.b.Add(x, y)`: appends an ONNX node and returns its output value. A Transpose of
    a Transpose or a Reshape of a Reshape is built composed (one Transpose of the first
    input, or an Identity where they cancel; see _COMPOSED).

    Keyword arguments are ONNX attributes (None values are left out); `_outputs=n` returns a
    list of n values, `_domain` sets the node's domain. Nodes are named after the JAX scope
    of the op being lowered and carry its source location as metadata.
    """

    def __init__(self, ctx: LoweringContext):
        self._ctx = ctx

    def __getattr__(self, op_type: str):
        if not op_type[:1].isupper():
            raise AttributeError(op_type)

        def build(*inputs: ir.Value | None, **attributes: Any):
            return self.op(op_type, *inputs, **attributes)

        return build

    def op(self, op_type: str, *inputs: ir.Value | None, _outputs: int | None = None,
           _domain: str = "", **attributes: Any):
        if _domain == "" and _outputs is None and op_type in _COMPOSED:
            op_type, inputs, attributes = _COMPOSED[op_type](inputs, attributes)
        ctx = self._ctx
        scope = ctx.scope
        node = ir.Node(
            _domain,
            op_type,
            inputs,
            attributes=[attribute(k, v) for k, v in attributes.items() if v is not None],
            num_outputs=_outputs or 1,
            name=f"{scope}/{op_type}" if scope else op_type,
            metadata_props=ctx.node_metadata(),
        )
        if _domain == "" and op_type in _TYPED:
            _TYPED[op_type](node)
        ctx.append_node(node)
        return list(node.outputs) if _outputs is not None else node.outputs[0]


# Layout ops of layout ops, composed as they are built (TransposeTranspose and
# ReshapeReshape of onnxscript's rewriter would do it after the fact, in a round of their
# own: JAX's module transposes a transpose in every attention of a transformer). Where
# the two cancel, an Identity stands in (the folder drops it), so that the node built is
# still the op's own, named after it.
_Built = tuple[str, tuple, dict]


def _transpose_of_transpose(inputs: tuple, attributes: dict) -> _Built:
    """Transpose(Transpose(x, inner), perm) -> Transpose(x, inner[perm]), or Identity(x)."""
    inner = inputs[0].producer() if inputs[0] is not None else None
    perm = attributes.get("perm")
    if inner is None or inner.op_type != "Transpose" or inner.domain != "" or perm is None \
            or "perm" not in inner.attributes:
        return "Transpose", inputs, attributes
    first = inner.attributes["perm"].as_ints()
    composed = [first[axis] for axis in perm]
    if composed == list(range(len(composed))):
        return "Identity", (inner.inputs[0],), {}
    return "Transpose", (inner.inputs[0],), {**attributes, "perm": composed}


def _reshape_of_reshape(inputs: tuple, attributes: dict) -> _Built:
    """Reshape(Reshape(x, s), target) -> Reshape(x, target), or Identity(x) where that is
    x's shape; not where target copies a dim of the inner result (a 0 that is not
    literal), nor for a -1 while x's shape is unknown: the rewriter composes those after
    shape inference, from which it reads the -1, so that a Reshape back to x's shape shows
    as one for the folder to drop."""
    x, target = inputs
    inner = x.producer() if x is not None else None
    if inner is None or inner.op_type != "Reshape" or inner.domain != "" \
            or target is None or target.const_value is None:
        return "Reshape", inputs, attributes
    shape = target.const_value.numpy().tolist()
    source = inner.inputs[0]
    static = source.shape is not None and source.shape.is_static()
    if (not attributes.get("allowzero") and 0 in shape) or (-1 in shape and not static):
        return "Reshape", inputs, attributes
    if static and list(source.shape) == _resolved(shape, math.prod(source.shape.numpy())):
        return "Identity", (source,), {}
    return "Reshape", (source, target), attributes


def _resolved(shape: list[int], size: int) -> list[int]:
    """A Reshape target with its -1 worked out from the element count."""
    if -1 not in shape:
        return shape
    known = math.prod(d for d in shape if d != -1)
    return [size // known if d == -1 and known else d for d in shape]


_COMPOSED = {"Transpose": _transpose_of_transpose, "Reshape": _reshape_of_reshape}


# Ops whose output type the builder gives as ONNX shape inference would: the constant
# folder then need not infer them, one by one (~0.1 ms a node; a dynamic-batch BERT's
# shape arithmetic has hundreds of Casts and Shapes whose dims the walker named).
def _type_cast(node: ir.Node) -> None:
    """Cast: the input's shape, the `to` type."""
    x, out = node.inputs[0], node.outputs[0]
    if x is not None and x.shape is not None:
        out.type = ir.TensorType(ir.DataType(node.attributes["to"].as_int()))
        out.shape = ir.Shape(list(x.shape))


def _type_shape(node: ir.Node) -> None:
    """Shape: int64 [end - start], both clamped to the input's rank."""
    x, out = node.inputs[0], node.outputs[0]
    if x is not None and x.shape is not None:
        rank = x.shape.rank()
        start, end = node.attributes.get_int("start", 0), node.attributes.get_int("end", rank)
        start, end = (min(max(i + rank if i < 0 else i, 0), rank) for i in (start, end))
        out.type, out.shape = ir.TensorType(ir.DataType.INT64), ir.Shape([max(end - start, 0)])


_TYPED = {"Cast": _type_cast, "Shape": _type_shape}


class LoweringContext:
    """What a rule sees of the op it lowers: attributes, types, and ways to build nodes.

    What it derives from the op (location, scope, specs) is computed on first use and kept:
    each costs calls into the MLIR bindings, and rules ask for them again and again.
    """

    def __init__(self, lowering: FunctionLowering, op: mlir.OpView):
        self._lowering = lowering
        self.op = op
        self._location: SourceLocation | None = None
        self._scope: str | None = None
        self._source: str | None = None  # the node metadata's source, "" for none
        self._operand_specs: list[TensorSpec] | None = None
        self._result_specs: list[TensorSpec] | None = None
        self.result_types_kept = False  # see keep_result_types

    @property
    def b(self) -> OpBuilder:
        # A new builder each time: kept here, it would make a reference cycle per op, which
        # only the cyclic garbage collector could free.
        return OpBuilder(self)

    # ---- the op being lowered ------------------------------------------------------
    @property
    def name(self) -> str:
        return self.op.operation.name

    @property
    def location(self) -> SourceLocation:
        if self._location is None:
            self._location = source_location(self.op.location)
        return self._location

    @property
    def scope(self) -> str:
        # Fixed for the op: the calls it inlines restore the call scopes they push.
        if self._scope is None:
            self._scope = self._lowering.node_scope(self.location)
        return self._scope

    def node_metadata(self) -> dict[str, str]:
        """A node's metadata (a new dict: each node owns its own)."""
        if self._source is None:
            loc = self.location
            self._source = f"{loc.file}:{loc.line}" if loc.file else ""
        return {"jax2onnx_hlo.source": self._source} if self._source else {}

    @property
    def operand_specs(self) -> list[TensorSpec]:
        if self._operand_specs is None:
            self._operand_specs = [tensor_spec(v.type) for v in self.op.operands]
        return self._operand_specs

    @property
    def result_specs(self) -> list[TensorSpec]:
        if self._result_specs is None:
            self._result_specs = [tensor_spec(r.type) for r in self.op.results]
        return self._result_specs

    def result_spec(self, index: int) -> TensorSpec:
        """The spec of one result; only that result's type need be a tensor type."""
        if self._result_specs is not None:
            return self._result_specs[index]
        return tensor_spec(self.op.results[index].type)

    @property
    def out(self) -> TensorSpec:
        """The spec of the op's single (first) result."""
        return self.result_specs[0]

    def with_specs(self, operand_specs: Sequence[TensorSpec],
                   result_specs: Sequence[TensorSpec]) -> LoweringContext:
        """The same op seen with other operand and result types: complex rules run a real
        rule on the real and imaginary parts through such a view (lowering/complex.py)."""
        view = LoweringContext(self._lowering, self.op)
        view._operand_specs, view._result_specs = list(operand_specs), list(result_specs)
        return view

    def attr(self, name: str, default: Any = _MISSING) -> Any:
        """An attribute as a Python value (ints, lists, np arrays, strings, enum names)."""
        if name not in self.op.attributes:
            if default is _MISSING:
                raise self.error(f"missing attribute {name!r}")
            return default
        return attribute_value(self.op.attributes[name])

    def raw_attr(self, name: str) -> mlir.Attribute:
        return self.op.attributes[name]

    def error(self, message: str) -> ConversionError:
        return ConversionError(f"{self.name} at {self.location}: {message}")

    # ---- building --------------------------------------------------------------------
    def append_node(self, node: ir.Node) -> None:
        self._lowering.append_node(node)

    def const(self, value: Any, dtype: ir.DataType | np.dtype | None = None) -> ir.Value:
        """A constant tensor (numpy array or Python scalar/list) as an ONNX value."""
        if isinstance(dtype, ir.DataType):
            dtype = numpy_dtype(dtype)
        array = np.asarray(value, dtype=dtype)
        return self._lowering.constant(array)

    def typed(self, value: ir.Value, dtype: ir.DataType, shape: Sequence[int | None]) -> ir.Value:
        """`value`, made by a rule inside its op, given the type and static shape that ONNX
        shape inference gives it: the constant folder then need not infer it (~0.2 ms a
        node). Left untyped where the inference could give less: a dynamic dim (the
        walker names those), an input of its node not typed with a static shape, or a
        rank-0 spec standing for a tensor (an elementwise region body)."""
        if None in shape or self._lowering._elementwise_shapes:
            return value
        producer = value.producer()
        if producer is not None and not all(_static(x) for x in producer.inputs if x is not None):
            return value
        value.type = ir.TensorType(dtype)
        value.shape = ir.Shape(shape)
        return value

    def keep_result_types(self) -> None:
        """The walker is to leave the types and names of the values the rule returns as they
        are, not give them the op's result types: a rule returns a value of another shape
        only where every user of the result takes it as well (broadcast_in_dim)."""
        self.result_types_kept = True

    def i64(self, values: Sequence[int] | int) -> ir.Value:
        """An int64 tensor, the type ONNX wants for shapes, axes and indices."""
        return self.const(np.asarray(values, dtype=np.int64))

    def scalar_like(self, value: Any, spec: TensorSpec) -> ir.Value:
        return self.const(np.asarray(value, dtype=spec.np_dtype))

    def dense_attr(self, name: str, spec: TensorSpec) -> np.ndarray:
        return dense_to_numpy(self.op.attributes[name], spec)

    def inline_region(self, region: mlir.Region, args: Sequence[ir.Value]) -> list[ir.Value]:
        """Lowers one of the op's regions in place, with `args` for its block arguments."""
        return self._lowering.inline_region(region, args)

    def lower_elementwise(self, shape: ir.Shape | None):
        """`with ctx.lower_elementwise(shape): ctx.inline_region(...)`: the body is
        elementwise on scalars and applied to tensors of `shape` (lowering/bodies.py)."""
        return self._lowering.lower_elementwise(shape)

    def subgraph(self, inputs: Sequence[ir.Value],
                 build: Callable[[LoweringContext], list[ir.Value]],
                 output_specs: Sequence[TensorSpec], name: str) -> ir.Graph:
        """An ONNX graph attribute (Loop body, If branch) taking `inputs`; `build` gets a
        context whose nodes go into that graph and returns the graph's outputs."""
        return self._lowering.subgraph(
            inputs, lambda sub: build(LoweringContext(sub, self.op)), output_specs,
            f"{self.scope or self.name}/{name}",
        )

    @staticmethod
    def graph_input(name: str, spec: TensorSpec) -> ir.Value:
        """A typed input value for a subgraph."""
        return ir.Value(name=name, type=ir.TensorType(spec.dtype), shape=ir.Shape(spec.shape))

    def module_function(self, name: str) -> mlir.OpView | None:
        """The module's `func.func @name`, None if there is none."""
        return self._lowering.module.functions.get(name)

    def inline_function(self, name: str, args: Sequence[ir.Value]) -> list[ir.Value]:
        """Lowers the module's function `name` in place, with `args` for its arguments."""
        return self._lowering.inline_function(name, args, self.scope)

    def when_opset_known(self, fix: Callable[[int], None]) -> None:
        """Calls `fix(opset)` once the model's default opset is known (rules run before it
        is): for ops whose form changed between the opsets this converter targets."""
        self._lowering.module.opset_fixes.append(fix)

    # ---- ONNX functions ----------------------------------------------------------------
    @property
    def function_domains(self) -> FunctionDomains:
        """The naming rules and counters of this conversion's ONNX functions."""
        return self._lowering.module.function_domains

    def lift_function(self, name: str, args: Sequence[ir.Value], domain: str,
                      op_type: str) -> ir.Function:
        """The module's function `name` as a new ONNX function `domain`.`op_type` taking
        values like `args`; its results are the op's results."""
        return self._lowering.lift_function(name, args, domain, op_type, self.result_specs)

    def call_function(self, function: ir.Function, args: Sequence[ir.Value]) -> list[ir.Value]:
        """A node calling `function` with `args`; its domain is imported where it is made."""
        return self._lowering.call_function(function, args, self.b.op)

    def onnx_function(self, domain: str, op_type: str) -> ir.Function:
        """A function lifted earlier in this conversion."""
        return self._lowering.module.onnx_functions[domain, op_type, ""]


def _static(value: ir.Value) -> bool:
    """Whether a value has a type and a shape of ints only."""
    shape = value.shape
    return value.type is not None and shape is not None and \
        all(type(d) is int for d in shape.dims)


def attribute_value(attr: mlir.Attribute) -> Any:
    """Converts an MLIR attribute to the natural Python value; other attrs pass through."""
    for kind, convert in _BUILTIN_ATTRIBUTES:
        if isinstance(attr, kind):
            return convert(attr)
    for kind in _STABLEHLO_ENUMS:  # the bindings do not downcast dialect attributes
        if kind.isinstance(attr):
            return kind(attr).value
    return attr


_BUILTIN_ATTRIBUTES = [
    (mlir.DenseI64ArrayAttr, list),
    (mlir.DenseI32ArrayAttr, list),
    (mlir.DenseBoolArrayAttr, lambda a: [bool(x) for x in a]),
    (mlir.BoolAttr, lambda a: a.value),
    (mlir.IntegerAttr, lambda a: a.value),
    (mlir.FloatAttr, lambda a: a.value),
    (mlir.StringAttr, lambda a: a.value),
    (mlir.FlatSymbolRefAttr, lambda a: a.value),
    (mlir.DenseIntElementsAttr, np.asarray),
    (mlir.ArrayAttr, lambda a: [attribute_value(x) for x in a]),
    (mlir.DictAttr, lambda a: {a[i].name: attribute_value(a[i].attr) for i in range(len(a))}),
]
_STABLEHLO_ENUMS = [hlo.ComparisonDirectionAttr, hlo.ComparisonTypeAttr, hlo.FftTypeAttr]
