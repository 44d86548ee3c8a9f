"""@onnx_function: call nodes backed by FunctionProtos, with the documented naming rules."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

from jax2onnx_hlo import ConversionError, onnx_function, rule_selection, to_onnx
from jax2onnx_hlo.testing import check_against_jax, random_array


def calls(graph_or_function) -> list[tuple[str, str]]:
    """(domain, op_type) of the nodes that call a function, in order."""
    return [(n.domain, n.op_type) for n in graph_or_function.node if n.domain]


def function(model: onnx.ModelProto, domain: str) -> onnx.FunctionProto:
    (found,) = [f for f in model.functions if f.domain == domain]
    return found


def opsets(proto) -> dict[str, int]:
    return {o.domain: o.version for o in proto.opset_import}


# ---- the naming rules ------------------------------------------------------------------


@onnx_function
def MyBlock(x):
    return jnp.tanh(x) + 1.0


@onnx_function(unique=True, type="MyBlock")
def shared_block(x):
    return jnp.tanh(x) * 2.0


@onnx_function(unique=True, namespace="my.model")
def square(x):
    return x * x


@onnx_function(name="Alias", type="Typed")
def type_over_name(x):
    return x - 1.0


@onnx_function(name="Alias")
def named(x):
    return x - 2.0


class Scale(nnx.Module):
    def __init__(self, value: float):
        self.w = nnx.Param(jnp.full((4,), value))

    def __call__(self, x):
        return x * self.w


UniqueScale = onnx_function(Scale, unique=True, type="MyBlock", namespace="variants")


class TwoScales(nnx.Module):
    """Two instances of one unique block: different weights, so two variants."""

    def __init__(self):
        self.a, self.b = UniqueScale(2.0), UniqueScale(3.0)

    def __call__(self, x):
        return self.b(self.a(self.a(x)))


NAMING = [
    # fn, expected call nodes in the main graph, expected function domains in order
    (lambda x: MyBlock(MyBlock(x)),
     [("custom.MyBlock.1", "MyBlock"), ("custom.MyBlock.2", "MyBlock")],
     ["custom.MyBlock.1", "custom.MyBlock.2"]),
    (lambda x: shared_block(shared_block(x)),
     [("custom.MyBlock.unique", "MyBlock")] * 2, ["custom.MyBlock.unique"]),
    (lambda x: square(square(x)),
     [("my.model.square.unique", "square")] * 2, ["my.model.square.unique"]),
    (type_over_name, [("custom.Typed.1", "Typed")], ["custom.Typed.1"]),
    (named, [("custom.Alias.1", "Alias")], ["custom.Alias.1"]),
    (TwoScales(),
     [("variants.MyBlock.unique", "MyBlock"), ("variants.MyBlock.unique", "MyBlock"),
      ("variants.MyBlock.unique.2", "MyBlock")],
     ["variants.MyBlock.unique", "variants.MyBlock.unique.2"]),
]


@pytest.mark.parametrize("fn, nodes, domains", NAMING,
                         ids=["counter", "unique", "namespace", "type_over_name", "name",
                              "unique_variants"])
def test_naming_rules(fn, nodes, domains):
    model = check_against_jax(fn, [random_array((3, 4))])
    assert calls(model.graph) == nodes
    assert [f.domain for f in model.functions] == domains
    for f in model.functions:
        assert f.name == nodes[0][1]
        assert opsets(model)[f.domain] == 1
        assert opsets(f)[""] == opsets(model)[""]


# ---- decorating twice --------------------------------------------------------------------


def _fresh():
    def block(x):
        return x + 1.0

    return block


CONFLICTS = [
    ({"namespace": "a"}, {"namespace": "b"}, "namespace"),
    ({"name": "One"}, {"name": "Two"}, "base"),
    ({"type": "One"}, {"name": "Two"}, "base"),
    ({}, {"namespace": "other"}, "namespace"),
]


@pytest.mark.parametrize("first, second, field", CONFLICTS)
def test_conflicting_redecoration_raises(first, second, field):
    block = _fresh()
    decorated = onnx_function(block, **first)
    with pytest.raises(ValueError, match=f"conflicting settings.*{field}"):
        onnx_function(block, **second)
    with pytest.raises(ValueError, match=field):  # through the wrapper too
        onnx_function(decorated, **second)


IDENTICAL = [
    ({}, {}),
    ({"namespace": "custom"}, {}),  # the default spelled out
    ({"type": "Same"}, {"name": "Same"}),  # the same display name either way
    ({"unique": True, "namespace": "n"}, {"unique": True, "namespace": "n"}),
]


@pytest.mark.parametrize("first, second", IDENTICAL)
def test_identical_redecoration_is_accepted(first, second):
    block = _fresh()
    decorated = onnx_function(block, **first)
    assert onnx_function(block, **second) is decorated
    assert onnx_function(decorated, **second) is decorated
    model = check_against_jax(lambda x: decorated(x), [random_array((2,))])
    assert len(model.functions) == 1


def test_redecorating_a_class_keeps_one_boundary():
    again = onnx_function(Scale, unique=True, type="MyBlock", namespace="variants")
    assert again is UniqueScale
    model = check_against_jax(again(1.5), [random_array((2, 4))])
    assert len(model.functions) == 1 and not calls(model.functions[0])


# ---- nesting, classes, parameters ----------------------------------------------------------


@onnx_function
def inner(x):
    return jnp.sin(x) * 3.0


@onnx_function(type="Outer")
def outer(x, y):
    return inner(x @ y) + inner(y)[0]


def test_nested_functions_give_nested_function_protos():
    model = check_against_jax(outer, [random_array((3, 4)), random_array((4, 4), seed=1)])
    assert calls(model.graph) == [("custom.Outer.1", "Outer")]
    body = function(model, "custom.Outer.1")
    assert calls(body) == [("custom.inner.1", "inner"), ("custom.inner.2", "inner")]
    assert opsets(body).keys() >= {"", "custom.inner.1", "custom.inner.2"}
    assert {f.domain for f in model.functions} == {
        "custom.Outer.1", "custom.inner.1", "custom.inner.2"}
    assert opsets(model).keys() >= {f.domain for f in model.functions}


@onnx_function
class MLPBlock(nnx.Module):
    def __init__(self, dim: int, hidden: int, rngs: nnx.Rngs):
        self.up = nnx.Linear(dim, hidden, rngs=rngs)
        self.down = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x, *, deterministic: bool = True):
        h = nnx.gelu(self.up(x))
        return self.down(h if deterministic else h * 0.5)


def test_class_based_function_keeps_weights_as_initializers():
    block = MLPBlock(8, 16, rngs=nnx.Rngs(0))
    model = check_against_jax(block, [random_array((2, 8))], rtol=1e-4, atol=1e-4)
    assert calls(model.graph) == [("custom.MLPBlock.1", "MLPBlock")]
    (call,) = model.graph.node
    weights = {i.name for i in model.graph.initializer}
    assert len(weights) == 4 and set(call.input) >= weights
    assert len(function(model, "custom.MLPBlock.1").input) == 5


@onnx_function(unique=True)
def scaled(x, scale, *, square_it=False):
    y = x * scale
    return y * y if square_it else y


PARAMETERS = [
    # two calls and whether they share one function
    (lambda x: scaled(scaled(x, 2.0), 2.0), 1),
    (lambda x: scaled(scaled(x, 2.0), 3.0), 2),
    (lambda x: scaled(scaled(x, 2.0, square_it=True), 2.0), 2),
    (lambda x: scaled(scaled(x, x), x), 1),  # an array argument is an input, not a parameter
]


@pytest.mark.parametrize("fn, n_functions", PARAMETERS,
                         ids=["same", "other_scalar", "other_flag", "array_argument"])
def test_call_parameters_are_baked_in_and_fingerprinted(fn, n_functions):
    model = check_against_jax(fn, [random_array((2, 3))])
    assert len(calls(model.graph)) == 2
    assert len(model.functions) == n_functions


@onnx_function
def looped(x, n):
    def body(i, acc):
        return jax.lax.cond(acc.sum() > 0, lambda a: a * 0.5, lambda a: a + i, acc)

    return jax.lax.fori_loop(0, 3, body, x) + n


def test_control_flow_inside_a_function_keeps_its_constants_in_the_body():
    model = check_against_jax(looped, [random_array((2, 3)), random_array((), seed=2)])
    assert calls(model.graph) == [("custom.looped.1", "looped")]
    body = function(model, "custom.looped.1")
    assert {n.op_type for n in body.node} >= {"Loop"}
    assert not model.graph.initializer  # the loop's constants live in the function


def test_pytree_arguments_and_results():
    @onnx_function
    def pair(tree):
        return {"sum": tree["a"] + tree["b"], "diff": tree["a"] - tree["b"]}

    model = check_against_jax(lambda a, b: pair({"a": a, "b": b}),
                              [random_array((3,)), random_array((3,), seed=1)])
    assert len(function(model, "custom.pair.1").output) == 2


# ---- transformations and shapes ------------------------------------------------------------


def test_vmap_keeps_the_boundary():
    def fn(xs, w):
        return jax.vmap(lambda x: outer(x, w))(xs)

    model = check_against_jax(fn, [random_array((5, 3, 4)), random_array((4, 4), seed=1)])
    assert calls(model.graph) == [("custom.Outer.1", "Outer")]
    assert len(model.functions) == 3


def test_vmap_matches_the_plain_function():
    x = random_array((5, 3, 4))
    w = random_array((4, 4), seed=1)
    want = jax.vmap(lambda r: jnp.sin(r @ w) * 3.0 + (jnp.sin(w) * 3.0)[0])(x)
    got = jax.jit(jax.vmap(lambda r: outer(r, w)))(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gradients_go_through_the_body():
    x = random_array((5, 3, 4))
    w = random_array((4, 4), seed=1)

    def loss(w, plain):
        inner_fn = (lambda y: jnp.sin(y) * 3.0) if plain else inner
        return jnp.sum(jax.vmap(lambda r: inner_fn(r @ w))(x) ** 2)

    np.testing.assert_allclose(jax.grad(loss)(w, False), jax.grad(loss)(w, True), rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_symbolic_dims_inside_functions(batch):
    block = MLPBlock(8, 16, rngs=nnx.Rngs(1))

    def fn(x):
        return MyBlock(block(x) * x.shape[0])

    model = check_against_jax(fn, [random_array((batch, 8))], specs=[("B", 8)],
                              rtol=1e-4, atol=1e-4)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "B"
    assert [d for d, _ in calls(model.graph)] == ["custom.MLPBlock.1", "custom.MyBlock.1"]


# ---- a transformer from decorated blocks --------------------------------------------------


@onnx_function(unique=True)
class SelfAttention(nnx.Module):
    def __init__(self, dim: int, heads: int, rngs: nnx.Rngs):
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.out = nnx.Linear(dim, dim, rngs=rngs)
        self.heads = heads

    def __call__(self, x):
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
        q, k, v = (a.reshape(b, t, self.heads, d // self.heads) for a in (q, k, v))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d // self.heads)
        attended = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v)
        return self.out(attended.reshape(b, t, d))


@onnx_function(unique=True, type="MLP")
class FeedForward(nnx.Module):
    def __init__(self, dim: int, rngs: nnx.Rngs):
        self.up = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.down = nnx.Linear(4 * dim, dim, rngs=rngs)

    def __call__(self, x):
        return self.down(nnx.gelu(self.up(x)))


@onnx_function(namespace="gpt")
class TransformerBlock(nnx.Module):
    def __init__(self, dim: int, heads: int, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attention = SelfAttention(dim, heads, rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = FeedForward(dim, rngs)

    def __call__(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nnx.Module):
    def __init__(self, dim: int = 16, heads: int = 2, depth: int = 2, seed: int = 0):
        rngs = nnx.Rngs(seed)
        self.blocks = nnx.List([TransformerBlock(dim, heads, rngs) for _ in range(depth)])

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_transformer_of_decorated_blocks():
    model = check_against_jax(Transformer(), [random_array((2, 5, 16))], rtol=1e-4,
                              atol=1e-4)
    assert calls(model.graph) == [("gpt.TransformerBlock.1", "TransformerBlock"),
                                  ("gpt.TransformerBlock.2", "TransformerBlock")]
    assert calls(function(model, "gpt.TransformerBlock.1")) == [
        ("custom.SelfAttention.unique", "SelfAttention"), ("custom.MLP.unique", "MLP")]
    assert calls(function(model, "gpt.TransformerBlock.2")) == [
        ("custom.SelfAttention.unique.2", "SelfAttention"), ("custom.MLP.unique.2", "MLP")]
    assert len(model.functions) == 6
    assert opsets(model).keys() >= {f.domain for f in model.functions}
    # Each block's 12 weights are initializers of the main graph, fed through the call.
    weights = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        assert len(node.input) == 13 and set(node.input[1:]) <= weights
        assert len(function(model, node.domain).input) == 13


def test_unsupported_op_inside_a_function_is_reported_up_front(monkeypatch):
    # Pretend sine has no rule: the up-front scan must look inside function bodies.
    rule_for = rule_selection.rule_for
    monkeypatch.setattr(rule_selection, "rule_for",
                        lambda key, op=None: None if key == "stablehlo.sine"
                        else rule_for(key, op))
    with pytest.raises(ConversionError, match=r"no ONNX lowering:\n  stablehlo.sine x2"):
        to_onnx(outer, [(3, 4), (4, 4)])
