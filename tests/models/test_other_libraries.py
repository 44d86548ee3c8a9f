"""Models from Flax linen and Equinox, and plain functions closing over arrays."""

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx_hlo.testing import check_against_jax, random_array


class LinenCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.LayerNorm()(nn.Dense(32)(x))
        return nn.log_softmax(nn.Dense(10)(nn.gelu(x)))


def test_flax_linen_model():
    module = LinenCNN()
    x = random_array((2, 12, 12, 3))
    variables = module.init(jax.random.key(0), x)

    def apply(x):
        return module.apply(variables, x)

    model = check_against_jax(apply, [x], rtol=1e-4, atol=1e-5)
    # linen's variables are closed over: they are lifted to initializers, not inlined.
    sizes = sorted(np.prod(i.dims) for i in model.graph.initializer)
    assert sizes[-1] >= 8 * 3 * 3 * 3


def test_equinox_mlp_is_a_callable_pytree():
    mlp = eqx.nn.MLP(in_size=5, out_size=3, width_size=16, depth=2, key=jax.random.key(0))
    x = random_array((5,))
    model = check_against_jax(mlp, [x], rtol=1e-5)
    assert len(model.graph.initializer) >= 6


def test_equinox_vmapped_over_batch():
    mlp = eqx.nn.MLP(in_size=5, out_size=3, width_size=16, depth=2, key=jax.random.key(1))
    check_against_jax(jax.vmap(mlp), [random_array((7, 5))], rtol=1e-5)


def test_function_closing_over_arrays():
    w = random_array((6, 4), seed=1)
    b = jnp.asarray(random_array((4,), seed=2))

    def f(x):
        return jnp.tanh(x @ w + b)

    model = check_against_jax(f, [random_array((3, 6))])
    # Both arrays are initializers (folding may give the bias a leading 1).
    assert {int(np.prod(i.dims)) for i in model.graph.initializer} >= {24, 4}
