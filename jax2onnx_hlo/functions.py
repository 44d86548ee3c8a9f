"""`@onnx_function`: a named, reusable function boundary in the exported ONNX model.

Each call of a decorated callable becomes a `jax.lax.composite` named `MARKER` (DESIGN
decision 5): JAX and XLA still run it through its decomposition, and the walker lifts it
into an ONNX FunctionProto called by one node (lowering/composites.py, convert.py).
`FunctionDomains` holds the naming rules the walker applies.

The operands of the composite are the call's array arguments followed by the arrays the
callable captures (a module's weights), so weights stay initializers of the main graph and
two call sites can tell whether they share weights. Non-array arguments (flags such as
`deterministic=True`, Python scalars) are baked into the body.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import re
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jax
import numpy as np

# Private JAX pieces for the composite lowering below (see _lower_composite).
from jax._src import core as jax_core
from jax._src.interpreters import mlir as jax_mlir
from jax._src.lax import lax as jax_lax
from jax._src.lib.mlir import ir as jax_ir
from jax._src.lib.mlir.dialects import hlo as jax_hlo
from jax.custom_batching import custom_vmap

__all__ = ["DEFAULT_NAMESPACE", "MARKER", "FunctionDomains", "FunctionSpec", "onnx_function"]

MARKER = "jax2onnx_hlo.onnx_function"
DEFAULT_NAMESPACE = "custom"

T = TypeVar("T")


@dataclass(frozen=True)
class FunctionSpec:
    """What the decorator was told about one target."""

    base: str  # op_type of the call nodes: sanitized `type`, else `name`, else Python name
    namespace: str
    unique: bool
    target: str  # module-qualified name of the decorated callable


# Decorated targets (and the wrappers made for them) -> their spec, to catch conflicts.
_SPECS: dict[Any, FunctionSpec] = {}
_WRAPPERS: dict[Any, Any] = {}  # target -> what decorating it returned


def onnx_function(target: T | None = None, *, unique: bool = False,
                  namespace: str | None = None, name: str | None = None,
                  type: str | None = None) -> T | Callable[[T], T]:  # noqa: A002 (the contract's name)
    """Marks a function or a class (its `__call__`; nnx.Module included) as an ONNX function.

    Every call becomes a node whose op_type is the base name (`type`, else `name`, else
    the Python name) backed by a FunctionProto in domain `{namespace}.{base}.{n}`, or,
    with `unique=True`, one shared `{namespace}.{base}.unique` (`.unique.2`, ... for call
    sites that capture other weights or parameters). Usable bare or with arguments.
    """
    if target is None:
        return functools.partial(onnx_function, unique=unique, namespace=namespace,
                                 name=name, type=type)
    original = _original(target)
    spec = FunctionSpec(
        base=_sanitize(type or name or original.__name__),
        namespace=_sanitize_namespace(namespace or DEFAULT_NAMESPACE),
        unique=bool(unique),
        target=f"{original.__module__}.{original.__qualname__}",
    )
    known = _SPECS.get(original)
    if known is not None:
        if known != spec:
            raise ValueError(_conflict(known, spec))
        return _WRAPPERS[original]  # an identical repeat: already decorated
    _SPECS[original] = spec
    wrapped = _wrap_class(original, spec) if inspect.isclass(original) else _wrap(original, spec)
    _WRAPPERS[original] = _WRAPPERS[wrapped] = wrapped
    _SPECS[wrapped] = spec
    return wrapped


def _original(target: Any) -> Any:
    """The user's callable behind a wrapper this decorator made earlier."""
    for original, wrapper in _WRAPPERS.items():
        if wrapper is target and not inspect.isclass(target):
            return original
    return target


def _conflict(known: FunctionSpec, new: FunctionSpec) -> str:
    before, after = dataclasses.asdict(known), dataclasses.asdict(new)
    fields = [f"{f}: {before[f]!r} then {after[f]!r}"
              for f in ("namespace", "base", "unique") if before[f] != after[f]]
    return (f"@onnx_function was applied twice to {known.target} with conflicting settings "
            f"({'; '.join(fields)}); decorate it once, or repeat the same settings")


def _sanitize(name: str) -> str:
    """An ONNX-friendly op_type: letters, digits and underscores."""
    cleaned = re.sub(r"\W", "_", name)
    if not cleaned:
        raise ValueError(f"onnx_function name {name!r} has no usable characters")
    return cleaned


def _sanitize_namespace(namespace: str) -> str:
    parts = [_sanitize(p) for p in namespace.split(".") if p]
    if not parts:
        raise ValueError(f"onnx_function namespace {namespace!r} is empty")
    return ".".join(parts)


def _wrap(fn: Callable, spec: FunctionSpec) -> Callable:
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return function_boundary(fn, args, kwargs, spec)

    return call


def _wrap_class(cls: type, spec: FunctionSpec) -> type:
    """Wraps `cls.__call__` in place: instances, nnx.Module ones included, keep their type."""
    method = cls.__call__

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        # `self` is closed over: its arrays become captured operands, not call inputs.
        return function_boundary(functools.partial(method, self), args, kwargs, spec)

    cls.__call__ = call
    return cls


# ---- the boundary ---------------------------------------------------------------------


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray))


def function_boundary(fn: Callable, args: Sequence[Any], kwargs: dict[str, Any],
                      spec: FunctionSpec) -> Any:
    """`fn(*args, **kwargs)` as one MARKER composite: arrays in the arguments are its
    inputs, everything else is baked in and fingerprinted."""
    leaves, tree = jax.tree_util.tree_flatten((tuple(args), kwargs))
    arrays = [leaf for leaf in leaves if _is_array(leaf)]
    static = [None if _is_array(leaf) else leaf for leaf in leaves]
    out_tree = None

    def flat(*arrays):
        nonlocal out_tree
        it = iter(arrays)
        merged = [next(it) if leaf is None else leaf for leaf in static]
        a, k = jax.tree_util.tree_unflatten(tree, merged)
        out, out_tree = jax.tree_util.tree_flatten(fn(*a, **k))
        return out

    attributes = {
        "base": spec.base, "namespace": spec.namespace, "unique": spec.unique,
        "target": spec.target, "params": _fingerprint(tree, static),
    }
    outs = _bind(flat, arrays, [], attributes)
    return jax.tree_util.tree_unflatten(out_tree, outs)


def _fingerprint(tree: Any, static: list[Any]) -> str:
    """A short stable digest of the call's non-array parameters and argument structure."""
    return hashlib.sha1(repr((str(tree), static)).encode()).hexdigest()[:16]


def _bind(fn: Callable, args: Sequence[Any], captures: Sequence[Any],
          attributes: dict[str, Any]) -> list[Any]:
    """Binds the composite for `fn(*args, *captures)`; arrays `fn` closes over (weights
    lifted to tracers by trace.py, constant arrays) become further captured operands."""
    closed = jax.make_jaxpr(fn)(*args, *captures)
    n_inputs = len(args) + len(captures)  # the rest of the operands are closed.consts
    captures = [*captures, *closed.consts]

    def plain(*operands):
        return jax.core.eval_jaxpr(closed.jaxpr, operands[n_inputs:], *operands[:n_inputs])

    @custom_vmap
    def call(*operands):
        composite = jax.lax.composite(lambda *ops, **_: plain(*ops), MARKER)
        return composite(*operands, n_args=len(args), n_captures=len(captures), **attributes)

    @call.def_vmap
    def batched(axis_size, in_batched, *operands):
        # The composite has no batching rule: batch the body, and keep the boundary.
        axes = [0 if b else None for b in in_batched]
        outs = _bind(jax.vmap(plain, in_axes=axes), operands[:len(args)],
                     operands[len(args):], attributes)
        return outs, [True] * len(outs)

    @jax.custom_jvp
    def differentiable(*operands):
        return call(*operands)

    @differentiable.defjvp
    def jvp(primals, tangents):
        # The composite has no JVP rule either: differentiate the body, boundary dropped.
        return jax.jvp(plain, primals, tangents)

    return differentiable(*args, *captures)


# JAX's composite lowering does not pass the dimension variables (symbolic dims) to the
# decomposition function, which takes them first: the module fails to verify. Ours passes
# them, for MARKER composites only; other composites keep JAX's rule.
_jax_composite_lowering = jax_lax._composite_lowering


def _lower_composite(ctx: Any, *args: Any, name: str, attributes: Any, version: int,
                     jaxpr: Any) -> Any:
    if name != MARKER or not ctx.dim_var_values:
        return _jax_composite_lowering(ctx, *args, name=name, attributes=attributes,
                                       version=version, jaxpr=jaxpr)
    const_args = jax_core.jaxpr_const_args(jaxpr.jaxpr)
    const_values = [v for c, aval in const_args
                    for v in jax_mlir.ir_constants(c, const_lowering=ctx.const_lowering,
                                                   aval=aval)]
    func_op, _, _ = jax_mlir.lower_called_computation(
        name, jaxpr, ctx.module_context, len(const_args),
        (*[aval for _, aval in const_args], *ctx.avals_in), ctx.avals_out, ctx.tokens_in,
    )
    composite_attributes = {k: jax_mlir.ir_attribute(tree.unflatten(leaves))
                            for k, leaves, tree in attributes}
    return jax_hlo.CompositeOp(
        func_op.type.results, [*ctx.dim_var_values, *const_values, *args],
        name=jax_ir.StringAttr.get(name),
        decomposition=jax_ir.FlatSymbolRefAttr.get(func_op.name.value),
        composite_attributes=jax_ir.DictAttr.get(composite_attributes),
        version=jax_mlir.i32_attr(version),
    ).results


jax_mlir.register_lowering(jax_lax.composite_p, _lower_composite)


# ---- the naming rules, applied by the walker -----------------------------------------


class FunctionDomains:
    """Domains of the functions of one conversion, in conversion order.

    Non-unique: `{namespace}.{base}.{n}`, a new one per call site. Unique: one domain per
    distinct call key (qualified target, input types, captured values, parameters),
    `{namespace}.{base}.unique` for the first, then `.unique.2`, `.unique.3`.
    """

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._unique: dict[tuple[str, str], dict[Hashable, str]] = {}

    def domain(self, namespace: str, base: str, unique: bool,
               key: Hashable) -> tuple[str, bool]:
        """(domain, whether the function is new and must be built)."""
        prefix = f"{namespace}.{base}"
        if not unique:
            self._counts[namespace, base] += 1
            return f"{prefix}.{self._counts[namespace, base]}", True
        variants = self._unique.setdefault((namespace, base), {})
        if key in variants:
            return variants[key], False
        n = len(variants) + 1
        variants[key] = f"{prefix}.unique" if n == 1 else f"{prefix}.unique.{n}"
        return variants[key], True
