"""`allclose`: does an exported model compute what the JAX function computes?"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort

from .specs import is_shape_tuple

__all__ = ["allclose", "compare_outputs", "sample_inputs"]

_SAMPLE_SEED = 0


def sample_inputs(inputs: Sequence[Any], dim_sizes: Mapping[str, int] | None = None,
                  seed: int = _SAMPLE_SEED) -> list[Any]:
    """Concrete arrays for `inputs`: arrays pass through, shape tuples and ShapeDtypeStructs
    are sampled (standard normal floats, small ints) with a fixed seed; named dims take
    their size from `dim_sizes` (default 2)."""
    rng = np.random.default_rng(seed)
    sizes = dict(dim_sizes or {})

    def concrete(shape) -> tuple[int, ...]:
        return tuple(sizes.get(d, 2) if isinstance(d, str) else int(d) for d in shape)

    def sample(entry):
        if isinstance(entry, (np.ndarray, jax.Array, np.generic)):
            return np.asarray(entry)
        if is_shape_tuple(entry):
            return rng.standard_normal(concrete(entry)).astype(np.float32)
        if isinstance(entry, jax.ShapeDtypeStruct):
            shape = concrete(tuple(str(d) if not isinstance(d, int) else d for d in entry.shape))
            dtype = np.dtype(entry.dtype)
            if dtype == np.bool_:
                return rng.random(shape) < 0.5
            if np.issubdtype(dtype, np.integer):
                return rng.integers(0, 4, size=shape).astype(dtype)
            return rng.standard_normal(shape).astype(dtype)
        return entry

    return [jax.tree_util.tree_map(sample, e, is_leaf=is_shape_tuple) for e in inputs]


def compare_outputs(expected: Sequence[Any], got: Sequence[np.ndarray], rtol: float,
                    atol: float, names: Sequence[str] | None = None) -> tuple[bool, str]:
    """(all close?, a message naming each output's max abs/rel error and worst index)."""
    names = list(names or [f"output {i}" for i in range(len(got))])
    if len(expected) != len(got):
        return False, f"JAX gives {len(expected)} outputs, the ONNX model {len(got)}"
    ok, lines = True, []
    for name, want, have in zip(names, expected, got):
        want, have = np.asarray(want), np.asarray(have)
        if want.shape != have.shape:
            ok = False
            lines.append(f"{name}: shape {have.shape} in ONNX, {want.shape} in JAX")
            continue
        if want.dtype != have.dtype:
            ok = False
            lines.append(f"{name}: dtype {have.dtype} in ONNX, {want.dtype} in JAX")
            continue
        w, h = want.astype(np.float64), have.astype(np.float64)
        close = np.isclose(h, w, rtol=rtol, atol=atol, equal_nan=True)
        error = np.where(np.isnan(w) & np.isnan(h), 0.0, np.abs(h - w))
        max_abs = float(np.nanmax(error)) if error.size else 0.0
        rel = error / np.maximum(np.abs(w), np.finfo(np.float64).tiny)
        max_rel = float(np.nanmax(rel)) if rel.size else 0.0
        if close.all():
            lines.append(f"{name}: ok (max abs {max_abs:.3g}, max rel {max_rel:.3g})")
            continue
        ok = False
        worst = np.unravel_index(int(np.nanargmax(np.where(close, -1.0, error))), w.shape)
        lines.append(
            f"{name}: {int((~close).sum())} of {close.size} values differ; max abs "
            f"{max_abs:.3g}, max rel {max_rel:.3g}; worst at index {tuple(map(int, worst))}: "
            f"ONNX {h[worst]!r}, JAX {w[worst]!r}"
        )
    return ok, "\n".join(lines)


def allclose(
    fn: Callable,
    onnx_model_path: str | os.PathLike,
    inputs: Sequence[Any],
    input_params: Mapping[str, Any] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    *,
    enable_double_precision: bool = False,
    inputs_as_nchw: Sequence[int] | None = None,
    outputs_as_nchw: Sequence[int] | None = None,
) -> tuple[bool, str]:
    """Runs `fn` under JAX and the model under ONNX Runtime (CPU) on the same inputs and
    compares every output. `inputs` are arrays, or shape tuples / ShapeDtypeStructs sampled
    with a fixed seed (named dims get size 2). Returns (passed, message)."""
    if inputs_as_nchw or outputs_as_nchw:
        raise NotImplementedError("inputs_as_nchw/outputs_as_nchw are not supported yet")
    with jax.enable_x64(enable_double_precision):
        args = sample_inputs(list(inputs))
        params = dict(input_params or {})
        expected = jax.tree_util.tree_leaves(jax.jit(plain_function(fn))(*args, **params))
    session = ort.InferenceSession(str(onnx_model_path), providers=["CPUExecutionProvider"])
    feeds = [np.asarray(jnp.asarray(a)) if not enable_double_precision else np.asarray(a)
             for a in jax.tree_util.tree_leaves(args)]
    feeds += [np.asarray(v) for v in params.values()]
    model_inputs = session.get_inputs()
    if len(model_inputs) != len(feeds):
        return False, (
            f"the model takes {len(model_inputs)} inputs "
            f"({', '.join(i.name for i in model_inputs)}), {len(feeds)} were given"
        )
    got = session.run(None, {i.name: v for i, v in zip(model_inputs, feeds)})
    names = [o.name for o in session.get_outputs()]
    return compare_outputs(expected, got, rtol, atol, names)


def plain_function(fn: Callable) -> Callable:
    """fn as a plain function: jax.jit hashes its argument, and pytree modules (Equinox)
    holding arrays are not hashable."""
    return lambda *args, **kwargs: fn(*args, **kwargs)
