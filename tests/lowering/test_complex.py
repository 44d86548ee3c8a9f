"""Complex numbers and FFT against JAX, and what stays refused (LAPACK calls, orderings of
complex values, the few ops without a complex rule).

A complex value of shape S is a float [S..., 2] (real, imag) tensor in the model, complex
graph inputs and outputs included; `check_against_jax` feeds and compares them that way.
"""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, from_stablehlo, onnx_function, to_onnx
from jax2onnx_hlo.testing import as_pairs, check_against_jax, random_array, run_onnx

X = random_array((3, 4))
Y = random_array((3, 4), seed=1)
Z = (random_array((3, 4), seed=2) + 1j * random_array((3, 4), seed=3)).astype(np.complex64)
W = (random_array((3, 4), seed=4) + 1j * random_array((3, 4), seed=5)).astype(np.complex64)
SIGNAL = random_array((2, 16), seed=6)
SPECTRUM = (random_array((2, 5), seed=7) + 1j * random_array((2, 5), seed=8)).astype(np.complex64)
CUBE = (random_array((2, 3, 4), seed=9) + 1j * random_array((2, 3, 4), seed=10)
        ).astype(np.complex64)
W_MATCHING = np.concatenate([Z[:1], W[1:]])  # equal to Z in the first row
SQUARE = (3, 3)
COMPLEX = jax.ShapeDtypeStruct((3, 4), jnp.complex64)
FFT_TOL = dict(rtol=1e-4, atol=1e-4)


def _spectrogram(x):
    """Magnitudes of Hann-windowed frames of 8 samples, hop 4: real in, real out."""
    frames = jnp.stack([x[..., i:i + 8] for i in range(0, x.shape[-1] - 7, 4)], axis=-2)
    return jnp.log1p(jnp.abs(jnp.fft.rfft(frames * jnp.hanning(8).astype(x.dtype))) ** 2)


def _fft_convolve(a, b):
    n = a.shape[-1] + b.shape[-1] - 1
    return jnp.fft.irfft(jnp.fft.rfft(a, n=n) * jnp.fft.rfft(b, n=n), n=n)


CASES = [
    # construction, parts, conversion, constants
    ("complex_from_parts", lax.complex, [X, Y], {}),
    ("real", jnp.real, [Z], {}),
    ("imag", jnp.imag, [Z], {}),
    ("conj", jnp.conj, [Z], {}),
    ("real_to_complex", lambda x: x.astype(jnp.complex64), [X], {}),
    ("int_to_complex", lambda i: i.astype(jnp.complex64), [np.arange(6, dtype=np.int32)], {}),
    ("complex_literal", lambda z: z * (1 + 2j) - 0.5j, [Z], {}),
    ("polar", lambda r, t: r * jnp.exp(1j * t), [X, Y], {}),
    ("closed_over_complex_weight", lambda z: z * jnp.asarray(W[0]), [Z], {}),
    # arithmetic and functions
    ("add", jnp.add, [Z, W], {}),
    ("subtract", jnp.subtract, [Z, W], {}),
    ("multiply", jnp.multiply, [Z, W], {}),
    ("divide", jnp.divide, [Z, W], {}),
    ("negate", jnp.negative, [Z], {}),
    ("square", jnp.square, [Z], {}),
    ("power_real_exponent", lambda z: z ** 2.5, [Z], {}),
    ("power", jnp.power, [Z, W / 4], {}),
    ("power_of_zero", jnp.power,
     [np.zeros(5, np.complex64), np.array([0, 2.5, -1, 1j, 1 + 1j], np.complex64)], {}),
    ("abs", jnp.abs, [Z], {}),
    ("abs_squared", lambda z: jnp.abs(z) ** 2, [Z], {}),
    ("angle", jnp.angle, [Z], {}),
    ("exp", jnp.exp, [Z], {}),
    ("log", jnp.log, [Z], {}),
    ("log1p", jnp.log1p, [Z], {}),
    ("expm1", jnp.expm1, [Z], {}),
    ("expm1_small", jnp.expm1, [Z * 1e-4], dict(rtol=1e-5, atol=1e-12)),
    ("rsqrt", lax.rsqrt, [Z], {}),
    ("tan", jnp.tan, [Z / 2], {}),
    ("tanh", jnp.tanh, [Z / 2], {}),
    ("tanh_saturated", jnp.tanh, [Z * 20], {}),
    ("sqrt", jnp.sqrt, [Z], {}),
    ("sign", jnp.sign, [Z], {}),
    ("sin", jnp.sin, [Z], {}),
    ("cos", jnp.cos, [Z], {}),
    # functions JAX expands into the ops above
    ("arctan", jnp.arctan, [Z / 2], {}),
    ("arcsinh", jnp.arcsinh, [Z / 2], {}),
    ("arccos", jnp.arccos, [Z / 2], {}),
    ("cosh", jnp.cosh, [Z / 2], {}),
    ("log10", jnp.log10, [Z], {}),
    ("reciprocal", jnp.reciprocal, [Z], {}),
    ("isfinite", jnp.isfinite, [Z], {}),
    ("logistic", lax.logistic, [Z / 2], {}),
    ("equal", jnp.equal, [Z, W_MATCHING], {}),
    ("not_equal", jnp.not_equal, [Z, W_MATCHING], {}),
    ("where", lambda x, z, w: jnp.where(x > 0, z, w), [X, Z, W], {}),
    # reductions and products
    ("sum", lambda z: z.sum(axis=0), [Z], {}),
    ("mean", jnp.mean, [Z], {}),
    ("prod", lambda z: jnp.prod(z, axis=1), [Z], {}),
    ("matmul", lambda z, w: z @ w.T, [Z, W], {}),
    ("matmul_with_real", lambda z, x: z @ x.T, [Z, X], {}),
    ("batched_einsum", lambda a, b: jnp.einsum("bij,bkj->bik", a, b), [CUBE, CUBE * 2j], {}),
    ("vdot", jnp.vdot, [Z, W], {}),
    ("convolve", lambda z, w: jnp.convolve(z, w, mode="same"), [Z[0], W[1, :3]], {}),
    ("conv_real_kernel", lambda z, k: jnp.convolve(z, k), [Z[0], X[0, :3]], {}),
    ("cumsum", lambda z: jnp.cumsum(z, axis=1), [Z], {}),
    ("window_sum", lambda z: lax.reduce_window(z, 0j, lax.add, (1, 2), (1, 1), "VALID"),
     [Z], {}),
    # moving elements
    ("broadcast", lambda z, w: z[:, None, :] + w[None, :, :], [Z, W], {}),
    ("reshape", lambda z: z.reshape(4, 3), [Z], {}),
    ("transpose", lambda z: z.T, [Z], {}),
    ("slice", lambda z: z[:, 1::2], [Z], {}),
    ("concatenate", lambda z, w: jnp.concatenate([z, w], axis=1), [Z, W], {}),
    ("pad", lambda z: jnp.pad(z, ((1, 0), (0, 2))), [Z], {}),
    ("reverse", lambda z: z[::-1, ::-1], [Z], {}),
    ("dynamic_slice", lambda z, i: lax.dynamic_slice(z, (i, 0), (2, 4)),
     [Z, np.int32(1)], {}),
    ("gather", lambda z, i: z[i], [Z, np.array([2, 0, 2], np.int32)], {}),
    ("dynamic_update_slice", lambda z, v, i: lax.dynamic_update_slice(z, v, (i, 1)),
     [Z, W[:1, :2], np.int32(2)], {}),
    ("optimization_barrier", lambda z: lax.optimization_barrier(z) * 2, [Z], {}),
    ("composite", lambda z: lax.composite(lambda z: z * 1j, name="test.rotate")(z), [Z], {}),
    ("roll", lambda z: jnp.roll(z, 2, axis=1), [Z], {}),
    ("scatter_set", lambda z, v: z.at[1].set(v), [Z, W[0]], {}),
    ("scatter_add", lambda z, v: z.at[jnp.array([2, 2])].add(v), [Z, W[:2]], {}),
    # control flow carrying complex values
    ("fori_loop", lambda z: lax.fori_loop(0, 3, lambda i, c: c * z + 1j, z), [Z], {}),
    ("cond", lambda p, z: lax.cond(p > 0, lambda: z * 2j, lambda: jnp.conj(z)),
     [np.float32(1.0), Z], {}),
    # FFT
    ("fft", jnp.fft.fft, [Z], FFT_TOL),
    ("fft_axis0", lambda z: jnp.fft.fft(z, axis=0), [Z], FFT_TOL),
    ("fft_padded", lambda z: jnp.fft.fft(z, n=6), [Z], FFT_TOL),
    ("fft_cropped", lambda z: jnp.fft.fft(z, n=3), [Z], FFT_TOL),
    ("ifft", jnp.fft.ifft, [Z], FFT_TOL),
    ("fft2", jnp.fft.fft2, [Z], FFT_TOL),
    ("ifft2", jnp.fft.ifft2, [Z], FFT_TOL),
    ("fftn_3d", jnp.fft.fftn, [CUBE], FFT_TOL),
    ("fft_of_real", jnp.fft.fft, [X], FFT_TOL),
    ("fftshift", jnp.fft.fftshift, [Z], {}),
    ("rfft", jnp.fft.rfft, [SIGNAL], FFT_TOL),
    ("rfft_odd_length", jnp.fft.rfft, [SIGNAL[:, :15]], FFT_TOL),
    ("rfft_padded", lambda x: jnp.fft.rfft(x, n=20), [SIGNAL], FFT_TOL),
    ("rfft_axis0", lambda x: jnp.fft.rfft(x, axis=0), [SIGNAL.T], FFT_TOL),
    ("rfft2", jnp.fft.rfft2, [SIGNAL.reshape(2, 4, 4)], FFT_TOL),
    ("irfft", jnp.fft.irfft, [SPECTRUM], FFT_TOL),
    ("irfft_odd", lambda z: jnp.fft.irfft(z, n=9), [SPECTRUM], FFT_TOL),
    ("irfft_cropped", lambda z: jnp.fft.irfft(z, n=4), [SPECTRUM], FFT_TOL),
    ("irfft2", lambda z: jnp.fft.irfft2(z, s=(3, 6)), [CUBE], FFT_TOL),
    ("hfft", jnp.fft.hfft, [SPECTRUM], FFT_TOL),
    ("ihfft", jnp.fft.ihfft, [SIGNAL], FFT_TOL),
    ("fft_ortho", lambda z: jnp.fft.fft(z, norm="ortho"), [Z], FFT_TOL),
    ("rfftn_3d", jnp.fft.rfftn, [CUBE.real], FFT_TOL),
    ("irfftn_axes", lambda z: jnp.fft.irfftn(z, s=(4, 6), axes=(0, 2)), [CUBE], FFT_TOL),
    ("norm", jnp.linalg.norm, [Z], {}),
    ("rfft_roundtrip", lambda x: jnp.fft.irfft(jnp.fft.rfft(x), n=16), [SIGNAL], FFT_TOL),
    # real in, real out, complex inside
    ("rfft_magnitude", lambda x: jnp.abs(jnp.fft.rfft(x)), [SIGNAL], FFT_TOL),
    ("spectrogram", _spectrogram, [SIGNAL], FFT_TOL),
    ("fft_convolution", _fft_convolve, [SIGNAL, SIGNAL[:, :5]], FFT_TOL),
    # bins 0 and n/2 of a real signal are real: their angle flips with the rounding sign
    ("spectrum_phase", lambda x: jnp.angle(jnp.fft.rfft(x)[..., 1:-1]), [SIGNAL], FFT_TOL),
]


@pytest.mark.parametrize("name,fn,args,tol", CASES, ids=[c[0] for c in CASES])
def test_complex_against_jax(name, fn, args, tol):
    check_against_jax(fn, args, **tol)


@pytest.mark.parametrize("opset", [18, 19, 20, 21])
def test_fft_at_every_opset(opset):
    """DFT takes its axis as an attribute before opset 20 and as an input from 20 on."""
    model = check_against_jax(lambda z, x: (jnp.fft.fft(z, axis=0), jnp.fft.irfft(jnp.fft.rfft(x))),
                              [Z, SIGNAL], opset=opset, dynamic_batch=False, **FFT_TOL)
    dfts = [n for n in model.graph.node if n.op_type == "DFT"]
    assert dfts and all((len(n.input) == 3) == (opset >= 20) for n in dfts)


# jax.export expands these for the CPU platform into real ops on the parts (jnp.sin and
# jnp.cos always); StableHLO from other producers keeps them on complex values.
UNARY = """
func.func public @main(%arg0: tensor<3x4xcomplex<f32>>) -> tensor<3x4xcomplex<f32>> {
  %0 = stablehlo.OP %arg0 : tensor<3x4xcomplex<f32>>
  return %0 : tensor<3x4xcomplex<f32>>
}"""
RAW = [("exponential", np.exp), ("log", np.log), ("sqrt", np.sqrt), ("sine", np.sin),
       ("cosine", np.cos)]


@pytest.mark.parametrize("op,reference", RAW, ids=[c[0] for c in RAW])
def test_complex_functions_in_plain_stablehlo(op, reference):
    model = from_stablehlo(UNARY.replace("OP", op))
    onnx.checker.check_model(model, full_check=True)
    (got,) = run_onnx(model, [Z])
    want = as_pairs(reference(Z.astype(np.complex128)))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_complex_convolution_in_plain_stablehlo():
    """JAX splits complex convolutions into real ones itself; other producers may not."""
    real = jax.ShapeDtypeStruct((1, 1, 8), jnp.float32)
    text = jax.jit(lambda x, k: lax.conv(x, k, (1,), "VALID")).lower(
        real, jax.ShapeDtypeStruct((1, 1, 3), jnp.float32)).as_text()
    model = from_stablehlo(text.replace("f32", "complex<f32>"))
    onnx.checker.check_model(model, full_check=True)
    x, k = Z.reshape(1, 1, 12)[..., :8], W.reshape(-1)[:3].reshape(1, 1, 3)
    (got,) = run_onnx(model, [x, k])
    want = np.array([np.sum(x[0, 0, i:i + 3] * k[0, 0]) for i in range(6)]).reshape(1, 1, 6)
    np.testing.assert_allclose(got, as_pairs(want), rtol=1e-5, atol=1e-5)


def test_complex_boundary_is_float_pairs():
    model = to_onnx(lambda z: z * 2j, [jax.ShapeDtypeStruct(("B", 4), jnp.complex64)])
    for value in (model.graph.input[0], model.graph.output[0]):
        tensor = value.type.tensor_type
        assert tensor.elem_type == onnx.TensorProto.FLOAT
        assert [d.dim_param or d.dim_value for d in tensor.shape.dim] == ["B", 4, 2]
    (got,) = run_onnx(model, [Z])
    np.testing.assert_allclose(got, as_pairs(Z * 2j), rtol=1e-6)


def test_complex128_with_double_precision():
    z = Z.astype(np.complex128) / 3
    model = to_onnx(lambda z: jnp.fft.fft(z) * jnp.exp(z), [z], enable_double_precision=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    (got,) = run_onnx(model, [z])
    np.testing.assert_allclose(got, as_pairs(np.fft.fft(z) * np.exp(z)), rtol=1e-12)


def test_complex128_without_double_precision_is_complex64():
    model = to_onnx(lambda z: z * 2, [jax.ShapeDtypeStruct((3,), jnp.complex128)])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.parametrize("n", [1000, 1024])
def test_long_fft_keeps_float32_accuracy(n):
    """Lengths other than powers of two go through float64 DFTs: ONNX Runtime sums them
    directly, which in float32 is off by 1e-4 of the peak at n = 1000."""
    x = random_array((2, n), seed=11)
    model = to_onnx(lambda x: jnp.fft.irfft(jnp.fft.rfft(x) * 1j, n=n), [x])
    (got,) = run_onnx(model, [x])
    want = np.fft.irfft(np.fft.rfft(x.astype(np.float64)) * 1j, n=n)
    assert np.abs(got - want).max() < 1e-6 * np.abs(want).max()


@onnx_function
def _rotate(z):
    return z * 1j + jnp.conj(z)


def test_onnx_function_on_complex_values():
    model = check_against_jax(lambda z: _rotate(_rotate(z)), [Z])
    assert [f.name for f in model.functions] == ["_rotate", "_rotate"]  # one per call site


def test_a_complex_value_never_has_an_onnx_complex_type():
    model = to_onnx(_fft_convolve, [SIGNAL, SIGNAL[:, :5]])
    complex_types = {onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    assert not [v.name for v in values if v.type.tensor_type.elem_type in complex_types]


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


CONVERTS = """
func.func public @main(%arg0: tensor<3xcomplex<f32>>, %arg1: tensor<3xf32>)
    -> (tensor<3xf32>, tensor<3xi32>, tensor<3xcomplex<f32>>, tensor<3xcomplex<f64>>) {
  %0 = stablehlo.convert %arg0 : (tensor<3xcomplex<f32>>) -> tensor<3xf32>
  %1 = stablehlo.convert %arg0 : (tensor<3xcomplex<f32>>) -> tensor<3xi32>
  %c = stablehlo.constant dense<[(1.0, 2.0), (0x7F800000, -0.5), (3.0, 0.0)]>
    : tensor<3xcomplex<f32>>
  %2 = stablehlo.convert %arg1 : (tensor<3xf32>) -> tensor<3xcomplex<f32>>
  %3 = stablehlo.add %2, %c : tensor<3xcomplex<f32>>
  %4 = stablehlo.convert %3 : (tensor<3xcomplex<f32>>) -> tensor<3xcomplex<f64>>
  return %0, %1, %3, %4
    : tensor<3xf32>, tensor<3xi32>, tensor<3xcomplex<f32>>, tensor<3xcomplex<f64>>
}"""


def test_converts_and_literals_from_stablehlo():
    """complex -> real keeps the real part (XLA's convert; JAX itself emits real first);
    literals with non-finite parts print as hex."""
    z = np.array([1.5 + 2j, -2.7 - 1j, 0.25j], np.complex64)
    x = np.array([1.0, 2.0, -3.0], np.float32)
    model = from_stablehlo(CONVERTS)
    onnx.checker.check_model(model, full_check=True)
    real, whole, summed, wide = run_onnx(model, [z, x])
    literal = np.array([1 + 2j, np.inf - 0.5j, 3], np.complex64)
    np.testing.assert_array_equal(real, z.real)
    np.testing.assert_array_equal(whole, [1, -2, 0])
    np.testing.assert_array_equal(summed, as_pairs(x + literal))
    assert wide.dtype == np.float64
    np.testing.assert_array_equal(wide, as_pairs(x + literal))


REFUSED = [
    ("cumprod_of_complex", lambda z: jnp.cumprod(z, axis=1), [COMPLEX],
     "reduce_window of complex values: only a single-operand sum"),
    ("atan2_of_complex", lambda z: lax.atan2(z, z), [COMPLEX],
     "stablehlo.atan2 on complex values"),
    ("sort_complex", jnp.sort, [COMPLEX], "stablehlo.sort on complex values"),
    ("max_of_complex", lambda z: lax.reduce_max(z, (0,)), [COMPLEX],
     "reduce of complex values.*only a single"),
    ("cholesky", jnp.linalg.cholesky, [SQUARE], "lapack_spotrf_ffi.*cholesky.*no linear"),
    ("triangular_solve", lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True),
     [SQUARE, SQUARE], "lapack_strsm_ffi.*triangular_solve"),
    ("solve", jnp.linalg.solve, [SQUARE, SQUARE], "lapack_sgetrf_ffi.*lu"),
    ("eigh", lambda a: jnp.linalg.eigh(a)[0], [SQUARE], "lapack_ssyevd_ffi.*eigh"),
    ("svd", lambda a: jnp.linalg.svd(a)[1], [SQUARE], "lapack_sgesdd_ffi.*svd"),
    ("qr", lambda a: jnp.linalg.qr(a)[1], [SQUARE], "lapack_sgeqrf_ffi.*qr"),
    ("eig", lambda a: jnp.linalg.eig(a)[0], [SQUARE], "lapack_sgeev_ffi.*eig"),
]


@pytest.mark.parametrize("name,fn,specs,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_a_clear_error(name, fn, specs, message):
    with pytest.raises(ConversionError, match=message):
        to_onnx(fn, specs)


def test_refusal_lists_every_complex_op_without_a_rule():
    with pytest.raises(ConversionError) as info:
        to_onnx(lambda z: lax.atan2(z, z) + jnp.sort(z), [COMPLEX])
    message = str(info.value)
    assert "stablehlo.atan2 on complex values" in message
    assert "stablehlo.sort on complex values" in message
    assert "complex numbers are supported as float (real, imag) pairs" in message


def test_an_unused_complex_argument_of_an_artifact_is_a_pair_input():
    """jax.export drops unused arguments from the module; the graph still takes them, typed
    as a used complex argument would be."""
    exported = jax.export.export(jax.jit(lambda z, x: x * 2))(COMPLEX, X)
    model = to_onnx(exported)
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims == [[3, 4, 2], [3, 4]]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    z = (random_array((3, 4)) + 1j * random_array((3, 4), seed=1)).astype(np.complex64)
    np.testing.assert_allclose(run_onnx(model, [z, X])[0], X * 2)
