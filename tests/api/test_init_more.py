"""mx.init.Orthogonal, Bilinear, LSTMBias and Mixed against their definitions."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon


@pytest.mark.parametrize("shape", [(3, 5), (6, 2), (4, 2, 2)])
@pytest.mark.parametrize("rand_type", ["uniform", "normal"])
def test_orthogonal_rows_or_columns_orthonormal(shape, rand_type):
    w = np.zeros(shape, np.float32)
    mx.random.seed(3)
    mx.init.Orthogonal(scale=1.5, rand_type=rand_type)("fc_weight", w)
    m = w.reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, 2.25 * np.eye(gram.shape[0]), atol=1e-5)
    again = np.zeros(shape, np.float32)
    mx.random.seed(3)
    mx.init.Orthogonal(scale=1.5, rand_type=rand_type)("fc_weight", again)
    np.testing.assert_array_equal(w, again)
    with pytest.raises(mx.MXNetError, match="rand_type"):
        mx.init.Orthogonal(rand_type="cauchy")("w_weight", np.zeros((2, 2), np.float32))


def test_bilinear_kernel_hand_values():
    w = np.zeros((2, 1, 4, 4), np.float32)
    mx.init.Bilinear()("up_weight", w)
    k = np.array([0.25, 0.75, 0.75, 0.25])  # f = 2, c = 0.75: 1 - |x / 2 - 0.75|
    for i in range(2):
        np.testing.assert_allclose(w[i, 0], np.outer(k, k))
    w3 = np.zeros((1, 1, 3, 3), np.float32)  # f = 2 again, c = 0.75
    mx.init.Bilinear()("up_weight", w3)
    np.testing.assert_allclose(w3[0, 0], np.outer([0.25, 0.75, 0.75], [0.25, 0.75, 0.75]))
    up = gluon.nn.Conv2DTranspose(1, 4, strides=2, padding=1, in_channels=1,
                                  weight_initializer=mx.init.Bilinear(), use_bias=False)
    up.initialize()
    np.testing.assert_allclose(up.weight.data().asnumpy()[0, 0], np.outer(k, k))


def test_lstm_bias_sets_forget_gate():
    b = np.full(8, 7.0, np.float32)
    mx.init.LSTMBias(forget_bias=2.5)._init_weight("lstm_i2h_bias", b)
    np.testing.assert_array_equal(b, [0, 0, 2.5, 2.5, 0, 0, 0, 0])
    cell = gluon.rnn.LSTMCell(3, input_size=2, i2h_bias_initializer=mx.init.LSTMBias(1.0))
    cell.initialize()
    np.testing.assert_array_equal(cell.i2h_bias.data().asnumpy(),
                                  [0.0] * 3 + [1.0] * 3 + [0.0] * 6)


def test_mixed_dispatches_on_first_matching_pattern():
    init = mx.init.Mixed(["fc2", ".*"], [mx.init.Constant(2.0), mx.init.One()])
    w2, w1, w3 = (np.zeros((2, 2), np.float32) for _ in range(3))
    init("fc2_weight", w2)
    init("fc1_weight", w1)
    init("x_fc2_weight", w3)  # re.match anchors at the start, as MXNet's does
    np.testing.assert_array_equal(w2, np.full((2, 2), 2.0))
    np.testing.assert_array_equal(w1, np.ones((2, 2)))
    np.testing.assert_array_equal(w3, np.ones((2, 2)))
    bias = np.full(3, 5.0, np.float32)
    init("fc2_bias", bias)  # the picked initializer dispatches on the suffix: biases are 0
    np.testing.assert_array_equal(bias, [0, 0, 0])
    p = gluon.Parameter("scale_bias", shape=(4,))
    p.initialize(init=mx.init.Mixed([".*_bias"], [mx.init.Constant(-1.0)]))
    np.testing.assert_array_equal(p.data().asnumpy(), [-1.0] * 4)
    with pytest.raises(ValueError, match="did not match any pattern"):
        mx.init.Mixed(["bias"], [mx.init.Zero()])("weight", w1)
    with pytest.raises(ValueError, match="2 patterns for 1 initializers"):
        mx.init.Mixed(["a", "b"], [mx.init.Zero()])


def test_registered_names():
    for name, cls in [("orthogonal", mx.init.Orthogonal), ("bilinear", mx.init.Bilinear),
                      ("lstmbias", mx.init.LSTMBias)]:
        assert isinstance(mx.init.create(name), cls)
