"""stablehlo.dot_general against JAX: matmuls, batch and contracting layouts, einsum, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo.testing import check_against_jax, random_array

f32 = np.float32


def _x(*shape, dtype=f32, seed=0, low=-3.0, high=3.0):
    return random_array(shape, dtype, seed, low, high)


def _dot(lhs_contract, rhs_contract, lhs_batch=(), rhs_batch=(), **kw):
    """lax.dot_general with explicit dimension numbers."""
    numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))
    return lambda a, b: lax.dot_general(a, b, numbers, **kw)


# (id, fn, args, tolerance)
CASES = [
    ("x_at_w", lambda x, w: x @ w, [_x(3, 4), _x(4, 5, seed=1)], 1e-5),
    ("x3d_at_w", lambda x, w: x @ w, [_x(2, 3, 4), _x(4, 5, seed=1)], 1e-5),
    ("x_at_w_t", lambda x, w: x @ w.T, [_x(3, 4), _x(5, 4, seed=1)], 1e-5),
    ("x3d_at_w_t", lambda x, w: x @ w.T, [_x(2, 3, 4), _x(5, 4, seed=1)], 1e-5),
    ("w_t_at_x", lambda w, x: w.T @ x, [_x(4, 3), _x(4, 5, seed=1)], 1e-5),
    ("both_t", lambda a, b: a.T @ b.T, [_x(4, 3), _x(5, 4, seed=1)], 1e-5),
    ("vec_vec", lambda a, b: a @ b, [_x(6), _x(6, seed=1)], 1e-5),
    ("mat_vec", lambda a, b: a @ b, [_x(3, 6), _x(6, seed=1)], 1e-5),
    ("vec_mat", lambda a, b: a @ b, [_x(6), _x(6, 4, seed=1)], 1e-5),
    ("outer", lambda a, b: jnp.outer(a, b), [_x(3), _x(4, seed=1)], 1e-5),
    ("batched", lambda a, b: a @ b, [_x(2, 3, 4), _x(2, 4, 5, seed=1)], 1e-5),
    ("batched_2_dims", lambda a, b: a @ b, [_x(2, 3, 3, 4), _x(2, 3, 4, 5, seed=1)], 1e-5),
    ("batch_lhs1_rhs2", _dot((2,), (0,), (1,), (2,)), [_x(3, 2, 4), _x(4, 5, 2, seed=1)], 1e-5),
    ("batch_last", _dot((0,), (1,), (2,), (0,)), [_x(4, 3, 2), _x(2, 4, 5, seed=1)], 1e-5),
    ("two_contracting", _dot((1, 2), (0, 1)), [_x(3, 4, 5), _x(4, 5, 6, seed=1)], 1e-5),
    ("two_contracting_swapped", _dot((2, 1), (0, 2)), [_x(3, 4, 5), _x(5, 6, 4, seed=1)], 1e-5),
    ("both_transposed_batched", _dot((1,), (2,), (0,), (0,)),
     [_x(2, 4, 3), _x(2, 5, 4, seed=1)], 1e-5),
    ("both_transposed_two_contracting", _dot((1, 2), (2, 3), (0,), (0,)),
     [_x(2, 4, 3, 6), _x(2, 5, 4, 3, seed=1)], 1e-5),
    ("batch_no_contracting", _dot((), (), (0,), (0,)), [_x(2, 3), _x(2, 4, seed=1)], 1e-5),
    ("batch_and_two_free", _dot((2,), (1,), (0,), (0,)), [_x(2, 3, 4), _x(2, 4, 5, 6, seed=1)],
     1e-5),
    ("einsum_bij_bjk", lambda a, b: jnp.einsum("bij,bjk->bik", a, b),
     [_x(2, 3, 4), _x(2, 4, 5, seed=1)], 1e-5),
    ("einsum_ij_kj", lambda a, b: jnp.einsum("ij,kj->ik", a, b),
     [_x(3, 4), _x(5, 4, seed=1)], 1e-5),
    ("einsum_attention", lambda q, k: jnp.einsum("bhqd,bhkd->bhqk", q, k),
     [_x(2, 3, 4, 8), _x(2, 3, 5, 8, seed=1)], 1e-5),
    ("einsum_attention_v", lambda p, v: jnp.einsum("bhqk,bhkd->bqhd", p, v),
     [_x(2, 3, 4, 5), _x(2, 3, 5, 8, seed=1)], 1e-5),
    ("einsum_dot", lambda a, b: jnp.einsum("i,i->", a, b), [_x(7), _x(7, seed=1)], 1e-5),
    ("tensordot", lambda a, b: jnp.tensordot(a, b, axes=([0, 2], [2, 0])),
     [_x(3, 4, 5), _x(5, 6, 3, seed=1)], 1e-5),
    ("int32", lambda a, b: a @ b, [_x(3, 4, dtype=np.int32), _x(4, 5, dtype=np.int32, seed=1)], 0),
    ("int32_batched", lambda a, b: jnp.einsum("bij,bkj->bik", a, b),
     [_x(2, 3, 4, dtype=np.int32), _x(2, 5, 4, dtype=np.int32, seed=1)], 0),
    ("int8_to_int32", _dot((1,), (0,), preferred_element_type=jnp.int32),
     [_x(3, 4, dtype=np.int8, low=-100, high=100), _x(4, 5, dtype=np.int8, low=-100, high=100)],
     0),
    ("float16_to_float32", _dot((1,), (0,), preferred_element_type=jnp.float32),
     [_x(3, 4, dtype=np.float16), _x(4, 5, dtype=np.float16, seed=1)], 1e-5),
    ("float16", lambda a, b: a @ b,
     [_x(3, 4, dtype=np.float16), _x(4, 5, dtype=np.float16, seed=1)], 1e-2),
    ("zero_size_contract", lambda a, b: a @ b, [_x(3, 0), _x(0, 5, seed=1)], 0),
]


@pytest.mark.parametrize("name,fn,args,tol", CASES, ids=[c[0] for c in CASES])
def test_dot_general(name, fn, args, tol):
    check_against_jax(fn, args, rtol=tol, atol=tol)


X64_CASES = [
    ("matmul_f64", lambda a, b: a @ b, [(3, 4), (4, 5)]),
    ("batched_f64", lambda a, b: jnp.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    ("vec_f64", lambda a, b: a @ b, [(6,), (6,)]),
]


@pytest.mark.parametrize("name,fn,shapes", X64_CASES, ids=[c[0] for c in X64_CASES])
def test_dot_general_x64(name, fn, shapes):
    with jax.enable_x64(True):
        args = [_x(*s, dtype=np.float64, seed=i) for i, s in enumerate(shapes)]
        check_against_jax(fn, args, rtol=1e-12, atol=1e-12)
