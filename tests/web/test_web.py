"""allclose against ONNX Runtime, and allclose_onnxruntime_web in Node.js and headless Chromium.

The web checks need `npm ci` at the repo root and Debian's chromium (.ci/run installs both);
without them they fail with the install command, they never pass unrun.
"""

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

import jax2onnx_hlo.testing as testing
from jax2onnx_hlo import allclose, allclose_onnxruntime_web, to_onnx
from jax2onnx_hlo.examples import CNN, MLP, ViT
from jax2onnx_hlo.validate import compare_outputs
from jax2onnx_hlo.web_runner import NPM_PACKAGES

REPO = Path(__file__).resolve().parents[2]
RUNNERS = ["node", "chrome"]


def _export(fn, specs, path: Path, **kwargs) -> Path:
    return to_onnx(fn, specs, return_mode="file", output_path=path, **kwargs)


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- allclose: JAX against ONNX Runtime CPU ---------------------------------------------------

def test_allclose_accepts_a_correct_export(tmp_path):
    model = MLP(30, 64, 10, rngs=nnx.Rngs(0))
    model.eval()
    path = _export(model, [("B", 30)], tmp_path / "mlp.onnx")
    for batch in (1, 7):
        ok, message = allclose(model, path, [_normal((batch, 30), batch)])
        assert ok, message
        assert "output_0: ok" in message


def test_allclose_rejects_the_model_of_another_function(tmp_path):
    path = _export(jnp.sin, [(3, 4)], tmp_path / "sin.onnx")
    ok, message = allclose(jnp.cos, path, [(3, 4)])
    assert not ok
    assert "output_0" in message and "values differ" in message
    assert "max abs" in message and "worst at index" in message


def test_allclose_reports_a_shape_mismatch(tmp_path):
    path = _export(lambda x: x[:, :2], [(3, 4)], tmp_path / "slice.onnx")
    ok, message = allclose(lambda x: x, path, [(3, 4)])
    assert not ok
    assert "output_0: shape (3, 2) in ONNX, (3, 4) in JAX" in message


def test_allclose_reports_a_wrong_number_of_inputs(tmp_path):
    path = _export(jnp.add, [(3,), (3,)], tmp_path / "add.onnx")
    ok, message = allclose(lambda x: x, path, [(3,)])
    assert not ok
    assert "the model takes 2 inputs" in message


COMPLEX_SPEC = jax.ShapeDtypeStruct((4, 8), jnp.complex64)


def _spectrum(z):
    """Complex in, complex and real out: the model has them as float (real, imag) pairs."""
    return jnp.fft.fft(z * 1j), jnp.abs(z)


def test_allclose_feeds_and_compares_complex_values_as_pairs(tmp_path):
    path = _export(_spectrum, [COMPLEX_SPEC], tmp_path / "spectrum.onnx")
    ok, message = allclose(_spectrum, path, [COMPLEX_SPEC], rtol=1e-4, atol=1e-5)
    assert ok, message
    ok, message = allclose(lambda z: (jnp.fft.fft(z), jnp.abs(z)), path, [COMPLEX_SPEC],
                           rtol=1e-4, atol=1e-5)
    assert not ok and "output_0" in message  # the sampled imaginary parts are not zero


@pytest.mark.parametrize("runner", RUNNERS)
def test_web_check_of_a_complex_model(tmp_path, runner):
    path = _export(_spectrum, [COMPLEX_SPEC], tmp_path / "spectrum.onnx")
    ok, message = allclose_onnxruntime_web(path, [COMPLEX_SPEC], rtol=1e-4, atol=1e-5,
                                           runner=runner)
    assert ok, message


def test_compare_outputs_handles_non_finite_values():
    inf, nan = np.inf, np.nan
    same = np.array([1.0, inf, nan, -inf])
    ok, message = compare_outputs([same], [same.copy()], 1e-3, 1e-5)
    assert ok and message == "output 0: ok (max abs 0, max rel 0)"
    ok, message = compare_outputs([np.array([1.0, inf])], [np.array([1.0, -inf])], 1e-3, 1e-5,
                                  ["y"], labels=("web", "CPU"))
    assert not ok
    assert message == ("y: 1 of 2 values differ; max abs inf, max rel inf; worst at index (1,): "
                       "web -inf, CPU inf")


# --- the web smoke set: demo MLP and CNN, a ViT-style encoder, dynamic batch, two sizes -------

def _eval(model):
    model.eval()
    return model


SMOKE_MODELS = {
    "mlp": (lambda: _eval(MLP(30, 64, 10, rngs=nnx.Rngs(0))), (30,)),
    "cnn": (lambda: _eval(CNN(rngs=nnx.Rngs(0))), (28, 28, 1)),
    "vit": (lambda: _eval(ViT(rngs=nnx.Rngs(0))), (16, 16, 3)),
}


@pytest.fixture(scope="module")
def smoke_exports(tmp_path_factory):
    """Each smoke model exported once with export_mode="web" and a dynamic batch, checked
    against JAX at two batch sizes."""
    folder = tmp_path_factory.mktemp("web_smoke")
    exports = {}
    for name, (build, shape) in SMOKE_MODELS.items():
        model = build()
        path = _export(model, [("B", *shape)], folder / f"{name}.onnx", export_mode="web")
        for batch in (1, 3):
            ok, message = allclose(model, path, [_normal((batch, *shape), batch)])
            assert ok, f"{name} at batch {batch}: {message}"
        exports[name] = (path, shape)
    return exports


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("name", list(SMOKE_MODELS))
def test_web_smoke_model_at_two_batch_sizes(smoke_exports, name, runner):
    path, shape = smoke_exports[name]
    for batch in (1, 3):
        start = time.perf_counter()
        ok, message = allclose_onnxruntime_web(path, [_normal((batch, *shape), batch)],
                                               runner=runner)
        seconds = time.perf_counter() - start
        assert ok, f"{name} at batch {batch}: {message}"
        assert message.startswith(f"onnxruntime-web ({runner}, ")
        print(f"web check {name} batch {batch} {runner}: {seconds:.2f} s")


@pytest.mark.parametrize("runner", RUNNERS)
def test_web_outputs_of_every_kind(tmp_path, runner):
    """Several outputs: float, int32, bool and a scalar, from float and int inputs and a
    named input_param, travel through the files both ways."""

    def fn(x, i, *, scale):
        return {"a": x * scale, "b": i + 1, "c": x > 0, "d": jnp.sum(x)}

    scale = np.float32(2.0)
    specs = [("B", 5), jax.ShapeDtypeStruct((4,), jnp.int32)]
    path = _export(fn, specs, tmp_path / "kinds.onnx", input_params={"scale": scale})
    inputs = [_normal((3, 5)), np.arange(4, dtype=np.int32)]
    ok, message = allclose_onnxruntime_web(path, inputs, {"scale": scale}, runner=runner)
    assert ok, message
    assert message.count(": ok") == 4, message


def test_web_runner_from_environment(tmp_path, monkeypatch):
    path = _export(jnp.tanh, [(2, 3)], tmp_path / "tanh.onnx")
    monkeypatch.setenv("JAX2ONNX_HLO_ONNXRUNTIME_WEB_RUNNER", "chrome")
    ok, message = allclose_onnxruntime_web(path, [(2, 3)])
    assert ok, message
    assert message.startswith("onnxruntime-web (chrome, ")
    with pytest.raises(ValueError, match="runner='firefox'"):
        allclose_onnxruntime_web(path, [(2, 3)], runner="firefox")


def test_web_reports_a_wrong_number_of_inputs(tmp_path):
    path = _export(jnp.add, [(3,), (3,)], tmp_path / "add.onnx")
    ok, message = allclose_onnxruntime_web(path, [(3,)])
    assert not ok
    assert "the model takes 2 inputs" in message


@pytest.mark.parametrize("runner", RUNNERS)
def test_web_reports_a_kernel_the_web_build_lacks(tmp_path, runner):
    """onnxruntime-web's WASM build has fewer kernels than ONNX Runtime CPU (here Where on
    uint32, found by JAX2ONNX_HLO_WEB_TESTS on the shift tests): a failed check with its
    error, where the CPU runs the model."""
    from onnx import TensorProto, helper

    def tensor(name, dtype):
        return helper.make_tensor_value_info(name, dtype, [3])

    graph = helper.make_graph(
        [helper.make_node("Where", ["c", "a", "b"], ["y"])], "where_uint32",
        [tensor("c", TensorProto.BOOL), tensor("a", TensorProto.UINT32),
         tensor("b", TensorProto.UINT32)],
        [tensor("y", TensorProto.UINT32)],
    )
    path = tmp_path / "where_uint32.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                                ir_version=9), path)
    inputs = [np.array([True, False, True]), np.arange(3, dtype=np.uint32),
              np.zeros(3, np.uint32)]
    ok, message = allclose_onnxruntime_web(path, inputs, runner=runner)
    assert not ok
    assert f"onnxruntime-web ({runner}) could not run the model" in message
    assert "Could not find an implementation for Where(16)" in message


def test_web_reports_a_runner_failure(tmp_path, monkeypatch):
    """onnxruntime-web failing to load the model is a failed check with its error."""
    path = _export(jnp.tanh, [(2, 3)], tmp_path / "tanh.onnx")
    fake_node_modules = tmp_path / "node_modules" / "onnxruntime-web"
    fake_node_modules.mkdir(parents=True)
    (fake_node_modules / "package.json").write_text('{"name": "onnxruntime-web", "main": "x.js"}')
    (fake_node_modules / "x.js").write_text("throw new Error('this is not onnxruntime-web');")
    monkeypatch.setenv("JAX2ONNX_HLO_NODE_MODULES", str(tmp_path / "node_modules"))
    ok, message = allclose_onnxruntime_web(path, [(2, 3)], runner="node")
    assert not ok
    assert "onnxruntime-web (node) could not run the model" in message
    assert "this is not onnxruntime-web" in message


# --- missing Node.js, npm packages or Chromium: the install command, never a pass -------------

@pytest.mark.parametrize("runner", RUNNERS)
def test_missing_node_names_the_install_command(tmp_path, runner):
    path = _export(jnp.tanh, [(2, 3)], tmp_path / "tanh.onnx")
    ok, message = allclose_onnxruntime_web(path, [(2, 3)], node_command="definitely-not-node",
                                           runner=runner)
    assert not ok
    assert "Node.js was not found (node_command='definitely-not-node')" in message
    assert "apt-get install -y nodejs npm" in message and "npm ci" in message


@pytest.mark.parametrize("runner", RUNNERS)
def test_missing_npm_packages_name_the_install_command(tmp_path, monkeypatch, runner):
    path = _export(jnp.tanh, [(2, 3)], tmp_path / "tanh.onnx")
    empty = tmp_path / "empty_node_modules"
    empty.mkdir()
    monkeypatch.setenv("JAX2ONNX_HLO_NODE_MODULES", str(empty))
    ok, message = allclose_onnxruntime_web(path, [(2, 3)], runner=runner)
    assert not ok
    assert f"not installed in {empty}" in message
    assert f"`npm ci` in {REPO}" in message
    assert "onnxruntime-web@1.30.0" in message
    needed = "onnxruntime-web, playwright-core" if runner == "chrome" else "onnxruntime-web"
    assert f"the npm package(s) {needed} are not installed" in message


def test_chrome_runner_needs_playwright_core(tmp_path, monkeypatch):
    path = _export(jnp.tanh, [(2, 3)], tmp_path / "tanh.onnx")
    only_ort = tmp_path / "node_modules"
    only_ort.mkdir()
    (only_ort / "onnxruntime-web").symlink_to(REPO / "node_modules" / "onnxruntime-web")
    monkeypatch.setenv("JAX2ONNX_HLO_NODE_MODULES", str(only_ort))
    ok, message = allclose_onnxruntime_web(path, [(2, 3)], runner="chrome")
    assert not ok
    assert "the npm package(s) playwright-core are not installed" in message
    ok, message = allclose_onnxruntime_web(path, [(2, 3)], runner="node")
    assert ok, message


def test_missing_chromium_names_the_install_command(tmp_path, monkeypatch):
    path = _export(jnp.tanh, [(2, 3)], tmp_path / "tanh.onnx")
    monkeypatch.setenv("JAX2ONNX_HLO_CHROMIUM", str(tmp_path / "no-chromium"))
    ok, message = allclose_onnxruntime_web(path, [(2, 3)], runner="chrome")
    assert not ok
    assert "Chromium was not found" in message
    assert "apt-get update && apt-get install -y chromium" in message


def test_npm_pins_match_package_json():
    package = json.loads((REPO / "package.json").read_text())
    assert package["dependencies"] == NPM_PACKAGES
    lock = json.loads((REPO / "package-lock.json").read_text())
    for name, version in NPM_PACKAGES.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


# --- the pytest switch: JAX2ONNX_HLO_WEB_TESTS makes check_against_jax run the web check -------

@pytest.mark.parametrize("runner", RUNNERS)
def test_web_tests_switch_runs_the_web_check(monkeypatch, runner):
    calls = []

    def recording(*args, **kwargs):
        result = allclose_onnxruntime_web(*args, **kwargs)
        calls.append((kwargs["runner"], result))
        return result

    monkeypatch.setattr(testing, "allclose_onnxruntime_web", recording)
    monkeypatch.setenv("JAX2ONNX_HLO_WEB_TESTS", runner)
    testing.check_against_jax(lambda x, y: (x @ y, jnp.exp(x)),
                              [_normal((3, 3)), _normal((3, 2), 1)], rtol=1e-4)
    assert [(r, ok) for r, (ok, _) in calls] == [(runner, True)], calls


def test_web_tests_switch_fails_the_test_when_the_web_check_fails(monkeypatch):
    monkeypatch.setattr(testing, "allclose_onnxruntime_web",
                        lambda *args, **kwargs: (False, "output_0: 3 of 6 values differ"))
    monkeypatch.setenv("JAX2ONNX_HLO_WEB_TESTS", "node")
    with pytest.raises(AssertionError, match="3 of 6 values differ"):
        testing.check_against_jax(jnp.sin, [_normal((2, 3))])


def test_web_tests_switch_is_off_by_default(monkeypatch):
    monkeypatch.delenv("JAX2ONNX_HLO_WEB_TESTS", raising=False)
    monkeypatch.setattr(testing, "allclose_onnxruntime_web",
                        lambda *args, **kwargs: pytest.fail("the web check ran"))
    testing.check_against_jax(jnp.sin, [_normal((2, 3))])
