"""The `jax2onnx-hlo` command: `convert` and `inspect` saved StableHLO, and `demo`.

Exit codes: 0 success, 1 the conversion (or --check) failed, 2 bad input (a missing or
unreadable file, a directory as output, bad arguments). Errors are one line on stderr;
`--verbose` shows the traceback. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """An argument the command cannot use: reported with exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # bad arguments: usage on stderr, SystemExit(2)
    commands = {"demo": _demo, "convert": _convert, "inspect": _inspect}
    try:
        return commands[args.command](args)
    except Exception as e:
        if args.verbose:
            raise
        code = EXIT_BAD_INPUT if _is_bad_input(e) else EXIT_FAILED
        print(f"jax2onnx-hlo: error: {_one_line(e)}", file=sys.stderr)
        return code


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    parser = argparse.ArgumentParser(
        prog="jax2onnx-hlo", description="Convert JAX programs to ONNX via StableHLO.",
        parents=[common],
    )
    parser.set_defaults(verbose=False)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", parents=[common],
        help="export the built-in example models and check them in ONNX Runtime",
    )
    demo.add_argument("-o", "--out-dir", default="demo_models", help="where to write models")
    from .api import SUPPORTED_OPSETS

    convert = commands.add_parser(
        "convert", parents=[common],
        help="convert a saved jax.export artifact (Exported.serialize()), .mlir or .mlirbc",
    )
    convert.add_argument("input", help="the saved module")
    convert.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    convert.add_argument("--opset", type=int, default=23, choices=SUPPORTED_OPSETS,
                         metavar="N", help="ONNX opset (18..23, default 23)")
    convert.add_argument("--web", action="store_true",
                         help="export for onnxruntime-web (export_mode='web')")
    convert.add_argument("--input-names", nargs="+", metavar="NAME",
                         help="graph input names, one per input")
    convert.add_argument("--output-names", nargs="+", metavar="NAME",
                         help="graph output names, one per output")
    convert.add_argument("--check", action="store_true",
                         help="run the model in ONNX Runtime on random inputs (symbolic "
                              "dims of size 2); for an artifact, compare with JAX")
    convert.add_argument("--rtol", type=float, default=1e-4, help="--check tolerance")
    convert.add_argument("--atol", type=float, default=1e-5, help="--check tolerance")
    inspect = commands.add_parser(
        "inspect", parents=[common],
        help="print a saved module's signature and its ops, with which convert",
    )
    inspect.add_argument("input", help="the saved module")
    return parser


def _is_bad_input(error: Exception) -> bool:
    from .module import UnreadableModuleError

    # ValueError: an option the converter refuses (names, opset); conversion failures
    # inside the walker arrive as ConversionError.
    return isinstance(error, (BadInput, OSError, UnreadableModuleError, ValueError))


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(line if line.endswith(":") or i == len(lines) - 1 else f"{line};"
                    for i, line in enumerate(lines))
    return text or type(error).__name__


def _progress(message: str) -> None:
    print(f"jax2onnx-hlo: {message}", file=sys.stderr, flush=True)


# ---- commands ----------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return EXIT_OK if run_demo(args.out_dir) else EXIT_FAILED


def _load(path: str):
    from .module import load_module

    start = time.perf_counter()
    _progress(f"loading {path}")
    loaded = load_module(Path(path))
    _progress(f"loaded {loaded.kind} ({sum(loaded.op_counts().values())} ops) in "
              f"{time.perf_counter() - start:.2f} s")
    return loaded


def _convert(args: argparse.Namespace) -> int:
    import onnx

    from .api import from_stablehlo

    output = Path(args.output)
    if output.is_dir():
        raise BadInput(f"output {args.output!r} is a directory; give the .onnx file to write")
    loaded = _load(args.input)
    start = time.perf_counter()
    _progress("converting to ONNX")
    from_stablehlo(loaded, opset=args.opset, return_mode="file", output_path=output,
                   input_names=args.input_names, output_names=args.output_names,
                   export_mode="web" if args.web else "standard")
    model = onnx.load(str(output))
    _progress(f"wrote {output} ({len(model.graph.node)} nodes, "
              f"{output.stat().st_size / 1024:.1f} KiB) in {time.perf_counter() - start:.2f} s")
    if args.check and not _check(model, loaded, args.rtol, args.atol):
        return EXIT_FAILED
    print(output)
    return EXIT_OK


def _check(model, loaded, rtol: float, atol: float) -> bool:
    """Runs the model in ONNX Runtime; compares with JAX when the input was an artifact."""
    import jax
    import onnx
    import onnxruntime as ort

    from .validate import compare_outputs

    onnx.checker.check_model(model, full_check=True)
    _progress("checking in ONNX Runtime on random inputs")
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feeds = {i.name: _random_input(i.type, seed) for seed, i in enumerate(model.graph.input)}
    got = session.run(None, feeds)
    if loaded.exported is None:
        _progress("ran in ONNX Runtime (raw StableHLO: no JAX reference to compare with)")
        return True
    exported = loaded.exported
    call_args, call_kwargs = jax.tree_util.tree_unflatten(exported.in_tree, list(feeds.values()))
    expected = jax.tree_util.tree_leaves(exported.call(*call_args, **call_kwargs))
    ok, message = compare_outputs(expected, got, rtol, atol,
                                  [o.name for o in model.graph.output])
    _progress(("matches JAX:\n" if ok else "DIFFERS from JAX:\n") + message)
    return ok


def _random_input(type_proto, seed: int) -> np.ndarray:
    """A random array of an ONNX input type; symbolic dims get size 2."""
    import onnx

    tensor = type_proto.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else 2 for d in tensor.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _inspect(args: argparse.Namespace) -> int:
    from .convert import ModuleLowering
    from .support import unsupported_ops

    loaded = _load(args.input)
    arg_types, result_types = loaded.signature()
    names, dims = loaded.arg_names(), loaded.dim_names()
    print(f"{args.input}: {loaded.kind}, entry @{loaded.entry}")
    if loaded.exported is not None:
        exported = loaded.exported
        print(f"  exported for {', '.join(exported.platforms)}; converting the cpu lowering")
    if loaded.dropped_tokens:
        print(f"  {loaded.dropped_tokens} effect token(s) dropped")
    print("inputs:")
    for i, (type_, name, named) in enumerate(zip(arg_types, names, dims)):
        symbolic = f"  dims {named}" if named else ""
        print(f"  {name or f'input_{i}'}: {type_}{symbolic}")
    print("outputs:")
    for i, type_ in enumerate(result_types):
        print(f"  output_{i}: {type_}")
    with loaded.context:
        missing = unsupported_ops(ModuleLowering(loaded.module, entry=loaded.entry))
    counts = loaded.op_counts()
    width = max((len(k) for k in counts), default=0)
    print(f"ops ({sum(counts.values())} in all, {len(counts)} kinds):")
    for key, count in sorted(counts.items()):
        status = f"NO RULE (first at {missing[key][1]})" if key in missing else "ok"
        print(f"  {key.ljust(width)}  {count:>5}  {status}")
    if missing:
        print(f"{len(missing)} op kind(s) have no lowering rule: conversion would fail")
    else:
        print("every op has a lowering rule")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
