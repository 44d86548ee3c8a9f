"""Export modes: the .data sidecar of standard exports, single-file web exports, and
atomic writes."""

import jax.numpy as jnp
import numpy as np
import onnx
import pytest

from jax2onnx_hlo import save, to_onnx
from jax2onnx_hlo.save import EXTERNAL_DATA_THRESHOLD, deliver, sidecar_path
from jax2onnx_hlo.testing import random_array, run_onnx

# 1.5x the threshold: a weight that goes to the sidecar in a standard export.
BIG = random_array((EXTERNAL_DATA_THRESHOLD * 3 // 16, 2), seed=3) / 100  # float32
SMALL = random_array((4, 2), seed=4)


def big_model(x):
    return jnp.tanh(x @ BIG.T) @ BIG


def small_model(x):
    return x @ SMALL.T


def export(fn, n_in: int, tmp_path, export_mode: str, name: str = "model.onnx"):
    """Writes fn's model through deliver; returns (path, the model it wrote)."""
    model = to_onnx(fn, [(3, n_in)], return_mode="ir")
    path = tmp_path / name
    assert deliver(model, "file", path, export_mode) == str(path)
    return path, model


def check_runs(path, fn, n_in: int) -> onnx.ModelProto:
    """Reloads `path` from disk (with its sidecar, if any) and runs it against fn."""
    loaded = onnx.load(str(path))
    onnx.checker.check_model(str(path), full_check=True)  # by path: > 2 GB capable check
    x = random_array((3, n_in))
    np.testing.assert_allclose(run_onnx(loaded, [x])[0], fn(x), rtol=1e-5, atol=1e-5)
    return loaded


def external_locations(path) -> set[str]:
    model = onnx.load(str(path), load_external_data=False)
    return {entry.value for t in model.graph.initializer for entry in t.external_data
            if entry.key == "location"}


def test_standard_export_puts_large_weights_in_a_sidecar(tmp_path):
    path, _ = export(big_model, 2, tmp_path, "standard")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]
    assert external_locations(path) == {"model.onnx.data"}
    assert path.stat().st_size < EXTERNAL_DATA_THRESHOLD  # the weights are not inline
    check_runs(path, big_model, 2)


def test_standard_export_of_a_small_model_is_one_file(tmp_path):
    sidecar_path(tmp_path / "model.onnx").write_bytes(b"stale")
    path, _ = export(small_model, 2, tmp_path, "standard")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # stale sidecar removed
    check_runs(path, small_model, 2)


def test_web_export_is_one_self_contained_file(tmp_path):
    export(big_model, 2, tmp_path, "standard")  # leaves a sidecar the web export replaces
    path, _ = export(big_model, 2, tmp_path, "web")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert external_locations(path) == set()
    check_runs(path, big_model, 2)


def test_web_export_over_the_protobuf_limit_raises_with_the_size(tmp_path, monkeypatch):
    monkeypatch.setattr(save, "WEB_SIZE_LIMIT", 1000)
    model = to_onnx(big_model, [(3, 2)], return_mode="ir")
    with pytest.raises(ValueError, match=r"needs \d+\.\d\d GiB \(\d+ bytes\).*limit of 1000.*"
                                         r'export_mode="standard"'):
        deliver(model, "file", tmp_path / "model.onnx", "web")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_files(tmp_path, monkeypatch):
    path, _ = export(big_model, 2, tmp_path, "standard")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(save.ir, "save", broken_save)
    model = to_onnx(lambda x: big_model(x) * 2.0, [(3, 2)], return_mode="ir")
    with pytest.raises(OSError, match="disk full"):
        deliver(model, "file", path, "standard")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp left


def test_unknown_export_mode_raises(tmp_path):
    model = to_onnx(small_model, [(3, 2)], return_mode="ir")
    with pytest.raises(ValueError, match="export_mode='zip'"):
        deliver(model, "file", tmp_path / "model.onnx", "zip")
