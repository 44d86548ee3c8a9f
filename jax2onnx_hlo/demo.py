"""The README's main job: export the built-in examples, validate them, print a table."""

from __future__ import annotations

import time
from pathlib import Path

import onnx

from .api import to_onnx
from .examples import EXAMPLES
from .validate import allclose

__all__ = ["run_demo"]


def _node_count(model: onnx.ModelProto) -> int:
    return len(model.graph.node) + sum(len(f.node) for f in model.functions)


def run_demo(out_dir: str | Path = "demo_models", *, rtol: float = 1e-3,
             atol: float = 1e-5) -> bool:
    """Exports each example into `out_dir`, checks it against JAX; True if all match."""
    out_dir = Path(out_dir)
    rows, all_ok = [], True
    for example in EXAMPLES:
        model = example.build()
        path = out_dir / f"{example.name}.onnx"
        start = time.perf_counter()
        to_onnx(model, example.inputs, model_name=example.name, return_mode="file",
                output_path=path)
        seconds = time.perf_counter() - start
        ok, message = allclose(model, path, example.inputs, rtol=rtol, atol=atol)
        all_ok &= ok
        max_abs = max(float(part.split("max abs ")[1].split(",")[0])
                      for part in message.splitlines())
        rows.append((example.name, _node_count(onnx.load(str(path))),
                     f"{path.stat().st_size / 1024:.1f} KiB", f"{max_abs:.2e}",
                     f"{seconds:.2f} s", "ok" if ok else "MISMATCH"))
        if not ok:
            print(f"{example.name}: ONNX Runtime disagrees with JAX:\n{message}")
    _print_table(("model", "nodes", "file size", "max abs diff", "convert", "check"), rows)
    print(f"models written to {out_dir.resolve()}")
    return all_ok


def _print_table(header: tuple[str, ...], rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for i, row in enumerate([header, *rows]):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
