"""Constant folding with numpy (jax2onnx_hlo/folding.py) against ONNX's reference evaluator,
which onnxscript's constant folding uses: the same arrays, or a failure for both."""

import numpy as np
import onnx
import onnx_ir as ir
import onnxscript.optimizer
import pytest
from onnx.reference.ops import load_op
from onnxscript.optimizer import _constant_folding

from jax2onnx_hlo.folding import NUMPY_FOLDERS, fold_constants

_OPSET = 23


def _i64(*values):
    return np.array(values, dtype=np.int64)


def _data(shape, dtype):
    return (np.arange(int(np.prod(shape))) % 3).reshape(shape).astype(dtype)


# (op type, inputs, attributes): each row is folded with every dtype below.
_CASES = [
    ("Reshape", [(2, 3, 4), _i64(4, 6)], {}),
    ("Reshape", [(2, 3, 4), _i64(-1)], {}),
    ("Reshape", [(2, 3, 4), _i64(0, -1)], {}),  # 0 copies the input's dim
    ("Reshape", [(2, 3, 4), _i64(0, 3, 4)], {"allowzero": 0}),
    ("Reshape", [(0, 3), _i64(0, 3)], {"allowzero": 1}),  # 0 is a size
    ("Reshape", [(0, 3), _i64(3, 0)], {"allowzero": 1}),
    ("Reshape", [(2, 3), _i64(0, 0, 0)], {}),  # a 0 past the input's rank: no fold
    ("Reshape", [(2, 3), _i64(4, -1)], {}),  # no such shape
    ("Reshape", [(), _i64(1, 1)], {}),
    ("Unsqueeze", [(2, 3), _i64(0)], {}),
    ("Unsqueeze", [(2, 3), _i64(-1, 1)], {}),
    ("Unsqueeze", [(), _i64(0, 1)], {}),
    ("Unsqueeze", [(2, 3), _i64(5)], {}),  # out of range
    ("Squeeze", [(1, 3, 1), _i64(0)], {}),
    ("Squeeze", [(1, 3, 1), _i64(-1, 0)], {}),
    ("Squeeze", [(1, 3, 1)], {}),  # no axes: every dim of 1
    ("Squeeze", [(2, 3), _i64(0)], {}),  # not a dim of 1
    ("Expand", [(3, 1), _i64(2, 3, 4)], {}),
    ("Expand", [(3, 4), _i64(1, 4)], {}),  # a 1 in the shape keeps the input's dim
    ("Expand", [(), _i64(2, 2)], {}),
    ("Expand", [(3,), _i64(0)], {}),
    ("Expand", [(2, 3), _i64(4)], {}),  # does not broadcast
    ("Transpose", [(2, 3, 4)], {"perm": [2, 0, 1]}),
    ("Transpose", [(2, 3, 4)], {}),  # no perm: reversed
    ("Transpose", [(2, 3)], {"perm": [0]}),  # a perm of another rank
]
_DTYPES = [np.float32, np.float16, np.int64, np.bool_]


def _reference(op_type, inputs, attributes):
    """What onnxscript folds to: the reference evaluator's result, None when it fails."""
    try:
        return load_op("", op_type, _OPSET).eval(*inputs, **attributes)
    except Exception:  # noqa: BLE001 - onnxscript treats a failure as no fold
        return None


def _ours(op_type, inputs, attributes):
    try:
        return NUMPY_FOLDERS[op_type](inputs, attributes)
    except Exception:  # noqa: BLE001 - folding.py treats a failure as no fold
        return None


@pytest.mark.parametrize("dtype", _DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("op_type", "inputs", "attributes"), _CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(_CASES)])
def test_numpy_folding_as_the_reference_evaluator(op_type, inputs, attributes, dtype):
    inputs = [_data(inputs[0], dtype), *inputs[1:]]
    expected = _reference(op_type, inputs, attributes)
    folded = _ours(op_type, inputs, attributes)
    if expected is None:
        assert folded is None
        return
    assert folded.dtype == expected.dtype
    np.testing.assert_array_equal(folded, expected, strict=True)


def test_every_numpy_folder_is_tested():
    assert {case[0] for case in _CASES} == set(NUMPY_FOLDERS)


_MODEL = """
<ir_version: 10, opset_import: ["" : 23]>
agraph (float[2, 3] x) => (float[2, 3, 4] y, float[6] z, float[1, 6, 1] w, float[4, 2, 3] t)
<float[3] bias = {1, 2, 3}, int64[2] shape = {-1, 3}, float[1, 3] b_t>
{
    two_d = Reshape (bias, shape)
    to = Constant <value = int64[3] {2, 4, 3}> ()
    b = Expand (two_d, to)
    b_t = Reshape (bias, shape)
    row = Transpose <perm = [1, 0]> (b_t)
    pair = Concat <axis = 0> (row, row)
    last = Constant <value = int64[1] {-1}> ()
    y = Unsqueeze (x, last)
    flat = Constant <value = int64[1] {6}> ()
    z = Reshape (x, flat)
    two = Constant <value = int64[2] {2, 3}> ()
    ones = Expand (bias, two)
    sum = Add (x, ones)
    axes = Constant <value = int64[2] {0, 2}> ()
    w = Unsqueeze (z, axes)
    big = Constant <value = int64[3] {4, 2, 3}> ()
    t = Expand (bias, big)
}
"""


def _model():
    return ir.serde.deserialize_model(onnx.parser.parse_model(_MODEL))


def _text(model) -> str:
    return onnx.printer.to_text(ir.serde.serialize_model(model))


@pytest.mark.parametrize("shape_inference", [True, False])
def test_folding_as_onnxscript(shape_inference, monkeypatch):
    theirs, ours = _model(), _model()
    onnxscript.optimizer.fold_constants(theirs, onnx_shape_inference=shape_inference)
    evaluated = []
    evaluate = _constant_folding._reference_evaluator.evaluate
    monkeypatch.setattr(_constant_folding._reference_evaluator, "evaluate",
                        lambda domain, op, *args, **kwargs: evaluated.append(op)
                        or evaluate(domain, op, *args, **kwargs))
    assert fold_constants(ours, shape_inference=shape_inference).modified
    # the others with numpy; but where inference would type a node before onnxscript's
    # partial evaluator of its op sees it, onnxscript's process_node does it all
    untyped_with_evaluator = ["Reshape", "Expand", "Expand"]
    assert sorted(evaluated) == sorted(["Concat"] + (untyped_with_evaluator
                                                     if shape_inference else []))
    assert _text(ours) == _text(theirs)
    folded_from = onnxscript.optimizer.FOLDED_FROM_KEY
    assert [v.metadata_props.get(folded_from) for v in ours.graph.initializers.values()] == \
        [v.metadata_props.get(folded_from) for v in theirs.graph.initializers.values()]


_DEAD_CHAIN = """
<ir_version: 10, opset_import: ["" : 23]>
agraph (float[N, 3] x) => (float[N, 3] y)
    <int64[1] same = {2}, int64[2] dims, int64[2] two, int64[2] again> {
    dims = Shape <start = 0, end = 2> (x)
    two = Cast <to = 7> (dims)
    again = Reshape (two, same)
    y = Relu (x)
}
"""


@pytest.mark.parametrize("shape_inference", [True, False])
def test_partial_evaluation_leaves_no_uses_behind(shape_inference):
    """A Reshape to its input's shape becomes an Identity once: then the dead chain
    before it goes as a whole, as after onnxscript's folding."""
    theirs, ours = (ir.serde.deserialize_model(onnx.parser.parse_model(_DEAD_CHAIN))
                    for _ in range(2))
    onnxscript.optimizer.fold_constants(theirs, onnx_shape_inference=shape_inference)
    fold_constants(ours, shape_inference=shape_inference)
    assert "Identity" in [node.op_type for node in ours.graph]
    for model in (theirs, ours):
        ir.passes.common.RemoveUnusedNodesPass()(model)
    assert _text(ours) == _text(theirs)
    assert [node.op_type for node in ours.graph] == ["Relu"]
