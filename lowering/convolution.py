"""stablehlo.convolution -> Conv, with layout transposes, lhs dilation and cropping as needed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from jax2onnx_hlo._mlir import hlo

from . import lowers
from .context import LoweringContext
from .shape import _interior_pad

__all__ = ["crop_negative_padding", "dilate_axes"]

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


@lowers("stablehlo.convolution")
def convolution(ctx: LoweringContext, lhs: ir.Value, rhs: ir.Value) -> list[ir.Value]:
    """stablehlo.convolution -> Conv on [N, C, spatial...] x [O, I, spatial...].

    lhs dilation (transposed convolution) inserts zeros into the input first, negative
    padding crops it; the result is transposed back to the op's output layout.

    Limits: float types only (ONNX Conv); batch_group_count > 1 (a weight gradient) and
    lhs dilation along a dynamic axis are refused.
    """
    numbers = hlo.ConvDimensionNumbers(ctx.raw_attr("dimension_numbers"))
    if ctx.attr("batch_group_count", 1) != 1:
        raise ctx.error(
            f"batch_group_count={ctx.attr('batch_group_count')} (the weight gradient of a "
            "grouped convolution) has no ONNX Conv counterpart"
        )
    lhs_spec, rhs_spec, out = *ctx.operand_specs, ctx.out
    if not out.is_float:
        raise ctx.error(f"convolution of {out.dtype} tensors: ONNX Conv takes floats only")
    if lhs_spec.dtype != out.dtype:  # preferred_element_type: compute in the result type
        lhs = ctx.b.Cast(lhs, to=out.dtype)
    if rhs_spec.dtype != out.dtype:
        rhs = ctx.b.Cast(rhs, to=out.dtype)
    n = len(numbers.input_spatial_dimensions)
    padding = np.asarray(ctx.attr("padding", np.zeros((n, 2), np.int64))).reshape(n, 2)
    reversal = ctx.attr("window_reversal", [False] * n)

    lhs_perm = [numbers.input_batch_dimension, numbers.input_feature_dimension,
                *numbers.input_spatial_dimensions]
    rhs_perm = [numbers.kernel_output_feature_dimension, numbers.kernel_input_feature_dimension,
                *numbers.kernel_spatial_dimensions]
    lhs = _transpose(ctx, lhs, lhs_perm)
    rhs = _transpose(ctx, rhs, rhs_perm)
    if any(reversal):  # window_reversal flips the kernel along those spatial axes
        rhs = _reverse(ctx, rhs, [2 + i for i in range(n) if reversal[i]])
    lhs_shape = [lhs_spec.shape[a] for a in lhs_perm]
    lhs = dilate_axes(ctx, lhs, lhs_shape, ctx.attr("lhs_dilation", [1] * n), 2,
                      ctx.scalar_like(0, out))
    lhs = crop_negative_padding(ctx, lhs, padding, 2)

    result = ctx.b.Conv(
        lhs,
        rhs,
        strides=ctx.attr("window_strides", [1] * n),
        pads=[max(int(p), 0) for p in (*padding[:, 0], *padding[:, 1])],
        dilations=ctx.attr("rhs_dilation", [1] * n),
        group=ctx.attr("feature_group_count", 1),
    )
    # Conv's axis k is output axis out_axes[k]; invert that to get the output's permutation.
    out_axes = [numbers.output_batch_dimension, numbers.output_feature_dimension,
                *numbers.output_spatial_dimensions]
    return [_transpose(ctx, result, [out_axes.index(a) for a in range(len(out_axes))])]


def dilate_axes(ctx: LoweringContext, x: ir.Value, shape: Sequence[int | None],
                dilation: Sequence[int], first_axis: int, value: ir.Value) -> ir.Value:
    """Inserts dilation[i] - 1 copies of `value` between neighbours along axis first_axis + i.

    Other dims may be dynamic (None): _interior_pad then reads them from the runtime shape.
    """
    shape = list(shape)
    for i, factor in enumerate(dilation):
        axis = first_axis + i
        if factor > 1 and shape[axis] is None:
            raise ctx.error(f"dilation {factor} along axis {axis} of dynamic size is not "
                            "supported; export with a static size for that axis")
        if factor > 1 and shape[axis] > 0:
            x = _interior_pad(ctx, x, value, shape, axis, factor - 1)
            shape[axis] += (shape[axis] - 1) * (factor - 1)
    return x


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


def _transpose(ctx: LoweringContext, x: ir.Value, perm: list[int]) -> ir.Value:
    return x if perm == sorted(perm) else ctx.b.Transpose(x, perm=perm)


def _reverse(ctx: LoweringContext, x: ir.Value, axes: list[int]) -> ir.Value:
    ones = [-1] * len(axes)
    return ctx.b.Slice(x, ctx.i64(ones), ctx.i64([_INT64_MIN] * len(axes)), ctx.i64(axes),
                       ctx.i64(ones))
