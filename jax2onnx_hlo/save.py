"""Return modes, export modes and writing models to disk atomically.

export_mode="standard": initializers over EXTERNAL_DATA_THRESHOLD bytes go to a sidecar
`<file>.data` next to the model (none is written when no initializer is that large).
export_mode="web": one self-contained file, as onnxruntime-web loads it; protobuf caps a
file at 2 GB. Either way the files are staged in a temporary folder beside the target and
renamed into place, and a sidecar the new model does not use is removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import onnx_ir as ir

__all__ = ["EXPORT_MODES", "EXTERNAL_DATA_THRESHOLD", "RETURN_MODES", "WEB_SIZE_LIMIT",
           "check_export_mode", "check_return_mode", "deliver", "sidecar_path",
           "write_model_atomically", "write_text_atomically"]

RETURN_MODES = ("proto", "ir", "file")
EXPORT_MODES = ("standard", "web")
EXTERNAL_DATA_THRESHOLD = 1 << 20  # bytes: larger initializers go to the .data sidecar
WEB_SIZE_LIMIT = (1 << 31) - 1  # protobuf cannot serialize a message of 2 GB or more


def check_return_mode(return_mode: str, output_path: str | os.PathLike | None) -> None:
    if return_mode not in RETURN_MODES:
        raise ValueError(
            f"return_mode={return_mode!r} is not one of {', '.join(map(repr, RETURN_MODES))}"
        )
    if return_mode == "file" and output_path is None:
        raise ValueError('return_mode="file" needs output_path, the .onnx file to write')
    if output_path is not None and Path(output_path).is_dir():
        raise ValueError(f"output_path {str(output_path)!r} is a directory; give a file path")


def deliver(model: ir.Model, return_mode: str, output_path: str | os.PathLike | None,
            export_mode: str = "standard"):
    """The model as the caller asked for it: a ModelProto, the onnx_ir Model, or a path."""
    if output_path is not None:
        write_model_atomically(model, Path(output_path), export_mode)
    if return_mode == "ir":
        return model
    if return_mode == "file":
        return str(output_path)
    return ir.serde.serialize_model(model)


def check_export_mode(export_mode: str) -> None:
    if export_mode not in EXPORT_MODES:
        raise ValueError(f"export_mode={export_mode!r} is not one of {EXPORT_MODES}")


def sidecar_path(path: Path) -> Path:
    """Where a standard export keeps its large initializers: `<file>.data`."""
    return path.with_name(f"{path.name}.data")


def write_model_atomically(model: ir.Model, path: Path, export_mode: str = "standard") -> None:
    """Writes the model (and its sidecar, in standard mode) to `path`: a failure leaves
    the files that were there before, and no partial or stale new one."""
    check_export_mode(export_mode)
    sidecar = sidecar_path(path)
    external = export_mode == "standard" and _largest_initializer(model) > EXTERNAL_DATA_THRESHOLD
    if not external:
        write_bytes_atomically(path, _single_file(model, path, export_mode))
        sidecar.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Model and sidecar are staged together, then moved in sidecar first.
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as staging:
        staged = Path(staging) / path.name
        ir.save(model, staged, format="protobuf", external_data=sidecar.name,
                size_threshold_bytes=EXTERNAL_DATA_THRESHOLD)
        os.replace(staged.with_name(sidecar.name), sidecar)
        os.replace(staged, path)


def _largest_initializer(model: ir.Model) -> int:
    return max((v.const_value.nbytes for v in model.graph.initializers.values()
                if v.const_value is not None), default=0)


def _single_file(model: ir.Model, path: Path, export_mode: str) -> bytes:
    """The serialized model, or a clear error when it cannot fit one protobuf file."""
    weights = sum(v.const_value.nbytes for v in model.graph.initializers.values()
                  if v.const_value is not None)
    data = b"" if weights > WEB_SIZE_LIMIT else (
        ir.serde.serialize_model(model).SerializeToString())
    size = max(weights, len(data))
    if size > WEB_SIZE_LIMIT:
        hint = ('use export_mode="standard", which keeps large weights in a .data sidecar'
                if export_mode == "web" else "the weights are too large for one file")
        raise ValueError(
            f"{path.name}: the model needs {size / 2**30:.2f} GiB ({size} bytes) in one "
            f"file, over protobuf's limit of {WEB_SIZE_LIMIT} bytes; {hint}"
        )
    return data


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
