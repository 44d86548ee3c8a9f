"""Converting saved StableHLO: `to_onnx(exported)` and `from_stablehlo` on artifacts, MLIR
text, bytecode and portable artifacts; multi-platform exports, tokens and clear errors."""

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx
from jax import export, lax

from jax2onnx_hlo import ConversionError, from_stablehlo, to_onnx
from jax2onnx_hlo.examples import CNN, MLP
from jax2onnx_hlo.module import UnreadableModuleError, load_module
from jax2onnx_hlo.testing import assert_outputs_close, random_array, run_onnx


def exported_of(fn, *specs, platforms=("cpu",)):
    return export.export(jax.jit(fn), platforms=list(platforms))(*specs)


def f32(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def check_exported(model: onnx.ModelProto, exported, args, rtol=1e-5, atol=1e-5):
    """Runs the model and `exported.call` on the same flat args and compares."""
    onnx.checker.check_model(model, full_check=True)
    call_args, call_kwargs = jax.tree_util.tree_unflatten(exported.in_tree, list(args))
    expected = jax.tree_util.tree_leaves(exported.call(*call_args, **call_kwargs))
    assert_outputs_close(expected, run_onnx(model, args), rtol=rtol, atol=atol)


# ---- models, saved and converted ---------------------------------------------------------


class LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        return linen.Dense(3)(linen.relu(linen.Dense(16)(x)))


def nnx_mlp():
    model = MLP(6, 16, 3, rngs=nnx.Rngs(0))
    model.eval()
    return model, (4, 6)


def nnx_cnn():
    model = CNN(rngs=nnx.Rngs(0))
    model.eval()
    return model, (2, 28, 28, 1)


def linen_mlp():
    module = LinenMLP()
    params = module.init(jax.random.key(0), jnp.zeros((1, 5)))
    # The weights are closed over: they live in the artifact as constants.
    return (lambda x: module.apply(params, x)), (4, 5)


MODELS = {"nnx_mlp": nnx_mlp, "nnx_cnn": nnx_cnn, "linen_mlp": linen_mlp}


@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
@pytest.mark.parametrize("form", ["exported", "serialized_bytes"])
def test_saved_models(build, form):
    model, shape = build()
    exported = exported_of(lambda x: model(x), f32(*shape))
    source = exported if form == "exported" else exported.serialize()
    onnx_model = to_onnx(source) if form == "exported" else from_stablehlo(source)
    check_exported(onnx_model, exported, [random_array(shape)], rtol=1e-4)


def test_symbolic_dim_keeps_its_name_and_runs_at_any_size():
    (b,) = export.symbolic_shape("B")
    exported = exported_of(lambda x, y: jnp.tanh(x) * y.sum(), f32(b, 3), f32(b, 3))
    model = to_onnx(exported)
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input]
    assert dims == [["B", 3], ["B", 3]]
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "B"
    for size in (2, 5):
        check_exported(model, exported, [random_array((size, 3), seed=1),
                                         random_array((size, 3), seed=2)])


def test_symbolic_dim_names_recovered_from_raw_mlir_text():
    (b,) = export.symbolic_shape("B")
    exported = exported_of(lambda x, y: x + y, f32(b, 3), f32(b, 3))
    model = from_stablehlo(exported.mlir_module())
    assert [i.type.tensor_type.shape.dim[0].dim_param for i in model.graph.input] == ["B", "B"]


def test_input_names_from_the_artifact_and_unused_inputs_kept():
    def f(x, params, unused):
        return x * params["scale"] + params["shift"][0]

    specs = (f32(3), {"scale": f32(3), "shift": [f32(3)]}, f32(2))
    exported = exported_of(f, *specs)
    model = to_onnx(exported)
    # jit leaves unused arguments out of the module, and their names with them.
    assert [i.name for i in model.graph.input] == [
        "x", "params.scale", "params.shift.0", "input_3"]
    args = [random_array((3,), seed=i) for i in range(3)] + [random_array((2,))]
    check_exported(model, exported, args)


def test_names_given_for_an_artifact():
    exported = exported_of(lambda a, b: (a + b, a - b), f32(2), f32(2))
    model = from_stablehlo(exported.serialize(), input_names=["l", "r"],
                           output_names=["sum", "diff"])
    assert [i.name for i in model.graph.input] == ["l", "r"]
    assert [o.name for o in model.graph.output] == ["sum", "diff"]


def test_saved_file_path(tmp_path):
    exported = exported_of(jnp.cos, f32(4))
    path = tmp_path / "cos.jaxexp"
    path.write_bytes(exported.serialize())
    out = tmp_path / "cos.onnx"
    assert from_stablehlo(path, return_mode="file", output_path=out) == str(out)
    check_exported(onnx.load(str(out)), exported, [random_array((4,))])


def test_inputs_given_with_an_exported_must_match_it():
    exported = exported_of(jnp.sin, f32(2, 3))
    assert len(to_onnx(exported, [(2, 3)]).graph.input) == 1
    with pytest.raises(ValueError, match="do not match the Exported's inputs"):
        to_onnx(exported, [(4, 3)])


# ---- multi-platform exports --------------------------------------------------------------


@pytest.mark.parametrize("platforms", [("cpu", "cuda"), ("cuda", "cpu"), ("tpu", "cpu", "cuda")],
                         ids=lambda p: "_".join(p))
def test_multi_platform_artifact_converts_the_cpu_branch(platforms):
    def f(x):
        y = lax.platform_dependent(x, cpu=jnp.sin, cuda=jnp.cos, tpu=jnp.tanh)
        return y * 2 + x @ x.T

    exported = exported_of(f, f32(3, 3), platforms=platforms)
    model = from_stablehlo(exported.serialize())
    assert len(model.graph.input) == 1  # the platform index is gone
    x = random_array((3, 3))
    check_exported(model, exported, [x])
    np.testing.assert_allclose(run_onnx(model, [x])[0], np.sin(x) * 2 + x @ x.T, rtol=1e-5)


def test_gpu_only_artifact_is_refused():
    exported = exported_of(jnp.sin, f32(3), platforms=("cuda",))
    with pytest.raises(ConversionError, match=r"exported for cuda only.*platforms=\['cpu'\]"):
        to_onnx(exported)


def test_raw_multi_platform_text_says_to_convert_the_artifact():
    exported = exported_of(lambda x: lax.platform_dependent(x, cpu=jnp.sin, cuda=jnp.cos),
                           f32(3), platforms=("cpu", "cuda"))
    with pytest.raises(ConversionError, match="multi-platform export"):
        from_stablehlo(exported.mlir_module())


# ---- hand-written StableHLO: ops JAX rarely emits ----------------------------------------


def total_order_key(x: np.ndarray) -> np.ndarray:
    """Floats as ints whose signed order is StableHLO's TOTALORDER."""
    bits = x.astype(np.float32).view(np.int32)
    return np.where(bits < 0, bits ^ np.int32(0x7FFFFFFF), bits)


SPECIAL = np.array([np.nan, -np.inf, -1.5, -0.0, 0.0, 2.0, np.inf, -0.0], np.float32)
HAND_WRITTEN = {
    "atan2": (
        """func.func @main(%y: tensor<2x3xf32>, %x: tensor<2x3xf32>) -> tensor<2x3xf32> {
             %0 = stablehlo.atan2 %y, %x : tensor<2x3xf32>
             return %0 : tensor<2x3xf32>
           }""",
        [random_array((2, 3), seed=1), random_array((2, 3), seed=2)],
        lambda y, x: np.arctan2(y, x),
    ),
    "remainder_int": (
        """func.func @main(%a: tensor<6xi32>, %b: tensor<6xi32>) -> tensor<6xi32> {
             %0 = stablehlo.remainder %a, %b : tensor<6xi32>
             return %0 : tensor<6xi32>
           }""",
        [np.array([7, -7, 7, -7, 0, 5], np.int32), np.array([3, 3, -3, -3, 2, 7], np.int32)],
        np.fmod,  # the sign of the dividend, not Python's %
    ),
    "clamp_tensor_bounds": (
        """func.func @main(%lo: tensor<4xf32>, %x: tensor<4xf32>, %hi: tensor<4xf32>)
               -> tensor<4xf32> {
             %0 = stablehlo.clamp %lo, %x, %hi : tensor<4xf32>
             return %0 : tensor<4xf32>
           }""",
        [np.array([-1, 0, 1, 2], np.float32), random_array((4,)),
         np.array([0, 0.5, 3, 2], np.float32)],
        lambda lo, x, hi: np.minimum(np.maximum(x, lo), hi),
    ),
    "compare_totalorder": (
        """func.func @main(%a: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<8xi1> {
             %0 = stablehlo.compare LT, %a, %b, TOTALORDER
                 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
             return %0 : tensor<8xi1>
           }""",
        [SPECIAL, SPECIAL[::-1].copy()],
        lambda a, b: total_order_key(a) < total_order_key(b),
    ),
    "pad_negative_and_interior": (
        """func.func @main(%x: tensor<3x4xf32>, %v: tensor<f32>) -> tensor<5x5xf32> {
             %0 = stablehlo.pad %x, %v, low = [-1, 2], high = [1, -1], interior = [1, 0]
                 : (tensor<3x4xf32>, tensor<f32>) -> tensor<5x5xf32>
             return %0 : tensor<5x5xf32>
           }""",
        [random_array((3, 4)), np.array(9.0, np.float32)],
        lambda x, v: np.asarray(lax.pad(x, v, [(-1, 1, 1), (2, -1, 0)])),
    ),
}


@pytest.mark.parametrize("case", HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_hand_written_modules(case):
    text, args, reference = case
    model = from_stablehlo(f"module {{\n{text}\n}}")
    onnx.checker.check_model(model, full_check=True)
    assert_outputs_close([reference(*args)], run_onnx(model, args), rtol=1e-6, atol=1e-6)


def test_single_public_function_is_the_entry():
    text = """module {
      func.func public @forward(%x: tensor<3xf32>) -> tensor<3xf32> {
        %0 = call @double(%x) : (tensor<3xf32>) -> tensor<3xf32>
        return %0 : tensor<3xf32>
      }
      func.func private @double(%x: tensor<3xf32>) -> tensor<3xf32> {
        %0 = stablehlo.add %x, %x : tensor<3xf32>
        return %0 : tensor<3xf32>
      }
    }"""
    x = random_array((3,))
    np.testing.assert_allclose(run_onnx(from_stablehlo(text), [x])[0], 2 * x)


def test_no_main_and_two_public_functions():
    text = """module {
      func.func @a(%x: tensor<f32>) -> tensor<f32> { return %x : tensor<f32> }
      func.func @b(%x: tensor<f32>) -> tensor<f32> { return %x : tensor<f32> }
    }"""
    with pytest.raises(ConversionError, match=r"no func.func @main and 2 public.*@a, @b"):
        from_stablehlo(text)


# ---- other encodings ---------------------------------------------------------------------


def test_mlir_bytecode_and_portable_artifact():
    exported = exported_of(lambda x: jnp.exp(x) - 1, f32(2, 3))
    bytecode = load_module(exported.mlir_module()).bytecode()
    x = random_array((2, 3))
    for source in (bytecode, exported.mlir_module_serialized):
        check_exported(from_stablehlo(source), exported, [x])


# ---- effect tokens -----------------------------------------------------------------------


TOKENS_PASSED_ALONG = """module {
  func.func public @main(%t: !stablehlo.token, %x: tensor<3xf32>)
      -> (!stablehlo.token, tensor<3xf32>) {
    %0:2 = call @inner(%t, %x) : (!stablehlo.token, tensor<3xf32>)
        -> (!stablehlo.token, tensor<3xf32>)
    return %0#0, %0#1 : !stablehlo.token, tensor<3xf32>
  }
  func.func private @inner(%t: !stablehlo.token, %x: tensor<3xf32>)
      -> (!stablehlo.token, tensor<3xf32>) {
    %0 = stablehlo.multiply %x, %x : tensor<3xf32>
    return %t, %0 : !stablehlo.token, tensor<3xf32>
  }
}"""

TOKEN_CONSUMED = """module {
  func.func public @main(%t: !stablehlo.token, %x: tensor<3xf32>)
      -> (!stablehlo.token, tensor<3xf32>) {
    %0 = stablehlo.after_all %t : !stablehlo.token
    return %0, %x : !stablehlo.token, tensor<3xf32>
  }
}"""


def test_effect_tokens_passed_along_are_dropped():
    model = from_stablehlo(TOKENS_PASSED_ALONG)
    assert len(model.graph.input) == 1 and len(model.graph.output) == 1
    x = random_array((3,))
    np.testing.assert_allclose(run_onnx(model, [x])[0], x * x)


def test_effect_token_consumed_by_an_op_is_an_error():
    with pytest.raises(ConversionError, match="after_all consumes an effect token"):
        from_stablehlo(TOKEN_CONSUMED)


# ---- bad input: each error says what is wrong --------------------------------------------


def serialized_sin() -> bytes:
    return bytes(exported_of(jnp.sin, f32(3)).serialize())


BAD_INPUTS = {
    "truncated_artifact": (lambda: serialized_sin()[:200], UnreadableModuleError,
                           "not a readable jax.export artifact.*truncated"),
    "text_not_mlir": (lambda: b"hello, this is a README\n", UnreadableModuleError,
                      "not valid MLIR text"),
    "artifact_from_newer_jax": (
        lambda: serialized_sin().replace(
            b"StableHLO_v" + jax_stablehlo_version().encode(), b"StableHLO_v9.99.0"),
        UnreadableModuleError, r"StableHLO v9\.99\.0, newer than.*newer jax"),
}


def jax_stablehlo_version() -> str:
    """The version jax writes into artifacts: found in a fresh one."""
    import re

    data = exported_of(jnp.sin, f32(3)).mlir_module_serialized
    return re.search(rb"StableHLO_v([0-9.]+)\x00", data).group(1).decode()


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input(case):
    make, error, message = case
    with pytest.raises(error, match=message):
        from_stablehlo(make())


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        from_stablehlo(tmp_path / "missing.jaxexp")


def test_unsupported_gpu_custom_call_is_named_with_the_cpu_hint():
    text = """module {
      func.func @main(%x: tensor<3x3xf32>) -> tensor<3x3xf32> {
        %0:2 = stablehlo.custom_call @cusolver_potrf_ffi(%x)
            : (tensor<3x3xf32>) -> (tensor<3x3xf32>, tensor<i32>)
        return %0#0 : tensor<3x3xf32>
      }
    }"""
    with pytest.raises(ConversionError,
                       match=r"custom_call@cusolver_potrf_ffi x1.*a GPU/TPU-only kernel: "
                             r"export for the CPU platform.*platforms=\['cpu'\]"):
        from_stablehlo(text)
