"""Loading StableHLO into an MLIR module: from a `jax.export.Exported`, the bytes
`Exported.serialize()` wrote (or a file of them), MLIR text, MLIR bytecode, or a StableHLO
portable artifact, and preparing it for the walker.

Preparing means: pick the entry function (`@main`, else the single public one), select
the CPU branch of a multi-platform export, and drop effect tokens, which ONNX has no use
for. Everything is done on the MLIR module itself, so weights held as constants are never
printed as text.
"""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jax import export as jax_export

from ._mlir import (
    MLIRError,
    deserialize_portable_artifact,
    hlo,
    location_name,
    make_ir_context,
    parse_module,
    run_mlir_passes,
    stablehlo_version,
    string_attr,
    symbol_ref,
)
from ._mlir import ir as mlir
from .errors import ConversionError
from .rule_selection import STRUCTURAL_OPS, rule_key

__all__ = ["StableHLOModule", "UnreadableModuleError", "from_lowering", "load_exported",
           "load_module"]

BYTECODE_MAGIC = b"ML\xefR"
PLATFORM_INDEX = "_platform_index"  # jax.global_constant of a multi-platform export's index
_PORTABLE_PRODUCER = re.compile(rb"StableHLO_v(\d+)\.(\d+)\.(\d+)\x00")
_EXPORT_HINT = ("export with jax.export.export(jax.jit(f), platforms=['cpu']) and save "
                "exported.serialize()")

class UnreadableModuleError(ConversionError):
    """The input is not StableHLO this jax can read: corrupt, not MLIR, or too new."""


# StableHLOModule | Exported | bytes | bytearray | str (MLIR text or a path) | PathLike
Source = Any


@dataclass
class StableHLOModule:
    """A StableHLO module in its own MLIR context, prepared for the walker.

    Use the module's ops inside `with loaded.context:`.
    """

    context: mlir.Context
    module: mlir.Module
    entry: str  # the entry function's symbol name
    kind: str  # what it was loaded from, for messages: "jax.export artifact", "MLIR text", ...
    exported: jax_export.Exported | None = None
    dropped_tokens: int = 0  # effect-token arguments and results removed from the entry
    functions: dict[str, mlir.OpView] = field(default_factory=dict)

    @property
    def entry_block(self) -> mlir.Block:
        return self.functions[self.entry].regions[0].blocks[0]

    def arg_names(self) -> list[str | None]:
        """The entry's argument names as JAX wrote them in locations, cleaned for ONNX."""
        with self.context:
            return [_clean_name(n) if n else None for n in self._raw_arg_names()]

    def _raw_arg_names(self) -> list[str | None]:
        block = self.entry_block
        names = [location_name(arg.location) for arg in block.arguments]
        # A shape-polymorphic export names arguments only in the function @main calls.
        for op in block.operations:
            if op.operation.name != "func.call":
                continue
            callee = self.functions[symbol_ref(op.attributes["callee"])].regions[0].blocks[0]
            for operand, param in zip(op.operands, callee.arguments):
                if isinstance(operand.owner, mlir.Block) and operand.owner == block:
                    index = _arg_index(block, operand)
                    names[index] = names[index] or location_name(param.location)
        return names

    def dim_names(self) -> list[dict[int, str]]:
        """axis -> symbolic dim name for each entry argument, as far as the module says.

        JAX's @main reads each dim variable with `get_dimension_size` and passes it to the
        function it calls, whose parameter carries `jax.global_constant = "B"`; the other
        arguments' dims are checked equal to it by a `compare EQ` feeding a shape assertion.
        """
        with self.context:
            block = self.entry_block
            sizes: dict[mlir.Value, tuple[int, int]] = {}  # dim size value -> (arg, axis)
            names: list[dict[int, str]] = [{} for _ in block.arguments]
            equal: list[tuple[mlir.Value, mlir.Value]] = []
            for op in block.operations:
                name = op.operation.name
                if name == "stablehlo.get_dimension_size" and op.operands[0].owner == block:
                    axis = mlir.IntegerAttr(op.attributes["dimension"]).value
                    sizes[op.result] = (_arg_index(block, op.operands[0]), axis)
                elif name == "stablehlo.compare" and all(v in sizes for v in op.operands):
                    equal.append((op.operands[0], op.operands[1]))
                elif name == "func.call":
                    callee = self.functions[symbol_ref(op.attributes["callee"])]
                    for operand, constant in zip(op.operands, _global_constants(callee)):
                        if operand in sizes and constant:
                            arg, axis = sizes[operand]
                            names[arg][axis] = constant
            for a, b in equal:  # only EQ compares feed shape assertions between two sizes
                (arg_a, axis_a), (arg_b, axis_b) = sizes[a], sizes[b]
                if axis_b in names[arg_b]:
                    names[arg_a].setdefault(axis_a, names[arg_b][axis_b])
            return names

    def op_counts(self) -> Counter[str]:
        """How often each op occurs in the functions reachable from the entry."""
        with self.context:
            return Counter(rule_key(op) for op in self._reachable_ops()
                           if op.operation.name not in STRUCTURAL_OPS)

    def _reachable_ops(self) -> Iterator[mlir.OpView]:
        pending, seen = [self.entry], set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for op in _walk(self.functions[name].regions[0]):
                if op.operation.name == "func.call":
                    pending.append(symbol_ref(op.attributes["callee"]))
                elif op.operation.name == "stablehlo.composite":
                    pending.append(symbol_ref(op.attributes["decomposition"]))
                yield op

    def signature(self) -> tuple[list[str], list[str]]:
        """The entry's argument and result types, as MLIR prints them."""
        with self.context:
            ftype = mlir.FunctionType(
                mlir.TypeAttr(self.functions[self.entry].attributes["function_type"]).value)
            return [str(t) for t in ftype.inputs], [str(t) for t in ftype.results]

    def bytecode(self) -> bytes:
        """The module as MLIR bytecode (what a `.mlirbc` file holds)."""
        with self.context:
            buffer = io.BytesIO()
            self.module.operation.write_bytecode(buffer)
            return buffer.getvalue()


# ---- loading -----------------------------------------------------------------------------


def load_exported(source: bytes | bytearray | str | os.PathLike) -> jax_export.Exported:
    """An Exported from the bytes `Exported.serialize()` wrote, or from a file of them."""
    data = _read(source) if isinstance(source, (str, os.PathLike)) else bytes(source)
    return _deserialize_exported(data, "the data")


def load_module(source: Source, *, platform: str = "cpu") -> StableHLOModule:
    """Loads and prepares StableHLO from any supported source (see the module docstring)."""
    if isinstance(source, StableHLOModule):
        return source
    if isinstance(source, jax_export.Exported):
        return _from_exported(source, "jax.export.Exported", platform)
    if isinstance(source, (bytes, bytearray)):
        return _from_bytes(bytes(source), "the data", platform)
    if isinstance(source, str) and _looks_like_mlir_text(source):
        return _prepared(_parse(source, "MLIR text", "the text"), "MLIR text", None, platform)
    if isinstance(source, (str, os.PathLike)):
        return _from_bytes(_read(source), repr(str(source)), platform)
    raise TypeError(
        f"cannot load StableHLO from a {type(source).__name__}: give a jax.export.Exported, "
        "the bytes of Exported.serialize(), MLIR text or bytecode, or a path to one of those"
    )


def from_lowering(module: mlir.Module) -> StableHLOModule:
    """A module trace.py lowered (in JAX's context): single-platform and without tokens,
    so there is nothing to prepare."""
    with module.context:
        functions = {string_attr(op.attributes["sym_name"]): op
                     for op in module.body.operations if op.operation.name == "func.func"}
    return StableHLOModule(module.context, module, "main", "JAX lowering", functions=functions)


def _looks_like_mlir_text(text: str) -> bool:
    # A module has braces or several lines; a path ("module.mlir") has neither.
    return "\n" in text or "{" in text


def _read(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a directory, not a saved module")
    return path.read_bytes()


def _from_bytes(data: bytes, what: str, platform: str) -> StableHLOModule:
    if data.startswith(BYTECODE_MAGIC):
        if _PORTABLE_PRODUCER.search(data[:64]):
            return _prepared(_parse_portable(data, what), "StableHLO portable artifact",
                             None, platform)
        return _prepared(_parse(data, "MLIR bytecode", what), "MLIR bytecode", None, platform)
    if b"\x00" not in data:  # text: MLIR or not, but never a flatbuffer
        try:
            text = data.decode()
        except UnicodeDecodeError:
            text = None
        if text is not None:
            return _prepared(_parse(text, "MLIR text", what), "MLIR text", None, platform)
    return _from_exported(_deserialize_exported(data, what), "jax.export artifact", platform)


def _deserialize_exported(data: bytes, what: str) -> jax_export.Exported:
    try:
        exported = jax_export.deserialize(bytearray(data))
        if not exported.mlir_module_serialized.startswith(BYTECODE_MAGIC):
            raise ValueError("no StableHLO module inside")
    except Exception as e:  # flatbuffers reports truncation as struct or index errors
        raise UnreadableModuleError(
            f"{what} is not a readable jax.export artifact (truncated or corrupt: {e}); "
            "expected the bytes of Exported.serialize(), MLIR text (.mlir) or MLIR "
            "bytecode (.mlirbc)"
        ) from e
    newest = jax_export.maximum_supported_calling_convention_version
    if exported.calling_convention_version > newest:
        raise UnreadableModuleError(
            f"{what} uses jax.export calling convention "
            f"{exported.calling_convention_version}; this jax reads up to {newest}: "
            "upgrade jax and jaxlib, or export with the jax version installed here"
        )
    return exported


def _from_exported(exported: jax_export.Exported, kind: str, platform: str) -> StableHLOModule:
    if platform not in exported.platforms:
        raise ConversionError(
            f"the artifact was exported for {', '.join(exported.platforms)} only; ONNX needs "
            f"the {platform} lowering: {_EXPORT_HINT}"
        )
    context, module = _parse_portable(exported.mlir_module_serialized, "the artifact")
    loaded = _prepared((context, module), kind, exported.platforms.index(platform), platform)
    loaded.exported = exported
    return loaded


def _parse_portable(data: bytes, what: str) -> tuple[mlir.Context, mlir.Module]:
    _check_portable_version(data, what)
    context = make_ir_context()
    with context:
        try:
            return context, deserialize_portable_artifact(data)
        except Exception as e:
            raise UnreadableModuleError(f"{what} is not a readable StableHLO artifact: {e}") from e


def _check_portable_version(data: bytes, what: str) -> None:
    found = _PORTABLE_PRODUCER.search(data[:64])
    version = tuple(int(v) for v in found.groups()) if found else None
    if version is not None and version > stablehlo_version():
        have = ".".join(map(str, stablehlo_version()))
        raise UnreadableModuleError(
            f"{what} holds StableHLO v{'.'.join(map(str, version))}, newer than the "
            f"v{have} this jaxlib reads: it was written by a newer jax. Upgrade jax and "
            "jaxlib here, or export with an older jax"
        )


def _parse(source: str | bytes, kind: str, what: str) -> tuple[mlir.Context, mlir.Module]:
    context = make_ir_context()
    with context:
        try:
            return context, parse_module(source)
        except MLIRError as e:
            first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()),
                         str(e))
            raise UnreadableModuleError(f"{what} is not valid {kind}: {first}") from e


# ---- preparing for the walker ------------------------------------------------------------


def _prepared(parsed: tuple[mlir.Context, mlir.Module], kind: str, platform_index: int | None,
              platform: str) -> StableHLOModule:
    context, module = parsed
    with context:
        functions = {string_attr(op.attributes["sym_name"]): op
                     for op in module.body.operations if op.operation.name == "func.func"}
        entry = _entry_name(functions)
        _select_platform(functions, entry, platform_index, platform)
        dropped = _drop_tokens(functions, entry)
        if _has_dynamic_dims(functions[entry]):
            _merge_repeated_ops(module)
    return StableHLOModule(context, module, entry, kind, dropped_tokens=dropped,
                           functions=functions)


def _has_dynamic_dims(function: mlir.OpView) -> bool:
    return any(isinstance(t, mlir.RankedTensorType) and not t.has_static_shape
               for t in function.type.inputs)


def _merge_repeated_ops(module: mlir.Module) -> None:
    """MLIR's common subexpression elimination, on a module with symbolic dims: JAX's
    lowering computes a shape operand for every broadcast and reshape from scratch
    (get_dimension_size, reshape, concatenate: 3,000 of a dynamic-batch BERT's 5,800
    ops), which the walker would otherwise lower one by one for the passes to merge."""
    run_mlir_passes(module.operation, ["func.func(cse)"])


def _entry_name(functions: dict[str, mlir.OpView]) -> str:
    if "main" in functions:
        return "main"
    public = [name for name, op in functions.items()
              if "sym_visibility" not in op.attributes
              or string_attr(op.attributes["sym_visibility"]) == "public"]
    if len(public) == 1:
        return public[0]
    found = ", ".join("@" + n for n in public) or "none"
    raise ConversionError(
        f"the module has no func.func @main and {len(public)} public functions ({found}); "
        "name the entry function main"
    )


def _select_platform(functions: dict[str, mlir.OpView], entry: str, index: int | None,
                     platform: str) -> None:
    """Replaces a multi-platform export's platform index by the constant for `platform`,
    then keeps only the branches of the `stablehlo.case`s that index selects."""
    marked = {name: _platform_index_args(op) for name, op in functions.items()}
    if not marked[entry]:
        return
    if index is None:
        raise ConversionError(
            "the module is a multi-platform export (@main takes a platform index) and raw "
            "StableHLO does not record which index is which platform: convert the "
            f"serialized jax.export artifact instead, or {_EXPORT_HINT}"
        )
    for name, args in marked.items():
        block = functions[name].regions[0].blocks[0]
        for arg in args:
            with mlir.InsertionPoint.at_block_begin(block), mlir.Location.unknown():
                constant = hlo.ConstantOp(mlir.DenseElementsAttr.get(np.array(index, np.int32)))
            arg.replace_all_uses_with(constant.result)
    _remove_entry_args(functions[entry], {_arg_index(functions[entry].regions[0].blocks[0], a)
                                          for a in marked[entry]})
    while (case := _next_constant_case(functions)) is not None:
        _inline_selected_branch(case)


def _platform_index_args(function: mlir.OpView) -> list[mlir.Value]:
    block = function.regions[0].blocks[0]
    return [block.arguments[i] for i, name in enumerate(_global_constants(function))
            if name == PLATFORM_INDEX]


def _global_constants(function: mlir.OpView) -> list[str | None]:
    """Each parameter's `jax.global_constant` (a dim variable or the platform index)."""
    n_args = len(function.regions[0].blocks[0].arguments)
    if "arg_attrs" not in function.attributes:
        return [None] * n_args
    found = []
    for attr in mlir.ArrayAttr(function.attributes["arg_attrs"]):
        attr = mlir.DictAttr(attr)
        found.append(string_attr(attr["jax.global_constant"])
                     if "jax.global_constant" in attr else None)
    return found


def _next_constant_case(functions: dict[str, mlir.OpView]) -> mlir.OpView | None:
    for function in functions.values():
        for op in _walk(function.regions[0]):
            if op.operation.name == "stablehlo.case" and _constant_of(op.operands[0]) is not None:
                return op
    return None


def _constant_of(value: mlir.Value) -> int | None:
    owner = value.owner
    if isinstance(owner, mlir.Block) or owner.operation.name != "stablehlo.constant":
        return None
    return int(np.asarray(owner.attributes["value"]))


def _inline_selected_branch(case: mlir.OpView) -> None:
    """Moves the selected branch's ops before the case and forwards its results."""
    index = _constant_of(case.operands[0])
    branches = list(case.regions)
    # StableHLO: an index out of range selects the last branch.
    branch = branches[index if 0 <= index < len(branches) else -1].blocks[0]
    ops = list(branch.operations)
    for op in ops[:-1]:
        op.move_before(case)
    for result, value in zip(case.results, ops[-1].operands):
        result.replace_all_uses_with(value)
    case.operation.erase()


# ---- effect tokens -----------------------------------------------------------------------


def _drop_tokens(functions: dict[str, mlir.OpView], entry: str) -> int:
    """Removes `!stablehlo.token` arguments and results that are only passed along.

    JAX threads a token through functions with ordered effects; ONNX has no effects, so a
    token that no op consumes carries nothing. A token an op does consume is an error.
    """
    token_args = {name: [i for i, a in enumerate(op.regions[0].blocks[0].arguments)
                         if _is_token(a.type)] for name, op in functions.items()}
    if not any(token_args.values()):
        return 0
    calls = []
    for function in functions.values():
        for op in _walk(function.regions[0]):
            if op.operation.name == "func.call":
                calls.append(op)
            elif op.operation.name != "func.return" and any(_is_token(v.type)
                                                             for v in op.operands):
                raise ConversionError(
                    f"{op.operation.name} consumes an effect token (an ordered effect such as "
                    "jax.debug.print or io_callback): ONNX has no side effects; remove the "
                    "effect from the exported function"
                )
    returns = [op for function in functions.values() for op in _walk(function.regions[0])
               if op.operation.name == "func.return"]
    for op in returns:
        _replace_op(op, [v for v in op.operands if not _is_token(v.type)])
    for call in reversed(calls):  # later calls first: they use earlier calls' tokens
        kept = [v for i, v in enumerate(call.operands)
                if i not in token_args[symbol_ref(call.attributes["callee"])]]
        _replace_op(call, kept)
    dropped = len(token_args[entry]) + sum(
        _is_token(t) for t in _function_type(functions[entry]).results)
    for name, function in functions.items():
        _remove_entry_args(function, set(token_args[name]))
    return dropped


def _is_token(type_: mlir.Type) -> bool:
    return str(type_) == "!stablehlo.token"


def _replace_op(op: mlir.OpView, operands: list[mlir.Value]) -> None:
    """Recreates `op` with `operands`, dropping token results; non-token uses move over."""
    results = [r for r in op.results if not _is_token(r.type)]
    new = mlir.Operation.create(
        op.operation.name, results=[r.type for r in results], operands=operands,
        attributes={name: op.attributes[name] for name in op.attributes}, loc=op.location,
        ip=mlir.InsertionPoint(op))
    for old, fresh in zip(results, new.results):
        old.replace_all_uses_with(fresh)
    op.operation.erase()


def _function_type(function: mlir.OpView) -> mlir.FunctionType:
    return mlir.FunctionType(mlir.TypeAttr(function.attributes["function_type"]).value)


def _remove_entry_args(function: mlir.OpView, indices: set[int]) -> None:
    """Erases the arguments at `indices`, and token results, from a function's signature."""
    ftype = _function_type(function)
    keep_args = [i for i in range(len(ftype.inputs)) if i not in indices]
    keep_results = [i for i, t in enumerate(ftype.results) if not _is_token(t)]
    if len(keep_args) == len(ftype.inputs) and len(keep_results) == len(ftype.results):
        return
    block = function.regions[0].blocks[0]
    for i in sorted(indices, reverse=True):
        block.erase_argument(i)
    function.attributes["function_type"] = mlir.TypeAttr.get(mlir.FunctionType.get(
        [ftype.inputs[i] for i in keep_args], [ftype.results[i] for i in keep_results]))
    for name, keep in (("arg_attrs", keep_args), ("res_attrs", keep_results)):
        if name in function.attributes:
            attrs = mlir.ArrayAttr(function.attributes[name])
            function.attributes[name] = mlir.ArrayAttr.get([attrs[i] for i in keep])


# ---- small helpers -----------------------------------------------------------------------


def _walk(region: mlir.Region) -> Iterator[mlir.OpView]:
    """Every op of a region, nested regions included, in order (a snapshot per block)."""
    for block in region.blocks:
        for op in list(block.operations):
            yield op
            for inner in op.regions:
                yield from _walk(inner)


def _arg_index(block: mlir.Block, value: mlir.Value) -> int:
    return next(i for i, arg in enumerate(block.arguments) if arg == value)


_INDEX = re.compile(r"\[['\"]?([^\]'\"]*)['\"]?\]")


def _clean_name(name: str) -> str:
    """`params['w'][0]` -> `params.w.0`: pytree paths as dotted names."""
    return _INDEX.sub(r".\1", name).lstrip(".")
