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
