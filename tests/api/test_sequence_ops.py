"""nd.SequenceMask / SequenceLast / SequenceReverse against numpy loops written out here,
gradients to second order, hybridized (lengths as traced inputs) agreeing with eager."""
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError
from tracegrad.tracing.trace import trace
from arrays import keep_dtype as array

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402  (tests/grad/check.py, the gradient oracle)


LENGTHS = [3, 1, 4]


def ref_mask(x, lengths, value, axis):
    out = x.copy()
    for n, n_len in enumerate(lengths):
        if axis == 0:
            out[n_len:, n] = value
        else:
            out[n, n_len:] = value
    return out


def ref_last(x, lengths, axis):
    if axis == 0:
        return np.stack([x[n_len - 1, n] for n, n_len in enumerate(lengths)])
    return np.stack([x[n, n_len - 1] for n, n_len in enumerate(lengths)])


def ref_reverse(x, lengths):
    out = x.copy()
    for n, n_len in enumerate(lengths):
        out[:n_len, n] = x[:n_len, n][::-1]
    return out


@pytest.mark.parametrize("axis", [0, 1])
def test_mask_and_last_match_numpy(axis):
    x = np.random.default_rng(0).standard_normal((4, 3, 2) if axis == 0 else (3, 4, 2))
    length = array(LENGTHS)
    got = nd.SequenceMask(array(x), length, use_sequence_length=True, value=-7.5, axis=axis)
    np.testing.assert_array_equal(got.asnumpy(), ref_mask(x, LENGTHS, -7.5, axis))
    got = nd.SequenceLast(array(x), length, use_sequence_length=True, axis=axis)
    np.testing.assert_array_equal(got.asnumpy(), ref_last(x, LENGTHS, axis))
    full = [x.shape[axis]] * 3
    np.testing.assert_array_equal(nd.SequenceLast(array(x), axis=axis).asnumpy(),
                                  ref_last(x, full, axis))
    np.testing.assert_array_equal(nd.SequenceMask(array(x), axis=axis).asnumpy(), x)


def test_reverse_matches_numpy_and_integer_lengths():
    x = np.random.default_rng(1).standard_normal((4, 3, 2, 2))
    got = nd.SequenceReverse(array(x), array(LENGTHS, dtype="int32"),
                             use_sequence_length=True)
    np.testing.assert_array_equal(got.asnumpy(), ref_reverse(x, LENGTHS))
    np.testing.assert_array_equal(nd.SequenceReverse(array(x)).asnumpy(), x[::-1])


def test_bad_arguments_raise():
    x = nd.ones((4, 3, 2))
    with pytest.raises(MXNetError, match=r"sequence_length must have shape \(3,\)"):
        nd.SequenceMask(x, array([1, 2]), use_sequence_length=True)
    with pytest.raises(MXNetError, match="axis"):
        nd.SequenceReverse(x, axis=1)
    with pytest.raises(MXNetError, match="needs sequence_length"):
        nd.SequenceLast(x, use_sequence_length=True)


@pytest.mark.parametrize("which", ["mask", "last", "reverse"])
def test_gradients_second_order(which):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2))
    length = np.int32(LENGTHS)  # integer lengths: the time ramp is integer too, never perturbed

    def f(data, lens):
        if which == "mask":
            y = nd.SequenceMask(data, lens, use_sequence_length=True, value=1.5)
        elif which == "last":
            y = nd.SequenceLast(data, lens, use_sequence_length=True)
        else:
            y = nd.SequenceReverse(data, lens, use_sequence_length=True)
        return y * y * data.sum()  # nonlinear, so the second order is not trivially zero
    tr = trace(f, [array(x), array(length, dtype="int32")])
    check_grads(tr.function, [x, length] + [v.data for v in tr.captured], order=2)


def test_hybridized_with_lengths_as_inputs():
    x = np.random.default_rng(3).standard_normal((4, 3, 2)).astype(np.float32)

    def f(data, lens):
        return (nd.SequenceReverse(data, lens, use_sequence_length=True)
                + nd.SequenceMask(data, lens, use_sequence_length=True)), \
            nd.SequenceLast(data, lens, use_sequence_length=True)
    g = mx.jit(f)
    for lengths in (LENGTHS, [4, 4, 2]):
        eager = f(array(x), array(lengths))
        compiled = g(array(x), array(lengths))
        for a, b in zip(compiled, eager):
            np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)
        np.testing.assert_allclose(compiled[1].asnumpy(), ref_last(x, lengths, 0), rtol=1e-6)
