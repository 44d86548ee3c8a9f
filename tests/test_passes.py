"""Post-conversion passes: no batch-sized constants, weight names kept, numbers unchanged."""

import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx
from jax import lax

from jax2onnx_hlo.examples import CNN
from jax2onnx_hlo.testing import check_against_jax, random_array, run_onnx


def _eval(model):
    model.eval()
    return model


def test_broadcast_constants_are_not_baked_at_batch_size():
    # relu's zero, biases and avg_pool's divisor broadcast to (B, ...) in StableHLO.
    model = check_against_jax(_eval(CNN(rngs=nnx.Rngs(0))), [random_array((4, 28, 28, 1))],
                              rtol=1e-4)
    batch_sized = [i.name for i in model.graph.initializer if i.dims and i.dims[0] == 4]
    assert batch_sized == []


def test_expand_kept_where_broadcasting_would_change_the_shape():
    # Both operands need the Expand: neither has the full output shape.
    def f(x, y):
        return jnp.maximum(jnp.broadcast_to(x, (3, 4)), jnp.broadcast_to(y, (3, 4)))

    check_against_jax(f, [random_array((3, 1)), random_array((1, 4), seed=1)])


def test_folded_weights_keep_their_names():
    model = check_against_jax(_eval(CNN(rngs=nnx.Rngs(0))), [random_array((2, 28, 28, 1))],
                              rtol=1e-4)
    names = {i.name for i in model.graph.initializer}
    assert {"conv1.kernel", "conv2.kernel", "linear1.kernel", "conv1.bias"} <= names
    kernel = next(i for i in model.graph.initializer if i.name == "conv1.kernel")
    assert list(kernel.dims) == [16, 1, 3, 3]  # folded to ONNX's OIHW layout


def test_where_with_expanded_scalar_branch():
    check_against_jax(lambda x: jnp.where(x > 0, x, 0.0), [random_array((5, 3))])
    check_against_jax(lambda x: jnp.where(x > 0, 1.0, np.float32(-1)), [random_array((5, 3))])


@pytest.mark.parametrize("constant,kept", [(1e-8, True), (-1e-9, True), (0.0, False)])
def test_adding_a_tiny_constant_is_not_a_no_op(constant, kept):
    """onnxscript's no-op rule Add(x, 0) matches within a tolerance of 1e-8: isclose's atol
    (1e-8) went missing. Only an exact 0 (or 1 for Mul) is an identity element here."""
    model = check_against_jax(lambda x: x + np.float32(constant), [random_array((3, 4))])
    assert ("Add" in [n.op_type for n in model.graph.node]) is kept
    check_against_jax(lambda x, y: jnp.isclose(x, y),
                      [random_array((3, 8)), random_array((3, 8), seed=1)])


@pytest.mark.parametrize("fn,expands", [
    (lambda x, b: x + b, 0),  # a bias: Add broadcasts it
    (lambda x, b: x - jnp.mean(x, axis=-1, keepdims=True) * b, 0),
    # both operands broadcast: one of them must have the full shape
    (lambda x, b: jnp.broadcast_to(b, x.shape) * jnp.broadcast_to(b, x.shape) + x, 1),
    (lambda x, b: jnp.maximum(x, jnp.broadcast_to(b, x.shape)), 0),  # with max's -0.0 fix
    (lambda x, b: jnp.minimum(jnp.broadcast_to(b, x.shape), x - 0.5), 0),
    (lambda x, b: jnp.sin(jnp.broadcast_to(b, x.shape)), 1),  # sin of the full shape
])
def test_broadcasts_that_users_do_themselves_build_no_expand(fn, expands):
    model = check_against_jax(fn, [random_array((2, 3, 4)), random_array((4,), seed=1)])
    assert [n.op_type for n in model.graph.node].count("Expand") == expands


def test_transposes_sink_through_bias_and_relu_and_cancel():
    """NHWC convs lower to Transpose/Conv/Transpose; between two convs the pair around
    bias + relu cancels once the Transpose moves below them."""
    from jax2onnx_hlo.examples import CNN as Net

    model = check_against_jax(_eval(Net(rngs=nnx.Rngs(0))), [random_array((2, 28, 28, 1))],
                              rtol=1e-4)
    op_types = [n.op_type for n in model.graph.node]
    assert op_types.count("Transpose") == 2, op_types  # the input, and before the flatten


_SINKABLE = """
<ir_version: 10, opset_import: ["" : 23]>
g (float[2,5,3,4] x) => (float[2,5,3,4] y, float[2,5,3,4] z)
    <float[1,1,1,1] zero = {0.0}, float[5] bias = {1.0, 2.0, 3.0, 4.0, 5.0}> {
    t = Transpose <perm = [0, 2, 3, 1]> (x)
    a = Add (t, bias)
    r = Max (a, zero)
    y = Transpose <perm = [0, 3, 1, 2]> (r)
    z = Max (x, zero)
}
"""


def test_sunk_transposes_cancel_and_one_element_constants_stay_shared():
    """The Transpose moves below Add and Max and meets its inverse: the pair goes, the bias
    is permuted, and relu's shared zero (one element: the same in either layout) is not
    copied, so no second round of the optimizer is needed to merge the copy back."""
    import onnx_ir as ir

    from jax2onnx_hlo.passes import run_passes

    model = ir.serde.deserialize_model(onnx.parser.parse_model(_SINKABLE))
    x = random_array((2, 5, 3, 4))
    expected = run_onnx(ir.serde.serialize_model(model), [x])
    run_passes(model)
    assert [n.op_type for n in model.graph] == ["Add", "Max", "Max"]
    assert {v.name: list(v.shape) for v in model.graph.initializers.values()} == \
        {"bias": [1, 5, 1, 1], "zero": [1, 1, 1, 1]}
    for want, got in zip(expected, run_onnx(ir.serde.serialize_model(model), [x])):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "shapes,expected",
    [([[3, 1], [1, 4]], [3, 4]), ([["B", 4], [1, 4]], ["B", 4]), ([["B", 4], ["B", 1]], ["B", 4]),
     ([["B", 4], [4]], ["B", 4]), ([["B", 4], ["T", 4]], None), ([[None, 4], [1, 4]], None),
     ([[2, 4], [3, 4]], None), ([[1], [1, 1]], [1, 1])],
)
def test_broadcast_with_named_dims(shapes, expected):
    """Named dims broadcast only with themselves or 1; unknown dims decide nothing."""
    from jax2onnx_hlo.passes import _broadcast_dims

    assert _broadcast_dims(shapes) == expected


_REWRITABLE = """
<ir_version: 10, opset_import: ["" : 23]>
g (float[2,3,4] x, float[2,3,4] y) => (float[4,3,2] t, float[4,6] r, float[2,3,4] c,
                                       float[1,2,3,4] e, float[2,3,4] m1, float[2,3,4] m2)
    <float[1000,1000,1,1] unused> {
    t1 = Transpose <perm = [1, 0, 2]> (x)
    t = Transpose <perm = [2, 0, 1]> (t1)
    s1 = Constant <value = int64[2] {6, 4}> ()
    s2 = Constant <value = int64[2] {4, 6}> ()
    r1 = Reshape (x, s1)
    r = Reshape (r1, s2)
    hi = Constant <value = float {1.0}> ()
    lo = Constant <value = float {-1.0}> ()
    m = Min (y, hi)
    c = Max (m, lo)
    big = Constant <value = int64[4] {1000, 1000, 1, 1}> ()
    one = Constant <value = float[1] {2.0}> ()
    unused = Expand (one, big)
    shape = Constant <value = int64[4] {1, 2, 3, 4}> ()
    ex = Expand (one, shape)
    e = Add (ex, x)
    unit = Constant <value = float {1.0}> ()
    y1 = Mul (y, unit)
    m1 = Sub (y1, x)
    units = Constant <value = float[1] {1.0}> ()
    m2 = Mul (units, x)
}
"""


def _parsed():
    import onnx
    import onnx_ir as ir

    return ir.serde.deserialize_model(onnx.parser.parse_model(_REWRITABLE))


def _text(model) -> str:
    import onnx
    import onnx_ir as ir

    return onnx.printer.to_text(ir.serde.serialize_model(model))


def test_rule_index_rewrites_as_onnxscript_does():
    import onnxscript.rewriter

    from jax2onnx_hlo.passes import _REWRITE_RULES

    theirs, ours = _parsed(), _parsed()
    count = onnxscript.rewriter.RewriteRuleSet(_REWRITE_RULES.rules).apply_to_model(theirs)
    assert _REWRITE_RULES.apply_to_model(ours) == count > 0
    assert _text(ours) == _text(theirs)


def test_constant_folding_as_onnxscript_with_shape_inference():
    import onnxscript.optimizer

    from jax2onnx_hlo.folding import _ConstantFolder, fold_constants

    theirs, ours = _parsed(), _parsed()
    onnxscript.optimizer.fold_constants(theirs, onnx_shape_inference=True)
    assert fold_constants(ours).modified
    assert _text(ours) == _text(theirs)
    assert "Expand" in [n.op_type for n in ours.graph]  # 10^6 values are not folded
    unused = next(n for n in _parsed().graph if n.outputs[0].name == "unused")
    assert _ConstantFolder()._should_fold(unused) is False  # nor computed


def _scan_in_scan(x):
    def outer(carry, row):
        inner = lax.scan(lambda a, v: (a * 0.5 + v, a), carry, row)[0]
        return inner, inner
    return lax.scan(outer, jnp.float32(0), x)


def _defined_names(graph: onnx.GraphProto) -> list[str]:
    """Every value name a graph and its subgraphs define (inputs, initializers, outputs)."""
    names = [v.name for v in graph.input] + [t.name for t in graph.initializer]
    for node in graph.node:
        for attribute in node.attribute:
            for subgraph in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                names += _defined_names(subgraph)
        names += [name for name in node.output if name]
    return names


def test_value_names_are_unique_across_nested_loop_bodies():
    """ONNX Runtime rejects a model whose Loop body defines a name the outer graph defines
    again (not SSA); onnx_ir's NameFixPass alone let that happen for a scan in a scan."""
    model = check_against_jax(_scan_in_scan, [random_array((3, 4))])
    names = _defined_names(model.graph)
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


_DEAD_CODE = """
<ir_version: 8, opset_import: ["" : 18]>
g (float[2,3] x) => (float[2,3] y, float[2,3] d) {
    dead = Neg (x)
    r = Relu (dead)
    y, mask = Dropout (x)
    d, mean, inv = LayerNormalization <axis = -1> (y, scale, )
    scale = Constant <value = float[3] {1.0, 1.0, 1.0}> ()
}
"""


def test_dead_code_removal_as_onnx_ir_does():
    import onnx_ir as ir
    import onnx_ir.passes.common as common

    from jax2onnx_hlo.dead_code import remove_unused_nodes

    def parsed():
        return ir.serde.deserialize_model(onnx.parser.parse_model(_DEAD_CODE))

    theirs, ours = parsed(), parsed()
    common.RemoveUnusedNodesPass()(theirs)
    assert remove_unused_nodes(ours) == 2  # Neg and Relu; unused optional outputs dropped
    assert _text(ours) == _text(theirs)
    assert [len(n.outputs) for n in ours.graph] == [1, 1, 1]


def test_names_fixed_as_onnx_ir_does():
    import onnx_ir.passes.common as common

    from jax2onnx_hlo.naming import _names_fixed, fix_names

    clean = _parsed()
    assert not _names_fixed(clean.graph)  # the parser leaves nodes unnamed
    assert common.NameFixPass()(clean).modified
    assert _names_fixed(clean.graph)
    assert not common.NameFixPass()(clean).modified

    def clashing():
        model = _parsed()
        first, second, third = list(model.graph)[:3]
        second.outputs[0].name = first.outputs[0].name
        third.name = ""
        return model

    theirs, ours = clashing(), clashing()
    assert not _names_fixed(ours.graph)
    common.NameFixPass()(theirs)
    fix_names(ours)
    assert _text(ours) == _text(theirs)


ROUND_CASES = [
    ("cnn", lambda: _eval(CNN(rngs=nnx.Rngs(0))), [(2, 28, 28, 1)]),
    ("attention_block", lambda: _eval(nnx.MultiHeadAttention(2, 8, decode=False,
                                                             rngs=nnx.Rngs(0))), [(2, 5, 8)]),
    ("dynamic_batch_reshapes", lambda: lambda x: jnp.reshape(jnp.reshape(x, (-1, 2, 6)),
                                                             (-1, 12)).sum(0), [("B", 12)]),
]


@pytest.mark.parametrize("make,shapes", [c[1:] for c in ROUND_CASES],
                         ids=[c[0] for c in ROUND_CASES])
def test_a_round_that_rewrote_nothing_is_the_last(monkeypatch, make, shapes):
    """The folder is one pass in graph order, so optimize() stops after a round whose
    rewrites changed nothing: a second round forced there changes nothing either."""
    from jax2onnx_hlo import passes, to_onnx

    fn = make()

    def convert():  # from one line: the nodes' source metadata names the caller's line
        return to_onnx(fn, shapes).SerializeToString()

    stopped = convert()
    apply, rounds = passes._REWRITE_RULES.apply_to_model, []

    def claiming_a_rewrite_in_each_first_round(model):
        rounds.append(apply(model))
        return rounds[-1] or len(rounds) % 2  # first round of an optimize(): 1, second: 0
    monkeypatch.setattr(passes._REWRITE_RULES, "apply_to_model",
                        claiming_a_rewrite_in_each_first_round)
    forced = convert()
    assert len(rounds) >= 2 and forced == stopped
