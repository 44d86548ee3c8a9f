"""Bit-level ops against JAX, bit for bit: bitcast_convert, popcnt, count_leading_zeros,
reduce_precision, nextafter. Float outputs are compared as bit patterns; where JAX gives a
NaN, any NaN is accepted (payloads cannot be carried by arithmetic, see lowering/bitcast.py).
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import onnx
import pytest
from jax import lax

from jax2onnx_hlo import ConversionError, to_onnx
from jax2onnx_hlo.testing import run_onnx

RNG = np.random.default_rng(7)


def random_bits(dtype, n=4096):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)


def float_values(dtype, unsigned):
    """Random bit patterns, the IEEE edge cases and ordinary numbers; NaN only as np.nan
    (JAX's quiet NaN), since other NaN payloads are not kept (see lowering/bitcast.py)."""
    info = ml_dtypes.finfo(dtype)
    special = [0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal,
               info.smallest_normal, -info.smallest_normal, info.max, -info.max,
               info.smallest_normal - info.smallest_subnormal, 1.0, -1.0, 0.5, 3.0,
               np.inf, -np.inf, np.nan]
    ordinary = RNG.standard_normal(512) * 10.0 ** RNG.integers(-6, 6, size=512)
    ordinary = np.clip(ordinary, -float(info.max), float(info.max))
    patterns = random_bits(unsigned).view(dtype)
    with np.errstate(invalid="ignore"):
        patterns = patterns[~np.isnan(patterns.astype(np.float64))]
    return np.concatenate([np.asarray(special + list(ordinary)).astype(dtype), patterns])


def bit_view(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind in "fV" or a.dtype.name == "bfloat16" \
        else a


def assert_same_bits(fn, args, x64=False):
    """Exports fn, runs it in ONNX Runtime and compares every output with JAX exactly."""
    with jax.enable_x64(x64):
        model = to_onnx(fn, args)
        expected = jax.jit(fn)(*args)
    onnx.checker.check_model(model, full_check=True)
    got = run_onnx(model, args)
    for want, have in zip(jax.tree_util.tree_leaves(expected), got):
        want = np.asarray(want)
        assert have.dtype == want.dtype and have.shape == want.shape
        if want.dtype.kind == "f":
            nan = np.isnan(want)
            np.testing.assert_array_equal(np.isnan(have), nan)
            have, want = bit_view(have)[~nan], bit_view(want)[~nan]
        np.testing.assert_array_equal(have, want)


def bitcast(dtype):
    return lambda x: lax.bitcast_convert_type(x, dtype)


def via_bfloat16_to_float32(bits):
    """u16 -> bf16 -> f32: bf16 cannot cross ONNX Runtime's Python boundary."""
    return lax.bitcast_convert_type(bits, jnp.bfloat16).astype(jnp.float32)


def float32_via_bfloat16_bits(x):
    """f32 (bf16-representable, so the convert is exact) -> bf16 -> u16."""
    return lax.bitcast_convert_type(x.astype(jnp.bfloat16), jnp.uint16)


def bf16_representable():
    return float_values(ml_dtypes.bfloat16, np.uint16).astype(np.float32)


F32 = float_values(np.float32, np.uint32)
F16 = float_values(np.float16, np.uint16)
F64 = float_values(np.float64, np.uint64)

BITCAST_CASES = [
    ("u32_to_f32", bitcast(jnp.float32), [random_bits(np.uint32)], False),
    ("i32_to_f32", bitcast(jnp.float32), [random_bits(np.int32)], False),
    ("f32_to_u32", bitcast(jnp.uint32), [F32], False),
    ("f32_to_i32", bitcast(jnp.int32), [F32], False),
    ("u16_to_f16", bitcast(jnp.float16), [random_bits(np.uint16)], False),
    ("i16_to_f16", bitcast(jnp.float16), [random_bits(np.int16)], False),
    ("f16_to_u16", bitcast(jnp.uint16), [F16], False),
    ("f16_to_i16", bitcast(jnp.int16), [F16], False),
    ("u16_to_bf16", via_bfloat16_to_float32, [random_bits(np.uint16)], False),
    ("bf16_to_u16", float32_via_bfloat16_bits, [bf16_representable()], False),
    ("f16_to_bf16", lambda x: bitcast(jnp.bfloat16)(x).astype(jnp.float32), [F16], False),
    ("u64_to_f64", bitcast(jnp.float64), [random_bits(np.uint64)], True),
    ("i64_to_f64", bitcast(jnp.float64), [random_bits(np.int64)], True),
    ("f64_to_u64", bitcast(jnp.uint64), [F64], True),
    ("f64_to_i64", bitcast(jnp.int64), [F64], True),
    ("i32_to_u32", bitcast(jnp.uint32), [random_bits(np.int32)], False),
    ("u32_to_i32", bitcast(jnp.int32), [random_bits(np.uint32)], False),
    ("i8_to_u8", bitcast(jnp.uint8), [random_bits(np.int8)], False),
    ("u64_to_i64", bitcast(jnp.int64), [random_bits(np.uint64)], True),
    ("same_type", bitcast(jnp.float32), [F32], False),
    ("u32_pairs_to_u64", bitcast(jnp.uint64), [random_bits(np.uint32).reshape(-1, 2)], True),
    ("u64_to_u32_pairs", bitcast(jnp.uint32), [random_bits(np.uint64)], True),
    ("f32_to_u8_quads", bitcast(jnp.uint8), [F32[: len(F32) // 4 * 4].reshape(-1, 4)], False),
    ("u8_quads_to_f32", bitcast(jnp.float32), [random_bits(np.uint8).reshape(-1, 4)], False),
    ("u16_pairs_to_f32", bitcast(jnp.float32), [random_bits(np.uint16).reshape(-1, 2)], False),
    ("f64_to_i32_pairs", bitcast(jnp.int32), [F64], True),
    # NaN payloads are canonicalised, so the round trip is exact on the other patterns.
    ("bits_roundtrip_f32", lambda u: bitcast(jnp.uint32)(bitcast(jnp.float32)(u)),
     [F32[~np.isnan(F32)].view(np.uint32)], False),
    ("bits_roundtrip_f64", lambda u: bitcast(jnp.uint64)(bitcast(jnp.float64)(u)),
     [F64[~np.isnan(F64)].view(np.uint64)], True),
]


@pytest.mark.parametrize("name,fn,args,x64", BITCAST_CASES, ids=[c[0] for c in BITCAST_CASES])
def test_bitcast_convert(name, fn, args, x64):
    assert_same_bits(fn, args, x64)


def test_bitcast_of_nan_gives_jax_quiet_nan():
    model = to_onnx(bitcast(jnp.uint32), [(2,)])
    got = run_onnx(model, [np.asarray([np.nan, -np.nan], np.float32)])[0]
    np.testing.assert_array_equal(got, [0x7FC00000, 0x7FC00000])


INT_TYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64]


def edge_ints(dtype):
    info = np.iinfo(dtype)
    edges = [0, 1, 2, 3, -1, info.max, info.max - 1, info.min, info.min + 1]
    edges += [1 << k for k in range(info.bits)]
    patterns = np.array([e % (1 << info.bits) for e in edges], f"u{info.bits // 8}")
    return np.concatenate([patterns.view(dtype), random_bits(dtype, 1024)])


COUNT_CASES = [(f"{op.__name__}_{np.dtype(t).name}", op, t)
               for op in (lax.population_count, lax.clz) for t in INT_TYPES]


@pytest.mark.parametrize("name,op,dtype", COUNT_CASES, ids=[c[0] for c in COUNT_CASES])
def test_bit_counts(name, op, dtype):
    assert_same_bits(op, [edge_ints(dtype)], x64=np.dtype(dtype).itemsize == 8)


def ties_and_edges(dtype, mantissa_bits):
    """Values exactly halfway between neighbours at `mantissa_bits`, and around them."""
    info = np.finfo(dtype)
    base = np.asarray([1.0, 1.5, 3.0, 1e-3, 1e4, 3e4, 7e4, 1e38])
    base = base[base < float(info.max) / 2].astype(dtype)
    half_ulp = np.ldexp(np.asarray(1.0, dtype), np.frexp(base)[1] - 2 - mantissa_bits)
    ties = np.concatenate([base + half_ulp, base + 3 * half_ulp, base - half_ulp])
    return np.concatenate([ties, -ties, float_values(dtype, f"u{info.bits // 8}")])


REDUCE_PRECISION_CASES = [
    ("f32_to_f16", np.float32, 5, 10),
    ("f32_to_bf16", np.float32, 8, 7),
    ("f32_to_e4m3", np.float32, 4, 3),
    ("f32_to_e5m2", np.float32, 5, 2),
    ("f32_mantissa_only", np.float32, 8, 12),
    ("f32_exponent_only", np.float32, 6, 23),
    ("f32_unchanged", np.float32, 8, 23),
    ("f32_no_mantissa", np.float32, 3, 0),
    ("f16_to_e4m3", np.float16, 4, 3),
    ("f16_to_e5m2", np.float16, 5, 2),
    ("f64_to_f32", np.float64, 8, 23),
    ("f64_to_f16", np.float64, 5, 10),
]


@pytest.mark.parametrize("name,dtype,exponent_bits,mantissa_bits", REDUCE_PRECISION_CASES,
                         ids=[c[0] for c in REDUCE_PRECISION_CASES])
def test_reduce_precision(name, dtype, exponent_bits, mantissa_bits):
    x = ties_and_edges(dtype, mantissa_bits)
    assert_same_bits(lambda v: lax.reduce_precision(v, exponent_bits, mantissa_bits), [x],
                     x64=dtype == np.float64)


NEXTAFTER_CASES = [
    pytest.param(np.float32, np.inf, id="f32_up"),
    pytest.param(np.float32, -np.inf, id="f32_down"),
    pytest.param(np.float32, 0.0, id="f32_to_zero"),
    pytest.param(np.float32, -0.0, id="f32_to_minus_zero"),
    pytest.param(np.float32, np.nan, id="f32_to_nan"),
    pytest.param(np.float16, np.inf, id="f16_up"),
    pytest.param(np.float16, 0.0, id="f16_to_zero"),
    pytest.param(np.float64, -np.inf, id="f64_down"),
]


def normal_values(dtype):
    """XLA on CPU flushes subnormals to zero in float compares (nextafter's x == y), where
    ONNX Runtime keeps IEEE semantics; nextafter is compared away from them."""
    x = float_values(dtype, f"u{np.dtype(dtype).itemsize}")
    return x[~((x != 0) & (np.abs(x) < ml_dtypes.finfo(dtype).smallest_normal))]


@pytest.mark.parametrize("dtype,target", NEXTAFTER_CASES)
def test_nextafter(dtype, target):
    assert_same_bits(lambda v: jnp.nextafter(v, jnp.full_like(v, target)),
                     [normal_values(dtype)], x64=dtype == np.float64)


def test_nextafter_towards_each_other():
    x = normal_values(np.float32)[:600]
    assert_same_bits(jnp.nextafter, [x, x[::-1].copy()])


def test_bitcast_of_float8_is_refused():
    with pytest.raises(ConversionError, match="FLOAT8E4M3FN"):
        to_onnx(bitcast(jnp.uint8), [jax.ShapeDtypeStruct((4,), jnp.float8_e4m3fn)])
