"""Property tests: gather (take, take_along_axis), dynamic_slice, dynamic_update_slice and
scatter over random small shapes, axes and index values (out of range included), each
exported, run in ONNX Runtime and compared with JAX."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

from jax2onnx_hlo.testing import check_against_jax, random_array

SETTINGS = settings(max_examples=25, deadline=None)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**16)


def _indices(draw, n: int, shape: tuple) -> np.ndarray:
    """Indices for an axis of length n, a third or so of them out of range either way."""
    values = draw(st.lists(st.integers(-2 * n - 1, 2 * n), min_size=int(np.prod(shape)),
                           max_size=int(np.prod(shape))))
    return np.array(values, np.int32).reshape(shape)


@st.composite
def takes(draw):
    shape = draw(shapes)
    axis = draw(st.integers(0, len(shape) - 1))
    index_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    mode = draw(st.sampled_from([None, "clip", "fill", "wrap"]))
    return shape, axis, _indices(draw, shape[axis], index_shape), mode


@given(takes(), seeds)
@SETTINGS
def test_take(case, seed):
    shape, axis, idx, mode = case
    # Index semantics are the point here; symbolic batches are covered by the tables.
    check_against_jax(lambda x, i: jnp.take(x, i, axis=axis, mode=mode),
                      [random_array(shape, seed=seed), idx], dynamic_batch=False)


@st.composite
def takes_along(draw):
    shape = draw(shapes)
    axis = draw(st.integers(0, len(shape) - 1))
    index_shape = list(shape)
    index_shape[axis] = draw(st.integers(1, 4))
    mode = draw(st.sampled_from(["clip", "fill"]))
    return shape, axis, _indices(draw, shape[axis], tuple(index_shape)), mode


@given(takes_along(), seeds)
@SETTINGS
def test_take_along_axis(case, seed):
    shape, axis, idx, mode = case
    check_against_jax(lambda x, i: jnp.take_along_axis(x, i, axis=axis, mode=mode),
                      [random_array(shape, seed=seed), idx])


@st.composite
def windows(draw):
    """(operand shape, window shape, starts): window dims at most the operand's."""
    shape = draw(shapes)
    window = tuple(draw(st.integers(1, n)) for n in shape)
    starts = [np.int32(draw(st.integers(-2 * n - 1, 2 * n))) for n in shape]
    return shape, window, starts


@given(windows(), seeds)
@SETTINGS
def test_dynamic_slice(case, seed):
    shape, window, starts = case
    check_against_jax(lambda x, *s: lax.dynamic_slice(x, s, window),
                      [random_array(shape, seed=seed), *starts])


@given(windows(), st.sampled_from([np.float32, np.int32]), seeds)
@SETTINGS
def test_dynamic_update_slice(case, dtype, seed):
    shape, window, starts = case
    check_against_jax(lambda x, u, *s: lax.dynamic_update_slice(x, u, s),
                      [random_array(shape, dtype, seed), random_array(window, dtype, seed + 1),
                       *starts])


@st.composite
def scatters(draw):
    """x.at[idx].op(updates, mode="drop") on the leading axis, rows or elements."""
    shape = draw(shapes)
    index_shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    op = draw(st.sampled_from(["add", "add", "set", "min", "max", "multiply"]))
    return shape, _indices(draw, shape[0], index_shape), op


@given(scatters(), st.sampled_from([np.float32, np.int32]), seeds)
@SETTINGS
def test_scatter(case, dtype, seed):
    shape, idx, op = case
    if op == "set":  # which of several updates to one place wins is left open: keep one
        targets = np.where(idx < 0, idx + shape[0], idx).ravel()
        idx = idx.ravel()[np.unique(targets, return_index=True)[1]]
    updates = random_array(idx.shape + shape[1:], dtype, seed + 1)
    check_against_jax(lambda x, i, u: getattr(x.at[i], op)(u, mode="drop"),
                      [random_array(shape, dtype, seed), idx, updates], rtol=1e-5, atol=1e-5)
