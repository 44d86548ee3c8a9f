"""Cumulative ops against JAX: cumsum/cumprod/cummax/cummin forward and reverse, dtypes;
cumlogsumexp and other elementwise bodies."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, to_onnx
from jax2onnx_hlo.testing import check_against_jax, random_array

X = random_array((4, 7), low=-1.5, high=1.5)
I = random_array((4, 7), np.int32, low=-4, high=4)

CASES = [
    ("cumsum_axis_1", lambda x: jnp.cumsum(x, axis=1), [X], "CumSum"),
    ("cumsum_axis_0", lambda x: jnp.cumsum(x, axis=0), [X], "CumSum"),
    ("cumsum_reverse", lambda x: lax.cumsum(x, axis=1, reverse=True), [X], "CumSum"),
    ("cumsum_flat", jnp.cumsum, [X], "CumSum"),
    ("cumsum_int32", lambda x: jnp.cumsum(x, axis=1), [I], "CumSum"),
    ("cumsum_length_1", lambda x: jnp.cumsum(x, axis=1), [random_array((3, 1))], None),
    ("cumprod", lambda x: jnp.cumprod(x, axis=1), [X], "Mul"),
    ("cumprod_reverse", lambda x: lax.cumprod(x, axis=0, reverse=True), [X], "Mul"),
    ("cumprod_int32", lambda x: jnp.cumprod(x, axis=1), [I], "Mul"),
    ("cummax", lambda x: lax.cummax(x, axis=1), [X], "Max"),
    ("cummax_reverse", lambda x: lax.cummax(x, axis=1, reverse=True), [X], "Max"),
    ("cummin", lambda x: lax.cummin(x, axis=0), [X], "Min"),
    ("cummax_int32", lambda x: lax.cummax(x, axis=0), [I], "Max"),
    ("cumsum_float16", lambda x: jnp.cumsum(x.astype(jnp.float16), axis=1), [X], None),
    # over the (symbolic) batch axis: float16 has no CumSum kernel, the scan is a Loop
    ("cumsum_float16_axis_0", lambda x: jnp.cumsum(x.astype(jnp.float16), axis=0), [X], None),
    ("cumprod_int32_axis_0", lambda x: jnp.cumprod(x, axis=0), [I], "Mul"),
    ("cummax_reverse_axis_0", lambda x: lax.cummax(x, axis=0, reverse=True), [X], "Max"),
    ("cumsum_length_9_axis", lambda x: jnp.cumsum(x, axis=1), [random_array((2, 9))],
     "CumSum"),
]


# cumlogsumexp's window body is logaddexp (max, subtract, log1p, exp, select...): the scan
# applies the body itself to whole tensors. Infinities and NaN exercise its select.
SPECIAL = X.copy()
SPECIAL[0, 2], SPECIAL[1, 0], SPECIAL[2, 3], SPECIAL[3, 5] = -np.inf, np.inf, np.nan, np.inf
SPECIAL[3, :2] = -np.inf
LOGSUMEXP_CASES = [
    ("axis_1", lambda x: lax.cumlogsumexp(x, axis=1), [X]),
    ("reverse", lambda x: lax.cumlogsumexp(x, axis=1, reverse=True), [X]),
    # along the symbolic batch axis: dynamic_reduce_window, the scan in a Loop
    ("axis_0", lambda x: lax.cumlogsumexp(x, axis=0), [X]),
    ("axis_0_reverse", lambda x: lax.cumlogsumexp(x, axis=0, reverse=True), [X]),
    ("infinities_nan", lambda x: lax.cumlogsumexp(x, axis=1), [SPECIAL]),
    ("infinities_nan_axis_0", lambda x: lax.cumlogsumexp(x, axis=0, reverse=True), [SPECIAL]),
    ("length_1", lambda x: lax.cumlogsumexp(x, axis=1), [random_array((3, 1))]),
    ("float64_length_9", lambda x: lax.cumlogsumexp(x, axis=1),
     [random_array((2, 9), np.float64)]),
    # a custom associative function: associative_scan emits slices, pads and the function
    ("associative_scan", lambda x: lax.associative_scan(jnp.logaddexp, x, axis=1), [X]),
    ("associative_scan_affine", lambda x: lax.associative_scan(
        lambda a, b: (a[0] * b[0], a[1] * b[0] + b[1]), (x, x * 0.5), axis=1)[1], [X]),
]


@pytest.mark.parametrize("name,fn,args", LOGSUMEXP_CASES, ids=[c[0] for c in LOGSUMEXP_CASES])
def test_cumlogsumexp(name, fn, args):
    model = check_against_jax(fn, args, rtol=1e-5, atol=1e-6)
    if name != "length_1" and not name.startswith("associative"):  # a scan, not a window
        assert "Conv" not in {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("axis", [0, 1])
def test_window_with_non_identity_init_scans_once(axis):
    """A cumulative window whose init is not the body's identity: init enters each window
    once, first (XLA's fold), after a scan that leaves it out. Axis 0 is also symbolic."""
    def fn(x):
        n = x.shape[axis]
        dims, pads = [1, 1], [(0, 0), (0, 0)]
        dims[axis], pads[axis] = n, (n - 1, 0)
        return lax.reduce_window(x, 2.0, lax.mul, dims, (1, 1), pads)

    check_against_jax(fn, [X])


def test_non_elementwise_window_body_is_refused():
    """A variadic or non-elementwise body cannot be applied to whole tensors."""
    def fn(x):
        return lax.reduce_window(x, 0.0, lambda a, b: a + jnp.sum(jnp.reshape(b, (1,))),
                                 (1, 7), (1, 1), [(0, 0), (6, 0)])

    with pytest.raises(ConversionError, match="reduce_window body"):
        to_onnx(fn, [(4, 7)])


@pytest.mark.parametrize("name,fn,args,op_type", CASES, ids=[c[0] for c in CASES])
def test_cumulative(name, fn, args, op_type):
    tolerance = 2e-3 if "float16" in name else 1e-5
    # Along the symbolic batch axis (cumprod_reverse, cummin, cummax_int32) JAX emits
    # custom_call @stablehlo.dynamic_reduce_window: CumSum, or the log-step scan in a Loop.
    model = check_against_jax(fn, args, rtol=tolerance, atol=tolerance)
    if op_type is not None:  # a scan, not an O(n^2) window
        op_types = {n.op_type for n in model.graph.node}
        assert op_type in op_types and "Conv" not in op_types and "MaxPool" not in op_types


def test_sliding_window_of_another_symbolic_length_is_refused():
    """A sum over a window of S along an axis of T has the cumulative form's padding; it
    must not become a CumSum."""
    def fn(x, y):
        s = y.shape[0]
        return lax.reduce_window(x, 0.0, lax.add, (1, s), (1, 1), [(0, 0), (s - 1, 0)])

    with pytest.raises(ConversionError, match="a window of S along an axis of T"):
        to_onnx(fn, [("B", "T"), ("S",)])
