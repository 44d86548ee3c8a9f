"""Measurements: conversion time and memory, graph size, ONNX Runtime and jax.jit latency,
accuracy; the scaling and large-model benchmarks; JSON, markdown and PNG reports."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np
import onnx
import onnxruntime as ort
from flax import nnx

import jax2onnx_hlo
from jax2onnx_hlo import to_onnx

from .zoo import ZOO, build

__all__ = ["machine", "run_large", "run_scaling", "run_zoo", "write_reports"]

BATCHES = (1, 8)


def rss_bytes() -> int:
    """The process's resident set size (psutil when installed, else /proc)."""
    if importlib.util.find_spec("psutil") is not None:
        import psutil

        return psutil.Process().memory_info().rss
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples the process's resident memory in a thread: peak above the start, in bytes."""

    def __init__(self, interval_s: float = 0.002):
        self._interval = interval_s
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.start = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self._interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def delta(self) -> int:
        return self.peak - self.start


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(), "jax": jax.__version__,
        "onnxruntime": ort.__version__, "onnx": onnx.__version__,
        "jax2onnx_hlo": jax2onnx_hlo.__version__,
    }


def median_latencies_ms(runs: dict[str, Callable[[], Any]], min_runs: int = 5,
                        max_runs: int = 100, budget_s: float = 4.0) -> dict[str, float]:
    """Median wall time of each run(), after one warm-up call each, the runs taking turns
    (A B, B A, ...) within a time budget: a ratio of two is measured side by side, under
    the same load of a shared machine, which drifts between measurements taken apart."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    start = time.perf_counter()
    rounds = 0
    while rounds < max_runs and (rounds < min_runs or time.perf_counter() - start < budget_s):
        for name in order:
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
        order.reverse()
        rounds += 1
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def node_count(model: onnx.ModelProto) -> int:
    """Nodes of the main graph, its subgraphs and its functions."""
    def count(nodes) -> int:
        total = 0
        for node in nodes:
            total += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    total += count(attr.g.node)
                total += sum(count(g.node) for g in attr.graphs)
        return total
    return count(model.graph.node) + sum(count(f.node) for f in model.functions)


def jitted(model: Any) -> Callable[..., Any]:
    """jax.jit of the model, an nnx module's state passed as an argument (not baked in)."""
    if isinstance(model, nnx.Module):
        graphdef, state = nnx.split(model)
        fn = jax.jit(lambda state, *args: nnx.merge(graphdef, state)(*args))
        return lambda *args: fn(state, *args)
    fn = jax.jit(lambda *args: model(*args))
    return fn


def _run_jax(fn: Callable[..., Any], inputs: list[np.ndarray]) -> list[np.ndarray]:
    return _block(fn(*inputs))


def _block(tree: Any) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.block_until_ready(tree))]


def ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


CONVERT_REPEATS = 5


def specs_of(inputs: Sequence[np.ndarray]) -> list[jax.ShapeDtypeStruct]:
    return [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in inputs]


def measure_converters(converters: dict[str, Callable[[list[jax.ShapeDtypeStruct]],
                                                       onnx.ModelProto]],
                       model: Any, make_inputs: Callable[[int], list[np.ndarray]],
                       repeats: int = CONVERT_REPEATS) -> dict[str, dict[str, Any]]:
    """Per converter: conversion (at batch 8) time, memory and size; ORT latency per batch;
    max abs diff; or the error it raised.

    Every converter gets the same ShapeDtypeStructs and returns a ModelProto with the
    weights inside. Each first converts at every batch (batch 1 first, so that the timed
    conversions are warm: imports, JAX's caches of the model's primitives), which gives the
    peak memory (of the batch-8 conversion), the graph and the ORT numbers. Then the timed
    batch-8 conversions alternate between the converters (A B, B A, A B, ...) and convert_s
    is the median of each one's `repeats`: a large model's conversion time is mostly the
    copy of its weights into the protobuf, whose speed depends on whether the allocator
    has freed memory at hand (that the previous conversion left) or must fault in fresh
    pages, so neither converter may always run after the other.
    """
    jax_fn = jitted(model)
    results: dict[str, dict[str, Any]] = {name: {} for name in converters}
    for batch in BATCHES:
        inputs = make_inputs(batch)
        specs = specs_of(inputs)
        for name, convert in converters.items():
            result = results[name]
            if "error" in result:
                continue
            gc.collect()
            try:  # a benchmark reports a failing converter (or model) and goes on
                result.update(_convert_and_run(convert, specs, inputs, jax_fn, batch))
            except Exception as e:
                result["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    working = [name for name in converters if "error" not in results[name]]
    specs = specs_of(make_inputs(BATCHES[-1]))
    times: dict[str, list[float]] = {name: [] for name in working}
    for round_ in range(repeats):
        for name in working if round_ % 2 == 0 else working[::-1]:
            gc.collect()
            start = time.perf_counter()
            proto = converters[name](specs)
            times[name].append(time.perf_counter() - start)
            del proto
    for name in working:
        results[name].update(convert_s=statistics.median(times[name]),
                             convert_runs_s=times[name])
    return results


def _convert_and_run(convert: Callable[[list[jax.ShapeDtypeStruct]], onnx.ModelProto],
                     specs: list[jax.ShapeDtypeStruct], inputs: list[np.ndarray],
                     jax_fn: Callable[..., Any], batch: int) -> dict[str, Any]:
    """One untimed conversion: its ORT latency and jax.jit's, measured in turns, and at the
    last batch its peak memory, graph size and max abs difference from jax.jit."""
    result: dict[str, Any] = {}
    last = batch == BATCHES[-1]
    with PeakRSS() as memory:
        proto = convert(specs)
    if last:
        result.update(convert_peak_mb=memory.delta / 2**20, nodes=node_count(proto),
                      file_mb=proto.ByteSize() / 2**20)
    session = ort_session(proto)
    feeds = _feeds(session, inputs)
    latencies = median_latencies_ms({"ort": partial(session.run, None, feeds),
                                     "jax": partial(_run_jax, jax_fn, inputs)})
    result[f"ort_ms_b{batch}"], result[f"jax_ms_b{batch}"] = latencies["ort"], latencies["jax"]
    if last:
        result["max_abs_diff"] = _max_abs_diff(session, jax_fn, inputs)
    return result


def _feeds(session: ort.InferenceSession, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    return dict(zip([i.name for i in session.get_inputs()], inputs))


def _max_abs_diff(session: ort.InferenceSession, jax_fn: Callable[..., Any],
                  inputs: list[np.ndarray]) -> float:
    """The largest difference of any output element between ONNX Runtime and jax.jit."""
    got, want = session.run(None, _feeds(session, inputs)), _block(jax_fn(*inputs))
    return max(float(np.max(np.abs(g.astype(np.float64) - w))) for g, w in zip(got, want))


DYNAMIC_REPEATS = 3


def measure_dynamic_batch(model: Any, make_inputs: Callable[[int], list[np.ndarray]],
                          opset: int = 23) -> dict[str, Any]:
    """The model exported once with its batch a symbolic dim ("B"), as most deployments
    want it: conversion time (median of DYNAMIC_REPEATS), nodes, its ORT latency at the
    last batch over that of the graph exported at that fixed batch (the two taken in
    turns), and its max abs difference from jax.jit at every batch of BATCHES."""
    inputs = make_inputs(BATCHES[-1])
    specs = [jax.ShapeDtypeStruct(("B", *x.shape[1:]), x.dtype) for x in inputs]
    times = []
    try:
        for _ in range(DYNAMIC_REPEATS):
            gc.collect()
            start = time.perf_counter()
            proto = to_onnx(model, specs, opset=opset)
            times.append(time.perf_counter() - start)
    except Exception as e:  # not batch-polymorphic (a reshape to a fixed batch, say)
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    session, fixed = ort_session(proto), ort_session(to_onnx(model, specs_of(inputs),
                                                             opset=opset))
    jax_fn = jitted(model)
    diff = max(_max_abs_diff(session, jax_fn, make_inputs(batch)) for batch in BATCHES)
    feeds = _feeds(session, inputs)
    latencies = median_latencies_ms({"dynamic": partial(session.run, None, feeds),
                                     "fixed": partial(fixed.run, None, feeds)})
    last = BATCHES[-1]
    return {"convert_s": statistics.median(times), "nodes": node_count(proto),
            f"ort_ms_b{last}": latencies["dynamic"], f"fixed_ort_ms_b{last}": latencies["fixed"],
            f"ort_over_fixed_b{last}": latencies["dynamic"] / latencies["fixed"],
            "max_abs_diff": diff}


def measure_model(name: str, tiny: bool, opset: int = 23) -> dict[str, Any]:
    model, make_inputs = build(name, tiny)
    row: dict[str, Any] = {"model": name, "library": ZOO[name].library}
    row["params_m"] = sum(np.size(x) for x in _weights(model)) / 1e6
    converters = {"jax2onnx_hlo": lambda specs: to_onnx(model, specs, opset=opset)}
    if importlib.util.find_spec("jax2onnx") is not None:
        import jax2onnx

        converters["jax2onnx"] = lambda specs: jax2onnx.to_onnx(model, specs)
    measured = measure_converters(converters, model, make_inputs)
    row.update(measured["jax2onnx_hlo"])
    if "error" not in row:
        for batch in BATCHES:
            row[f"ort_over_jax_b{batch}"] = row[f"ort_ms_b{batch}"] / row[f"jax_ms_b{batch}"]
    if "error" not in row:
        dynamic = row["dynamic_batch"] = measure_dynamic_batch(model, make_inputs, opset)
        if "convert_s" in dynamic:
            dynamic["convert_over_fixed"] = dynamic["convert_s"] / row["convert_s"]
            dynamic["nodes_over_fixed"] = dynamic["nodes"] / row["nodes"]
    if "jax2onnx" in measured:
        other = row["jax2onnx"] = measured["jax2onnx"]
        if "convert_s" in row and "convert_s" in other:
            other["convert_speedup"] = other["convert_s"] / row["convert_s"]
            other["nodes_ratio"] = row["nodes"] / other["nodes"]
    return row


def _weights(model: Any) -> list[Any]:
    if isinstance(model, nnx.Module):
        return jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))
    closure = getattr(model, "__closure__", None) or ()  # haiku/linen apply lambdas
    leaves = jax.tree_util.tree_leaves([c.cell_contents for c in closure
                                        if not callable(c.cell_contents)])
    return leaves or [x for x in jax.tree_util.tree_leaves(model) if hasattr(x, "shape")]


def run_zoo(names: Sequence[str], tiny: bool, log: Callable[[str], None] = print,
            opset: int = 23) -> dict[str, Any]:
    to_onnx(lambda x: x + 1, [(2,)])  # imports and first-use costs off the clock
    if importlib.util.find_spec("jax2onnx") is not None:
        import jax2onnx

        jax2onnx.to_onnx(lambda x: x + 1, [jax.ShapeDtypeStruct((2,), np.float32)])
    rows = []
    for name in names:
        log(f"[zoo] {name}{' (tiny)' if tiny else ''} ...")
        rows.append(measure_model(name, tiny, opset))
        log(f"[zoo] {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in rows[-1].items()
                                           if k not in ("model", "library")))
    jax2onnx_note = ("jax2onnx installed: compared" if importlib.util.find_spec("jax2onnx")
                     else "jax2onnx is not installed: no comparison (pip install jax2onnx)")
    return {"machine": machine(), "tiny": tiny, "opset": opset, "jax2onnx": jax2onnx_note,
            "models": rows}


# --- scaling --------------------------------------------------------------------------

def run_scaling(layers: Sequence[int] = (16, 64, 256, 1024), width: int = 64,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Conversion time per ONNX node for deep MLPs; linear when time/node stays flat."""
    to_onnx(lambda x: x + 1, [(2,)])
    points = []
    for depth in layers:
        model = _deep_mlp(depth, width)
        start = time.perf_counter()
        proto = to_onnx(model, [(8, width)])
        seconds = time.perf_counter() - start
        nodes = node_count(proto)
        points.append({"layers": depth, "nodes": nodes, "convert_s": seconds,
                       "us_per_node": seconds / nodes * 1e6})
        log(f"[scaling] {depth} layers: {nodes} nodes in {seconds:.2f} s "
            f"({points[-1]['us_per_node']:.0f} us/node)")
    nodes = np.array([p["nodes"] for p in points], dtype=float)
    seconds = np.array([p["convert_s"] for p in points])
    slope, intercept = np.polyfit(nodes, seconds, 1)
    fitted = slope * nodes + intercept
    r2 = 1 - np.sum((seconds - fitted) ** 2) / max(np.sum((seconds - seconds.mean()) ** 2),
                                                     1e-30)
    # log-log slope: 1.0 is linear, 2.0 quadratic
    exponent = float(np.polyfit(np.log(nodes), np.log(seconds), 1)[0])
    return {"machine": machine(), "points": points, "us_per_node_fit": slope * 1e6,
            "r2_linear": float(r2), "loglog_exponent": exponent,
            "linear": bool(exponent < 1.2)}


def _deep_mlp(depth: int, width: int):
    class Deep(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(depth)])

        def __call__(self, x):
            for layer in self.layers:
                x = nnx.relu(layer(x))
            return x
    return Deep(nnx.Rngs(0))


# --- large model ----------------------------------------------------------------------

def _decoder_shape(params: float) -> tuple[int, int, int]:
    """(dim, depth, vocab) of a GPT-style decoder of about `params` parameters."""
    vocab = 32000
    for dim, depth in ((2048, 20), (1536, 16), (1024, 12), (768, 10), (512, 8), (256, 4),
                       (128, 2)):
        if 12 * dim * dim * depth + vocab * dim <= params * 1.15:
            return dim, depth, vocab
    return 64, 2, 1000


def run_large(params: float = 1e9, length: int = 64, log: Callable[[str], None] = print,
              out_dir: Path | None = None) -> dict[str, Any]:
    """Exports a decoder of ~`params` random weights to a file (standard mode): peak memory
    against the weights' size, time against numpy.save of the same weights."""
    from .zoo import TextTransformer

    dim, depth, vocab = _decoder_shape(params)
    model = TextTransformer(vocab, length, dim, depth, max(dim // 64, 1), causal=True,
                            rngs=nnx.Rngs(0))
    weights = jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))
    weight_bytes = sum(w.size * w.dtype.itemsize for w in weights)
    log(f"[large] decoder dim={dim} depth={depth} vocab={vocab}: "
        f"{sum(w.size for w in weights) / 1e6:.0f}M params, {weight_bytes / 2**30:.2f} GiB")
    result: dict[str, Any] = {"machine": machine(), "dim": dim, "depth": depth,
                              "vocab": vocab, "params": int(sum(w.size for w in weights)),
                              "weight_gb": weight_bytes / 2**30}
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        arrays = [np.asarray(w) for w in weights]
        start = time.perf_counter()
        np.savez(Path(tmp) / "weights.npz", *arrays)  # numpy.save of every weight, one file
        result["numpy_save_s"] = time.perf_counter() - start
        del arrays
        (Path(tmp) / "weights.npz").unlink()
        path = Path(tmp) / "large.onnx"
        with PeakRSS() as memory:
            start = time.perf_counter()
            try:
                to_onnx(model, [jax.ShapeDtypeStruct((1, length), np.int32)],
                        return_mode="file", output_path=path)
                result["file_gb"] = path.stat().st_size / 2**30
            except Exception as e:
                result["error"] = f"{type(e).__name__}: {str(e)[:400]}"
            result["convert_s"] = time.perf_counter() - start
        result["convert_peak_gb"] = memory.delta / 2**30
    result["memory_over_weights"] = result["convert_peak_gb"] / result["weight_gb"]
    result["time_over_numpy_save"] = result["convert_s"] / result["numpy_save_s"]
    result["goals_met"] = ("error" not in result and result["memory_over_weights"] < 1.5
                           and result["time_over_numpy_save"] < 3.0)
    log("[large] " + ", ".join(f"{k}={_fmt(v)}" for k, v in result.items() if k != "machine"))
    return result


# --- reports --------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


_COLUMNS = [("model", "model"), ("library", "library"), ("params_m", "params (M)"),
            ("convert_s", "convert (s)"), ("convert_peak_mb", "convert peak (MB)"),
            ("nodes", "nodes"), ("file_mb", "file (MB)"), ("ort_ms_b1", "ORT b1 (ms)"),
            ("jax_ms_b1", "jit b1 (ms)"), ("ort_over_jax_b1", "ORT/jit b1"),
            ("ort_ms_b8", "ORT b8 (ms)"), ("jax_ms_b8", "jit b8 (ms)"),
            ("ort_over_jax_b8", "ORT/jit b8"), ("max_abs_diff", "max abs diff")]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# jax2onnx_hlo benchmarks" + (" (tiny sizes)" if results["tiny"] else ""), "",
        f"Machine: {m['processor']}, {m['cpus']} CPUs, {m['memory_gb']} GB; {m['platform']}; "
        f"jax {m['jax']}, onnxruntime {m['onnxruntime']}, opset {results['opset']}.", "",
        f"{results['jax2onnx']}.", "",
        "| " + " | ".join(title for _, title in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for row in results["models"]:
        lines.append("| " + " | ".join(_fmt(row.get(key, "")) for key, _ in _COLUMNS) + " |")
    errors = [f"- {r['model']}: {r['error']}" for r in results["models"] if "error" in r]
    if errors:
        lines += ["", "Failures:", *errors]
    compared = [r for r in results["models"] if "jax2onnx" in r]
    if compared:
        lines += ["", "| model | jax2onnx convert (s) | speedup | jax2onnx nodes | node ratio |",
                  "|---|---|---|---|---|"]
        for r in compared:
            o = r["jax2onnx"]
            lines.append(f"| {r['model']} | {_fmt(o.get('convert_s', o.get('error')))} | "
                         f"{_fmt(o.get('convert_speedup', ''))} | {_fmt(o.get('nodes', ''))} "
                         f"| {_fmt(o.get('nodes_ratio', ''))} |")
    dynamic = [r for r in results["models"] if "dynamic_batch" in r]
    if dynamic:
        last = BATCHES[-1]
        lines += ["", 'Exported with a symbolic batch ("B"), against the fixed-batch export above:',
                  "", "| model | convert (s) | over fixed | nodes | over fixed | "
                  f"ORT b{last} (ms) | over fixed graph | max abs diff |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in dynamic:
            d = r["dynamic_batch"]
            if "error" in d:
                lines.append(f"| {r['model']} | {d['error']} |  |  |  |  |  |  |")
                continue
            lines.append(" | ".join([f"| {r['model']}"] + [_fmt(d[k]) for k in (
                "convert_s", "convert_over_fixed", "nodes", "nodes_over_fixed",
                f"ort_ms_b{last}", f"ort_over_fixed_b{last}", "max_abs_diff")]) + " |")
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> bool:
    """ORT vs jax.jit latency per model at batch 1 and 8 (log scale); False without
    matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["models"] if "ort_ms_b8" in r]
    x = np.arange(len(rows))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(rows)), 4.5))
    for i, (key, label) in enumerate([("ort_ms_b1", "ORT b1"), ("jax_ms_b1", "jit b1"),
                                      ("ort_ms_b8", "ORT b8"), ("jax_ms_b8", "jit b8")]):
        ax.bar(x + (i - 1.5) * 0.2, [r[key] for r in rows], 0.2, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("median latency (ms)")
    ax.set_xticks(x, [r["model"] for r in rows], rotation=30, ha="right")
    ax.legend()
    ax.set_title("CPU latency")
    ax2.bar(x, [r["convert_s"] for r in rows], 0.5, color="tab:gray")
    ax2.set_ylabel("conversion (s)")
    ax2.set_xticks(x, [r["model"] for r in rows], rotation=30, ha="right")
    ax2.set_title("conversion time")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_reports(results: dict[str, Any], out_dir: Path, stem: str = "zoo") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{stem}.json"]
    written[0].write_text(json.dumps(results, indent=2, default=_fmt) + "\n")
    if "models" in results:
        written.append(out_dir / f"{stem}.md")
        written[-1].write_text(markdown(results))
        if chart(results, out_dir / f"{stem}.png"):
            written.append(out_dir / f"{stem}.png")
    return written
