"""stablehlo.fft (FFT, IFFT, RFFT, IRFFT) -> ONNX DFT, one node per transformed axis.

Complex values are float [..., 2] pairs (lowering/complex.py), which is DFT's own complex
layout, so a transform along MLIR axis a is DFT along ONNX axis a. DFT's inverse divides
by the length, as IFFT does. ONNX Runtime's CPU DFT handles any length (radix-2 for powers
of two, a direct sum otherwise) and any axis but the pair axis.

Opsets: DFT-20 takes the axis as an input, DFT-17 (used at opsets 18 and 19) as an
attribute; the rules build the DFT-20 form and rewrite it once the model's opset is known.
"""

from __future__ import annotations

import onnx_ir as ir

from .complex import lowers_complex, pack, parts
from .context import LoweringContext
from .types import component_spec


def _dft(ctx: LoweringContext, x: ir.Value, axis: int, length: int, *, inverse: bool = False,
         onesided: bool = False) -> ir.Value:
    """One DFT along `axis` (not the trailing real/complex axis) of x [..., 1 or 2], whose
    size there is `length`."""
    # ONNX Runtime sums lengths other than powers of two directly; in float32 its error
    # grows with the length (1e-4 of the peak at 1000), in float64 it stays far below
    # float32's rounding.
    widen = length & (length - 1) != 0 and _part_type(ctx) == ir.DataType.FLOAT
    if widen:
        x = ctx.b.Cast(x, to=ir.DataType.DOUBLE)
    node_output = ctx.b.DFT(x, None, ctx.i64(axis), inverse=int(inverse),
                            onesided=int(onesided))
    node = node_output.producer()

    def fix(opset: int) -> None:
        if opset < 20:  # DFT-17: no axis input, an axis attribute
            node.resize_inputs(1)
            node.attributes["axis"] = ir.AttrInt64("axis", axis)

    ctx.when_opset_known(fix)
    return ctx.b.Cast(node_output, to=ir.DataType.FLOAT) if widen else node_output


def _part_type(ctx: LoweringContext) -> ir.DataType:
    """The float type of the parts of the op's complex operand or result."""
    spec = ctx.out if ctx.out.is_complex else ctx.operand_specs[0]
    return component_spec(spec).dtype


@lowers_complex("stablehlo.fft")
def fft(ctx: LoweringContext, x: ir.Value) -> list[ir.Value]:
    """stablehlo.fft over the last len(fft_length) axes -> DFT per axis.

    FFT / IFFT: a (inverse) DFT along each axis. RFFT: a onesided DFT of the real input on
    the last axis, then complex DFTs on the others. IRFFT: inverse DFTs on the leading
    axes, then the last axis's spectrum completed by Hermitian symmetry (conjugates of
    bins n-1 .. n//2+1 mirrored from 1 .. n-n//2-1), an inverse DFT, and its real part;
    the imaginary parts of bins 0 and n/2 drop out as in XLA.

    Limits: the operand's transformed dims must be the ones StableHLO requires (JAX pads
    or crops before the op for `n=`).
    """
    kind, lengths = ctx.attr("fft_type"), list(ctx.attr("fft_length"))
    source = ctx.operand_specs[0]
    rank = source.rank
    axes = list(range(rank - len(lengths), rank))
    if kind == "FFT" or kind == "IFFT":
        for axis, length in zip(axes, lengths):
            x = _dft(ctx, x, axis, length, inverse=kind == "IFFT")
        return [x]
    if kind == "RFFT":
        x = _dft(ctx, ctx.b.Unsqueeze(x, ctx.i64([-1])), axes[-1], lengths[-1], onesided=True)
        for axis, length in zip(axes[:-1], lengths):
            x = _dft(ctx, x, axis, length)
        return [x]
    if kind != "IRFFT":
        raise ctx.error(f"unknown fft_type {kind}")
    n, last = lengths[-1], axes[-1]
    if source.shape[last] != n // 2 + 1:
        raise ctx.error(f"IRFFT of length {n} takes {n // 2 + 1} bins, got {source.shape[last]}")
    for axis, length in zip(axes[:-1], lengths):
        x = _dft(ctx, x, axis, length, inverse=True)
    return [parts(ctx, _dft(ctx, _hermitian(ctx, x, n, last), last, n, inverse=True))[0]]


def _hermitian(ctx: LoweringContext, x: ir.Value, n: int, axis: int) -> ir.Value:
    """Bins 0 .. n//2 of a real signal's spectrum along `axis` -> all n bins."""
    mirrored = n - n // 2 - 1  # bins n//2+1 .. n-1 are conj of bins n-n//2-1 .. 1
    if mirrored == 0:
        return x
    b = ctx.b
    # bins n-n//2-1 down to 1: a reversed Slice
    tail = b.Slice(x, ctx.i64([mirrored]), ctx.i64([0]), ctx.i64([axis]), ctx.i64([-1]))
    re, im = parts(ctx, tail)
    return b.Concat(x, pack(ctx, re, b.Neg(im)), axis=axis)
