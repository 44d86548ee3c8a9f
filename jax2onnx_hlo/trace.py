"""Tracing and lowering a Python callable for the CPU, its weights lifted to arguments.

Weights never travel through MLIR text (DESIGN decision 2): the parameters of an nnx
Module or of any pytree callable (an Equinox module, say), and the arrays a function closes
over, become leading arguments of the lowered function; the converter turns those
arguments into ONNX initializers straight from the arrays.

In the common case the walker takes JAX's lowering, lowered as `jax.export` lowers it, in
a copy rewritten by the passes an export artifact's serialization runs: the same module
as the artifact's, without the bytecode copy, serialization and parse. Programs whose
artifact differs more (symbolic dims, effects, other platforms, CHLO ops the artifact
keeps as composites) are converted from `jax.export` (`TracedProgram.exported`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax import export as jax_export

from ._mlir import hlo, run_mlir_passes
from ._mlir import ir as mlir
from .errors import ConversionError
from .module import from_lowering
from .rule_selection import select_rule

__all__ = ["DECOMPOSED_CHLO", "TracedProgram", "trace"]

# The CHLO ops a jax.export artifact decomposes into StableHLO (jaxlib 0.10.2); it keeps
# others (erf, top_k, the hyperbolic and inverse trigonometric ops) as composites, and a
# module with those is converted from the artifact. tests/api/test_direct_lowering.py
# checks this list against jax.export.
DECOMPOSED_CHLO = frozenset({
    "chlo.atan", "chlo.bessel_i1e", "chlo.digamma", "chlo.erf_inv", "chlo.erfc",
    "chlo.lgamma", "chlo.next_after", "chlo.polygamma", "chlo.square", "chlo.zeta",
})


@dataclass
class TracedProgram:
    """A traced callable: its `jax.export` (or the function that makes it, on first use of
    `exported`) and, where it could be made without the artifact, the module the
    artifact would hold (`lowered`)."""

    export: jax_export.Exported | Callable[[], jax_export.Exported]
    weights: list[tuple[str, np.ndarray]]  # the first len(weights) arguments, in order
    num_inputs: int  # flattened user inputs that follow the weights (input_params included)
    lowered: mlir.Module | None = None  # the module as in the artifact (a copy of JAX's)
    path: str = ""  # "direct" or "export": which module the conversion walked (for tests)

    @property
    def exported(self) -> jax_export.Exported:
        if not isinstance(self.export, jax_export.Exported):
            self.export = self.export()
        return self.export


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
    """Traces `fn(*args, **kwargs)` (specs: ShapeDtypeStructs) with weights as arguments,
    and lowers it for the CPU where the artifact's module can be made without jax.export."""
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
        # Nothing closed over: lower the function itself, whose trace JAX has cached, so
        # it is not traced a second time. Its flattened arguments are the weights, then
        # the inputs, as below.
        specs: tuple = (weight_specs, list(args), kw_values)
    else:
        out_tree = jax.tree_util.tree_structure(traced.out_info)

        def flat(consts, weights, *flat_inputs):
            outs = jax.core.eval_jaxpr(closed.jaxpr, consts, *weights, *flat_inputs)
            return jax.tree_util.tree_unflatten(out_tree, outs)

        const_specs = [jax.ShapeDtypeStruct(np.shape(c), np.asarray(c).dtype) for c in consts]
        jitted = jax.jit(flat, keep_unused=True)
        specs = (const_specs, weight_specs, *flat_inputs)
        traced = jitted.trace(*specs)
    weights = [(f"captured_{i}", np.asarray(c)) for i, c in enumerate(consts)]
    weights += [(n, np.asarray(a)) for n, a in zip(names, arrays)]
    x64 = bool(jax.config.jax_enable_x64)

    def export() -> jax_export.Exported:
        # Under the x64 setting of the trace: a fallback runs after to_onnx left it.
        with jax.enable_x64(x64):
            return jax_export.export(jitted, platforms=list(platforms))(*specs)

    lowered = None
    if _lowering_is_export(traced, platforms, flat_inputs):
        module = _lower_as_export(traced, platforms)
        if _entry_is_plain(module, len(weights) + len(flat_inputs)):
            lowered = _as_in_artifact(module)
    return TracedProgram(export, weights, len(flat_inputs), lowered)


def _lowering_is_export(traced: Any, platforms: Sequence[str], flat_inputs: list) -> bool:
    """Whether `jax.export` would keep JAX's lowering of `traced` as it is: it wraps @main
    for symbolic dims (to compute the dim variables) and for ordered effects (tokens),
    and exports several platforms with a platform index."""
    return (tuple(platforms) == ("cpu",) and not traced.jaxpr.effects
            and all(isinstance(d, int) for spec in flat_inputs for d in spec.shape))


def _lower_as_export(traced: Any, platforms: Sequence[str]) -> mlir.Module:
    """JAX's module of `traced`, lowered with the parameters `jax.export` uses.

    Private API (jax 0.10, jax/_src/export/_export.py `do_export`): `LoweringParameters`
    and `Traced.lower(_private_parameters=...)`. With the same parameters, a fallback to
    jax.export finds this lowering in JAX's cache.
    """
    from jax._src.interpreters.mlir import LoweringParameters

    parameters = LoweringParameters(
        for_export=True, hoist_constants_as_args=False,
        export_ignore_forward_compatibility=bool(
            jax.config.jax_export_ignore_forward_compatibility))
    lowered = traced.lower(lowering_platforms=tuple(platforms),
                           _private_parameters=parameters)
    return lowered.compiler_ir("stablehlo")


def _entry_is_plain(module: mlir.Module, num_args: int) -> bool:
    """@main takes exactly the weights and inputs (jit dropped none; no platform index
    or token) and returns no token."""
    inputs, results = from_lowering(module).signature()
    return len(inputs) == num_args and not any("!stablehlo.token" in t
                                               for t in inputs + results)


def _as_in_artifact(module: mlir.Module) -> mlir.Module | None:
    """A copy of JAX's module rewritten as serializing a jax.export artifact rewrites it,
    or None when it has CHLO ops the artifact keeps (as composites): the walker then
    takes the artifact.

    Where the walker has a rule for every CHLO op of the module (lowering/chlo.py: real
    square, the erfc of exact gelu; not erf & co., which the artifact keeps), the copy
    keeps them: the artifact's module but for the decomposition of those ops (erfc's
    polynomials were a third of BERT's first graph)."""
    with module.context:
        chlo = _chlo_ops(module)
        if not {op.operation.name for op in chlo} <= DECOMPOSED_CHLO:
            return None
        if chlo and _walker_lowers(chlo):
            kept = _serialization_passes(module.operation.clone(), decompose_chlo=False)
            if _walker_lowers(_chlo_ops(kept)):  # as the rules will find them
                return kept
        return _serialization_passes(module.operation.clone(), decompose_chlo=bool(chlo))


def _walker_lowers(chlo: list[mlir.OpView]) -> bool:
    return all(select_rule(op)[1] is not None for op in chlo)


def _chlo_ops(module: mlir.Module) -> list[mlir.OpView]:
    found: list[mlir.OpView] = []

    def note(op: mlir.Operation) -> mlir.WalkResult:
        if op.name.startswith("chlo."):
            found.append(op.opview)
        return mlir.WalkResult.ADVANCE

    module.operation.walk(note)
    return found


def _serialization_passes(module: mlir.Operation, *, decompose_chlo: bool) -> mlir.Module:
    """Runs on `module` (a copy: JAX may have cached the original) the passes of a
    jax.export artifact's serialization that change a module without those CHLO ops: the
    CHLO decomposition, the expansion of complex math (exp, log, sqrt of complex numbers),
    and the compatibility expander, whose pattern driver moves constants to the top of
    each function. (XLA's pipeline first runs a pattern driver of its own, which keeps erf
    & co. as composites: the first expander stands in for it.)

    Private API (jaxlib 0.10, xla SerializeUsingVersionedStablehlo): the pass manager and
    the registration of StableHLO's passes.
    """
    hlo.register_stablehlo_passes()
    target = hlo.get_version_from_compatibility_requirement(
        hlo.StablehloCompatibilityRequirement.WEEK_4)  # as jax.export's _module_to_bytecode
    expand = f"stablehlo-compatibility-expander{{target={target}}}"
    legalize = "func.func(chlo-legalize-to-stablehlo)"
    complex_math = "func.func(stablehlo-complex-math-expander)"
    passes = [expand, legalize, complex_math, expand, legalize]
    if not decompose_chlo:
        # Without the CHLO decomposition (no CHLO op, or only those the walker lowers),
        # the first expander's pattern driver has folded what the later drivers would:
        # only the complex-math expansion can still change the module (an MLP: 0.14 ms
        # instead of 0.41).
        passes = [expand, complex_math]
    run_mlir_passes(module, passes)
    return module.opview
