"""Calls, composites, optimization barriers and constants against JAX, plus the names and
source metadata the walker gives the nodes it builds for them."""

import functools
import inspect
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from jax import lax

from jax2onnx_hlo.api import convert_traced
from jax2onnx_hlo.save import deliver
from jax2onnx_hlo.testing import (
    assert_outputs_close,
    check_against_jax,
    random_array,
    run_onnx,
)
from jax2onnx_hlo.trace import TracedProgram

f32, bf16 = np.float32, jnp.bfloat16
SOURCE_KEY = "jax2onnx_hlo.source"


def _x(shape=(3, 4), dtype=f32, seed=0):
    return random_array(shape, dtype, seed)


@jax.jit
def _inner(x):
    return jnp.sin(x) * 2.0


@jax.jit
def _outer(x):
    return _inner(x) + _inner(x * 0.5)


@jax.jit
def _inner_two_outputs(x, y):
    return x + y, x * y


@functools.partial(lax.composite, name="test.scale")
def _scale(x, /, *, factor):
    return x * factor


@functools.partial(lax.composite, name="test.split_sign")
def _split_sign(x, /):
    return jnp.maximum(x, 0.0), jnp.minimum(x, 0.0)


def _barrier(x, y):
    a, b = lax.optimization_barrier((x * 2.0, y + 1))
    return a - 1.0, b


CALL_CASES = [
    ("inner_jit_called_twice", lambda x: _inner(x) + _inner(x + 1.0), [_x()]),
    ("nested_jits", lambda x: _outer(x) - x, [_x()]),
    ("inner_jit_two_outputs", lambda x, y: _inner_two_outputs(x, y)[::-1], [_x(), _x(seed=1)]),
    ("inner_jit_pytree_args",
     lambda x, y: jax.jit(lambda d: d["a"] * d["b"])({"b": y, "a": x}), [_x(), _x(seed=1)]),
    # jax.named_call now lowers to a name scope, not a func.call: its nodes are named after it.
    ("named_call", lambda x: jax.named_call(lambda t: jnp.cos(t) + t, name="cosplus")(x),
     [_x()]),
    # Two uses with different attributes are two decomposition functions in the module.
    ("composite_with_attribute", lambda x: _scale(x, factor=3.0) + _scale(x, factor=-0.5),
     [_x()]),
    ("composite_two_outputs", lambda x: _split_sign(x), [_x()]),
    ("composite_inside_jit", jax.jit(lambda x: _scale(_inner(x), factor=2.0)), [_x()]),
    ("optimization_barrier", _barrier, [_x(), _x(dtype=np.int32, seed=1)]),
    ("erf_f32", lax.erf, [_x()]),
]


@pytest.mark.parametrize("name,fn,args", CALL_CASES, ids=[c[0] for c in CALL_CASES])
def test_calls(name, fn, args):
    check_against_jax(fn, args, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=str)
def test_erf_composite_is_one_onnx_erf(dtype):
    # chlo.erf arrives as a composite with a ~40-op polynomial decomposition; the rule for
    # the composite's name must win over inlining it.
    model = check_against_jax(lax.erf, [_x(dtype=dtype)], rtol=1e-3, atol=1e-3)
    assert [n.op_type for n in model.graph.node] == ["Erf"]


# ---- pytrees: graph inputs and outputs follow jax.tree_util leaf order ------------------
def _pytree_fn(params, pair):
    scale, shift = pair
    # Keys are written out of sorted order: leaf order is sorted, not insertion order.
    return {"z": params["w"] * scale, "a": (params["b"] + shift, jnp.sum(params["w"]))}


def test_pytree_inputs_and_outputs_in_leaf_order():
    params = {"w": _x((2, 3)), "b": _x((3,), seed=1)}
    pair = (_x((2, 3), seed=2), _x((), seed=3))
    model = check_against_jax(_pytree_fn, [params, pair])
    # Leaves of the result: a[0] (3,), a[1] (), z (2, 3); distinct shapes catch a reorder.
    shapes = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output]
    assert shapes == [[3], [], [2, 3]]
    # Inputs: b, w (sorted dict keys), then the tuple's scale, shift.
    shapes = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert shapes == [[3], [2, 3], [2, 3], []]


# ---- constants --------------------------------------------------------------------------
# to_onnx lifts arrays a function closes over to initializers, so these constants are
# exported by jax.export directly: the module then holds them as stablehlo.constant, as a
# pre-serialized artifact would.
_MLIR_ELEMENT = {np.dtype(f32): "f32", np.dtype(bf16): "bf16", np.dtype(bool): "i1",
                 np.dtype(np.int8): "i8", np.dtype(np.uint32): "ui32",
                 np.dtype(np.float16): "f16"}
CONSTANTS = [
    ("f32_nan_inf", np.array([[1.5, -2.0, 0.0], [np.nan, np.inf, -np.inf]], f32)),
    ("f32_splat", np.full((2, 3), 0.25, f32)),
    ("f32_scalar", np.array(-0.0, f32)),
    ("f32_zero_size", np.zeros((0, 3), f32)),
    # bf16 has no buffer access in the bindings: it is read back from the printed form.
    ("bf16_nan_inf", np.array([1.5, -2.0, np.nan, np.inf, -np.inf, 3.140625, -0.0], bf16)),
    ("bf16_splat", np.full((4,), 0.1, bf16)),
    ("bf16_scalar", np.array(0.3, bf16)),
    ("bool", np.array([True, False, True])),
    ("bool_splat", np.ones((2, 2), bool)),
    ("int8_extremes", np.array([-128, 0, 127, 5], np.int8)),
    ("uint32_extremes", np.array([0, 1, 4294967295, 7], np.uint32)),
    ("f16_nan_inf", np.array([np.nan, 1e-3, 65504, -np.inf], np.float16)),
]


@pytest.mark.parametrize("name,value", [
    pytest.param(name, value, id=name)
    for name, value in CONSTANTS
])
def test_constant(name, value):
    def fn(x):
        # The barrier keeps JAX from folding a 0-d constant into the cast that follows it.
        const = lax.optimization_barrier(jnp.asarray(value))
        # ONNX Runtime's Python API cannot return bfloat16: compare those as float32.
        out = const.astype(f32) if value.dtype == bf16 else const
        return out, x + const.astype(f32).sum()

    x = _x((2,))
    exported = jax.export.export(jax.jit(fn), platforms=["cpu"])(x)
    element = _MLIR_ELEMENT[np.dtype(value.dtype)]
    assert re.search(rf"stablehlo\.constant dense<[^>]*> : tensor<[0-9x]*{element}>",
                     exported.mlir_module()), "the constant did not reach the module"
    model = deliver(convert_traced(TracedProgram(exported, [], 1), ["input_0"], opset=23,
                                   model_name=name, input_names=None, output_names=None),
                    "proto", None)
    onnx.checker.check_model(model, full_check=True)
    expected = jax.tree_util.tree_leaves(jax.jit(fn)(x))
    assert_outputs_close(expected, run_onnx(model, [x]), rtol=0, atol=0)


SCALAR_CONSTANTS = [  # Python scalars stay in the program as splat stablehlo.constants
    ("int8", lambda x: x * np.int8(3) - 2, np.int8),
    ("uint32", lambda x: x + np.uint32(4000000000), np.uint32),
    ("bool", lambda x: x ^ True, np.bool_),
    ("f32_inf", lambda x: jnp.minimum(x, jnp.inf) + jnp.where(x > 0, -jnp.inf, 1.0), f32),
    ("f32_nan", lambda x: x + jnp.nan, f32),
]


@pytest.mark.parametrize("name,fn,dtype", SCALAR_CONSTANTS, ids=[c[0] for c in SCALAR_CONSTANTS])
def test_scalar_constant(name, fn, dtype):
    check_against_jax(fn, [_x(dtype=dtype)], rtol=0, atol=0)


# ---- names and source metadata ----------------------------------------------------------
def _encoder(x):
    with jax.named_scope("encoder"):
        h = jnp.tanh(x)
    return h * 2.0


def _source(node: onnx.NodeProto) -> str | None:
    return {p.key: p.value for p in node.metadata_props}.get(SOURCE_KEY)


def test_node_names_carry_the_jax_scope():
    model = check_against_jax(_encoder, [_x()])
    tanh = [n for n in model.graph.node if n.op_type == "Tanh"]
    assert len(tanh) == 1 and tanh[0].name.startswith("encoder/"), tanh


def test_named_call_names_nodes():
    model = check_against_jax(jax.named_call(jnp.cos, name="cosine"), [_x()])
    assert any(n.name.startswith("cosine/") for n in model.graph.node)


def test_source_metadata_points_at_this_file():
    model = check_against_jax(_encoder, [_x()])
    lines, first = inspect.getsourcelines(_encoder)
    tanh_line = first + next(i for i, text in enumerate(lines) if "jnp.tanh" in text)
    sources = [_source(n) for n in model.graph.node if _source(n)]
    assert sources, "no node carries source metadata"
    for source in sources:
        path, _, _ = source.rpartition(":")
        assert os.path.realpath(path) == os.path.realpath(__file__), source
    tanh = next(n for n in model.graph.node if n.op_type == "Tanh")
    path, _, line = _source(tanh).rpartition(":")
    assert int(line) == tanh_line


def test_source_metadata_of_inlined_call_points_at_its_body():
    model = check_against_jax(lambda x: _inner(x) + 1.0, [_x()])
    lines, first = inspect.getsourcelines(_inner)
    sin_line = first + next(i for i, text in enumerate(lines) if "jnp.sin" in text)
    sin = next(n for n in model.graph.node if n.op_type == "Sin")
    assert _source(sin).endswith(f"{os.path.basename(__file__)}:{sin_line}")


def test_inlined_call_nodes_keep_the_callers_scope():
    def fn(x):
        with jax.named_scope("encoder"):
            return _inner(x)
    model = check_against_jax(fn, [_x()])
    sin = next(n for n in model.graph.node if n.op_type == "Sin")
    assert sin.name.startswith("encoder/"), sin.name
