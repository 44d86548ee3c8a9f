"""Where of every element type runs in ONNX Runtime: unportable types are routed."""

import jax.numpy as jnp
import numpy as np
import pytest

from jax2onnx_hlo.testing import check_against_jax, random_array

DTYPES = [np.bool_, np.int8, np.int16, np.uint16, np.uint32, np.uint8, np.int32,
          np.float16, np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_where_of_every_type(dtype):
    a, b = random_array((3, 4), dtype, seed=1), random_array((3, 4), dtype, seed=2)
    check_against_jax(lambda p, x, y: jnp.where(p, x, y), [random_array((3, 4), np.bool_), a, b])


def test_where_output_keeps_its_name_and_type():
    model = check_against_jax(lambda p, x: jnp.where(p, x, x * 2),
                              [random_array((4,), np.bool_),
                               random_array((4,), np.uint16, low=0, high=9)])
    (output,) = model.graph.output
    assert output.name == "output_0"
    assert output.type.tensor_type.elem_type == 4  # UINT16
