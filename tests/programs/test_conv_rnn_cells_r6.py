"""gluon.contrib.rnn's convolutional cells as a precipitation-nowcasting style program uses
them (MXNet 1.9.1 conv_rnn_cell.py): a Conv2DLSTMCell unrolled over a (N, T, C, H, W)
sequence and trained a step, a Conv1DGRUCell and a channels-last Conv2DRNNCell, each against a
float64 numpy statement of the cell, eager and hybridized."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon.contrib import rnn as contrib_rnn


def _conv(x, w, b, pad):
    """Stride-1 cross-correlation of (N, C, *S) with (O, C, *K), zero padded by `pad`."""
    dims = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    k = w.shape[2:]
    out_size = [x.shape[2 + i] - k[i] + 1 for i in range(dims)]
    out = np.zeros((x.shape[0], w.shape[0], *out_size))
    for idx in np.ndindex(*k):
        window = x[(slice(None), slice(None)) +
                   tuple(slice(i, i + n) for i, n in zip(idx, out_size))]
        out += np.einsum("nc...,oc->no...", window, w[(slice(None), slice(None)) + idx])
    return out + b.reshape((1, -1) + (1,) * dims)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _params(cell):
    return {k[len(cell.prefix):]: p.data().asnumpy().astype(np.float64)
            for k, p in cell.collect_params().items()}


def _lstm_reference(cell, x, pad, h2h_pad):
    p = _params(cell)
    n, t = x.shape[:2]
    h = np.zeros((n,) + cell.state_info(n)[0]["shape"][1:])
    c = np.zeros_like(h)
    outs = []
    for s in range(t):
        g = _conv(x[:, s], p["i2h_weight"], p["i2h_bias"], pad) + \
            _conv(h, p["h2h_weight"], p["h2h_bias"], h2h_pad)
        i, f, cand, o = np.split(g, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(cand)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1), h, c


def test_conv2d_lstm_unrolled_matches_numpy_eager_hybridized_and_trains():
    mx.random.seed(0)
    cell = contrib_rnn.Conv2DLSTMCell(input_shape=(2, 6, 5), hidden_channels=3,
                                      i2h_kernel=(3, 3), h2h_kernel=(3, 3), i2h_pad=(1, 1))
    cell.initialize(mx.init.Uniform(0.3))
    assert cell.i2h_weight.shape == (12, 2, 3, 3) and cell.h2h_weight.shape == (12, 3, 3, 3)
    assert cell.state_info(4) == [{"shape": (4, 3, 6, 5), "__layout__": "NCHW"}] * 2
    assert cell.prefix.startswith("conv_lstm")
    x = np.random.RandomState(1).randn(2, 4, 2, 6, 5).astype(np.float32)
    outs, states = cell.unroll(4, nd.array(x), layout="NTC", merge_outputs=True)
    ref, h, c = _lstm_reference(cell, x.astype(np.float64), (1, 1), (1, 1))
    np.testing.assert_allclose(outs.asnumpy(), ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(states[1].asnumpy(), c, rtol=1e-4, atol=1e-6)
    cell.hybridize()
    outs_h, _ = cell.unroll(4, nd.array(x), layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(outs_h.asnumpy(), ref, rtol=1e-4, atol=1e-6)

    trainer = gluon.Trainer(cell.collect_params(), "sgd", {"learning_rate": 0.5})
    target = nd.zeros((2, 4, 3, 6, 5))
    losses = []
    for _ in range(3):
        with autograd.record():
            out, _ = cell.unroll(4, nd.array(x), layout="NTC", merge_outputs=True)
            loss = gluon.loss.L2Loss()(out, target)
        loss.backward()
        trainer.step(2)
        losses.append(loss.mean().asscalar())
    assert losses[2] < losses[0]


def test_conv1d_gru_with_dilation_and_uneven_pad_matches_numpy():
    cell = contrib_rnn.Conv1DGRUCell(input_shape=(2, 7), hidden_channels=2, i2h_kernel=3,
                                     h2h_kernel=3, i2h_pad=0, h2h_dilate=2)
    cell.initialize(mx.init.Uniform(0.5))
    assert cell.state_info(1)[0]["shape"] == (1, 2, 5)          # 7 - 3 + 1
    x = np.random.RandomState(2).randn(3, 2, 2, 7)              # (N, T, C, W)
    out, states = cell.unroll(2, nd.array(x), layout="NTC", merge_outputs=False)
    p = _params(cell)
    h = np.zeros((3, 2, 5))
    for t in range(2):
        i2h = _conv(x[:, t], p["i2h_weight"], p["i2h_bias"], (0,))
        # the h2h convolution is dilated by 2 and padded by 2 * (3 - 1) // 2 = 2
        w = p["h2h_weight"]
        dil = np.zeros(w.shape[:2] + (5,))
        dil[..., ::2] = w
        h2h = _conv(h, dil, p["h2h_bias"], (2,))
        r_i, z_i, n_i = np.split(i2h, 3, axis=1)
        r_h, z_h, n_h = np.split(h2h, 3, axis=1)
        r, z = _sigmoid(r_i + r_h), _sigmoid(z_i + z_h)
        h = (1 - z) * np.tanh(n_i + r * n_h) + z * h
        np.testing.assert_allclose(out[t].asnumpy(), h, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(states[0].asnumpy(), h, rtol=1e-4, atol=1e-6)


def test_conv2d_rnn_channels_last_and_relu_activation():
    cell = contrib_rnn.Conv2DRNNCell(input_shape=(4, 4, 2), hidden_channels=3, i2h_kernel=1,
                                     h2h_kernel=3, conv_layout="NHWC", activation="relu")
    cell.initialize(mx.init.Uniform(0.5))
    assert cell.i2h_weight.shape == (3, 1, 1, 2) and cell.state_info(2)[0]["shape"] == \
        (2, 4, 4, 3)
    x = np.random.RandomState(3).randn(2, 4, 4, 2).astype(np.float32)
    h0 = cell.begin_state(2)
    out, _ = cell(nd.array(x), h0)
    p = _params(cell)
    i2h = _conv(x.transpose(0, 3, 1, 2).astype(np.float64),
                p["i2h_weight"].transpose(0, 3, 1, 2), p["i2h_bias"], (0, 0))
    ref = np.maximum(i2h + p["h2h_bias"][None, :, None, None], 0).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out.asnumpy(), ref, rtol=1e-5, atol=1e-6)


def test_conv_cell_refuses_even_h2h_kernel_and_wrong_step_shape():
    import pytest
    with pytest.raises(mx.MXNetError, match="h2h_kernel must be odd"):
        contrib_rnn.Conv2DLSTMCell((1, 4, 4), 2, 3, 2)
    cell = contrib_rnn.Conv2DGRUCell((1, 4, 4), 2, 3, 3, i2h_pad=1)
    cell.initialize()
    with pytest.raises(mx.MXNetError, match="Conv2DGRUCell: a step takes inputs"):
        cell(nd.ones((2, 1, 5, 5)), cell.begin_state(2))
