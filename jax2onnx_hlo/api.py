"""`to_onnx` and `from_stablehlo`: the pipeline from a JAX callable, a `jax.export`
artifact or a StableHLO module to an ONNX model."""

from __future__ import annotations

import functools
import gc
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import jax
import numpy as np
import onnx_ir as ir
from jax import export as jax_export

from . import __version__
from .convert import GraphInput, ModuleLowering, ir_version_for
from .errors import ConversionError
from .layout import adapt_layout
from .lowering.types import TensorSpec, onnx_spec
from .module import StableHLOModule, from_lowering, load_module
from .passes import run_passes
from .precision import upcast_to_float32
from .save import check_export_mode, check_return_mode, deliver, write_text_atomically
from .specs import to_shape_dtype_structs
from .trace import TracedProgram, trace

__all__ = ["SUPPORTED_OPSETS", "from_stablehlo", "to_onnx"]

SUPPORTED_OPSETS = range(18, 24)
# (inputs_as_nchw, outputs_as_nchw): graph input and output positions made channels-first.
Layout = tuple[Sequence[int], Sequence[int]]


_P = ParamSpec("_P")
_R = TypeVar("_R")


class _CyclicGcPause:
    """Python's cyclic garbage collector paused while any conversion runs, in any thread,
    and left as it was when the first began (a caller's gc.disable() stands).

    A conversion allocates a few hundred thousand objects that live until it ends (MLIR
    views, graph nodes and values): the collector, run every 700 allocations, walked them
    again and again and, every hundred runs, the whole heap, JAX's and Flax's caches
    included. BERT-base: 465 -> 354 ms (medians, the collection of what the conversion
    left behind included); the 1B-parameter export's peak memory is unchanged. The cycles
    a conversion leaves are collected as usual afterwards."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._was_enabled:
                gc.enable()


_GC_PAUSE = _CyclicGcPause()


def _cyclic_gc_paused(convert: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(convert)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _GC_PAUSE:
            return convert(*args, **kwargs)

    return paused


@_cyclic_gc_paused
def to_onnx(
    fn: Callable | jax_export.Exported,
    inputs: Sequence[Any] | None = None,
    input_params: Mapping[str, Any] | None = None,
    model_name: str = "jax_model",
    opset: int = 23,
    *,
    enable_double_precision: bool = False,
    record_primitive_calls_file: str | os.PathLike | None = None,
    return_mode: str = "proto",
    output_path: str | os.PathLike | None = None,
    inputs_as_nchw: Sequence[int] | None = None,
    outputs_as_nchw: Sequence[int] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    export_mode: str = "standard",
    compute_dtype: str | None = None,
):
    """Converts `fn(*inputs, **input_params)`, or a `jax.export.Exported`, to ONNX.

    `inputs` holds one spec per positional argument: a shape tuple (float32, dims may be
    names such as "B"), a `jax.ShapeDtypeStruct`, or an array; pytrees of those are
    flattened in `jax.tree_util` order. The graph's inputs are those leaves followed by
    `input_params` (named by their keys); its outputs are the leaves of fn's result.
    An Exported brings its own input shapes: `inputs` may be left out (if given, it must
    match them), and the graph's inputs are its flattened `in_avals`.
    `compute_dtype="float32"`: a bf16/f16 model computes in float32 inside (ONNX Runtime CPU
    lacks most bf16 kernels), its inputs and outputs keeping their dtypes.
    """
    _check_options(opset, return_mode, output_path, export_mode, compute_dtype)
    layout = (list(inputs_as_nchw or ()), list(outputs_as_nchw or ()))
    if isinstance(fn, jax_export.Exported):
        if input_params:
            raise ValueError("input_params cannot be given for a jax.export.Exported: its "
                             "keyword arguments are part of its inputs already")
        if inputs is not None:
            _check_specs_match(fn, inputs)
        model = convert_loaded(load_module(fn), opset=opset, model_name=model_name,
                                input_names=input_names, output_names=output_names,
                                record_file=record_primitive_calls_file, layout=layout)
        return _deliver(model, return_mode, output_path, export_mode, compute_dtype)
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(
            f"inputs must be a list with one spec per positional argument of fn, "
            f"got {type(inputs).__name__}"
        )
    input_params = dict(input_params or {})
    scope = jax_export.SymbolicScope()
    # x64 for this export if asked (or already on): float64/int64 specs stay 64-bit; the
    # global setting is restored afterwards.
    with jax.enable_x64(enable_double_precision or bool(jax.config.jax_enable_x64)):
        args = to_shape_dtype_structs(_array_specs(list(inputs)), scope, "inputs")
        kwargs = to_shape_dtype_structs(_array_specs(input_params), scope, "input_params",
                                        allow_scalars=True)
        traced = trace(fn, args, kwargs)
    n_args = len(jax.tree_util.tree_leaves(args))
    names = [f"input_{i}" for i in range(n_args)] + list(input_params)
    model = convert_traced(traced, names, opset=opset, model_name=model_name,
                           input_names=input_names, output_names=output_names,
                           record_file=record_primitive_calls_file, layout=layout)
    return _deliver(model, return_mode, output_path, export_mode, compute_dtype)


@_cyclic_gc_paused
def from_stablehlo(
    module: Any,
    *,
    opset: int = 23,
    return_mode: str = "proto",
    output_path: str | os.PathLike | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    model_name: str = "jax_model",
    export_mode: str = "standard",
    record_primitive_calls_file: str | os.PathLike | None = None,
    compute_dtype: str | None = None,
):
    """Converts a StableHLO module to ONNX.

    `module` is MLIR text, MLIR bytecode or a StableHLO portable artifact (as bytes), the
    bytes `jax.export.Exported.serialize()` wrote, a path to a file of any of those, or an
    Exported. The entry is `func.func @main` (else the module's single public function).
    Input names come from the argument names JAX recorded, else `input_<i>`.
    `compute_dtype` as for to_onnx.
    """
    _check_options(opset, return_mode, output_path, export_mode, compute_dtype)
    model = convert_loaded(load_module(module), opset=opset, model_name=model_name,
                            input_names=input_names, output_names=output_names,
                            record_file=record_primitive_calls_file)
    return _deliver(model, return_mode, output_path, export_mode, compute_dtype)


def _array_specs(tree: Any) -> Any:
    """The arrays of a tree of specs as ShapeDtypeStructs of their canonical dtype (float64
    is float32 without x64, as in jnp.asarray): only the shape and dtype are needed, and
    jnp.asarray of a numpy array would copy it to the device, compiling a program per
    shape."""
    def spec(leaf: Any) -> Any:
        if isinstance(leaf, (np.ndarray, np.generic)):
            return jax.ShapeDtypeStruct(np.shape(leaf), jax.dtypes.canonicalize_dtype(leaf.dtype))
        return leaf
    return jax.tree_util.tree_map(
        spec, tree, is_leaf=lambda x: isinstance(x, (np.ndarray, np.generic)))


def _check_options(opset: int, return_mode: str, output_path: str | os.PathLike | None,
                   export_mode: str, compute_dtype: str | None) -> None:
    _check_opset(opset)
    check_return_mode(return_mode, output_path)
    check_export_mode(export_mode)
    if compute_dtype not in (None, "float32"):
        raise ValueError(f"compute_dtype={compute_dtype!r} is not one of None, 'float32'")


def _deliver(model: ir.Model, return_mode: str, output_path: str | os.PathLike | None,
             export_mode: str, compute_dtype: str | None):
    if compute_dtype == "float32":
        model = upcast_to_float32(model)
    return deliver(model, return_mode, output_path, export_mode)


def _check_specs_match(exported: jax_export.Exported, inputs: Sequence[Any]) -> None:
    """Inputs given with an Exported must describe its own inputs: its shapes are fixed."""
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"inputs must be a list, got {type(inputs).__name__}")
    given = to_shape_dtype_structs(list(inputs), jax_export.SymbolicScope(), "inputs")
    want = [f"{a.dtype}{list(map(str, a.shape))}" for a in exported.in_avals]
    have = [f"{a.dtype}{list(map(str, a.shape))}" for a in jax.tree_util.tree_leaves(given)]
    if want != have:
        raise ValueError(
            f"inputs {have} do not match the Exported's inputs {want}; leave inputs out to "
            "use the Exported's own, or export again for other shapes"
        )


def _check_opset(opset: int) -> None:
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(
            f"opset={opset} is not supported; choose one of "
            f"{SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}"
        )


def _apply_names(default: list[str], given: Sequence[str] | None, what: str) -> list[str]:
    if given is None:
        return default
    given = list(given)
    if len(given) != len(default):
        raise ValueError(f"{len(given)} {what} names given for {len(default)} {what}s")
    if len(set(given)) != len(given):
        raise ValueError(f"{what} names must be unique, got {given}")
    return given


def symbolic_dim_names(shape: Sequence[Any]) -> dict[int, str]:
    """axis -> the name of its symbolic dim ("B", or "2*B" for an expression)."""
    return {axis: str(d) for axis, d in enumerate(shape) if not isinstance(d, int)}


def convert_traced(traced: TracedProgram, default_input_names: list[str], *, opset: int,
                   model_name: str, input_names: Sequence[str] | None,
                   output_names: Sequence[str] | None,
                   record_file: str | os.PathLike | None = None,
                   layout: Layout = ((), ())) -> ir.Model:
    """The model of a traced callable: its weights become initializers.

    JAX's lowering is walked when there is one (trace.py); if the walker cannot take it
    (typically a CHLO op without a rule, which the jax.export artifact would have
    decomposed), the conversion starts again from the artifact, whose errors are the
    ones reported.
    """
    options = dict(opset=opset, model_name=model_name,
                   weight_names=[name for name, _ in traced.weights], record_file=record_file,
                   layout=layout)
    inputs = [GraphInput(name, array) for name, array in traced.weights]
    names = _apply_names(default_input_names, input_names, "input")
    if traced.lowered is not None:
        loaded = from_lowering(traced.lowered)
        # No symbolic dims on this path: the inputs need only their names.
        direct_inputs = inputs + [GraphInput(n) for n, _ in zip(names, range(traced.num_inputs))]
        outputs = _apply_names([f"output_{i}" for i in range(len(loaded.signature()[1]))],
                               output_names, "output")
        try:
            model = convert_module(loaded, direct_inputs, outputs, **options)
            traced.path = "direct"
            return model
        except ConversionError:
            pass  # a fresh conversion from the artifact follows
    traced.path = "export"
    exported = traced.exported
    user_avals = exported.in_avals[len(traced.weights):]
    inputs += [GraphInput(n, dim_names=symbolic_dim_names(aval.shape))
               for n, aval in zip(names, user_avals)]
    outputs = _apply_names(
        [f"output_{i}" for i in range(len(exported.out_avals))], output_names, "output"
    )
    return convert_module(load_module(exported), inputs, outputs,
                          out_avals=exported.out_avals, **options)


def convert_loaded(loaded: StableHLOModule, *, opset: int, model_name: str,
                    input_names: Sequence[str] | None, output_names: Sequence[str] | None,
                    record_file: str | os.PathLike | None,
                    layout: Layout = ((), ())) -> ir.Model:
    """The model of a loaded module; an Exported's avals give its symbolic dim names."""
    arg_names = loaded.arg_names()
    exported = loaded.exported
    avals: Sequence[Any] = [None] * len(arg_names)
    kept, out_avals = list(range(len(arg_names))), None
    if exported is not None:  # jit drops unused arguments; the graph keeps them as inputs
        avals, kept = exported.in_avals, list(exported.module_kept_var_idx)
        out_avals = exported.out_avals
    defaults = [f"input_{i}" for i in range(len(avals))]
    for position, name in zip(kept, arg_names):
        defaults[position] = name or defaults[position]
    names = _apply_names(_unique(defaults), input_names, "input")
    module_dims = loaded.dim_names()
    inputs = [GraphInput(names[i], dim_names=symbolic_dim_names(avals[i].shape)
                         if avals[i] is not None else module_dims[k])
              for k, i in enumerate(kept)]
    unused = [(i, _unused_input(names[i], avals[i])) for i in range(len(avals))
              if i not in kept]
    n_outputs = len(loaded.signature()[1])
    outputs = _apply_names([f"output_{i}" for i in range(n_outputs)], output_names, "output")
    return convert_module(loaded, inputs, outputs, opset=opset, model_name=model_name,
                          out_avals=out_avals, record_file=record_file, unused_inputs=unused,
                          layout=layout)


def _unique(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        unique.append(name if not seen[name] else f"{name}_{seen[name]}")
        seen[name] += 1
    return unique


def _unused_input(name: str, aval: Any) -> ir.Value:
    """The graph input of an argument the program does not use, typed as a used one would
    be (a complex argument is a float (real, imag) pair)."""
    dims = [d if isinstance(d, int) else str(d) for d in aval.shape]
    spec = onnx_spec(TensorSpec(ir.DataType.from_numpy(np.dtype(aval.dtype)), tuple(dims)))
    return ir.Value(name=name, shape=ir.Shape(spec.shape), type=ir.TensorType(spec.dtype))


def convert_module(loaded: StableHLOModule, inputs: list[GraphInput], output_names: list[str],
                   *, opset: int, model_name: str, out_avals: Sequence[Any] | None = None,
                   weight_names: Sequence[str] = (),
                   record_file: str | os.PathLike | None = None,
                   unused_inputs: Sequence[tuple[int, ir.Value]] = (),
                   layout: Layout = ((), ())) -> ir.Model:
    """Lowers a loaded module to a cleaned ONNX model: the one path every entry point takes.

    `unused_inputs` are (position, value) graph inputs the module does not take.
    """
    with loaded.context:
        lowering = ModuleLowering(loaded.module, entry=loaded.entry)
        graph = lowering.lower(inputs, output_names)
    if record_file is not None:
        write_text_atomically(Path(record_file), "".join(f"{line}\n" for line in lowering.record))
    for position, value in unused_inputs:
        graph.inputs.insert(position, value)
    for value, aval in zip(graph.outputs, out_avals or ()):  # "B", "2*B", "T - 1"
        names = symbolic_dim_names(aval.shape)
        if names and value.shape is not None:
            value.shape = ir.Shape([names.get(a, d) for a, d in enumerate(value.shape)])
    adapt_layout(graph, *layout)  # before the passes, which cancel the transposes
    graph.name = model_name
    graph.opset_imports[""] = opset
    model = ir.Model(
        graph,
        ir_version=ir_version_for(opset),
        producer_name="jax2onnx_hlo",
        producer_version=__version__,
    )
    lowering.attach_functions(model)
    return run_passes(model, weight_names=weight_names)
