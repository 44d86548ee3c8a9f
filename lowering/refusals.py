"""Ops without an ONNX lowering on purpose, and why.

The walker's up-front scan appends these reasons to the ops it reports, and
docs/coverage.md shows them, so a user learns why and what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMPLEX", "refusal_for"]

COMPLEX = "on complex values"  # the scan reports `<op> on complex values`


@dataclass(frozen=True)
class Refusal:
    reason: str
    names: tuple[str, ...] = ()  # exact registry keys
    markers: tuple[str, ...] = ()  # substrings of a custom call target, lower case


_NO_COMPLEX = (
    "complex numbers are supported as float (real, imag) pairs, but this op has no rule for "
    "complex operands (lowering/complex_*.py lists the ones that do: arithmetic, exp, log, "
    "sqrt, abs, shape ops, sums, dot_general, fft, ...); rewrite it on jnp.real / jnp.imag "
    "parts, or open an issue with this message"
)


def _ops(*names: str) -> tuple[str, ...]:
    return tuple(f"stablehlo.{n}" for n in names)


REFUSALS = [
    Refusal("collectives: one ONNX model runs on one device",
            names=_ops("all_gather", "all_reduce", "all_to_all", "collective_broadcast",
                       "collective_permute", "cross-replica-sum", "reduce_scatter",
                       "partition_id", "replica_id")),
    Refusal("host communication and tokens have no ONNX counterpart",
            names=_ops("infeed", "outfeed", "send", "recv", "after_all", "create_token")),
    Refusal("async execution is XLA scheduling only", names=_ops("async_start", "async_done")),
    Refusal("tuples: JAX does not emit them in exported functions",
            names=_ops("tuple", "get_tuple_element")),
    Refusal("training-only batch norm (inference batch norm arrives as elementwise ops)",
            names=_ops("batch_norm_grad", "batch_norm_training")),
    Refusal("a legacy op that JAX no longer emits",
            names=_ops("broadcast", "dot", "einsum", "unary_einsum", "torch_index_select",
                       "map", "if", "rng", "set_dimension_size", "batch_norm_inference")),
    Refusal("quantized types: ONNX has no uniform quantized tensor type",
            names=_ops("uniform_quantize", "uniform_dequantize")),
    Refusal("erfc has a rule only inside jax.nn.gelu(approximate=False) on float32 (1 - erf "
            "loses its precision elsewhere); convert the program's jax.export artifact "
            "(to_onnx does), which decomposes erfc into StableHLO",
            names=("chlo.erfc",)),
    Refusal("a GPU/TPU-only kernel: export for the CPU platform, "
            "jax.export.export(jax.jit(f), platforms=['cpu']), which lowers the same code "
            "without it",
            markers=("cudnn", "cublas", "cusolver", "cusparse", "cufft", "cu_", "triton",
                     "__gpu$", "gpu_", "hipsolver", "hipblas", "miopen", "rocm",
                     "tpu_custom_call", "mosaic")),
]

# JAX's LAPACK custom calls (lapack_{s,d,c,z}<routine>_ffi) by the jax function behind them.
_LAPACK = {
    "potrf": "cholesky", "trsm": "triangular_solve", "getrf": "lu", "geqrf": "qr",
    "geqp3": "qr with pivoting", "orgqr": "qr", "ungqr": "qr", "ormqr": "qr",
    "unmqr": "qr", "syevd": "eigh", "heevd": "eigh", "geev": "eig", "gees": "schur",
    "gehrd": "hessenberg", "sytrd": "tridiagonal", "hetrd": "tridiagonal",
    "gesdd": "svd", "gesvd": "svd", "gtsv": "tridiagonal_solve",
}


def _lapack_reason(target: str) -> str | None:
    routine = target.removeprefix("lapack_")[1:].removesuffix("_ffi")
    if not target.startswith("lapack_") or routine not in _LAPACK:
        return None
    return (f"JAX's LAPACK call for jnp.linalg / lax.linalg {_LAPACK[routine]}; ONNX has no "
            "linear-algebra ops to map it to. Compute it outside the model and pass the "
            "result in, or write the algorithm with jnp ops (e.g. an unblocked Cholesky in "
            "lax.fori_loop), which converts")


def refusal_for(key: str) -> str | None:
    """Why the op with this registry key (or `<op> on complex values`) is not lowered."""
    if key.endswith(COMPLEX):
        return refusal_for(key.removesuffix(f" {COMPLEX}")) or _NO_COMPLEX
    target = key.split("@", 1)[1] if "@" in key else None
    for refusal in REFUSALS:
        if key in refusal.names:
            return refusal.reason
        if target and any(m in target.lower() for m in refusal.markers):
            return refusal.reason
    return _lapack_reason(target) if target else None
