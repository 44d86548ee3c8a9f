"""Suite-wide hooks.

JAX2ONNX_HLO_OP_LOG=path: every StableHLO op a test converts is appended to `path` as
`op<TAB>test id`; `python -m jax2onnx_hlo.docs_gen --collect` uses this to record which
tests exercise which op (docs/op_tests.json, rendered into docs/coverage.md).
"""

import os

import pytest

from jax2onnx_hlo.convert import ModuleLowering

_OP_LOG = os.environ.get("JAX2ONNX_HLO_OP_LOG")


@pytest.fixture(autouse=_OP_LOG is not None)
def _log_converted_ops(monkeypatch, request):
    lower = ModuleLowering.lower

    def lower_and_log(self, *args, **kwargs):
        try:
            return lower(self, *args, **kwargs)
        finally:
            lines = "".join(f"{line.split(chr(9))[0]}\t{request.node.nodeid}\n"
                            for line in self.record)
            # One O_APPEND write per conversion, so parallel workers do not interleave.
            fd = os.open(_OP_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, lines.encode())
            finally:
                os.close(fd)

    monkeypatch.setattr(ModuleLowering, "lower", lower_and_log)
