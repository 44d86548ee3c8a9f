"""`allclose_onnxruntime_web`: the model in onnxruntime-web (WASM), in Node.js or headless
Chromium, against ONNX Runtime CPU in Python; and finding the tools it needs."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax
import numpy as np
import onnx
import onnxruntime as ort

from .validate import _named_feeds, as_pairs, compare_outputs, sample_inputs

__all__ = ["NPM_PACKAGES", "allclose_onnxruntime_web", "find_node_modules"]

RUNNER_ENV = "JAX2ONNX_HLO_ONNXRUNTIME_WEB_RUNNER"
NODE_MODULES_ENV = "JAX2ONNX_HLO_NODE_MODULES"
CHROMIUM_ENV = "JAX2ONNX_HLO_CHROMIUM"
WEB_RUNNERS = ("node", "chrome")
# Pinned in the repo's package.json (tests check they agree); `npm ci` installs them.
NPM_PACKAGES = {"onnxruntime-web": "1.30.0", "playwright-core": "1.65.1"}
_WEB_DIR = Path(__file__).resolve().parent / "web"
_REPO_ROOT = _WEB_DIR.parent.parent
_DEFAULT_CHROMIUM = "/usr/bin/chromium"
_RUNNER_TIMEOUT_S = 600


def allclose_onnxruntime_web(
    onnx_model_path: str | os.PathLike,
    inputs: Sequence[Any],
    input_params: Mapping[str, Any] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    *,
    inputs_as_nchw: Sequence[int] | None = None,
    node_command: str = "node",
    runner: str | None = None,
) -> tuple[bool, str]:
    """Runs the model with ONNX Runtime (CPU) in Python and with onnxruntime-web's WASM
    backend, in Node.js (`runner="node"`) or in headless Chromium driven by playwright-core
    (`runner="chrome"`; default from $JAX2ONNX_HLO_ONNXRUNTIME_WEB_RUNNER, else "node"),
    and compares every output. `inputs` as for `allclose`. Returns (passed, message); when
    Node.js, the npm packages or Chromium are missing, (False, how to install them)."""
    runner = runner or os.environ.get(RUNNER_ENV) or "node"
    if runner not in WEB_RUNNERS:
        raise ValueError(f"runner={runner!r} is not one of {WEB_RUNNERS}")
    node_modules, chromium, missing = _web_tools(runner, node_command)
    if missing:
        return False, missing
    model_path = Path(onnx_model_path)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feeds = [as_pairs(a) for a in jax.tree_util.tree_leaves(sample_inputs(list(inputs)))]
    feeds += [as_pairs(v) for v in (input_params or {}).values()]
    named_feeds, problem = _named_feeds(session, feeds, inputs_as_nchw)
    if problem:
        return False, problem
    expected = session.run(None, named_feeds)
    names = [o.name for o in session.get_outputs()]
    with tempfile.TemporaryDirectory(prefix="jax2onnx_hlo_web_") as tmp:
        workdir = Path(tmp)
        _write_manifest(workdir, model_path, named_feeds)
        start = time.perf_counter()
        if runner == "node":
            command = [node_command, str(_WEB_DIR / "run_node.mjs"), tmp, str(node_modules)]
            error = _run_script(command, runner)
        else:
            with _serve(workdir, node_modules) as url:
                command = [node_command, str(_WEB_DIR / "run_chrome.mjs"), url, tmp,
                           str(node_modules), str(chromium)]
                error = _run_script(command, runner)
        seconds = time.perf_counter() - start
        if error:
            return False, error
        got = _read_outputs(workdir)
    header = f"onnxruntime-web ({runner}, {seconds:.1f} s) against ONNX Runtime CPU:"
    if sorted(got) != sorted(names):
        return False, f"{header}\noutputs {sorted(got)} in onnxruntime-web, {names} in CPU"
    ok, message = compare_outputs(expected, [got[n] for n in names], rtol, atol, names,
                                  labels=("onnxruntime-web", "ONNX Runtime CPU"))
    return ok, f"{header}\n{message}"


def find_node_modules() -> Path | None:
    """The node_modules holding onnxruntime-web: $JAX2ONNX_HLO_NODE_MODULES if set, else the
    repo root's (where `npm ci` puts it), else the nearest one from the working directory."""
    if os.environ.get(NODE_MODULES_ENV):
        return Path(os.environ[NODE_MODULES_ENV])
    for base in (_REPO_ROOT, Path.cwd(), *Path.cwd().parents):
        if (base / "node_modules" / "onnxruntime-web").is_dir():
            return base / "node_modules"
    return None


def _npm_install_hint() -> str:
    pinned = " ".join(f"{name}@{version}" for name, version in NPM_PACKAGES.items())
    if (_REPO_ROOT / "package.json").is_file():
        return (f"run `npm ci` in {_REPO_ROOT} (installs the versions pinned in its "
                f"package.json), or set {NODE_MODULES_ENV} to a node_modules folder "
                f"holding them (`npm install {pinned}`)")
    return (f"run `npm install {pinned}` in a folder and set {NODE_MODULES_ENV} to its "
            f"node_modules")


def _web_tools(runner: str, node_command: str) -> tuple[Path | None, str | None, str]:
    """(node_modules, chromium, what is missing and how to install it: '' if nothing)."""
    if shutil.which(node_command) is None:
        return None, None, (
            f"Node.js was not found (node_command={node_command!r}): install it with "
            f"`apt-get update && apt-get install -y nodejs npm` (Debian/Ubuntu) or from "
            f"https://nodejs.org/, then {_npm_install_hint()}"
        )
    node_modules = find_node_modules()
    needed = ["onnxruntime-web"] + (["playwright-core"] if runner == "chrome" else [])
    absent = [p for p in needed
              if node_modules is None or not (node_modules / p / "package.json").is_file()]
    if absent:
        where = f"in {node_modules}" if node_modules else "in any node_modules folder"
        return None, None, (
            f"the npm package(s) {', '.join(absent)} are not installed {where}: "
            f"{_npm_install_hint()}"
        )
    chromium = None
    if runner == "chrome":
        chromium = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or _DEFAULT_CHROMIUM
        if not os.access(chromium, os.X_OK):
            return None, None, (
                f"Chromium was not found at {chromium}: install Debian's with "
                f"`apt-get update && apt-get install -y chromium`, or set {CHROMIUM_ENV} to a "
                f"Chromium or Chrome binary"
            )
    return node_modules, chromium, ""


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        link.symlink_to(target.resolve())
    except OSError:
        shutil.copy(target, link)


def _write_manifest(workdir: Path, model_path: Path, feeds: Mapping[str, np.ndarray]) -> None:
    """The model (linked, with its external data files) and each input as raw
    little-endian bytes, described by manifest.json."""
    _link(model_path, workdir / "model.onnx")
    proto = onnx.load(str(model_path), load_external_data=False)
    external = sorted({
        entry.value
        for tensor in _graph_tensors(proto.graph)
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data if entry.key == "location"
    })
    for location in external:
        _link(model_path.parent / location, workdir / location)
    entries = []
    for i, (name, value) in enumerate(feeds.items()):
        file = f"input_{i}.bin"  # (np.ascontiguousarray would make a 0-d array 1-d)
        (workdir / file).write_bytes(value.astype(value.dtype.newbyteorder("<")).tobytes("C"))
        entries.append({"name": name, "dtype": value.dtype.name, "shape": list(value.shape),
                        "file": file})
    manifest = {"model": "model.onnx", "external_data": external, "inputs": entries}
    (workdir / "manifest.json").write_text(json.dumps(manifest))


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers and tensor attributes of a graph and its subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for subgraph in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                yield from _graph_tensors(subgraph)


def _read_outputs(workdir: Path) -> dict[str, np.ndarray]:
    entries = json.loads((workdir / "outputs.json").read_text())
    return {
        e["name"]: np.frombuffer((workdir / e["file"]).read_bytes(),
                                 dtype=np.dtype(e["dtype"]).newbyteorder("<"))
        .astype(np.dtype(e["dtype"])).reshape(e["shape"])
        for e in entries
    }


def _run_script(command: list[str], runner: str) -> str:
    """Runs a runner script; '' on success, else what went wrong."""
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=_RUNNER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"onnxruntime-web ({runner}) did not finish within {_RUNNER_TIMEOUT_S} s"
    if done.returncode != 0:
        return (f"onnxruntime-web ({runner}) could not run the model (exit "
                f"{done.returncode}):\n{done.stderr.strip()[-4000:]}")
    return ""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def _serve(workdir: Path, node_modules: Path) -> Iterator[str]:
    """Serves workdir with the page, run_model.mjs and ort's dist/ on a free localhost port;
    yields the page's URL."""
    for name in ("page.html", "run_model.mjs"):
        _link(_WEB_DIR / name, workdir / name)
    (workdir / "ort").symlink_to((node_modules / "onnxruntime-web" / "dist").resolve())
    handler = functools.partial(_QuietHandler, directory=str(workdir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
