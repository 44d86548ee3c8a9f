"""bf16 and f16 models: the export keeps their dtype, ONNX Runtime's CPU provider lacks
kernels for bf16 (so such a model does not load), and `upcast_to_float32` makes it run
there, computing in float32 inside with Casts at the boundary.

Feeding bf16 to ONNX Runtime from Python: `InferenceSession.run` refuses ml_dtypes'
bfloat16 arrays, so the input goes in as an OrtValue made from the array's uint16 view
with `OrtValue.ortvalue_from_numpy_with_onnx_type(..., TensorProto.BFLOAT16)` and
`run_with_ort_values`; a bf16 output OrtValue has no `.numpy()`, so its buffer is read
back as uint16 (through `data_ptr()`) and viewed as ml_dtypes.bfloat16. float16 goes
through `run` as an ordinary numpy float16 array.
"""

import ctypes

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
import pytest
from flax import nnx
from jax import lax

from jax2onnx_hlo import onnx_function, to_onnx
from jax2onnx_hlo.precision import LOW_PRECISION_TYPES, upcast_to_float32

LOW = {"bfloat16": (jnp.bfloat16, ir.DataType.BFLOAT16, onnx.TensorProto.BFLOAT16),
       "float16": (jnp.float16, ir.DataType.FLOAT16, onnx.TensorProto.FLOAT16)}
RTOL = ATOL = 2e-2  # bf16 has 8 significant bits; f32 inside rounds differently


class MLP(nnx.Module):
    def __init__(self, dtype, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(6, 16, dtype=dtype, param_dtype=dtype, rngs=rngs)
        self.l2 = nnx.Linear(16, 3, dtype=dtype, param_dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.gelu(self.l1(x)))


class CNN(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv = nnx.Conv(3, 4, kernel_size=(3, 3), rngs=rngs)
        self.norm = nnx.LayerNorm(4, rngs=rngs)
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        y = nnx.relu(self.norm(self.conv(x)))
        y = nnx.max_pool(y, (2, 2), strides=(2, 2))
        y = nnx.avg_pool(y, (2, 2), strides=(2, 2))
        return jax.nn.softmax(self.head(y.mean(axis=(1, 2))))


def _mlp(dtype):
    return MLP(dtype, nnx.Rngs(0)), (2, 6)


def _cnn(dtype):
    """A float32 CNN whose parameters are then cast (the jax.tree.map way)."""
    model = CNN(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    nnx.update(model, jax.tree.map(lambda a: a.astype(dtype), state))
    return _Cast(model, dtype), (2, 8, 8, 3)


class _Cast(nnx.Module):
    """Runs the inner model with its compute in `dtype` (nnx.Conv etc. promote to their
    `dtype` attribute, None: the inputs' and params' common type, so bf16 here)."""

    def __init__(self, inner, dtype):
        self.inner, self.dtype = inner, dtype

    def __call__(self, x):
        return self.inner(x.astype(self.dtype))


MODELS = {"mlp": _mlp, "cnn": _cnn}
CASES = [(m, d) for m in MODELS for d in LOW]


def _export(model_name, dtype_name):
    dtype = LOW[dtype_name][0]
    model, shape = MODELS[model_name](dtype)
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    return model, x, to_onnx(model, [jax.ShapeDtypeStruct(shape, dtype)], return_mode="ir")


def _session(model: ir.Model) -> ort.InferenceSession:
    proto = ir.serde.serialize_model(model)
    onnx.checker.check_model(proto, full_check=True)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, *args: np.ndarray) -> list[np.ndarray]:
    """Runs the session on args, bf16 or not, and returns numpy outputs (bf16 ones as
    ml_dtypes.bfloat16)."""
    feed = {}
    for spec, a in zip(session.get_inputs(), args):
        a = np.ascontiguousarray(a)
        feed[spec.name] = (ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
            a.view(np.uint16), onnx.TensorProto.BFLOAT16) if a.dtype == ml_dtypes.bfloat16
            else ort.OrtValue.ortvalue_from_numpy(a))
    results = []
    for out in session.run_with_ort_values(None, feed):
        if out.data_type() != "tensor(bfloat16)":
            results.append(out.numpy())
            continue
        shape = out.shape()
        buffer = (ctypes.c_uint16 * int(np.prod(shape))).from_address(out.data_ptr())
        results.append(np.ctypeslib.as_array(buffer).copy().reshape(shape)
                       .view(ml_dtypes.bfloat16))
    return results


def _low_values(model: ir.Model) -> list[str]:
    """Names of bf16/f16 values inside (all graphs), boundary inputs and outputs aside."""
    boundary = set(model.graph.inputs) | set(model.graph.outputs)
    graphs = [model.graph, *model.graph.subgraphs(), *model.functions.values()]
    found = []
    for g in graphs:
        values = list(g.inputs) + list(getattr(g, "initializers", {}).values())
        values += [v for node in g for v in node.outputs]
        found += [v.name for v in values
                  if v not in boundary and v.dtype in LOW_PRECISION_TYPES]
    return found


@pytest.mark.parametrize("model_name,dtype_name", CASES)
def test_export_keeps_dtype(model_name, dtype_name):
    _, _, model = _export(model_name, dtype_name)
    want = LOW[dtype_name][1]
    assert [v.dtype for v in model.graph.inputs] == [want]
    assert [v.dtype for v in model.graph.outputs] == [want]
    # (flax's LayerNorm computes in float32, so its scale and bias may arrive upcast)
    kernels = [v for v in model.graph.initializers.values() if v.name.endswith("kernel")]
    assert kernels and all(v.dtype == want for v in kernels)


@pytest.mark.parametrize("model_name", MODELS)
def test_bf16_model_has_no_ort_cpu_kernels(model_name):
    """Why the option exists: ONNX Runtime CPU refuses the bf16 model as exported."""
    _, _, model = _export(model_name, "bfloat16")
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        _session(model)


@pytest.mark.parametrize("model_name,dtype_name", CASES)
def test_upcast_runs_in_ort_and_matches_jax(model_name, dtype_name):
    module, x, model = _export(model_name, dtype_name)
    dtype, ir_dtype, _ = LOW[dtype_name]
    model = upcast_to_float32(model)
    assert [v.dtype for v in model.graph.inputs] == [ir_dtype]  # the interface stays
    assert [v.dtype for v in model.graph.outputs] == [ir_dtype]
    assert _low_values(model) == []  # float32 inside
    (got,) = _run(_session(model), x)
    want = np.asarray(module(x))
    assert got.dtype == want.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=RTOL,
                               atol=ATOL)


def test_f16_model_without_pass():
    """float16 is better covered by ONNX Runtime CPU: whether the model as exported runs
    there depends on its ops; where it does, it agrees with the upcast one."""
    module, x, model = _export("mlp", "float16")
    (plain,) = _run(_session(model), x)
    np.testing.assert_allclose(plain.astype(np.float32),
                               np.asarray(module(x)).astype(np.float32), rtol=RTOL, atol=ATOL)


def _check_upcast(fn, args):
    """Exports fn, upcasts it, checks that nothing bf16/f16 is left inside and that it runs
    in ONNX Runtime CPU and agrees with JAX; returns the upcast model."""
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args]
    model = upcast_to_float32(to_onnx(fn, specs, return_mode="ir"))
    assert _low_values(model) == []
    got = _run(_session(model), *args)
    want = jax.tree.leaves(jax.jit(fn)(*args))
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=RTOL,
                                   atol=ATOL)
    return model


def test_internal_casts_to_bf16_retargeted():
    """float32 interface, bf16 inside (a cast in and out, a bf16 constant): no Cast to bf16
    is left and the graph keeps its float32 inputs and outputs."""
    def fn(x):
        h = x.astype(jnp.bfloat16)
        h = jnp.tanh(h * jnp.asarray([1.5, -2.0, 0.25], jnp.bfloat16)) + jnp.bfloat16(1)
        return h.astype(jnp.float32), jnp.zeros((2,), jnp.bfloat16) + h[0, 0]

    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    model = _check_upcast(fn, [x])
    assert [v.dtype for v in model.graph.inputs] == [ir.DataType.FLOAT]
    assert [v.dtype for v in model.graph.outputs] == [ir.DataType.FLOAT, ir.DataType.BFLOAT16]
    casts = [n for n in model.graph.all_nodes() if n.op_type == "Cast"]
    assert [n.attributes["to"].value for n in casts].count(ir.DataType.BFLOAT16) == 1  # output


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_loop_subgraph_upcast(dtype):
    """A fori_loop (an ONNX Loop whose body graph carries bf16/f16) and a cond (If)."""
    def fn(x):
        y = lax.fori_loop(0, 3, lambda i, c: jnp.sin(c) * dtype(1.5) + c, x)
        return lax.cond(y.sum() > 0, lambda v: v * dtype(2), lambda v: v - dtype(1), y)

    x = np.random.default_rng(2).normal(size=(3, 2)).astype(dtype)
    model = _check_upcast(fn, [x])
    assert list(model.graph.subgraphs())  # the subgraphs were there to upcast


def test_onnx_function_body_upcast():
    """bf16 arithmetic inside a model function (an ONNX FunctionProto)."""
    @onnx_function
    def block(x):
        return jax.nn.relu(x * jnp.bfloat16(3)) - x

    x = np.random.default_rng(3).normal(size=(2, 5)).astype(jnp.bfloat16)
    model = _check_upcast(lambda x: block(block(x)), [x])
    assert model.functions


def test_passthrough_input_and_shared_output():
    """An input returned as it is comes back bit for bit; a value returned twice."""
    def fn(x):
        y = x * jnp.bfloat16(2)
        return x, y, y

    x = np.random.default_rng(4).normal(size=(3,)).astype(jnp.bfloat16)
    model = _check_upcast(fn, [x])
    got = _run(_session(model), x)
    np.testing.assert_array_equal(got[0].view(np.uint16), x.view(np.uint16))
    np.testing.assert_array_equal(got[1].view(np.uint16), got[2].view(np.uint16))


def test_float32_model_unchanged():
    model = to_onnx(lambda x: jnp.tanh(x) * 2, [jax.ShapeDtypeStruct((3,), jnp.float32)],
                    return_mode="ir")
    before = ir.serde.serialize_model(model).SerializeToString()
    after = ir.serde.serialize_model(upcast_to_float32(model)).SerializeToString()
    assert before == after


def test_handmade_graph_boundary_and_attributes():
    """A graph the converter would not write: an input that is also an output, one value
    output twice, a bf16 Constant attribute and a ConstantOfShape."""
    from onnx import TensorProto, helper

    bf16 = TensorProto.BFLOAT16
    const = helper.make_tensor("c", bf16, [3], [2.0, 0.5, -1.0])
    nodes = [helper.make_node("Constant", [], ["c"], value=const),
             helper.make_node("Mul", ["x", "c"], ["y"]),
             helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["z"],
                              value=helper.make_tensor("v", bf16, [1], [1.5])),
             helper.make_node("Add", ["y", "z"], ["w"])]
    io = [helper.make_tensor_value_info(n, bf16, [3]) for n in ("x", "w", "w")]
    graph = helper.make_graph(nodes, "g", [io[0]], [io[0], io[1], io[2]])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model = upcast_to_float32(ir.serde.deserialize_model(proto))
    assert model.graph.outputs[0] is model.graph.inputs[0]
    assert model.graph.outputs[1] is model.graph.outputs[2]
    assert _low_values(model) == []
    x = np.array([1.0, -2.0, 3.0], ml_dtypes.bfloat16)
    got = _run(_session(model), x)
    np.testing.assert_array_equal(got[0].view(np.uint16), x.view(np.uint16))
    np.testing.assert_array_equal(got[1].astype(np.float32), [3.5, 0.5, -1.5])


def test_to_onnx_compute_dtype_option():
    """to_onnx(..., compute_dtype="float32") applies the pass; other values are refused."""
    import onnxruntime as ort

    from jax2onnx_hlo import to_onnx

    def f(x):
        return jnp.tanh(x @ jnp.ones((4, 3), jnp.bfloat16))

    spec = jax.ShapeDtypeStruct((2, 4), jnp.bfloat16)
    plain = to_onnx(f, [spec])
    upcast = to_onnx(f, [spec], compute_dtype="float32")
    assert plain.graph.input[0].type.tensor_type.elem_type == upcast.graph.input[0].type \
        .tensor_type.elem_type == onnx.TensorProto.BFLOAT16
    ort.InferenceSession(upcast.SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(ValueError, match="compute_dtype='float16' is not one of"):
        to_onnx(f, [spec], compute_dtype="float16")
