"""`python -m benchmarks`: the zoo benchmark, and the scaling and large-model ones on flags.

    python -m benchmarks                        # every zoo model, full size
    python -m benchmarks --models mlp,cnn --tiny
    python -m benchmarks --scaling              # MLPs of 16..1024 layers
    python -m benchmarks --large                # ~1B-parameter decoder (needs ~12 GB RAM)
    python -m benchmarks --large --large-params 1e8 --no-zoo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .harness import run_large, run_scaling, run_zoo, write_reports
from .zoo import ZOO

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ZOO),
                        help=f"comma-separated zoo models (default: all of {', '.join(ZOO)})")
    parser.add_argument("--tiny", action="store_true", help="tiny model sizes (smoke run)")
    parser.add_argument("--no-zoo", action="store_true", help="skip the zoo benchmark")
    parser.add_argument("--scaling", action="store_true", help="run the scaling benchmark")
    parser.add_argument("--scaling-layers", default="16,64,256,1024")
    parser.add_argument("--large", action="store_true", help="run the large-model benchmark")
    parser.add_argument("--large-params", type=float, default=1e9,
                        help="parameter count of the large model (default 1e9)")
    parser.add_argument("--opset", type=int, default=23)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)

    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(ZOO))
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(ZOO)}")
    written = []
    if not args.no_zoo:
        written += write_reports(run_zoo(names, args.tiny, opset=args.opset), args.out,
                                 "zoo_tiny" if args.tiny else "zoo")
    if args.scaling:
        layers = [int(n) for n in args.scaling_layers.split(",")]
        written += write_reports(run_scaling(layers), args.out, "scaling")
    if args.large:
        written += write_reports(run_large(args.large_params), args.out, "large")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
