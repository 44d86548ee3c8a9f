"""`to_onnx`: the pipeline from a JAX callable to an ONNX model."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import onnx_ir as ir
from jax import export as jax_export

from . import __version__
from ._mlir import deserialize_portable_artifact, make_ir_context
from .convert import GraphInput, ModuleLowering, ir_version_for
from .passes import run_passes
from .save import check_return_mode, deliver, write_text_atomically
from .specs import to_shape_dtype_structs
from .trace import TracedProgram, trace

__all__ = ["SUPPORTED_OPSETS", "to_onnx"]

SUPPORTED_OPSETS = range(18, 24)
EXPORT_MODES = ("standard", "web")


def to_onnx(
    fn: Callable,
    inputs: Sequence[Any],
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
):
    """Converts `fn(*inputs, **input_params)` to ONNX.

    `inputs` holds one spec per positional argument: a shape tuple (float32, dims may be
    names such as "B"), a `jax.ShapeDtypeStruct`, or an array; pytrees of those are
    flattened in `jax.tree_util` order. The graph's inputs are those leaves followed by
    `input_params` (named by their keys); its outputs are the leaves of fn's result.
    """
    _check_opset(opset)
    check_return_mode(return_mode, output_path)
    if export_mode not in EXPORT_MODES:
        raise ValueError(f"export_mode={export_mode!r} is not one of {EXPORT_MODES}")
    if inputs_as_nchw or outputs_as_nchw:
        raise NotImplementedError(
            "inputs_as_nchw/outputs_as_nchw are not implemented yet; transpose at the "
            "model boundary in your function for now"
        )
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
        args = to_shape_dtype_structs(list(inputs), scope, "inputs")
        kwargs = to_shape_dtype_structs(input_params, scope, "input_params",
                                        allow_scalars=True)
        traced = trace(fn, args, kwargs)
    n_args = len(jax.tree_util.tree_leaves(args))
    names = [f"input_{i}" for i in range(n_args)] + list(input_params)
    model = convert_traced(traced, names, opset=opset, model_name=model_name,
                           input_names=input_names, output_names=output_names,
                           record_file=record_primitive_calls_file)
    return deliver(model, return_mode, output_path)


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
                   record_file: str | os.PathLike | None = None) -> ir.Model:
    exported = traced.exported
    inputs = [GraphInput(name, array) for name, array in traced.weights]
    user_avals = exported.in_avals[len(traced.weights):]
    inputs += [
        GraphInput(n, dim_names=symbolic_dim_names(aval.shape))
        for n, aval in zip(_apply_names(default_input_names, input_names, "input"), user_avals)
    ]
    outputs = _apply_names(
        [f"output_{i}" for i in range(len(exported.out_avals))], output_names, "output"
    )
    with make_ir_context():
        module = deserialize_portable_artifact(exported.mlir_module_serialized)
        lowering = ModuleLowering(module)
        graph = lowering.lower(inputs, outputs)
    if record_file is not None:
        write_text_atomically(Path(record_file), "".join(f"{line}\n" for line in lowering.record))
    for value, aval in zip(graph.outputs, exported.out_avals):  # "B", "2*B", "T - 1"
        names = symbolic_dim_names(aval.shape)
        if names and value.shape is not None:
            value.shape = ir.Shape([names.get(a, d) for a, d in enumerate(value.shape)])
    graph.name = model_name
    graph.opset_imports[""] = opset
    model = ir.Model(
        graph,
        ir_version=ir_version_for(opset),
        producer_name="jax2onnx_hlo",
        producer_version=__version__,
    )
    return run_passes(model, weight_names=[name for name, _ in traced.weights])
