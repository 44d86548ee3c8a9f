"""stablehlo.convolution and dynamic_conv -> Conv, with layout transposes, lhs dilation and
cropping or runtime padding as needed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .context import LoweringContext
from .shape import edge_pad, interior_pad

__all__ = ["crop_negative_padding", "dilate_axes"]

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


@lowers("stablehlo.convolution")
def convolution(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value) -> list[ir.Value]:
    """stablehlo.convolution -> Conv on [N, C, spatial...] x [O, I, spatial...].

    lhs dilation (transposed convolution) inserts zeros into the input first, negative
    padding crops it; the result is transposed back to the op's output layout.

    Limits: float types only (ONNX Conv); batch_group_count > 1 (a weight gradient) is
    refused.
    """
    n = len(ctx.operand_specs[0].shape) - 2
    padding = np.asarray(ctx.attr("padding", np.zeros((n, 2), np.int64))).reshape(n, 2)
    return [_conv(ctx, lhs, rhs, padding)]


@lowers("stablehlo.dynamic_conv")
def dynamic_conv(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value,
                 padding: ir.Value) -> list[ir.Value]:
    """stablehlo.dynamic_conv (a strided "SAME" convolution over symbolic spatial dims,
    whose padding depends on them) -> stablehlo.convolution's nodes, the runtime padding
    applied to the input by Pad (and Slice where it may be negative), Conv unpadded.

    Limits: those of stablehlo.convolution.
    """
    if ctx.operand_specs[2].dtype != ir.DataType.INT64:
        padding = ctx.b.Cast(padding, to=ir.DataType.INT64)
    return [_conv(ctx, lhs, rhs, padding)]


def _conv(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value,
          padding: np.ndarray | ir.Value) -> ir.Value:
    """The convolution with `padding` ([spatial, 2]: low, high) as constants or at runtime."""
    numbers = hlo.ConvDimensionNumbers(ctx.raw_attr("dimension_numbers"))
    if ctx.attr("batch_group_count", 1) != 1:
        raise ctx.error(
            f"batch_group_count={ctx.attr('batch_group_count')} (the weight gradient of a "
            "grouped convolution) has no ONNX Conv counterpart"
        )
    lhs_spec, rhs_spec, out = *ctx.operand_specs[:2], ctx.out
    if not out.is_float:
        raise ctx.error(f"convolution of {out.dtype} tensors: ONNX Conv takes floats only")
    if lhs_spec.dtype != out.dtype:  # preferred_element_type: compute in the result type
        lhs = ctx.typed(ctx.b.Cast(lhs, to=out.dtype), out.dtype, lhs_spec.shape)
    if rhs_spec.dtype != out.dtype:
        rhs = ctx.typed(ctx.b.Cast(rhs, to=out.dtype), out.dtype, rhs_spec.shape)
    n = len(numbers.input_spatial_dimensions)
    reversal = ctx.attr("window_reversal", [False] * n)

    lhs_perm = [numbers.input_batch_dimension, numbers.input_feature_dimension,
                *numbers.input_spatial_dimensions]
    rhs_perm = [numbers.kernel_output_feature_dimension, numbers.kernel_input_feature_dimension,
                *numbers.kernel_spatial_dimensions]
    lhs = _transpose(ctx, lhs, lhs_perm, lhs_spec.shape, out.dtype)
    rhs = _transpose(ctx, rhs, rhs_perm, rhs_spec.shape, out.dtype)
    if any(reversal):  # window_reversal flips the kernel along those spatial axes
        rhs = _reverse(ctx, rhs, [2 + i for i in range(n) if reversal[i]])
    lhs_shape = [lhs_spec.shape[a] for a in lhs_perm]
    zero = ctx.scalar_like(0, out)
    lhs = dilate_axes(ctx, lhs, lhs_shape, ctx.attr("lhs_dilation", [1] * n), 2, zero)
    if isinstance(padding, ir.Value):  # Conv's pads are attributes: pad the input instead
        lows, highs = (ctx.b.Reshape(ctx.b.Slice(padding, ctx.i64([k]), ctx.i64([k + 1]),
                                                 ctx.i64([1])), ctx.i64([-1])) for k in (0, 1))
        lhs = edge_pad(ctx, lhs, zero, ctx.b.Concat(ctx.i64([0, 0]), lows, axis=0),
                       ctx.b.Concat(ctx.i64([0, 0]), highs, axis=0))
        pads = [0] * (2 * n)
    else:
        lhs = crop_negative_padding(ctx, lhs, padding, 2)
        pads = [max(int(p), 0) for p in (*padding[:, 0], *padding[:, 1])]

    result = ctx.b.Conv(
        lhs,
        rhs,
        strides=ctx.attr("window_strides", [1] * n),
        pads=pads,
        dilations=ctx.attr("rhs_dilation", [1] * n),
        group=ctx.attr("feature_group_count", 1),
    )
    # Conv's axis k is output axis out_axes[k]; invert that to get the output's permutation.
    out_axes = [numbers.output_batch_dimension, numbers.output_feature_dimension,
                *numbers.output_spatial_dimensions]
    # Conv's output shape is the result's, in Conv's layout: as ONNX infers it from typed inputs.
    conv_shape = [out.shape[a] for a in out_axes]
    result = ctx.typed(result, out.dtype, conv_shape)
    return _transpose(ctx, result, [out_axes.index(a) for a in range(len(out_axes))],
                      conv_shape, out.dtype)


def dilate_axes(ctx: LoweringContext, x: ir.Value, shape: Sequence[int | None],
                dilation: Sequence[int], first_axis: int, value: ir.Value) -> ir.Value:
    """Inserts dilation[i] - 1 copies of `value` between neighbours along axis first_axis + i
    (interior padding); dynamic dims are read from the runtime shape."""
    gaps = [0] * first_axis + [factor - 1 for factor in dilation]
    gaps += [0] * (len(shape) - len(gaps))
    return interior_pad(ctx, x, value, list(shape), gaps)


def crop_negative_padding(ctx: LoweringContext, x: ir.Value, padding: np.ndarray,
                          first_axis: int) -> ir.Value:
    """Slices off the negative entries of `padding` ([axes, 2], low and high) from axis
    first_axis + i; the positive ones are left to the caller."""
    cut = [i for i in range(len(padding)) if min(padding[i]) < 0]
    if not cut:
        return x
    starts = [-min(int(padding[i][0]), 0) for i in cut]
    # A negative high pad is a negative end index, counted from the end of the axis.
    ends = [int(padding[i][1]) if padding[i][1] < 0 else _INT64_MAX for i in cut]
    return ctx.b.Slice(x, ctx.i64(starts), ctx.i64(ends), ctx.i64([first_axis + i for i in cut]))


def _transpose(ctx: LoweringContext, x: ir.Value, perm: list[int],
               shape: Sequence[int | None], dtype: ir.DataType) -> ir.Value:
    """x (of `shape`) transposed by `perm`, typed."""
    if perm == sorted(perm):
        return x
    return ctx.typed(ctx.b.Transpose(x, perm=perm), dtype, [shape[a] for a in perm])


def _reverse(ctx: LoweringContext, x: ir.Value, axes: list[int]) -> ir.Value:
    ones = [-1] * len(axes)
    return ctx.b.Slice(x, ctx.i64(ones), ctx.i64([_INT64_MIN] * len(axes)), ctx.i64(axes),
                       ctx.i64(ones))
