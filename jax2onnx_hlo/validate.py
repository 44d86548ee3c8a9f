"""`allclose`: does an exported model compute what the JAX function computes?

The onnxruntime-web check, `allclose_onnxruntime_web`, lives in web_runner.py and shares
the input sampling and the output comparison defined here."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort

from .layout import channels_first, channels_last
from .specs import is_shape_tuple

__all__ = ["allclose", "as_pairs", "compare_outputs", "plain_function", "sample_inputs"]

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
            if np.issubdtype(dtype, np.complexfloating):
                return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
            return rng.standard_normal(shape).astype(dtype)
        return entry

    return [jax.tree_util.tree_map(sample, e, is_leaf=is_shape_tuple) for e in inputs]


def as_pairs(array: Any) -> np.ndarray:
    """A complex array as the model takes and gives it: float [..., 2] of (real, imag);
    other arrays as they are."""
    array = np.asarray(array)
    return np.stack([array.real, array.imag], -1) if np.iscomplexobj(array) else array


def compare_outputs(expected: Sequence[Any], got: Sequence[np.ndarray], rtol: float,
                    atol: float, names: Sequence[str] | None = None, *,
                    labels: tuple[str, str] = ("ONNX", "JAX")) -> tuple[bool, str]:
    """(all close?, a message naming each output's max abs/rel error and worst index).
    `labels` name the sides of `got` and `expected` in the message."""
    names = list(names or [f"output {i}" for i in range(len(got))])
    label_got, label_want = labels
    if len(expected) != len(got):
        return False, f"{label_want} gives {len(expected)} outputs, {label_got} {len(got)}"
    ok, lines = True, []
    for name, want, have in zip(names, expected, got):
        want, have = np.asarray(want), np.asarray(have)
        if want.shape != have.shape:
            ok = False
            lines.append(
                f"{name}: shape {have.shape} in {label_got}, {want.shape} in {label_want}"
            )
            continue
        if want.dtype != have.dtype:
            ok = False
            lines.append(
                f"{name}: dtype {have.dtype} in {label_got}, {want.dtype} in {label_want}"
            )
            continue
        w, h = want.astype(np.float64), have.astype(np.float64)
        close = np.isclose(h, w, rtol=rtol, atol=atol, equal_nan=True)
        with np.errstate(invalid="ignore"):  # inf - inf
            error = np.asarray(np.abs(h - w))
            # Equal (inf == inf) or both NaN: no error; inf against -inf, NaN against a number:
            # infinite error.
            error = np.where((h == w) | (np.isnan(w) & np.isnan(h)), 0.0,
                             np.where(np.isnan(error), np.inf, error))
            rel = np.where(error == 0, 0.0,
                           error / np.maximum(np.abs(w), np.finfo(np.float64).tiny))
            rel = np.where(np.isnan(rel), np.inf, rel)
        max_abs = float(np.max(error)) if error.size else 0.0
        max_rel = float(np.max(rel)) if rel.size else 0.0
        if close.all():
            lines.append(f"{name}: ok (max abs {max_abs:.3g}, max rel {max_rel:.3g})")
            continue
        ok = False
        worst = np.unravel_index(int(np.argmax(np.where(close, -1.0, error))), w.shape)
        lines.append(
            f"{name}: {int((~close).sum())} of {close.size} values differ; max abs "
            f"{max_abs:.3g}, max rel {max_rel:.3g}; worst at index {tuple(map(int, worst))}: "
            f"{label_got} {have[worst].item()!r}, {label_want} {want[worst].item()!r}"
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
    with a fixed seed (named dims get size 2), in fn's (channels-last) layout; for a model
    exported with inputs_as_nchw / outputs_as_nchw, pass the same positions so those inputs
    are fed channels-first and those outputs compared channels-last. Complex inputs and
    outputs are fed and compared as the model has them, float (real, imag) pairs. Returns
    (passed, message)."""
    with jax.enable_x64(enable_double_precision):
        args = sample_inputs(list(inputs))
        params = dict(input_params or {})
        expected = jax.tree_util.tree_leaves(jax.jit(plain_function(fn))(*args, **params))
        # jnp.asarray: the dtype JAX computed in (float64 inputs are float32 without x64)
        feeds = [as_pairs(jnp.asarray(a)) for a in jax.tree_util.tree_leaves(args)]
    expected = [as_pairs(e) for e in expected]
    session = ort.InferenceSession(str(onnx_model_path), providers=["CPUExecutionProvider"])
    feeds += [as_pairs(v) for v in params.values()]
    named_feeds, problem = _named_feeds(session, feeds, inputs_as_nchw)
    if problem:
        return False, problem
    got = session.run(None, named_feeds)
    got = [channels_last(v) if i in set(outputs_as_nchw or ()) else v
           for i, v in enumerate(got)]
    names = [o.name for o in session.get_outputs()]
    return compare_outputs(expected, got, rtol, atol, names)


def _named_feeds(session: ort.InferenceSession, feeds: list[np.ndarray],
                 inputs_as_nchw: Sequence[int] | None) -> tuple[dict, str | None]:
    """The model's input names -> values (channels-first where asked), or why not."""
    model_inputs = session.get_inputs()
    if len(model_inputs) != len(feeds):
        return {}, (f"the model takes {len(model_inputs)} inputs "
                    f"({', '.join(i.name for i in model_inputs)}), {len(feeds)} were given")
    first = set(inputs_as_nchw or ())
    return {i.name: channels_first(v) if k in first else v
            for k, (i, v) in enumerate(zip(model_inputs, feeds))}, None


def plain_function(fn: Callable) -> Callable:
    """fn as a plain function: jax.jit hashes its argument, and pytree modules (Equinox)
    holding arrays are not hashable."""
    return lambda *args, **kwargs: fn(*args, **kwargs)
