"""User input specs -> jax.ShapeDtypeStruct, with string dims made symbolic in one scope."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export

__all__ = ["is_shape_tuple", "to_shape_dtype_structs"]


def is_shape_tuple(entry: Any) -> bool:
    """A tuple of ints and dim names, e.g. ("B", 28, 28, 1): one float32 input."""
    return isinstance(entry, tuple) and all(
        isinstance(d, (int, np.integer, str)) and not isinstance(d, bool) for d in entry
    )


def _is_array(entry: Any) -> bool:
    return isinstance(entry, (np.ndarray, jax.Array, np.generic))


def to_shape_dtype_structs(inputs: Any, scope: jax_export.SymbolicScope, what: str = "inputs",
                           *, allow_scalars: bool = False):
    """Maps each spec of a (pytree of) input specs to a ShapeDtypeStruct.

    Leaves are shape tuples (float32), ShapeDtypeStructs or arrays; the same dim name in
    two places is the same dimension because all names share `scope`.
    """

    def is_leaf(x: Any) -> bool:
        # Any tuple of scalars is meant as a shape; a malformed one is reported as such.
        return (is_shape_tuple(x) or _is_tuple_of_scalars(x) or isinstance(x, jax.ShapeDtypeStruct)
                or _is_array(x))

    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(inputs, is_leaf=is_leaf)
    structs = [
        _to_struct(leaf, scope, f"{what}{jax.tree_util.keystr(path)}", allow_scalars)
        for path, leaf in paths_and_leaves
    ]
    return jax.tree_util.tree_unflatten(treedef, structs)


def _is_tuple_of_scalars(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) > 0 and all(
        isinstance(d, (int, float, str, np.number)) or d is None for d in x
    )


def _to_struct(entry: Any, scope: jax_export.SymbolicScope, where: str,
               allow_scalars: bool) -> jax.ShapeDtypeStruct:
    if isinstance(entry, jax.ShapeDtypeStruct):
        if any(isinstance(d, str) for d in entry.shape):
            return jax.ShapeDtypeStruct(_dims(entry.shape, scope, where), entry.dtype)
        return entry
    if _is_array(entry):
        return jax.ShapeDtypeStruct(np.shape(entry), jnp.asarray(entry).dtype)
    if is_shape_tuple(entry):
        return jax.ShapeDtypeStruct(_dims(entry, scope, where), jnp.float32)
    if isinstance(entry, tuple):
        raise TypeError(
            f"{where} is a tuple {entry!r}, but a shape's dims must be ints or dim names "
            "such as \"B\""
        )
    if allow_scalars and isinstance(entry, (bool, int, float)):
        return jax.ShapeDtypeStruct((), jnp.asarray(entry).dtype)
    raise TypeError(
        f"{where} is a {type(entry).__name__} ({entry!r:.80}); each input must be a shape "
        "tuple such as (\"B\", 28, 28, 1), a jax.ShapeDtypeStruct, or an array"
    )


def _dims(shape: tuple, scope: jax_export.SymbolicScope, where: str) -> tuple:
    if not any(isinstance(d, str) for d in shape):
        return tuple(int(d) for d in shape)
    try:
        return jax_export.symbolic_shape(", ".join(str(d) for d in shape), scope=scope)
    except Exception as e:
        raise ValueError(f"{where}: cannot read the shape {shape!r} as symbolic dims: {e}") from e
