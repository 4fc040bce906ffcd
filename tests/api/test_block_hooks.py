"""Forward hooks and Block.summary, as in MXNet 1.x: hooks run on every call (eagerly and
inside captured training steps), detach() removes them, and blocks without hooks keep their
class and their fast paths."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _net():
    mx.random.seed(7)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(4, activation="relu", in_units=3), gluon.nn.Dense(2, in_units=4))
    net.initialize()
    return net


def test_pre_and_post_hooks_see_inputs_and_outputs_and_detach():
    net = _net()
    seen = []
    pre = net[0].register_forward_pre_hook(lambda b, args: seen.append(("pre", b.name,
                                                                        args[0].shape)))
    post = net[1].register_forward_hook(lambda b, args, out: seen.append(("post", b.name,
                                                                          out.shape)))
    x = nd.ones((5, 3))
    out = net(x)
    assert seen == [("pre", net[0].name, (5, 3)), ("post", net[1].name, (5, 2))]
    assert type(net[0]).__name__ == "Dense" and isinstance(net[0], gluon.nn.Dense)
    pre.detach()
    with post:
        net(x)
    net(x)
    assert len(seen) == 3             # one more post hook, then none
    assert type(net[0]) is gluon.nn.Dense and type(net[1]) is gluon.nn.Dense
    np.testing.assert_array_equal(net(x).asnumpy(), out.asnumpy())


@pytest.mark.parametrize("hybridize", [False, True])
def test_hooks_run_on_every_step_of_a_captured_training_loop(hybridize):
    net = _net()
    if hybridize:
        net.hybridize()
    calls, inner = [], []
    net.register_forward_hook(lambda b, args, out: calls.append(out.shape))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.L2Loss()
    x, y = nd.ones((5, 3)), nd.zeros((5, 2))
    for step in range(8):
        if step == 4:       # (after the step is captured and its block calls replayed)
            net[1].register_forward_pre_hook(lambda b, args: inner.append(args[0].shape))
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(5)
    assert calls == [(5, 2)] * 8
    # a child's hook runs on every step too (not replayed away), but inside a hybridized
    # parent only while it is traced, as in MXNet
    assert inner == ([] if hybridize else [(5, 4)] * 4)
    plain = _net()
    if hybridize:
        plain.hybridize()
    t2 = gluon.Trainer(plain.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(8):
        with autograd.record():
            loss = loss_fn(plain(x), y)
        loss.backward()
        t2.step(5)
    for a, b in zip(net.collect_params().values(), plain.collect_params().values()):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-6)


def test_summary_prints_shapes_and_parameter_counts(capsys):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(4, activation="relu"), gluon.nn.BatchNorm(), gluon.nn.Dense(2))
    net.initialize()
    net.summary(nd.ones((1, 5)))
    text = capsys.readouterr().out
    assert "Input" in text and "(1, 5)" in text
    # (a Dense with an activation calls its Activation child first, as in MXNet 1.x)
    assert "Activation-1" in text and "Dense-2" in text and "BatchNorm-3" in text
    assert "Dense-4" in text and "HybridSequential-5" in text
    # 5*4+4, then gamma/beta trainable and running mean/var not, then 4*2+2
    assert "Total params: 50" in text and "Trainable params: 42" in text
    assert "Non-trainable params: 8" in text and "Unique parameters in model: 50" in text
    assert all(type(b) is type(b).__mro__[0] and not hasattr(type(b), "_tg_plain_class")
               for b in [net, net[0], net[1], net[2]])
    net.hybridize()
    with pytest.raises(mx.MXNetError, match="summary\\(\\) needs blocks that are not "
                                            "hybridized"):
        net.summary(nd.ones((1, 5)))
    net.hybridize(False)
    net[1].hybridize()      # (MXNet asserts it of every block: its programs catch that)
    with pytest.raises(AssertionError, match=f"{net[1].name}: summary"):
        net.summary(nd.ones((1, 5)))


def test_a_hook_registered_again_after_detach_runs_inside_a_replayed_step():
    net = _net()       # not hybridized: gluon's pure layers are replayed in captured steps
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.L2Loss()
    x, y = nd.ones((5, 3)), nd.zeros((5, 2))
    seen = []
    net[1].register_forward_pre_hook(lambda b, args: seen.append(1)).detach()
    for step in range(10):
        if step == 6:
            net[1].register_forward_pre_hook(lambda b, args: seen.append(1))
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(5)
    assert mx.stats()["captured_steps"] > 0
    assert len(seen) == 4
