"""Cumulative ops against JAX: cumsum/cumprod/cummax/cummin forward and reverse, dtypes."""

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


@pytest.mark.xfail(strict=True, reason=(
    "cumlogsumexp's window body is logaddexp, not one binary op: reduce_window lowers only "
    "add/mul/max/min bodies (a general body would need the region applied to whole tensors)"))
def test_cumlogsumexp():
    check_against_jax(lambda x: lax.cumlogsumexp(x, axis=1), [X])


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
