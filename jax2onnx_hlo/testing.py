"""Checking an export against JAX: the helper every lowering and model test uses.

`check_against_jax(fn, args)` exports `fn`, runs the full ONNX checker, runs the model in
ONNX Runtime on `args` and compares every output with `jax.jit(fn)(*args)`; when the args
share a leading dim it also exports once with that dim symbolic and checks B = 1, 3, 7. With
JAX2ONNX_HLO_WEB_TESTS=node or =chrome set, it also runs the model in onnxruntime-web (WASM)
in that runner and compares it with ONNX Runtime CPU.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort

from .api import to_onnx
from .validate import as_pairs, plain_function
from .web_runner import allclose_onnxruntime_web

__all__ = ["as_pairs", "assert_outputs_close", "check_against_jax", "check_dynamic_batch",
           "random_array", "run_onnx"]

WEB_TESTS_ENV = "JAX2ONNX_HLO_WEB_TESTS"  # "node" or "chrome": every check also runs on the web
# Every check whose args share a leading dim also exports with that dim symbolic ("B") and
# runs at these batch sizes; JAX2ONNX_HLO_DYNAMIC_BATCH=0 turns that off.
DYNAMIC_BATCH_ENV = "JAX2ONNX_HLO_DYNAMIC_BATCH"
DYNAMIC_BATCH_SIZES = (1, 3, 7)


def random_array(shape: Sequence[int], dtype: Any = np.float32, seed: int = 0,
                 low: float = -3.0, high: float = 3.0) -> np.ndarray:
    """A reproducible random array of any numeric or bool dtype."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo, hi = max(int(low), int(info.min)), min(int(high), int(info.max))
        return rng.integers(lo, hi + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def run_onnx(model: onnx.ModelProto, args: Sequence[Any],
             params: Mapping[str, Any] | None = None) -> list[np.ndarray]:
    """Runs `model` in ONNX Runtime (CPU) with the flattened `args` then `params` as inputs
    (complex ones as float (real, imag) pairs, see `as_pairs`)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = [as_pairs(a) for a in jax.tree_util.tree_leaves(list(args))]
    values += [as_pairs(v) for v in (params or {}).values()]
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(values):
        raise AssertionError(f"model has {len(names)} inputs {names}, got {len(values)} values")
    return session.run(None, dict(zip(names, values)))


def assert_outputs_close(expected: Sequence[Any], got: Sequence[np.ndarray], *, rtol: float,
                         atol: float) -> None:
    if len(expected) != len(got):
        raise AssertionError(f"JAX gave {len(expected)} outputs, ONNX Runtime {len(got)}")
    for i, (want, have) in enumerate(zip(expected, got)):
        want = as_pairs(want)  # the model gives complex outputs as (real, imag) pairs
        if want.shape != have.shape:
            raise AssertionError(f"output {i}: shape {have.shape}, JAX has {want.shape}")
        if want.dtype != have.dtype:
            raise AssertionError(f"output {i}: dtype {have.dtype}, JAX has {want.dtype}")
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(have, want, err_msg=f"output {i}")
        else:
            np.testing.assert_allclose(
                have.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                equal_nan=True, err_msg=f"output {i}",
            )


def check_against_jax(fn: Callable, args: Sequence[Any], *, specs: Sequence[Any] | None = None,
                      params: Mapping[str, Any] | None = None, rtol: float = 1e-5,
                      atol: float = 1e-5, opset: int = 23,
                      dynamic_batch: bool | str = True) -> onnx.ModelProto:
    """Exports fn (with `specs`, default: the args' own shapes), checks and runs it, and
    compares with jax.jit(fn)(*args, **params). Returns the model for further asserts.

    `dynamic_batch`: True runs check_dynamic_batch too (when the args share a leading dim);
    a string is the documented reason why that check is known to fail, and then it must
    fail (like a strict xfail), so a fix shows up; False skips it.
    """
    # Feed both sides what JAX computes on: int64/float64 become 32-bit without x64.
    args = jax.tree_util.tree_map(lambda a: np.asarray(jnp.asarray(a)), list(args))
    model = to_onnx(fn, list(specs if specs is not None else args), input_params=params,
                    opset=opset)
    onnx.checker.check_model(model, full_check=True)
    got = run_onnx(model, args, params)
    expected = jax.tree_util.tree_leaves(jax.jit(plain_function(fn))(*args, **(params or {})))
    assert_outputs_close(expected, got, rtol=rtol, atol=atol)
    web_runner = os.environ.get(WEB_TESTS_ENV)
    if web_runner:
        with tempfile.TemporaryDirectory(prefix="jax2onnx_hlo_test_") as tmp:
            path = Path(tmp) / "model.onnx"
            onnx.save(model, path)
            ok, message = allclose_onnxruntime_web(path, args, params, rtol, atol,
                                                   runner=web_runner)
        if not ok:
            raise AssertionError(message)
    if specs is None and params is None and dynamic_batch is not False \
            and os.environ.get(DYNAMIC_BATCH_ENV, "1") != "0":
        _check_dynamic_batch_or_limit(fn, args, dynamic_batch, rtol=rtol, atol=atol, opset=opset)
    return model


def _check_dynamic_batch_or_limit(fn: Callable, args: Sequence[Any], limit: bool | str, *,
                                  rtol: float, atol: float, opset: int) -> None:
    if limit is True:
        check_dynamic_batch(fn, args, rtol=rtol, atol=atol, opset=opset)
        return
    try:
        checked = check_dynamic_batch(fn, args, rtol=rtol, atol=atol, opset=opset)
    except Exception:
        return  # the documented limitation
    if checked is not None:
        raise AssertionError(f"the symbolic-batch export now works; drop the limitation "
                             f"({limit!r})")


def check_dynamic_batch(fn: Callable, args: Sequence[Any], *, rtol: float, atol: float,
                        opset: int = 23, sizes: Sequence[int] = DYNAMIC_BATCH_SIZES
                        ) -> onnx.ModelProto | None:
    """When every arg has the same leading dim and JAX can export fn with that dim
    symbolic ("B"), exports it so once and compares with JAX at each batch size in
    `sizes` (rows of the args repeated). Returns the model, or None when fn is not
    batch-polymorphic (JAX itself refuses), which is the function's property."""
    leaves, tree = jax.tree_util.tree_flatten(list(args))
    if not leaves or any(np.ndim(a) == 0 for a in leaves):
        return None
    n = leaves[0].shape[0]
    if n == 0 or any(a.shape[0] != n for a in leaves):
        return None
    (batch,) = jax.export.symbolic_shape("B")
    specs = jax.tree_util.tree_unflatten(
        tree, [jax.ShapeDtypeStruct((batch, *a.shape[1:]), a.dtype) for a in leaves])
    try:
        jax.export.export(jax.jit(plain_function(fn)), platforms=["cpu"])(*specs)
    except Exception:  # e.g. fn reshapes to a fixed size: not batch-polymorphic
        return None
    batches = [jax.tree_util.tree_map(lambda a, size=size: np.take(a, np.arange(size) % n,
                                                                    axis=0), args)
               for size in sizes]
    try:  # the export may hold shape assertions that only some sizes meet
        expectations = [jax.tree_util.tree_leaves(jax.jit(plain_function(fn))(*b))
                        for b in batches]
    except Exception:
        return None
    model = to_onnx(fn, list(specs), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    for size, sized, expected in zip(sizes, batches, expectations):
        try:
            assert_outputs_close(expected, run_onnx(model, sized), rtol=rtol, atol=atol)
        except Exception as e:
            raise AssertionError(f"exported with a symbolic batch B, at B={size}: {e}") from e
    return model

