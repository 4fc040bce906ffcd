"""MXNet's test_loss.py pattern: a Gluon loss called on Symbols (`L2Loss()(fc_sym,
mx.sym.var('label'))`), wrapped in make_loss and trained with mx.mod.Module.fit; the
symbolic loss computes what the eager loss computes."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd


def _net(num_hidden):
    data = mx.sym.var("data")
    act = mx.sym.Activation(mx.sym.FullyConnected(data, name="fc1", num_hidden=16),
                            act_type="relu")
    return mx.sym.FullyConnected(act, name="fc2", num_hidden=num_hidden)


@pytest.mark.parametrize("loss, sparse", [(gluon.loss.L2Loss(), False),
                                          (gluon.loss.L1Loss(), False),
                                          (gluon.loss.SoftmaxCrossEntropyLoss(), True),
                                          (gluon.loss.SigmoidBinaryCrossEntropyLoss(), False)])
def test_symbolic_loss_equals_eager_loss(loss, sparse):
    rs = np.random.RandomState(0)
    pred = nd.array(rs.randn(4, 3))
    label = nd.array(rs.randint(0, 3, 4)) if sparse else nd.array(rs.rand(4, 3))
    sym = loss(mx.sym.var("pred"), mx.sym.var("label"))
    assert isinstance(sym, mx.sym.Symbol)
    got = sym.eval(pred=pred, label=label)[0]
    np.testing.assert_allclose(got.asnumpy(), loss(pred, label).asnumpy(), rtol=1e-5, atol=1e-6)


def test_module_fits_a_gluon_l2_loss():
    mx.random.seed(0)
    data = mx.random.uniform(-1, 1, shape=(20, 10))
    label = mx.random.uniform(-1, 1, shape=(20, 1))
    it = mx.io.NDArrayIter(data, label, batch_size=10, label_name="label")
    loss = mx.sym.make_loss(gluon.loss.L2Loss()(_net(1), mx.sym.var("label")))
    mod = mx.mod.Module(loss, data_names=("data",), label_names=("label",))
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(initializer=mx.init.Xavier(magnitude=2))
    before = mod.score(it, eval_metric=mx.metric.Loss())[0][1]
    it.reset()          # (MXNet's fit resets the iterator at the end of each epoch, not before)
    mod.fit(it, num_epoch=10, optimizer="adam", optimizer_params={"learning_rate": 0.01},
            eval_metric=mx.metric.Loss(), force_init=False)
    after = mod.score(it, eval_metric=mx.metric.Loss())[0][1]
    assert after < before / 2
