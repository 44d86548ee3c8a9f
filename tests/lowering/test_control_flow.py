"""Control flow against JAX: while (fori_loop, while_loop) -> Loop, case (cond, switch) -> If."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx_hlo.testing import check_against_jax, random_array

X = random_array((3, 4))
W = random_array((4, 4), seed=5) * 0.3


def _collatz_steps(n):
    def step(state):
        value, count = state
        value = jnp.where(value % 2 == 0, value // 2, 3 * value + 1)
        return value, count + 1

    return lax.while_loop(lambda s: s[0] != 1, step, (n, jnp.int32(0)))[1]


def _nested_loops(x):
    def outer(i, acc):
        return lax.fori_loop(0, 3, lambda j, a: a + (i * j) * 0.1, acc) * 0.9
    return lax.fori_loop(0, 4, outer, x)


def _loop_with_cond(x):
    def body(i, acc):
        return lax.cond(i % 2 == 0, lambda a: a * 1.5, lambda a: a - 1.0, acc)
    return lax.fori_loop(0, 5, body, x)


def _cond_with_loop(x):
    return lax.cond(x.mean() > 0, lambda v: lax.fori_loop(0, 3, lambda i, a: jnp.tanh(a @ W), v),
                    lambda v: -v, x)


LOOPS = [
    ("fori_static", lambda x: lax.fori_loop(0, 5, lambda i, c: c * 1.1 + i, x), [X]),
    ("fori_zero_trips", lambda x: lax.fori_loop(0, 0, lambda i, c: c + 1.0, x), [X]),
    ("fori_dynamic_trips", lambda x, n: lax.fori_loop(0, n, lambda i, c: c + jnp.sin(c), x),
     [X, np.int32(4)]),
    ("while_data_dependent", lambda x: lax.while_loop(lambda c: c.sum() < 100.0,
                                                      lambda c: c * 2.0 + 1.0, jnp.abs(x)), [X]),
    ("while_tuple_mixed_dtypes", _collatz_steps, [np.int32(27)]),
    ("while_captures_outer_weights", lambda x: lax.fori_loop(0, 3, lambda i, a: jnp.tanh(a @ W),
                                                             x), [X]),
    ("nested_loops", _nested_loops, [X]),
    ("loop_with_cond_inside", _loop_with_cond, [X]),
    ("cond_with_loop_inside", _cond_with_loop, [X]),
    ("scan_carry_and_stack", lambda x: lax.scan(lambda c, r: (c + r, c * r), jnp.zeros(4), x),
     [X]),
    ("scan_reverse", lambda x: lax.scan(lambda c, r: (c * 0.5 + r, None), jnp.zeros(4), x,
                                        reverse=True)[0], [X]),
    ("scan_rnn_cell", lambda x: lax.scan(lambda h, r: (jnp.tanh(h @ W + r),) * 2,
                                         jnp.zeros(4), x), [X]),
    ("map", lambda x: lax.map(jnp.sin, x), [X]),
    ("fori_carry_pytree", lambda x: lax.fori_loop(
        0, 4, lambda i, c: {"a": c["a"] + c["b"], "b": c["b"] * 0.5}, {"a": x, "b": x + 1.0}),
     [X]),
]


@pytest.mark.parametrize("name,fn,args", LOOPS, ids=[c[0] for c in LOOPS])
def test_loops(name, fn, args):
    model = check_against_jax(fn, args, rtol=1e-5, atol=1e-5)
    if name != "fori_zero_trips":
        assert "Loop" in _op_types(model.graph)


def _op_types(graph) -> set[str]:
    """Op types of a graph and of every subgraph nested in its nodes."""
    types = set()
    for node in graph.node:
        types.add(node.op_type)
        for attr in node.attribute:
            if attr.HasField("g"):
                types |= _op_types(attr.g)
    return types


BRANCHES = [lambda v: v * 2.0, lambda v: v - 1.0, jnp.sin, lambda v: jnp.exp(-v * v)]


def _switch(n):
    return lambda x, i: lax.switch(i, BRANCHES[:n], x)


CASES = [
    ("cond_true", lambda x: lax.cond(True, lambda v: v * 2, lambda v: v - 1, x), [X]),
    ("cond_on_data", lambda x: lax.cond(x.sum() > 0, lambda v: v * 2, lambda v: v - 1, x), [X]),
    ("cond_on_data_other_side", lambda x: lax.cond(x.sum() > 0, lambda v: v * 2,
                                                   lambda v: v - 1, x), [-np.abs(X)]),
    ("cond_bool_input", lambda x, p: lax.cond(p, jnp.cos, jnp.sin, x), [X, np.bool_(False)]),
    ("cond_pytree_outputs", lambda x: lax.cond(x[0, 0] > 0, lambda v: (v, v.sum()),
                                               lambda v: (-v, v.max()), x), [X]),
    ("cond_captures_outer", lambda x, y: lax.cond(x[0, 0] > 0, lambda: x + y, lambda: x - y),
     [X, random_array((3, 4), seed=2)]),
    ("switch_2_index_1", _switch(2), [X, np.int32(1)]),
    ("switch_3_index_0", _switch(3), [X, np.int32(0)]),
    ("switch_3_index_2", _switch(3), [X, np.int32(2)]),
    ("switch_4_index_3", _switch(4), [X, np.int32(3)]),
    # lax.switch clamps the index itself; the case op's own rule (out of range -> last
    # branch) is exercised by the large and negative indices too.
    ("switch_3_index_large", _switch(3), [X, np.int32(17)]),
    ("switch_3_index_negative", _switch(3), [X, np.int32(-4)]),
    ("where_in_branch", lambda x: lax.cond(x.min() < 0, lambda v: jnp.where(v > 0, v, 0.0),
                                           lambda v: v, x), [X]),
]


@pytest.mark.parametrize("name,fn,args", CASES, ids=[c[0] for c in CASES])
def test_case(name, fn, args):
    check_against_jax(fn, args, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("index", [-1, 0, 1, 2, 3, 10])
def test_switch_every_index_with_one_model(index):
    """One export, run at each index: the If chain picks what XLA picks."""
    from jax2onnx_hlo import to_onnx
    from jax2onnx_hlo.testing import assert_outputs_close, run_onnx

    fn = _switch(4)
    model = to_onnx(fn, [X, np.int32(0)])
    got = run_onnx(model, [X, np.int32(index)])
    assert_outputs_close([jax.jit(fn)(X, np.int32(index))], got, rtol=1e-6, atol=1e-6)
