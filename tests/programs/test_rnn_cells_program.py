"""Recurrent cells as MXNet's gluon.rnn programs stack them: SequentialRNNCell of an LSTMCell
and a ResidualCell(GRUCell), unrolled NTC with merge_outputs and valid_length, hybridized
unroll == eager; BidirectionalCell == forward cell + reversed backward cell; fused
bidirectional LSTM layer shapes; an RNNCell stepped by hand == numpy."""
import numpy as np

import tracegrad as mx
from tracegrad import nd
from tracegrad.gluon import rnn


def test_stacked_residual_cells_unroll_eager_hybridized_and_masked():
    mx.random.seed(3)
    with mx.name.NameManager():
        stack = rnn.SequentialRNNCell()
        with stack.name_scope():
            stack.add(rnn.LSTMCell(4, input_size=3))
            stack.add(rnn.ResidualCell(rnn.GRUCell(4, input_size=4)))
    stack.initialize()
    assert list(stack.collect_params().keys())[:2] == ["sequentialrnncell0_lstm0_i2h_weight",
                                                       "sequentialrnncell0_lstm0_h2h_weight"]
    x = nd.random.normal(shape=(2, 5, 3))
    outs, states = stack.unroll(5, x, layout="NTC", merge_outputs=True)
    assert outs.shape == (2, 5, 4) and [s.shape for s in states] == [(2, 4)] * 3
    assert stack.state_info(2)[0] == {"shape": (2, 4), "__layout__": "NC"}
    # the residual cell adds its input (the LSTM's output) to the GRU's
    lstm_out, _ = stack[0].unroll(5, x, layout="NTC", merge_outputs=True)
    gru = rnn.GRUCell(4, input_size=4)      # (a modified base cell refuses direct calls)
    gru.initialize()
    for name in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"):
        getattr(gru, name).set_data(getattr(stack[1].base_cell, name).data())
    gru_out, _ = gru.unroll(5, lstm_out, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(outs.asnumpy(), (lstm_out + gru_out).asnumpy(), rtol=1e-5,
                               atol=1e-6)
    masked, _ = stack.unroll(5, x, layout="NTC", merge_outputs=True,
                             valid_length=nd.array([3, 5]))
    np.testing.assert_array_equal(masked.asnumpy()[0, 3:], 0)
    np.testing.assert_allclose(masked.asnumpy()[:, :3], outs.asnumpy()[:, :3], rtol=1e-6)
    stack.hybridize()
    hybrid, _ = stack.unroll(5, x, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(hybrid.asnumpy(), outs.asnumpy(), rtol=1e-5, atol=1e-6)


def test_bidirectional_cell_is_forward_plus_reversed_backward():
    left = rnn.LSTMCell(3, input_size=3, prefix="l_")
    right = rnn.LSTMCell(3, input_size=3, prefix="r_")
    bi = rnn.BidirectionalCell(left, right)
    bi.initialize()
    x = nd.random.normal(shape=(2, 4, 3))
    out, states = bi.unroll(4, x, layout="NTC", merge_outputs=True)
    assert out.shape == (2, 4, 6) and len(states) == 4
    fwd, _ = left.unroll(4, x, layout="NTC", merge_outputs=True)
    bwd, _ = right.unroll(4, nd.flip(x, axis=1), layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy()[:, :, :3], fwd.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.asnumpy()[:, :, 3:], bwd.asnumpy()[:, ::-1], rtol=1e-5,
                               atol=1e-6)


def test_fused_layers_shapes_and_rnn_cell_by_hand():
    lstm = rnn.LSTM(6, num_layers=2, layout="NTC", bidirectional=True, input_size=3)
    lstm.initialize()
    x = nd.random.normal(shape=(2, 5, 3))
    assert lstm(x).shape == (2, 5, 12)
    out, states = lstm(x, lstm.begin_state(2))
    assert [s.shape for s in states] == [(4, 2, 6), (4, 2, 6)]
    gru = rnn.GRU(4, input_size=3)
    gru.initialize()
    assert gru(nd.ones((5, 2, 3))).shape == (5, 2, 4)
    cell = rnn.RNNCell(4, input_size=3)
    cell.initialize()
    h = cell.begin_state(batch_size=2)
    w_i, w_h = cell.i2h_weight.data().asnumpy(), cell.h2h_weight.data().asnumpy()
    b_i, b_h = cell.i2h_bias.data().asnumpy(), cell.h2h_bias.data().asnumpy()
    ref = np.zeros((2, 4))
    for t in range(3):
        y, h = cell(x[:, t, :], h)
        ref = np.tanh(x.asnumpy()[:, t] @ w_i.T + b_i + ref @ w_h.T + b_h)
    np.testing.assert_allclose(y.asnumpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h[0].asnumpy(), ref, rtol=1e-5, atol=1e-6)
