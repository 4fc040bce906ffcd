"""MXNet's CTCLoss operator (nd.CTCLoss, its aliases ctc_loss / contrib.ctc_loss /
contrib.CTCLoss, and mx.sym's): the negative log of the summed probability of every
per-step path that collapses (merge repeats, drop blanks) to the label, checked by
enumerating all paths in float64 (src/operator/nn/ctc_loss-inl.h; example/ctc/lstm.py)."""
import itertools
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError


def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def brute_ctc(data, label, blank, pad, data_lengths=None, label_lengths=None):
    """data (T, N, C) logits; every path of length T enumerated, float64."""
    T, N, C = data.shape
    out = []
    for n in range(N):
        steps = T if data_lengths is None else int(data_lengths[n])
        lab = [int(v) for v in label[n]]
        length = (int(label_lengths[n]) if label_lengths is not None
                  else (lab.index(pad) if pad in lab else len(lab)))
        lab = lab[:length]
        z = data[:steps, n].astype(np.float64)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        total = sum(np.prod([p[t, c] for t, c in enumerate(path)])
                    for path in itertools.product(range(C), repeat=steps)
                    if _collapse(path, blank) == lab)
        out.append(-np.log(total))
    return np.array(out)


@pytest.fixture
def ctc_data():
    rs = np.random.RandomState(3)
    data = rs.randn(4, 3, 4)                      # T=4, N=3, C=4
    return rs, data


def test_blank_first_pads_with_zero_and_matches_enumeration(ctc_data):
    _, data = ctc_data
    label = np.array([[1, 2, 0], [3, 3, 0], [2, 0, 0]], np.float32)   # ends at the first 0
    got = nd.CTCLoss(nd.array(data), nd.array(label))
    assert got.shape == (3,) and got.dtype == np.float32
    np.testing.assert_allclose(got.asnumpy(), brute_ctc(data, label, 0, 0), rtol=1e-5)
    for alias in (nd.ctc_loss, nd.contrib.ctc_loss, nd.contrib.CTCLoss):
        np.testing.assert_allclose(alias(nd.array(data), nd.array(label)).asnumpy(),
                                   got.asnumpy(), rtol=1e-6)


def test_blank_last_pads_with_minus_one_and_lengths(ctc_data):
    _, data = ctc_data
    label = np.array([[0, 1, -1], [2, 2, -1], [1, 0, 2]], np.float32)
    got = nd.CTCLoss(nd.array(data, dtype=np.float64), nd.array(label), blank_label="last")
    np.testing.assert_allclose(got.asnumpy(), brute_ctc(data, label, 3, -1), rtol=1e-10)
    dl, ll = np.array([4, 3, 4]), np.array([1, 2, 3])
    got = nd.CTCLoss(nd.array(data, dtype=np.float64), nd.array(label), nd.array(dl),
                     nd.array(ll), use_data_lengths=True, use_label_lengths=True,
                     blank_label="last")
    np.testing.assert_allclose(got.asnumpy(), brute_ctc(data, label, 3, -1, dl, ll),
                               rtol=1e-10)


def test_gradient_is_the_derivative_of_the_enumerated_loss(ctc_data):
    _, data = ctc_data
    label = np.array([[1, 2, 0], [3, 3, 0], [2, 0, 0]], np.float32)
    x = nd.array(data, dtype=np.float64)
    x.attach_grad()
    head = np.array([1.0, 2.0, 0.5])
    with autograd.record():
        loss = nd.CTCLoss(x, nd.array(label))
    loss.backward(nd.array(head, dtype=np.float64))
    eps, num = 1e-6, np.zeros_like(data)
    for idx in np.ndindex(*data.shape):
        hi, lo = data.copy(), data.copy()
        hi[idx] += eps
        lo[idx] -= eps
        num[idx] = ((brute_ctc(hi, label, 0, 0) - brute_ctc(lo, label, 0, 0)) * head).sum() \
            / (2 * eps)
    np.testing.assert_allclose(x.grad.asnumpy(), num, rtol=1e-5, atol=1e-8)


def test_symbol_ctc_loss_binds_round_trips_and_infers(ctc_data):
    _, data = ctc_data
    label = np.array([[1, 2, 0], [3, 3, 0], [2, 0, 0]], np.float32)
    loss = mx.sym.contrib.ctc_loss(data=mx.sym.var("data"), label=mx.sym.var("label"))
    assert loss.list_arguments() == ["data", "label"] and len(loss.list_outputs()) == 1
    assert loss.infer_shape(data=(4, 3, 4), label=(3, 3))[1] == [(3,)]
    node = [n for n in json.loads(loss.tojson())["nodes"] if n["op"] != "null"][0]
    assert node["op"] == "CTCLoss"
    again = mx.sym.load_json(loss.tojson())
    ex = again.bind(mx.cpu(), {"data": nd.array(data), "label": nd.array(label)},
                    args_grad={"data": nd.zeros(data.shape)})
    out = ex.forward(is_train=True)[0].asnumpy()
    np.testing.assert_allclose(out, brute_ctc(data, label, 0, 0), rtol=1e-5)
    ex.backward(nd.ones(3))
    x = nd.array(data)
    x.attach_grad()
    with autograd.record():
        nd.CTCLoss(x, nd.array(label)).backward()
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), x.grad.asnumpy(), rtol=1e-5,
                               atol=1e-7)
    with_lengths = mx.sym.CTCLoss(mx.sym.var("d"), mx.sym.var("l"), mx.sym.var("dl"),
                                  use_data_lengths=True)
    assert with_lengths.list_arguments() == ["d", "l", "dl"]


def test_errors_name_the_operator(ctc_data):
    _, data = ctc_data
    with pytest.raises(MXNetError, match="CTCLoss: the max number of labels"):
        nd.CTCLoss(nd.array(data), nd.ones((3, 5)))
    with pytest.raises(MXNetError, match="CTCLoss: data_lengths must be given"):
        nd.CTCLoss(nd.array(data), nd.ones((3, 2)), use_data_lengths=True)
    with pytest.raises(MXNetError, match="CTCLoss: data must be"):
        nd.CTCLoss(nd.array(data[0]), nd.ones((3, 2)))
    with pytest.raises(MXNetError, match="blank_label"):
        nd.CTCLoss(nd.array(data), nd.ones((3, 2)), blank_label="middle")


def test_steps_past_data_lengths_reach_neither_loss_nor_gradient_even_when_nan():
    # (MXNet's test_ctc_loss_grad pads with NaN past data_lengths: its gradient there is 0)
    rs = np.random.RandomState(5)
    data = rs.randn(7, 2, 5).astype(np.float32)
    label = nd.array([[1, 2, 3], [2, 2, 0]])
    lengths = nd.array([5, 4])
    padded = data.copy()
    padded[5:, 0], padded[4:, 1] = np.nan, np.nan
    results = []
    for x in (data, padded):
        arr = nd.array(x)
        arr.attach_grad()
        with mx.autograd.record():
            loss = nd.CTCLoss(arr, label, data_lengths=lengths, use_data_lengths=True,
                              label_lengths=nd.array([3, 2]), use_label_lengths=True)
        loss.backward()
        results.append((loss.asnumpy(), arr.grad.asnumpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    assert np.isfinite(results[1][1]).all()
    assert not results[1][1][5:, 0].any() and not results[1][1][4:, 1].any()
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-6)
