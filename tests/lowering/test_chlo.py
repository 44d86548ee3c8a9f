"""CHLO ops kept for the walker (lowering/chlo.py) where it lowers every one: real square,
and erfc only where it stands in jax.nn.gelu(approximate=False). Any other CHLO op sends
the whole module through the decomposition a jax.export artifact holds."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, from_stablehlo, to_onnx
from jax2onnx_hlo.testing import check_against_jax, random_array
from jax2onnx_hlo.trace import trace

SQRT_HALF = np.float32(math.sqrt(0.5))


def gelu(x):
    return jax.nn.gelu(x, approximate=False)


# (id, fn, input dtype, whether the walker gets the CHLO ops)
CASES = [
    ("gelu", gelu, np.float32, True),
    ("gelu_in_a_jitted_function", jax.jit(gelu), np.float32, True),
    ("two_gelus", lambda x: gelu(x) * gelu(2 * x), np.float32, True),
    ("gelu_written_out", lambda x: 0.5 * x * lax.erfc(-x * SQRT_HALF), np.float32, True),
    # other operand orders: the fusion's pattern would not take them
    ("half_on_the_right", lambda x: (x * 0.5) * lax.erfc(-x * SQRT_HALF), np.float32, False),
    ("scale_on_the_left", lambda x: 0.5 * x * lax.erfc(SQRT_HALF * -x), np.float32, False),
    ("erfc_on_the_left", lambda x: lax.erfc(-x * SQRT_HALF) * (0.5 * x), np.float32, False),
    ("gelu_and_another_erfc", lambda x: gelu(x) + lax.erfc(x), np.float32, False),
    ("erfc_also_used_alone",
     lambda x: (e := lax.erfc(-x * SQRT_HALF)) * (0.5 * x) + e, np.float32, False),
    ("not_negated", lambda x: 0.5 * x * lax.erfc(x * SQRT_HALF), np.float32, False),
    ("other_scale", lambda x: 0.5 * x * lax.erfc(-x * 0.7), np.float32, False),
    ("not_half_x", lambda x: 0.5 * (x + 1) * lax.erfc(-x * SQRT_HALF), np.float32, False),
    ("float16", gelu, np.float16, False),
    ("gradient_of_gelu", jax.grad(lambda x: gelu(x).sum()), np.float32, False),
    ("erfc_returned_by_a_jitted_function",
     lambda x: jax.jit(lambda y: lax.erfc(-y * SQRT_HALF))(x) * (0.5 * x), np.float32, False),
    ("square", jnp.square, np.float32, True),
    ("square_int", jnp.square, np.int32, False),  # JAX multiplies itself
    ("square_complex", jnp.square, np.complex64, False),
    ("gelu_and_square", lambda x: gelu(x) * jnp.square(x), np.float32, True),
    ("square_and_another_erfc", lambda x: jnp.square(x) + lax.erfc(x), np.float32, False),
]


@pytest.mark.parametrize("fn, dtype, kept", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_chlo_goes_to_the_walker_only_where_it_lowers_all(fn, dtype, kept):
    traced = trace(fn, [jax.ShapeDtypeStruct((3, 5), dtype)], {})
    assert ("chlo." in str(traced.lowered)) == kept
    tolerance = 2e-3 if dtype == np.float16 else 1e-5
    x = (random_array((3, 5), seed=4) * 3).astype(dtype)
    model = check_against_jax(fn, [x], rtol=tolerance, atol=tolerance)
    assert not kept or "Erf" not in {n.op_type for n in model.graph.node}  # fused: Gelu


@pytest.mark.parametrize("opset", [19, 23])  # 1 - Erf written out; fused into Gelu
def test_gelu_numbers_far_into_both_tails(opset):
    x = np.linspace(-12, 12, 241, dtype=np.float32).reshape(1, -1)
    model = check_against_jax(gelu, [x], rtol=1e-6, atol=1e-6, opset=opset)
    assert ("Gelu" in {n.op_type for n in model.graph.node}) == (opset >= 20)


def test_erfc_elsewhere_is_refused_with_what_to_do():
    text = """
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %0 = chlo.erfc %x : tensor<4xf32> -> tensor<4xf32>
      return %0 : tensor<4xf32>
    }"""
    with pytest.raises(ConversionError, match="chlo.erfc x1, first at .*only inside "
                                              "jax.nn.gelu.*jax.export artifact"):
        from_stablehlo(text)


def test_the_walker_graph_of_a_gelu_is_small():
    """What the walker builds for gelu's erfc: 1 - Erf, not erfc's 60-node polynomial."""
    model = to_onnx(gelu, [jnp.zeros((2, 3), jnp.float32)], opset=19)
    assert sorted(n.op_type for n in model.graph.node) == ["Erf", "Mul", "Mul", "Mul", "Neg",
                                                           "Sub"]
