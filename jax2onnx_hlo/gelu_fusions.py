"""Gelu back from JAX's formulas: the tanh approximation, 0.5 * x * (1 + erf(x / sqrt(2))),
and exact gelu's erfc as a jax.export artifact decomposes it (a polynomial expansion,
checked by what it computes) or as lowering/chlo.py writes it (1 - erf)."""

from __future__ import annotations

import math

import numpy as np
from onnxscript.rewriter import pattern

from .fusion_values import FLOATS, close, scalar

__all__ = ["GeluErfFusion", "GeluErfcFusion", "GeluTanhFusion"]


class GeluTanhFusion(pattern.RewriteRuleClassBase):
    """x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> Gelu(approximate="tanh")."""

    def pattern(self, op, x, c_cube, c_sqrt, half, one):
        cube = pattern.OrValue([op.Mul(op.Mul(x, x), x), op.Pow(x, pattern.Var("three"))])
        inner = op.Mul(c_sqrt, op.Add(x, op.Mul(c_cube, cube)))
        return op.Mul(x, op.Mul(half, op.Add(one, op.Tanh(inner))))

    def check(self, context, x, c_cube, c_sqrt, half, one, three=None,
              **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        if x.dtype not in FLOATS:
            return result.fail("not a float input", x)
        if three is not None and not close(three, 3.0):
            return result.fail("not a cube", three)
        constants = ((c_cube, 0.044715), (c_sqrt, math.sqrt(2 / math.pi)), (half, 0.5),
                     (one, 1.0))
        if not all(close(v, want, rtol=1e-6) for v, want in constants):
            return result.fail("constants are not those of the tanh approximation")
        return result

    def rewrite(self, op, x, **_):
        return op.Gelu(x, approximate="tanh")


class GeluErfFusion(pattern.RewriteRuleClassBase):
    """0.5 * x * (1 + erf(x / sqrt(2))) -> Gelu (opset 20)."""

    def pattern(self, op, x, half, one):
        scaled = pattern.OrValue([op.Mul(x, pattern.Var("rsqrt2")),
                                  op.Div(x, pattern.Var("sqrt2"))])
        return op.Mul(op.Mul(half, x), op.Add(one, op.Erf(scaled)))

    def check(self, context, x, half, one, rsqrt2=None, sqrt2=None,
              **_) -> pattern.MatchResult:
        result = pattern.MatchResult()
        if x.dtype not in FLOATS:
            return result.fail("not a float input", x)
        scale_ok = (close(rsqrt2, math.sqrt(0.5)) if rsqrt2 is not None
                    else close(sqrt2, math.sqrt(2.0)))
        if not (scale_ok and close(half, 0.5) and close(one, 1.0)):
            return result.fail("constants are not those of gelu")
        return result

    def rewrite(self, op, x, **_):
        return op.Gelu(x)


def _horner(op, t, name: str, degree: int):
    """c0*t^degree + ... as JAX's polynomial evaluation writes it, from the top."""
    acc = op.Add(op.Mul(pattern.Var(f"{name}0"), t), pattern.Var(f"{name}1"))
    for k in range(2, degree + 1):
        acc = op.Add(op.Mul(acc, t), pattern.Var(f"{name}{k}"))
    return acc


def _horner_value(bindings: dict, name: str, degree: int, t: np.ndarray) -> np.ndarray | None:
    acc = np.zeros_like(t)
    for k in range(degree + 1):
        c = scalar(bindings.get(f"{name}{k}"))
        if c is None:
            return None
        acc = acc * t + c
    return acc


# The constants of _erfc, each use its own: the same number may come as different values
# (a scalar that a broadcasting op takes as it is, a [1, 1, 1] one that Less and Where got
# from a dynamic-batch broadcast).
_ERFC_CONSTANTS = {"one_a": 1.0, "one_b": 1.0, "one_c": 1.0, "one_d": 1.0, "two_a": 2.0,
                   "two_b": 2.0, "zero_a": 0.0, "zero_b": 0.0}


# JAX's float32 erfc (lax.erfc): two rational-free polynomials in 1/z^2 for |z| >= 1,
# exp(-z^2)/|z| times them, and 1 - z*P(z^2) for |z| < 1.
def _erfc(op, z):
    c = {name: pattern.Var(name) for name in _ERFC_CONSTANTS}
    z2 = op.Mul(z, z)
    neg_z2, abs_z = op.Neg(z2), op.Abs(z)
    inv_z2 = op.Div(c["one_a"], z2)
    tail = op.Mul(op.Exp(neg_z2), op.Div(c["one_b"], abs_z))
    tail = op.Mul(tail, op.Where(op.Less(abs_z, c["two_a"]), _horner(op, inv_z2, "p", 8),
                                 _horner(op, inv_z2, "q", 7)))
    tail = op.Where(op.Less(neg_z2, pattern.Var("underflow")), c["zero_a"], tail)
    tail = op.Where(op.Less(z, c["zero_b"]), op.Sub(c["two_b"], tail), tail)
    near = op.Sub(c["one_c"], op.Mul(z, _horner(op, z2, "s", 6)))
    return op.Where(op.Less(abs_z, c["one_d"]), near, tail)


def _computes_erfc(bindings: dict) -> bool:
    """Evaluates the matched formula in float64 against math.erfc: the coefficients
    are checked by what they compute, not copied from JAX's source."""
    if any(scalar(bindings.get(name)) != value for name, value in _ERFC_CONSTANTS.items()):
        return False
    underflow = scalar(bindings.get("underflow"))
    if underflow is None or underflow > -80:
        return False
    z = np.concatenate([np.linspace(-0.99, 0.99, 45), np.linspace(1.0, 9.0, 81)])
    small, large = z[np.abs(z) < 1], z[np.abs(z) >= 1]
    near = _horner_value(bindings, "s", 6, small * small)
    far_p = _horner_value(bindings, "p", 8, 1 / (large * large))
    far_q = _horner_value(bindings, "q", 7, 1 / (large * large))
    if near is None or far_p is None or far_q is None:
        return False
    far = np.exp(-large * large) / large * np.where(large < 2, far_p, far_q)
    got = np.concatenate([1 - small * near, far])
    want = np.array([math.erfc(v) for v in np.concatenate([small, large])])
    return bool(np.all(np.abs(got - want) <= 1e-6 * want))


class GeluErfcFusion(pattern.RewriteRuleClassBase):
    """jax.nn.gelu(approximate=False): 0.5 * x * erfc(-x / sqrt(2)) -> Gelu (opset 20).
    erfc comes as JAX's polynomial approximation (about 60 nodes), as a jax.export artifact
    decomposes it, or as 1 - erf, as lowering/chlo.py writes it from JAX's own lowering."""

    def pattern(self, op, x, half, rsqrt2):
        z = op.Mul(op.Neg(x), rsqrt2)
        erfc = pattern.OrValue([_erfc(op, z), op.Sub(pattern.Var("one"), op.Erf(z))],
                               tag_var="form", tag_values=("polynomial", "one_minus_erf"))
        return op.Mul(op.Mul(half, x), erfc)

    def check(self, context, x, half, rsqrt2, form, **bindings) -> pattern.MatchResult:
        result = pattern.MatchResult()
        if x.dtype not in FLOATS:
            return result.fail("not a float input", x)
        if not (close(half, 0.5) and close(rsqrt2, math.sqrt(0.5))):
            return result.fail("constants are not those of gelu")
        if form == "polynomial" and not _computes_erfc(bindings):
            return result.fail("the expansion does not compute erfc")
        if form == "one_minus_erf" and scalar(bindings.get("one")) != 1.0:
            return result.fail("not 1 - erf")
        return result

    def rewrite(self, op, x, **_):
        return op.Gelu(x)
