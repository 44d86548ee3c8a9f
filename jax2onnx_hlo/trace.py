"""Exporting a Python callable with `jax.export`, its weights lifted to arguments.

Weights never travel through MLIR text (DESIGN decision 2): the parameters of an nnx
Module or of any pytree callable (an Equinox module, say), and the arrays a function closes
over, become leading arguments of the exported function; the converter turns those
arguments into ONNX initializers straight from the arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax import export as jax_export

from .errors import ConversionError

__all__ = ["TracedProgram", "trace"]


@dataclass
class TracedProgram:
    exported: jax_export.Exported
    weights: list[tuple[str, np.ndarray]]  # the first len(weights) arguments, in order
    num_inputs: int  # flattened user inputs that follow the weights (input_params included)


def _is_weight(leaf: Any) -> bool:
    """A numeric array: lifted. PRNG key arrays and Python scalars stay in the program."""
    if not isinstance(leaf, (jax.Array, np.ndarray)):
        return False
    return not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.extended)


def _path_name(path: tuple) -> str:
    parts = []
    for key in path:
        if isinstance(key, jax.tree_util.DictKey):
            parts.append(str(key.key))
        elif isinstance(key, jax.tree_util.SequenceKey):
            parts.append(str(key.idx))
        elif isinstance(key, jax.tree_util.GetAttrKey) and key.name != "value":
            parts.append(key.name)
    return ".".join(parts) or "weight"


def _split_weights(fn: Callable) -> tuple[Callable, list[str], list[Any]]:
    """(pure(weights, *args, **kwargs), weight names, weight arrays) for a callable."""
    from flax import nnx

    if isinstance(fn, nnx.Module):
        graphdef, state = nnx.split(fn)
        leaves, treedef = jax.tree_util.tree_flatten_with_path(state)

        def rebuild(tree):
            return nnx.merge(graphdef, tree)
    elif not _is_plain_callable(fn):  # a pytree holding arrays (Equinox module, Partial)
        leaves, treedef = jax.tree_util.tree_flatten_with_path(fn)

        def rebuild(tree):
            return tree
    else:
        return (lambda weights, *a, **k: fn(*a, **k)), [], []

    lifted = [i for i, (_, leaf) in enumerate(leaves) if _is_weight(leaf)]
    all_leaves = [leaf for _, leaf in leaves]

    def pure(weights, *args, **kwargs):
        merged = list(all_leaves)
        for i, w in zip(lifted, weights):
            merged[i] = w
        return rebuild(jax.tree_util.tree_unflatten(treedef, merged))(*args, **kwargs)

    names = [_path_name(leaves[i][0]) for i in lifted]
    return pure, names, [all_leaves[i] for i in lifted]


def _symbolic_dims_error(error: Exception, args: Sequence[Any],
                         kwargs: Mapping[str, Any]) -> Exception:
    """A tracing error that involves the symbolic dims of the specs, restated with each
    input's symbolic shape; any other error is returned unchanged."""
    described = []
    for where, tree in (("inputs", list(args)), ("input_params", dict(kwargs))):
        for path, spec in jax.tree_util.tree_flatten_with_path(tree)[0]:
            if any(not isinstance(d, int) for d in spec.shape):
                dims = ", ".join(str(d) for d in spec.shape)
                described.append(f"{where}{jax.tree_util.keystr(path)}: ({dims})")
    names = {str(d) for spec in jax.tree_util.tree_leaves((list(args), dict(kwargs)))
             for d in spec.shape if not isinstance(d, int)}
    if not described or not any(name in str(error) for name in names):
        return error
    return ConversionError(
        f"the program does not trace with the symbolic input shapes: {error}\n"
        f"Symbolic inputs: {'; '.join(described)}.\n"
        "Dims that must be equal need the same name (e.g. (\"B\", 4) for both inputs); "
        "a dim the program needs to be a fixed size must be given as a number."
    )


def _is_plain_callable(fn: Any) -> bool:
    leaves = jax.tree_util.tree_leaves(fn)
    return len(leaves) == 1 and leaves[0] is fn


def trace(
    fn: Callable,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    platforms: Sequence[str] = ("cpu",),
) -> TracedProgram:
    """Exports `fn(*args, **kwargs)` (specs: ShapeDtypeStructs) with weights as arguments."""
    pure, names, arrays = _split_weights(fn)
    weight_specs = [jax.ShapeDtypeStruct(np.shape(a), a.dtype) for a in arrays]
    kw_names = list(kwargs)

    def positional(weights, args, kw_values):
        return pure(weights, *args, **dict(zip(kw_names, kw_values)))

    # Closure conversion: arrays the function closes over become jaxpr consts, which we
    # pass as arguments too, so no array is baked into the module as a constant.
    jitted = jax.jit(positional, keep_unused=True)
    kw_values = [kwargs[k] for k in kw_names]
    try:
        traced = jitted.trace(weight_specs, list(args), kw_values)
    except Exception as e:  # JAX's shape-polymorphism errors have no public type
        restated = _symbolic_dims_error(e, args, kwargs)
        if restated is e:
            raise
        raise restated from e
    closed = traced.jaxpr
    consts = list(closed.consts)
    flat_inputs = jax.tree_util.tree_leaves((list(args), kw_values))
    if not consts:
        # Nothing closed over: export the function itself, whose trace JAX has cached, so
        # it is not traced a second time. Its flattened arguments are the weights, then
        # the inputs, as below.
        exported = jax_export.export(jitted, platforms=list(platforms))(
            weight_specs, list(args), kw_values
        )
    else:
        out_tree = jax.tree_util.tree_structure(traced.out_info)

        def flat(consts, weights, *flat_inputs):
            outs = jax.core.eval_jaxpr(closed.jaxpr, consts, *weights, *flat_inputs)
            return jax.tree_util.tree_unflatten(out_tree, outs)

        const_specs = [jax.ShapeDtypeStruct(np.shape(c), np.asarray(c).dtype) for c in consts]
        exported = jax_export.export(jax.jit(flat, keep_unused=True),
                                     platforms=list(platforms))(
            const_specs, weight_specs, *flat_inputs
        )
    weights = [(f"captured_{i}", np.asarray(c)) for i, c in enumerate(consts)]
    weights += [(n, np.asarray(a)) for n, a in zip(names, arrays)]
    return TracedProgram(exported, weights, len(flat_inputs))
