"""Behaviours MXNet 1.9.1's own unit tests (tests/python/unittest: test_loss, test_metric,
test_autograd, test_init, test_gluon_data) rely on, each checked here on its own."""
import contextlib
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.tracing import capture


def test_ctc_loss_on_symbols_in_a_module_equals_the_loss_on_arrays():
    """test_ctc_loss_train: gluon.loss.CTCLoss called on a network's Symbols (shapes come at
    bind) computes MXNet's CTCLoss operator, as on NDArrays."""
    rs = np.random.RandomState(0)
    pred = rs.uniform(-1, 1, (4, 6, 5)).astype(np.float32)          # NTC, 5 classes
    label = np.array([[0, 1, 2, -1], [3, 3, -1, -1], [1, -1, -1, -1], [2, 0, 1, 3]],
                     np.float32)
    loss_fn = gluon.loss.CTCLoss(layout="NTC", label_layout="NT")
    want = loss_fn(nd.array(pred), nd.array(label)).asnumpy()
    sym = mx.sym.make_loss(loss_fn(mx.sym.var("data"), mx.sym.var("label")))
    mod = mx.mod.Module(sym, data_names=("data",), label_names=("label",))
    mod.bind(data_shapes=[("data", pred.shape)], label_shapes=[("label", label.shape)])
    mod.init_params()
    mod.forward(mx.io.DataBatch([nd.array(pred)], [nd.array(label)]), is_train=False)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), want, rtol=1e-5)


def test_a_symbol_op_takes_none_for_an_absent_optional_input():
    data, label = mx.sym.var("data"), mx.sym.var("label")
    loss = mx.sym.CTCLoss(data, label, None, None, blank_label="last")
    assert loss.list_arguments() == ["data", "label"]
    x = np.random.RandomState(1).randn(5, 2, 4).astype(np.float32)      # TNC
    y = np.array([[0, 1], [2, -1]], np.float32)
    out = loss.eval(data=nd.array(x), label=nd.array(y))[0]
    np.testing.assert_allclose(out.asnumpy(), nd.CTCLoss(nd.array(x), nd.array(y),
                                                         blank_label="last").asnumpy())
    with pytest.raises(TypeError, match="positional arguments must be Symbols"):
        mx.sym.Concat(data, None)


@pytest.mark.parametrize("make", [
    lambda: mx.metric.create("acc", axis=0),
    lambda: mx.metric.create("f1", average="micro"),
    lambda: mx.metric.create("rmse", name="my_rmse"),
])
def test_metric_create_takes_the_json_of_get_config(make):
    """test_metric's check_metric: create(json.dumps(metric.get_config())) is the same
    metric (MXNet's registry takes '{"metric": ...}' and '[name, {...}]' configs)."""
    metric = make()
    again = mx.metric.create(json.dumps(metric.get_config()))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()
    config = dict(metric.get_config())
    name = config.pop("metric")
    listed = mx.metric.create(json.dumps([name, config]))
    assert listed.get_config() == metric.get_config()


def test_metric_create_refuses_a_bad_json_config():
    with pytest.raises(mx.MXNetError, match="invalid JSON"):
        mx.metric.create("{not json")
    with pytest.raises(mx.MXNetError, match="a JSON config is"):
        mx.metric.create('["acc"]')
    with pytest.raises(mx.MXNetError, match="takes no other arguments"):
        mx.metric.create('{"metric": "acc"}', axis=1)


@pytest.mark.parametrize("paused", [True, False])
def test_fresh_grad_flags_a_gradient_backward_wrote(paused):
    """test_detach_updated_grad: NDArray._fresh_grad is set by backward and cleared by the
    Trainer (or by hand), captured steps included."""
    x = nd.ones((2, 2))
    dx = nd.zeros_like(x)
    autograd.mark_variables([x], [dx])
    assert x._fresh_grad == 0
    with autograd.record():
        (x * 2).sum().backward()
    assert x._fresh_grad == 1
    x._fresh_grad = False
    assert x._fresh_grad == 0
    with pytest.raises(mx.MXNetError, match="no gradient"):
        nd.ones((1,))._fresh_grad = True
    mx.random.seed(0)
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    seen = []
    with (capture.paused() if paused else contextlib.nullcontext()):
        for _ in range(6):
            with autograd.record():
                loss = net(nd.ones((4, 3))).sum()
            loss.backward()
            seen.append(net.weight.data()._fresh_grad)
            trainer.step(4)
            seen.append(net.weight.data()._fresh_grad)
    assert seen == [1, 0] * 6


def test_test_utils_star_import_brings_what_mxnets_does():
    names = {}
    exec("from tracegrad.test_utils import *", names)
    assert names["mx"] is mx and names["np"] is np and names["array"] is nd.array
    assert names["use_np"] is mx.util.use_np and names["Symbol"] is mx.sym.Symbol
    assert names["current_context"]() == mx.cpu() and names["Context"] is mx.Context


@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
def test_a_sparse_arrays_gradient_and_detach_keep_its_storage_type(stype):
    """test_grad_with_stype: attach_grad() of a sparse array shows its gradient in the same
    storage type unless stype= says another; detach() keeps the storage type."""
    x = nd.zeros((2, 3), stype=stype)
    x.attach_grad()
    assert x.grad.stype == stype and x.detach().stype == stype
    x.attach_grad(stype="default")
    assert x.grad.stype == "default"
    d = x.detach()
    assert d._value is None and np.array_equal(d.asnumpy(), x.asnumpy())


def test_prelu_slope_and_batchnorm_statistics_get_mxnets_initializers_on_compose():
    """test_default_init: a PReLU slope variable starts at 0.25, BatchNorm's running mean
    and variance variables (whatever their names) at 0 and 1, unless they have their own."""
    data = mx.sym.var("data")
    mod = mx.mod.Module(mx.sym.LeakyReLU(data=data, act_type="prelu", name="act"),
                        label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))])
    mod.init_params()
    assert (mod.get_params()[0]["act_gamma"].asnumpy() == 0.25).all()
    own = mx.sym.var("slope", init=mx.init.Constant(0.5))
    mod = mx.mod.Module(mx.sym.LeakyReLU(data=data, gamma=own, act_type="prelu"),
                        label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))])
    mod.init_params()
    assert (mod.get_params()[0]["slope"].asnumpy() == 0.5).all()
    mean, var = mx.sym.var("m"), mx.sym.var("v")
    bn = mx.sym.BatchNorm(data=data, moving_mean=mean, moving_var=var, name="bn")
    mod = mx.mod.Module(bn, label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))])
    mod.init_params(initializer=mx.init.Uniform(5.0))
    aux = mod.get_params()[1]
    assert (aux["m"].asnumpy() == 0).all() and (aux["v"].asnumpy() == 1).all()


def test_constant_initializer_dumps_an_array_value_that_loads_back():
    """test_const_init_dumps: Constant(array).dumps() writes the value as lists; a variable
    with that init starts at that value."""
    init = mx.init.Constant(nd.array([[1, 2], [3, 4]]))
    assert init.dumps() == json.dumps(["constant", {"value": [[1.0, 2.0], [3.0, 4.0]]}])
    assert mx.init.Constant(1).dumps() == '["constant", {"value": 1}]'
    w = mx.sym.var("w", init=mx.init.Constant(np.arange(6.0).reshape(2, 3)))
    mod = mx.mod.Module(mx.sym.FullyConnected(mx.sym.var("data"), weight=w, num_hidden=2,
                                              no_bias=True), label_names=None)
    mod.bind(data_shapes=[("data", (1, 3))])
    mod.init_params()
    np.testing.assert_array_equal(mod.get_params()[0]["w"].asnumpy(),
                                  np.arange(6.0).reshape(2, 3))


def test_load_frombuffer_reads_what_a_file_holds(tmp_path):
    """test_buffer_load: nd.load_frombuffer(bytes) is nd.load of a file with those bytes,
    for MXNet's own files and for what nd.save writes here; garbage is refused."""
    import os
    mxnet_files = os.path.join(os.path.dirname(__file__), "..", "data", "mxnet")
    files = [os.path.join(mxnet_files, name) for name in ("cnn.params", "dict.nd")]
    data = {"a": nd.array([[1, 2], [3, 4]]), "b": nd.zeros((3, 2), stype="row_sparse")}
    nd.save(str(tmp_path / "ours"), data)
    nd.save(str(tmp_path / "list"), [nd.ones((2,)), nd.arange(3)])
    for path in files + [str(tmp_path / "ours"), str(tmp_path / "list")]:
        want = nd.load(path)
        got = nd.load_frombuffer(open(path, "rb").read())
        assert type(got) is type(want)
        keys = list(want) if isinstance(want, dict) else range(len(want))
        for k in keys:
            assert got[k].stype == want[k].stype
            np.testing.assert_array_equal(got[k].asnumpy(), want[k].asnumpy())
    with pytest.raises(mx.MXNetError, match="the buffer"):
        nd.load_frombuffer(b"\x12\x01\x00\x00\x00\x00\x00\x00" + b"\x00" * 5)
    with pytest.raises(mx.MXNetError, match="the buffer"):
        nd.load_frombuffer(b"not a file")
    with pytest.raises(TypeError, match="bytes"):
        nd.load_frombuffer("a path")


def test_np_shape_switches_are_at_the_top_level():
    assert mx.np_shape is mx.util.np_shape and mx.is_np_shape() is False
    assert mx.set_np_shape(True) is False and mx.is_np_shape() is True
    assert mx.set_np_shape(False) is True and mx.is_np_shape() is False
    with mx.np_shape(True):
        assert mx.is_np_shape()
    assert not mx.is_np_shape()


def test_bad_reshapes_and_axes_are_value_errors_as_in_mxnet():
    """test_ndarray_reshape / test_moveaxis: MXNet reports these as ValueError; here they are
    caught as ValueError and as MXNetError."""
    x = nd.zeros((2, 3, 5))
    for call in (lambda: x.reshape((2, 3)), lambda: x.reshape((-1, 7)),
                 lambda: nd.moveaxis(x, 3, 0), lambda: nd.moveaxis(x, 0, -4)):
        with pytest.raises(ValueError):
            call()
        with pytest.raises(mx.MXNetError):
            call()
    assert nd.moveaxis(x, range(2), range(1, 3)).shape == \
        np.moveaxis(np.zeros((2, 3, 5)), range(2), range(1, 3)).shape


@pytest.mark.parametrize("paused", [True, False])
def test_nag_follows_mxnets_kernel_across_a_learning_rate_change(paused):
    """test_nag's PyNAG (MXNet 1.9.1's nag_mom_update): the momentum holds lr-scaled steps,
    so after a learning-rate change past gradients weigh as in MXNet (the unscaled form
    drifted 0.47 from it here); captured and fused steps alike."""
    rs = np.random.RandomState(0)
    w0 = rs.standard_normal((4, 3))
    p = gluon.Parameter("w_weight", shape=w0.shape, dtype="float64")
    p.initialize(mx.init.Constant(w0))
    trainer = gluon.Trainer([p], "nag", dict(learning_rate=0.1, momentum=0.9, wd=0.05,
                                             clip_gradient=0.7, rescale_grad=1.0))
    w, mom = w0.copy(), np.zeros_like(w0)
    with (capture.paused() if paused else contextlib.nullcontext()):
        for t in range(12):
            if t == 6:
                trainer.set_learning_rate(0.01)
            lr = trainer.learning_rate
            g = rs.standard_normal(w0.shape)
            with autograd.record():
                loss = (p.data() * nd.array(g, dtype="float64")).sum()
            loss.backward()
            trainer.step(1)
            gc = np.clip(g, -0.7, 0.7)
            m = 0.9 * mom
            w = w - m + 1.9 * (m - lr * (gc + 0.05 * w))
            mom = m - lr * (gc + 0.05 * w)
            np.testing.assert_allclose(p.data().asnumpy(), w, rtol=1e-10, atol=1e-12)


def test_blocks_held_in_a_plain_container_are_warned_about():
    """test_block_attr_list_of_block: a list / dict attribute holding Blocks is not registered
    (their parameters are not collected); collect_params says so, for nested blocks too;
    Sequential children and plain data say nothing."""
    import warnings
    from tracegrad.gluon import nn

    class Listed(gluon.Block):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Dense(2), nn.Dense(3)]

    class Nested(gluon.Block):
        def __init__(self):
            super().__init__()
            self.inner = Listed()

    class Fine(gluon.Block):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential()
            self.layers.add(nn.Dense(2))
            self.data = {"a": "4", "b": [1, 2]}
    for make, warned in ((Listed, True), (Nested, True), (Fine, False)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            make().collect_params()
        assert any("unregistered container" in str(x.message) for x in w) is warned


def test_ndarray_only_methods_on_a_symbol_raise_not_implemented_for_symbol():
    from tracegrad.base import NotImplementedForSymbol
    x = mx.sym.var("x")
    for use in (bool, lambda s: s.asnumpy(), lambda s: s.asscalar(), lambda s: s.backward(),
                lambda s: s.wait_to_read(), lambda s: s.detach()):
        with pytest.raises(NotImplementedForSymbol, match="not implemented for Symbol"):
            use(x)
    with pytest.raises(NotImplementedForSymbol, match=r'operator "\+="'):
        x += 1
    assert isinstance(NotImplementedForSymbol(bool, "bool"), mx.MXNetError)


def test_symbol_abs_and_partial_type_inference():
    x = mx.sym.var("x")
    out = abs(x).eval(x=nd.array([-1.5, 2.0]))[0]
    assert out.asnumpy().tolist() == [1.5, 2.0]
    fc = mx.sym.FullyConnected(mx.sym.Cast(x, dtype="float32"), num_hidden=3, name="fc")
    assert fc.infer_type() == (None, None, None)
    args, outs, aux = fc.infer_type_partial()
    assert args == [None, np.float32, np.float32] and outs == [np.float32] and aux == []
    assert fc.infer_type(x=np.float16)[0] == [np.float16, np.float32, np.float32]


def test_a_graph_saved_under_np_shape_says_so():
    x = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4)
    assert "is_np_shape" not in json.loads(x.tojson())["attrs"]
    with mx.np_shape(True):
        assert json.loads(x.tojson())["attrs"]["is_np_shape"] == ["int", 1]


def test_group_norm_outputs_mean_and_std_per_sample_and_group():
    rs = np.random.RandomState(0)
    x = rs.randn(2, 6, 3).astype(np.float32)
    gamma, beta = rs.randn(3).astype(np.float32), rs.randn(3).astype(np.float32)
    out, mean, std = nd.GroupNorm(nd.array(x), nd.array(gamma), nd.array(beta), num_groups=3,
                                  eps=1e-3, output_mean_var=True)
    groups = x.astype(np.float64).reshape(2, 3, -1)
    np.testing.assert_allclose(mean.asnumpy(), groups.mean(2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.asnumpy(), np.sqrt(groups.var(2) + 1e-3), rtol=1e-5)
    normed = (groups - groups.mean(2, keepdims=True)) / np.sqrt(groups.var(2, keepdims=True)
                                                                + 1e-3)
    want = (normed * gamma[None, :, None] + beta[None, :, None]).reshape(x.shape)
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-5)
    sym = mx.sym.GroupNorm(mx.sym.var("x"), num_groups=3, output_mean_var=True)
    assert len(sym.list_outputs()) == 3


def test_norm_out_dtype_and_dot_transposing_an_n_d_operand():
    got = nd.norm(nd.array([[3, 4], [6, 8]], dtype="int8"), out_dtype="float32", axis=1)
    assert got.dtype == np.float32 and got.asnumpy().tolist() == [5.0, 10.0]
    rs = np.random.RandomState(1)
    a, b = rs.randn(4, 3, 2), rs.randn(4, 5, 6)
    # (MXNet: an N-d operand transposed is every axis reversed)
    got = nd.dot(nd.array(a, dtype="float64"), nd.array(b, dtype="float64"), transpose_a=True)
    np.testing.assert_allclose(got.asnumpy(), np.tensordot(a.T, b, axes=1), rtol=1e-12)
    c = rs.randn(6, 5, 2)
    got = nd.dot(nd.array(a, dtype="float64"), nd.array(c, dtype="float64"), transpose_b=True)
    np.testing.assert_allclose(got.asnumpy(), np.tensordot(a, c.T, axes=1), rtol=1e-12)


@pytest.mark.parametrize("data_shape, gamma_shape, aligned", [
    ((3, 4), (4,), (1, 4)), ((3, 4), (3, 4), (3, 4)), ((2, 3, 5), (3,), (1, 3, 1)),
    ((2, 3, 5, 5), (2, 3), (2, 3, 1, 1)), ((2, 3, 5), (1,), (1, 1, 1))])
def test_prelu_gamma_broadcasts_as_mxnet_aligns_it(data_shape, gamma_shape, aligned):
    rs = np.random.RandomState(2)
    x, g = rs.randn(*data_shape), rs.rand(*gamma_shape)
    got = nd.LeakyReLU(nd.array(x), nd.array(g), act_type="prelu").asnumpy()
    np.testing.assert_allclose(got, np.where(x > 0, x, x * g.reshape(aligned)), rtol=1e-6)


def test_prelu_gamma_that_does_not_align_is_refused():
    with pytest.raises(mx.MXNetError, match=r"gamma of shape \(5,\) does not broadcast"):
        nd.LeakyReLU(nd.ones((2, 3, 5)), nd.ones((5,)), act_type="prelu")


def test_per_row_samplers_take_mxnets_parameter_names():
    mx.random.seed(0)
    a = nd.sample_normal(mu=nd.array([10.0, -10.0]), sigma=nd.array([0.5, 0.1]), shape=3)
    mx.random.seed(0)
    b = nd.sample_normal(nd.array([10.0, -10.0]), nd.array([0.5, 0.1]), shape=3)
    assert a.shape == (2, 3)
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert nd.sample_uniform(low=nd.zeros((2,)), high=nd.ones((2,))).shape == (2,)
    assert nd.sample_negative_binomial(k=nd.array([3.0]), p=nd.array([0.4]),
                                       shape=(2, 2)).shape == (1, 2, 2)
    with pytest.raises(TypeError, match="nd.sample_normal"):
        nd.sample_normal(mu=nd.ones((1,)), sigma=nd.ones((1,)), scale=2)


def test_a_longer_pad_of_zeros_is_read_for_its_first_entries_as_mxnet_does():
    x = nd.array(np.arange(10.0).reshape(1, 1, 10))
    got = nd.Pooling(x, kernel=2, stride=2, pad=(0, 0, 0), pool_type="max",
                     pooling_convention="same")
    np.testing.assert_array_equal(got.asnumpy().ravel(), [1, 3, 5, 7, 9])
    with pytest.raises(mx.MXNetError, match=r"pad \(0, 1, 0\) needs 1 entries"):
        nd.Pooling(x, kernel=2, stride=2, pad=(0, 1, 0), pool_type="max")


def test_symbol_histogram_takes_bin_edges_as_an_input_or_a_count_as_an_attribute():
    d, b = mx.sym.var("d"), mx.sym.var("b")
    by_edges = mx.sym.histogram(a=d, bins=b)
    by_count = mx.sym.histogram(a=d, bins=4, range=(0, 4))
    assert by_edges.list_arguments() == ["d", "b"] and by_count.list_arguments() == ["d"]
    ex = mx.sym.Group([by_edges[0], by_count[0], by_count[1]]).bind(
        mx.cpu(), {"d": nd.array([0.5, 1.5, 1.7, 3.2]), "b": nd.array([0, 1, 2, 4])})
    counts, counts4, edges4 = [o.asnumpy() for o in ex.forward()]
    assert counts.tolist() == [1, 2, 1] and counts4.tolist() == [1, 2, 0, 1]
    assert edges4.tolist() == [0, 1, 2, 3, 4]


def test_deconvolution_target_shape_sets_pad_and_adj_whatever_was_given():
    # (MXNet's InferPad: with target_shape, the given pad and adj are not read)
    x = nd.array(np.random.RandomState(6).randn(2, 3, 4, 4))
    w = nd.array(np.random.RandomState(7).randn(3, 5, 3, 3))
    want = nd.Deconvolution(x, w, kernel=(3, 3), stride=(2, 2), num_filter=5,
                            target_shape=(8, 8))
    got = nd.Deconvolution(x, w, kernel=(3, 3), stride=(2, 2), pad=(99, 99), adj=(101, 101),
                           num_filter=5, target_shape=(8, 8))
    assert got.shape == (2, 5, 8, 8)
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())
    with pytest.raises(mx.MXNetError, match=r"adj \(3, 3\) must be >= 0 and smaller"):
        nd.Deconvolution(x, w, kernel=(3, 3), stride=(2, 2), adj=(3, 3), num_filter=5)
