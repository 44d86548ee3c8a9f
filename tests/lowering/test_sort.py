"""Sorting against JAX: sort, argsort, top_k, multi-operand lax.sort, NaN and -0.0, ties."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, from_stablehlo
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


SIGNED_ZEROS = np.array([0.0, -0.0, 1, np.nan, -0.0, 0.0, 1, np.nan], np.float32)
SEVERAL_KEYS = [
    ("two_keys", lambda a, b: lax.sort((a, b), num_keys=2), [SIGNED_ZEROS, SIGNED_ZEROS[::-1]]),
    ("two_keys_three_operands", lambda a, b: lax.sort((a, b, b * 2), num_keys=2),
     [TIES[:, 0].astype(np.float32), random_array((6,), seed=1)]),
    ("three_keys_int", lambda a, b, c: lax.sort((a, b, c), num_keys=3),
     [TIES[:, 0], TIES[:, 1], TIES[:, 2]]),
    ("lexsort", lambda a, b: jnp.lexsort((b, a)), [SIGNED_ZEROS, SIGNED_ZEROS * 2]),
    ("lexsort_2d_axis_0", lambda a, b: jnp.lexsort((a, b), axis=0), [TIES, TIES[::-1].copy()]),
]


@pytest.mark.parametrize("name,fn,args", SEVERAL_KEYS, ids=[c[0] for c in SEVERAL_KEYS])
def test_sort_with_several_keys(name, fn, args):
    """Lexicographic comparators (num_keys > 1): one stable pass per key, last key first."""
    check_against_jax(fn, args, dynamic_batch=False)


SUM_COMPARATOR = """
func.func public @main(%arg0: tensor<5xf32>) -> tensor<5xf32> {
  %0 = "stablehlo.sort"(%arg0) <{dimension = 0 : i64, is_stable = true}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    %z = stablehlo.constant dense<0.0> : tensor<f32>
    %c = stablehlo.compare LT, %s, %z : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  }) : (tensor<5xf32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}"""


def test_sort_with_another_comparator_is_refused_clearly():
    with pytest.raises(ConversionError, match="sort comparator not supported"):
        from_stablehlo(SUM_COMPARATOR)
