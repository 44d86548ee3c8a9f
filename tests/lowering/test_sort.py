"""Sorting against JAX: sort, argsort, top_k, multi-operand lax.sort, NaN and -0.0, ties."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, to_onnx
from jax2onnx_hlo.testing import check_against_jax, random_array

SPECIAL = np.array([[3, -0.0, np.nan, 1, 0.0, -np.inf, np.inf, 1, np.nan, -2],
                    [0.0, -0.0, 0.0, -0.0, 5, 5, -5, np.inf, np.inf, np.nan]], np.float32)
TIES = random_array((6, 4), np.int32, low=0, high=2)
F = random_array((4, 9))

CASES = [
    ("sort_last_axis", jnp.sort, [F]),
    ("sort_axis_0", lambda x: jnp.sort(x, axis=0), [F]),
    ("sort_descending", lambda x: jnp.sort(x, descending=True), [F]),
    ("sort_special_values", jnp.sort, [SPECIAL]),
    ("sort_special_descending", lambda x: jnp.sort(x, descending=True), [SPECIAL]),
    ("argsort_special_values", jnp.argsort, [SPECIAL]),
    ("argsort_special_descending", lambda x: jnp.argsort(x, descending=True), [SPECIAL]),
    ("argsort_ties_are_stable", lambda x: jnp.argsort(x, axis=0), [TIES]),
    ("argsort_ties_descending", lambda x: jnp.argsort(x, axis=0, descending=True), [TIES]),
    ("sort_int32", jnp.sort, [random_array((3, 8), np.int32, low=-50, high=50)]),
    ("sort_uint8", jnp.sort, [random_array((3, 8), np.uint8, low=0, high=200)]),
    ("sort_bool", jnp.sort, [random_array((3, 8), np.bool_)]),
    ("sort_float16", jnp.sort, [random_array((3, 8), np.float16)]),
    ("sort_1d", jnp.sort, [random_array((11,))]),
    ("sort_3d_middle_axis", lambda x: jnp.sort(x, axis=1), [random_array((2, 5, 3))]),
    ("top_k", lambda x: lax.top_k(x, 3), [F]),
    ("top_k_special", lambda x: lax.top_k(x, 4), [SPECIAL]),
    ("top_k_ties", lambda x: lax.top_k(x, 2), [TIES.T.copy()]),
    ("sort_two_operands_by_first", lambda k, v: lax.sort((k, v), num_keys=1),
     [TIES.astype(np.float32), random_array((6, 4), seed=3)]),
    ("sort_three_operands", lambda k, a, b: lax.sort((k, a, b), dimension=0, num_keys=1),
     [F, random_array((4, 9), np.int32, seed=4), random_array((4, 9), seed=5)]),
    ("median", lambda x: jnp.median(x, axis=1), [F]),
    ("unique_sorted_gap", lambda x: jnp.diff(jnp.sort(x)), [F]),
]


@pytest.mark.parametrize("name,fn,args", CASES, ids=[c[0] for c in CASES])
def test_sort(name, fn, args):
    check_against_jax(fn, args)


def test_sort_with_two_keys_is_refused_clearly():
    with pytest.raises(ConversionError, match="sort comparator not supported"):
        to_onnx(lambda a, b: lax.sort((a, b), num_keys=2), [(5,), (5,)])
