"""Scaled dot-product attention back to ONNX's `Attention` (opset 23).

JAX's attention (`jax.nn.dot_product_attention`, `nnx.dot_product_attention`, einsums
"BTNH,BSNH->BNTS" and "BNTS,BSNH->BTNH") lowers to two batched dot_generals, a scale, an
optional mask and a softmax, with Reshapes and Transposes between them that put the heads
into the batch axes and back (about fifteen per layer, and a copy for each Transpose). ONNX
Runtime's Attention kernel takes the projections as they come, (batch, seq, heads * head)
with the heads split inside, and was 4-6x faster than the spread-out graph for a GPT-2
layer at batch 8 (onnxruntime 1.32 CPU; onnxruntime-web 1.30 runs it too).

The match is semantic rather than a fixed pattern: from each Softmax, the layouts of the
operands of the two MatMuls are followed back through Transposes and Reshapes that only
insert or drop unit axes, labelling every axis batch, heads, query, key or head-dim; the
fusion fires when query, key and value come from tensors laid out (batch, seq, heads, dim)
and the result goes on in that layout. A mask is a constant boolean `Where` (or a few
nodes over constants, evaluated here) that puts a very negative number (or -inf) where it
is false, and leaves no row of keys all masked (JAX's softmax of such a row is uniform, the
fused op's is not); it becomes the op's (batch or 1, heads or 1, T, S) boolean mask, or
`is_causal=1` when it is the lower triangle (ONNX Runtime is faster without a mask input).
The scale is whatever constant the logits are multiplied by (1 without one); the fused op
computes the same products in another order: the results agree to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir
from onnx.reference import ReferenceEvaluator
from onnxscript.rewriter._ir_utils import get_numpy_value

__all__ = ["ATTENTION_OPSET", "fuse_attention"]

ATTENTION_OPSET = 23
_LAYOUT_OPS = ("Transpose", "Reshape")
_VERY_NEGATIVE = -1e30


class _NoMatch(Exception):
    pass


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise _NoMatch(why)


def _shape(value: ir.Value) -> list | None:
    """The value's dims; a Transpose that a fusion made has none yet: its input's, permuted."""
    if value.shape is not None:
        return list(value.shape)
    node = value.producer()
    if node is not None and node.op_type == "Transpose" and node.inputs[0] is not None:
        x = _shape(node.inputs[0])
        perm = node.attributes.get_ints("perm")
        if x is not None:
            return [x[p] for p in perm] if perm is not None else x[::-1]
    return None


def _dims(value: ir.Value) -> list:
    dims = _shape(value)
    _require(dims is not None, f"{value.name}: shape unknown")
    return dims


def _is_unit(dim) -> bool:
    return isinstance(dim, int) and dim == 1


def _same_dims(a: list, b: list) -> bool:
    """Whether a reshape from non-unit dims a to b keeps them: equal where known; one pair
    of different symbolic (or unknown) dims must be equal too, the sizes being equal."""
    if len(a) != len(b):
        return False
    differ = [(x, y) for x, y in zip(a, b) if x != y]
    return not differ or (len(differ) == 1 and not any(isinstance(d, int)
                                                         for d in differ[0]))


def _layout_step(value: ir.Value) -> tuple[ir.Value, list[int | None]] | None:
    """If value is a Transpose, or a Reshape that only inserts or drops unit axes, of some
    x: (x, axes) with axes[i] the axis of x that axis i of value is (None: a unit axis)."""
    node = value.producer()
    if node is None or node.op_type not in _LAYOUT_OPS or node.inputs[0] is None:
        return None
    x = node.inputs[0]
    x_dims, dims = _shape(x), _shape(value)
    if x_dims is None or dims is None:
        return None
    if node.op_type == "Transpose":
        perm = node.attributes.get_ints("perm")
        perm = list(perm) if perm is not None else list(range(len(x_dims)))[::-1]
        return x, [p if not _is_unit(x_dims[p]) else None for p in perm]
    kept_in = [i for i, d in enumerate(x_dims) if not _is_unit(d)]
    kept_out = [i for i, d in enumerate(dims) if not _is_unit(d)]
    if not _same_dims([x_dims[i] for i in kept_in], [dims[i] for i in kept_out]):
        return None
    axes: list[int | None] = [None] * len(dims)
    for i, j in zip(kept_out, kept_in):
        axes[i] = j
    return x, axes


def _trace(value: ir.Value, stop: ir.Value | None = None) -> tuple[ir.Value, list[int | None]]:
    """The tensor value is a relayout of (through layout ops only) and the axis map."""
    axes: list[int | None] = [i if not _is_unit(d) else None for i, d in enumerate(_dims(value))]
    while value is not stop:
        step = _layout_step(value)
        if step is None:
            break
        value, inner = step
        axes = [inner[a] if a is not None else None for a in axes]
    return value, axes


def _compose(axes: list[int | None], inner: list[int | None]) -> list[int | None]:
    return [inner[a] if a is not None else None for a in axes]


_MAX_EVALUATED_NODES = 16
_MAX_EVALUATED_ELEMENTS = 1 << 24


def _constant_value(value: ir.Value | None) -> np.ndarray | None:
    """A constant's value, or that of a few nodes over constants that folding left alone for
    their size (a batch-sized mask, a splat fill), evaluated with ONNX's reference."""
    if value is None:
        return None
    array = get_numpy_value(value)
    if array is not None or value.producer() is None:
        return array
    nodes: list[ir.Node] = []
    leaves: dict[int, tuple[ir.Value, np.ndarray]] = {}
    unit_dims = False  # an Expand to a dynamic shape is evaluated with 1 for those dims
    pending = [value.producer()]
    while pending:
        node = pending.pop()
        if node in nodes:
            continue
        if len(nodes) == _MAX_EVALUATED_NODES or node.domain not in ("", "ai.onnx") or any(
                attr.type in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)
                for attr in node.attributes.values()):
            return None
        nodes.append(node)
        for i, x in enumerate(node.inputs):
            if x is None or id(x) in leaves:
                continue
            array = get_numpy_value(x)
            if array is None and (node.op_type, i) == ("Expand", 1):
                array = _unit_dims_shape(node.outputs[0])
                unit_dims = unit_dims or array is not None
            if array is not None:
                leaves[id(x)] = (x, array)
            elif x.producer() is not None:
                pending.append(x.producer())
            else:
                return None
    if unit_dims and not all(node.op_type in _ALONG_EACH_ELEMENT for node in nodes):
        return None  # an op that mixes elements would see 1 where the model has more
    names: dict[int, str] = {}

    def name(v: ir.Value | None) -> str:
        return "" if v is None else names.setdefault(id(v), f"v{len(names)}")

    protos = []
    for node in reversed(nodes):  # producers were found after their consumers
        proto = ir.serde.serialize_node(node)
        del proto.input[:], proto.output[:]
        proto.input.extend(name(x) for x in node.inputs)
        proto.output.extend(name(y) for y in node.outputs)
        protos.append(proto)
    protos = _topological(protos)
    if protos is None:
        return None
    initializers = [onnx.numpy_helper.from_array(array, name(x)) for x, array in leaves.values()]
    if sum(a.size for _, a in leaves.values()) > _MAX_EVALUATED_ELEMENTS:
        return None
    out = onnx.helper.make_tensor_value_info(name(value), 0, None)
    graph = onnx.helper.make_graph(protos, "constant", [], [out], initializers)
    opset = value.graph.opset_imports.get("", ATTENTION_OPSET) if value.graph else \
        ATTENTION_OPSET
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    try:
        (result,) = ReferenceEvaluator(model).run(None, {})
    except Exception:  # an op the reference lacks: no fusion, nothing else lost
        return None
    result = np.asarray(result)
    return result if result.size <= _MAX_EVALUATED_ELEMENTS else None


# Ops whose each output element depends on the input elements at the same position
# (broadcast): over a tensor that is the same along a dim, they give a tensor that is the
# same along it, so evaluating them with that dim 1 gives every slice of the result.
_ALONG_EACH_ELEMENT = frozenset({
    "Expand", "Unsqueeze", "Transpose", "Identity", "Cast", "Not", "And", "Or", "Xor",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Where", "Add", "Sub",
    "Mul", "Neg", "Abs", "Max", "Min",
})


def _unit_dims_shape(expanded: ir.Value) -> np.ndarray | None:
    """The target shape of an Expand to a shape computed at run time (a batch-sized causal
    mask: `broadcast_to(arange(T), x.shape)`) with 1 for its dims without a size (where
    the expanded tensor's own dim is larger, Expand keeps it)."""
    if expanded.shape is None or all(isinstance(d, int) for d in expanded.shape):
        return None
    return np.array([d if isinstance(d, int) else 1 for d in expanded.shape], dtype=np.int64)


def _topological(protos: list) -> list | None:
    done: set[str] = set()
    produced = {o for p in protos for o in p.output}
    ordered, rest = [], list(protos)
    while rest:
        ready = [p for p in rest if all(i in done or i not in produced for i in p.input)]
        if not ready:
            return None
        for p in ready:
            ordered.append(p)
            done.update(p.output)
            rest.remove(p)
    return ordered


# Ops that only copy or move their input's elements: a splat stays the same splat.
_COPYING_OPS = frozenset({"Expand", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Identity"})


class _Constants:
    """Constant values (_constant_value), each evaluated once in a fusion run: every
    layer's Where masks with the same fill and, after CSE, the same mask."""

    def __init__(self):
        self._known: dict[ir.Value, np.ndarray | None] = {}  # (values hash by identity)

    def value(self, value: ir.Value) -> np.ndarray | None:
        if value not in self._known:
            self._known[value] = _constant_value(value)
        return self._known[value]

    def scalar(self, value: ir.Value | None) -> float | None:
        """A constant that holds one number, or the same number everywhere."""
        while value is not None and (node := value.producer()) is not None \
                and node.op_type in _COPYING_OPS and node.domain == "":
            value = node.inputs[0]  # the same number everywhere or not, without the copies
        array = None if value is None else self.value(value)
        if array is None or array.size == 0 or array.dtype.kind != "f":
            return None
        first = array.reshape(-1)[0]
        return float(first) if np.all(array == first) else None


def _only_consumer(value: ir.Value) -> ir.Node | None:
    uses = list(value.uses())
    if len(uses) != 1 or value.is_graph_output():
        return None
    return uses[0][0]


def _labelled(axes: list[int | None], labels: dict[int, str]) -> dict[int, str]:
    """Labels of a traced tensor's source axes, from the labels of the traced value."""
    return {src: labels[i] for i, src in enumerate(axes) if src is not None and i in labels}


def _operand_labels(rank: int, batch: dict[int, str], free: str, contracted: str,
                    free_is_row: bool) -> dict[int, str]:
    labels = dict(batch)
    labels[rank - 2], labels[rank - 1] = (free, contracted) if free_is_row else (contracted,
                                                                               free)
    return labels


def _matmul_parts(node: ir.Node) -> tuple[ir.Value, ir.Value, int]:
    a, b = node.inputs
    _require(node.op_type == "MatMul" and a is not None and b is not None, "not a MatMul")
    da, db = _dims(a), _dims(b)
    _require(len(da) == len(db) >= 3 and all(
        x == y or not (isinstance(x, int) or isinstance(y, int))
        for x, y in zip(da[:-2], db[:-2])), "not a same-batch MatMul")  # sizes: see _sizes
    _require(a.dtype == ir.DataType.FLOAT, "not float32")
    return a, b, len(da)


def _source_order(value: ir.Value, labels: dict[int, str]
                  ) -> tuple[ir.Value, list[str], dict[int, str]]:
    """The tensor value was laid out from, the labels of its non-unit axes in order, and
    the labels by axis."""
    source, axes = _trace(value)
    by_source = _labelled(axes, labels)
    order = [by_source.get(i, "?") for i, d in enumerate(_dims(source)) if not _is_unit(d)]
    return source, order, by_source


def _sizes(values: list[ir.Value], labels: list[dict[int, str]]) -> dict[str, object]:
    sizes: dict[str, object] = {}
    for value, named in zip(values, labels):
        for axis, label in named.items():
            dim = _dims(value)[axis]
            _require(sizes.setdefault(label, dim) == dim or _is_unit(dim)
                     or _is_unit(sizes[label]), f"{label} sizes differ")
            if _is_unit(sizes[label]):
                sizes[label] = dim
    return sizes


def _values_matmul(softmax: ir.Node, prob_labels: dict[int, str], batch: dict[int, str]
                   ) -> tuple[ir.Node, ir.Value, list, dict[int, str]]:
    """probs -> layout -> MatMul with the values, in either operand order: that MatMul, the
    values, their axis labels and the labels of the MatMul's output."""
    probs = softmax.outputs[0]
    node, value = softmax, probs
    while True:
        node = _only_consumer(value)
        _require(node is not None, "probabilities used elsewhere")
        if node.op_type not in _LAYOUT_OPS:
            break
        value = node.outputs[0]
    x, y, r2 = _matmul_parts(node)
    _require(value in (x, y) and x is not y, "probabilities reach no MatMul operand")
    source, p_axes = _trace(value, stop=probs)
    _require(source is probs, "probabilities relaid out by other ops")
    p_op = {i: prob_labels[a] for i, a in enumerate(p_axes) if a is not None}
    p_is_x = value is x
    contracted = r2 - 1 if p_is_x else r2 - 2
    free = r2 - 2 if p_is_x else r2 - 1
    _require(p_op.get(contracted) == "S" and p_op.get(free) == "T", "not probs @ values")
    batch2 = {i: p_op[i] for i in range(r2 - 2) if i in p_op}
    _require(set(batch2.values()) == set(batch.values()), "batch axes differ")
    values = y if p_is_x else x
    v_labels = _operand_labels(r2, batch2, "D", "S", not p_is_x)
    _require(all(_is_unit(d) for i, d in enumerate(_dims(values)[:-2]) if i not in batch2),
             "values broadcast")
    out_labels = {**batch2, (r2 - 2 if p_is_x else r2 - 1): "T",
                  (r2 - 1 if p_is_x else r2 - 2): "D"}
    return node, values, v_labels, out_labels


class _Match:
    """Everything the rewrite needs, found from one Softmax."""

    def __init__(self, softmax: ir.Node, constants: _Constants):
        self.constants = constants
        logits = softmax.inputs[0]
        rank = len(_dims(logits))
        axis = softmax.attributes.get_int("axis", -1) % rank

        value, logit_axes, mask_axes = self._unmask_and_unscale(logits)
        matmul = value.producer()
        _require(matmul is not None and matmul.op_type == "MatMul", "logits not a MatMul")
        a, b, r = _matmul_parts(matmul)
        key_axis = logit_axes[axis]
        _require(key_axis in (r - 1, r - 2), "softmax not over a MatMul free axis")
        batch = {i: f"b{i}" for i in range(r - 2) if not _is_unit(_dims(a)[i])}
        if key_axis == r - 1:
            query, key = a, b
            labels = {**batch, r - 2: "T", r - 1: "S"}
            q_labels = _operand_labels(r, batch, "T", "H", True)
            k_labels = _operand_labels(r, batch, "S", "H", False)
        else:
            query, key = b, a
            labels = {**batch, r - 2: "S", r - 1: "T"}
            q_labels = _operand_labels(r, batch, "T", "H", False)
            k_labels = _operand_labels(r, batch, "S", "H", True)
        # labels of the softmax input's axes (and its output, the probabilities)
        prob_labels = {i: labels[a] for i, a in enumerate(logit_axes) if a is not None}

        node, values, v_labels, out_labels = _values_matmul(softmax, prob_labels, batch)
        self.matmul = node

        # which batch axis is the batch and which the heads: their places in the query
        self.query, q_order, q_source = _source_order(query, q_labels)
        self.key, k_order, k_source = _source_order(key, k_labels)
        self.value, v_order, v_source = _source_order(values, v_labels)
        batch_names = [n for n in q_order if n.startswith("b")]
        before = [n for n in q_order[:q_order.index("T")] if n.startswith("b")] \
            if "T" in q_order else []
        _require(len(before) <= 1 and len(batch_names) - len(before) <= 1,
                 "query is not (batch, seq, heads, dim)")
        self.b_name = before[0] if before else None
        self.n_name = next((n for n in batch_names if n not in before), None)
        self._check_order(q_order, "T", "H")
        self._check_order(k_order, "S", "H")
        self._check_order(v_order, "S", "D")
        self.sizes = _sizes([self.query, self.key, self.value], [q_source, k_source, v_source])

        self.output = self._output(node, out_labels)
        if self.mask is not None:
            self.mask = self._mask_layout(self.mask, mask_axes, labels)

    def _unmask_and_unscale(self, logits: ir.Value
                            ) -> tuple[ir.Value, list[int | None], list[int | None]]:
        """Walks from the softmax input back to the QK MatMul's output: takes in a constant
        mask and a constant scale on the way (self.mask, self.scale); returns that value
        and where the logits' and the mask's axes are in it."""
        # logits <- [Where(mask, ., very negative)] <- layout <- [Mul by a scale] <- layout
        self.mask = None
        value, logit_axes = _trace(logits)
        mask_axes: list[int | None] = []
        where = value.producer()
        if where is not None and where.op_type == "Where":
            cond, x, y = where.inputs
            if (self.constants.scalar(y) or 0.0) <= _VERY_NEGATIVE:
                inverted = False
            elif (self.constants.scalar(x) or 0.0) <= _VERY_NEGATIVE:
                x, inverted = y, True
            else:
                raise _NoMatch("Where does not mask with a very negative number")
            _require(_dims(x) == _dims(value), "mask widens the logits")
            self.mask = self._constant_mask(cond, _dims(value), inverted)
            mask_axes = [i if not _is_unit(d) else None for i, d in enumerate(_dims(value))]
            value, inner = _trace(x)
            logit_axes, mask_axes = _compose(logit_axes, inner), _compose(mask_axes, inner)
        self.scale = 1.0
        scaling = value.producer()
        if scaling is not None and scaling.op_type in ("Mul", "Div"):
            a, b = scaling.inputs
            constant = self.constants.scalar(b)
            if constant is None and scaling.op_type == "Mul":
                a, b = b, a
                constant = self.constants.scalar(b)
            _require(constant is not None and constant != 0, "scaled by a tensor")
            self.scale = constant if scaling.op_type == "Mul" else 1.0 / constant
            _require(_dims(a) == _dims(value), "the scale broadcasts")
            value, inner = _trace(a)
            logit_axes, mask_axes = _compose(logit_axes, inner), _compose(mask_axes, inner)
        return value, logit_axes, mask_axes

    def _output(self, node: ir.Node, out_labels: dict[int, str]) -> ir.Value:
        """The attention result, carried on through layout ops, which must come out as
        (batch, seq, heads, dim)."""
        out = node.outputs[0]
        end = out
        while (consumer := _only_consumer(end)) is not None and consumer.op_type in _LAYOUT_OPS \
                and _layout_step(consumer.outputs[0]) is not None:
            end = consumer.outputs[0]
        source, end_axes = _trace(end, stop=out)
        _require(source is out, "result relaid out by other ops")
        end_order = [out_labels.get(a, "?") for a in end_axes if a is not None]
        self._check_order(end_order, "T", "D")
        return end

    def _check_order(self, order: list[str], seq: str, dim: str) -> None:
        want = [n for n in (self.b_name, seq, self.n_name, dim) if n is not None]
        _require(order == want, f"layout {order} is not {want}")

    def _constant_mask(self, cond: ir.Value, shape: list, inverted: bool) -> np.ndarray | None:
        node = cond.producer()
        if node is not None and node.op_type == "Expand":
            cond = node.inputs[0]  # Where broadcasts it anyway
        array = self.constants.value(cond)
        _require(array is not None and array.dtype == np.bool_, "mask is not a constant")
        # A dim without a size (the batch) only where the mask is the same along it
        _require(all(isinstance(d, int) or n == 1
                     for d, n in zip(shape[len(shape) - array.ndim:], array.shape)),
                 "mask of a dynamic shape")
        array = array.reshape((1,) * (len(shape) - array.ndim) + array.shape)
        return ~array if inverted else array

    def _mask_layout(self, array: np.ndarray, axes: list[int | None],
                     labels: dict[int, str]) -> np.ndarray:
        """The mask as (batch or 1, heads or 1, query, key)."""
        names = [labels.get(a) if a is not None else None for a in axes]
        wanted = [self.b_name, self.n_name, "T", "S"]
        keep = [i for i, n in enumerate(names) if n is not None]
        _require(all(array.shape[i] == 1 for i, n in enumerate(names) if n is None),
                 "mask varies along a unit axis")
        squeezed = array.reshape([array.shape[i] for i in keep])
        kept = [names[i] for i in keep]
        _require(set(kept) <= set(wanted), "mask over other axes")
        order = [kept.index(n) for n in wanted if n in kept]
        mask = squeezed.transpose(order)
        full = [n for n in wanted if n is not None]
        mask = mask.reshape([mask.shape[full.index(n)] if n in full else 1 for n in wanted])
        _require(all(isinstance(self.sizes[n], int) for n in "TS"), "dynamic sequences")
        mask = np.broadcast_to(mask, mask.shape[:2] + (self.sizes["T"], self.sizes["S"]))
        for axis in (0, 1):  # one copy where every batch (head) has the same mask
            if mask.shape[axis] > 1 and np.all(mask == mask.take([0], axis=axis)):
                mask = mask.take([0], axis=axis)
        _require(bool(np.all(np.any(mask, axis=-1))), "a query sees no key")
        return np.ascontiguousarray(mask)


def _constant(graph: ir.Graph, name: str, array: np.ndarray) -> ir.Value:
    while name in graph.initializers:
        name += "_"
    value = ir.Value(name=name, shape=ir.Shape(array.shape), type=ir.TensorType(
        ir.DataType.from_numpy(array.dtype)), const_value=ir.tensor(array, name=name))
    graph.register_initializer(value)
    return value


def _reshaped(graph: ir.Graph, nodes: list[ir.Node], value: ir.Value, target: list,
              name: str) -> ir.Value:
    shape = _constant(graph, f"{name}_shape", np.array(target, dtype=np.int64))
    node = ir.Node("", "Reshape", [value, shape], num_outputs=1, name=f"{name}_Reshape")
    node.outputs[0].name, node.outputs[0].dtype = name, ir.DataType.FLOAT  # all float32
    if all(d > 0 for d in target):
        node.outputs[0].shape = ir.Shape(target)
    nodes.append(node)
    return node.outputs[0]


def _as_3d(match: _Match, value: ir.Value, seq: str, dim: str) -> tuple[ir.Value, list]:
    """What to reshape to (batch, seq, heads * dim) for the op's input, and the shape."""
    sizes = match.sizes
    batch = sizes[match.b_name] if match.b_name else 1
    heads = sizes[match.n_name] if match.n_name else 1
    length, width = sizes[seq], sizes[dim]
    dims = _dims(value)
    if all(isinstance(d, int) for d in (batch, heads, length, width)):
        target = [batch, length, heads * width]
        producer = value.producer()
        if producer is not None and producer.op_type == "Reshape":
            value = producer.inputs[0]  # (batch * seq, features) from a Dense: as it is
    elif len(dims) == 4 and not any(_is_unit(d) for d in dims) and isinstance(dims[3], int) \
            and isinstance(dims[2], int):
        target = [0, 0, dims[2] * dims[3]]  # (batch, seq, heads, dim): keep the first two
    else:
        raise _NoMatch("dynamic sizes in an unusual layout")
    return value, target


def _rewrite(graph: ir.Graph, match: _Match, index: int) -> None:
    dims = _dims(match.output)
    # The output is the op's (batch, T, heads * D) reshaped to dims, where a 0 copies the
    # op's dim: a dim without a size must be the batch (first) or T (second), by layout
    # (batch, T, heads, D) or by name (unnamed dims would all compare equal).
    plain = len(dims) == 4 and not any(_is_unit(d) for d in dims)
    copied = ((0, match.sizes[match.b_name] if match.b_name else 1), (1, match.sizes["T"]))
    _require(all(isinstance(d, int) or (plain and i < 2) or (d.value is not None and
                                                             (i, d) in copied)
                 for i, d in enumerate(dims)), "dynamic dims in an unusual layout")
    heads = match.sizes[match.n_name] if match.n_name else 1
    _require(isinstance(heads, int), "dynamic head count")
    reshapes = [_as_3d(match, match.query, "T", "H"), _as_3d(match, match.key, "S", "H"),
                _as_3d(match, match.value, "S", "D")]
    nodes: list[ir.Node] = []  # from here on the graph changes
    prefix = f"attention_{index}"
    inputs = [_reshaped(graph, nodes, value, target, f"{prefix}_{role}")
              for (value, target), role in zip(reshapes, ("query", "key", "value"))]
    attributes = [ir.AttrInt64("q_num_heads", heads), ir.AttrInt64("kv_num_heads", heads),
                  ir.AttrFloat32("scale", match.scale)]
    mask = match.mask
    if mask is not None and mask.shape[:2] == (1, 1) and mask.shape[2] == mask.shape[3] \
            and np.array_equal(mask[0, 0], np.tril(np.ones(mask.shape[2:], dtype=bool))):
        attributes.append(ir.AttrInt64("is_causal", 1))  # ONNX Runtime needs no mask then
    elif mask is not None:
        inputs.append(_constant(graph, f"{prefix}_mask", mask))
    attention = ir.Node("", "Attention", inputs, num_outputs=1, name=f"Attention_{index}",
                        attributes=attributes)
    attention.outputs[0].name, attention.outputs[0].dtype = prefix, ir.DataType.FLOAT
    nodes.append(attention)
    old = match.output
    uses = list(old.uses())
    if not old.is_graph_output() and uses and all(
            node.op_type == "Reshape" and index == 0 for node, index in uses):
        graph.insert_before(match.matmul, nodes)  # reshaped anyway: no reshape back
        for node, index in uses:
            node.replace_input_with(index, attention.outputs[0])
        return
    result = _reshaped(graph, nodes, attention.outputs[0],
                       [d if isinstance(d, int) else 0 for d in dims], f"{prefix}_out")
    result.shape = old.shape
    graph.insert_before(match.matmul, nodes)
    was_output = old.is_graph_output()
    ir.convenience.replace_all_uses_with(old, result, replace_graph_outputs=True)
    if was_output:
        name = old.name
        old.name = f"{name}_unfused"
        result.name = name


def fuse_attention(model: ir.Model) -> int:
    """Rewrites every attention it recognises in the main graph; returns how many."""
    if model.graph.opset_imports.get("", 1) < ATTENTION_OPSET:
        return 0
    graph = model.graph
    constants = _Constants()
    count = 0
    for node in list(graph):
        count += _fuse_at(graph, node, count, constants)
    return count


def _fuse_at(graph: ir.Graph, node: ir.Node, index: int, constants: _Constants) -> int:
    """1 when the attention that ends in this Softmax was fused, else 0."""
    if node.op_type != "Softmax" or node.graph is not graph:
        return 0
    try:
        match = _Match(node, constants)  # reads the graph only
    except Exception:  # _NoMatch, or a graph shaped in a way not foreseen: no fusion
        return 0
    try:
        _rewrite(graph, match, index)
    except _NoMatch:  # raised before the graph changes
        return 0
    return 1
