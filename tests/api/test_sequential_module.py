"""mx.mod.SequentialModule: two Modules chained output to input train to the parameters of
one Module over the composed symbol (gradients flow back through get_input_grads), the
step-by-step API gives the composed outputs and input gradients, auto_wiring renames the
data, take_labels chooses which modules see the labels and the metric, and the errors."""
from collections import namedtuple

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] * X[:, 2]) > 0).astype(np.float32)
    return X, y


def _init(seed=1):
    rng = np.random.default_rng(seed)
    return {"fc1_weight": rng.standard_normal((8, 6)).astype(np.float32) * 0.5,
            "fc1_bias": rng.standard_normal(8).astype(np.float32) * 0.1,
            "fc2_weight": rng.standard_normal((2, 8)).astype(np.float32) * 0.5,
            "fc2_bias": rng.standard_normal(2).astype(np.float32) * 0.1}


def _lower(lr_mult=None):
    """data -> fc1 -> tanh ('act1_output')."""
    data = mx.sym.var("data")
    w = mx.sym.var("fc1_weight", lr_mult=lr_mult) if lr_mult is not None else None
    fc = (mx.sym.FullyConnected(data, weight=w, num_hidden=8, name="fc1") if w is not None
          else mx.sym.FullyConnected(data, num_hidden=8, name="fc1"))
    return mx.sym.Activation(fc, act_type="tanh", name="act1")


def _upper(data_name="act1_output"):
    """<data_name> -> fc2 -> SoftmaxOutput."""
    data = mx.sym.var(data_name)
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=2, name="fc2"),
                                name="softmax")


def _chain(lr_mult=None, data_name="act1_output", auto_wiring=False):
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_lower(lr_mult), label_names=None))
    seq.add(mx.mod.Module(_upper(data_name), data_names=[data_name]), take_labels=True,
            auto_wiring=auto_wiring)
    return seq


def _composed(lr_mult=None):
    return mx.mod.Module(_upper()(act1_output=_lower(lr_mult)))


def _args():
    return {k: nd.array(v) for k, v in _init().items()}


def _assert_same_params(a, b, rtol=1e-5, atol=1e-6):
    pa, pb = a.get_params()[0], b.get_params()[0]
    assert sorted(pa) == sorted(pb) == sorted(_init())
    for k in pa:
        np.testing.assert_allclose(pa[k].asnumpy(), pb[k].asnumpy(), rtol=rtol, atol=atol,
                                   err_msg=k)


def _fit(mod, **kw):
    X, y = _data()
    mod.fit(mx.io.NDArrayIter(X, y, batch_size=8), num_epoch=3, arg_params=_args(), **kw)
    return mod


def test_fit_reaches_the_parameters_of_the_composed_module():
    opt = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3}
    seq = _fit(_chain(), optimizer="sgd", optimizer_params=opt)
    one = _fit(_composed(), optimizer="sgd", optimizer_params=opt)
    _assert_same_params(seq, one)
    moved = seq.get_params()[0]
    for k, v in _init().items():     # every parameter of both modules trained
        assert not np.allclose(moved[k].asnumpy(), v), k


def test_fit_with_an_optimizer_instance_and_lr_mult():
    """One Optimizer object for the chain: each module gets its own (a copy), so module 0's
    lr_mult is applied to its own parameters."""
    def adam():
        return mx.optimizer.Adam(learning_rate=0.05, rescale_grad=1 / 8)
    seq = _fit(_chain(lr_mult=0.25), optimizer=adam())
    one = _fit(_composed(lr_mult=0.25), optimizer=adam())
    _assert_same_params(seq, one, rtol=1e-4, atol=1e-5)


def test_step_by_step_outputs_and_input_gradients_equal_the_composed_module():
    X, y = _data(8)
    batch = mx.io.DataBatch([nd.array(X)], [nd.array(y)])
    seq, one = _chain(), _composed()
    for mod in (seq, one):
        mod.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))],
                 inputs_need_grad=True)
        mod.init_params(arg_params=_args())
        mod.forward(batch, is_train=True)
        mod.backward()
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), one.get_outputs()[0].asnumpy(),
                               rtol=1e-5, atol=1e-6)
    g_seq, g_one = seq.get_input_grads()[0].asnumpy(), one.get_input_grads()[0].asnumpy()
    assert np.abs(g_one).max() > 0
    np.testing.assert_allclose(g_seq, g_one, rtol=1e-5, atol=1e-6)
    assert seq.data_names == ["data"] and seq.output_names == ["softmax_output"]
    assert seq.label_names == ["softmax_label"]
    assert [tuple(d.shape) for d in seq.data_shapes] == [(8, 6)]
    assert [tuple(d.shape) for d in seq.label_shapes] == [(8,)]
    assert [tuple(s) for _, s in seq.output_shapes] == [(8, 2)]
    # the upper module was bound on the lower one's outputs, with inputs_need_grad
    upper = seq._modules[1]
    assert upper.inputs_need_grad and [tuple(d.shape) for d in upper.data_shapes] == [(8, 8)]


def test_a_batch_of_another_size_flows_through_and_predict_score():
    X, y = _data()
    seq, one = _chain(), _composed()
    for mod in (seq, one):
        mod.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))],
                 for_training=False)
        mod.init_params(arg_params=_args())
    seq.forward(mx.io.DataBatch([nd.array(X[:3])], [nd.array(y[:3])]), is_train=False)
    one.forward(mx.io.DataBatch([nd.array(X[:3])], [nd.array(y[:3])]), is_train=False)
    assert seq.get_outputs()[0].shape == (3, 2)
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), one.get_outputs()[0].asnumpy(),
                               rtol=1e-5, atol=1e-6)
    it = mx.io.NDArrayIter(X[:36], y[:36], batch_size=8)     # the last batch padded
    p_seq, p_one = seq.predict(it), one.predict(it)
    assert p_seq.shape == (36, 2)
    np.testing.assert_allclose(p_seq.asnumpy(), p_one.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seq.predict(X[:8]).asnumpy(), p_one.asnumpy()[:8],
                               rtol=1e-5, atol=1e-6)
    Batch = namedtuple("Batch", ["data"])        # MXNet's deployment tutorials' batch
    seq.forward(Batch([nd.array(X[:5])]))
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), p_one.asnumpy()[:5],
                               rtol=1e-5, atol=1e-6)
    acc_seq = dict(seq.score(it, "acc"))["accuracy"]
    assert acc_seq == dict(one.score(it, "acc"))["accuracy"]
    with pytest.raises(MXNetError, match="for_training=False"):
        seq.backward()


def test_auto_wiring_renames_the_data_and_trains_the_same():
    opt = {"learning_rate": 0.1}
    wired = _fit(_chain(data_name="hidden", auto_wiring=True), optimizer_params=opt)
    assert wired._modules[1].data_names == ["hidden"]
    assert [d.name for d in wired._modules[1].data_shapes] == ["hidden"]
    _assert_same_params(wired, _fit(_composed(), optimizer_params=opt))
    unwired = _chain(data_name="hidden")
    with pytest.raises(MXNetError, match=r"module 1 takes data \['hidden'\].*module 0's "
                                         r"outputs.*act1_output.*auto_wiring"):
        unwired.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    assert not unwired.binded


def test_take_labels_decides_who_sees_the_labels_and_the_metric():
    X, y = _data(8)
    batch = mx.io.DataBatch([nd.array(X)], [nd.array(y)])
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_lower(), label_names=None))
    seq.add(mx.mod.Module(_upper(), data_names=["act1_output"]))      # take_labels=False
    seq.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    seq.init_params(arg_params=_args())
    assert seq.label_shapes is None and seq.label_names == []
    assert seq._modules[1].label_shapes == []
    seq.forward(batch, is_train=False)
    metric = mx.metric.create("acc")
    seq.update_metric(metric, batch.label)
    assert metric.num_inst == 0                     # no module takes the labels

    labeled = _chain()
    labeled.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    labeled.init_params(arg_params=_args())
    labeled.forward(batch, is_train=False)
    labeled.update_metric(metric, batch.label)
    pred = labeled.get_outputs()[0].asnumpy().argmax(1)
    assert metric.num_inst == 8
    assert metric.get()[1] == pytest.approx((pred == y).mean())


def test_get_and_set_params_cover_every_module():
    seq = _chain()
    seq.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    seq.init_params(mx.init.Xavier())
    arg, aux = seq.get_params()
    assert sorted(arg) == sorted(_init()) and aux == {}
    seq.set_params(_args(), {})
    for k, v in seq.get_params()[0].items():
        np.testing.assert_array_equal(v.asnumpy(), _init()[k])
    extra = dict(_args(), stray=nd.zeros((1,)))
    with pytest.raises(MXNetError, match=r"\['stray'\] are not parameters of any module"):
        seq.set_params(extra, {})
    seq.set_params(extra, {}, allow_extra=True)
    missing = {k: v for k, v in _args().items() if k != "fc2_bias"}
    with pytest.raises(MXNetError, match="fc2_bias"):
        seq.init_params(arg_params=missing, force_init=True)


def test_errors():
    empty = mx.mod.SequentialModule()
    with pytest.raises(MXNetError, match="empty; add"):
        empty.bind(data_shapes=[("data", (8, 6))])
    with pytest.raises(MXNetError, match="expected a module"):
        empty.add(_lower())
    seq = _chain()
    with pytest.raises(MXNetError, match="call bind first"):
        seq.forward(mx.io.DataBatch([nd.zeros((8, 6))], []))
    with pytest.raises(MXNetError, match="call bind first"):
        seq.init_params()
    with pytest.raises(MXNetError, match="module 0 takes data \\['data'\\].*data_shapes"):
        seq.bind(data_shapes=[("x", (8, 6))])
    with pytest.raises(MXNetError, match="shared_module"):
        seq.bind(data_shapes=[("data", (8, 6))], shared_module=_composed())
    seq.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    with pytest.raises(MXNetError, match="init_params"):
        seq.get_params()
    seq.init_params()
    with pytest.raises(MXNetError, match="init_optimizer"):
        seq.update()
    with pytest.raises(MXNetError, match="inputs_need_grad=True"):
        seq.get_input_grads()
    seq.add(mx.mod.Module(mx.sym.Activation(mx.sym.var("softmax_output"), act_type="relu"),
                          data_names=["softmax_output"], label_names=None))
    assert not (seq.binded or seq.params_initialized)      # add() asks for a new bind

    wide = mx.mod.SequentialModule()
    wide.add(mx.mod.Module(_lower(), label_names=None))
    two = mx.sym.Group([mx.sym.var("a") * 1, mx.sym.var("b") * 1])
    wide.add(mx.mod.Module(two, data_names=["a", "b"], label_names=None), auto_wiring=True)
    with pytest.raises(MXNetError, match=r"module 1 takes 2 data arrays.*gives 1"):
        wide.bind(data_shapes=[("data", (8, 6))])

    twice = mx.mod.SequentialModule()
    twice.add(mx.mod.Module(_lower(), label_names=None))
    twice.add(mx.mod.Module(mx.sym.FullyConnected(mx.sym.var("act1_output"), num_hidden=8,
                                                  name="fc1"),
                            data_names=["act1_output"], label_names=None))
    twice.bind(data_shapes=[("data", (8, 6))])
    with pytest.raises(MXNetError, match="duplicated parameter name 'fc1_weight'"):
        twice.init_params()
