"""MXNet 1.9.1's gluon / Trainer / Module / Symbol behaviour that its own unit tests
(tests/python/unittest/test_gluon*.py, test_module.py, test_symbol.py) rely on: the
Trainer's kvstore bookkeeping (_kvstore, _update_on_kvstore, _params_to_init, the store's
_updater), a hybridized block's input checks, ..."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _two_context_param(**kwargs):
    x = gluon.Parameter("x", shape=(4,), **kwargs)
    x.initialize(ctx=[mx.cpu(0), mx.cpu(1)], init="zeros")
    return x


def _backward_each(x, scale=1.0):
    with autograd.record():
        for w in x.list_data():
            (w * scale + 1).backward()


# ------------------------------------------------------------------ Trainer and kvstore
def test_trainer_on_two_contexts_updates_on_its_store():
    x = _two_context_param()
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 1.0, "momentum": 0.5})
    assert trainer._params_to_init == [x] and not trainer._kv_initialized
    _backward_each(x)
    trainer.step(1)
    assert trainer._kvstore.type == "device" and trainer._update_on_kvstore is True
    assert trainer._params_to_init == []
    updater = trainer._kvstore._updater
    assert updater.optimizer is trainer._optimizer
    # the store's states are the trainer's: momentum of the summed gradient (2) times lr
    np.testing.assert_allclose(updater.states[0].asnumpy(), np.full(4, -2.0))
    np.testing.assert_allclose(x.data(mx.cpu(1)).asnumpy(), np.full(4, -2.0))
    with pytest.raises(AssertionError, match="update_on_kvstore"):
        trainer.update(1)
    with pytest.raises(AssertionError, match="update_on_kvstore"):
        trainer.allreduce_grads()


def test_trainer_store_updater_follows_lr_mult_after_load_states(tmp_path):
    x = _two_context_param(lr_mult=1.0)
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    _backward_each(x)
    trainer.step(1)
    before = {k: v.asnumpy() for k, v in trainer._kvstore._updater.states.items()}
    trainer.save_states(str(tmp_path / "t.states"))
    _backward_each(x)
    trainer.step(1)
    trainer.load_states(str(tmp_path / "t.states"))
    after = trainer._kvstore._updater.states
    assert set(after) == set(before)
    for k in before:
        np.testing.assert_array_equal(after[k].asnumpy(), before[k])
    assert trainer._kvstore._updater.optimizer._get_lr(0) == pytest.approx(0.1)
    x.lr_mult = 2.0
    assert trainer._kvstore._updater.optimizer._get_lr(0) == pytest.approx(0.2)


def test_trainer_update_on_kvstore_false_and_one_context():
    x = _two_context_param()
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 1.0}, update_on_kvstore=False)
    _backward_each(x, 0.0)
    with autograd.record():
        x.list_data()[1].__mul__(3.0).backward()
    trainer.allreduce_grads()
    assert trainer._update_on_kvstore is False and trainer._kvstore.type == "device"
    np.testing.assert_array_equal(x.grad(mx.cpu(0)).asnumpy(), x.grad(mx.cpu(1)).asnumpy())
    trainer.update(1)
    np.testing.assert_allclose(x.data(mx.cpu(1)).asnumpy(), np.full(4, -3.0))
    # one context, a store named: none is made (MXNet's _create_kvstore)
    y = gluon.Parameter("y", shape=(2,))
    y.initialize(init="zeros")
    t1 = gluon.Trainer([y], "sgd", {"learning_rate": 1.0})
    t1._init_kvstore()
    assert t1._kvstore is None and t1._update_on_kvstore is None


def test_trainer_teststore_cannot_update_on_the_store():
    x = _two_context_param()
    kv = mx.kv.create("teststore")
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 1.0}, kvstore=kv)
    _backward_each(x)
    trainer.step(1)
    assert trainer._update_on_kvstore is False and trainer._kvstore is kv
    np.testing.assert_allclose(x.data(mx.cpu(1)).asnumpy(), np.full(4, -2.0))
    bad = gluon.Trainer([x], "sgd", kvstore=kv, update_on_kvstore=True)
    with pytest.raises(ValueError, match="update_on_kvstore=False"):
        bad._init_kvstore()


def test_trainer_new_parameter_data_drops_the_store(tmp_path):
    params = gluon.ParameterDict()
    x = params.get("x", shape=(3,))
    params.initialize(ctx=[mx.cpu(0), mx.cpu(1)], init="zeros")
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
    params.save(str(tmp_path / "p.params"))
    _backward_each(x)
    trainer.step(1)
    np.testing.assert_allclose(x.data().asnumpy(), np.full(3, -0.2), rtol=1e-6)
    params.load(str(tmp_path / "p.params"))
    assert trainer._kvstore is None and trainer._kv_initialized is False
    _backward_each(x)
    trainer.step(1)
    assert trainer._kvstore.type == "device"
    np.testing.assert_allclose(x.data(mx.cpu(1)).asnumpy(), np.full(3, -0.2), rtol=1e-6)


@pytest.mark.parametrize("update_on_kv,expected", [(None, False), (True, True),
                                                   (False, False)])
def test_trainer_sparse_gradient_store_choice(update_on_kv, expected):
    x = gluon.Parameter("x", shape=(5, 1), grad_stype="row_sparse")
    x.initialize(ctx=[mx.cpu(0), mx.cpu(1)], init="zeros")
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 0.1}, kvstore="local",
                            update_on_kvstore=update_on_kv)
    _backward_each(x)
    trainer.step(1)
    assert trainer._kv_initialized and trainer._update_on_kvstore is expected
    np.testing.assert_allclose(x.data().asnumpy(), np.full((5, 1), -0.2), rtol=1e-6)


def test_row_sparse_parameter_on_two_contexts():
    x = gluon.Parameter("x", shape=(6, 2), stype="row_sparse", grad_stype="row_sparse")
    x.initialize(ctx=[mx.cpu(0), mx.cpu(1)], init="zeros")
    trainer = gluon.Trainer([x], "sgd", {"learning_rate": 0.1})
    rows = nd.arange(0, 6)
    ws = x.list_row_sparse_data(rows)
    assert len(ws) == 2 and all(w.stype == "row_sparse" for w in ws)
    with autograd.record():
        for w in ws:
            (w + 1).backward()
    trainer.step(1)
    assert trainer._update_on_kvstore is True and trainer._kvstore.type == "device"
    np.testing.assert_allclose(x.row_sparse_data(rows).asnumpy(), np.full((6, 2), -0.2),
                               rtol=1e-6)
    np.testing.assert_allclose(
        x.row_sparse_data(nd.arange(0, 6, ctx=mx.cpu(1))).asnumpy(), np.full((6, 2), -0.2),
        rtol=1e-6)
    bad = gluon.Trainer([gluon.Parameter("z", shape=(2, 1), stype="row_sparse")], "sgd",
                        update_on_kvstore=False)
    with pytest.raises(ValueError, match="sparse weights"):
        bad._init_kvstore()


# ------------------------------------------------------------------ hybridized inputs
class _AddOptional(gluon.HybridBlock):
    def hybrid_forward(self, F, a, b=None):
        if a is None:
            return b * 2
        return a if b is None else a + b


def test_hybridized_block_refuses_python_numbers_as_mxnet():
    eager, hybrid = _AddOptional(), _AddOptional()
    hybrid.hybridize()
    x = nd.array([1.0, 2.0])
    np.testing.assert_allclose(eager(x, 3).asnumpy(), [4.0, 5.0])   # eager: passed through
    with pytest.raises(ValueError, match="must be \\(nested\\) list of Symbol or NDArray"):
        hybrid(x, 3)
    with pytest.raises(ValueError, match="mixed NDArrays and Symbols"):
        hybrid(x, mx.sym.var("b"))
    with pytest.raises(ValueError, match="mixed NDArrays and Symbols"):
        eager(mx.sym.var("a"), x)


def test_hybridized_block_keeps_its_first_input_structure():
    x, y = nd.array([1.0, 2.0]), nd.array([10.0, 20.0])
    blk, ref = _AddOptional(), _AddOptional()
    blk.hybridize()
    for _ in range(2):      # (the second call runs what the first compiled)
        np.testing.assert_allclose(blk(None, y).asnumpy(), ref(None, y).asnumpy())
    with pytest.raises(ValueError, match="does not match the cached version"):
        blk(x, y)
    blk.hybridize()         # builds again: a new structure is taken
    np.testing.assert_allclose(blk(x, y).asnumpy(), ref(x, y).asnumpy())
    with pytest.raises(ValueError, match="does not match the cached version"):
        blk(None, y)
    # trailing None for a defaulted input may come and go; an array in its place may not
    d = _AddOptional()
    d.hybridize()
    np.testing.assert_allclose(d(x).asnumpy(), x.asnumpy())
    np.testing.assert_allclose(d(x, None).asnumpy(), x.asnumpy())
    np.testing.assert_allclose(d(x).asnumpy(), x.asnumpy())
    with pytest.raises(ValueError, match="does not match the cached version"):
        d(x, y)
    e = _AddOptional()
    e.hybridize()
    np.testing.assert_allclose(e(x, None).asnumpy(), x.asnumpy())
    np.testing.assert_allclose(e(x).asnumpy(), x.asnumpy())
    with pytest.raises(ValueError, match="does not match the cached version"):
        e(x, y)


def test_hybridized_block_refuses_inputs_on_two_contexts():
    blk = _AddOptional()
    blk.hybridize()
    with pytest.raises(ValueError, match="multiple contexts"):
        blk(nd.ones((2,), ctx=mx.cpu(1)), nd.ones((2,), ctx=mx.cpu(2)))
    np.testing.assert_allclose(blk(nd.ones((2,), ctx=mx.cpu(1)),
                                   nd.ones((2,), ctx=mx.cpu(1))).asnumpy(), [2.0, 2.0])


# ------------------------------------------------------------------ parameters and blocks
def test_sparse_parameter_variable_carries_its_storage_type():
    p = gluon.Parameter("weight", shape=(4, 2), stype="row_sparse", grad_stype="row_sparse")
    assert p.var().attr("__storage_type__") == "1"
    assert gluon.Parameter("dense", shape=(2,)).var().attr("__storage_type__") is None


def test_symbol_block_repr_shows_graph_and_counts(tmp_path):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(3, in_units=4))
    net.initialize()
    net.hybridize()
    x = nd.ones((2, 4))
    want = net(x).asnumpy()
    net.export(str(tmp_path / "m"), epoch=1)
    back = gluon.SymbolBlock.imports(str(tmp_path / "m-symbol.json"), ["data"],
                                     str(tmp_path / "m-0001.params"))
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-6)
    lines = str(back).splitlines()
    assert lines[0] == "SymbolBlock(" and lines[-1] == ")"
    assert lines[1].startswith("<Symbol ") and lines[1].endswith(" : 1 -> 1")


# ------------------------------------------------------------------ Module
def _fc_module(context):
    sym = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4, name="fc")
    mod = mx.mod.Module(sym, ("data",), None, context=context)
    mod.bind(data_shapes=[("data", (5, 3))], grad_req="write")
    mod.init_params()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    return mod


def test_module_updater_and_store_show_the_optimizer_states(tmp_path):
    one = _fc_module(mx.cpu())
    assert one._kvstore is None and one._grad_req == "write"
    one.forward(mx.io.DataBatch([nd.ones((5, 3))], None), is_train=True)
    one.backward([nd.ones((5, 4))])
    one.update()
    states = one._updater.states
    assert len(states) == 2
    assert all(np.abs(s.asnumpy()).sum() > 0 for s in states.values())
    one.save_checkpoint(str(tmp_path / "m"), 0, save_optimizer_states=True)
    back = mx.mod.Module.load(str(tmp_path / "m"), 0, load_optimizer_states=True,
                              data_names=("data",), label_names=None)
    back.bind(data_shapes=[("data", (5, 3))])
    back.init_optimizer(optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    for k, v in states.items():
        np.testing.assert_array_equal(back._updater.states[k].asnumpy(), v.asnumpy())
    two = _fc_module([mx.cpu(0), mx.cpu(1)])
    assert two._updater is None and two._kvstore.type == "local"
    assert two._kvstore._updater.optimizer is two._optimizer
    assert two._total_exec_bytes == one._total_exec_bytes > 0


def test_module_row_sparse_variable_is_shown_row_sparse():
    x = mx.sym.var("data", stype="csr")
    v = mx.sym.var("v", shape=(6, 1), init=mx.init.Uniform(scale=0.1), stype="row_sparse")
    out = mx.sym.LinearRegressionOutput(mx.sym.dot(x, v), mx.sym.var("label"), name="out")
    mod = mx.mod.Module(out, data_names=["data"], label_names=["label"])
    mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("label", (4, 1))])
    mod.init_params()
    shown = mod._arg_params["v"]
    assert shown.stype == "row_sparse" and np.abs(shown.asnumpy()).sum() > 0


# ------------------------------------------------------------------ Symbol
def test_gen_atomic_symbol_keeps_the_op_and_its_outputs():
    data, p = mx.sym.var("data"), mx.sym.var("param")
    h0, h1 = mx.sym.var("h0"), mx.sym.var("h1")
    s = mx.sym.RNN(data, p, h0, h1, state_size=10, num_layers=2, bidirectional=True,
                   state_outputs=True, mode="lstm", name="rnn")
    atom = s._gen_atomic_symbol()
    assert atom.list_outputs() == s.list_outputs()
    assert len(atom.list_arguments()) == 4
    assert atom(data, p, h0, h1).list_arguments() == ["data", "param", "h0", "h1"]
    with pytest.raises(mx.base.MXNetError, match="one operator node"):
        mx.sym.Group([data + 1, data * 2])._gen_atomic_symbol()


def _internals(sym, cse, **shapes):
    import os
    old = os.environ.get("MXNET_ELIMINATE_COMMON_EXPR")
    os.environ["MXNET_ELIMINATE_COMMON_EXPR"] = "1" if cse else "0"
    try:
        exe = sym.simple_bind(mx.cpu(), **shapes)
    finally:
        if old is None:
            del os.environ["MXNET_ELIMINATE_COMMON_EXPR"]
        else:
            os.environ["MXNET_ELIMINATE_COMMON_EXPR"] = old
    return exe, exe.get_optimized_symbol()


@pytest.mark.parametrize("make,saved", [
    (lambda a, b: (a + 1) + (a + 2), 0),
    (lambda a, b: (a + b) + (a + b), 1),
    # (a * d merged, then a _copy keeps the two outputs apart: no net gain)
    (lambda a, b: (lambda d: mx.sym.Group([a * d, a * d]))(a + 1), 0),
    (lambda a, b: (lambda d: mx.sym.Group([a * d + b, a * d + b]))(a + 1), 1),
    (lambda a, b: mx.sym.Group([a * (a + 1), a * (a + 1)]), 1),
    (lambda a, b: mx.sym.Dropout(a) + mx.sym.Dropout(a), 0),
])
def test_optimized_symbol_merges_common_expressions(make, saved):
    a, b = mx.sym.var("a"), mx.sym.var("b")
    sym = make(a, b)
    shapes = {k: (2, 3) for k in sym.list_arguments()}
    _, plain = _internals(sym, False, **shapes)
    exe, merged = _internals(sym, True, **shapes)
    assert len(merged.get_internals()) + saved == len(plain.get_internals())
    assert len(merged.list_outputs()) == len(sym.list_outputs())
    if saved:   # the merged graph computes what the bound one does
        vals = {k: nd.array(np.random.RandomState(0).rand(2, 3)) for k in shapes}
        got = merged.eval(mx.cpu(), **vals)
        want = exe.forward(**vals)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.asnumpy(), w.asnumpy(), rtol=1e-6)


def test_executor_zero_gradient_propagation():
    """MXNet's zero-gradient pass: an argument behind stop_gradient gets no backward of its
    own (the executor's memory count drops to grad_req='null''s); binding a gradient through
    batch_take, which MXNet registers without one, fails, unless stop_gradient is above."""
    data = mx.sym.var("data")
    sym = data * data * data

    def total(s, **kw):
        text = s.simple_bind(mx.cpu(), data=(16, 256, 256), **kw).debug_str()
        return int(text.rsplit("Total ", 1)[1].split(" MB")[0])
    big, small = total(sym), total(sym, grad_req="null")
    assert big > small == total(mx.sym.stop_gradient(sym))
    x, idx = mx.sym.var("x"), mx.sym.var("idx")
    y = mx.sym.batch_take(x, idx)
    kw = dict(x=(4, 3), idx=(4,), type_dict={"x": np.float32, "idx": np.int32})
    exe = mx.sym.stop_gradient(y).simple_bind(mx.cpu(), **kw)
    exe.forward(is_train=True, x=nd.ones((4, 3)), idx=nd.array([0, 1, 2, 0], dtype="int32"))
    exe.backward()
    np.testing.assert_array_equal(exe.grad_dict["x"].asnumpy(), np.zeros((4, 3)))
    with pytest.raises(mx.base.MXNetError, match="batch_take.*non-differentiable"):
        y.simple_bind(mx.cpu(), **kw)
    y.simple_bind(mx.cpu(), grad_req="null", **kw)


def test_module_outputs_per_device_follow_the_layout():
    sym = mx.sym.Activation(mx.sym.var("data"), act_type="relu", __layout__="TNC")
    mod = mx.mod.Module(sym, ("data",), None, context=[mx.cpu(0), mx.cpu(1)])
    mod.bind(data_shapes=[mx.io.DataDesc("data", (3, 8, 7), layout="TNC")],
             inputs_need_grad=True)
    mod.init_params()
    x = nd.array(np.random.RandomState(1).randn(3, 8, 7))
    mod.forward(mx.io.DataBatch(data=[x], label=None))
    mod.backward([nd.ones((3, 8, 7))])
    whole = mod.get_outputs()[0].asnumpy()
    np.testing.assert_allclose(whole, np.maximum(x.asnumpy(), 0))
    parts = mod.get_outputs(merge_multi_context=False)[0]
    assert [p.shape for p in parts] == [(3, 4, 7), (3, 4, 7)]
    assert [p.context for p in parts] == [mx.cpu(0), mx.cpu(1)]
    np.testing.assert_array_equal(np.concatenate([p.asnumpy() for p in parts], axis=1), whole)
    grads = mod.get_input_grads(merge_multi_context=False)[0]
    np.testing.assert_array_equal(np.concatenate([g.asnumpy() for g in grads], axis=1),
                                  (x.asnumpy() > 0).astype(np.float32))


@pytest.mark.parametrize("group2ctxs", [{"dev1": mx.cpu(1), "dev2": mx.cpu(2)},
                                        [{"dev1": mx.cpu(1), "dev2": [mx.cpu(2)]}]])
def test_module_inputs_live_on_their_ctx_group(group2ctxs):
    with mx.AttrScope(ctx_group="dev1"):
        a = mx.sym.var("a") * 2
    with mx.AttrScope(ctx_group="dev2"):
        c = a + mx.sym.var("b")
    grads = []
    for groups in (group2ctxs, None):
        mod = mx.mod.Module(c, context=[mx.cpu(0)], data_names=["a", "b"], label_names=None,
                            group2ctxs=groups)
        mod.bind(data_shapes=[["a", (2, 3)], ["b", (2, 3)]], inputs_need_grad=True)
        mod.init_params()
        mod.forward(mx.io.DataBatch(data=[nd.ones((2, 3)), nd.ones((2, 3))]), is_train=True)
        mod.backward([nd.ones((2, 3))])
        grads.append(mod.get_input_grads())
    assert [g.context for g in grads[0]] == [mx.cpu(1), mx.cpu(2)]
    for g, want in zip(grads[0], grads[1]):
        np.testing.assert_array_equal(g.asnumpy(), want.asnumpy())
    np.testing.assert_array_equal(grads[0][0].asnumpy(), np.full((2, 3), 2.0))
