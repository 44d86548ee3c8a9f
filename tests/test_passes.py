"""Post-conversion passes: no batch-sized constants, weight names kept, numbers unchanged."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jax2onnx_hlo.examples import CNN
from jax2onnx_hlo.testing import check_against_jax, random_array


def _eval(model):
    model.eval()
    return model


def test_broadcast_constants_are_not_baked_at_batch_size():
    # relu's zero, biases and avg_pool's divisor broadcast to (B, ...) in StableHLO.
    model = check_against_jax(_eval(CNN(rngs=nnx.Rngs(0))), [random_array((4, 28, 28, 1))],
                              rtol=1e-4)
    batch_sized = [i.name for i in model.graph.initializer if i.dims and i.dims[0] == 4]
    assert batch_sized == []


def test_expand_kept_where_broadcasting_would_change_the_shape():
    # Both operands need the Expand: neither has the full output shape.
    def f(x, y):
        return jnp.maximum(jnp.broadcast_to(x, (3, 4)), jnp.broadcast_to(y, (3, 4)))

    check_against_jax(f, [random_array((3, 1)), random_array((1, 4), seed=1)])


def test_folded_weights_keep_their_names():
    model = check_against_jax(_eval(CNN(rngs=nnx.Rngs(0))), [random_array((2, 28, 28, 1))],
                              rtol=1e-4)
    names = {i.name for i in model.graph.initializer}
    assert {"conv1.kernel", "conv2.kernel", "linear1.kernel", "conv1.bias"} <= names
    kernel = next(i for i in model.graph.initializer if i.name == "conv1.kernel")
    assert list(kernel.dims) == [16, 1, 3, 3]  # folded to ONNX's OIHW layout


def test_where_with_expanded_scalar_branch():
    check_against_jax(lambda x: jnp.where(x > 0, x, 0.0), [random_array((5, 3))])
    check_against_jax(lambda x: jnp.where(x > 0, 1.0, np.float32(-1)), [random_array((5, 3))])


def test_transposes_sink_through_bias_and_relu_and_cancel():
    """NHWC convs lower to Transpose/Conv/Transpose; between two convs the pair around
    bias + relu cancels once the Transpose moves below them."""
    from jax2onnx_hlo.examples import CNN as Net

    model = check_against_jax(_eval(Net(rngs=nnx.Rngs(0))), [random_array((2, 28, 28, 1))],
                              rtol=1e-4)
    op_types = [n.op_type for n in model.graph.node]
    assert op_types.count("Transpose") == 2, op_types  # the input, and before the flatten


@pytest.mark.parametrize(
    "shapes,expected",
    [([[3, 1], [1, 4]], [3, 4]), ([["B", 4], [1, 4]], ["B", 4]), ([["B", 4], ["B", 1]], ["B", 4]),
     ([["B", 4], [4]], ["B", 4]), ([["B", 4], ["T", 4]], None), ([[None, 4], [1, 4]], None),
     ([[2, 4], [3, 4]], None), ([[1], [1, 1]], [1, 1])],
)
def test_broadcast_with_named_dims(shapes, expected):
    """Named dims broadcast only with themselves or 1; unknown dims decide nothing."""
    from jax2onnx_hlo.passes import _broadcast_dims

    assert _broadcast_dims(shapes) == expected
