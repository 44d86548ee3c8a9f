"""Project-level checks: generated docs are current, the tree is ruff clean, the CLI runs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax2onnx_hlo import docs_gen
from jax2onnx_hlo.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_coverage_doc_is_current():
    assert docs_gen.main(["--check"]) == 0, "run: python -m jax2onnx_hlo.docs_gen [--collect]"


def test_ruff_clean():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the test extras: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_demo_command_exports_and_validates(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mlp" in out and "cnn" in out and "MISMATCH" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx", "mlp.onnx"]


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "jax2onnx_hlo", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout


@pytest.mark.parametrize("argv", [["nonsense"], []])
def test_bad_command_line_exits_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
