"""Behaviours MXNet 1.9.1's tests/python/unittest/test_gluon.py asserts, written as small
programs: parameter sharing through a parent's params=, deduplicated saves, the deprecated
save_params/load_params format read by a SymbolBlock, initializer equality, the module
paths programs import."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon import nn


class Net(gluon.Block):
    def __init__(self, in_units=0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense0 = nn.Dense(5, in_units=in_units)
            self.dense1 = nn.Dense(5, in_units=in_units)

    def forward(self, x):
        return self.dense1(self.dense0(x))


def test_children_of_a_block_built_with_params_share_the_parameters(tmp_path):
    net1 = Net(prefix="net1_", in_units=5)
    net2 = Net(prefix="net2_", params=net1.collect_params())
    assert net2.dense0.prefix == "net2_dense0_"
    assert net2.dense0.weight is net1.dense0.weight
    assert list(net2.collect_params().keys()) == list(net1.collect_params().keys())
    net1.collect_params().initialize()
    x = nd.random.uniform(shape=(3, 5))
    np.testing.assert_array_equal(net2(x).asnumpy(), net1(x).asnumpy())
    net1.save_parameters(str(tmp_path / "net1.params"))
    net3 = Net(prefix="net3_")
    net3.load_parameters(str(tmp_path / "net1.params"), mx.cpu())
    np.testing.assert_array_equal(net3(x).asnumpy(), net1(x).asnumpy())


def test_deduplicated_save_loads_into_shared_parameters(tmp_path):
    class B(gluon.Block):
        def __init__(self, params=None):
            super().__init__(params=params)
            with self.name_scope():
                self.weight = self.params.get("weight", shape=(10, 10))

    class C(gluon.Block):
        def __init__(self, b1, b2):
            super().__init__()
            self.b1, self.b2 = b1, b2

    b1 = B()
    c = C(b1, B(b1.collect_params()))
    c.initialize()
    path = str(tmp_path / "dedup.params")
    c.save_parameters(path, deduplicate=True)
    assert len(nd.load(path)) == 1
    b1 = B()
    c2 = C(b1, B(b1.collect_params()))
    c2.load_parameters(path)
    np.testing.assert_array_equal(c2.b2.weight.data().asnumpy(), c.b1.weight.data().asnumpy())
    c.save_parameters(str(tmp_path / "all.params"))
    assert len(nd.load(str(tmp_path / "all.params"))) == 2


def test_legacy_save_params_loads_into_a_symbol_block(tmp_path):
    net = nn.HybridSequential(prefix="")
    with net.name_scope():
        net.add(nn.Conv2D(10, (3, 3)), nn.Dense(50))
    net.initialize()
    x = nd.random.uniform(shape=(1, 1, 12, 12))
    want = net(x).asnumpy()
    net(mx.sym.var("data")).save(str(tmp_path / "test.json"))
    with pytest.warns(UserWarning, match="save_params is deprecated"):
        net.save_params(str(tmp_path / "test.params"))
    model = gluon.nn.SymbolBlock(outputs=mx.sym.load_json(open(tmp_path / "test.json").read()),
                                 inputs=mx.sym.var("data"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.load_params(str(tmp_path / "test.params"), ctx=mx.cpu())
    np.testing.assert_allclose(model(x).asnumpy(), want, rtol=1e-5, atol=1e-6)
    # a prefixed block: save_params strips the prefix, load_parameters restores it
    mlp = nn.HybridSequential(prefix="mlp_")
    with mlp.name_scope():
        mlp.add(nn.Dense(3, in_units=2))
    mlp.initialize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.save_params(str(tmp_path / "mlp.params"))
    assert sorted(nd.load(str(tmp_path / "mlp.params"))) == ["dense0_bias", "dense0_weight"]
    again = nn.HybridSequential(prefix="mlp_")
    with again.name_scope():
        again.add(nn.Dense(3, in_units=2))
    again.load_parameters(str(tmp_path / "mlp.params"))
    np.testing.assert_array_equal(again[0].weight.data().asnumpy(),
                                  mlp[0].weight.data().asnumpy())


def test_shared_parameters_keep_a_non_default_initializer():
    class MyBlock(gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.param = self.params.get("param", shape=(1,), init=mx.init.Constant(-10.0))

    bl = MyBlock()
    bl2 = MyBlock(params=bl.collect_params())
    bl3 = MyBlock()
    assert bl.param is bl2.param and bl.param is not bl3.param
    assert bl.param.init == bl3.param.init
    assert mx.init.Constant(1.0) != mx.init.Constant(2.0) and mx.init.Xavier() != mx.init.One()
    bl2.initialize()
    np.testing.assert_array_equal(bl.param.data().asnumpy(), [-10.0])


def test_module_paths_and_base_helpers():
    import tracegrad.numpy as mx_np
    from tracegrad.base import py_str
    assert mx_np is mx.np and py_str(b"abc") == "abc" and py_str("x") == "x"


def test_attribute_type_changes_and_sequential_hybridize_warning():
    b = gluon.Block()
    b.b = gluon.Block()
    with pytest.raises(TypeError, match="Changing attribute type"):
        b.b = (2,)
    b.p = gluon.Parameter("p", shape=(1,))
    with pytest.raises(TypeError, match="Changing attribute type"):
        b.p = 3
    b.a = None          # regular attributes may change type
    b.a = 1
    c2 = gluon.Block()
    b.b = c2
    assert b.b is c2 and list(b._children.values())[0] is c2
    seq = nn.Sequential()
    seq.add(nn.Dense(20))
    with pytest.warns(UserWarning, match="Consider using HybridSequential"):
        seq.hybridize()


def test_hybrid_block_with_none_first_input():
    class Foo(gluon.HybridBlock):
        def hybrid_forward(self, F, a, b):
            if a is None:
                return b * 2
            return a + b

    eager, compiled = Foo(), Foo()
    compiled.hybridize()
    x = nd.array([1.0, 2.0])
    for args in [(None, x), (x, x)]:
        np.testing.assert_array_equal(compiled(*args).asnumpy(), eager(*args).asnumpy())
        # MXNet 1.9.1 (_call_cached_op): the hybridized block keeps its first call's input
        # structure until hybridize() builds it again; the eager one takes any
        with pytest.raises(ValueError, match="does not match the cached version"):
            compiled(*((x, x) if args[0] is None else (None, x)))
        compiled.hybridize()
    np.testing.assert_array_equal(eager(None, x).asnumpy(), [2.0, 4.0])
