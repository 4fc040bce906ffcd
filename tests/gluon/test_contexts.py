"""Parameters on several contexts (MXNet's data parallelism on one machine): one copy and one
gradient per context, the trainer summing them, as MXNet 1.x with the 'device' kvstore."""
import gc

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

CTXS = [mx.cpu(0), mx.cpu(1)]


def test_mxnet_trainer_unittest_pattern():
    """MXNet's own test: a backward per context's copy, summed by the step (lr 1: -2)."""
    x = gluon.Parameter("x", shape=(10,))
    x.initialize(ctx=CTXS, init="zeros")
    assert x.list_ctx() == CTXS and len(x.list_data()) == 2 and len(x.list_grad()) == 2
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 1.0, "momentum": 0.5})
    with autograd.record():
        for w in x.list_data():
            y = w + 1
            y.backward()
    trainer.step(1)
    for ctx in CTXS:
        np.testing.assert_array_equal(x.data(ctx).asnumpy(), np.full(10, -2.0))
        np.testing.assert_array_equal(x.grad(ctx).asnumpy(), np.full(10, 2.0))  # allreduced


def test_each_context_holds_its_shards_gradient():
    """Linear regression split over two contexts: before the step each copy's gradient is its
    shard's, in float64 numpy; afterwards the weights are the full batch's SGD step."""
    rs = np.random.RandomState(0)
    X, Y = rs.randn(6, 3), rs.randn(6, 1)
    net = gluon.nn.Dense(1, in_units=3)
    net.initialize(mx.init.Constant(0.25), ctx=CTXS)
    xs = gluon.utils.split_and_load(nd.array(X), CTXS)
    ys = gluon.utils.split_and_load(nd.array(Y), CTXS)
    assert [x.context for x in xs] == CTXS
    loss_fn = gluon.loss.L2Loss()
    with autograd.record():
        losses = [loss_fn(net(x), y) for x, y in zip(xs, ys)]
    for loss in losses:
        loss.backward()
    w = np.full((1, 3), 0.25)
    shard_grads = []
    for k, ctx in enumerate(CTXS):
        Xk, Yk = X[3 * k:3 * k + 3], Y[3 * k:3 * k + 3]
        gk = ((Xk @ w.T - Yk) * Xk).sum(0)      # (the bias keeps its own init: zeros)
        shard_grads.append(gk)
        np.testing.assert_allclose(net.weight.grad(ctx).asnumpy()[0], gk, rtol=1e-5)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    trainer.step(6)
    want = w[0] - 0.1 * (shard_grads[0] + shard_grads[1]) / 6
    for ctx in CTXS:
        np.testing.assert_allclose(net.weight.data(ctx).asnumpy()[0], want, rtol=1e-5)


def _train(ctxs, hybridize, optimizer, split, steps=5):
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dropout(0.0), gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier(), ctx=ctxs)
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            {"learning_rate": 0.05, "wd": 1e-3})
    rs = np.random.RandomState(1)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(steps):
        X, Y = nd.array(rs.randn(8, 5)), nd.array(rs.randint(0, 3, 8))
        xs, ys = split(X, Y)
        with autograd.record():
            losses = [loss_fn(net(x), y) for x, y in zip(xs, ys)]
        if len(ctxs) == 1:
            autograd.backward(losses)        # the reference: one backward sums the shards
        else:
            for loss in losses:
                loss.backward()
        trainer.step(8)
    return net


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_data_parallel_loop_equals_one_context(hybridize, optimizer):
    """The usual multi-device loop (split_and_load, a loss and a backward per context, one
    trainer.step) trains the parameters one context gets from the summed shards, eager and
    hybridized; every context's copy holds them."""
    ref = _train([mx.cpu(0)], False, optimizer, lambda X, Y: ([X[:4], X[4:]], [Y[:4], Y[4:]]))
    two = _train(CTXS, hybridize, optimizer, lambda X, Y: (
        gluon.utils.split_and_load(X, CTXS), gluon.utils.split_and_load(Y, CTXS)))
    for p_ref, p in zip(ref.collect_params().values(), two.collect_params().values()):
        for ctx in CTXS:
            np.testing.assert_allclose(p.data(ctx).asnumpy(), p_ref.data().asnumpy(),
                                       rtol=1e-5, atol=1e-6)


def test_op_results_keep_their_operands_context():
    """A shard transformed before the net (`net(x.astype(...) / 255)`) still reads its
    context's copies: op results take their first placed operand's context."""
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize(mx.init.Constant(1.0), ctx=CTXS)
    xs = gluon.utils.split_and_load(nd.array([[1, 2], [3, 4]]), CTXS)
    prepared = [(x.astype("float64").astype("float32") / 2) for x in xs]
    assert [p.context for p in prepared] == CTXS
    with autograd.record():
        losses = [net(p).sum() for p in prepared]
    for loss in losses:
        loss.backward()
    np.testing.assert_allclose(net.weight.grad(mx.cpu(0)).asnumpy(), [[0.5, 1.0]])
    np.testing.assert_allclose(net.weight.grad(mx.cpu(1)).asnumpy(), [[1.5, 2.0]])


def test_wrong_context_and_stale_copies_raise():
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    xs = gluon.utils.split_and_load(nd.ones((4, 3)), CTXS)
    net(xs[0])
    with pytest.raises(MXNetError, match=r"not initialized on context cpu\(1\). It was only "
                                         r"initialized on \[cpu\(0\)\]"):
        net(xs[1])
    p = gluon.Parameter("w", shape=(2,))
    p.initialize(ctx=CTXS)
    with pytest.raises(MXNetError, match=r"cpu\(2\)"):
        p.data(mx.cpu(2))
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0})
    with autograd.record():
        (p.list_data()[0] * 2).backward()        # cpu(1)'s copy never gets a gradient
    with pytest.raises(UserWarning, match="has not been updated by backward"):
        trainer.step(1)
    before = p.data().asnumpy().copy()
    trainer.step(1, ignore_stale_grad=True)      # skipped
    np.testing.assert_array_equal(p.data().asnumpy(), before)


def test_save_averages_copies_and_load_places_them(tmp_path):
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize(mx.init.Constant(1.0), ctx=CTXS)
    net.weight.list_data()[1][:] = 3.0           # copies may drift apart (e.g. BN statistics)
    net.save_parameters(str(tmp_path / "p.params"))
    other = gluon.nn.Dense(2, in_units=3)
    other.load_parameters(str(tmp_path / "p.params"), ctx=CTXS)
    assert other.weight.list_ctx() == CTXS
    for ctx in CTXS:
        np.testing.assert_array_equal(other.weight.data(ctx).asnumpy(), np.full((2, 3), 2.0))


def test_contexts_released_when_arrays_die():
    """Once nothing lives on another context, blocks take their usual (captured) paths."""
    gc.collect()
    base = mx.context.PLACED[0]
    p = gluon.Parameter("w", shape=(2,))
    p.initialize(ctx=CTXS)
    x = nd.ones((2,)).as_in_context(mx.cpu(3))
    assert x.context == mx.cpu(3) and mx.context.PLACED[0] == base + 2
    del p, x
    gc.collect()
    assert mx.context.PLACED[0] == base
