"""inputs_as_nchw / outputs_as_nchw: channels-first ONNX interface, channels-last JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

from jax2onnx_hlo import allclose, allclose_onnxruntime_web, to_onnx
from jax2onnx_hlo.examples import CNN
from jax2onnx_hlo.layout import channels_first, channels_last
from jax2onnx_hlo.testing import assert_outputs_close, random_array, run_onnx


class ConvNet(nnx.Module):
    """Conv -> relu -> conv: an NHWC image in, an NHWC feature map out."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 8, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 4, kernel_size=(3, 3), strides=(2, 2), rngs=rngs)

    def __call__(self, x):
        return self.conv2(nnx.relu(self.conv1(x)))


def _dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_nchw_in_and_out_matches_jax_and_cancels_transposes(tmp_path):
    net = ConvNet(rngs=nnx.Rngs(0))
    x = random_array((2, 16, 16, 3))
    path = tmp_path / "net.onnx"
    to_onnx(net, [x], inputs_as_nchw=[0], outputs_as_nchw=[0], return_mode="file",
            output_path=path)
    model = onnx.load(str(path))
    assert _dims(model.graph.input[0]) == [2, 3, 16, 16]
    assert _dims(model.graph.output[0]) == [2, 4, 8, 8]
    (got,) = run_onnx(model, [channels_first(x)])
    assert_outputs_close([jax.jit(net)(x)], [channels_last(got)], rtol=1e-4, atol=1e-5)
    # The interface transposes cancel against the Conv layout changes, and the pairs around
    # bias + relu between the convs cancel once sunk through them: no Transpose is left.
    assert "Transpose" not in [n.op_type for n in model.graph.node]
    ok, message = allclose(net, path, [x], inputs_as_nchw=[0], outputs_as_nchw=[0], rtol=1e-4)
    assert ok, message


def test_nchw_input_only_with_a_symbolic_batch():
    model_fn = CNN(rngs=nnx.Rngs(0))
    model_fn.eval()
    model = to_onnx(model_fn, [("B", 28, 28, 1)], inputs_as_nchw=[0])
    assert _dims(model.graph.input[0]) == ["B", 1, 28, 28]
    for batch in (1, 3):
        x = random_array((batch, 28, 28, 1), seed=batch)
        (got,) = run_onnx(model, [channels_first(x)])
        assert_outputs_close([jax.jit(model_fn)(x)], [got], rtol=1e-4, atol=1e-5)


def test_nchw_keeps_names_and_other_inputs():
    def f(image, scale):
        return jnp.mean(image, axis=(1, 2)) * scale, image * 2.0

    model = to_onnx(f, [(2, 5, 5, 3), (3,)], inputs_as_nchw=[0], outputs_as_nchw=[1],
                    input_names=["image", "scale"], output_names=["pooled", "doubled"])
    assert [i.name for i in model.graph.input] == ["image", "scale"]
    assert [o.name for o in model.graph.output] == ["pooled", "doubled"]
    assert _dims(model.graph.input[1]) == [3]
    assert _dims(model.graph.output[0]) == [2, 3] and _dims(model.graph.output[1]) == [2, 3, 5, 5]
    image, scale = random_array((2, 5, 5, 3)), random_array((3,), seed=1)
    pooled, doubled = run_onnx(model, [channels_first(image), scale])
    want_pooled, want_doubled = jax.jit(f)(image, scale)
    assert_outputs_close([want_pooled, want_doubled], [pooled, channels_last(doubled)],
                         rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,needle",
    [({"inputs_as_nchw": [3]}, "inputs_as_nchw: 3 is not an input position"),
     ({"outputs_as_nchw": [0]}, "output 0 (output_0) has shape [2]; a channels-last"),
     ({"inputs_as_nchw": [0]}, "input 0 (input_0) has shape [2]")],
)
def test_bad_layout_positions(kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        to_onnx(lambda x: x * 2.0, [(2,)], **kwargs)


def test_web_check_feeds_channels_first(tmp_path):
    net = ConvNet(rngs=nnx.Rngs(1))
    x = random_array((1, 8, 8, 3))
    path = tmp_path / "net.onnx"
    to_onnx(net, [x], inputs_as_nchw=[0], return_mode="file", output_path=path,
            export_mode="web")
    ok, message = allclose_onnxruntime_web(path, [x], inputs_as_nchw=[0])
    assert ok, message
    assert np.asarray(x).shape == (1, 8, 8, 3)  # given in JAX's layout
