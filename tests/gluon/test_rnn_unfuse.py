"""RNN / LSTM / GRU layers' _unfuse(): MXNet's stack of cells on the layer's own parameters.
Unrolled, it gives the layer's outputs and the layer's parameter gradients."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

LAYERS = {"lstm": lambda **kw: gluon.rnn.LSTM(3, **kw),
          "gru": lambda **kw: gluon.rnn.GRU(3, **kw),
          "rnn_tanh": lambda **kw: gluon.rnn.RNN(3, activation="tanh", **kw),
          "rnn_relu": lambda **kw: gluon.rnn.RNN(3, activation="relu", **kw)}


def _run(block, x, unrolled):
    params = block.collect_params()
    with autograd.record():
        out = block.unroll(x.shape[0], x, layout="TNC", merge_outputs=True)[0] \
            if unrolled else block(x)
        (out * out).sum().backward()
    return out.asnumpy(), {k: p.grad().asnumpy().copy() for k, p in params.items()}


@pytest.mark.parametrize("mode", sorted(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unfused_cells_match_the_layer(mode, bidirectional):
    mx.random.seed(3)
    layer = LAYERS[mode](num_layers=2, bidirectional=bidirectional, input_size=4)
    layer.initialize(mx.init.Uniform(0.5))
    cells = layer._unfuse()
    assert sorted(cells.collect_params()) == sorted(layer.collect_params())
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (5, 2, 4)))
    out, grads = _run(layer, x, False)
    out_cells, grads_cells = _run(cells, x, True)
    assert out.shape == (5, 2, 3 * (2 if bidirectional else 1))
    np.testing.assert_allclose(out_cells, out, rtol=1e-5, atol=1e-6)
    for k in grads:
        np.testing.assert_allclose(grads_cells[k], grads[k], rtol=1e-4, atol=1e-5)


def test_unfuse_puts_dropout_between_layers():
    layer = gluon.rnn.LSTM(3, num_layers=3, dropout=0.25)
    names = [type(c).__name__ for c in layer._unfuse()._children.values()]
    assert names == ["LSTMCell", "DropoutCell", "LSTMCell", "DropoutCell", "LSTMCell"]


def test_unfuse_refuses_a_projection():
    with pytest.raises(mx.MXNetError, match="projection or state clipping has no cell form"):
        gluon.rnn.LSTM(4, projection_size=2)._unfuse()
