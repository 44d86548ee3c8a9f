"""stablehlo.rng_bit_generator, computed as XLA expands it, so the bits match JAX on CPU.

XLA has no kernel for the op: its RngBitGeneratorExpander rewrites it into integer
arithmetic (xla/hlo/builder/lib/prng.cc), which is rebuilt here node for node on uint32 and
uint64 tensors. The state is ui64[n] with the key in state[0]:
- THREE_FRY: threefry2x32 (20 rounds) of a 64-bit counter state[1] plus each element's
  row-major index; 32-bit outputs use both words of each block, over half the shape.
- PHILOX: philox4x32 (10 rounds) of a 128-bit counter, (state[1], state[2]) or, for a
  two-word state, (state[1], state[0]); each block gives four 32-bit outputs.
- DEFAULT: implementation-defined; XLA's CPU and GPU compilers pick PHILOX, so it is PHILOX.
Outputs narrower than 32 bits keep the low bits of the 32-bit ones; the new state is the
counter advanced by the number of blocks used. The output shape may be known at runtime
only (stablehlo.dynamic_rng_bit_generator); the state's must be static.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .context import LoweringContext

U32, U64 = ir.DataType.UINT32, ir.DataType.UINT64
_THREEFRY_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
_PHILOX_ROUNDS = 10
_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)
# An output shape: static dims, or an int64 vector of dims known at runtime only.
Shape = tuple[int, ...] | ir.Value


def _u32(ctx: LoweringContext, value) -> ir.Value:
    return ctx.const(np.asarray(value, dtype=np.uint32))


def _u64(ctx: LoweringContext, value) -> ir.Value:
    return ctx.const(np.asarray(value, dtype=np.uint64))


def _words(ctx: LoweringContext, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """uint64 -> (low, high) uint32 halves; Cast keeps the low bits."""
    high = ctx.b.BitShift(x, _u64(ctx, 32), direction="RIGHT")
    return ctx.b.Cast(x, to=U32), ctx.b.Cast(high, to=U32)


def _join(ctx: LoweringContext, low: ir.Value, high: ir.Value) -> ir.Value:
    b = ctx.b
    high = b.BitShift(b.Cast(high, to=U64), _u64(ctx, 32), direction="LEFT")
    return b.BitwiseOr(b.Cast(low, to=U64), high)


def _threefry2x32(ctx: LoweringContext, x: list[ir.Value], key: list[ir.Value]):
    """Threefry2x32 with 20 rounds and XLA's key schedule; uint32 Add wraps."""
    b = ctx.b
    keys = [key[0], key[1], b.BitwiseXor(b.BitwiseXor(_u32(ctx, 0x1BD11BDA), key[0]), key[1])]
    x = [b.Add(x[0], keys[0]), b.Add(x[1], keys[1])]
    for block in range(5):
        for rotation in _THREEFRY_ROTATIONS[4 * (block % 2): 4 * (block % 2) + 4]:
            x0 = b.Add(x[0], x[1])
            rotated = b.BitwiseOr(
                b.BitShift(x[1], _u32(ctx, rotation), direction="LEFT"),
                b.BitShift(x[1], _u32(ctx, 32 - rotation), direction="RIGHT"))
            x = [x0, b.BitwiseXor(x0, rotated)]
        x = [b.Add(x[0], keys[(block + 1) % 3]),
             b.Add(b.Add(x[1], keys[(block + 2) % 3]), _u32(ctx, block + 1))]
    return x


def _philox4x32(ctx: LoweringContext, x: list[ir.Value], key: list[ir.Value]):
    """Philox4x32 with 10 rounds; the 32x32 -> 64-bit products are taken in uint64."""
    b = ctx.b
    for round_ in range(_PHILOX_ROUNDS):
        if round_:
            key = [b.Add(key[i], _u32(ctx, _PHILOX_W[i])) for i in range(2)]
        high0, low0 = _words(ctx, b.Mul(b.Cast(x[0], to=U64), _u64(ctx, _PHILOX_M[0])))[::-1]
        high1, low1 = _words(ctx, b.Mul(b.Cast(x[2], to=U64), _u64(ctx, _PHILOX_M[1])))[::-1]
        x = [b.BitwiseXor(b.BitwiseXor(high1, x[1]), key[0]), low1,
             b.BitwiseXor(b.BitwiseXor(high0, x[3]), key[1]), low0]
    return x


def _split_in_halves(shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """XLA's SplitShapeIntoHalves: the first even dim (else the largest) is halved,
    rounding up, and a dim of 1 follows it; returns (half shape, split dim)."""
    if not shape:
        return (1,), -1
    even = [i for i, d in enumerate(shape) if d % 2 == 0]
    split = even[0] if even else int(np.argmax(shape))
    return shape[:split] + (-(-shape[split] // 2), 1) + shape[split + 1:], split


def _threefry(ctx: LoweringContext, key: ir.Value, counter: ir.Value,
              shape: tuple[int, ...], wide: bool) -> tuple[ir.Value, ir.Value]:
    """(uint32 or, if wide, uint64 bits of `shape`, the advanced counter)."""
    b = ctx.b
    block_shape, split = (shape, None) if wide else _split_in_halves(shape)
    blocks = math.prod(block_shape)
    offsets = np.arange(blocks, dtype=np.uint64).reshape(block_shape)
    x = _threefry2x32(ctx, list(_words(ctx, b.Add(counter, _u64(ctx, offsets)))),
                      list(_words(ctx, key)))
    advanced = b.Add(counter, _u64(ctx, blocks))
    if wide:
        return _join(ctx, x[0], x[1]), advanced
    if split == -1:  # a scalar: the first word of one block
        return b.Reshape(x[0], ctx.i64([])), advanced
    pairs = b.Concat(x[0], x[1], axis=split + 1)
    padded = list(shape)
    padded[split] += padded[split] % 2
    bits = b.Reshape(pairs, ctx.i64(padded))
    if padded[split] != shape[split]:
        bits = b.Slice(bits, ctx.i64([0]), ctx.i64([shape[split]]), ctx.i64([split]))
    return bits, advanced


def _threefry_at_runtime(ctx: LoweringContext, key: ir.Value, counter: ir.Value,
                         dims: ir.Value, rank: int, wide: bool) -> tuple[ir.Value, ir.Value]:
    """_threefry for dims known at runtime only. The split axis of the 32-bit form depends
    on them, so each element computes its own block: its index on the split axis k maps to
    block row k // 2 and word k % 2, the other axes to themselves."""
    b = ctx.b
    if wide:
        count = b.ReduceProd(dims, keepdims=0)
        offsets = b.Reshape(b.Range(ctx.i64(0), count, ctx.i64(1)), dims)
        x = _threefry2x32(ctx, list(_words(ctx, b.Add(counter, b.Cast(offsets, to=U64)))),
                          list(_words(ctx, key)))
        return _join(ctx, x[0], x[1]), b.Add(counter, b.Cast(count, to=U64))
    even = b.Cast(b.Equal(b.Mod(dims, ctx.i64(2)), ctx.i64(0)), to=ir.DataType.INT64)
    split = b.Where(b.Cast(b.ReduceMax(even, keepdims=1), to=ir.DataType.BOOL),
                    b.ArgMax(even, keepdims=1), b.ArgMax(dims, keepdims=1))
    is_split = b.Equal(ctx.i64(np.arange(rank)), split)
    halves = b.Where(is_split, b.Div(b.Add(dims, ctx.i64(1)), ctx.i64(2)), dims)
    # Row-major strides of the block shape (the dims with the split one halved).
    strides = [ctx.i64([1])]
    for a in range(rank - 1, 0, -1):
        strides.insert(0, b.Mul(strides[0], b.Slice(halves, ctx.i64([a]), ctx.i64([a + 1]))))
    linear, word = ctx.i64(0), ctx.i64(0)
    for a in range(rank):
        n = b.Squeeze(b.Slice(dims, ctx.i64([a]), ctx.i64([a + 1])), ctx.i64([0]))
        line = b.Range(ctx.i64(0), n, ctx.i64(1))
        if rank > 1:
            line = b.Unsqueeze(line, ctx.i64([i for i in range(rank) if i != a]))
        on_split = b.Squeeze(b.Slice(is_split, ctx.i64([a]), ctx.i64([a + 1])), ctx.i64([0]))
        row = b.Where(on_split, b.Div(line, ctx.i64(2)), line)
        linear = b.Add(linear, b.Mul(row, b.Squeeze(strides[a], ctx.i64([0]))))
        word = b.Add(word, b.Where(on_split, b.Mod(line, ctx.i64(2)), ctx.i64(0)))
    x = _threefry2x32(ctx, list(_words(ctx, b.Add(counter, b.Cast(linear, to=U64)))),
                      list(_words(ctx, key)))
    blocks = b.Cast(b.ReduceProd(halves, keepdims=0), to=U64)
    return b.Where(b.Equal(word, ctx.i64(0)), x[0], x[1]), b.Add(counter, blocks)


def _philox(ctx: LoweringContext, key: ir.Value, counter: tuple[ir.Value, ir.Value],
            shape: Shape, wide: bool):
    """(uint32 or uint64 bits of `shape`, the advanced 128-bit counter (low, high))."""
    b = ctx.b
    per_block = 2 if wide else 4
    if isinstance(shape, ir.Value):  # counts known at runtime only
        count = b.ReduceProd(shape, keepdims=1)
        blocks = b.Div(b.Add(count, ctx.i64([per_block - 1])), ctx.i64([per_block]))
        offsets = b.Cast(b.Range(ctx.i64(0), b.Squeeze(blocks, ctx.i64([0])), ctx.i64(1)),
                         to=U64)
        advance, target = b.Cast(b.Squeeze(blocks, ctx.i64([0])), to=U64), shape
    else:
        count = ctx.i64([math.prod(shape)])
        blocks = -(-math.prod(shape) // per_block)
        offsets = _u64(ctx, np.arange(blocks, dtype=np.uint64))
        advance, target = _u64(ctx, blocks), ctx.i64(list(shape))
    low, high = _add_128(ctx, counter, offsets)
    x = _philox4x32(ctx, [*_words(ctx, low), *_words(ctx, high)], list(_words(ctx, key)))
    if wide:
        x = [_join(ctx, x[0], x[1]), _join(ctx, x[2], x[3])]
    # Block i gives outputs i*k .. i*k + k-1, k = len(x): interleave, then cut to size.
    lanes = b.Concat(*[b.Unsqueeze(v, ctx.i64([1])) for v in x], axis=1)
    flat = b.Slice(b.Reshape(lanes, ctx.i64([-1])), ctx.i64([0]), count)
    return b.Reshape(flat, target), _add_128(ctx, counter, advance)


def _add_128(ctx: LoweringContext, u128: tuple[ir.Value, ir.Value], u64: ir.Value):
    """(low, high) + u64 with the carry into high."""
    b = ctx.b
    low = b.Add(u128[0], u64)
    carry = b.Cast(b.Less(low, u128[0]), to=U64)
    return low, b.Add(u128[1], carry)


@lowers("stablehlo.rng_bit_generator")
def rng_bit_generator(ctx: LoweringContext, state: ir.Value) -> list[ir.Value]:
    """stablehlo.rng_bit_generator -> XLA's threefry2x32 / philox4x32 in integer ops."""
    if not ctx.result_specs[1].is_static:
        raise ctx.error("needs a static output shape")
    return _generate(ctx, state, ctx.result_specs[1].shape)


@lowers("stablehlo.custom_call@stablehlo.dynamic_rng_bit_generator")
def dynamic_rng_bit_generator(ctx: LoweringContext, state: ir.Value,
                              shape: ir.Value) -> list[ir.Value]:
    """custom_call @stablehlo.dynamic_rng_bit_generator (jax.random with an rbg key and a
    shape taken from a symbolic dim) -> rng_bit_generator's arithmetic on runtime counts;
    XLA refines the shape before it expands the op, so the bits are those of the static op."""
    if ctx.operand_specs[1].dtype != ir.DataType.INT64:
        shape = ctx.b.Cast(shape, to=ir.DataType.INT64)
    return _generate(ctx, state, shape)


def _generate(ctx: LoweringContext, state: ir.Value, shape: Shape) -> list[ir.Value]:
    """(new state, bits of `shape`: static dims or an int64 vector known at runtime)."""
    algorithm = hlo.RngAlgorithmAttr(ctx.raw_attr("rng_algorithm")).value
    state_spec, out = ctx.operand_specs[0], ctx.result_specs[1]
    if state_spec.dtype != U64 or not state_spec.is_static:
        raise ctx.error("needs a static ui64 state")
    width = 8 * out.np_dtype.itemsize
    if out.is_float or out.is_bool or width not in (8, 16, 32, 64):
        raise ctx.error(f"{out.dtype.name} outputs are not supported (XLA makes integers)")
    b, n = ctx.b, state_spec.shape[0]
    word = [b.Gather(state, ctx.i64(i)) for i in range(n)]
    if algorithm == "THREE_FRY" and isinstance(shape, ir.Value):
        bits, advanced = _threefry_at_runtime(ctx, word[0], word[1], shape, out.rank,
                                              width == 64)
        new_state = [word[0], advanced]
    elif algorithm == "THREE_FRY":
        bits, advanced = _threefry(ctx, word[0], word[1], shape, width == 64)
        new_state = [word[0], advanced]
    elif algorithm in ("PHILOX", "DEFAULT"):
        counter = (word[1], word[2]) if n >= 3 else (word[1], word[0])
        bits, advanced = _philox(ctx, word[0], counter, shape, width == 64)
        new_state = [word[0], *advanced[: 2 if n >= 3 else 1]]
    else:
        raise ctx.error(f"unknown rng algorithm {algorithm}")
    if width < 32:  # XLA keeps the low bits of 32-bit outputs
        bits = b.Cast(bits, to=ir.DataType.UINT8 if width == 8 else ir.DataType.UINT16)
    new_state = b.Concat(*[b.Unsqueeze(w, ctx.i64([0])) for w in new_state], axis=0)
    return [new_state, b.Cast(bits, to=out.dtype)]
