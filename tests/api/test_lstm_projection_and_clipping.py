"""LSTM with a projection (LSTMP, MXNet's projection_size) and cell-state clipping
(lstm_state_clip_*), in nd.RNN, mx.sym.RNN and gluon.rnn.LSTM: against a float64 numpy loop,
against stacked contrib LSTMPCells with the same weights, by finite differences, and
hybridized against eager."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

T, N, C, H, P = 3, 2, 4, 5, 3


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _numpy_lstmp(x, h0, c0, wi, wh, wr, bi, bh, clip=None):
    r, c, outs = h0, c0, []
    for t in range(x.shape[0]):
        i, f, g, o = np.split(x[t] @ wi.T + bi + r @ wh.T + bh, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        if clip is not None:
            c = np.clip(np.where(np.isnan(c), clip[0], c) if clip[2] else c, clip[0], clip[1])
        r = (_sigmoid(o) * np.tanh(c)) @ wr.T
        outs.append(r)
    return np.stack(outs), r, c


def _weights(rs):
    return (rs.randn(4 * H, C), rs.randn(4 * H, P), rs.randn(P, H) * 0.5, rs.randn(4 * H),
            rs.randn(4 * H))


def _rnn(x, params, h0, c0, **kwargs):
    return nd.RNN(x, params, h0, c0, state_size=H, projection_size=P, mode="lstm",
                  state_outputs=True, **kwargs)


def test_nd_rnn_lstmp_matches_a_float64_loop_and_finite_differences():
    rs = np.random.RandomState(0)
    wi, wh, wr, bi, bh = _weights(rs)
    flat = np.concatenate([wi.ravel(), wh.ravel(), wr.ravel(), bi, bh])
    x, h0, c0 = rs.randn(T, N, C), rs.randn(1, N, P), rs.randn(1, N, H)
    args = [nd.array(a, dtype=np.float64) for a in (x, flat, h0, c0)]
    out, hy, cy = _rnn(*args)
    want = _numpy_lstmp(x, h0[0], c0[0], wi, wh, wr, bi, bh)
    for got, w in zip((out, hy[0], cy[0]), want):
        np.testing.assert_allclose(got.asnumpy(), w, rtol=1e-12, atol=1e-12)
    head = rs.randn(T, N, P)
    for a in args:
        a.attach_grad()
    with autograd.record():
        loss = (_rnn(*args)[0] * nd.array(head, dtype=np.float64)).sum()
    loss.backward()
    eps = 1e-6
    for k in rs.choice(flat.size, 12, replace=False):      # parameters, h2r weights among them
        hi, lo = flat.copy(), flat.copy()
        hi[k] += eps
        lo[k] -= eps
        f = [(_numpy_lstmp(x, h0[0], c0[0], *_split(v))[0] * head).sum() for v in (hi, lo)]
        assert abs(args[1].grad.asnumpy()[k] - (f[0] - f[1]) / (2 * eps)) < 1e-6


def _split(flat):
    sizes = [4 * H * C, 4 * H * P, P * H, 4 * H, 4 * H]
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    return (parts[0].reshape(4 * H, C), parts[1].reshape(4 * H, P), parts[2].reshape(P, H),
            parts[3], parts[4])


def test_cell_clipping_clips_the_cell_state_and_can_stop_nans():
    rs = np.random.RandomState(1)
    wi, wh, wr, bi, bh = (w * 3 for w in _weights(rs))
    flat = np.concatenate([wi.ravel(), wh.ravel(), wr.ravel(), bi, bh])
    x, h0, c0 = rs.randn(T, N, C), rs.randn(1, N, P), rs.randn(1, N, H) * 4
    args = [nd.array(a, dtype=np.float64) for a in (x, flat, h0, c0)]
    out, hy, cy = _rnn(*args, lstm_state_clip_min=-0.5, lstm_state_clip_max=0.7)
    assert cy.asnumpy().min() >= -0.5 and cy.asnumpy().max() <= 0.7
    want = _numpy_lstmp(x, h0[0], c0[0], wi, wh, wr, bi, bh, clip=(-0.5, 0.7, False))
    np.testing.assert_allclose(out.asnumpy(), want[0], rtol=1e-12, atol=1e-12)
    c_nan = c0.copy()
    c_nan[0, 0, 0] = np.nan
    args[3] = nd.array(c_nan, dtype=np.float64)
    kept = _rnn(*args, lstm_state_clip_min=-0.5, lstm_state_clip_max=0.7)[2].asnumpy()
    stopped = _rnn(*args, lstm_state_clip_min=-0.5, lstm_state_clip_max=0.7,
                   lstm_state_clip_nan=True)[2].asnumpy()
    assert np.isnan(kept[0, 0, 0]) and not np.isnan(stopped).any()


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="gru", projection_size=2), "projection is only supported for LSTM"),
    (dict(projection_size=H + 1), r"projection_size must be in \[1, state size 5\]"),
    (dict(lstm_state_clip_min=-1.0), "must be specified together"),
    (dict(lstm_state_clip_min=1.0, lstm_state_clip_max=0.0), "greater or equal"),
])
def test_bad_options_are_refused(kwargs, message):
    x = nd.ones((T, N, C))
    with pytest.raises(mx.MXNetError, match=message):
        nd.RNN(x, nd.ones((1000,)), nd.ones((1, N, H)), nd.ones((1, N, H)), state_size=H,
               **{"mode": "lstm", **kwargs})
    if "mode" not in kwargs and "projection_size" not in kwargs:
        with pytest.raises(mx.MXNetError, match=message):
            gluon.rnn.LSTM(H, state_clip_min=kwargs.get("lstm_state_clip_min"),
                           state_clip_max=kwargs.get("lstm_state_clip_max"))


@pytest.mark.parametrize("num_layers", [1, 2])
def test_gluon_lstm_projection_equals_stacked_lstmp_cells(num_layers):
    rs = np.random.RandomState(2)
    layer = gluon.rnn.LSTM(H, num_layers=num_layers, projection_size=P, input_size=C,
                           prefix="lstm0_")
    stack = gluon.rnn.HybridSequentialRNNCell(prefix="lstm0_")
    with stack.name_scope():
        for i in range(num_layers):
            stack.add(gluon.contrib.rnn.LSTMPCell(H, P, input_size=C if i == 0 else P,
                                                  prefix=f"l{i}_"))
    layer.initialize()
    stack.initialize()
    for name, p in layer.collect_params().items():
        w = nd.array(rs.uniform(-0.5, 0.5, p.shape))
        p.set_data(w)
        stack.collect_params()[name].set_data(w)
    x = nd.array(rs.randn(T, N, C))
    begin = layer.begin_state(N)
    assert [s.shape for s in begin] == [(num_layers, N, P), (num_layers, N, H)]
    out, states = layer(x, begin)
    cell_begin = [nd.array(rs.randn(N, w)) * 0 for _ in range(num_layers) for w in (P, H)]
    want, want_states = stack.unroll(T, x, begin_state=cell_begin, layout="TNC",
                                     merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6)
    for k in range(num_layers):
        np.testing.assert_allclose(states[0][k].asnumpy(), want_states[2 * k].asnumpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(states[1][k].asnumpy(), want_states[2 * k + 1].asnumpy(),
                                   rtol=1e-5, atol=1e-6)


def test_gluon_lstmp_hybridized_bidirectional_gradients_and_saved_keys(tmp_path):
    rs = np.random.RandomState(3)
    layer = gluon.rnn.LSTM(H, num_layers=2, projection_size=P, bidirectional=True,
                           state_clip_min=-2.0, state_clip_max=2.0)
    layer.initialize(mx.init.Xavier())
    x = nd.array(rs.randn(T, N, C))
    results = []
    for hybridize in (False, True):
        if hybridize:
            layer.hybridize()
        x.attach_grad()
        with autograd.record():
            out, (h, c) = layer(x, layer.begin_state(N))
            loss = (out * out).sum() + h.sum() + c.sum()
        loss.backward()
        assert out.shape == (T, N, 2 * P)
        results.append([out.asnumpy(), x.grad.asnumpy().copy(),
                        layer.l1_h2r_weight.grad().asnumpy().copy()])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    layer.save_parameters(str(tmp_path / "lstmp.params"))
    keys = set(nd.load(str(tmp_path / "lstmp.params")))
    assert "_unfused.1.r_cell.h2r_weight" in keys and "_unfused.0.l_cell.h2h_weight" in keys
    again = gluon.rnn.LSTM(H, num_layers=2, projection_size=P, bidirectional=True)
    again.load_parameters(str(tmp_path / "lstmp.params"))
    np.testing.assert_array_equal(again.r1_h2r_weight.data().asnumpy(),
                                  layer.r1_h2r_weight.data().asnumpy())


def test_symbol_rnn_with_projection_infers_its_parameter_and_state_shapes():
    out = mx.sym.RNN(mx.sym.var("data"), state_size=H, projection_size=P, num_layers=2,
                     mode="lstm", name="rnn", state_outputs=True)
    args, outs, _ = out.infer_shape(data=(T, N, C))
    shapes = dict(zip(out.list_arguments(), args))
    per_layer = [4 * H * (C + P) + 8 * H + P * H, 4 * H * (P + P) + 8 * H + P * H]
    assert shapes["rnn_parameters"] == (sum(per_layer),)
    assert shapes["rnn_state"] == (2, N, P) and shapes["rnn_state_cell"] == (2, N, H)
    assert outs == [(T, N, P), (2, N, P), (2, N, H)]
