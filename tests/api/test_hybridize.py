"""hybridize(): compiled Gluon blocks agree with eager (outputs, gradients, state, randomness),
make one native call per forward and per backward, and never recompile for new parameter
values."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


def _mlp(seed=0):
    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu", in_units=10),
            nn.Dense(16, activation="tanh", in_units=16), nn.Dense(4, in_units=16))
    net.initialize()
    return net


class WithLoss(gluon.HybridBlock):
    def __init__(self, net):
        super().__init__()
        self.net, self.loss = net, gluon.loss.SoftmaxCrossEntropyLoss()

    def forward(self, x, y):
        return self.loss(self.net(x), y)


def _data(batch=8, dtype=np.float32, seed=1):
    rs = np.random.RandomState(seed)
    return nd.array(rs.randn(batch, 10).astype(dtype)), nd.array(rs.randint(0, 4, batch))


def _step(model, x, y):
    with autograd.record():
        loss = model(x, y)
    loss.backward()
    return loss.asnumpy(), [p.grad().asnumpy().copy() for p in model.collect_params().values()
                            if p.grad_req != "null"]


def test_hybridized_training_step_matches_eager_and_is_two_native_calls():
    x, y = _data()
    eager, hybrid = WithLoss(_mlp()), WithLoss(_mlp())
    hybrid.hybridize()
    l_e, g_e = _step(eager, x, y)
    l_h, g_h = _step(hybrid, x, y)
    np.testing.assert_allclose(l_h, l_e, rtol=1e-5)
    assert len(g_h) == len(g_e) == 6
    for a, b in zip(g_h, g_e):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    mx.stats(reset=True)
    _step(hybrid, x, y)
    s = mx.stats()
    assert s["eager_fallbacks"] == 0 and s["native_calls"] == 2 and s["compiles"] == 0
    assert s["cache_hits"] == 1 and s["traces"] == 0


def test_trainer_updates_and_set_data_take_effect_without_recompiling(monkeypatch):
    from tracegrad.runtime import tape
    monkeypatch.setattr(tape, "NATIVE_AFTER", 0)  # the eager twin must not compile either
    x, y = _data()
    eager, hybrid = WithLoss(_mlp()), WithLoss(_mlp())
    hybrid.hybridize()
    trainers = [gluon.Trainer(m.collect_params(), "sgd", {"learning_rate": 0.5})
                for m in (eager, hybrid)]
    for _ in range(5):  # past the first compiles: the fused step's, the eager twin's capture
        for m, t in zip((eager, hybrid), trainers):
            _step(m, x, y)
            t.step(8)
    mx.stats(reset=True)
    for _ in range(3):
        for m, t in zip((eager, hybrid), trainers):
            loss, _ = _step(m, x, y)
            t.step(8)
    np.testing.assert_allclose(_step(hybrid, x, y)[0], _step(eager, x, y)[0], rtol=1e-4)
    assert mx.stats()["traces"] == 0 and mx.stats()["compiles"] == 0
    first = hybrid.net[0].weight
    first.set_data(nd.zeros(first.shape))
    out = hybrid.net(x)
    np.testing.assert_allclose(out.asnumpy(), eager.net.__class__.forward(hybrid.net, x).asnumpy(),
                               rtol=1e-5)


def test_grad_req_null_prunes_the_compiled_adjoint():
    x, y = _data()
    model = WithLoss(_mlp())
    model.net[0].weight.grad_req = "null"
    model.hybridize()
    _step(model, x, y)
    adjoint = model.ir("adjoint")
    shapes = [str(o.type) for o in adjoint.outputs]
    assert "f32[16,10]" not in shapes and len(shapes) == 5
    ref = WithLoss(_mlp())
    ref.net[0].weight.grad_req = "null"
    _, g_ref = _step(ref, x, y)
    _, g = _step(model, x, y)
    assert len(g) == len(g_ref) == 5
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_new_batch_size_float64_and_noncontiguous_inputs_give_eager_answers():
    net = _mlp()
    ref = _mlp()
    net.hybridize()
    for x in (_data(8)[0], _data(5)[0], _data(3)[0][:, ::1]):
        np.testing.assert_allclose(net(x).asnumpy(), ref(x).asnumpy(), rtol=1e-5, atol=1e-6)
    # (nd.transpose returns a new array, as MXNet's does: wrap a transposed buffer instead)
    from tracegrad.array import wrap
    view = wrap(np.random.RandomState(2).randn(10, 6).astype(np.float32).T)
    assert not view._data.flags.c_contiguous
    np.testing.assert_allclose(net(view).asnumpy(), ref(view).asnumpy(), rtol=1e-5, atol=1e-6)
    net64, ref64 = _mlp(), _mlp()
    net64.cast("float64")
    ref64.cast("float64")
    net64.hybridize()
    x64 = _data(4, np.float64)[0]
    np.testing.assert_allclose(net64(x64).asnumpy(), ref64(x64).asnumpy(), rtol=1e-10)


def test_hybridized_batchnorm_updates_running_stats_like_eager():
    rs = np.random.RandomState(3)
    nets = []
    for hybrid in (False, True):
        net = nn.HybridSequential()
        net.add(nn.Dense(6, in_units=4), nn.BatchNorm(momentum=0.8, in_channels=6))
        mx.random.seed(0)
        net.initialize()
        if hybrid:
            net.hybridize()
        nets.append(net)
    for _ in range(3):
        x = nd.array(rs.randn(5, 4).astype(np.float32))
        for net in nets:
            with autograd.record():
                out = net(x)
            out.backward()
    for name in ("running_mean", "running_var"):
        a, b = (getattr(n[1], name).data().asnumpy() for n in nets)
        np.testing.assert_allclose(b, a, rtol=1e-5)
        assert np.abs(a - (0 if name == "running_mean" else 1)).max() > 1e-3
    x = nd.array(rs.randn(5, 4).astype(np.float32))
    np.testing.assert_allclose(nets[1](x).asnumpy(), nets[0](x).asnumpy(), rtol=1e-5,
                               atol=1e-6)


def test_hybridized_dropout_draws_what_eager_draws_from_the_first_call():
    outs = []
    for hybrid in (False, True):
        block = nn.HybridSequential()
        block.add(nn.Dropout(0.5), nn.Dense(30, in_units=30, use_bias=False,
                                             weight_initializer="ones"), nn.Dropout(0.3))
        block.initialize()
        if hybrid:
            block.hybridize()
        mx.random.seed(7)
        x = nd.ones((20, 30))
        with autograd.record():
            outs.append([block(x).asnumpy() for _ in range(3)])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[0][0], outs[0][1])


def test_block_inspection():
    net = _mlp()
    with pytest.raises(mx.MXNetError, match="nothing compiled"):
        net.ir()
    net.hybridize()
    net(_data()[0])
    assert "matmul" in str(net.ir("traced")) and "relu" in str(net.ir("optimized"))
    assert "define" in net.llvm_ir()


def test_second_process_with_the_same_disk_cache_compiles_nothing(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, tracegrad as mx
        from tracegrad import autograd, nd
        from tracegrad.gluon import nn
        mx.random.seed(0)
        net = nn.HybridSequential()
        net.add(nn.Dense(8, activation="relu"), nn.Dense(3))
        net.initialize()
        net.hybridize()
        x = nd.array(np.ones((4, 5), np.float32))
        net(x)
        with autograd.record():
            y = net(x)
        y.backward()
        s = mx.stats()
        print(s["compiles"], s["disk_cache_hits"])
    """)
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert int(runs[0][0]) >= 3 and int(runs[0][1]) == 0
    assert int(runs[1][0]) == 0 and int(runs[1][1]) == int(runs[0][0])


def test_hybridized_grad_req_add_accumulates_and_input_gradients_flow():
    x, y = _data()
    eager, hybrid = WithLoss(_mlp()), WithLoss(_mlp())
    hybrid.hybridize()
    for model in (eager, hybrid):
        model.collect_params().setattr("grad_req", "add")
    grads = []
    for model in (eager, hybrid):
        for _ in range(2):
            _step(model, x, y)
        grads.append([p.grad().asnumpy().copy() for p in model.collect_params().values()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    once = WithLoss(_mlp())
    _, g1 = _step(once, x, y)
    np.testing.assert_allclose(grads[1][0], 2 * g1[0], rtol=1e-5, atol=1e-7)
    hybrid.collect_params().zero_grad()
    assert all(not p.grad().asnumpy().any() for p in hybrid.collect_params().values())
    # an input computed by eager ops before the compiled block gets its gradient too
    inp = nd.array(np.random.RandomState(5).randn(8, 10).astype(np.float32))
    inp.attach_grad()
    grads_in = []
    for model in (eager, hybrid):
        with autograd.record():
            loss = model(inp * 2.0, y)
        loss.backward()
        grads_in.append(inp.grad.asnumpy().copy())
    np.testing.assert_allclose(grads_in[1], grads_in[0], rtol=1e-5, atol=1e-7)
    assert np.abs(grads_in[0]).max() > 0
