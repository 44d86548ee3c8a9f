"""Random numbers inside a model against JAX: jax.random with a fixed key and with the key
as a model input (threefry: uint32 arithmetic, shifts, bitcast_convert to floats), and
lax.rng_bit_generator per algorithm, bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from jax import lax

from jax2onnx_hlo import to_onnx
from jax2onnx_hlo.testing import assert_outputs_close, check_against_jax, random_array, run_onnx

KEY_DATA = np.array([0, 42], np.uint32)
LOGITS = random_array((6, 10), seed=1)
X = random_array((4, 5), seed=2)


def key(data):
    return jax.random.wrap_key_data(data)


# Integer and bool outputs must match exactly; floats to a few ulps (log, sin, erf_inv).
RANDOM_CASES = [
    ("uniform_fixed_key", lambda x: x + jax.random.uniform(jax.random.key(0), x.shape), [X]),
    ("normal_fixed_key", lambda x: x * jax.random.normal(jax.random.key(3), x.shape), [X]),
    ("legacy_prngkey_from_seed", lambda s: jax.random.uniform(jax.random.PRNGKey(s), (7,)),
     [np.int32(5)]),
    ("uniform_key_input", lambda k: jax.random.uniform(key(k), (5, 7), minval=-2, maxval=3),
     [KEY_DATA]),
    ("normal_key_input", lambda k: jax.random.normal(key(k), (5, 7)), [KEY_DATA]),
    ("normal_odd_size", lambda k: jax.random.normal(key(k), (3, 5)), [KEY_DATA]),
    ("bernoulli", lambda k: jax.random.bernoulli(key(k), 0.3, (4, 5)), [KEY_DATA]),
    ("randint", lambda k: jax.random.randint(key(k), (4, 5), -10, 100), [KEY_DATA]),
    ("categorical", lambda k, logits: jax.random.categorical(key(k), logits), [KEY_DATA, LOGITS]),
    ("split", lambda k: jax.random.uniform(jax.random.split(key(k))[1], (3,)), [KEY_DATA]),
    ("fold_in", lambda k: jax.random.normal(jax.random.fold_in(key(k), 3), (3,)), [KEY_DATA]),
    ("dropout", lambda k, x: jnp.where(jax.random.bernoulli(key(k), 0.5, x.shape), x / 0.5, 0),
     [KEY_DATA, X]),
    ("permutation", lambda k: jax.random.permutation(key(k), 10), [KEY_DATA]),
    ("gumbel", lambda k: jax.random.gumbel(key(k), (3, 4)), [KEY_DATA]),
    ("truncated_normal", lambda k: jax.random.truncated_normal(key(k), -1.0, 1.0, (8,)),
     [KEY_DATA]),
    ("rbg_key", lambda x: x + jax.random.uniform(jax.random.key(1, impl="rbg"), x.shape), [X]),
    ("unsafe_rbg_key", lambda x: x + jax.random.normal(jax.random.key(1, impl="unsafe_rbg"),
                                                       x.shape), [X]),
]


@pytest.mark.parametrize("name,fn,args", RANDOM_CASES, ids=[c[0] for c in RANDOM_CASES])
def test_jax_random(name, fn, args):
    # rbg keys with a shape taken from the symbolic batch: dynamic_rng_bit_generator.
    check_against_jax(fn, args, rtol=1e-6, atol=1e-6)


def test_random_key_input_changes_the_numbers():
    """The key is a real input: another key gives JAX's other numbers, not a baked copy."""
    fn = lambda k: jax.random.normal(key(k), (6,))  # noqa: E731
    check_against_jax(fn, [KEY_DATA], specs=[KEY_DATA])
    check_against_jax(fn, [np.array([7, 9], np.uint32)], specs=[KEY_DATA])


STATE = np.array([0x12345678, 0x9ABCDEF0, 42, 7], np.uint32)
ALGORITHMS = [lax.RandomAlgorithm.RNG_THREE_FRY, lax.RandomAlgorithm.RNG_PHILOX,
              lax.RandomAlgorithm.RNG_DEFAULT]
SHAPES = [
    ("vector", (3,), jnp.uint32),
    ("scalar", (), jnp.uint32),
    ("odd_by_odd", (5, 3), jnp.uint32),
    ("even", (4, 6), jnp.uint32),
    ("rank3", (2, 3, 5), jnp.uint32),
    ("ones", (1, 1), jnp.uint32),
    ("uint8", (3, 2), jnp.uint8),
    ("uint16", (7,), jnp.uint16),
]
RBG_CASES = [(f"{alg.name}_{name}", alg, shape, dtype)
             for alg in ALGORITHMS for name, shape, dtype in SHAPES]


@pytest.mark.parametrize("name,algorithm,shape,dtype", RBG_CASES, ids=[c[0] for c in RBG_CASES])
def test_rng_bit_generator(name, algorithm, shape, dtype):
    check_against_jax(lambda s: lax.rng_bit_generator(s, shape, dtype, algorithm), [STATE])


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=[a.name for a in ALGORITHMS])
def test_rng_bit_generator_uint64(algorithm):
    with jax.enable_x64(True):
        check_against_jax(lambda s: lax.rng_bit_generator(s, (3, 5), jnp.uint64, algorithm),
                          [STATE])


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=[a.name for a in ALGORITHMS])
def test_rng_bit_generator_state_threads_through_calls(algorithm):
    def twice(state):
        state, first = lax.rng_bit_generator(state, (5,), algorithm=algorithm)
        state, second = lax.rng_bit_generator(state, (2, 3), algorithm=algorithm)
        return state, first, second

    check_against_jax(twice, [STATE])


# Bits shaped like an input with symbolic dims: dynamic_rng_bit_generator. The 32-bit
# threefry halves the first even dim (else the largest), which changes with the sizes.
SYMBOLIC_SIZES = [(1, 1), (3, 5), (7, 2), (2, 9), (4, 6), (5, 1)]


@pytest.mark.parametrize("dtype", [jnp.uint32, jnp.uint8, jnp.uint64], ids=str)
@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=[a.name for a in ALGORITHMS])
def test_rng_bit_generator_symbolic_shape(algorithm, dtype):
    def fn(state, x):
        return lax.rng_bit_generator(state, x.shape, dtype, algorithm)

    with jax.enable_x64(dtype == jnp.uint64):
        b, t = jax.export.symbolic_shape("B, T")
        model = to_onnx(fn, [jax.ShapeDtypeStruct((4,), jnp.uint32),
                             jax.ShapeDtypeStruct((b, t), jnp.float32)])
        onnx.checker.check_model(model, full_check=True)
        for shape in SYMBOLIC_SIZES:
            x = np.zeros(shape, np.float32)
            expected = jax.tree_util.tree_leaves(jax.jit(fn)(STATE, x))
            assert_outputs_close(expected, run_onnx(model, [STATE, x]), rtol=0, atol=0)
