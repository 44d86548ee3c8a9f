"""The `jax2onnx-hlo` command: convert saved artifacts and MLIR, inspect, exit codes."""

import subprocess
import sys

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx
from jax import export, lax

from jax2onnx_hlo.cli import main
from jax2onnx_hlo.examples import CNN, MLP
from jax2onnx_hlo.module import load_module
from jax2onnx_hlo.testing import assert_outputs_close, random_array, run_onnx


def f32(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def save_artifact(path, fn, *specs, platforms=("cpu",)):
    exported = export.export(jax.jit(fn), platforms=list(platforms))(*specs)
    path.write_bytes(exported.serialize())
    return exported


def assert_matches_jax(onnx_path, exported, args, rtol=1e-4, atol=1e-5):
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    expected = jax.tree_util.tree_leaves(exported.call(*args))
    assert_outputs_close(expected, run_onnx(model, args), rtol=rtol, atol=atol)


class LinenCNN(linen.Module):
    @linen.compact
    def __call__(self, x):
        x = linen.relu(linen.Conv(4, (3, 3))(x))
        return linen.Dense(2)(x.reshape(x.shape[0], -1))


def nnx_mlp():
    model = MLP(6, 16, 3, rngs=nnx.Rngs(0))
    model.eval()
    return (lambda x: model(x)), (4, 6)


def nnx_cnn():
    model = CNN(rngs=nnx.Rngs(0))
    model.eval()
    return (lambda x: model(x)), (2, 28, 28, 1)


def linen_cnn():
    module = LinenCNN()
    params = module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    return (lambda x: module.apply(params, x)), (2, 8, 8, 1)


def zoo_model(name):
    """A model of the benchmark zoo at tiny size (ViT, GPT-2-style decoder, Equinox MLP)."""
    def build():
        from benchmarks import zoo  # the repository's folder (python -m pytest runs from it)

        model, make_inputs = zoo.build(name, tiny=True)
        (x,) = make_inputs(2)
        if x.dtype != np.float32:
            raise AssertionError(f"{name} takes {x.dtype}; this test feeds float32")
        return (lambda v: model(v)), x.shape
    return build


MODELS = {"nnx_mlp": nnx_mlp, "nnx_cnn": nnx_cnn, "linen_cnn": linen_cnn,
          "nnx_vit": zoo_model("vit_b16"), "equinox_mlp": zoo_model("equinox_mlp")}


@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
def test_convert_saved_model(tmp_path, build, capsys):
    fn, shape = build()
    exported = save_artifact(tmp_path / "model.jaxexp", fn, f32(*shape))
    out = tmp_path / "model.onnx"
    assert main(["convert", str(tmp_path / "model.jaxexp"), "-o", str(out), "--check"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "matches JAX" in captured.err and "wrote" in captured.err  # progress per phase
    assert_matches_jax(out, exported, [random_array(shape)])


def test_convert_in_a_subprocess(tmp_path):
    exported = save_artifact(tmp_path / "f.jaxexp", lambda x: jnp.tanh(x) @ x.T, f32(3, 4))
    out = tmp_path / "f.onnx"
    done = subprocess.run(
        [sys.executable, "-m", "jax2onnx_hlo", "convert", str(tmp_path / "f.jaxexp"),
         "-o", str(out), "--check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_matches_jax(out, exported, [random_array((3, 4))])


def test_symbolic_dim_artifact(tmp_path):
    (b,) = export.symbolic_shape("B")
    exported = save_artifact(tmp_path / "poly.jaxexp", lambda x: jnp.cumsum(x, axis=1) * 2,
                             f32(b, 5))
    out = tmp_path / "poly.onnx"
    assert main(["convert", str(tmp_path / "poly.jaxexp"), "-o", str(out), "--check"]) == 0
    (graph_input,) = onnx.load(str(out)).graph.input
    assert graph_input.type.tensor_type.shape.dim[0].dim_param == "B"
    for size in (1, 7):
        assert_matches_jax(out, exported, [random_array((size, 5), seed=size)])


def test_multi_platform_artifact(tmp_path):
    def f(x):
        return lax.platform_dependent(x, cpu=jnp.sin, cuda=jnp.cos) + 1

    exported = save_artifact(tmp_path / "multi.jaxexp", f, f32(2, 3),
                             platforms=("cuda", "cpu"))
    out = tmp_path / "multi.onnx"
    assert main(["convert", str(tmp_path / "multi.jaxexp"), "-o", str(out), "--check"]) == 0
    x = random_array((2, 3))
    assert_matches_jax(out, exported, [x])
    np.testing.assert_allclose(run_onnx(onnx.load(str(out)), [x])[0], np.sin(x) + 1, rtol=1e-6)


@pytest.mark.parametrize("suffix", [".mlir", ".mlirbc"])
def test_mlir_text_and_bytecode(tmp_path, suffix):
    exported = export.export(jax.jit(lambda a, b: jnp.maximum(a, b) * 3), platforms=["cpu"])(
        f32(2, 2), f32(2, 2))
    source = tmp_path / f"m{suffix}"
    if suffix == ".mlir":
        source.write_text(exported.mlir_module())
    else:
        source.write_bytes(load_module(exported.mlir_module()).bytecode())
    out = tmp_path / "m.onnx"
    args = ["convert", str(source), "-o", str(out), "--input-names", "a", "b",
            "--output-names", "y", "--opset", "21", "--check"]
    assert main(args) == 0
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["a", "b"]
    assert [o.name for o in model.graph.output] == ["y"]
    assert {o.domain: o.version for o in model.opset_import}[""] == 21
    assert_matches_jax(out, exported, [random_array((2, 2), seed=1), random_array((2, 2), seed=2)])


def test_web_export(tmp_path):
    save_artifact(tmp_path / "w.jaxexp", jnp.exp, f32(3))
    out = tmp_path / "w.onnx"
    assert main(["convert", str(tmp_path / "w.jaxexp"), "-o", str(out), "--web"]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


UNSUPPORTED = """module {
  func.func @main(%x: tensor<3x3xf32>) -> tensor<3x3xf32> {
    %0:2 = stablehlo.custom_call @cusolver_potrf_ffi(%x)
        : (tensor<3x3xf32>) -> (tensor<3x3xf32>, tensor<i32>)
    %1 = stablehlo.add %0#0, %x : tensor<3x3xf32>
    return %1 : tensor<3x3xf32>
  }
}"""


def test_inspect(tmp_path, capsys):
    (tmp_path / "m.mlir").write_text(UNSUPPORTED)
    assert main(["inspect", str(tmp_path / "m.mlir")]) == 0
    out = capsys.readouterr().out
    assert "MLIR text, entry @main" in out
    assert "input_0: tensor<3x3xf32>" in out and "output_0: tensor<3x3xf32>" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()
             if line.startswith("  stablehlo.")}
    assert lines["stablehlo.add"] == ["1", "ok"]
    assert lines["stablehlo.custom_call@cusolver_potrf_ffi"][:3] == ["1", "NO", "RULE"]
    assert "1 op kind(s) have no lowering rule" in out


def test_inspect_artifact_signature(tmp_path, capsys):
    (b,) = export.symbolic_shape("B")
    save_artifact(tmp_path / "a.jaxexp", lambda x, y: x * y, f32(b, 2), f32(b, 2),
                  platforms=("cpu", "cuda"))
    assert main(["inspect", str(tmp_path / "a.jaxexp")]) == 0
    out = capsys.readouterr().out
    assert "exported for cpu, cuda" in out
    assert "x: tensor<?x2xf32>  dims {0: 'B'}" in out
    assert "every op has a lowering rule" in out


# ---- bad input: one clear line on stderr, and the right exit code ------------------------


def truncated(tmp_path):
    save_artifact(tmp_path / "full.jaxexp", jnp.sin, f32(3))
    data = (tmp_path / "full.jaxexp").read_bytes()
    (tmp_path / "in.jaxexp").write_bytes(data[: len(data) // 2])
    return ["convert", str(tmp_path / "in.jaxexp"), "-o", str(tmp_path / "o.onnx")]


def not_mlir(tmp_path):
    (tmp_path / "notes.mlir").write_text("these are my notes\nnot a module\n")
    return ["convert", str(tmp_path / "notes.mlir"), "-o", str(tmp_path / "o.onnx")]


def missing(tmp_path):
    return ["convert", str(tmp_path / "nope.jaxexp"), "-o", str(tmp_path / "o.onnx")]


def output_is_directory(tmp_path):
    save_artifact(tmp_path / "in.jaxexp", jnp.sin, f32(3))
    return ["convert", str(tmp_path / "in.jaxexp"), "-o", str(tmp_path)]


def unsupported_op(tmp_path):
    (tmp_path / "u.mlir").write_text(UNSUPPORTED)
    return ["convert", str(tmp_path / "u.mlir"), "-o", str(tmp_path / "o.onnx")]


def wrong_name_count(tmp_path):
    save_artifact(tmp_path / "in.jaxexp", jnp.sin, f32(3))
    return ["convert", str(tmp_path / "in.jaxexp"), "-o", str(tmp_path / "o.onnx"),
            "--input-names", "a", "b"]


def bad_opset(tmp_path):
    return ["convert", "in.jaxexp", "-o", str(tmp_path / "o.onnx"), "--opset", "12"]


def inspect_missing(tmp_path):
    return ["inspect", str(tmp_path / "nope.mlir")]


ERRORS = {
    "truncated_artifact": (truncated, 2, "not a readable jax.export artifact (truncated"),
    "text_not_mlir": (not_mlir, 2, "is not valid MLIR text"),
    "missing_path": (missing, 2, "nope.jaxexp' does not exist"),
    "output_is_directory": (output_is_directory, 2, "is a directory; give the .onnx file"),
    "unsupported_op": (unsupported_op, 1, "custom_call@cusolver_potrf_ffi x1"),
    "wrong_name_count": (wrong_name_count, 2, "2 input names given for 1 inputs"),
    "bad_opset": (bad_opset, 2, "invalid choice: 12"),
    "inspect_missing": (inspect_missing, 2, "does not exist"),
}


def exit_code(argv) -> int:
    """What the console script exits with: main's result, or argparse's SystemExit."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("case", ERRORS.values(), ids=ERRORS.keys())
def test_errors(tmp_path, capsys, case):
    make_args, code, message = case
    assert exit_code(make_args(tmp_path)) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    assert not (tmp_path / "o.onnx").exists()


def test_gpu_custom_call_error_suggests_a_cpu_export(tmp_path, capsys):
    assert main(unsupported_op(tmp_path)) == 1
    assert "platforms=['cpu']" in capsys.readouterr().err


def test_verbose_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["convert", "--verbose", str(tmp_path / "x.mlirbc"), "-o", str(tmp_path / "o")])
