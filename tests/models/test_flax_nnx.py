"""Flax nnx models against JAX: MLP with BatchNorm/Dropout, CNN, ViT-style encoder."""

import jax
import numpy as np
import pytest
from flax import nnx

from jax2onnx_hlo.examples import CNN, MLP, ViT
from jax2onnx_hlo.testing import check_against_jax, random_array


def _eval(model):
    model.eval()
    return model


def _trained_batchnorm_stats(model: MLP):
    # Non-trivial running statistics, so that inference BatchNorm really normalizes.
    for bn in (model.bn1, model.bn2):
        bn.mean.value = random_array(bn.mean.value.shape, seed=1)
        bn.var.value = random_array(bn.var.value.shape, seed=2, low=0.5, high=2.0)
    return model


MODELS = [
    ("mlp_batchnorm_dropout",
     lambda: _eval(_trained_batchnorm_stats(MLP(30, 64, 10, rngs=nnx.Rngs(0)))), [(8, 30)]),
    ("cnn", lambda: _eval(CNN(rngs=nnx.Rngs(0))), [(4, 28, 28, 1)]),
    ("vit_encoder", lambda: _eval(ViT(rngs=nnx.Rngs(0))), [(2, 16, 16, 3)]),
]


@pytest.mark.parametrize("name,build,shapes", MODELS, ids=[m[0] for m in MODELS])
def test_nnx_model_matches_jax(name, build, shapes):
    model = build()
    args = [random_array(s, seed=i) for i, s in enumerate(shapes)]
    onnx_model = check_against_jax(model, args, rtol=1e-4, atol=1e-5)
    initializers = {i.name for i in onnx_model.graph.initializer}
    # Weights arrive as initializers named after their place in the module.
    assert any("kernel" in n for n in initializers), sorted(initializers)[:10]


def test_dropout_is_identity_in_eval_mode():
    model = _eval(MLP(4, 8, 2, rngs=nnx.Rngs(0)))
    onnx_model = check_against_jax(model, [random_array((3, 4))])
    assert not {"RandomUniform", "RandomUniformLike", "Dropout"} & {
        n.op_type for n in onnx_model.graph.node
    }


def test_jitted_function_of_nnx_model():
    model = _eval(MLP(4, 8, 2, rngs=nnx.Rngs(0)))

    @jax.jit
    def predict(x):
        return jax.nn.softmax(model(x))

    check_against_jax(predict, [random_array((3, 4))])


def test_weights_never_become_module_constants():
    """A model's weights are lifted to arguments: the StableHLO holds no weight-size constant."""
    from jax2onnx_hlo.trace import trace

    model = _eval(MLP(64, 256, 10, rngs=nnx.Rngs(0)))
    program = trace(model, [jax.ShapeDtypeStruct((2, 64), np.float32)], {})
    text = program.exported.mlir_module()
    assert "dense<" not in text or all(
        len(line) < 2000 for line in text.splitlines() if "stablehlo.constant" in line
    )
    names = [name for name, _ in program.weights]
    assert "linear1.kernel" in names and "head.bias" in names
