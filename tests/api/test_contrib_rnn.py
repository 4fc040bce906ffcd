"""gluon.contrib.rnn (LSTMPCell, VariationalDropoutCell) and gluon.contrib.nn's SyncBatchNorm
and SparseEmbedding, against numpy references, hybridized against eager, gradients against
central differences."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from numeric import central_differences


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstmp_reference(x, r, c, w):
    gates = x @ w["i2h_weight"].T + w["i2h_bias"] + r @ w["h2h_weight"].T + w["h2h_bias"]
    i, f, g, o = np.split(gates, 4, axis=1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    r = h @ w["h2r_weight"].T
    return r, c


def test_lstmp_cell_matches_the_reference_unrolled_and_hybridized():
    mx.random.seed(0)
    cell = gluon.contrib.rnn.LSTMPCell(6, 3, input_size=4)
    cell.initialize(mx.init.Uniform(0.5))
    cell.cast("float64")
    w = {k.split("_", 1)[1]: p.data().asnumpy() for k, p in cell.collect_params().items()}
    x64 = np.random.RandomState(1).randn(2, 5, 4)
    outs, (r, c) = cell.unroll(5, nd.array(x64, dtype="float64"), layout="NTC")
    rr, cc = np.zeros((2, 3)), np.zeros((2, 6))
    want = []
    for t in range(5):
        rr, cc = _lstmp_reference(x64[:, t], rr, cc, w)
        want.append(rr)
    np.testing.assert_allclose(outs.asnumpy(), np.stack(want, axis=1), rtol=1e-12)
    np.testing.assert_allclose(c.asnumpy(), cc, rtol=1e-12)
    assert [s["shape"] for s in cell.state_info(2)] == [(2, 3), (2, 6)]
    cell.hybridize()
    outs_h, _ = cell.unroll(5, nd.array(x64, dtype="float64"), layout="NTC")
    np.testing.assert_allclose(outs_h.asnumpy(), outs.asnumpy(), rtol=1e-12)


def test_lstmp_gradient_matches_central_differences():
    mx.random.seed(2)
    cell = gluon.contrib.rnn.LSTMPCell(4, 2, input_size=3)
    cell.initialize(mx.init.Uniform(0.5))
    cell.cast("float64")
    x64 = np.random.RandomState(3).randn(2, 3, 3)
    w = cell.h2r_weight
    with autograd.record():
        outs, _ = cell.unroll(3, nd.array(x64, dtype="float64"), layout="NTC")
        loss = nd.sum(outs * outs)
    loss.backward()
    params = {k.split("_", 1)[1]: p.data().asnumpy().copy()
              for k, p in cell.collect_params().items()}

    def f():
        r, c, total = np.zeros((2, 2)), np.zeros((2, 4)), 0.0
        for t in range(3):
            r, c = _lstmp_reference(x64[:, t], r, c, params)
            total += np.sum(r * r)
        return total
    (want,) = central_differences(f, [params["h2r_weight"]])
    np.testing.assert_allclose(w.grad().asnumpy(), want, rtol=1e-6, atol=1e-9)


def _zero_pattern(a):
    return a.asnumpy() == 0


def test_variational_dropout_keeps_one_mask_across_the_steps():
    mx.random.seed(4)
    base = gluon.rnn.RNNCell(16, activation="tanh", input_size=5)
    cell = gluon.contrib.rnn.VariationalDropoutCell(base, drop_outputs=0.5, drop_states=0.3)
    cell.initialize(mx.init.Uniform(0.3))
    x = nd.ones((3, 4, 5))
    with autograd.record():               # training: the masks apply
        outs, _ = cell.unroll(4, x, layout="NTC", merge_outputs=False)
    patterns = [_zero_pattern(o) for o in outs]
    assert patterns[0].any() and not patterns[0].all()
    assert all((p == patterns[0]).all() for p in patterns[1:])
    with autograd.record():
        again, _ = cell.unroll(4, x, layout="NTC", merge_outputs=False)
    assert not (_zero_pattern(again[0]) == patterns[0]).all()   # a new mask per sequence
    with autograd.predict_mode():      # no masks: the base cell's own steps
        inference, _ = cell.unroll(4, x, layout="NTC", merge_outputs=False)
    states = [nd.zeros((3, 16))]
    for t in range(4):
        want, states = base(x[:, t], states)
        np.testing.assert_allclose(inference[t].asnumpy(), want.asnumpy(), rtol=1e-6)


def test_variational_dropout_without_state_dropout_masks_the_whole_sequence():
    mx.random.seed(5)
    base = gluon.rnn.LSTMCell(8, input_size=6)
    cell = gluon.contrib.rnn.VariationalDropoutCell(base, drop_inputs=0.5, drop_outputs=0.5)
    cell.initialize()
    with autograd.record():
        outs, _ = cell.unroll(5, nd.ones((5, 2, 6)), layout="TNC")
    pattern = _zero_pattern(outs)
    assert outs.shape == (5, 2, 8) and pattern.any()
    assert (pattern == pattern[0:1]).all()      # the same units dropped at every step
    eager = outs.asnumpy()
    mx.random.seed(5)
    base2 = gluon.rnn.LSTMCell(8, input_size=6)
    cell2 = gluon.contrib.rnn.VariationalDropoutCell(base2, drop_inputs=0.5, drop_outputs=0.5)
    cell2.initialize()
    cell2.hybridize()
    with autograd.record():
        outs2, _ = cell2.unroll(5, nd.ones((5, 2, 6)), layout="TNC")
    np.testing.assert_allclose(outs2.asnumpy(), eager, rtol=1e-6)


def test_sync_batch_norm_and_sparse_embedding_are_their_dense_forms():
    x = nd.array(np.random.RandomState(6).randn(4, 3, 2, 2))
    sync = gluon.contrib.nn.SyncBatchNorm(in_channels=3, num_devices=1)
    plain = gluon.nn.BatchNorm(in_channels=3)
    for net in (sync, plain):
        net.initialize()
    with autograd.record():
        a, b = sync(x), plain(x)
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(sync.running_mean.data().asnumpy(),
                               plain.running_mean.data().asnumpy(), rtol=1e-6)
    emb = gluon.contrib.nn.SparseEmbedding(10, 3)
    emb.initialize()
    idx = nd.array([1, 4, 4])
    with autograd.record():
        y = emb(idx)
    y.backward()
    g = emb.weight.grad().asnumpy()
    np.testing.assert_array_equal(g[4], 2.0) and np.testing.assert_array_equal(g[0], 0.0)


def test_bad_states_are_named():
    cell = gluon.contrib.rnn.LSTMPCell(6, 3, input_size=4)
    cell.initialize()
    with pytest.raises(mx.MXNetError, match=r"LSTMPCell: a step takes inputs"):
        cell(nd.ones((2, 4)), [nd.zeros((2, 6)), nd.zeros((2, 6))])
