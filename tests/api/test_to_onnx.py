"""The to_onnx contract: input kinds, return modes, names, pytrees, and clear errors."""

import gc
import threading

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnx_ir as ir
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, from_stablehlo, to_onnx
from jax2onnx_hlo.testing import check_against_jax, random_array, run_onnx


def affine(x):
    return 2.0 * x + 1.0


@pytest.mark.parametrize(
    "spec",
    [(3, 4), jax.ShapeDtypeStruct((3, 4), jnp.float32), np.zeros((3, 4), np.float32),
     jnp.zeros((3, 4))],
    ids=["shape_tuple", "shape_dtype_struct", "numpy_array", "jax_array"],
)
def test_input_spec_kinds(spec):
    model = to_onnx(affine, [spec])
    (graph_input,) = model.graph.input
    assert [d.dim_value for d in graph_input.type.tensor_type.shape.dim] == [3, 4]
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_integer_spec_keeps_dtype():
    model = to_onnx(lambda x: x * 2, [jax.ShapeDtypeStruct((5,), jnp.int32)])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32


def test_return_modes(tmp_path):
    assert isinstance(to_onnx(affine, [(2,)]), onnx.ModelProto)
    assert isinstance(to_onnx(affine, [(2,)], return_mode="ir"), ir.Model)
    path = tmp_path / "sub" / "affine.onnx"
    assert to_onnx(affine, [(2,)], return_mode="file", output_path=path) == str(path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert [p.name for p in path.parent.iterdir()] == ["affine.onnx"]  # no temp file left


def test_model_name_and_producer():
    model = to_onnx(affine, [(2,)], model_name="my_model")
    assert model.graph.name == "my_model"
    assert model.producer_name == "jax2onnx_hlo" and model.producer_version


def test_input_and_output_names():
    model = to_onnx(lambda a, b: (a + b, a - b), [(2,), (2,)],
                    input_names=["left", "right"], output_names=["sum", "difference"])
    assert [i.name for i in model.graph.input] == ["left", "right"]
    assert [o.name for o in model.graph.output] == ["sum", "difference"]


def test_pytree_inputs_and_outputs_flatten_in_tree_order():
    def f(params, x):
        return {"b": x * params["scale"], "a": x + params["shift"]}

    args = [{"shift": random_array((3,), seed=1), "scale": random_array((3,), seed=2)},
            random_array((3,), seed=3)]
    model = check_against_jax(f, args)
    # Inputs: dict leaves in key order (scale, shift), then x; outputs: keys a, b.
    assert len(model.graph.input) == 3 and len(model.graph.output) == 2


def test_output_that_is_an_input_gets_its_own_node():
    model = check_against_jax(lambda x, y: (x, y * 2, x), [random_array((2,)), random_array((2,))])
    assert len({o.name for o in model.graph.output}) == 3


@pytest.mark.parametrize("opset", [18, 21, 23])
def test_supported_opsets(opset):
    model = check_against_jax(jnp.tanh, [random_array((2, 3))], opset=opset)
    assert {o.domain: o.version for o in model.opset_import}[""] == opset


# ---- bad input: each error says what was wrong and what to do ----------------------------


def test_unsupported_op_lists_every_op_with_count_and_location():
    def f(x):
        w1, _ = jnp.linalg.eigh(x @ x.T)
        w2, _ = jnp.linalg.eigh(x.T @ x)
        return w1 + w2, jnp.linalg.cholesky(x @ x.T + 3 * jnp.eye(3))

    with pytest.raises(ConversionError) as info:
        to_onnx(f, [(3, 3)])
    message = str(info.value)
    assert message.startswith("2 StableHLO op(s) in this program have no ONNX lowering")
    assert "lapack_ssyevd_ffi x" in message and "lapack_spotrf_ffi x1" in message
    assert "test_to_onnx.py:" in message  # the user's source line, not the converter's
    assert "eigh; ONNX has no linear-algebra ops" in message  # why, and what to do


@pytest.mark.parametrize(
    "inputs,needle",
    [([{1, 2}], "inputs[0] is a set"),
     (["not a shape"], "inputs[0] is a str"),
     ([(3, 4.5)], "inputs[0] is a tuple")],
)
def test_wrong_kind_of_input_spec(inputs, needle):
    with pytest.raises(TypeError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        to_onnx(affine, inputs)


def test_inputs_must_be_a_list():
    with pytest.raises(TypeError, match="inputs must be a list"):
        to_onnx(affine, "x")


def test_file_mode_needs_output_path():
    with pytest.raises(ValueError, match='return_mode="file" needs output_path'):
        to_onnx(affine, [(2,)], return_mode="file")


def test_unknown_return_mode():
    with pytest.raises(ValueError, match="return_mode='bytes' is not one of 'proto', 'ir'"):
        to_onnx(affine, [(2,)], return_mode="bytes")


def test_output_path_that_is_a_directory(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        to_onnx(affine, [(2,)], return_mode="file", output_path=tmp_path)


def test_unsupported_opset():
    with pytest.raises(ValueError, match="opset=12 is not supported; choose one of 18..23"):
        to_onnx(affine, [(2,)], opset=12)


def test_wrong_number_of_names():
    with pytest.raises(ValueError, match="2 input names given for 1 inputs"):
        to_onnx(affine, [(2,)], input_names=["a", "b"])
    with pytest.raises(ValueError, match="2 output names given for 1 outputs"):
        to_onnx(affine, [(2,)], output_names=["a", "b"])


def test_failed_export_leaves_no_file(tmp_path):
    path = tmp_path / "model.onnx"
    with pytest.raises(ConversionError):
        to_onnx(lambda x: jnp.linalg.eigh(x)[0], [(3, 3)], return_mode="file", output_path=path)
    assert list(tmp_path.iterdir()) == []


def test_run_onnx_helper_checks_input_count():
    model = to_onnx(affine, [(2,)])
    with pytest.raises(AssertionError, match="model has 1 inputs"):
        run_onnx(model, [np.zeros(2, np.float32), np.zeros(2, np.float32)])


# ---- parameters of the jax2onnx contract --------------------------------------------------


def test_enable_double_precision_exports_float64_and_restores_the_setting():
    before = jax.config.jax_enable_x64
    x = np.linspace(-1, 1, 6).reshape(2, 3)  # float64
    model = to_onnx(lambda a: jnp.sin(a) * 2, [jax.ShapeDtypeStruct((2, 3), np.float64)],
                    enable_double_precision=True)
    assert jax.config.jax_enable_x64 == before
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    (got,) = run_onnx(model, [x])
    np.testing.assert_allclose(got, np.sin(x) * 2, rtol=1e-14)


def test_without_double_precision_float64_specs_become_float32():
    model = to_onnx(jnp.sin, [jax.ShapeDtypeStruct((2,), np.float64)])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_record_primitive_calls_file(tmp_path):
    record = tmp_path / "calls.tsv"

    def f(x, w):
        return jnp.tanh(x @ w)

    to_onnx(f, [(2, 3), (3, 4)], record_primitive_calls_file=record)
    lines = [line.split("\t") for line in record.read_text().splitlines()]
    assert [line[0] for line in lines] == ["stablehlo.dot_general", "stablehlo.tanh"]
    op, operands, results, where, scope = lines[0]
    assert operands == "(tensor<2x3xf32>, tensor<3x4xf32>)" and results == "(tensor<2x4xf32>)"
    assert where.startswith(__file__) and scope.endswith("dot_general")


def test_unknown_export_mode():
    with pytest.raises(ValueError, match="export_mode='fast' is not one of"):
        to_onnx(affine, [(2,)], export_mode="fast")


def test_input_params_stay_model_inputs_and_keep_both_branches():
    """A runtime flag given in input_params is a graph input named by its key; the
    branches it selects both stay in the graph, and the model follows the flag at run time."""

    def f(x, *, deterministic, scale):
        noisy = lax.cond(deterministic, lambda v: v, lambda v: v * 0.5 + 1.0, x)
        return jnp.where(deterministic, noisy, -noisy) * scale

    x = random_array((2, 3))
    model = to_onnx(f, [x], input_params={"deterministic": True, "scale": 2.0})
    assert [i.name for i in model.graph.input] == ["input_0", "deterministic", "scale"]
    assert model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.BOOL
    for flag in (True, False):
        params = {"deterministic": np.bool_(flag), "scale": np.float32(2.0)}
        (got,) = run_onnx(model, [x], params)
        np.testing.assert_allclose(got, jax.jit(f)(x, **params), rtol=1e-6)


def test_the_cyclic_gc_is_paused_while_converting_and_left_as_it_was():
    during = []

    def noting(x):  # runs while to_onnx traces it
        during.append(gc.isenabled())
        return x + 1

    def failing(x):
        during.append(gc.isenabled())
        raise ValueError("not this one")

    to_onnx(noting, [(2,)])
    assert during == [False] and gc.isenabled()
    with pytest.raises(ValueError, match="not this one"):
        to_onnx(failing, [(2,)])
    assert during == [False, False] and gc.isenabled()
    gc.disable()  # the caller's choice stands
    try:
        to_onnx(noting, [(3,)])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_cyclic_gc_stays_paused_until_the_last_of_concurrent_conversions_ends():
    first_inside, second_done = threading.Event(), threading.Event()
    during = []

    def waiting(x):  # traced in a thread: holds its conversion open
        first_inside.set()
        second_done.wait(timeout=60)
        during.append(gc.isenabled())
        return x + 1

    thread = threading.Thread(target=to_onnx, args=(waiting, [(2,)]))
    thread.start()
    first_inside.wait(timeout=60)
    from_stablehlo("func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                   "  return %x : tensor<2xf32>\n}")
    assert not gc.isenabled()  # the first conversion still runs
    second_done.set()
    thread.join(timeout=60)
    assert during == [False] and gc.isenabled()
