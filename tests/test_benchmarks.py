"""Smoke run of the benchmark harness: the two smallest zoo models at tiny sizes, in-process.
Checks the reports and their fields, never the timings."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402
from benchmarks.harness import markdown  # noqa: E402

FIELDS = {"model", "library", "params_m", "convert_s", "convert_peak_mb", "nodes", "file_mb",
          "ort_ms_b1", "ort_ms_b8", "jax_ms_b1", "jax_ms_b8", "ort_over_jax_b1",
          "ort_over_jax_b8", "max_abs_diff"}

DYNAMIC_FIELDS = {"convert_s", "convert_over_fixed", "nodes", "nodes_over_fixed", "ort_ms_b8",
                  "fixed_ort_ms_b8", "ort_over_fixed_b8", "max_abs_diff"}


def test_harness_writes_json_markdown_and_chart(tmp_path):
    assert main(["--models", "mlp,rl_policy", "--tiny", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "zoo_tiny.json").read_text())
    assert results["tiny"] is True and results["machine"]["cpus"] >= 1
    assert "jax2onnx" in results  # installed or not, the report says which
    assert [row["model"] for row in results["models"]] == ["mlp", "rl_policy"]
    for row in results["models"]:
        assert "error" not in row, row
        assert FIELDS <= set(row), FIELDS - set(row)
        assert row["nodes"] > 0 and row["max_abs_diff"] < 1e-4
        dynamic = row["dynamic_batch"]  # the same model exported with batch "B"
        assert DYNAMIC_FIELDS <= set(dynamic), DYNAMIC_FIELDS - set(dynamic)
        assert dynamic["nodes"] > 0 and dynamic["max_abs_diff"] < 1e-4
    table = (tmp_path / "zoo_tiny.md").read_text()
    assert table == markdown(results)
    assert "| mlp | nnx |" in table and "| rl_policy | nnx |" in table
    assert 'symbolic batch ("B")' in table
    # the chart needs matplotlib (the `bench` extra); without it the harness writes none
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "zoo_tiny.png").exists() == has_matplotlib


def test_unknown_model_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--models", "nope", "--tiny"])
    assert e.value.code == 2
    assert "unknown models ['nope']" in capsys.readouterr().err
