"""MXNet 1.9.1's training tutorials under docs/python_docs/python/tutorials/, shortened to
synthetic data: packages/gluon/training/fit_api_tutorial.md, learning_rates/
learning_rate_finder.md and learning_rate_schedules_advanced.md, normalization/index.md,
packages/gluon/loss/custom-loss.md and kl_divergence.md, blocks/activations/activations.md,
packages/optimizer/index.md, performance/backend/amp.md and profiler.md."""
import numpy as np

from tracegrad import autograd, gluon, nd


def _net_and_trainer():
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})


def test_lr_finder_initializes_kvstore_before_saving_states(tmp_path):
    """learning_rate_finder.md: `if not trainer._kv_initialized: trainer._init_kvstore()`,
    then save_states / load_states around the search. MXNet's Trainer sets the flag at the
    first step; one process with kvstore='device' has no store."""
    net, trainer = _net_and_trainer()
    assert trainer._kv_initialized is False
    x = nd.array(np.random.RandomState(0).randn(5, 4))
    with autograd.record():
        loss = net(x).sum()
    loss.backward()     # an iteration with take_step=False
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    assert trainer._kv_initialized is True
    assert trainer._kvstore is None and trainer._update_on_kvstore is None
    w0 = net.weight.data().asnumpy().copy()
    trainer.save_states(str(tmp_path / "lr_finder.state"))
    trainer.step(5)
    np.testing.assert_allclose(net.weight.data().asnumpy(),
                               w0 - 0.1 / 5 * net.weight.grad().asnumpy(), rtol=1e-6)
    trainer.load_states(str(tmp_path / "lr_finder.state"))
    # a fresh trainer's flag is set by its first step, as MXNet's step does
    net2, trainer2 = _net_and_trainer()
    with autograd.record():
        loss = net2(x).sum()
    loss.backward()
    trainer2.step(5)
    assert trainer2._kv_initialized is True


def test_activation_softrelu_gradient_is_sigmoid_at_zero():
    """activations.md: visualize_activation(Activation('softrelu')) plots y and x.grad over
    np.linspace(-10, 10, 501), which holds 0. MXNet's gradient is softrelu_grad = 1 - exp(-y)
    = sigmoid(x), 1/2 at 0; hybridized the same."""
    data = np.linspace(-10, 10, 501)
    for hybridize in (False, True):
        act = gluon.nn.Activation("softrelu")
        if hybridize:
            act.hybridize()
        x = nd.array(data)
        x.attach_grad()
        with autograd.record():
            y = act(x)
        y.backward()
        ref = np.log1p(np.exp(data.astype(np.float32).astype(np.float64)))
        np.testing.assert_allclose(y.asnumpy(), ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(x.grad.asnumpy(), -np.expm1(-ref), rtol=1e-6, atol=1e-7)
        assert x.grad.asnumpy()[250] == 0.5


def _small_resnet_checkpoint(prefix):
    """A model with imagenet1k-resnet-18's layer names (conv0, bn0, fc1, softmax)."""
    import tracegrad as mx
    data = mx.sym.var("data")
    x = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), no_bias=True,
                           name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn0")
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool1")
    x = mx.sym.FullyConnected(mx.sym.Flatten(x), num_hidden=3, name="fc1")
    sym = mx.sym.SoftmaxOutput(x, name="softmax")
    rs = np.random.RandomState(0)
    arg = {"conv0_weight": nd.array(rs.randn(4, 3, 3, 3)), "bn0_gamma": nd.ones((4,)),
           "bn0_beta": nd.zeros((4,)), "fc1_weight": nd.array(rs.randn(3, 4)),
           "fc1_bias": nd.array(rs.randn(3))}
    aux = {"bn0_moving_mean": nd.zeros((4,)), "bn0_moving_var": nd.ones((4,))}
    mx.model.save_checkpoint(prefix, 0, sym, arg, aux)
    return sym, arg, aux


def test_amp_convert_model_module_arg_params_and_checkpoint_keeping_casts(tmp_path):
    """amp.md: convert_model(..., target_dtype_ops=['Convolution'], fp32_ops=['SoftmaxOutput',
    'FullyConnected'], cast_optional_params=True), bind, set_params, forward, then
    `assert mod._arg_params['conv0_weight'].dtype == np.float16` (fc1_bias float32) and
    mod.save_checkpoint(..., remove_amp_cast=False), which keeps the amp_cast nodes
    (MXNet passes remove_amp_cast to Symbol.save; the default removes them)."""
    import tracegrad as mx
    from tracegrad.contrib import amp
    prefix = str(tmp_path / "imagenet1k-resnet-18")
    _small_resnet_checkpoint(prefix)
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 0)
    result_sym, result_arg, result_aux = amp.convert_model(
        sym, arg_params, aux_params, target_dtype_ops=["Convolution"],
        fp32_ops=["SoftmaxOutput", "FullyConnected"], cast_optional_params=True)
    mod = mx.mod.Module(result_sym, data_names=["data"], label_names=["softmax_label"])
    assert mod._arg_params is None
    mod.bind(data_shapes=[["data", (1, 3, 8, 8)]], label_shapes=[["softmax_label", (1,)]])
    mod.set_params(result_arg, result_aux)
    np.testing.assert_array_equal(mod._aux_params["bn0_moving_var"].asnumpy(), np.ones(4))
    mod.forward(mx.io.DataBatch(data=[nd.ones((1, 3, 8, 8))], label=[nd.ones((1,))]))
    mod.get_outputs()[0].wait_to_read()
    assert mod._arg_params["conv0_weight"].dtype == np.float16
    assert mod._arg_params["fc1_bias"].dtype == np.float32
    np.testing.assert_array_equal(mod._arg_params["fc1_bias"].asnumpy(),
                                  arg_params["fc1_bias"].asnumpy())
    out = str(tmp_path / "amp_tutorial_model")
    mod.save_checkpoint(out, 0, remove_amp_cast=False)
    kept = mx.sym.load(out + "-symbol.json")
    assert "amp_cast" in [n.op for n in kept._order()]
    mod.save_checkpoint(out, 0)
    assert "amp_cast" not in [n.op for n in mx.sym.load(out + "-symbol.json")._order()]
    mx.model.save_checkpoint(out, 1, result_sym, result_arg, result_aux,
                             remove_amp_cast=False)
    assert "amp_cast" in [n.op for n in mx.model.load_checkpoint(out, 1)[0]._order()]


def test_kl_divergence_tutorial_sums_over_categories():
    """kl_divergence.md: KLDivLoss(from_logits=True) of log(dist_1) against dist_2, and
    from_logits=False on logits whose softmax is dist_1. MXNet 1.9.1's KLDivLoss returns
    F.sum(loss, axis=batch_axis, exclude=True) (backport #19356): the true divergence
    sum(dist_2 * (log dist_2 - log dist_1)), not the tutorial's older 'divided by the
    number of categories'. SDMLLoss, built on it, sums over the batch's columns too."""
    dist_1 = np.array([0.2, 0.5, 0.2, 0.1])
    dist_2 = np.array([0.3, 0.4, 0.1, 0.2])
    true_divergence = (dist_2 * (np.log(dist_2) - np.log(dist_1))).sum()
    pred = nd.array(dist_1).expand_dims(0).log()
    target = nd.array(dist_2).expand_dims(0)
    for hybridize in (False, True):
        loss_fn = gluon.loss.KLDivLoss(from_logits=True)
        if hybridize:
            loss_fn.hybridize()
        np.testing.assert_allclose(loss_fn(pred, target).asscalar(), true_divergence,
                                   rtol=1e-6)
    output = nd.array([0.39056206, 1.3068528, 0.39056206, -0.30258512])
    loss_fn = gluon.loss.KLDivLoss(from_logits=False)
    np.testing.assert_allclose(loss_fn(output.expand_dims(0), target).asscalar(),
                               true_divergence, rtol=1e-6)
    # the gradient of the sum: -label for pred, per category
    x = nd.array(np.log(dist_1)).expand_dims(0)
    x.attach_grad()
    with autograd.record():
        gluon.loss.KLDivLoss()(x, target).backward()
    np.testing.assert_allclose(x.grad.asnumpy()[0], -dist_2, rtol=1e-6)
    # SDMLLoss: KLDivLoss of log_softmax(-squared distances) against the smoothed identity
    rs = np.random.RandomState(0)
    x1, x2 = rs.randn(4, 3), rs.randn(4, 3)
    d = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(2)
    lp = -d - np.log(np.exp(-d).sum(1, keepdims=True))
    lab = np.eye(4) * 0.7 + (1 - np.eye(4)) * 0.1
    np.testing.assert_allclose(gluon.loss.SDMLLoss()(nd.array(x1), nd.array(x2)).asnumpy(),
                               (lab * (np.log(lab + 1e-12) - lp)).sum(1), rtol=1e-5)


def test_cosine_embedding_loss_is_mxnets_per_pair_column():
    """MXNet 1.9.1's CosineEmbeddingLoss: (1 - cos) * (label == 1) + max(0, (label == -1) *
    (cos - margin)), weighted and returned as (N, 1), not averaged; a label neither 1 nor -1
    gives 0 (MXNet's test_cosine_loss compares against the (N, 1) column)."""
    rs = np.random.RandomState(3)
    a, b = rs.randn(5, 3), rs.randn(5, 3)
    label = np.array([1, -1, 0, -1, 1])
    cos = ((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))[:, None]
    lab = label[:, None]
    want = (1 - cos) * (lab == 1) + np.maximum(0, (lab == -1) * (cos - 0.1))
    for hybridize in (False, True):
        loss_fn = gluon.loss.CosineEmbeddingLoss(margin=0.1)
        if hybridize:
            loss_fn.hybridize()
        out = loss_fn(nd.array(a), nd.array(b), nd.array(label))
        assert out.shape == (5, 1)
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-7)


def test_losses_called_on_symbols_and_sym_maximum_with_a_number():
    """A gluon loss called on mx.sym Symbols (a Module program's
    `gluon.loss.HuberLoss()(net_sym, label_sym)`) builds its graph: MXNet's losses reshape
    the label with reshape_like there. mx.sym.maximum / minimum / power / hypot take a
    number on either side (MXNet's symbol.py helpers, _MaximumScalar and the rest)."""
    import tracegrad as mx
    rs = np.random.RandomState(1)
    p, t = rs.randn(4, 3), np.sign(rs.randn(4, 3))
    pred, label = mx.sym.var("pred"), mx.sym.var("label")
    d = np.abs(t - p)
    huber = np.where(d > 1, d - 0.5, 0.5 * d ** 2).mean(1)
    hinge = np.maximum(0, 1 - p * t).mean(1)
    for loss_fn, want in ((gluon.loss.HuberLoss(), huber), (gluon.loss.HingeLoss(), hinge)):
        out = loss_fn(pred, label).eval(pred=nd.array(p), label=nd.array(t))[0]
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5)
    x = mx.sym.var("x")
    xv = np.array([[-1.0, 2.0], [3.0, -4.0]])
    for fn, ref in ((mx.sym.maximum, np.maximum), (mx.sym.minimum, np.minimum),
                    (mx.sym.hypot, np.hypot)):
        np.testing.assert_allclose(fn(x, 0.5).eval(x=nd.array(xv))[0].asnumpy(),
                                   ref(xv, 0.5), rtol=1e-6)
        np.testing.assert_allclose(fn(0.5, x).eval(x=nd.array(xv))[0].asnumpy(),
                                   ref(0.5, xv), rtol=1e-6)
    np.testing.assert_allclose(mx.sym.power(2.0, x).eval(x=nd.array(xv))[0].asnumpy(),
                               2.0 ** xv, rtol=1e-6)
    np.testing.assert_allclose(mx.sym.power(x, 2).eval(x=nd.array(xv))[0].asnumpy(),
                               xv ** 2, rtol=1e-6)
    assert mx.sym.maximum(2, 3) == 3 and mx.sym.minimum(2, 3) == 2


def test_sigmoid_bce_pos_weight_and_poisson_nll_batch_mean():
    """MXNet 1.9.1's SigmoidBinaryCrossEntropyLoss takes pos_weight after sample_weight:
    x - x z + (1 + (pos_weight - 1) z) (log(1 + exp(-|x|)) + max(-x, 0)) on logits,
    -(pos_weight z log(p + eps) + (1 - z) log(1 - p + eps)) on probabilities. Its
    PoissonNLLLoss returns F.mean(loss): one value for the batch (test_loss.py calls
    .asscalar() on it)."""
    rs = np.random.RandomState(2)
    x, z = rs.randn(4, 3), (rs.rand(4, 3) > 0.5) * 1.0
    pw, sw = np.array([[0.5, 2.0, 3.0]]), rs.rand(4, 1)
    logits_ref = (x - x * z + (1 + (pw - 1) * z) * (np.log1p(np.exp(-np.abs(x)))
                                                    + np.maximum(-x, 0))).mean(1)
    p = 1 / (1 + np.exp(-x))
    prob_ref = -(np.log(p + 1e-12) * z * pw + np.log(1 - p + 1e-12) * (1 - z)) * sw
    for hybridize in (False, True):
        loss_fn = gluon.loss.SigmoidBCELoss()
        if hybridize:
            loss_fn.hybridize()
        out = loss_fn(nd.array(x), nd.array(z), None, nd.array(pw))
        np.testing.assert_allclose(out.asnumpy(), logits_ref, rtol=1e-5)
        loss_fn = gluon.loss.SigmoidBCELoss(from_sigmoid=True)
        out = loss_fn(nd.array(p), nd.array(z), nd.array(sw), nd.array(pw))
        np.testing.assert_allclose(out.asnumpy(), prob_ref.mean(1), rtol=1e-5)
        poisson = gluon.loss.PoissonNLLLoss()
        if hybridize:
            poisson.hybridize()
        np.testing.assert_allclose(poisson(nd.array(x), nd.array(z)).asscalar(),
                                   np.mean(np.exp(x) - z * x), rtol=1e-5)


def test_profiler_shows_a_custom_operator_by_its_name(tmp_path):
    """profiler.md: nd.Custom(inp, op_type='MyAddOne') profiled with aggregate_stats; MXNet's
    profiler puts the call in the 'Custom Operator' domain as MyAddOne::pure_python, and the
    operators it runs as MyAddOne::<op>."""
    import json

    import tracegrad as mx
    from tracegrad import profiler

    class MyAddOne(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0] + 1)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], out_grad[0])

    @mx.operator.register("MyAddOne_r8")
    class CustomAddOneProp(mx.operator.CustomOpProp):
        def __init__(self):
            super(CustomAddOneProp, self).__init__(need_top_grad=True)

        def list_arguments(self):
            return ["data"]

        def list_outputs(self):
            return ["output"]

        def infer_shape(self, in_shape):
            return [in_shape[0]], [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return MyAddOne()

    inp = nd.zeros(shape=(5, 5))
    fname = str(tmp_path / "profile.json")
    profiler.set_config(profile_all=True, continuous_dump=True, aggregate_stats=True,
                        filename=fname)
    profiler.dumps(reset=True)
    profiler.set_state("run")
    w = nd.Custom(inp, op_type="MyAddOne_r8")
    nd.waitall()
    profiler.set_state("stop")
    profiler.dump()
    table = profiler.dumps(reset=True)
    np.testing.assert_array_equal(w.asnumpy(), np.ones((5, 5)))
    assert "Custom Operator" in table and "MyAddOne_r8::pure_python" in table
    events = json.load(open(fname))["traceEvents"]
    cats = {e["name"]: e.get("cat") for e in events}
    assert cats["MyAddOne_r8::pure_python"] == "Custom Operator"
    # the ops it runs are MyAddOne_r8::<MXNet's op name>, in 'Custom Operator' too (MXNet's
    # IsSubOperatorOfCustom: any name with '::')
    assert cats["MyAddOne_r8::_plus_scalar"] == "Custom Operator"
