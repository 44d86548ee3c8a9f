"""to_onnx walks JAX's own lowering when it can (trace.py), and the jax.export artifact
otherwise: each case checks the path taken, the numbers against jax.jit, and that the
direct path gives the very model the artifact gives."""

import re

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import onnx
import onnxscript.optimizer
import pytest
from flax import nnx
from jax import export as jax_export
from jax import lax

from jax2onnx_hlo import ConversionError, to_onnx
from jax2onnx_hlo import trace as trace_module
from jax2onnx_hlo.api import convert_traced
from jax2onnx_hlo.save import deliver
from jax2onnx_hlo.specs import to_shape_dtype_structs
from jax2onnx_hlo.testing import assert_outputs_close, random_array, run_onnx
from jax2onnx_hlo.trace import DECOMPOSED_CHLO, TracedProgram, trace

CAPTURED = np.arange(4, dtype=np.float32)


class Linear(nnx.Module):
    def __init__(self):
        self.layer = nnx.Linear(4, 3, rngs=nnx.Rngs(0))

    def __call__(self, x):
        return jax.nn.gelu(self.layer(x), approximate=False)


# (id, fn, input shapes, the path the conversion takes)
CASES = [
    ("elementwise", lambda x: 2.0 * x + 1.0, [(3, 4)], "direct"),
    ("nnx_weights", Linear(), [(2, 4)], "direct"),
    ("closed_over_array", lambda x: x * CAPTURED, [(3, 4)], "direct"),
    ("constants_move_up_as_in_the_artifact", lambda x: jnp.maximum(2 * x + 1, 0.5) * 3,
     [(3, 4)], "direct"),
    ("chlo_decomposed_in_place", lambda x: jnp.square(x) + lax.erfc(x), [(3, 4)], "direct"),
    ("chlo_kept_for_the_walker",  # lowering/chlo.py
     lambda x: jax.nn.gelu(x, approximate=False) * jnp.square(x), [(3, 4)], "direct"),
    ("chlo_lgamma_digamma", lambda x: lax.lgamma(x + 2) + lax.digamma(x + 2), [(5,)], "direct"),
    ("complex_math_expanded_as_in_the_artifact",
     lambda x: jnp.real(jnp.exp(x * 1j) * jnp.sqrt(x + 1j)), [(3, 4)], "direct"),
    ("symbolic_batch", lambda x: jnp.tanh(x).sum(-1), [("B", 4)], "export"),
    # CHLO ops the artifact keeps as composites: erf (a rule), sinh (its decomposition)
    ("chlo_kept_with_a_rule", lambda x: lax.erf(x), [(3, 4)], "export"),
    ("chlo_kept_without_a_rule", lambda x: jnp.sinh(x), [(3, 4)], "export"),
    ("kept_and_decomposed_chlo", lambda x: lax.erf(x) * jnp.square(x), [(3, 4)], "export"),
]


def _convert(fn, shapes):
    """(traced program, ONNX model) of fn, as to_onnx converts it."""
    specs = to_shape_dtype_structs(list(shapes), jax_export.SymbolicScope(), "inputs")
    traced = trace(fn, specs, {})
    names = [f"input_{i}" for i in range(len(shapes))]
    model = convert_traced(traced, names, opset=23, model_name="m", input_names=None,
                           output_names=None)
    return traced, deliver(model, "proto", None)


def _through_export(fn, shapes, monkeypatch):
    """The model of the artifact path, as to_onnx made it before the direct path."""
    with monkeypatch.context() as patch:
        patch.setattr(trace_module, "_lowering_is_export", lambda *args: False)
        return _convert(fn, shapes)


@pytest.mark.parametrize("fn, shapes, path", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_path_numbers_and_same_model_as_export(fn, shapes, path, monkeypatch):
    traced, model = _convert(fn, shapes)
    assert traced.path == path
    args = [random_array([2 if isinstance(d, str) else d for d in s], seed=1) for s in shapes]
    expected = jax.tree_util.tree_leaves(jax.jit(fn)(*args))
    assert_outputs_close(expected, run_onnx(model, args), rtol=1e-5, atol=1e-5)
    exported_traced, exported_model = _through_export(fn, shapes, monkeypatch)
    assert exported_traced.path == "export"
    assert _without_constant_numbers(model) == _without_constant_numbers(exported_model)


def test_below_opset_20_the_paths_write_exact_gelu_differently(monkeypatch):
    """Without ONNX's Gelu, the direct path writes gelu's erfc as 1 - Erf (6 nodes in all,
    lowering/chlo.py), the artifact's as its polynomial: both compute gelu."""
    fn = Linear()
    x = random_array((2, 4), seed=1)
    expected = jax.jit(fn)(x)
    ops = {}
    for path in ("direct", "export"):
        with monkeypatch.context() as patch:
            if path == "export":
                patch.setattr(trace_module, "_lowering_is_export", lambda *args: False)
            model = to_onnx(fn, [(2, 4)], opset=19)
        assert_outputs_close([expected], run_onnx(model, [x]), rtol=1e-5, atol=1e-6)
        ops[path] = [n.op_type for n in model.graph.node]
    assert "Erf" in ops["direct"] and len(ops["direct"]) < 10
    assert "Erf" not in ops["export"] and len(ops["export"]) > 40


def _without_constant_numbers(model: onnx.ModelProto) -> bytes:
    """The serialized model, with the walker's numbers for its constants left out of the
    provenance of folded initializers ("folded from const_4 and layer.bias"): the walker
    numbers constants in the order of the module, and the artifact's has the constants of
    erfc's polynomial first, where the direct path keeps gelu's erfc (lowering/chlo.py)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for info in [*model.graph.initializer, *model.graph.value_info]:
        for prop in info.metadata_props:
            if prop.key == onnxscript.optimizer.FOLDED_FROM_KEY:
                prop.value = re.sub(r"'const_\d+'", "'const'", prop.value)
    return model.SerializeToString()


def test_effects_take_the_export_path_and_its_error():
    def printing(x):
        jax.debug.print("x={x}", x=x)
        return x + 1

    specs = [jax.ShapeDtypeStruct((3,), jnp.float32)]
    assert trace(printing, specs, {}).lowered is None
    with pytest.raises(NotImplementedError, match="host_callbacks"):
        to_onnx(printing, [(3,)])


def test_unsupported_op_reports_the_export_paths_error(monkeypatch):
    def eigenvalues(x):
        return jnp.linalg.eigh(x @ x.T)[0]

    with pytest.raises(ConversionError) as direct:
        _convert(eigenvalues, [(3, 3)])
    with pytest.raises(ConversionError) as exported:
        _through_export(eigenvalues, [(3, 3)], monkeypatch)
    assert "lapack" in str(direct.value) and str(direct.value) == str(exported.value)


def test_jax_module_is_not_modified():
    """The module walked is a copy of JAX's (possibly cached) lowering, rewritten."""
    for fn in (lambda x: jnp.tanh(x) * 2, lambda x: jnp.square(x) + lax.erfc(x)):
        specs = [jax.ShapeDtypeStruct((3, 4), jnp.float32)]
        traced = trace(fn, specs, {})
        module = trace_module._lower_as_export(jax.jit(fn).trace(*specs), ("cpu",))
        before, walked = str(module), str(traced.lowered)
        first = convert_traced(traced, ["x"], opset=23, model_name="m", input_names=None,
                               output_names=None)
        second = convert_traced(traced, ["x"], opset=23, model_name="m", input_names=None,
                                output_names=None)
        assert str(traced.lowered) == walked
        assert deliver(first, "proto", None) == deliver(second, "proto", None)
        rewritten = trace_module._as_in_artifact(module)
        assert str(module) == before
        assert "chlo." not in str(rewritten)


# One JAX function per CHLO op the artifact is said to decompose.
DECOMPOSED_BY = {
    "chlo.atan": jnp.arctan,
    "chlo.bessel_i1e": lax.bessel_i1e,
    "chlo.digamma": lax.digamma,
    "chlo.erf_inv": lax.erf_inv,
    "chlo.erfc": lax.erfc,
    "chlo.lgamma": lax.lgamma,
    "chlo.next_after": lambda x: jnp.nextafter(x, x + 1),
    "chlo.polygamma": lambda x: jsp.polygamma(1, x),
    "chlo.square": jnp.square,
    "chlo.zeta": lambda x: jsp.zeta(x + 2.0, x + 1.0),
}


def test_every_decomposed_chlo_op_has_a_case():
    assert set(DECOMPOSED_BY) == DECOMPOSED_CHLO


@pytest.mark.parametrize("op", sorted(DECOMPOSED_BY))
def test_the_artifact_decomposes_these_chlo_ops(op):
    """DECOMPOSED_CHLO matches this jax: its lowering has the op, its artifact has none."""
    specs = [jax.ShapeDtypeStruct((3, 4), jnp.float32)]
    jitted = jax.jit(DECOMPOSED_BY[op])
    lowered = trace_module._lower_as_export(jitted.trace(*specs), ("cpu",))
    assert op in str(lowered)
    assert "chlo." not in jax_export.export(jitted, platforms=["cpu"])(*specs).mlir_module()


def test_traced_program_from_an_exported_takes_the_export_path():
    exported = jax_export.export(jax.jit(jnp.sin), platforms=["cpu"])(
        jax.ShapeDtypeStruct((3,), jnp.float32))
    traced = TracedProgram(exported, [], 1)
    convert_traced(traced, ["x"], opset=23, model_name="m", input_names=None,
                   output_names=None)
    assert traced.path == "export"
