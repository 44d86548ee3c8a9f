"""Symbolic dims: each case is exported ONCE with named dims ("B", "T"), then run in ONNX
Runtime at several sizes and compared with JAX at each size."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx
from jax import lax

from jax2onnx_hlo import to_onnx
from jax2onnx_hlo.examples import MLP
from jax2onnx_hlo.testing import assert_outputs_close, random_array, run_onnx
from jax2onnx_hlo.validate import plain_function

B_SIZES = [{"B": 1}, {"B": 3}, {"B": 7}]
BT_SIZES = [{"B": 1, "T": 1}, {"B": 3, "T": 5}, {"B": 7, "T": 2}, {"B": 2, "T": 9}]
BH_SIZES = [{"B": 1, "H": 2}, {"B": 3, "H": 5}, {"B": 2, "H": 4}]
BHW_SIZES = [{"B": 1, "H": 5, "W": 6}, {"B": 2, "H": 8, "W": 3}, {"B": 3, "H": 1, "W": 7}]


def export_once_run_at(fn, specs, sizes, *, rtol=1e-5, atol=1e-5) -> onnx.ModelProto:
    """Exports fn once with symbolic `specs`, checks the model, then for each binding of
    dim names in `sizes` runs it and compares with jax.jit(fn) at those concrete shapes."""
    model = to_onnx(fn, list(specs))
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for seed, size in enumerate(sizes):
        args = [
            random_array(tuple(size[d] if isinstance(d, str) else d for d in spec), seed=seed + i)
            for i, spec in enumerate(specs)
        ]
        expected = jax.tree_util.tree_leaves(jax.jit(plain_function(fn))(*args))
        try:
            got = run_onnx(model, args)
            assert_outputs_close(expected, got, rtol=rtol, atol=atol)
        except Exception as e:
            raise AssertionError(f"at {size}: {e}") from e
    return model


def _input_dims(model: onnx.ModelProto, i: int) -> list:
    dims = model.graph.input[i].type.tensor_type.shape.dim
    return [d.dim_param or d.dim_value for d in dims]


# ---- models ------------------------------------------------------------------------------


def _mlp():
    model = MLP(30, 64, 10, rngs=nnx.Rngs(0))
    model.eval()
    return model


class DecoderBlock(nnx.Module):
    """GPT-style pre-norm block: causal multi-head self-attention, then a gelu MLP."""

    def __init__(self, d: int, heads: int, *, rngs: nnx.Rngs):
        self.heads = heads
        self.ln1 = nnx.LayerNorm(d, rngs=rngs)
        self.qkv = nnx.Linear(d, 3 * d, rngs=rngs)
        self.proj = nnx.Linear(d, d, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d, rngs=rngs)
        self.fc = nnx.Linear(d, 4 * d, rngs=rngs)
        self.out = nnx.Linear(4 * d, d, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads) for z in (q, k, v))
        scores = jnp.einsum("bthd,bshd->bhts", q, k) / jnp.sqrt(d // self.heads)
        causal = jnp.tril(jnp.ones((t, t)))
        weights = jax.nn.softmax(jnp.where(causal == 0, -1e9, scores), axis=-1)
        attended = jnp.einsum("bhts,bshd->bthd", weights, v).reshape(b, t, d)
        x = x + self.proj(attended)
        return x + self.out(jax.nn.gelu(self.fc(self.ln2(x))))


def _decoder():
    return DecoderBlock(16, 4, rngs=nnx.Rngs(0))


def _causal_mask_from_iota(x):
    t = x.shape[1]
    mask = jnp.arange(t)[:, None] >= jnp.arange(t)[None, :]
    return jnp.where(mask, jnp.einsum("btd,bsd->bts", x, x), -1e9)


_W = random_array((30, 5), seed=11)
_K = random_array((3, 3, 3, 4), seed=14)
_IDX = np.array([0, 2, 4, 2])
_STATE = np.array([0x12345678, 0x9ABCDEF0, 42, 7], np.uint32)
_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv(strides, padding, **kwargs):
    return lambda x: lax.conv_general_dilated(x, _K, strides, padding,
                                              dimension_numbers=_NHWC, **kwargs)


def _bits(algorithm, dtype=jnp.uint32):
    """rng_bit_generator bits shaped like x: dynamic_rng_bit_generator with symbolic dims."""
    return lambda x: lax.rng_bit_generator(jnp.asarray(_STATE), x.shape, dtype,
                                           algorithm=algorithm)
_HEADS_W = random_array((16, 4, 4), seed=13)
_BIAS = random_array((5,), seed=12)




# (id, fn, specs, sizes). Each row is exported once and run at every size.
CASES = [
    ("elementwise_bias", lambda x: jnp.tanh(2.0 * x + _BIAS) - jnp.exp(-x * x),
     [("B", 5)], B_SIZES),
    ("dense", lambda x: x @ _W + _BIAS, [("B", 30)], B_SIZES),
    ("nnx_mlp", _mlp(), [("B", 30)], B_SIZES),
    ("reshape_batch_flatten", lambda x: x.reshape(x.shape[0], -1), [("B", 4, 4)], B_SIZES),
    ("reshape_merge_b_t", lambda x: x.reshape(-1, x.shape[-1]) * 2.0, [("B", "T", 4)],
     BT_SIZES),
    ("reshape_split_b_t", lambda x: x.reshape(x.shape[0], x.shape[1], 2, 2).sum(-1),
     [("B", "T", 4)], BT_SIZES),
    ("slice_drop_first", lambda x: x[:, 1:], [("B", "T")],
     [{"B": 1, "T": 2}, {"B": 3, "T": 5}, {"B": 7, "T": 3}]),
    ("slice_static_axis", lambda x: x[:, 1:3] + x[:, :2], [("B", 4)], B_SIZES),
    ("concat_batch", lambda x: jnp.concatenate([x, 2.0 * x]), [("B", 3)], B_SIZES),
    ("concat_feature", lambda x: jnp.concatenate([x, x[:, :1]], axis=1), [("B", 3)],
     B_SIZES),
    ("reduce_over_batch", lambda x: jnp.sum(x, axis=0) + jnp.max(x, axis=0), [("B", 4)],
     B_SIZES),
    ("mean_over_batch_broadcast", lambda x: x - jnp.mean(x, axis=0, keepdims=True),
     [("B", 4)], B_SIZES),
    ("argmax", lambda x: jnp.argmax(x, axis=1), [("B", 4)], B_SIZES),
    ("argmax_over_batch", lambda x: jnp.argmax(x, axis=0), [("B", 4)], B_SIZES),
    ("same_dim_two_inputs", lambda x, y: x * y + y.sum(axis=1, keepdims=True),
     [("B", 4), ("B", 4)], B_SIZES),
    ("gram_over_batch", lambda x: x.T @ x, [("B", 3)], B_SIZES),
    # dot_general whose Reshapes merge or split several dynamic dims.
    ("einsum_split_heads", lambda x: jnp.einsum("btd,dhk->bthk", x, _HEADS_W),
     [("B", "T", 16)], BT_SIZES),
    ("einsum_contract_b_and_t", lambda x: jnp.einsum("btd,bte->de", x, x),
     [("B", "T", 16)], BT_SIZES),
    ("einsum_outer_b_t", lambda x: jnp.einsum("bt,bs->bts", x, x), [("B", "T")], BT_SIZES),
    ("pad_batch_axis", lambda x: jnp.pad(x, ((1, 2), (0, 1))), [("B", 4)], B_SIZES),
    ("pad_interior_batch_axis", lambda x: lax.pad(x, 0.5, ((1, -1, 2), (0, 0, 1))),
     [("B", 4)], B_SIZES),
    ("iota_f32_over_batch", lambda x: x * jnp.arange(x.shape[0], dtype=jnp.float32)[:, None],
     [("B", 4)], B_SIZES),
    ("broadcast_b_to_b_t", lambda x, y: x + y[:, None], [("B", "T"), ("B",)], BT_SIZES),
    ("causal_mask_iota", _causal_mask_from_iota, [("B", "T", 8)], BT_SIZES),
    ("tril_mask", lambda x: jnp.tril(jnp.ones((x.shape[1], x.shape[1]))) * x,
     [("B", "T", "T")], BT_SIZES),
    ("tril_bool_mask", lambda x: jnp.where(
        jnp.tril(jnp.ones((x.shape[1], x.shape[1]), bool)), x, 0.0),
        [("B", "T", "T")], BT_SIZES),
    ("decoder_block", _decoder(), [("B", "T", 16)], BT_SIZES),
    # ---- dynamic_pad: widths that depend on a symbolic dim ----------------------------------
    ("pad_by_symbolic_dim", lambda x: jnp.pad(x, ((0, 0), (0, x.shape[1]))), [("B", "H")],
     BH_SIZES),
    ("pad_negative_by_symbolic_dim",
     lambda x: lax.pad(x, 0.5, ((0, 0, 0), (1, -(x.shape[1] // 2), 1))), [("B", "H")], BH_SIZES),
    ("pad_interior_by_symbolic_dim", lambda x: lax.pad(x, 0.5, ((1, 0, x.shape[1]), (0, 1, 0))),
     [("B", "H")], BH_SIZES),
    ("pad_low_negative_by_symbolic_dim",
     lambda x: lax.pad(x, 2.0, ((0, 0, 0), (1 - x.shape[1], x.shape[0], 2))), [("B", "H")],
     BH_SIZES),
    # ---- dynamic_conv: "SAME" padding of a strided conv over symbolic spatial dims ---------
    ("conv_same_stride_2", _conv((2, 2), "SAME"), [("B", "H", "W", 3)], BHW_SIZES),
    ("conv_same_stride_3_1_rhs_dilated", _conv((3, 1), "SAME", rhs_dilation=(1, 2)),
     [("B", "H", "W", 3)], BHW_SIZES),
    ("nnx_conv_strided_same", nnx.Conv(3, 4, (3, 3), strides=2, rngs=nnx.Rngs(0)),
     [("B", "H", "W", 3)], BHW_SIZES),
    # a static convolution whose lhs dilation runs along symbolic dims
    ("conv_transpose_symbolic_hw", lambda x: lax.conv_transpose(x, _K, (2, 2), "SAME",
                                                                dimension_numbers=_NHWC),
     [("B", "H", "W", 3)], BHW_SIZES),
    ("conv_transpose_valid_3_2", lambda x: lax.conv_transpose(x, _K, (3, 2), "VALID",
                                                              dimension_numbers=_NHWC),
     [("B", "H", "W", 3)], BHW_SIZES),
    # ---- batched dynamic_gather: slice sizes that hold a symbolic dim -----------------------
    ("gather_ellipsis_none_idx", lambda x: x[..., None, _IDX], [("B", 5)], B_SIZES),
    ("gather_reverse_last_axis", lambda x: x[..., ::-1], [("B", 5)], B_SIZES),
    ("gather_take_axis_1", lambda x: jnp.take(x, _IDX, axis=1), [("B", 5)], B_SIZES),
    ("gather_take_between_symbolic_dims", lambda x: jnp.take(x, _IDX, axis=1),
     [("B", 5, "T")], BT_SIZES),
    ("gather_two_index_arrays", lambda x: x[:, _IDX, _IDX[::-1]], [("B", 5, 5)], B_SIZES),
    ("gather_strided_symbolic_axis", lambda x: x[:, ::2], [("B", "T")], BT_SIZES),
    ("gather_last_of_symbolic_axis", lambda x: x[:, -1], [("B", "T", 3)], BT_SIZES),
    # ---- cumulative ops along a symbolic axis: a log-step scan in a Loop --------------------
    ("cumprod_symbolic_axis", lambda x: jnp.cumprod(x, axis=1), [("B", "T")], BT_SIZES),
    ("cummax_reverse_symbolic_axis", lambda x: lax.cummax(x, axis=1, reverse=True),
     [("B", "T")], BT_SIZES),
    ("cummin_over_batch", lambda x: lax.cummin(x, axis=0), [("B", 3)],
     [*B_SIZES, {"B": 8}, {"B": 9}]),
    # ---- dynamic_rng_bit_generator: bits shaped by symbolic dims ----------------------------
    ("rbg_key_uniform", lambda x: x + jax.random.uniform(jax.random.key(1, impl="rbg"), x.shape),
     [("B", "T")], BT_SIZES),
    # the 32-bit threefry halves the first even dim (else the largest): it moves with B, T
    ("rng_threefry_symbolic_shape", _bits(lax.RandomAlgorithm.RNG_THREE_FRY), [("B", "T")],
     [*BT_SIZES, {"B": 3, "T": 3}, {"B": 4, "T": 6}]),
    ("rng_threefry_uint8_symbolic_shape", _bits(lax.RandomAlgorithm.RNG_THREE_FRY, jnp.uint8),
     [("B", "T")], BT_SIZES),
    ("rng_philox_symbolic_shape", _bits(lax.RandomAlgorithm.RNG_PHILOX), [("B", "T")],
     BT_SIZES),
    ("rng_default_uint16_symbolic_shape", _bits(lax.RandomAlgorithm.RNG_DEFAULT, jnp.uint16),
     [("B", "T")], BT_SIZES),
]


@pytest.mark.parametrize(
    "fn, specs, sizes",
    [c if isinstance(c, type(pytest.param())) else pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_export_once_run_at_many_sizes(fn, specs, sizes):
    model = export_once_run_at(fn, specs, sizes, rtol=1e-4, atol=1e-4)
    for i, spec in enumerate(specs):
        assert _input_dims(model, i) == list(spec)


def test_graph_input_keeps_dim_name():
    model = to_onnx(lambda x: x + 1.0, [("B", 30)])
    (graph_input,) = model.graph.input
    assert graph_input.type.tensor_type.shape.dim[0].dim_param == "B"
    assert graph_input.type.tensor_type.shape.dim[1].dim_value == 30


def test_graph_outputs_carry_symbolic_dims():
    model = to_onnx(lambda x: (jnp.concatenate([x, x]), x[:, 1:], x.reshape(-1)),
                    [("B", "T")])
    dims = [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
            for o in model.graph.output]
    assert dims == [["2*B", "T"], ["B", "T - 1"], ["B*T"]]


def _cnn():
    from jax2onnx_hlo.examples import CNN

    model = CNN(rngs=nnx.Rngs(0))
    model.eval()
    return model


def test_cnn_with_dynamic_batch_and_flatten():
    """Conv, pooling and a flatten to (B, -1) with B symbolic."""
    model = export_once_run_at(_cnn(), [("B", 28, 28, 1)], B_SIZES, rtol=1e-4, atol=1e-5)
    assert _input_dims(model, 0) == ["B", 28, 28, 1]


@pytest.mark.parametrize(
    "fn, specs, needles",
    [
        (lambda x, y: x + y, [("B", 4), ("C", 4)],
         ["inputs[0]: (B, 4)", "inputs[1]: (C, 4)", "same name"]),
        (lambda x: x.reshape(3, -1, 4), [("B", 4)], ["inputs[0]: (B, 4)", "given as a number"]),
    ],
    ids=["two_dims_must_be_equal", "dim_must_be_a_multiple"],
)
def test_inconsistent_specs_name_the_dims_and_inputs(fn, specs, needles):
    from jax2onnx_hlo import ConversionError

    with pytest.raises(ConversionError) as info:
        to_onnx(fn, specs)
    for needle in needles:
        assert needle in str(info.value)


def test_unrelated_errors_are_not_restated():
    def broken(x):
        raise ValueError("a bug in the user's function")

    with pytest.raises(ValueError, match="a bug in the user's function"):
        to_onnx(broken, [("B", 4)])


def test_runtime_pad_widths_of_symbolic_dims_need_no_cut():
    """Widths traced back to symbolic dims are never negative: Pad only, no Slice."""
    model = to_onnx(lambda x: jnp.pad(x, ((0, 0), (0, x.shape[1]))), [("B", "H")])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Pad") == 1 and "Slice" not in ops and "Max" not in ops, ops


def test_cumulative_along_a_symbolic_axis_is_a_loop_not_a_window():
    model = to_onnx(lambda x: jnp.cumprod(x, axis=1), [("B", "T")])
    ops = {n.op_type for n in model.graph.node}
    assert "Loop" in ops and not ops & {"Conv", "ReduceProd", "MaxPool"}, ops


def test_cnn_flatten_keeps_the_batch_name():
    """The flatten to (B, -1) (dynamic_reshape) names its result dim "B", so that what
    follows can see it equals the input's batch, and the log_softmax's reduce keeps "B"
    too: the dense layers become Gemm and the log_softmax fuses as in the static export,
    with no node more."""
    static = to_onnx(_cnn(), [(4, 28, 28, 1)])
    dynamic = to_onnx(_cnn(), [("B", 28, 28, 1)])
    (flatten,) = [n for n in dynamic.graph.node if n.op_type == "Reshape"]
    dims = {v.name: v.type.tensor_type.shape.dim for v in dynamic.graph.value_info}
    assert [d.dim_param or d.dim_value for d in dims[flatten.output[0]]] == ["B", 1568]
    ops = [n.op_type for n in dynamic.graph.node]
    assert ops.count("Gemm") == 2 and "LogSoftmax" in ops, ops
    assert len(dynamic.graph.node) == len(static.graph.node)


def test_symbolic_batch_costs_no_extra_nodes_for_an_mlp():
    """Result dims named after their operands ("B") let the passes drop the Expands that
    broadcast biases to the runtime shape: the dynamic MLP is as small as the static one."""
    static = to_onnx(_mlp(), [(8, 30)])
    dynamic = to_onnx(_mlp(), [("B", 30)])
    assert len(dynamic.graph.node) == len(static.graph.node)
    assert "Expand" not in {n.op_type for n in dynamic.graph.node}


def test_shape_arithmetic_is_merged_before_the_walk():
    """The CHLO decomposition of an export artifact computes a shape operand for every
    constant it broadcasts (get_dimension_size, reshape, concatenate: ~20 per erfc); the
    loaded module of a dynamic export has each one once."""
    from jax2onnx_hlo._mlir import ir
    from jax2onnx_hlo.module import load_module

    def f(x):
        return jax.nn.gelu(x, approximate=False)

    (batch,) = jax.export.symbolic_shape("B")
    exported = jax.export.export(jax.jit(f))(jax.ShapeDtypeStruct((batch, 4), np.float32))
    loaded = load_module(exported)
    sizes = []
    with loaded.context:
        def note(op):
            if op.name == "stablehlo.get_dimension_size":
                sizes.append((op.operands[0].get_name(), str(op.attributes["dimension"])))
            return ir.WalkResult.ADVANCE
        loaded.module.operation.walk(note)
    assert sizes and len(sizes) == len(set(sizes)), sizes
    export_once_run_at(f, [("B", 4)], B_SIZES)


def test_broadcasts_users_take_as_they_are_keep_naming_their_dims():
    """A constant broadcast to the batch for an add is left aligned (its users broadcast
    it); the users' results still get the batch's name from the broadcast's shape, so the
    Expands of the other constants to that shape are seen to be redundant and dropped
    (jax.random's unsafe_rbg bits come out of a custom call of unnamed shape)."""
    def f(x):
        return x + jax.random.normal(jax.random.key(1, impl="unsafe_rbg"), x.shape)

    model = export_once_run_at(f, [("B", 5)], B_SIZES, rtol=1e-6, atol=1e-6)
    assert [n.op_type for n in model.graph.node].count("Expand") <= 1
