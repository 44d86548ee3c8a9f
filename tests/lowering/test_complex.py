"""Complex numbers, FFT and LAPACK calls: real/imag of reals lower; everything complex is
refused with a ConversionError that names the op and says why (see lowering/complex.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, from_stablehlo, to_onnx
from jax2onnx_hlo.testing import random_array, run_onnx

X = random_array((3, 4))
SQUARE = (3, 3)
COMPLEX = jax.ShapeDtypeStruct((3, 4), jnp.complex64)

REAL_PARTS = """
func.func public @main(%arg0: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>) {
  %0 = stablehlo.real %arg0 : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %1 = stablehlo.imag %arg0 : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %0, %1 : tensor<3x4xf32>, tensor<3x4xf32>
}"""


def test_real_and_imag_of_a_real_operand():
    """JAX only emits real/imag on complex values; StableHLO allows reals (x and +0.0)."""
    x = np.concatenate([X[:2], [[-0.0, np.inf, -np.inf, np.nan]]]).astype(np.float32)
    model = from_stablehlo(REAL_PARTS)
    onnx.checker.check_model(model, full_check=True)
    real, imag = run_onnx(model, [x])
    np.testing.assert_array_equal(real, x)
    np.testing.assert_array_equal(imag.view(np.uint32), np.zeros_like(x).view(np.uint32))


REFUSED = [
    ("complex_from_parts", lambda x: jnp.abs(lax.complex(x, x)), [X.shape],
     "stablehlo.complex.*complex numbers are not supported"),
    ("real_of_complex", jnp.real, [COMPLEX], "stablehlo.real"),
    ("imag_of_complex", jnp.imag, [COMPLEX], "stablehlo.imag"),
    ("rfft", lambda x: jnp.abs(jnp.fft.rfft(x)), [(8,)], "stablehlo.fft.*RFFT"),
    ("cholesky", jnp.linalg.cholesky, [SQUARE], "lapack_spotrf_ffi.*cholesky.*no linear"),
    ("triangular_solve", lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True),
     [SQUARE, SQUARE], "lapack_strsm_ffi.*triangular_solve"),
    ("solve", jnp.linalg.solve, [SQUARE, SQUARE], "lapack_sgetrf_ffi.*lu"),
    ("eigh", lambda a: jnp.linalg.eigh(a)[0], [SQUARE], "lapack_ssyevd_ffi.*eigh"),
    ("svd", lambda a: jnp.linalg.svd(a)[1], [SQUARE], "lapack_sgesdd_ffi.*svd"),
    ("qr", lambda a: jnp.linalg.qr(a)[1], [SQUARE], "lapack_sgeqrf_ffi.*qr"),
]


@pytest.mark.parametrize("name,fn,specs,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_a_clear_error(name, fn, specs, message):
    with pytest.raises(ConversionError, match=message):
        to_onnx(fn, specs)


def test_rfft_error_says_what_to_do():
    with pytest.raises(ConversionError, match="DFT matrices"):
        to_onnx(jnp.fft.rfft, [np.zeros(8, np.float32)])
