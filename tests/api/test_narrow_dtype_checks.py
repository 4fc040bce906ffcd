"""Eager ops whose numpy result is float16 / uint8 / int8 / bool are checked against the op's
type rule; the answer is remembered per op, operand dtypes and shapes, scalars and attributes
(array._NARROW_SEEN). Remembered or not, every call gives the same result or the same error."""
import numpy as np
import pytest

from tracegrad import array, gluon, nd

B = lambda: nd.array([True, False], dtype="bool")            # noqa: E731
U = lambda: nd.array([1, 2], dtype="uint8")                   # noqa: E731
I8 = lambda: nd.array([1, -2], dtype="int8")                  # noqa: E731
H = lambda: nd.array([1.5, 2], dtype="float16")               # noqa: E731
IMG = lambda: nd.array(np.arange(24).reshape(2, 4, 3), dtype="uint8")   # noqa: E731

CASES = {
    "bool + uint8": lambda: B() + U(),
    "uint8 + int8 (int16: refused)": lambda: U() + I8(),
    "float16 + uint8": lambda: H() + U(),
    "bool * float16": lambda: B() * H(),
    "uint8 * 2": lambda: U() * 2,
    "uint8 + 300 (out of range)": lambda: U() + 300,
    "int8 - 1": lambda: I8() - 1,
    "float16 ** 2": lambda: H() ** 2,
    "where(bool, uint8, int8) (refused)": lambda: nd.where(B(), U(), I8()),
    "flip of a uint8 image": lambda: nd.flip(IMG(), axis=1),
    "uint8 image + a row": lambda: IMG() + nd.array([1, 2, 3], dtype="uint8"),
    "uint8 image + a bad row (refused)": lambda: IMG() + nd.array([1, 2], dtype="uint8"),
    "uint8 == int8 (int16: refused)": lambda: U() == I8(),
    "uint8 < uint8": lambda: U() < U(),
    "float16 > 1": lambda: H() > 1,
}


def _outcome(make):
    try:
        r = make()
        return ("ok", np.dtype(r.dtype).name, r.asnumpy().tolist())
    except Exception as e:  # noqa: BLE001 - the error is the outcome compared
        return (type(e).__name__, str(e).split("\n")[0])


class _Forgetful(dict):
    def __setitem__(self, key, value):
        pass


@pytest.mark.parametrize("name", sorted(CASES))
def test_remembered_type_rule_answers_change_nothing(name, monkeypatch):
    make = CASES[name]
    first, again, third = _outcome(make), _outcome(make), _outcome(make)
    with monkeypatch.context() as m:
        m.setattr(array, "_NARROW_SEEN", _Forgetful())
        fresh = _outcome(make)
    assert first == again == third == fresh


class Compare(gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return x < y


@pytest.mark.parametrize("pair", [("uint8", "int8"), ("int8", "uint8"), ("uint8", "uint8"),
                                  ("float16", "float16"), ("uint8", "int32")])
def test_a_comparison_of_narrow_operands_is_the_same_eager_and_hybridized(pair):
    """numpy's bool result of a uint8 / int8 comparison skipped the type rule, so eager code
    computed what the compiled block refused (int16 promotion)."""
    x, y = (nd.array([1, 2, 3], dtype=d) for d in pair)
    outcomes = []
    for hybridize in (False, True):
        block = Compare()
        if hybridize:
            block.hybridize()
        outcomes.append(_outcome(lambda: block(x, y)))
    assert outcomes[0][0] == outcomes[1][0]
    if outcomes[0][0] == "ok":
        assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] == "ok") == (pair[0] == pair[1] or "int32" in pair)
