"""Fusions back to ONNX's own ops: the patterns JAX's lowering spreads over many nodes.

Each rule is an onnxscript pattern over the graph the walker and the optimizer leave
(ReduceMax arrives with its NaN-propagation guard, keepdims as Unsqueeze or Reshape) and
fires only where the model's opset has the fused op. The fused ops compute the same
function; where the arithmetic differs (LayerNormalization centres before squaring, JAX's
fast variance does not) the fused op is the more accurate one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import pattern
from onnxscript.rewriter._ir_utils import get_numpy_value

from .attention import ATTENTION_OPSET, fuse_attention
from .fusion_values import FLOATS, close, scalar
from .gelu_fusions import GeluErfcFusion, GeluErfFusion, GeluTanhFusion
from .rewriting import RuleIndex

__all__ = ["FUSIONS", "fuse"]


def _axes(value: ir.Value | None, rank: int) -> list[int] | None:
    array = get_numpy_value(value)
    if array is None or array.ndim > 1:
        return None
    return sorted(int(a) % rank for a in array.reshape(-1))


def _keeps_dims(kept: ir.Value, x: ir.Value, axes: list[int]) -> bool:
    """Whether `kept` has x's shape with `axes` set to 1 (a keepdims=1 reduction of x)."""
    if kept.shape is None or x.shape is None or kept.shape.rank() != x.shape.rank():
        return False
    return all(k == 1 if i in axes else k == d
               for i, (k, d) in enumerate(zip(kept.shape, x.shape)))


def _keep(op, reduced, name: str):
    """keepdims restored after a keepdims=0 reduction: Unsqueeze or Reshape."""
    return pattern.OrValue([op.Unsqueeze(reduced, pattern.Var(f"{name}_axes")),
                            op.Reshape(reduced, pattern.Var(f"{name}_shape"))])


def _float_input(x: ir.Value) -> bool:
    return x.dtype in FLOATS and x.shape is not None


# --- Softmax / LogSoftmax -------------------------------------------------------------

def _shifted(op, x):
    """x - max(x, axis) as JAX's softmax computes it: ReduceMax with the NaN guard the
    reduce lowering adds, max with -inf (the `initial`), keepdims restored. Where the
    logits come out of a dot_general the max may be taken before a layout Transpose."""
    row_max = op.ReduceMax(x, pattern.Var("axes"), keepdims=0)
    any_nan = op.Cast(op.ReduceMax(op.Cast(op.IsNaN(x), to=ir.DataType.UINT8),
                                   pattern.Var("nan_axes"), keepdims=0), to=ir.DataType.BOOL)
    row_max = pattern.OrValue([op.Where(any_nan, pattern.Var("nan"), row_max), row_max])
    row_max = pattern.OrValue([op.Max(pattern.Var("neg_inf"), row_max), row_max])
    row_max = pattern.OrValue([op.Transpose(row_max), row_max])
    return op.Sub(pattern.OrValue([op.Transpose(x), x]), _keep(op, row_max, "max"),
                  _outputs=["shifted"])


def _transpose_perm(value: ir.Value) -> list[int] | None:
    node = value.producer()
    if node is None or node.op_type != "Transpose" or value.shape is None:
        return None
    perm = node.attributes.get_ints("perm")
    return list(perm) if perm is not None else list(range(value.shape.rank()))[::-1]


class _SoftmaxBase(pattern.RewriteRuleClassBase):
    def check(self, context, x, axes, sum_axes, shifted, nan=None, nan_axes=None,
              neg_inf=None, **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        if not _float_input(x):
            return result.fail("input is not a float tensor of known rank", x)
        rank = x.shape.rank()
        found = _axes(axes, rank)
        if found is None or len(found) != 1:
            return result.fail("not a reduction over one constant axis", axes)
        if nan_axes is not None and _axes(nan_axes, rank) != found:
            return result.fail("NaN guard reduces other axes", nan_axes)
        if nan is not None and not np.isnan(scalar(nan) or 0.0):
            return result.fail("guard does not produce NaN", nan)
        if neg_inf is not None and scalar(neg_inf) != -np.inf:
            return result.fail("max is taken with something other than -inf", neg_inf)
        sub = shifted.producer()
        logits, kept = sub.inputs[0], sub.inputs[1]
        max_perm = _transpose_perm(kept.producer().inputs[0])
        self._perm = None if logits is x else _transpose_perm(logits)
        self._axis = found[0]
        if self._perm is not None:  # the max is transposed like the logits, less the axis
            rest = [d for d in range(rank) if d != self._axis]
            if max_perm != [rest.index(p) for p in self._perm if p != self._axis]:
                return result.fail("max and logits are transposed differently", kept)
            self._axis = self._perm.index(self._axis)
        elif max_perm is not None:
            return result.fail("max is transposed, the logits are not", kept)
        if not _keeps_dims(kept, logits, [self._axis]):
            return result.fail("max is not broadcast back along its axis", shifted)
        if _axes(sum_axes, rank) != [self._axis]:
            return result.fail("sum over other axes than max", sum_axes)
        return result

    def _logits(self, op, x):
        return x if self._perm is None else op.Transpose(x, perm=self._perm)


class SoftmaxFusion(_SoftmaxBase):
    """exp(x - max) / sum(exp(x - max)) -> Softmax (opset 13)."""

    def pattern(self, op, x):
        exp = op.Exp(_shifted(op, x))
        total = op.ReduceSum(exp, pattern.Var("sum_axes"), keepdims=0)
        return op.Div(exp, _keep(op, total, "sum"))

    def rewrite(self, op, x, **_):
        return op.Softmax(self._logits(op, x), axis=self._axis)


class LogSoftmaxFusion(_SoftmaxBase):
    """(x - max) - log(sum(exp(x - max))) -> LogSoftmax (opset 13)."""

    def pattern(self, op, x):
        shifted = _shifted(op, x)
        total = op.ReduceSum(op.Exp(shifted), pattern.Var("sum_axes"), keepdims=0)
        log_total = pattern.OrValue([op.Log(_keep(op, total, "sum")),
                                     _keep(op, op.Log(total), "log")])
        return op.Sub(shifted, log_total)

    def rewrite(self, op, x, **_):
        return op.LogSoftmax(self._logits(op, x), axis=self._axis)


# --- LayerNormalization / RMSNormalization --------------------------------------------

def _mean(op, value, name: str):
    """mean over the reduced axes as JAX writes it: ReduceSum, then Div by the count."""
    return op.Div(op.ReduceSum(value, pattern.Var(f"{name}_axes"), keepdims=0),
                  pattern.Var(f"{name}_count"))


def _inverse_rms(op, mean_square):
    """1/sqrt(m + eps), with m broadcast back over the reduced axes (rsqrt's lowering)."""
    variance = op.Add(_keep(op, mean_square, "var"), pattern.Var("epsilon"),
                      _outputs=["var_eps"])
    return op.Reciprocal(op.Sqrt(variance))


def _scaled(op, normalized, inverse, scale_form: str):
    if scale_form == "nnx":  # flax: x_centered * (rsqrt * scale)
        return op.Mul(normalized, op.Mul(inverse, pattern.Var("scale")))
    if scale_form == "equinox":  # equinox: weight * (x_centered * rsqrt)
        return op.Mul(pattern.Var("scale"), op.Mul(normalized, inverse))
    return op.Mul(normalized, inverse)


class _NormBase(pattern.RewriteRuleClassBase):
    """Shared checks: trailing contiguous axes, counts, epsilon, the scale's shape."""

    def __init__(self, name: str, scale_form: str):
        super().__init__(name)
        self._scale_form = scale_form

    def _check_norm(self, x, var_eps, epsilon, scale, means) -> pattern.MatchResult:
        result = pattern.MatchResult()
        if not _float_input(x):
            return result.fail("input is not a float tensor of known rank", x)
        rank = x.shape.rank()
        axes = None
        for name, (axes_value, count) in means.items():
            found = _axes(axes_value, rank)
            if found is None or (axes is not None and found != axes):
                return result.fail(f"{name}: reduction axes differ", axes_value)
            axes = found
            if not all(isinstance(x.shape[a], int) for a in found):  # a batch may be "B"
                return result.fail(f"{name}: a reduced axis has no static size", x)
            size = math.prod(x.shape[a] for a in found)
            if not close(count, float(size)):
                return result.fail(f"{name}: not divided by the count of reduced elements")
        if not axes or axes != list(range(rank - len(axes), rank)):
            return result.fail("not a normalization over the trailing axes")
        if not _keeps_dims(var_eps, x, axes):
            return result.fail("variance is not broadcast back over its axes", var_eps)
        self._epsilon = scalar(epsilon)
        if self._epsilon is None:
            return result.fail("epsilon is not a constant scalar", epsilon)
        self._axis = axes[0]
        self._normalized_shape = [x.shape[a] for a in axes]
        if scale is not None and not self._fits_normalized(scale):
            return result.fail("scale does not have the normalized shape", scale)
        return result

    def _fits_normalized(self, value: ir.Value) -> bool:
        """Whether `value` is shaped like the normalized axes, up to leading ones."""
        if value.dtype is None or value.shape is None or not value.shape.is_static():
            return False
        dims = list(value.shape.numpy())
        while dims and dims[0] == 1 and len(dims) > len(self._normalized_shape):
            dims.pop(0)
        return dims == self._normalized_shape

    def _normalize(self, op, op_type: str, x, scale):
        """The fused op over the matched axes, statistics in float32 (double for double)."""
        stash = ir.DataType.DOUBLE if x.dtype == ir.DataType.DOUBLE else ir.DataType.FLOAT
        return getattr(op, op_type)(x, self._scale_or_ones(op, x, scale), axis=self._axis,
                                    epsilon=self._epsilon, stash_type=stash)

    def _scale_or_ones(self, op, x, scale):
        if scale is None:
            ones = np.ones(self._normalized_shape, dtype=x.dtype.numpy())
            return op.Constant(value=ir.tensor(ones))
        return _reshaped(op, scale, self._normalized_shape)


def _reshaped(op, value: ir.Value, shape: list[int]):
    if list(value.shape.numpy()) == shape:
        return value
    return op.Reshape(value, op.Constant(value=ir.tensor(np.array(shape, dtype=np.int64))))


class LayerNormFusion(_NormBase):
    """(x - mean) * rsqrt(var + eps) [* scale] -> LayerNormalization (opset 17); var is
    JAX's fast form max(0, E[x^2] - E[x]^2) or E[(x - mean)^2]."""

    def pattern(self, op, x):
        mean = _mean(op, x, "mean")
        centered = op.Sub(x, _keep(op, mean, "mean"))
        fast = op.Sub(_mean(op, op.Mul(x, x), "square"), op.Mul(mean, mean))
        exact = _mean(op, op.Mul(centered, centered), "centered")
        variance = pattern.OrValue([op.Max(pattern.Var("zero"), fast),
                                    op.Max(pattern.Var("zero"), exact), exact])
        return _scaled(op, centered, _inverse_rms(op, variance), self._scale_form)

    def check(self, context, x, var_eps, epsilon, zero=None, scale=None, mean_axes=None,
              mean_count=None, square_axes=None, square_count=None, centered_axes=None,
              centered_count=None, **_) -> pattern.MatchResult:
        means = {"mean": (mean_axes, mean_count)}
        if square_axes is not None:
            means["square"] = (square_axes, square_count)
        if centered_axes is not None:
            means["centered"] = (centered_axes, centered_count)
        result = self._check_norm(x, var_eps, epsilon, scale, means)
        if result and zero is not None and scalar(zero) != 0.0:
            return result.fail("variance clamped at a nonzero value", zero)
        return result

    def rewrite(self, op, x, scale=None, **_):
        return self._normalize(op, "LayerNormalization", x, scale)


class LayerNormBiasFusion(pattern.RewriteRuleClassBase):
    """LayerNormalization(x, scale) + bias -> LayerNormalization(x, scale, bias)."""

    def pattern(self, op, x, scale, bias):
        return op.Add(op.LayerNormalization(x, scale, _outputs=["normalized"]), bias)

    def check(self, context, x, scale, bias, normalized, **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        node = normalized.producer()
        if len(node.outputs) != 1 or len(node.inputs) != 2:
            return result.fail("LayerNormalization already has a bias or extra outputs")
        if x.shape is None:
            return result.fail("input shape unknown", x)
        axis = node.attributes.get_int("axis", -1) % x.shape.rank()
        shape = list(x.shape)[axis:]
        if not all(isinstance(d, int) for d in shape):
            return result.fail("normalized axes without a static size", x)
        if bias.shape is None or not bias.shape.is_static():
            return result.fail("bias shape unknown", bias)
        dims = list(bias.shape.numpy())
        while dims and dims[0] == 1 and len(dims) > len(shape):
            dims.pop(0)
        if dims != shape:
            return result.fail("bias does not have the normalized shape", bias)
        self._shape = shape
        return result

    def rewrite(self, op, x, scale, bias, normalized, **_):
        return op.LayerNormalization(x, scale, _reshaped(op, bias, self._shape),
                                     **normalized.producer().attributes)


class RMSNormFusion(_NormBase):
    """x * rsqrt(mean(x^2) + eps) [* scale] -> RMSNormalization (opset 23); nnx.RMSNorm
    subtracts a zero mean first."""

    def pattern(self, op, x):
        mean_square = _mean(op, op.Mul(x, x), "square")
        centered = pattern.OrValue([op.Sub(x, pattern.Var("zero")), x])
        return _scaled(op, centered, _inverse_rms(op, mean_square), self._scale_form)

    def check(self, context, x, var_eps, epsilon, square_axes, square_count, zero=None,
              scale=None, **_) -> pattern.MatchResult:
        result = self._check_norm(x, var_eps, epsilon, scale,
                                  {"square": (square_axes, square_count)})
        if result and zero is not None:
            array = get_numpy_value(zero)
            if array is None or np.any(array != 0):
                return result.fail("subtracts something other than zero", zero)
        return result

    def rewrite(self, op, x, scale=None, **_):
        return self._normalize(op, "RMSNormalization", x, scale)


# --- Conv bias, AveragePool ----------------------------------------------------------

def _conv_attrs(node: ir.Node) -> dict[str, list[int]]:
    return {name: list(attr.as_ints()) for name, attr in node.attributes.items()
            if name in ("strides", "pads", "dilations")}


class ConvBiasFusion(pattern.RewriteRuleClassBase):
    """Conv(x, w) + b -> Conv(x, w, b) for a constant b that varies along the channels
    only (the bias of an NHWC convolution, transposed with it)."""

    def pattern(self, op, x, w, b):
        return op.Add(op.Conv(x, w, _outputs=["conv"]), b)

    def check(self, context, x, w, b, conv, **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        out = conv.shape
        if out is None or out.rank() < 3 or not isinstance(out[1], int):
            return result.fail("convolution output of unknown channels", conv)
        if b.const_value is None or b.shape is None or not b.shape.is_static():
            return result.fail("bias is not a constant", b)
        if b.dtype != conv.dtype or conv.dtype not in FLOATS:
            return result.fail("bias of another type", b)
        dims = list(b.shape.numpy())
        if len(dims) not in (out.rank(), out.rank() - 1):
            return result.fail("bias does not broadcast along the channels", b)
        channels = dims[1 - out.rank()]  # the dim aligned with axis 1 of the output
        if channels != out[1] or math.prod(dims) != channels:
            return result.fail("bias varies along other axes than the channels", b)
        self._channels = channels
        return result

    def rewrite(self, op, x, w, b, conv, **_):
        bias = op.Reshape(b, op.Constant(value=ir.tensor(np.array([self._channels],
                                                                  dtype=np.int64))))
        return op.Conv(x, w, bias, **conv.producer().attributes)


class AveragePoolFusion(pattern.RewriteRuleClassBase):
    """Conv(x, ones, group=C) / (window size) -> AveragePool: reduce_window sum lowers to a
    depthwise convolution with a kernel of ones, avg_pool divides it by the window size
    (padding included, as count_include_pad=1 does)."""

    def pattern(self, op, x, kernel, count):
        return op.Div(op.Conv(x, kernel, _outputs=["summed"]), count)

    def check(self, context, x, kernel, count, summed, **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        node = summed.producer()
        ones = get_numpy_value(kernel)
        if x.dtype not in FLOATS or x.shape is None or ones is None or ones.ndim < 3:
            return result.fail("not a float input and a constant kernel", kernel)
        channels = x.shape[1]
        if ones.shape[:2] != (channels, 1) or node.attributes.get_int("group", 1) != channels:
            return result.fail("not a depthwise convolution", kernel)
        if not np.all(ones == 1):
            return result.fail("kernel is not all ones", kernel)
        window = list(ones.shape[2:])
        if not close(count, float(math.prod(window))):
            return result.fail("not divided by the window size", count)
        attrs = _conv_attrs(node)
        if any(d != 1 for d in attrs.get("dilations", [])) or node.attributes.get_string(
                "auto_pad", "NOTSET") != "NOTSET":
            return result.fail("dilated or auto-padded convolution", summed)
        pads = attrs.get("pads", [0] * 2 * len(window))
        if any(pad >= size for pad, size in zip(pads, window * 2)):
            # ONNX Runtime's pooling refuses a pad as large as the window ("Pad should be
            # smaller than kernel"); Conv takes it.
            return result.fail("a pad as large as the window", summed)
        self._attrs = {"kernel_shape": window, "count_include_pad": 1,
                       **{k: v for k, v in attrs.items() if k != "dilations"}}
        return result

    def rewrite(self, op, x, **_):
        return op.AveragePool(x, **self._attrs)


# --- Gemm -----------------------------------------------------------------------------

class MatMulAddToGemm(pattern.RewriteRuleClassBase):
    """MatMul(a, b) + c -> Gemm(a, b, c) for 2-D a and b and a c that broadcasts to the
    product (a bias), so that ONNX Runtime runs one kernel."""

    def pattern(self, op, a, b, c):
        return op.Add(op.MatMul(a, b), c)

    def check(self, context, a, b, c, **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        if any(v.shape is None or v.shape.rank() != 2 for v in (a, b)):
            return result.fail("MatMul operands are not 2-D")
        if a.dtype not in FLOATS or c.shape is None or c.shape.rank() > 2:
            return result.fail("bias is not a 2-D-broadcastable float", c)
        product = (a.shape[0], b.shape[1])
        dims = list(c.shape)
        if not all(d == 1 or d == p for d, p in zip(dims[::-1], product[::-1])):
            return result.fail("bias does not broadcast to the product", c)
        return result

    def rewrite(self, op, a, b, c, **_):
        return op.Gemm(a, b, c)


# fused op -> (first opset that has it, its rules); rules of one op are tried in order
FUSIONS: dict[str, tuple[int, Sequence[pattern.RewriteRule]]] = {
    "Softmax": (13, [SoftmaxFusion.rule()]),
    "LogSoftmax": (13, [LogSoftmaxFusion.rule()]),
    "LayerNormalization": (17, [LayerNormFusion.rule(f"LayerNorm_{form}", scale_form=form)
                                for form in ("nnx", "equinox", "none")]),
    "RMSNormalization": (23, [RMSNormFusion.rule(f"RMSNorm_{form}", scale_form=form)
                              for form in ("nnx", "equinox", "none")]),
    "Gelu": (20, [GeluTanhFusion.rule(), GeluErfcFusion.rule(),
                   *GeluErfFusion.rule().commute()]),
    "Gemm": (13, MatMulAddToGemm.rule().commute()),
    "Conv": (11, ConvBiasFusion.rule().commute()),
    "AveragePool": (11, [AveragePoolFusion.rule()]),
}


# Rules over the fused ops themselves (LayerNormalization + bias). They go in the same
# round, after the others: a fused node replaces its pattern's last node, which comes
# before its consumers in the graph's order, so the round reaches them afterwards.
FOLLOW_UPS: dict[str, tuple[int, Sequence[pattern.RewriteRule]]] = {
    "LayerNormalization": (17, LayerNormBiasFusion.rule().commute()),
}


def fuse(model: ir.Model) -> int:
    """Applies every fusion the model's opset allows, in one round over the graph, then
    attention (attention.py: it starts from the Softmax the round fused); returns how many
    fired."""
    count = _rules_for(model.graph.opset_imports.get("", 1)).apply_to_model(model)
    if count and model.graph.opset_imports.get("", 1) >= ATTENTION_OPSET:
        count += fuse_attention(model)
    return count


@functools.cache
def _rules_for(opset: int) -> RuleIndex:
    return RuleIndex(rule for table in (FUSIONS, FOLLOW_UPS)
                     for first, group in table.values() if opset >= first for rule in group)
