"""Fusions back to ONNX's own ops: the op types that come out, the numbers, and no fusion
where the opset lacks the fused op."""

import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

from jax2onnx_hlo import to_onnx
from jax2onnx_hlo import trace as trace_module
from jax2onnx_hlo.testing import check_against_jax, random_array


def _ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _randomized(module):
    """Non-trivial scale and bias, so that a dropped or misplaced one shows in the numbers."""
    for i, (_, variable) in enumerate(nnx.iter_graph(module)):
        if isinstance(variable, nnx.Param):
            variable[...] = random_array(variable[...].shape, seed=10 + i)
    return module


# name, function, input shape, fused op, its first opset, ops that must be gone
CASES = [
    ("softmax", jax.nn.softmax, (3, 7), "Softmax", 13, {"ReduceMax", "Exp", "Div"}),
    ("softmax_axis0", lambda x: jax.nn.softmax(x, axis=0), (3, 7), "Softmax", 13,
     {"ReduceMax", "Exp"}),
    ("log_softmax", jax.nn.log_softmax, (2, 3, 5), "LogSoftmax", 13, {"ReduceMax", "Log"}),
    ("layer_norm", _randomized(nnx.LayerNorm(16, rngs=nnx.Rngs(0))), (4, 16),
     "LayerNormalization", 17, {"ReduceSum", "Sqrt", "Add"}),
    ("layer_norm_3d", _randomized(nnx.LayerNorm(8, rngs=nnx.Rngs(0))), (2, 5, 8),
     "LayerNormalization", 17, {"ReduceSum", "Sqrt"}),
    ("layer_norm_no_scale_bias",
     nnx.LayerNorm(8, use_scale=False, use_bias=False, rngs=nnx.Rngs(0)), (3, 8),
     "LayerNormalization", 17, {"ReduceSum", "Sqrt"}),
    ("rms_norm", _randomized(nnx.RMSNorm(16, rngs=nnx.Rngs(0))), (4, 16), "RMSNormalization",
     23, {"ReduceSum", "Sqrt"}),
    ("gelu_exact", lambda x: jax.nn.gelu(x, approximate=False), (4, 9), "Gelu", 20,
     {"Erf", "Exp", "Where"}),
    ("gelu_erf_written_out", lambda x: 0.5 * x * (1 + jax.lax.erf(x / np.sqrt(2))), (4, 9),
     "Gelu", 20, {"Erf"}),
    ("gelu_tanh", lambda x: jax.nn.gelu(x, approximate=True), (4, 9), "Gelu", 20,
     {"Tanh"}),
    ("dense_2d", _randomized(nnx.Linear(6, 5, rngs=nnx.Rngs(0))), (3, 6), "Gemm", 13,
     {"MatMul", "Add"}),
    ("conv_bias", _randomized(nnx.Conv(3, 4, (3, 3), rngs=nnx.Rngs(0))), (2, 8, 8, 3), "Conv",
     11, {"Add"}),
    ("conv_bias_strided", _randomized(nnx.Conv(2, 5, (2, 3), strides=(2, 1), padding="VALID",
                                               rngs=nnx.Rngs(0))), (1, 7, 6, 2), "Conv", 11,
     {"Add"}),
    ("avg_pool", lambda x: nnx.avg_pool(x, (2, 2), strides=(2, 2)), (2, 8, 8, 3),
     "AveragePool", 11, {"Conv", "Div"}),
    ("avg_pool_padded", lambda x: nnx.avg_pool(x, (3, 3), padding="SAME"), (2, 7, 7, 3),
     "AveragePool", 11, {"Conv", "Div"}),
]


@pytest.mark.parametrize("name,fn,shape,fused,first,gone", CASES, ids=[c[0] for c in CASES])
def test_fusion_fires_and_keeps_the_numbers(name, fn, shape, fused, first, gone):
    model = check_against_jax(fn, [random_array(shape)], rtol=1e-5, atol=2e-5)
    ops = _ops(model)
    assert ops.count(fused) == 1, ops
    assert not gone & set(ops), ops


@pytest.mark.parametrize("name,fn,shape,fused,first,gone",
                         [c for c in CASES if c[4] > 18], ids=[c[0] for c in CASES if c[4] > 18])
def test_fusion_waits_for_its_opset(name, fn, shape, fused, first, gone):
    model = check_against_jax(fn, [random_array(shape)], rtol=1e-5, atol=2e-5,
                              opset=first - 1)
    assert fused not in _ops(model)


def test_softmax_keeps_nan_rows():
    x = random_array((3, 5))
    x[1, 2] = np.nan
    model = check_against_jax(jax.nn.softmax, [x])
    assert _ops(model) == ["Softmax"]


def test_softmax_over_two_axes_is_not_fused():
    model = check_against_jax(lambda x: jax.nn.softmax(x, axis=(0, 1)), [random_array((3, 4))])
    assert "Softmax" not in _ops(model)


def test_layer_norm_bias_of_batch_shape_is_not_folded_in():
    # The added term varies over the batch: it is not LayerNormalization's bias.
    ln = nnx.LayerNorm(6, use_bias=False, rngs=nnx.Rngs(0))
    model = check_against_jax(lambda x, y: ln(x) + y,
                              [random_array((2, 6)), random_array((2, 6), seed=1)])
    ops = _ops(model)
    assert ops.count("LayerNormalization") == 1 and "Add" in ops


@pytest.mark.parametrize("opset,attention", [(23, "Attention"), (22, "Softmax")])
def test_vit_block_fuses_norms_softmax_and_gelu(opset, attention):
    class Block(nnx.Module):
        def __init__(self, rngs):
            self.norm = nnx.LayerNorm(16, rngs=rngs)
            self.attention = nnx.MultiHeadAttention(2, 16, decode=False, rngs=rngs)
            self.mlp = nnx.Linear(16, 32, rngs=rngs)

        def __call__(self, x):
            return nnx.gelu(self.mlp(x + self.attention(self.norm(x))))

    model = check_against_jax(_randomized(Block(nnx.Rngs(0))), [random_array((2, 5, 16))],
                              rtol=1e-4, atol=1e-4, opset=opset)
    ops = _ops(model)
    assert {"LayerNormalization", attention, "Gelu"} <= set(ops)
    assert "ReduceMax" not in ops and "Tanh" not in ops
    assert opset < 23 or "Softmax" not in ops  # inside the Attention


def test_matmul_on_3d_input_stays_matmul():
    # Gemm is 2-D only: a Dense on (B, T, D) keeps MatMul + Add.
    model = check_against_jax(_randomized(nnx.Linear(4, 3, rngs=nnx.Rngs(0))),
                              [random_array((2, 5, 4))])
    assert "Gemm" not in _ops(model) and "MatMul" in _ops(model)


def test_gemm_bias_must_broadcast_to_the_product():
    def f(x, w, c):  # c of shape (2, 3, 5): Add makes the result 3-D
        return jnp.dot(x, w) + c

    model = check_against_jax(f, [random_array((3, 4)), random_array((4, 5), seed=1),
                                  random_array((2, 3, 5), seed=2)])
    assert "Gemm" not in _ops(model)


@pytest.mark.parametrize("lowering", ["jax", "jax.export"])
def test_exact_gelu_fuses_from_either_erfc(lowering, monkeypatch):
    """JAX's lowering keeps gelu's chlo.erfc, written 1 - Erf (lowering/chlo.py); a
    jax.export artifact has its polynomial, whose constants broadcast to the full tensor:
    above the folding size limit their Expands survive the first cleanup and must still go
    before fusion."""
    if lowering == "jax.export":
        monkeypatch.setattr(trace_module, "_lowering_is_export", lambda *args: False)
    gelu = partial(jax.nn.gelu, approximate=False)
    model = check_against_jax(gelu, [random_array((3, 7))], dynamic_batch=False)
    assert _ops(model) == ["Gelu"]
    assert _ops(to_onnx(gelu, [(2, 128, 3072)])) == ["Gelu"]


def test_avg_pool_without_padding_in_the_count_is_not_fused():
    def f(x):  # divides each window by its count of real elements: not AveragePool's pads
        return nnx.avg_pool(x, (3, 3), padding="SAME", count_include_pad=False)
    model = check_against_jax(f, [random_array((1, 5, 5, 2))], rtol=1e-5, atol=2e-5)
    assert "AveragePool" not in _ops(model)


def test_conv_bias_varying_along_other_axes_stays_an_add():
    w, b = random_array((3, 3, 2, 3), seed=1), random_array((4, 1, 3), seed=2)

    def f(x):  # b (a constant) varies along the height: not a per-channel bias
        y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + b
    model = check_against_jax(f, [random_array((1, 4, 4, 2))], rtol=1e-5, atol=2e-5)
    ops = _ops(model)
    assert "Add" in ops and len(model.graph.node[ops.index("Conv")].input) == 2, ops


# --- Attention (opset 23) -------------------------------------------------------------

def _qkv(batch=2, length=6, heads=3, dim=4, keys=None):
    keys = keys or length
    return [random_array((batch, length, heads, dim)), random_array((batch, keys, heads, dim),
                                                                     seed=1),
            random_array((batch, keys, heads, dim), seed=2)]


def _attention_node(model):
    nodes = [n for n in model.graph.node if n.op_type == "Attention"]
    assert len(nodes) == 1, _ops(model)
    return nodes[0]


def _causal(length):
    return jnp.tril(jnp.ones((length, length), bool))[None, None]


def _einsum_attention(q, k, v):  # written out, as in many models
    logits = jnp.einsum("bthd,bshd->bhts", q, k) / np.sqrt(q.shape[-1])
    return jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(logits, axis=-1), v)


ATTENTION_CASES = [
    ("nnx", nnx.dot_product_attention, {}),
    ("jax_nn", jax.nn.dot_product_attention, {}),
    ("nnx_causal", lambda q, k, v: nnx.dot_product_attention(q, k, v, mask=_causal(6)), {}),
    ("jax_nn_is_causal", lambda q, k, v: jax.nn.dot_product_attention(q, k, v, is_causal=True),
     {}),
    ("einsum", _einsum_attention, {}),
    ("cross_attention", nnx.dot_product_attention, {"keys": 9}),
    ("one_head", nnx.dot_product_attention, {"heads": 1}),
]


@pytest.mark.parametrize("name,fn,sizes", ATTENTION_CASES, ids=[c[0] for c in ATTENTION_CASES])
def test_attention_fuses_into_the_onnx_op(name, fn, sizes):
    model = check_against_jax(fn, _qkv(**sizes), rtol=1e-5, atol=2e-5)
    node = _attention_node(model)
    ops = _ops(model)
    assert not {"Softmax", "MatMul", "Transpose", "Where"} & set(ops), ops
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    heads = sizes.get("heads", 3)
    assert attrs["q_num_heads"] == attrs["kv_num_heads"] == heads
    assert np.isclose(attrs["scale"], 1 / np.sqrt(4))
    assert attrs.get("is_causal", 0) == ("causal" in name)  # a causal mask is no input
    assert len(node.input) == 3


def test_attention_fuses_at_a_symbolic_batch():
    model = to_onnx(nnx.dot_product_attention, [("B", 6, 3, 4)] * 3)
    _attention_node(model)


def test_attention_waits_for_its_opset():
    model = check_against_jax(nnx.dot_product_attention, _qkv(), rtol=1e-5, atol=2e-5,
                              opset=22)
    assert "Attention" not in _ops(model) and "Softmax" in _ops(model)


def test_attention_of_multi_head_modules_with_masks():
    attention = _randomized(nnx.MultiHeadAttention(4, 16, decode=False, rngs=nnx.Rngs(0)))
    x = random_array((2, 5, 16))
    model = check_against_jax(lambda x: attention(x, mask=nnx.make_causal_mask(x[..., 0])),
                              [x], rtol=1e-4, atol=1e-4)
    assert _ops(model).count("Attention") == 1 and "Softmax" not in _ops(model)
    # a padding mask that differs per batch row stays one (batch, 1, T, S) constant
    padding = np.ones((2, 1, 5, 5), bool)
    padding[1, ..., 3:] = False
    model = check_against_jax(lambda x: attention(x, mask=padding), [x], rtol=1e-4,
                              atol=1e-4, dynamic_batch=False)
    mask = next(i for i in model.graph.initializer if i.name == _attention_node(model).input[3])
    assert list(mask.dims) == [2, 1, 5, 5]


def test_attention_mask_that_is_not_causal_is_an_input():
    mask = np.tril(np.ones((6, 6), bool), k=1)[None, None]  # a key ahead: not causal

    def f(q, k, v):
        return nnx.dot_product_attention(q, k, v, mask=mask)
    model = check_against_jax(f, _qkv(), rtol=1e-5, atol=2e-5)
    node = _attention_node(model)
    assert len(node.input) == 4 and not any(a.name == "is_causal" for a in node.attribute)


def test_attention_with_a_fully_masked_row_is_not_fused():
    # JAX's softmax of a row of equal (masked) logits is uniform; the fused op's is not.
    mask = np.ones((1, 1, 6, 6), bool)
    mask[..., 2, :] = False
    model = check_against_jax(lambda q, k, v: nnx.dot_product_attention(q, k, v, mask=mask),
                              _qkv(), rtol=1e-5, atol=2e-5)
    assert "Attention" not in _ops(model)


def test_attention_whose_weights_are_used_elsewhere_is_not_fused():
    def f(q, k, v):
        probs = jax.nn.softmax(jnp.einsum("bthd,bshd->bhts", q, k), axis=-1)
        return jnp.einsum("bhts,bshd->bthd", probs, v), probs

    model = check_against_jax(f, _qkv(), rtol=1e-5, atol=2e-5)
    assert "Attention" not in _ops(model) and "Softmax" in _ops(model)


def test_attention_over_other_layouts_is_not_fused():
    def f(q, k, v):  # heads before the sequence: not (batch, seq, heads, dim) inputs
        logits = jnp.einsum("bhtd,bhsd->bhts", q, k)
        return jnp.einsum("bhts,bhsd->bhtd", jax.nn.softmax(logits, axis=-1), v)

    model = check_against_jax(f, _qkv(), rtol=1e-5, atol=2e-5)
    assert "Attention" not in _ops(model)


def _zoo_build():
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # `benchmarks` is a folder of the repository, not installed
        sys.path.insert(0, root)
    from benchmarks.zoo import build

    return build


def test_transformer_blocks_fuse_attention():
    build = _zoo_build()
    for name in ("gpt2_small", "bert_base", "vit_b16"):
        model, inputs = build(name, True)
        onnx_model = check_against_jax(model, inputs(2), rtol=1e-4, atol=1e-4,
                                       dynamic_batch=False)
        assert _ops(onnx_model).count("Attention") == 2, (name, _ops(onnx_model))
        assert "Softmax" not in _ops(onnx_model)


def test_transformer_blocks_fuse_at_a_symbolic_batch():
    """Exported with batch "B", a transformer comes out as at a fixed batch: its norms,
    attention (GPT-2's causal mask, which JAX broadcasts to the input's shape, included)
    and biases fused; compared with JAX at several batch sizes."""
    from jax2onnx_hlo.testing import check_dynamic_batch

    build = _zoo_build()
    for name in ("gpt2_small", "bert_base", "vit_b16"):
        model, inputs = build(name, True)
        onnx_model = check_dynamic_batch(model, inputs(2), rtol=1e-4, atol=1e-4)
        ops = _ops(onnx_model)
        assert ops.count("Attention") == ops.count("Gelu") == 2, (name, ops)
        assert ops.count("LayerNormalization") == 5, (name, ops)
        assert not {"Softmax", "ReduceSum", "Sqrt"} & set(ops), (name, ops)
        assert ops.count("Add") == 18 - (name == "vit_b16"), (name, ops)  # biases in norms


_BATCH_SIZED_MASKS = """
<ir_version: 10, opset_import: ["" : 23]>
g (float[B,4] x) => (bool[B,4,4] along_each, bool[4,4] summed) <int64[B,4,4] keys> {
    batch = Shape <end = 1> (x)
    four = Constant <value = int64[2] {4, 4}> ()
    shape = Concat <axis = 0> (batch, four)
    positions = Constant <value = int64[1,1,4] {0, 1, 2, 3}> ()
    keys = Expand (positions, shape)
    queries = Transpose <perm = [0, 2, 1]> (keys)
    along_each = GreaterOrEqual (queries, keys)
    axes = Constant <value = int64[1] {0}> ()
    total = ReduceSum <keepdims = 0> (keys, axes)
    limit = Constant <value = int64 {4}> ()
    summed = Less (total, limit)
}
"""


def test_mask_of_a_batch_sized_expand_is_evaluated_only_along_each_element():
    """A mask that JAX broadcasts to the batch is the same in every batch row: it is
    evaluated with a batch of 1, but only through ops that keep each element to itself;
    a sum over the batch would see 1 row where the model has B."""
    import onnx_ir as ir

    from jax2onnx_hlo.attention import _constant_value

    graph = ir.serde.deserialize_model(onnx.parser.parse_model(_BATCH_SIZED_MASKS)).graph
    along_each, summed = graph.outputs
    mask = _constant_value(along_each)
    np.testing.assert_array_equal(mask, np.tril(np.ones((4, 4), bool))[None])
    assert _constant_value(summed) is None


def test_grouped_query_attention_keeps_its_numbers():
    # Fewer key/value heads than query heads: JAX groups the queries on an extra axis, which
    # the fusion does not take apart (yet); the graph it leaves must still be right.
    q, k, v = random_array((2, 6, 4, 4)), random_array((2, 6, 2, 4), seed=1), \
        random_array((2, 6, 2, 4), seed=2)
    model = check_against_jax(jax.nn.dot_product_attention, [q, k, v], rtol=1e-5, atol=2e-5)
    assert "Attention" not in _ops(model)
