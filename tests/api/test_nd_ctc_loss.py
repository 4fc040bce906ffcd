"""nd.CTCLoss / ctc_loss / contrib.ctc_loss and their mx.sym forms: MXNet 1.9.1's CTC
operator (src/operator/nn/ctc_loss-inl.h) against a float64 brute force over every alignment."""
import itertools

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def _brute_nll(acts, label, blank):
    """-log of the summed probability of every length-T path that collapses to `label`."""
    logp = acts - np.log(np.exp(acts).sum(-1, keepdims=True))
    T, C = acts.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        out = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if out == list(label):
            total += np.exp(sum(logp[t, c] for t, c in enumerate(path)))
    return -np.log(total)


def test_blank_first_and_last_padding_and_lengths_against_all_alignments():
    rs = np.random.RandomState(0)
    acts = rs.randn(4, 3, 3)                                  # (T, N, C)
    # 'first': blank 0, a label ends at its first 0
    got = nd.CTCLoss(nd.array(acts, dtype="float64"), nd.array([[1, 2], [2, 0], [1, 1]]))
    want = [_brute_nll(acts[:, 0], [1, 2], 0), _brute_nll(acts[:, 1], [2], 0),
            _brute_nll(acts[:, 2], [1, 1], 0)]
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10)
    # 'last': blank C-1, padded with -1; the contrib and lower-case aliases are the op
    got = nd.contrib.ctc_loss(nd.array(acts, dtype="float64"), nd.array([[0, 1], [1, -1],
                                                                         [0, 0]]),
                              blank_label="last")
    want = [_brute_nll(acts[:, 0], [0, 1], 2), _brute_nll(acts[:, 1], [1], 2),
            _brute_nll(acts[:, 2], [0, 0], 2)]
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10)
    # lengths are read only when their use_ flag is set
    got = nd.ctc_loss(nd.array(acts, dtype="float64"), nd.array([[1, 2], [2, 1], [1, 2]]),
                      nd.array([4, 3, 2]), nd.array([2, 1, 1]), use_data_lengths=True,
                      use_label_lengths=True)
    want = [_brute_nll(acts[:4, 0], [1, 2], 0), _brute_nll(acts[:3, 1], [2], 0),
            _brute_nll(acts[:2, 2], [1], 0)]
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10)
    # lengths given without their use_ flag: MXNet's op then takes fewer inputs and refuses
    with pytest.raises(mx.MXNetError, match="data_lengths must be given exactly when"):
        nd.ctc_loss(nd.array(acts), nd.array([[1, 2], [2, 0], [1, 1]]),
                    nd.array([1, 1, 1]), nd.array([1, 1, 1]))


def test_gradient_is_softmax_minus_the_alignment_posterior():
    rs = np.random.RandomState(1)
    acts = rs.randn(3, 1, 3)
    x = nd.array(acts, dtype="float64")
    x.attach_grad()
    with autograd.record():
        loss = nd.CTCLoss(x, nd.array([[1, 2]]))
    loss.backward(nd.array([2.0], dtype="float64"))           # scaled by the head gradient
    eps, num = 1e-6, np.zeros_like(acts)
    for idx in np.ndindex(acts.shape):
        a, b = acts.copy(), acts.copy()
        a[idx] += eps
        b[idx] -= eps
        num[idx] = (_brute_nll(a[:, 0], [1, 2], 0) - _brute_nll(b[:, 0], [1, 2], 0)) / (2 * eps)
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * num, rtol=1e-5, atol=1e-8)


def test_symbol_form_infers_shapes_and_trains_under_make_loss():
    data, label = mx.sym.Variable("data"), mx.sym.Variable("label")
    loss = mx.sym.contrib.ctc_loss(data, label)
    assert loss.list_arguments() == ["data", "label"]
    assert loss.infer_shape(data=(5, 2, 4), label=(2, 3))[1] == [(2,)]
    exe = mx.sym.MakeLoss(loss).simple_bind(mx.cpu(), data=(5, 2, 4), label=(2, 3))
    acts = np.random.RandomState(2).randn(5, 2, 4)
    exe.forward(is_train=True, data=nd.array(acts), label=nd.array([[1, 2, 3], [3, 0, 0]]))
    exe.backward()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [_brute_nll(acts[:, 0], [1, 2, 3], 0),
                                                          _brute_nll(acts[:, 1], [3], 0)],
                               rtol=1e-5)
    # each time step's gradient sums to 0 over the classes (softmax minus a posterior)
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy().sum(-1), 0, atol=1e-6)


def test_bad_inputs_name_the_op():
    x = nd.ones((4, 2, 3))
    with pytest.raises(mx.MXNetError, match="CTCLoss: data must be \\(sequence_length"):
        nd.CTCLoss(nd.ones((4, 3)), nd.ones((2, 2)))
    with pytest.raises(mx.MXNetError, match=r"got data \(4, 2, 3\), label \(3, 2\)"):
        nd.CTCLoss(x, nd.ones((3, 2)))
    with pytest.raises(mx.MXNetError, match="blank_label must be 'first' or 'last'"):
        nd.CTCLoss(x, nd.ones((2, 2)), blank_label="middle")
    with pytest.raises(mx.MXNetError,
                       match="label_lengths must be given exactly when use_label_lengths=True"):
        nd.CTCLoss(x, nd.ones((2, 2)), use_label_lengths=True)
