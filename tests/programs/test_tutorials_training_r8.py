"""MXNet 1.9.1's training tutorials under docs/python_docs/python/tutorials/, shortened to
synthetic data: packages/gluon/training/fit_api_tutorial.md, learning_rates/
learning_rate_finder.md and learning_rate_schedules_advanced.md, normalization/index.md,
packages/gluon/loss/custom-loss.md and kl_divergence.md, blocks/activations/activations.md,
packages/optimizer/index.md, performance/backend/amp.md and profiler.md."""
import numpy as np

from tracegrad import autograd, gluon, nd


def _net_and_trainer():
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})


def test_lr_finder_initializes_kvstore_before_saving_states(tmp_path):
    """learning_rate_finder.md: `if not trainer._kv_initialized: trainer._init_kvstore()`,
    then save_states / load_states around the search. MXNet's Trainer sets the flag at the
    first step; one process with kvstore='device' has no store."""
    net, trainer = _net_and_trainer()
    assert trainer._kv_initialized is False
    x = nd.array(np.random.RandomState(0).randn(5, 4))
    with autograd.record():
        loss = net(x).sum()
    loss.backward()     # an iteration with take_step=False
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    assert trainer._kv_initialized is True
    assert trainer._kvstore is None and trainer._update_on_kvstore is None
    w0 = net.weight.data().asnumpy().copy()
    trainer.save_states(str(tmp_path / "lr_finder.state"))
    trainer.step(5)
    np.testing.assert_allclose(net.weight.data().asnumpy(),
                               w0 - 0.1 / 5 * net.weight.grad().asnumpy(), rtol=1e-6)
    trainer.load_states(str(tmp_path / "lr_finder.state"))
    # a fresh trainer's flag is set by its first step, as MXNet's step does
    net2, trainer2 = _net_and_trainer()
    with autograd.record():
        loss = net2(x).sum()
    loss.backward()
    trainer2.step(5)
    assert trainer2._kv_initialized is True


def test_activation_softrelu_gradient_is_sigmoid_at_zero():
    """activations.md: visualize_activation(Activation('softrelu')) plots y and x.grad over
    np.linspace(-10, 10, 501), which holds 0. MXNet's gradient is softrelu_grad = 1 - exp(-y)
    = sigmoid(x), 1/2 at 0; hybridized the same."""
    data = np.linspace(-10, 10, 501)
    for hybridize in (False, True):
        act = gluon.nn.Activation("softrelu")
        if hybridize:
            act.hybridize()
        x = nd.array(data)
        x.attach_grad()
        with autograd.record():
            y = act(x)
        y.backward()
        ref = np.log1p(np.exp(data.astype(np.float32).astype(np.float64)))
        np.testing.assert_allclose(y.asnumpy(), ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(x.grad.asnumpy(), -np.expm1(-ref), rtol=1e-6, atol=1e-7)
        assert x.grad.asnumpy()[250] == 0.5
