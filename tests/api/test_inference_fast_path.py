"""The inference fast path of a hybridized block (tracing/serving.py): a call outside record()
goes straight to the compiled leaf its last such call reached, and takes the usual path
whenever that leaf is not the one the usual path would pick (input shape, dtype or rank,
parameters replaced or cast, training mode, recording, re-hybridizing, a child added, data-
dependent control flow). Every result is checked against a float64 numpy reference or the
same block run eagerly."""

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn
from tracegrad.tracing import jit as _jit


@pytest.fixture
def usual_calls(monkeypatch):
    """How many calls took the usual path (JitFunction._signature) so far."""
    count = [0]
    real = _jit.JitFunction._signature

    def counting(self, *a):
        count[0] += 1
        return real(self, *a)
    monkeypatch.setattr(_jit.JitFunction, "_signature", counting)
    return count


def _mlp(seed=0, in_units=6):
    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(nn.Dense(8, activation="relu", in_units=in_units),
            nn.Dense(8, activation="relu", in_units=8), nn.Dense(3, in_units=8))
    net.initialize()
    return net


def _reference(net, x):
    """The MLP in float64 numpy from its current parameters."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    layers = list(net._children.values())
    for i, layer in enumerate(layers):
        w = layer.weight.data().asnumpy().astype(np.float64)
        b = layer.bias.data().asnumpy().astype(np.float64)
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def _x(batch=1, in_units=6, seed=3, dtype=np.float32):
    return np.random.RandomState(seed).randn(batch, in_units).astype(dtype)


def _check(net, x, rtol=1e-5):
    out = net(nd.array(x, dtype=x.dtype))
    np.testing.assert_allclose(out.asnumpy(), _reference(net, x), rtol=rtol, atol=1e-6)
    return out


def test_repeated_calls_take_the_fast_path_and_match_the_reference(usual_calls):
    net = _mlp()
    net.hybridize()
    x = _x()
    _check(net, x)
    assert usual_calls[0] == 1 and net.__dict__.get("_tg_serve") is not None
    mx.stats(reset=True)
    for _ in range(5):
        _check(net, x)
    s = mx.stats()
    assert usual_calls[0] == 1          # no signature built: the fast path ran each time
    assert s["native_calls"] == 5 and s["traces"] == 0 and s["cache_hits"] == 5
    jf = net._tg_jit
    assert jf.counts["calls"] == 6 and jf.counts["native"] == 6 and jf.counts["traces"] == 1
    assert "signature 0" in net.explain()


def test_input_shape_dtype_and_rank_changes_take_the_usual_path(usual_calls):
    net = _mlp()
    net.hybridize()
    _check(net, _x(1))
    _check(net, _x(1))
    assert usual_calls[0] == 1
    _check(net, _x(4))                  # batch 4: a new signature
    assert usual_calls[0] == 2
    _check(net, _x(4))
    assert usual_calls[0] == 2          # the fast path follows the new signature
    _check(net, _x(1))
    assert usual_calls[0] == 3
    # the same size in another rank: Dense flattens, the compiled leaf is another one
    x3 = _x(1).reshape(1, 2, 3)
    out = net(nd.array(x3))
    assert usual_calls[0] == 4
    np.testing.assert_allclose(out.asnumpy(), _reference(net, x3), rtol=1e-5, atol=1e-6)
    # float64 input and float64 parameters (cast replaces each parameter's buffer)
    net.cast("float64")
    x64 = _x(1, dtype=np.float64)
    out = _check(net, x64, rtol=1e-12)
    assert out.dtype == np.float64
    out = _check(net, x64, rtol=1e-12)
    assert out.dtype == np.float64
    net.cast("float32")
    _check(net, _x(1))
    assert net._tg_jit.counts["traces"] == 4   # (1,6), (4,6), (1,2,3), float64


def test_input_dtype_alone_changes_like_eager():
    eager, net = _mlp(), _mlp()
    net.hybridize()
    x = _x(1)
    net(nd.array(x))
    net(nd.array(x))
    x64 = nd.array(x.astype(np.float64), dtype=np.float64)
    got, want = net(x64), eager(x64)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6)


def test_non_contiguous_input_is_converted_by_the_usual_path():
    net = _mlp()
    net.hybridize()
    _check(net, _x(1))
    wide = np.asfortranarray(_x(3))                  # column-major: not C-contiguous
    a = nd.array(_x(3))
    a._data = wide
    out = net(a)
    np.testing.assert_allclose(out.asnumpy(), _reference(net, wide), rtol=1e-5, atol=1e-6)


def test_replaced_parameters_are_read_afresh(tmp_path, usual_calls):
    other = _mlp(seed=5)      # (made first: a new block bumps the structure version)
    net = _mlp()
    net.hybridize()
    x = _x()
    _check(net, x)
    rs = np.random.RandomState(7)
    for p in net.collect_params().values():          # set_data: new values, same buffers
        p.set_data(rs.randn(*p.shape).astype(np.float32))
    _check(net, x)
    before = usual_calls[0]
    net.collect_params().initialize(mx.init.Normal(0.5), force_reinit=True)
    _check(net, x)
    path = str(tmp_path / "mlp.params")
    other.save_parameters(path)
    net.load_parameters(path)
    _check(net, x)
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), other(nd.array(x)).asnumpy(),
                               rtol=1e-6)
    p = net[0].weight                                 # the buffer itself replaced
    p._data._data = np.ascontiguousarray(rs.randn(*p.shape).astype(np.float32))
    _check(net, x)
    assert usual_calls[0] == before                   # all of it on the fast path
    assert net._tg_jit.counts["traces"] == 1


def test_trainer_updates_are_seen_by_the_next_inference_call():
    net = _mlp()
    net.hybridize()
    x, y = _x(1), nd.array([1.0])
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(4):
        _check(net, x)
        with autograd.record():
            loss = loss_fn(net(nd.array(x)), y)
        loss.backward()
        trainer.step(1)
    _check(net, x)


class _Dropped(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(64, in_units=6)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.dense(x))


def test_training_mode_outside_record_is_not_served_by_the_predict_leaf():
    mx.random.seed(1)
    net = _Dropped()
    net.initialize()
    net.hybridize()
    x = nd.array(_x(1))
    plain = x.asnumpy() @ net.dense.weight.data().asnumpy().T + net.dense.bias.data().asnumpy()
    for _ in range(2):
        np.testing.assert_allclose(net(x).asnumpy(), plain, rtol=1e-5, atol=1e-6)
    with autograd.train_mode():
        out = net(x).asnumpy()
    dropped = out == 0
    assert dropped.any() and not dropped.all()
    np.testing.assert_allclose(out[~dropped], 2 * plain[~dropped], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net(x).asnumpy(), plain, rtol=1e-5, atol=1e-6)


def test_batchnorm_in_training_mode_updates_its_statistics_like_eager():
    def make():
        mx.random.seed(2)
        net = nn.HybridSequential()
        net.add(nn.Dense(5, in_units=6), nn.BatchNorm(in_channels=5))
        net.initialize()
        return net
    eager, net = make(), make()
    net.hybridize()
    x = nd.array(_x(4))
    for mode in ["predict", "predict", "train", "train", "predict"]:
        if mode == "train":
            with autograd.train_mode():
                got, want = net(x), eager(x)
        else:
            got, want = net(x), eager(x)
        np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net[1].running_mean.data().asnumpy(),
                               eager[1].running_mean.data().asnumpy(), rtol=1e-5, atol=1e-6)


def test_recording_takes_the_usual_path_and_gradients_are_right():
    eager, net = _mlp(), _mlp()
    net.hybridize()
    x = _x(1)
    _check(net, x)
    _check(net, x)
    for model in (eager, net):
        with autograd.record():
            out = model(nd.array(x))
        out.backward()
    for pe, ph in zip(eager.collect_params().values(), net.collect_params().values()):
        np.testing.assert_allclose(ph.grad().asnumpy(), pe.grad().asnumpy(), rtol=1e-5,
                                   atol=1e-6)
    assert out._value is not None                     # recorded
    assert net(nd.array(x))._value is None            # and the next inference call is not
    with autograd.record(train_mode=False):           # recording in predict mode
        out = net(nd.array(x))
    assert out._value is not None
    np.testing.assert_allclose(out.asnumpy(), _reference(net, x), rtol=1e-5, atol=1e-6)
    net[0].weight.grad_req = "null"
    with autograd.record():
        out = net(nd.array(x))
    out.backward()
    _check(net, x)


def test_rehybridize_and_added_child_rebuild(usual_calls):
    net = _mlp()
    net.hybridize()
    x = _x()
    _check(net, x)
    _check(net, x)
    jf = net._tg_jit
    net.hybridize(static_alloc=True)                  # drops what was compiled
    assert net.__dict__.get("_tg_serve") is None
    _check(net, x)
    assert net._tg_jit is not jf
    net.hybridize(active=False)
    calls = usual_calls[0]
    _check(net, x)
    assert usual_calls[0] == calls                    # eager: no JitFunction at all
    net.hybridize()
    _check(net, x)
    _check(net, x)
    net.add(nn.Dense(2, in_units=3))                  # a child added: structure changed
    net[3].initialize()
    out = net(nd.array(x))
    w, b = net[3].weight.data().asnumpy(), net[3].bias.data().asnumpy()
    h = _reference(_first_layers(net, 3), x)
    np.testing.assert_allclose(out.asnumpy(), h @ w.T + b, rtol=1e-5, atol=1e-6)
    assert out.shape == (1, 2)
    out2 = net(nd.array(x))
    np.testing.assert_allclose(out2.asnumpy(), out.asnumpy(), rtol=1e-6)


def _first_layers(net, n):
    """A view of the first n layers of net (sharing their parameters) for _reference."""
    class Prefix:
        _children = {k: c for i, (k, c) in enumerate(net._children.items()) if i < n}
    return Prefix


def test_replaced_child_layer_is_used():
    net = _mlp()
    net.hybridize()
    x = _x()
    _check(net, x)
    _check(net, x)
    mx.random.seed(9)
    fresh = nn.Dense(3, in_units=8)
    fresh.initialize()
    net._children["2"] = fresh
    _check(net, x)


class _Branchy(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(4, in_units=6)

    def forward(self, x):
        h = self.dense(x)
        if h.sum() > 0:           # data-dependent control flow: a guard
            return h * 2
        return h - 1


def test_data_dependent_control_flow_follows_each_call():
    mx.random.seed(4)
    net = _Branchy()
    net.initialize()
    net.hybridize()
    w, b = net.dense.weight.data().asnumpy(), net.dense.bias.data().asnumpy()
    xs = [_x(1, seed=s) for s in range(8)]
    for x in xs + xs:
        h = x @ w.T + b
        want = h * 2 if h.sum() > 0 else h - 1
        np.testing.assert_allclose(net(nd.array(x)).asnumpy(), want, rtol=1e-5, atol=1e-6)
    assert net.__dict__.get("_tg_serve") is None


class _TwoInTwoOut(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.a = nn.Dense(3, in_units=4)
        self.b = nn.Dense(3, in_units=5)

    def forward(self, x, y):
        return self.b(y) + 1, (self.a(x), x * 2)


def test_two_inputs_and_nested_outputs(usual_calls):
    mx.random.seed(6)
    net = _TwoInTwoOut()
    net.initialize()
    net.hybridize()
    rs = np.random.RandomState(0)
    for k in range(4):
        x, y = rs.randn(2, 4).astype(np.float32), rs.randn(2, 5).astype(np.float32)
        s, (ax, x2) = net(nd.array(x), nd.array(y))
        np.testing.assert_allclose(
            s.asnumpy(), y @ net.b.weight.data().asnumpy().T + net.b.bias.data().asnumpy() + 1,
            rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            ax.asnumpy(), x @ net.a.weight.data().asnumpy().T + net.a.bias.data().asnumpy(),
            rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(x2.asnumpy(), x * 2)
    assert usual_calls[0] == 1
    with pytest.raises(mx.base.MXNetError):           # one input too few, as before
        net(nd.array(x))


def test_deferred_initialization_then_fast_path(usual_calls):
    mx.random.seed(8)
    net = nn.HybridSequential()
    net.add(nn.Dense(5, activation="relu"), nn.Dense(2))
    net.initialize()
    net.hybridize()
    x = _x(1)
    for _ in range(3):
        _check(net, x)
    assert net._tg_jit.counts["traces"] == 1


def test_concurrent_calls_from_threads_agree(in_threads):
    net = _mlp()
    net.hybridize()
    xs = [_x(1, seed=s) for s in range(4)]
    want = [_reference(net, x) for x in xs]
    net(nd.array(xs[0]))
    errors = []

    def work(k):
        x, ref = nd.array(xs[k]), want[k]
        for _ in range(200):
            got = net(x).asnumpy()
            if not np.allclose(got, ref, rtol=1e-5, atol=1e-6):
                errors.append((k, got, ref))
                return
    in_threads(work, 4)
    assert not errors
