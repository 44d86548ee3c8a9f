"""Every Python example in the README and docs/usage.md runs as written."""

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "usage.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)  # signatures are ```text blocks


def _examples():
    for doc in DOCS:
        for i, code in enumerate(BLOCK.findall(doc.read_text())):
            yield pytest.param(textwrap.dedent(code), id=f"{doc.name}-{i}")


@pytest.mark.parametrize("code", _examples())
def test_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write their files here
    exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})
