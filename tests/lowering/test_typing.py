"""Values a rule makes inside its op are typed as ONNX shape inference types them (ctx.typed):
the constant folder then skips the inference, so the type given must be the inferred one."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnx_ir as ir
import pytest
from jax import lax

import jax2onnx_hlo.api as api
from jax2onnx_hlo import to_onnx

f32 = np.float32


def _conv(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), "SAME",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


CASES = [
    ("batched_dot", lambda a, b: jnp.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    ("both_transposed_dot", lambda a, b: jnp.einsum("bki,bjk->bij", a, b), [(2, 4, 3), (2, 5, 4)]),
    ("merged_dot", lambda a, b: jnp.einsum("bhik,bjk->bhij", a, b), [(2, 3, 4, 5), (2, 6, 5)]),
    ("x_times_wt", lambda x, w: x @ w.T, [(3, 4), (5, 4)]),
    ("int8_dot", lambda a, b: jnp.matmul(a.astype(jnp.int8), b.astype(jnp.int8),
                                         preferred_element_type=jnp.int32), [(3, 4), (4, 2)]),
    ("reduce_max", lambda x: jnp.max(x, axis=1), [(3, 4, 5)]),
    ("argmax", lambda x: jnp.argmax(x, axis=-1), [(3, 4)]),
    ("bf16_max", lambda x: jnp.max(x.astype(jnp.bfloat16), axis=0), [(3, 4)]),
    ("all", lambda x: jnp.all(x > 0, axis=0), [(3, 4)]),
    ("rsqrt", lambda x: lax.rsqrt(jnp.abs(x) + 1), [(3, 4)]),
    ("clamp", lambda x: jnp.clip(x, -1.0, 1.0), [(3, 4)]),
    ("to_int", lambda x: x.astype(jnp.int32), [(3, 4)]),
    ("to_bool", lambda x: x.astype(bool), [(3, 4)]),
    ("not_equal", lambda x, y: x != y, [(3, 4), (3, 4)]),
    ("conv", _conv, [(1, 8, 8, 3), (3, 3, 3, 4)]),
    ("max_pool", lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                             "VALID"), [(1, 4, 4, 3)]),
]


@pytest.mark.parametrize("fn,shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_typed_values_are_what_onnx_infers(monkeypatch, fn, shapes):
    untyped = []
    run_passes = api.run_passes

    def capture(model, *args, **kwargs):
        # broadcast_in_dim's Unsqueeze stays untyped: typed, the passes would drop its Expand
        # a round earlier, leaving a [1, 1] constant where they now leave a scalar.
        untyped.extend(n.op_type for n in model.graph
                       if n.op_type != "Unsqueeze" and any(v.shape is None for v in n.outputs))
        for node in model.graph:  # before the passes change the walker's graph
            for value in node.outputs:
                if value.type is not None and value.shape is not None and all(
                        x is None or x.type is not None for x in node.inputs):
                    _check_inferred(model.graph.opset_imports[""], node, value)
        return run_passes(model, *args, **kwargs)

    monkeypatch.setattr(api, "run_passes", capture)
    to_onnx(jax.jit(fn), [jax.ShapeDtypeStruct(s, f32) for s in shapes])
    assert not untyped, untyped


def _check_inferred(opset: int, node: ir.Node, value: ir.Value) -> None:
    """The value's type and shape equal what ONNX infers from the node's inputs."""
    types = {}
    for x in node.inputs:
        if x is None:
            continue
        proto = ir.serde.serialize_type(x.type)
        ir.serde.serialize_shape_into(proto, x.shape)
        types[x.name] = proto
    data = {x.name: ir.serde.serialize_tensor(x.const_value) for x in node.inputs
            if x is not None and x.const_value is not None}
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    inferred = onnx.shape_inference.infer_node_outputs(
        schema, ir.serde.serialize_node(node), types, data)[value.name]
    assert ir.serde.deserialize_type_proto_for_type(inferred) == value.type, node.name
    assert ir.serde.deserialize_type_proto_for_shape(inferred) == value.shape, node.name
