"""Parameters, naming, initialization, deferred shapes, save/load and export/imports."""
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import DeferredInitializationError, MXNetError
from tracegrad.gluon import nn


def _mlp():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(4, activation="relu"), nn.BatchNorm(), nn.Dense(2))
    return net


def test_names_and_counters():
    a, b = nn.Dense(2), nn.Dense(2)
    ia, ib = int(a.name[5:]), int(b.name[5:])
    assert a.name.startswith("dense") and ib == ia + 1
    assert a.weight.name == f"{a.name}_weight" and a.bias.name == f"{a.name}_bias"
    net = nn.HybridSequential(prefix="model_")
    with net.name_scope():
        net.add(nn.Dense(3), nn.Dense(1))
    assert list(net.collect_params()) == ["model_dense0_weight", "model_dense0_bias",
                                          "model_dense1_weight", "model_dense1_bias"]
    assert list(net.collect_params(".*weight")) == ["model_dense0_weight",
                                                    "model_dense1_weight"]


def test_sequential_indexing():
    net = nn.HybridSequential()
    layers = [nn.Dense(3), nn.Activation("relu"), nn.Dense(1)]
    net.add(*layers)
    assert len(net) == 3 and net[0] is layers[0] and net[-1] is layers[2]
    head = net[:2]
    assert type(head) is nn.HybridSequential and len(head) == 2 and head[1] is layers[1]
    seq = nn.Sequential()
    seq.add(nn.Dense(2), nn.Dense(2))
    assert type(seq[1:]) is nn.Sequential


def test_deferred_init_and_errors():
    net = nn.Dense(3)
    with pytest.raises(MXNetError, match="not been initialized. Call initialize"):
        net.weight.data()
    net.initialize()
    assert net.weight.shape == (3, 0)
    with pytest.raises(DeferredInitializationError, match="first forward"):
        net.weight.data()
    y = net(nd.ones((2, 5)))
    assert y.shape == (2, 3) and net.weight.shape == (3, 5)
    w = net.weight.data().asnumpy()
    assert np.all(np.abs(w) <= 0.07) and w.std() > 0.01  # MXNet default: Uniform(0.07)
    np.testing.assert_array_equal(net.bias.data().asnumpy(), 0)
    with pytest.raises(MXNetError, match=r"dense\d+ \(Dense\).*\(2, 4\).*4 features.*in_units=5"):
        net(nd.ones((2, 4)))


def test_grad_req_and_constants():
    p = gluon.Parameter("w", shape=(2, 2))
    p.initialize(mx.init.One())
    with pytest.raises(ValueError, match="grad_req must be one of"):
        p.grad_req = "sometimes"
    p.grad_req = "null"
    assert p.data()._var is None and p.data()._value is None
    with pytest.raises(RuntimeError, match="grad_req='null'"):
        p.grad()
    p.grad_req = "write"
    x = nd.ones((2, 2))
    with autograd.record():
        y = nd.dot(x, p.data()).sum()
    y.backward()
    np.testing.assert_array_equal(p.grad().asnumpy(), 2)
    params = gluon.ParameterDict("blk_")
    c = params.get_constant("c", [[1.0, 2.0]])
    c.initialize()
    assert c.name == "blk_c" and c.grad_req == "null" and c.data().dtype == np.float32
    with pytest.warns(UserWarning, match="only supports grad_req='null'"):
        c.grad_req = "write"
    assert c.grad_req == "null"
    np.testing.assert_array_equal(c.data().asnumpy(), [[1, 2]])


def test_grad_req_add_accumulates_and_zero_grad():
    net = nn.Dense(2, in_units=3)
    net.initialize()
    net.collect_params().setattr("grad_req", "add")
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    for _ in range(2):
        with autograd.record():
            y = net(x)
        y.backward()
    np.testing.assert_allclose(net.weight.grad().asnumpy(), 2 * np.tile(x.asnumpy().sum(0),
                                                                         (2, 1)))
    np.testing.assert_allclose(net.bias.grad().asnumpy(), [4, 4])
    net.collect_params().zero_grad()
    assert not net.weight.grad().asnumpy().any()


def test_initializers_are_seeded_and_shaped():
    shapes = {"w": (64, 32)}
    vals = {}
    for name, init in [("uniform", mx.init.Uniform(0.5)), ("normal", mx.init.Normal(2.0)),
                       ("xavier", mx.init.Xavier()), ("msra", mx.init.MSRAPrelu()),
                       ("const", mx.init.Constant(3.0))]:
        runs = []
        for _ in range(2):
            mx.random.seed(11)
            p = gluon.Parameter("w_weight", shape=shapes["w"], init=init)
            p.initialize()
            runs.append(p.data().asnumpy())
        np.testing.assert_array_equal(runs[0], runs[1])
        vals[name] = runs[0]
    assert np.abs(vals["uniform"]).max() <= 0.5 and vals["uniform"].std() > 0.25
    assert abs(vals["normal"].std() - 2.0) < 0.1
    bound = np.sqrt(3.0 / 48)
    assert np.abs(vals["xavier"]).max() <= bound and vals["xavier"].std() > bound / 2
    assert abs(vals["msra"].std() - np.sqrt(2.0 / 1.0625 / 48)) < 0.02
    assert np.all(vals["const"] == 3.0)
    net = nn.Dense(4, in_units=2)
    net.initialize(mx.init.Zero())
    net.initialize(mx.init.One(), force_reinit=True)
    assert np.all(net.weight.data().asnumpy() == 1) and np.all(net.bias.data().asnumpy() == 0)


def test_save_load_round_trip(tmp_path, rng):
    net = _mlp()
    net.initialize(mx.init.Xavier())
    x = nd.array(rng.standard_normal((3, 5)), dtype="float32")
    with autograd.record():
        net(x)  # also moves BatchNorm's running stats
    y = net(x).asnumpy()
    path = str(tmp_path / "net.params")
    net.save_parameters(path)
    keys = set(np.load(path, allow_pickle=False).keys())
    assert keys == {"0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean",
                    "1.running_var", "2.weight", "2.bias"}
    other = _mlp()
    other.load_parameters(path)
    np.testing.assert_allclose(other(x).asnumpy(), y, rtol=1e-6)
    ptr = other[0].weight.data()._data
    other.load_parameters(path)
    assert other[0].weight.data()._data is ptr  # in place: cached pointers stay valid
    small = nn.HybridSequential()
    small.add(nn.Dense(4), nn.BatchNorm())
    with pytest.raises(MXNetError, match=r"\['2.weight', '2.bias'\] that the model does not"):
        small.load_parameters(path)
    small.load_parameters(path, ignore_extra=True)
    big = _mlp()
    big.add(nn.Dense(1))
    with pytest.raises(MXNetError, match=r"\['3.weight', '3.bias'\] are missing"):
        big.load_parameters(path)
    wrong = nn.HybridSequential()
    wrong.add(nn.Dense(7, in_units=5))
    with pytest.raises(MXNetError, match=r"'0.weight' has shape \(7, 5\) in the model but "
                                         r"\(4, 5\) in the file"):
        wrong.load_parameters(path, ignore_extra=True)
    pd_path = str(tmp_path / "pd.params")
    net.collect_params().save(pd_path, strip_prefix=net.prefix)
    again = _mlp()
    again.collect_params().load(pd_path, restore_prefix=again.prefix)
    np.testing.assert_allclose(again(x).asnumpy(), y, rtol=1e-6)


def test_export_imports_round_trip(tmp_path, rng):
    net = _mlp()
    net.initialize(mx.init.Xavier())
    x = nd.array(rng.standard_normal((3, 5)), dtype="float32")
    with pytest.raises(MXNetError, match="hybridize"):
        net.export(str(tmp_path / "m"))
    net.hybridize()
    y = net(x).asnumpy()
    sym, params = net.export(str(tmp_path / "m"), epoch=2)
    assert params.endswith("m-0002.params")
    meta = json.load(open(sym))
    # MXNet's JSON, MXNet's graph: the input has no fixed shape (any batch size loads)
    data = [n for n in meta["nodes"] if n["name"] == "data"][0]
    assert data["op"] == "null" and "__shape__" not in data.get("attrs", {})
    assert {n["op"] for n in meta["nodes"]} >= {"FullyConnected"}
    block = gluon.SymbolBlock.imports(sym, ["data"], params)
    np.testing.assert_allclose(block(x).asnumpy(), y, rtol=1e-6)
    x7 = nd.array(rng.standard_normal((7, 5)), dtype="float32")
    np.testing.assert_allclose(block(x7).asnumpy(), net(x7).asnumpy(), rtol=1e-6)
    with autograd.record(train_mode=False):  # the exported graph is the inference one
        loss = (block(x) ** 2).sum()
    loss.backward()
    with autograd.record(train_mode=False):
        ref = (net(x) ** 2).sum()
    ref.backward()
    w = f"{net[0].name}_weight"
    np.testing.assert_allclose(block.collect_params()[w].grad().asnumpy(),
                               net[0].weight.grad().asnumpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(MXNetError, match=r"\(2, 6\)"):    # 6 features where 5 are expected
        block(nd.ones((2, 6)))
    with pytest.raises(MXNetError, match="not a tracegrad symbol file"):
        open(tmp_path / "bad.json", "w").write("{}")
        gluon.SymbolBlock.imports(str(tmp_path / "bad.json"), ["data"])


def test_hybrid_forward_styles_and_optional_args(rng):
    class Old(gluon.HybridBlock):
        def __init__(self, **kw):
            super().__init__(**kw)
            with self.name_scope():
                self.scale = self.params.get("scale", shape=(3,), init=mx.init.Constant(2.0))

        def hybrid_forward(self, F, x, mask=None, scale=None):
            y = F.broadcast_mul(x, scale)
            return y if mask is None else y * mask

    class New(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.scale = gluon.Parameter("scale", shape=(3,), init=mx.init.Constant(2.0))

        def forward(self, x, mask=None):
            y = x * self.scale.data()
            return y if mask is None else y * mask

    x, m = nd.array(rng.standard_normal((2, 3))), nd.array([[1, 0, 1], [0, 1, 1]])
    for block in (Old(), New()):
        block.initialize()
        assert list(block.collect_params()) == [block.prefix + "scale"]
        for hybrid in (False, True):
            block.hybridize(hybrid)
            np.testing.assert_allclose(block(x).asnumpy(), 2 * x.asnumpy(), rtol=1e-6)
            if hybrid:
                # MXNet 1.9.1: a hybridized block keeps its first call's input structure
                # (an optional input left out) until hybridize() builds it again
                with pytest.raises(ValueError, match="does not match the cached version"):
                    block(x, m)
                block.hybridize(hybrid)
            np.testing.assert_allclose(block(x, m).asnumpy(), 2 * x.asnumpy() * m.asnumpy(),
                                       rtol=1e-6)


def test_private_grad_list_follows_grad_req():
    """MXNet programs read Parameter._grad: None before initialize() and for grad_req
    'null', else the list of gradient buffers (the ones backward writes)."""
    dense = gluon.nn.Dense(3, in_units=2)
    assert dense.weight._grad is None
    dense.initialize()
    grads = dense.weight._grad
    assert len(grads) == 1 and grads[0].shape == (3, 2)
    dense.collect_params().setattr("grad_req", "null")
    assert dense.weight._grad is None
    dense.collect_params().setattr("grad_req", "write")
    x = nd.ones((4, 2))
    with autograd.record():
        y = dense(x).sum()
    y.backward()
    np.testing.assert_allclose(dense.weight._grad[0].asnumpy(), np.full((3, 2), 4.0))


@pytest.mark.parametrize("kw", [{"stype": "invalid"}, {"grad_stype": "invalid"}])
def test_an_unknown_storage_type_is_an_assertion_error_as_in_mxnet(kw):
    with pytest.raises(AssertionError, match="stype and grad_stype must be"):
        gluon.Parameter("weight", shape=(10, 10), **kw)
    with pytest.raises(ValueError):
        gluon.Parameter("weight", shape=(10, 10), **kw)
