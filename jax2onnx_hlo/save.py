"""Return modes and writing models to disk atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import onnx
import onnx_ir as ir

__all__ = ["RETURN_MODES", "deliver", "write_model_atomically", "write_text_atomically"]

RETURN_MODES = ("proto", "ir", "file")


def check_return_mode(return_mode: str, output_path: str | os.PathLike | None) -> None:
    if return_mode not in RETURN_MODES:
        raise ValueError(
            f"return_mode={return_mode!r} is not one of {', '.join(map(repr, RETURN_MODES))}"
        )
    if return_mode == "file" and output_path is None:
        raise ValueError('return_mode="file" needs output_path, the .onnx file to write')
    if output_path is not None and Path(output_path).is_dir():
        raise ValueError(f"output_path {str(output_path)!r} is a directory; give a file path")


def deliver(model: ir.Model, return_mode: str, output_path: str | os.PathLike | None):
    """The model as the caller asked for it: a ModelProto, the onnx_ir Model, or a path."""
    if output_path is not None:
        write_model_atomically(model, Path(output_path))
    if return_mode == "ir":
        return model
    if return_mode == "file":
        return str(output_path)
    return ir.serde.serialize_model(model)


def write_model_atomically(model: ir.Model, path: Path) -> None:
    """Writes the model to `path` atomically (see write_bytes_atomically)."""
    write_bytes_atomically(path, ir.serde.serialize_model(model).SerializeToString())


def write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Writes `path` through a temporary file in the same folder, so a failure leaves
    neither a partial file nor a stale one that looks new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        Path(tmp).write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike) -> onnx.ModelProto:
    return onnx.load(str(path))
