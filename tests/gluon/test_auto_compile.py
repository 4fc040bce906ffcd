"""Eager calls of gluon's own layers compiled once their signature is hot (auto_compile.py):
the same outputs, gradients, running statistics and random draws as eager calls across the
switch, for every kind of layer; the switch at the counted call; which blocks stay eager."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.gluon import auto_compile as ac
from tracegrad.gluon import nn, rnn


@pytest.fixture
def no_capture(monkeypatch):
    """Auto compile on, step capture off: the training loops below repeat a step, which
    capture would take over (it compiles the whole step; layer calls are not counted then)."""
    monkeypatch.setattr(ac, "ENABLED", [True])
    prev = capture.set_enabled(False)
    yield
    capture.set_enabled(prev)


@pytest.fixture
def small_budget(monkeypatch, no_capture):
    """A budget the tests reach in a few calls: the 5th call runs compiled (the 1st counts
    ops, the 2nd and 3rd warm the block, the 4th and 5th the signature)."""
    monkeypatch.setattr(ac, "OPS_BUDGET", 1)
    monkeypatch.setattr(ac, "MIN_CALLS", 2)


def _rng_arrays(seed, *shapes, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [nd.array(rng.standard_normal(s), dtype=dtype) for s in shapes]


def _lstm_cell():
    return rnn.LSTMCell(8, input_size=5)


def _cnn():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, in_channels=2), nn.BatchNorm(in_channels=4),
            nn.Activation("relu"), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(3, in_units=16))
    return net


# (name, block factory, argument factory(seed), whether the output is (out, states))
LAYERS = [
    ("dense", lambda: nn.Dense(4, in_units=6, activation="tanh"),
     lambda s: _rng_arrays(s, (3, 6)), False),
    ("lstm_cell", _lstm_cell,
     lambda s: [_rng_arrays(s, (2, 5))[0], _rng_arrays(s + 1, (2, 8), (2, 8))], True),
    ("gru_cell", lambda: rnn.GRUCell(6, input_size=4),
     lambda s: [_rng_arrays(s, (3, 4))[0], _rng_arrays(s + 1, (3, 6))], True),
    ("rnn_cell", lambda: rnn.RNNCell(6, input_size=4, activation="relu"),
     lambda s: [_rng_arrays(s, (3, 4))[0], _rng_arrays(s + 1, (3, 6))], True),
    ("lstm_layer", lambda: rnn.LSTM(6, input_size=4),
     lambda s: _rng_arrays(s, (5, 2, 4)), False),
    ("cnn_with_batchnorm", _cnn, lambda s: _rng_arrays(s, (2, 2, 4, 4)), False),
    ("dropout", lambda: nn.Dropout(0.5), lambda s: _rng_arrays(s, (4, 16)), False),
    ("layernorm", lambda: nn.LayerNorm(in_channels=6), lambda s: _rng_arrays(s, (3, 6)),
     False),
    ("groupnorm", lambda: nn.GroupNorm(2),
     lambda s: _rng_arrays(s, (2, 4, 3, 3)), False),
    ("prelu", lambda: nn.PReLU(in_channels=1), lambda s: _rng_arrays(s, (3, 5)), False),
    ("conv_transpose", lambda: nn.Conv2DTranspose(3, 2, strides=2, in_channels=2),
     lambda s: _rng_arrays(s, (1, 2, 3, 3)), False),
    ("avgpool1d", lambda: nn.AvgPool1D(2), lambda s: _rng_arrays(s, (2, 3, 6)), False),
]


def _make(factory, seed):
    mx.random.seed(seed)
    block = factory()
    block.initialize(mx.init.Xavier())
    return block


def _train(block, arg_fn, calls, cell, seed=7):
    """Per call: outputs and the input's gradient of a loss of them, then an SGD step;
    returns those of every call and the final parameters (running statistics included)."""
    params = list(block.collect_params().values())
    trainable = [p for p in params if p.grad_req != "null"]
    trainer = gluon.Trainer(trainable, "sgd", {"learning_rate": 0.05}) if trainable else None
    mx.random.seed(seed)
    outs = []
    for i in range(calls):
        args = arg_fn(100 + i)
        args[0].attach_grad()
        with autograd.record():
            out = block(*args)
            if cell:
                out, states = out
                loss = (out * out).mean() + sum((s * s).mean() for s in states)
            else:
                loss = (out * out).mean()
        loss.backward()
        if trainer is not None:
            trainer.step(1)
        outs.append((out.asnumpy(), args[0].grad.asnumpy()))
    return outs, [p.data().asnumpy() for p in params]


@pytest.mark.parametrize("name,factory,arg_fn,cell", LAYERS, ids=[x[0] for x in LAYERS])
def test_compiled_after_the_switch_computes_what_eager_does(small_budget, name, factory,
                                                             arg_fn, cell):
    eager = _make(factory, 3)
    eager.hybridize(active=False)       # kept eager
    auto = _make(factory, 3)
    before = mx.stats()["blocks_auto_compiled"]
    outs_e, params_e = _train(eager, arg_fn, 8, cell)
    outs_a, params_a = _train(auto, arg_fn, 8, cell)
    assert mx.stats()["blocks_auto_compiled"] == before + 1
    jf = auto.__dict__.get("_tg_jit")
    assert jf is not None and jf.counts["native"] >= 4, "the hot calls ran native code"
    assert "_tg_jit" not in eager.__dict__
    for k, ((a, ga), (b, gb)) in enumerate(zip(outs_a, outs_e)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"call {k}")
        np.testing.assert_allclose(ga, gb, rtol=2e-5, atol=2e-6, err_msg=f"call {k}")
    for k, (a, b) in enumerate(zip(params_a, params_e)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"parameter {k}")


def test_switch_happens_at_the_counted_call(monkeypatch, no_capture):
    monkeypatch.setattr(ac, "MIN_CALLS", 2)
    cell = _make(_lstm_cell, 0)
    x, states = _rng_arrays(0, (2, 5))[0], _rng_arrays(1, (2, 8), (2, 8))
    with autograd.record():
        cell(x, states)            # the first call counts its ops
    ops = cell.__dict__["_tg_tier"].ops
    assert ops >= 10, ops          # (an LSTMCell runs ~17 ops)
    monkeypatch.setattr(ac, "OPS_BUDGET", 4 * ops)
    native = []
    for _ in range(8):
        with autograd.record():
            cell(x, states)
        jf = cell.__dict__.get("_tg_jit")
        native.append(0 if jf is None else jf.counts["native"])
    # calls 2..5 run 4 * ops: the block is warm; calls 6, 7 run the signature's ops * 4 / 4
    # over MIN_CALLS = 2 calls: the 7th is the first compiled one
    assert native == [0, 0, 0, 0, 0, 1, 2, 3]


def test_another_signature_is_counted_on_its_own(small_budget):
    dense = _make(lambda: nn.Dense(3, in_units=4), 0)
    for _ in range(5):
        dense(nd.ones((2, 4)))
    jf = dense.__dict__["_tg_jit"]
    native = jf.counts["native"]
    out = dense(nd.ones((5, 4)))       # a new batch size: eager, counted
    assert jf.counts["native"] == native
    ref = nd.dot(nd.ones((5, 4)), dense.weight.data(), transpose_b=True) + dense.bias.data()
    np.testing.assert_allclose(out.asnumpy(), ref.asnumpy(), rtol=1e-6)
    for _ in range(4):
        dense(nd.ones((5, 4)))
    assert jf.counts["native"] > native


def test_parameters_set_after_the_switch_are_read(small_budget):
    dense = _make(lambda: nn.Dense(3, in_units=4), 0)
    x = nd.array(np.arange(8, dtype=np.float32).reshape(2, 4))
    for _ in range(5):
        dense(x)
    assert dense.__dict__["_tg_jit"].counts["native"] >= 1
    dense.weight.set_data(nd.ones((3, 4)) * 2)
    dense.bias.set_data(nd.ones((3,)))
    np.testing.assert_allclose(dense(x).asnumpy(), x.asnumpy().sum(1, keepdims=True) * 2 + 1
                               + np.zeros((2, 3)))


def test_float64_gradients_against_finite_differences(small_budget):
    cell = _make(_lstm_cell, 1)
    cell.cast("float64")
    x, h, c = _rng_arrays(5, (2, 5), (2, 8), (2, 8), dtype=np.float64)
    x.attach_grad()
    for _ in range(5):      # hot
        with autograd.record():
            cell(x, [h, c])
    w = cell.h2h_weight
    with autograd.record():
        out, (h2, c2) = cell(x, [h, c])
        loss = (out * out).sum() + (c2 * nd.sin(c2)).sum()
    loss.backward()
    assert cell.__dict__["_tg_jit"].counts["native"] >= 2
    gx, gw = x.grad.asnumpy(), w.grad().asnumpy()
    assert gx.dtype == gw.dtype == np.float64

    def f():
        out, (_, c2) = cell(x, [h, c])
        return float(((out * out).sum() + (c2 * nd.sin(c2)).sum()).asscalar())
    eps = 1e-6
    for arr, grad, idx in ((x, gx, (1, 3)), (w.data(), gw, (5, 2)), (w.data(), gw, (30, 7))):
        data = arr.asnumpy()
        base = data[idx]
        data[idx] = base + eps
        arr[:] = data
        up = f()
        data[idx] = base - eps
        arr[:] = data
        down = f()
        data[idx] = base
        arr[:] = data
        assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-6 * max(1.0, abs(grad[idx]))


def test_higher_order_gradient_through_a_compiled_layer(small_budget):
    grads = []
    for keep_eager in (True, False):
        dense = _make(lambda: nn.Dense(1, in_units=3), 2)
        if keep_eager:
            dense.hybridize(active=False)
        x = nd.array([[1.0, 2.0, 3.0]])
        for _ in range(4):
            with autograd.record():
                dense(x)
        x.attach_grad()
        with autograd.record():
            y = nd.tanh(dense(x)).sum()
            g = autograd.grad(y, [x], create_graph=True)[0]
            z = (g * g).sum()
        z.backward()
        grads.append((g.asnumpy(), dense.weight.grad().asnumpy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-6)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-9)


class _MyDense(nn.Dense):
    def hybrid_forward(self, F, x, weight, bias=None):
        self.calls = getattr(self, "calls", 0) + 1      # Python that must run every call
        return super().hybrid_forward(F, x, weight, bias)


def test_blocks_that_stay_eager(small_budget):
    x = nd.ones((2, 4))
    mine = _make(lambda: _MyDense(3, in_units=4), 0)        # a user's subclass
    hooked = _make(lambda: nn.Dense(3, in_units=4), 0)      # a block with a hook
    seen = []
    hooked.register_forward_hook(lambda b, i, o: seen.append(1))
    kept = _make(lambda: nn.Dense(3, in_units=4), 0)
    kept.hybridize(active=False)
    for _ in range(6):
        for b in (mine, hooked, kept):
            b(x)
    assert mine.calls == 6 and len(seen) == 6
    for b in (mine, hooked, kept):
        assert "_tg_jit" not in b.__dict__, type(b)


def test_a_container_of_user_blocks_compiles_its_layers_only(small_budget):
    net = nn.HybridSequential()
    net.add(_MyDense(3, in_units=4), nn.Dense(2, in_units=3))
    net.initialize()
    for _ in range(6):
        net(nd.ones((2, 4)))
    assert net[0].calls == 6
    assert "_tg_jit" not in net.__dict__ and "_tg_jit" not in net[0].__dict__
    assert net[1].__dict__["_tg_jit"].counts["native"] >= 1


def test_a_structure_change_starts_counting_over(small_budget):
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=4))
    net.initialize()
    x = nd.ones((2, 4))
    for _ in range(5):
        net(x)
    assert net.__dict__["_tg_jit"].counts["native"] >= 1
    net.add(nn.Dense(2, in_units=3))
    net[1].initialize()
    out = net(x)                 # eager again, with the new layer
    assert out.shape == (2, 2)
    ref = net[1](net[0](x))
    np.testing.assert_allclose(out.asnumpy(), ref.asnumpy(), rtol=1e-6)


def test_off_switch_and_traces(small_budget):
    prev = mx.auto_compile(False)
    assert prev is True
    try:
        dense = _make(lambda: nn.Dense(3, in_units=4), 0)
        for _ in range(6):
            dense(nd.ones((2, 4)))
        assert "_tg_jit" not in dense.__dict__
    finally:
        mx.auto_compile(True)
    inner = _make(lambda: nn.Dense(3, in_units=4), 0)
    f = mx.jit(lambda x: inner(x) * 2)      # inside a trace: inlined, never compiled alone
    for _ in range(6):
        f(nd.ones((2, 4)))
    assert "_tg_jit" not in inner.__dict__


def test_a_bad_input_after_the_switch_names_the_layer(small_budget):
    dense = _make(lambda: nn.Dense(3, in_units=4), 0)
    for _ in range(5):
        dense(nd.ones((2, 4)))
    with pytest.raises(mx.MXNetError, match="dense"):
        dense(nd.ones((2, 5)))


@pytest.mark.parametrize("recording", [True, False])
def test_attributes_set_after_the_switch_take_effect(small_budget, recording):
    """Eager code reads a layer's attributes at every call: so does the compiled one (a
    hybridized block's graph is fixed, as in MXNet; an eager one's is not)."""
    import contextlib
    scope = autograd.record if recording else contextlib.nullcontext
    dense = nn.Dense(2, in_units=3, activation="relu")
    dense.initialize(mx.init.Constant(-1.0))
    drop = nn.Dropout(0.5)
    x = nd.ones((1, 3))
    for _ in range(6):
        with scope():
            dense(x)
            drop(nd.ones((1, 8)))
    assert dense.__dict__["_tg_jit"].counts["native"] >= 2
    np.testing.assert_allclose(dense(x).asnumpy(), 0.0)
    dense.act._act_type = "tanh"        # a child's attribute
    with scope():
        np.testing.assert_allclose(dense(x).asnumpy(), np.tanh(-3.0) + np.zeros((1, 2)),
                                   rtol=1e-6)
    drop._rate = 0.0
    with autograd.record():
        np.testing.assert_allclose(drop(nd.ones((1, 8))).asnumpy(), 1.0)
    for _ in range(6):                  # hot again, with the new attributes
        with scope():
            out = dense(x)
    np.testing.assert_allclose(out.asnumpy(), np.tanh(-3.0) + np.zeros((1, 2)), rtol=1e-6)
    assert dense.__dict__["_tg_jit"].counts["native"] >= 2


def test_other_blocks_made_meanwhile_keep_a_hot_layer_compiled(small_budget):
    """A block built elsewhere (a loss made each step) moves the global structure version:
    a hot layer whose own blocks and parameters did not change stays compiled."""
    dense = _make(lambda: nn.Dense(3, in_units=4), 0)
    x = nd.ones((2, 4))
    for _ in range(5):
        dense(x)
    jf = dense.__dict__["_tg_jit"]
    native = jf.counts["native"]
    for _ in range(3):
        nn.Dense(2, in_units=2).initialize()      # (its parameters bump the version)
        dense(x)
    assert dense.__dict__["_tg_jit"] is jf and jf.counts["native"] == native + 3
