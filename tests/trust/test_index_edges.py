"""Indices and lengths MXNet 1.9.1 reads out of range (index_checks.py): an eager call with
values MXNet leaves undefined raises naming the op and the values; values it defines (take's
clip / wrap, pick's modes, one_hot's empty rows, truncation toward zero) are followed; a
traced (jit) call raises where eager raises, whatever a later call's values, and agrees with
the eager result on the values MXNet defines (tests/trust/test_compiled_index_errors.py
covers hybridize and step capture)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError

T, N = 5, 4
HOSTILE = [np.nan, np.inf, -np.inf, 1e30, -1e30, -1.0, 7.0, 0.0]


def _seq(rng):
    return rng.standard_normal((T, N, 3))


def _mask_ref(x, lengths, value):
    out = x.copy()
    for b, n in enumerate(np.trunc(lengths).astype(int)):
        out[max(n, 0):, b] = value
    return out


def _last_ref(x, lengths):
    return np.stack([x[int(np.trunc(n)) - 1, b] for b, n in enumerate(lengths)])


def _reverse_ref(x, lengths):
    out = x.copy()
    for b, n in enumerate(np.trunc(lengths).astype(int)):
        out[:n, b] = x[:n, b][::-1]
    return out


def _jit(op, **kw):
    return mx.jit(lambda d, n: op(d, n, use_sequence_length=True, **kw))


@pytest.mark.parametrize("lengths", [[2.7, 0.2, 5.0, 1.99], [3, 1, 4, 5]])
def test_sequence_ops_truncate_lengths_as_mxnet_eager_and_jit(rng, lengths):
    x, lengths = _seq(rng), np.array(lengths, np.float64)
    cases = [(nd.SequenceMask, dict(value=-2.0), _mask_ref(x, lengths, -2.0)),
             (nd.SequenceReverse, {}, _reverse_ref(x, lengths))]
    if (np.trunc(lengths) >= 1).all():
        cases.append((nd.SequenceLast, {}, _last_ref(x, lengths)))
    for op, kw, want in cases:
        eager = op(nd.array(x, dtype="float64"), nd.array(lengths, dtype="float64"),
                   use_sequence_length=True, **kw)
        np.testing.assert_array_equal(eager.asnumpy(), want)
        f = _jit(op, **kw)
        f(nd.array(x, dtype="float64"), nd.array([1.0] * N, dtype="float64"))
        got = f(nd.array(x, dtype="float64"), nd.array(lengths, dtype="float64"))
        np.testing.assert_array_equal(got.asnumpy(), want)


@pytest.mark.parametrize("op,bad,needle", [
    (nd.SequenceMask, [2, -1, 3, 3], ">= 0"),
    (nd.SequenceMask, [2, np.nan, 3, 3], "nan"),
    (nd.SequenceMask, [2, np.inf, 3, 3], "inf"),
    (nd.SequenceLast, [0, 1, 2, 3], r"\[1, 5\]"),
    (nd.SequenceLast, [6, 1, 2, 3], r"\[1, 5\]"),
    (nd.SequenceLast, [0.5, 1, 2, 3], r"\[1, 5\]"),     # truncates to 0
    (nd.SequenceReverse, [6, 1, 2, 3], r"\[0, 5\]"),
    (nd.SequenceReverse, [-2, 1, 2, 3], r"\[0, 5\]"),
])
def test_sequence_lengths_mxnet_reads_out_of_bounds_raise_eagerly(rng, op, bad, needle):
    x = nd.array(_seq(rng))
    with pytest.raises(MXNetError, match=rf"{op.__name__}: sequence_length must be .*{needle}"):
        op(x, nd.array(bad), use_sequence_length=True)


@pytest.mark.parametrize("op,lo,hi", [(nd.SequenceMask, 0, T), (nd.SequenceLast, 1, T),
                                      (nd.SequenceReverse, 0, T)])
def test_sequence_lengths_out_of_range_raise_in_compiled_code(rng, op, lo, hi):
    """Compiled, a length eager refuses (NaN, infinities, huge, negative, past the range)
    raises too, naming the op and the range; one it accepts gives the eager result."""
    x = _seq(rng)
    f = _jit(op)
    f(nd.array(x), nd.array([1.0] * N))
    for start in range(0, len(HOSTILE), N):
        lengths = np.array((HOSTILE * 2)[start:start + N], np.float32)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(lengths).all() and lo <= np.trunc(lengths).min() and (
                op is nd.SequenceMask or np.trunc(lengths).max() <= hi)
        if ok:
            want = op(nd.array(x), nd.array(lengths), use_sequence_length=True).asnumpy()
            np.testing.assert_array_equal(f(nd.array(x), nd.array(lengths)).asnumpy(), want)
            continue
        with pytest.raises(MXNetError):
            op(nd.array(x), nd.array(lengths), use_sequence_length=True)
        with pytest.raises(MXNetError, match=rf"{op.__name__}: sequence_length must be "
                                             rf".*compiled code"):
            f(nd.array(x), nd.array(lengths))


def test_sequence_mask_gradient_with_fractional_lengths(rng):
    x, lengths = _seq(rng), np.array([2.5, 0.9, 5.0, 3.2])
    for f in (lambda d, n: nd.SequenceMask(d, n, use_sequence_length=True, value=3.0),
              _jit(nd.SequenceMask, value=3.0)):
        xs = nd.array(x, dtype="float64")
        xs.attach_grad()
        with autograd.record():
            y = f(xs, nd.array(lengths, dtype="float64"))
        y.backward(nd.ones(y.shape, dtype="float64"))
        keep = np.arange(T)[:, None] < np.trunc(lengths)[None, :]
        np.testing.assert_array_equal(xs.grad.asnumpy(), np.broadcast_to(
            keep[:, :, None], x.shape).astype(np.float64))


# ------------------------------------------------------------------ take / pick / one_hot
def _idx_ref(idx, n, mode):
    f = np.nan_to_num(np.asarray(idx, np.float64), nan=0.0)   # saturate, as compiled code
    i = np.trunc(np.clip(f, -2.0 ** 62, 2.0 ** 62)).astype(np.int64)
    i[f >= 2.0 ** 63] = np.iinfo(np.int64).max
    i[f <= -2.0 ** 63] = np.iinfo(np.int64).min
    return np.clip(i, 0, n - 1) if mode == "clip" else np.mod(i, n)


IDX = [0, 3, -1, 2.7, -0.5, 9, -7, 1e30, -1e30, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("axis", [0, 1])
def test_take_modes_eager_jit_and_gradient(rng, mode, axis):
    a = rng.standard_normal((4, 3))
    n = a.shape[axis]
    idx = np.array(IDX, np.float32)
    want = np.take(a, _idx_ref(idx, n, mode), axis=axis)
    f = mx.jit(lambda x, i: nd.take(x, i, axis=axis, mode=mode))
    f(nd.array(a, dtype="float64"), nd.array(np.zeros(idx.shape, np.float32)))
    for fn in (lambda x, i: nd.take(x, i, axis=axis, mode=mode), f):
        xs = nd.array(a, dtype="float64")
        xs.attach_grad()
        with autograd.record():
            out = fn(xs, nd.array(idx))
        g = rng.standard_normal(want.shape)
        out.backward(nd.array(g, dtype="float64"))
        np.testing.assert_array_equal(out.asnumpy(), want)
        grad = np.zeros_like(a)
        np.add.at(np.moveaxis(grad, axis, 0), _idx_ref(idx, n, mode),
                  np.moveaxis(g, axis, 0))
        np.testing.assert_allclose(xs.grad.asnumpy(), grad, rtol=1e-12, atol=1e-12)


def test_take_raise_mode():
    a = nd.array(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(nd.take(a, nd.array([2, 0]), mode="raise").asnumpy(),
                                  [[8, 9, 10, 11], [0, 1, 2, 3]])
    for bad in ([3, 0], [-1, 0], [np.nan, 0]):
        with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 2\]"):
            nd.take(a, nd.array(bad), mode="raise")
    f = mx.jit(lambda x, i: nd.take(x, i, mode="raise"))   # traced: raises as eager does
    f(a, nd.array([0, 0]))
    with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 2\]"):
        f(a, nd.array([4, -1]))
    np.testing.assert_array_equal(f(a, nd.array([1, 2])).asnumpy(), a.asnumpy()[[1, 2]])
    with pytest.raises(MXNetError, match="mode 'fast'"):
        nd.take(a, nd.array([0]), mode="fast")


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_pick_modes_eager_and_jit(rng, mode):
    a = rng.standard_normal((len(IDX), 4))
    idx = np.array(IDX, np.float32)
    want = a[np.arange(len(IDX)), _idx_ref(idx, 4, mode)]
    eager = nd.pick(nd.array(a, dtype="float64"), nd.array(idx), axis=1, mode=mode)
    np.testing.assert_array_equal(eager.asnumpy(), want)
    f = mx.jit(lambda x, i: nd.pick(x, i, axis=1, mode=mode))
    f(nd.array(a, dtype="float64"), nd.array(np.zeros_like(idx)))
    np.testing.assert_array_equal(f(nd.array(a, dtype="float64"), nd.array(idx)).asnumpy(), want)


def test_one_hot_out_of_range_rows_are_off_eager_and_jit():
    idx = np.array([0, 3, -1, 2.5, 4, 1e30, -np.inf, -0.5], np.float32)
    want = np.zeros((len(idx), 4), np.float32)
    for r, v in enumerate(np.trunc(idx)):
        if 0 <= v < 4:
            want[r, int(v)] = 1
    np.testing.assert_array_equal(nd.one_hot(nd.array(idx), 4).asnumpy(), want)
    f = mx.jit(lambda i: nd.one_hot(i, 4))
    np.testing.assert_array_equal(f(nd.array(idx)).asnumpy(), want)


def test_float_to_int_cast_agrees_eager_and_compiled():
    x = nd.array(np.array(HOSTILE + [2.9, -2.9], np.float32))
    for dtype in ("int32", "int64"):
        eager = nd.cast(x, dtype).asnumpy()
        info = np.iinfo(dtype)
        np.testing.assert_array_equal(eager, [0, info.max, info.min, info.max, info.min, -1, 7,
                                              0, 2, -2])
        np.testing.assert_array_equal(mx.jit(lambda v: nd.cast(v, dtype))(x).asnumpy(), eager)


# ------------------------------------------------------------------ gather_nd / scatter_nd
def test_gather_nd_negative_wraps_out_of_range_raises_eager_and_jit(rng):
    a = rng.standard_normal((3, 4, 2))
    idx = np.array([[0, -3, 2, -1], [3, -4, 0, 1]])
    want = a[np.where(idx[0] < 0, idx[0] + 3, idx[0]), np.where(idx[1] < 0, idx[1] + 4, idx[1])]
    got = nd.gather_nd(nd.array(a, dtype="float64"), nd.array(idx, dtype="int64"))
    np.testing.assert_array_equal(got.asnumpy(), want)
    for bad, needle in [([[3], [0]], r"indices\[0\] must be in \[-3, 2\]"),
                        ([[0], [-5]], r"indices\[1\] must be in \[-4, 3\]"),
                        ([[2.5], [0]], r"indices\[0\] must be in \[-3, 2\]")]:
        with pytest.raises(MXNetError, match=f"gather_nd: {needle}"):
            nd.gather_nd(nd.array(a), nd.array(bad, dtype="float32"))
    f = mx.jit(lambda x, i: nd.gather_nd(x, i))
    f(nd.array(a), nd.array(np.zeros((2, 3)), dtype="float32"))
    hostile = np.array([[1e30, -1e30, np.nan], [np.inf, -np.inf, 9]], np.float32)
    with pytest.raises(MXNetError, match=r"gather_nd: indices\[0\] must be in \[-3, 2\]"):
        f(nd.array(a), nd.array(hostile))
    with pytest.raises(MXNetError, match=r"gather_nd: indices\[1\] must be in \[-4, 3\]"):
        f(nd.array(a), nd.array([[0, 1, 2], [0, 9, 0]], dtype="float32"))
    got = f(nd.array(a), nd.array([[2, -3, 1], [3, -4, 0]], dtype="float32")).asnumpy()
    np.testing.assert_array_equal(got, a[[2, 0, 1], [3, 0, 0]].astype(np.float32))


def test_scatter_nd_out_of_range_raises():
    data = nd.array([1.0, 2.0])
    ok = nd.scatter_nd(data, nd.array([[0, 2], [1, 3]], dtype="int64"), (3, 4)).asnumpy()
    want = np.zeros((3, 4))
    want[0, 1], want[2, 3] = 1, 2
    np.testing.assert_array_equal(ok, want)
    for bad in ([[0, 3], [1, 3]], [[0, -1], [1, 3]], [[0, 2], [1, 4]]):
        with pytest.raises(MXNetError, match=r"scatter_nd: indices\[\d\] must be in"):
            nd.scatter_nd(data, nd.array(bad, dtype="int64"), (3, 4))


def test_pick_reads_only_the_picked_element():
    """pick is a gather, as MXNet's kernel: an inf or NaN elsewhere in the row (a masked
    class's -inf log-probability) does not reach the picked value or its gradient (a one-hot
    masked sum made it NaN); the softmax cross-entropy of a row with a -inf logit is finite."""
    from tracegrad import gluon
    x64 = np.array([[0.0, -np.inf, 1.0, np.nan], [2.0, 3.0, np.inf, 4.0]])
    idx = np.array([2.0, 1.0])

    def pick(x, i):
        return nd.pick(x, i, axis=-1)
    for fn in (pick, mx.jit(pick)):
        x = nd.array(x64, dtype="float64")
        x.attach_grad()
        with autograd.record():
            out = fn(x, nd.array(idx))
        out.backward(nd.array([2.0, 5.0], dtype="float64"))
        np.testing.assert_array_equal(out.asnumpy(), [1.0, 3.0])
        np.testing.assert_array_equal(x.grad.asnumpy(), [[0, 0, 2, 0], [0, 5, 0, 0]])
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for hybridize in (False, True):
        if hybridize:
            loss_fn.hybridize()
        logits = nd.array([[0.0, -np.inf, 1.0], [1.0, 2.0, -np.inf]])
        logits.attach_grad()
        with autograd.record():
            loss = loss_fn(logits, nd.array([0, 1]))
        loss.backward()
        np.testing.assert_allclose(loss.asnumpy(), [np.log1p(np.e), np.log1p(np.exp(-1.0))],
                                   rtol=1e-6)
        p0, p1 = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum(), np.exp([1.0, 2.0]) / np.exp(
            [1.0, 2.0]).sum()
        np.testing.assert_allclose(logits.grad.asnumpy(), [[p0[0] - 1, 0, p0[1]],
                                                           [p1[0], p1[1] - 1, 0]], rtol=1e-5,
                                   atol=1e-7)
