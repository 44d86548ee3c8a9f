"""The `jax2onnx-hlo` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jax2onnx-hlo", description="Convert JAX programs to ONNX via StableHLO."
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="export the built-in example models and check them in ONNX Runtime"
    )
    demo.add_argument("-o", "--out-dir", default="demo_models", help="where to write models")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return 0 if run_demo(args.out_dir) else 1
    except Exception as e:  # one clear line unless asked for the traceback
        if args.verbose:
            raise
        print(f"jax2onnx-hlo: error: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
