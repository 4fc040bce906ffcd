"""Patterns of MXNet 1.9.1's example programs, each cut to a few synthetic batches (the
programs' own code, their data loading replaced) and checked against numpy statements of
MXNet's formulas: example/multivariate_time_series (LSTNet), example/named_entity_recognition,
example/cnn_chinese_text_classification, example/neural-style, example/fcn-xs,
example/reinforcement-learning (parallel_actor_critic, a3c, ddpg, dqn), example/rnn/old,
example/model-parallel, example/automatic-mixed-precision and example/profiler."""
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def test_lstnet_regression_head_gradient_is_the_error_over_the_series():
    # multivariate_time_series/src/lstnet.py: CNN + GRU + skip LSTM + autoregressive FCs
    # under LinearRegressionOutput; each AR FC's bias gradient is sum_b (out - y)[b, i] / n
    q, n_series, batch = 8, 3, 4
    X = mx.sym.Variable("data")
    Y = mx.sym.Variable("softmax_label")
    conv_input = mx.sym.reshape(data=X, shape=(0, 1, q, -1))
    outputs = []
    for filter_size in (2, 3):
        padi = mx.sym.pad(data=conv_input, mode="constant", constant_value=0,
                          pad_width=(0, 0, 0, 0, filter_size - 1, 0, 0, 0))
        convi = mx.sym.Convolution(data=padi, kernel=(filter_size, n_series), num_filter=2)
        acti = mx.sym.Activation(data=convi, act_type="relu")
        outputs.append(mx.sym.reshape(mx.sym.transpose(data=acti, axes=(0, 2, 1, 3)),
                                      shape=(0, 0, 0)))
    cnn_features = mx.sym.Dropout(mx.sym.Concat(*outputs, dim=2), p=0.2)
    cells = mx.rnn.SequentialRNNCell()
    cells.add(mx.rnn.GRUCell(num_hidden=5))
    cells.add(mx.rnn.DropoutCell(0.2))
    rnn_out, _ = cells.unroll(length=q, inputs=cnn_features, merge_outputs=False)
    skip = mx.rnn.SequentialRNNCell()
    skip.add(mx.rnn.LSTMCell(num_hidden=4))
    skip_out, _ = skip.unroll(length=q, inputs=cnn_features, merge_outputs=False)
    skip_out.reverse()
    skip_features = mx.sym.concat(*[skip_out[i] for i in range(0, q, 4)], dim=1)
    ar = mx.sym.concat(*[mx.sym.FullyConnected(
        data=mx.sym.slice_axis(data=X, axis=2, begin=i, end=i + 1), num_hidden=1,
        name=f"ar{i}") for i in range(n_series)], dim=1)
    neural = mx.sym.FullyConnected(mx.sym.concat(rnn_out[-1], skip_features, dim=1),
                                   num_hidden=n_series, name="neural")
    loss = mx.sym.LinearRegressionOutput(data=neural + ar, label=Y)
    rs = np.random.RandomState(0)
    x, y = rs.rand(batch, q, n_series), rs.rand(batch, n_series)
    it = mx.io.NDArrayIter(data=x, label=y, batch_size=batch)
    mod = mx.mod.Module(loss, data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(mx.initializer.Uniform(0.1))
    mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.001})
    batch0 = next(iter(it))
    mod.forward(batch0, is_train=True)
    mod.backward()
    err = mod.get_outputs()[0].asnumpy() - y
    grads = dict(zip(mod._exec_group.param_names, mod._exec_group.grad_arrays))
    for i in range(n_series):
        np.testing.assert_allclose(grads[f"ar{i}_bias"][0].asnumpy(),
                                   [err[:, i].sum() / n_series], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["neural_bias"][0].asnumpy(), err.sum(0) / n_series,
                               rtol=1e-4, atol=1e-6)
    mod.update()
    pred = mod.predict(it).asnumpy()       # (the program's metrics read these)
    assert pred.shape == (batch, n_series) and np.isfinite(pred).all()


def test_ner_multi_output_softmax_ignores_padding_and_divides_by_the_positions():
    # named_entity_recognition/src/ner.py: char CNN (3-d conv over embedded characters),
    # BiLSTM, SoftmaxOutput(multi_output, ignore_label=-1) on (batch, tags, seq) scores
    n_chars, n_words, n_tags, batch, max_chars = 10, 20, 4, 2, 5

    def sym_gen(seq_len):
        x_sent, x_char = mx.sym.Variable("sentences"), mx.sym.Variable("characters")
        chars = mx.sym.Embedding(data=x_char, input_dim=n_chars, output_dim=3, name="char_embed")
        chars = mx.sym.reshape(data=chars, shape=(0, 1, seq_len, -1, 3))
        convi = mx.sym.Convolution(data=chars, kernel=(1, 2, 3), stride=(1, 1, 1),
                                   num_filter=4, name="char_conv")
        pooli = mx.sym.Pooling(data=mx.sym.Activation(convi, act_type="tanh"), pool_type="max",
                               kernel=(1, max_chars - 1, 1), stride=(1, 1, 1))
        pooli = mx.sym.transpose(mx.sym.Reshape(pooli, shape=(0, 0, 0)), axes=(0, 2, 1))
        words = mx.sym.Embedding(data=x_sent, input_dim=n_words, output_dim=6, name="word_embed")
        feats = mx.sym.Concat(words, mx.sym.Dropout(pooli, p=0.2, mode="training"), dim=2)
        bi = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(num_hidden=3, prefix="f_"),
                                      mx.rnn.LSTMCell(num_hidden=3, prefix="b_"))
        out, _ = bi.unroll(length=seq_len, inputs=feats, merge_outputs=True)
        fc = mx.sym.FullyConnected(mx.sym.Reshape(out, shape=(-1, 6)), num_hidden=n_tags,
                                   name="fc_layer")
        scores = mx.sym.transpose(mx.sym.reshape(fc, shape=(-1, seq_len, n_tags)),
                                  axes=(0, 2, 1))
        sm = mx.sym.SoftmaxOutput(data=scores, label=mx.sym.Variable("seq_label"),
                                  ignore_label=-1, use_ignore=True, multi_output=True,
                                  name="softmax")
        return sm, ["sentences", "characters"], ["seq_label"]

    rs = np.random.RandomState(1)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=4)
    mod.bind([mx.io.DataDesc("sentences", (batch, 4)),
              mx.io.DataDesc("characters", (batch, 4, max_chars))],
             [mx.io.DataDesc("seq_label", (batch, 4))])
    mod.init_params(mx.initializer.Uniform(0.1))
    mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.01})
    for seq_len in (3, 4):
        sent = rs.randint(-1, n_words, (batch, seq_len)).astype(np.float32)  # -1: padding
        label = rs.randint(0, n_tags, (batch, seq_len)).astype(np.float32)
        label[0, -1] = -1
        chars = rs.randint(-1, n_chars, (batch, seq_len, max_chars)).astype(np.float32)
        data_batch = mx.io.DataBatch([nd.array(sent), nd.array(chars)], [nd.array(label)],
                                     bucket_key=seq_len, provide_data=[
                                         mx.io.DataDesc("sentences", sent.shape),
                                         mx.io.DataDesc("characters", chars.shape)],
                                     provide_label=[mx.io.DataDesc("seq_label", label.shape)])
        mod.forward(data_batch, is_train=True)
        mod.backward()
        p = mod.get_outputs()[0].asnumpy()                  # (batch, tags, seq)
        g = p - np.eye(n_tags)[label.clip(0).astype(int)].transpose(0, 2, 1)
        g *= (label != -1)[:, None, :]
        grads = dict(zip(mod._curr_module._exec_group.param_names,
                         mod._curr_module._exec_group.grad_arrays))
        np.testing.assert_allclose(grads["fc_layer_bias"][0].asnumpy(),
                                   g.sum((0, 2)) / seq_len, rtol=1e-4, atol=1e-6)
        mod.update()
        acc = mx.metric.Accuracy()      # the program's metric: padding counts as a miss
        acc.update([nd.array(label)], [nd.array(p)])
        assert acc.get()[1] == pytest.approx(np.mean(p.argmax(1) == label))


def test_chinese_text_cnn_custom_initializer_and_highway():
    # cnn_chinese_text_classification/text_cnn.py: a registered Initializer whose
    # _init_bias sets the highway gate's bias to -2, and the highway combination
    @mx.init.register
    class TextCNNInit(mx.init.Initializer):
        def __init__(self, kwargs):
            self._kwargs = kwargs
            super().__init__(**kwargs)

        def _init_weight(self, name, arr):
            for k, v in self._kwargs[name].items():
                if k == "uniform":
                    mx.random.uniform(-v, v, out=arr)

        def _init_bias(self, name, arr):
            for k, v in self._kwargs[name].items():
                if k == "costant":
                    arr[:] = v

    data = mx.sym.Variable("data")
    high_fc = mx.sym.FullyConnected(data, weight=mx.sym.Variable("high_weight"),
                                    bias=mx.sym.Variable("high_bias"), num_hidden=6)
    gate = mx.sym.Activation(mx.sym.FullyConnected(
        data, weight=mx.sym.Variable("high_trans_weight"),
        bias=mx.sym.Variable("high_trans_bias"), num_hidden=6), act_type="sigmoid")
    highway = mx.sym.Activation(high_fc, act_type="relu") * gate + data * (1 - gate)
    mod = mx.mod.Module(highway, label_names=None)
    mod.bind([("data", (3, 6))], for_training=False)
    mod.init_params(TextCNNInit({"high_weight": {"uniform": 0.1}, "high_bias": {"costant": 0},
                                 "high_trans_weight": {"uniform": 0.1},
                                 "high_trans_bias": {"costant": -2}}))
    args = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    np.testing.assert_array_equal(args["high_trans_bias"], np.full(6, -2.0))
    assert 0 < np.abs(args["high_weight"]).max() <= 0.1
    x = np.random.RandomState(0).randn(3, 6).astype(np.float32)
    mod.forward(mx.io.DataBatch([nd.array(x)]), is_train=False)
    t = 1 / (1 + np.exp(-(x @ args["high_trans_weight"].T + args["high_trans_bias"])))
    h = np.maximum(x @ args["high_weight"].T + args["high_bias"], 0)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), h * t + x * (1 - t),
                               rtol=1e-5, atol=1e-6)


def test_neural_style_gram_losses_and_tv_gradient():
    # neural-style/nstyle.py: gram = FullyConnected(x, x), style and content losses bound
    # with target Variables whose shapes are inferred, forward(is_train=False) then
    # backward with the style weights as head gradients; the TV executor's Laplacian conv
    rs = np.random.RandomState(0)
    data = mx.sym.Variable("data")
    relu1 = mx.sym.Activation(mx.sym.Convolution(data, num_filter=3, kernel=(3, 3),
                                                 pad=(1, 1), name="conv1"), act_type="relu")
    style, content = mx.sym.Group([relu1]), mx.sym.Group([relu1])
    _, out_shapes, _ = style.infer_shape(data=(1, 3, 5, 5))
    shape = out_shapes[0]
    x = mx.sym.Reshape(style[0], target_shape=(int(shape[1]), int(np.prod(shape[2:]))))
    gram = mx.sym.Group([mx.sym.FullyConnected(x, x, no_bias=True, num_hidden=shape[1])])
    gscale = np.prod(shape[1:]) * shape[1]
    style_loss = mx.sym.Group([mx.sym.sum(mx.sym.square(mx.sym.Variable("target_gram_0")
                                                        - gram[0]))])
    content_loss = mx.sym.sum(mx.sym.square(mx.sym.Variable("target_content") - content))
    out = mx.sym.Group([style_loss, content_loss])
    arg_shapes, _, _ = out.infer_shape(data=(1, 3, 5, 5))
    args = dict(zip(out.list_arguments(), [nd.zeros(s) for s in arg_shapes]))
    assert args["target_gram_0"].shape == (3, 3) and args["target_content"].shape == shape
    w, b = rs.randn(3, 3, 3, 3) * 0.3, rs.randn(3) * 0.1
    tg, tc, img = rs.randn(3, 3), rs.randn(*shape), rs.randn(1, 3, 5, 5)
    for k, v in (("conv1_weight", w), ("conv1_bias", b), ("target_gram_0", tg),
                 ("target_content", tc), ("data", img)):
        args[k][:] = v
    grad = {"data": nd.zeros((1, 3, 5, 5))}
    exe = out.bind(ctx=mx.cpu(), args=args, args_grad=grad, grad_req="write")
    exe.forward()
    exe.backward([nd.ones((1,)) * (1.0 / gscale), nd.ones((1,)) * 10.0])

    def losses(im):
        cols = np.pad(im[0], ((0, 0), (1, 1), (1, 1)))
        conv = np.stack([np.stack([np.stack([(w[o] * cols[:, i:i + 3, j:j + 3]).sum()
                                             for j in range(5)]) for i in range(5)])
                         for o in range(3)]) + b[:, None, None]
        r = np.maximum(conv, 0)
        f = r.reshape(3, 25)
        return (np.sum((tg - f @ f.T) ** 2) / gscale + 10 * np.sum((tc[0] - r) ** 2))

    num = np.zeros_like(img)
    for idx in np.ndindex(*img.shape):
        d = np.zeros_like(img)
        d[idx] = 1e-5
        num[idx] = (losses(img + d) - losses(img - d)) / 2e-5
    np.testing.assert_allclose(grad["data"].asnumpy(), num, rtol=1e-3, atol=1e-3)
    # TV gradient executor (get_tv_grad_executor): per channel, the Laplacian / 8
    simg, skernel = mx.sym.Variable("img"), mx.sym.Variable("kernel")
    channels = mx.sym.SliceChannel(simg, num_outputs=3)
    tv = mx.sym.Concat(*[mx.sym.Convolution(data=channels[i], weight=skernel, num_filter=1,
                                            kernel=(3, 3), pad=(1, 1), no_bias=True,
                                            stride=(1, 1)) for i in range(3)]) * 0.01
    kernel = nd.array(np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]).reshape((1, 1, 3, 3))) / 8
    tv_exe = tv.bind(mx.cpu(), args={"img": nd.array(img), "kernel": kernel})
    tv_exe.forward()
    p = np.pad(img[0], ((0, 0), (1, 1), (1, 1)))
    lap = 4 * p[:, 1:-1, 1:-1] - p[:, :-2, 1:-1] - p[:, 2:, 1:-1] - p[:, 1:-1, :-2] - \
        p[:, 1:-1, 2:]
    np.testing.assert_allclose(tv_exe.outputs[0].asnumpy()[0], 0.01 * lap / 8, rtol=1e-5,
                               atol=1e-6)
    # the NAG step of the program on the image
    opt = mx.optimizer.NAG(learning_rate=0.1, wd=0.0001, momentum=0.95,
                           lr_scheduler=mx.lr_scheduler.FactorScheduler(step=75, factor=0.9))
    im = nd.array(img)
    state = opt.create_state(0, im)
    g = grad["data"] + tv_exe.outputs[0]
    opt.update(0, im, g, state)
    gg = g.asnumpy() + 0.0001 * img
    np.testing.assert_allclose(im.asnumpy(), img - 0.1 * (gg + 0.95 * gg), rtol=1e-5,
                               atol=1e-6)


def test_fcn_score_head_deconvolution_crop_and_solver_loop():
    # fcn-xs: bigscore Deconvolution(adj) cropped to the data by Crop(offset), the bilinear
    # upsample_filt init of init_fcnxs.py, SoftmaxOutput(multi_output, ignore 255) and the
    # Solver's loop: bind per batch with args_grad for the parameters, get_updater
    data = mx.sym.Variable("data")
    score = mx.sym.Convolution(mx.sym.Pooling(data, pool_type="max", kernel=(2, 2),
                                              stride=(2, 2)), kernel=(1, 1), num_filter=3,
                               name="score")
    bigscore = mx.sym.Deconvolution(data=score, kernel=(4, 4), stride=(2, 2), adj=(1, 1),
                                    num_filter=3, name="bigscore")
    upscore = mx.sym.Crop(*[bigscore, data], offset=(1, 1), name="upscore")
    net = mx.sym.SoftmaxOutput(data=upscore, multi_output=True, use_ignore=True,
                               ignore_label=255, name="softmax")
    arg_shapes, out_shapes, _ = net.infer_shape(data=(1, 3, 8, 8))
    shapes = dict(zip(net.list_arguments(), arg_shapes))
    assert out_shapes == [(1, 3, 8, 8)] and shapes["softmax_label"] == (1, 64)
    size = shapes["bigscore_weight"][3]
    factor, center = (size + 1) // 2, (size + 1) // 2 - 0.5
    og = np.ogrid[:size, :size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    initw = np.zeros(shapes["bigscore_weight"])
    initw[range(3), range(3), :, :] = filt
    rs = np.random.RandomState(0)
    arg_params = {"score_weight": nd.array(rs.randn(3, 3, 1, 1)), "score_bias": nd.zeros(3),
                  "bigscore_weight": nd.array(initw)}
    grad_params = {k: nd.zeros(v.shape) for k, v in arg_params.items()}
    updater = mx.optimizer.get_updater(mx.optimizer.create("sgd", learning_rate=0.1,
                                                           rescale_grad=1.0))
    img = rs.randn(1, 3, 8, 8)
    label = rs.randint(0, 3, (1, 8, 8)).astype(np.float32)
    label[0, :2] = 255
    arg_params["data"] = nd.array(img)
    arg_params["softmax_label"] = nd.array(label.reshape(1, 64))
    exe = net.bind(mx.cpu(), arg_params, args_grad=grad_params, grad_req="write")
    exe.forward(is_train=True)
    out = exe.outputs[0].asnumpy()
    pooled = img.reshape(1, 3, 4, 2, 4, 2).max((3, 5))
    sc = np.einsum("oc,nchw->nohw", arg_params["score_weight"].asnumpy()[:, :, 0, 0], pooled)
    big = np.zeros((1, 3, 11, 11))
    for i in range(4):
        for j in range(4):
            big[:, :, 2 * i:2 * i + 4, 2 * j:2 * j + 4] += np.einsum(
                "nc,cokl->nokl", sc[:, :, i, j], initw)
    np.testing.assert_allclose(out, _softmax(big[:, :, 1:9, 1:9], axis=1), rtol=1e-4,
                               atol=1e-6)
    exe.backward()
    g = out - np.eye(3)[label.clip(0, 2).astype(int)].transpose(0, 3, 1, 2)
    g *= (label != 255)[:, None]
    np.testing.assert_allclose(grad_params["score_bias"].asnumpy(),
                               _bias_grad_through(g / 64, initw), rtol=1e-4, atol=1e-6)
    before = arg_params["score_bias"].asnumpy().copy()
    for key, arr in {k: grad_params[k] for k in grad_params}.items():
        if key != "bigscore_weight":
            updater(key, arr, arg_params[key])
    np.testing.assert_allclose(arg_params["score_bias"].asnumpy(),
                               before - 0.1 * grad_params["score_bias"].asnumpy(), rtol=1e-6)


def _bias_grad_through(g_crop, initw):
    """d loss / d score_bias: the cropped gradient pulled back through the deconvolution
    (a correlation with its kernel), summed over the 4x4 score positions."""
    big = np.zeros((1, 3, 11, 11))
    big[:, :, 1:9, 1:9] = g_crop
    total = np.zeros(3)
    for i in range(4):
        for j in range(4):
            total += np.einsum("nokl,cokl->c", big[:, :, 2 * i:2 * i + 4, 2 * j:2 * j + 4],
                               initw)
    return total


def test_actor_critic_partial_head_gradients_and_gae():
    # reinforcement-learning/parallel_actor_critic/model.py: Group([log_policy, value,
    # MakeLoss(neg_entropy), BlockGrad(policy)]) with out_grads for the first two only,
    # advantages from GAE (scipy's lfilter), then update and _sync_params_from_devices
    import scipy.signal
    net = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1",
                                                  num_hidden=6, no_bias=True), act_type="relu")
    policy = mx.sym.clip(mx.sym.SoftmaxActivation(mx.sym.FullyConnected(
        net, name="policy_fc", num_hidden=3, no_bias=True)), a_min=1e-5, a_max=1 - 1e-5)
    log_policy = mx.sym.log(policy)
    neg_entropy = mx.sym.MakeLoss(policy * log_policy, grad_scale=0.01)
    value = mx.sym.FullyConnected(net, name="value", num_hidden=1)
    sym = mx.sym.Group([log_policy, value, neg_entropy, mx.sym.BlockGrad(policy)])
    model = mx.mod.Module(sym, data_names=("data",), label_names=None)
    model.bind(data_shapes=[("data", (6, 4))], label_shapes=None, grad_req="write")
    model.init_params(mx.init.Xavier(rnd_type="uniform", factor_type="in", magnitude=1))
    model.init_optimizer(kvstore="local", optimizer="adam",
                         optimizer_params={"learning_rate": 1e-3, "rescale_grad": 1.0,
                                           "clip_gradient": 40})
    rs = np.random.RandomState(0)
    xs, acts = rs.randn(6, 4), rs.randint(0, 3, 6)
    rewards, values = rs.rand(2, 3), rs.rand(2, 4)
    advs = []
    for i in range(2):
        delta = rewards[i] + 0.99 * values[i][1:] - values[i][:-1]
        advs.extend(scipy.signal.lfilter([1], [1, -0.99], delta[::-1], axis=0)[::-1])
    neg_advs = np.zeros((6, 3), np.float32)
    neg_advs[np.arange(6), acts] = -np.asarray(advs)
    v_grads = 0.5 * -np.asarray(advs)[:, None]
    model.forward(mx.io.DataBatch(data=[nd.array(xs)], label=None), is_train=True)
    model.backward(out_grads=[nd.array(neg_advs), nd.array(v_grads)])
    grads = dict(zip(model._exec_group.param_names, model._exec_group.grad_arrays))
    np.testing.assert_allclose(grads["value_bias"][0].asnumpy(), [v_grads.sum()], rtol=1e-5,
                               atol=1e-6)
    args = {k: v.asnumpy() for k, v in model.get_params()[0].items()}

    def objective(wp):
        h = np.maximum(xs @ args["fc1_weight"].T, 0)
        p = np.clip(_softmax(h @ wp.T), 1e-5, 1 - 1e-5)
        return np.sum(neg_advs * np.log(p)) + 0.01 * np.sum(p * np.log(p))

    wp = args["policy_fc_weight"].astype(np.float64)
    num = np.zeros_like(wp)
    for idx in np.ndindex(*wp.shape):
        d = np.zeros_like(wp)
        d[idx] = 1e-6
        num[idx] = (objective(wp + d) - objective(wp - d)) / 2e-6
    np.testing.assert_allclose(grads["policy_fc_weight"][0].asnumpy(), num, rtol=1e-3,
                               atol=1e-5)
    model.update()
    model._sync_params_from_devices()
    assert not np.allclose(model.get_params()[0]["value_bias"].asnumpy(), args["value_bias"])


def test_a3c_out_grad_softmax_and_accumulated_gradients():
    # reinforcement-learning/a3c: SoftmaxOutput(out_grad=True) and SoftmaxActivation heads,
    # the LinearRegressionOutput value head left out of out_grads, grad_req='add' over t_max
    # backward calls after zeroing module._exec_group.grad_arrays
    data = mx.sym.Cast(mx.sym.Variable("data"), dtype="float32")
    net = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Flatten(data), name="fc4",
                                                  num_hidden=5), act_type="relu")
    fc_policy = mx.sym.FullyConnected(net, name="fc_policy", num_hidden=3)
    sym = mx.sym.Group([mx.sym.SoftmaxOutput(fc_policy, name="policy", out_grad=True),
                        mx.sym.SoftmaxActivation(fc_policy, name="entropy"),
                        mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(
                            net, name="fc_value", num_hidden=1), name="value")])
    module = mx.mod.Module(sym, data_names=["data"],
                           label_names=("policy_label", "value_label"))
    module.bind(data_shapes=[mx.io.DataDesc("data", (2, 2, 3, 3), np.uint8)],
                label_shapes=[("policy_label", (2,)), ("value_label", (2, 1))],
                grad_req="add")
    module.init_params(mx.init.Mixed(["fc_value_weight|fc_policy_weight", ".*"],
                                     [mx.init.Uniform(0.001),
                                      mx.init.Xavier(rnd_type="gaussian", factor_type="in",
                                                     magnitude=2)]))
    module.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 1e-4,
                                                              "epsilon": 1e-3})
    for exe in module._exec_group.grad_arrays:
        for g in exe:
            g[:] = 0
    rs = np.random.RandomState(0)
    want = np.zeros(3)
    for _ in range(2):
        s = nd.array(rs.randint(0, 255, (2, 2, 3, 3)), dtype=np.uint8)
        a, R = rs.randint(0, 3, 2), rs.rand(2, 1)
        module.forward(mx.io.DataBatch(data=[s], label=[nd.array(a), nd.array(R)]),
                       is_train=True)
        pi = module.get_outputs()[1]
        h = -0.08 * (nd.log(pi + 1e-7) * pi)
        adv = np.tile(R - module.get_outputs()[2].asnumpy(), (1, 3))
        out_acts = np.tile(-np.log(np.amax(pi.asnumpy(), 1)[:, None] + 1e-7), (1, 3))
        module.backward([nd.array(out_acts * adv), h])
        p, hv = pi.asnumpy(), h.asnumpy()
        g_out = (p - np.eye(3)[a]) * out_acts * adv                  # out_grad=True
        jac = p * (hv - (hv * p).sum(1, keepdims=True))              # softmax's vjp
        want += (g_out + jac).sum(0)
    grads = dict(zip(module._exec_group.param_names, module._exec_group.grad_arrays))
    np.testing.assert_allclose(grads["fc_policy_bias"][0].asnumpy(), want, rtol=1e-4,
                               atol=1e-6)


def test_ddpg_policy_executor_shares_the_critic_arrays():
    # reinforcement-learning/ddpg: the policy loss -1/B sum Q(obs, act) bound on the
    # critic's own argument and gradient arrays; the gradient in 'act' feeds the actor
    obs, act = mx.sym.Variable("obs"), mx.sym.Variable("act")
    net = mx.sym.Activation(mx.sym.FullyConnected(obs, name="qfunc_fc1", num_hidden=4),
                            act_type="relu")
    net = mx.sym.Concat(net, act, name="qunfc_concat")
    qval = mx.sym.FullyConnected(mx.sym.Activation(mx.sym.FullyConnected(
        net, name="qfunc_fc3", num_hidden=4), act_type="relu"), name="qfunc_qval", num_hidden=1)
    yval = mx.sym.Variable("yval")
    B = 5
    loss = mx.sym.Group([mx.sym.MakeLoss(1.0 / B * mx.sym.sum(mx.sym.square(qval - yval)),
                                         name="qfunc_loss"), mx.sym.BlockGrad(qval)])
    shapes = {"obs": (B, 3), "act": (B, 2), "yval": (B, 1)}
    qexe = loss.simple_bind(ctx=mx.cpu(), **shapes)
    init = mx.initializer.Normal()
    for name, arr in qexe.arg_dict.items():
        if name not in shapes:
            init(name, arr)          # (a plain name: MXNet's legacy path, biases zero)
    assert not qexe.arg_dict["qfunc_qval_bias"].asnumpy().any()
    policy_loss = mx.sym.MakeLoss(-1.0 / B * mx.sym.sum(qval), name="policy_loss")
    args = {k: v for k, v in qexe.arg_dict.items() if k != "yval"}
    grads = {k: v for k, v in zip(loss.list_arguments(), qexe.grad_arrays) if k != "yval"}
    pexe = policy_loss.bind(ctx=mx.cpu(), args=args, args_grad=grads, grad_req="write")
    rs = np.random.RandomState(0)
    o, a = rs.randn(B, 3), rs.randn(B, 2)
    pexe.arg_dict["obs"][:] = o
    pexe.arg_dict["act"][:] = a
    pexe.forward(is_train=True)
    pexe.backward()
    p = {k: v.asnumpy().astype(np.float64) for k, v in qexe.arg_dict.items()}

    def q(av):
        h = np.maximum(o @ p["qfunc_fc1_weight"].T + p["qfunc_fc1_bias"], 0)
        h = np.maximum(np.concatenate([h, av], 1) @ p["qfunc_fc3_weight"].T
                       + p["qfunc_fc3_bias"], 0)
        return h @ p["qfunc_qval_weight"].T + p["qfunc_qval_bias"]

    num = np.zeros_like(a)
    for idx in np.ndindex(*a.shape):
        d = np.zeros_like(a)
        d[idx] = 1e-6
        num[idx] = -(q(a + d).sum() - q(a - d).sum()) / (2e-6 * B)
    got = dict(zip(policy_loss.list_arguments(), pexe.grad_arrays))["act"].asnumpy()
    np.testing.assert_allclose(got, num, rtol=1e-4, atol=1e-6)
    assert np.shares_memory(got, qexe.grad_dict["act"].asnumpy()) or \
        np.array_equal(qexe.grad_dict["act"].asnumpy(), got)


class _DQNOutput(mx.operator.CustomOp):
    """reinforcement-learning/dqn/operators.py's DQNOutput (numpy.int written int)."""

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        x = out_data[0].asnumpy()
        action = in_data[1].asnumpy().astype(int)
        reward = in_data[2].asnumpy()
        ret = np.zeros(shape=in_grad[0].shape, dtype=np.float32)
        ret[np.arange(action.shape[0]), action] = np.clip(
            x[np.arange(action.shape[0]), action] - reward, -1, 1)
        self.assign(in_grad[0], req[0], ret)


@mx.operator.register("DQNOutputR9b")
class _DQNOutputProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=False)

    def list_arguments(self):
        return ["data", "action", "reward"]

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][0],), (in_shape[0][0],)], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return _DQNOutput()


def test_dqn_custom_output_and_target_rewards():
    # reinforcement-learning/dqn: Base's executor over a Custom loss op, a DQNInitializer
    # overriding _init_bias (plain parameter names), target rewards with
    # choose_element_0index / argmax_channel, AdaGrad through get_updater
    class DQNInitializer(mx.initializer.Xavier):
        def _init_bias(self, _, arr):
            arr[:] = .1

    net = mx.sym.Flatten(mx.sym.Convolution(mx.sym.Variable("data"), name="conv1",
                                            kernel=(3, 3), stride=(2, 2), num_filter=4))
    net = mx.sym.FullyConnected(net, name="fc4", num_hidden=3)
    sym = mx.sym.Custom(data=net, name="dqn", op_type="DQNOutputR9b")
    B = 4
    shapes = {"data": (B, 2, 7, 7), "dqn_action": (B,), "dqn_reward": (B,)}
    arg_shapes, _, _ = sym.infer_shape(**shapes)
    params = {n: nd.empty(s) for n, s in zip(sym.list_arguments(), arg_shapes)
              if n not in shapes}
    grads = {n: nd.empty(v.shape) for n, v in params.items()}
    init = DQNInitializer(factor_type="in")
    for k, v in params.items():
        init(k, v)
    assert np.all(params["fc4_bias"].asnumpy() == np.float32(0.1))
    exe = sym.bind(mx.cpu(), args=dict(params, **{k: nd.empty(s) for k, s in shapes.items()}),
                   args_grad=grads)
    rs = np.random.RandomState(0)
    states = nd.array(rs.randint(0, 255, shapes["data"])) / 255.0
    actions, rewards = nd.array(rs.randint(0, 3, B)), nd.array(rs.randn(B))
    terminal = nd.array(rs.rand(B) > 0.5)
    exe.arg_dict["data"][:] = states
    exe.forward(is_train=False)
    qval = exe.outputs[0]
    target = rewards + nd.choose_element_0index(qval, nd.argmax_channel(qval)) * \
        (1.0 - terminal) * 0.99
    q = qval.asnumpy()
    np.testing.assert_allclose(target.asnumpy(), rewards.asnumpy() + q.max(1) *
                               (1 - terminal.asnumpy()) * 0.99, rtol=1e-6)
    for k, v in (("data", states), ("dqn_action", actions), ("dqn_reward", target)):
        exe.arg_dict[k][:] = v
    exe.forward(is_train=True)
    exe.backward()
    a = actions.asnumpy().astype(int)
    g = np.zeros((B, 3))
    g[np.arange(B), a] = np.clip(q[np.arange(B), a] - target.asnumpy(), -1, 1)
    np.testing.assert_allclose(grads["fc4_bias"].asnumpy(), g.sum(0), rtol=1e-5, atol=1e-6)
    updater = mx.optimizer.get_updater(mx.optimizer.create(
        name="adagrad", learning_rate=0.01, eps=0.01, rescale_grad=1.0, wd=0.0))
    before = params["fc4_bias"].asnumpy().copy()
    for ind, k in enumerate(params):
        updater(index=ind, grad=grads[k], weight=params[k])
    gb = g.sum(0)
    np.testing.assert_allclose(params["fc4_bias"].asnumpy(),
                               before - 0.01 * gb / np.sqrt(gb * gb + 0.01), rtol=1e-5)


def test_old_rnn_feedforward_with_legacy_label_reshape():
    # rnn/old/lstm.py + lstm_bucketing.py: labels transposed and flattened with the
    # deprecated Reshape(target_shape=(0,)), trained by mx.model.FeedForward
    seq_len, vocab, batch = 3, 5, 2

    def sym_gen(seq_len):
        embed = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=vocab, output_dim=4,
                                 name="embed")
        steps = mx.sym.SliceChannel(embed, num_outputs=seq_len, squeeze_axis=1)
        hidden = mx.sym.Concat(*[mx.sym.Activation(mx.sym.FullyConnected(
            steps[t], num_hidden=6, weight=mx.sym.Variable("h_weight"),
            bias=mx.sym.Variable("h_bias")), act_type="tanh") for t in range(seq_len)], dim=0)
        pred = mx.sym.FullyConnected(hidden, num_hidden=vocab, name="pred")
        label = mx.sym.Reshape(mx.sym.transpose(mx.sym.Variable("softmax_label")),
                               target_shape=(0,))
        return mx.sym.SoftmaxOutput(pred, label, name="softmax")

    rs = np.random.RandomState(0)
    x = rs.randint(0, vocab, (4, seq_len)).astype(np.float32)
    y = np.roll(x, -1, axis=1)
    it = mx.io.NDArrayIter(x, y, batch_size=batch, label_name="softmax_label")
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward(ctx=[mx.cpu()], symbol=sym_gen(seq_len), num_epoch=2,
                                     learning_rate=0.5, momentum=0.0, wd=0.00001,
                                     initializer=mx.init.Xavier(factor_type="in",
                                                                magnitude=2.34))

    def perplexity(label, pred):
        label = label.T.reshape((-1,))
        return np.exp(-np.mean(np.log(np.maximum(1e-10, pred[np.arange(len(label)),
                                                             label.astype(int)]))))

    metric = mx.metric.np(perplexity)
    model.fit(X=it, eval_data=it, kvstore="device", eval_metric=metric)
    # (predict keeps the first batch_size rows of each batch's output, as MXNet's does)
    assert model.predict(it).shape == (4, vocab)
    mod = mx.mod.Module(model.symbol)
    mod.bind(it.provide_data, it.provide_label, for_training=False)
    mod.set_params(model.arg_params, model.aux_params)
    it.reset()
    values = []
    for b in it:
        mod.forward(b, is_train=False)
        values.append(perplexity(b.label[0].asnumpy(), mod.get_outputs()[0].asnumpy()))
    want = np.mean(values)
    assert model.score(it, metric) == pytest.approx(want, rel=1e-5)
    assert want < vocab                            # trained: better than uniform


def test_model_parallel_matrix_factorization_with_ctx_groups():
    # model-parallel/matrix_factorization: ctx_group scopes mapped by group2ctxs, the
    # prediction sum(user * item), LinearRegressionOutput and the MSE metric
    with mx.AttrScope(ctx_group="dev1"):
        user = mx.sym.Embedding(data=mx.sym.Variable("user"),
                                weight=mx.sym.Variable("user_weight"), input_dim=6,
                                output_dim=4)
        item = mx.sym.Embedding(data=mx.sym.Variable("item"),
                                weight=mx.sym.Variable("item_weight"), input_dim=5,
                                output_dim=4)
    with mx.AttrScope(ctx_group="dev2"):
        pred = mx.sym.Flatten(mx.sym.sum(data=user * item, axis=1))
        pred = mx.sym.LinearRegressionOutput(data=pred, label=mx.sym.Variable("score"))
    assert pred.attr_dict()["user_weight"]["__ctx_group__"] == "dev1"
    rs = np.random.RandomState(0)
    u, i, s = rs.randint(0, 6, 8), rs.randint(0, 5, 8), rs.rand(8) * 5
    it = mx.io.NDArrayIter(data={"user": nd.array(u, dtype="int32"), "item": nd.array(i)},
                           label={"score": nd.array(s)}, batch_size=4)
    mod = mx.mod.Module(symbol=pred, context=[mx.cpu()] * 2, data_names=["user", "item"],
                        label_names=["score"],
                        group2ctxs={"dev1": [mx.cpu()] * 2, "dev2": [mx.cpu(0), mx.cpu(1)]})
    mod.fit(it, eval_metric=mx.metric.create(["MSE"]), num_epoch=1, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "wd": 1e-4, "momentum": 0.9,
                              "rescale_grad": 1.0 / 4},
            initializer=mx.init.Xavier(factor_type="in", magnitude=2.34))
    args = mod.get_params()[0]
    want = (args["user_weight"].asnumpy()[u] * args["item_weight"].asnumpy()[i]).sum(1)
    metric = mx.metric.create(["MSE"])
    mod.score(it, metric)
    assert metric.get()[1][0] == pytest.approx(np.mean((want - s) ** 2), rel=1e-5)


def test_amp_conversion_of_a_checkpoint_and_of_a_hybridized_block(tmp_path):
    # automatic-mixed-precision/amp_model_conversion.py on CPU: convert_model of a loaded
    # checkpoint (saved with its amp_casts), the fp32 parameters set into the converted
    # module; convert_hybrid_block after net.forward on the hybridized net, then export
    from tracegrad.contrib.amp import amp
    data = mx.sym.Variable("data")
    net = mx.sym.Activation(mx.sym.BatchNorm(mx.sym.Convolution(
        data, kernel=(3, 3), pad=(1, 1), num_filter=4, name="conv0"), name="bn0"),
        act_type="relu")
    net = mx.sym.FullyConnected(mx.sym.Flatten(mx.sym.Pooling(
        net, global_pool=True, pool_type="avg", kernel=(1, 1))), num_hidden=3, name="fc1")
    sym0 = mx.sym.SoftmaxOutput(net, name="softmax")
    mod0 = mx.mod.Module(sym0)
    mod0.bind([("data", (1, 3, 6, 6))], [("softmax_label", (1,))], for_training=False)
    mod0.init_params(mx.init.Xavier())
    arg0, aux0 = mod0.get_params()
    prefix = str(tmp_path / "m")
    mx.model.save_checkpoint(prefix, 0, sym0, arg0, aux0)
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 0)
    result_sym, result_args, result_aux = amp.convert_model(sym, arg_params, aux_params,
                                                            cast_optional_params=True)
    assert result_args["conv0_weight"].dtype == np.float16
    assert result_args["bn0_gamma"].dtype == np.float32
    result_sym.save(prefix + "-amp-symbol.json", remove_amp_cast=False)
    mod = mx.mod.Module(result_sym, data_names=["data"], label_names=["softmax_label"],
                        context=mx.gpu(0))
    mod.bind(data_shapes=[["data", (1, 3, 6, 6)]], label_shapes=[["softmax_label", (1,)]],
             for_training=False)
    mod.set_params(arg_params, aux_params)
    batch = mx.io.DataBatch(data=[nd.ones((1, 3, 6, 6))], label=[nd.ones((1,))])
    mod.forward(batch)
    mod0.forward(batch)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), mod0.get_outputs()[0].asnumpy(),
                               rtol=2e-2, atol=2e-3)
    block = mx.gluon.nn.HybridSequential()
    block.add(mx.gluon.nn.Conv2D(4, 3), mx.gluon.nn.GlobalAvgPool2D(), mx.gluon.nn.Dense(3))
    block.initialize()
    block.hybridize()
    before = block.forward(nd.random.uniform(shape=(1, 3, 8, 8)))
    block.export(str(tmp_path / "g"))
    converted = amp.convert_hybrid_block(block, cast_optional_params=True)
    sym_file, _ = converted.export(str(tmp_path / "g-amp"), remove_amp_cast=False)
    assert "amp_cast" in open(sym_file).read()
    after = converted.forward(nd.random.uniform(shape=(1, 3, 8, 8), dtype=np.float32,
                                                ctx=mx.gpu(0)))
    assert after.shape == before.shape == (1, 3)


def test_profiler_examples(tmp_path):
    # example/profiler: profiler_ndarray's legacy functions and the trace written at exit
    # without a dump; profiler_executor's Module training under the 'ccsgd' optimizer
    from tracegrad import profiler
    profiler.set_state("stop")
    profiler.set_config(profile_all=True, filename=str(tmp_path / "profile_ndarray.json"))
    profiler.set_state("run")
    shape = (6, 4)
    npy = np.arange(np.prod(shape)).reshape(shape)
    arr = nd.array(npy)
    indices = np.random.RandomState(0).randint(shape[1], size=shape[0])
    npy[:] = 0
    npy[np.arange(shape[0]), indices] = 1
    nd.onehot_encode(nd.array(indices), out=arr)
    assert np.array_equal(npy, arr.asnumpy())
    val = np.arange(shape[0])
    new = np.arange(24).reshape(shape).copy()
    new[np.arange(shape[0]), indices] = val
    assert np.array_equal(new, nd.fill_element_0index(nd.array(np.arange(24).reshape(shape)),
                                                      nd.array(val),
                                                      nd.array(indices)).asnumpy())
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=4)
    mod = mx.mod.Module(mx.sym.SoftmaxOutput(fc, name="softmax"), context=[mx.cpu(0)])
    mod.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    mod.init_params(initializer=mx.init.Xavier(magnitude=2.))
    mod.init_optimizer(optimizer="ccsgd", optimizer_params={"learning_rate": 0.0001,
                                                            "momentum": 0.0, "wd": 0.0})
    batch = mx.io.DataBatch([mx.random.uniform(-1.0, 1.0, shape=(8, 5))],
                            [nd.array(np.random.randint(1, 100, size=(8,)))])
    for _ in range(3):
        mod.forward(batch, is_train=True)
        mod.backward()
        mod.update()
        for output in mod.get_outputs(merge_multi_context=False)[0]:
            output.wait_to_read()
    profiler.set_state("stop")
    profiler._dump_at_exit()             # what the interpreter's exit runs
    names = {e["name"] for e in json.loads(
        (tmp_path / "profile_ndarray.json").read_text())["traceEvents"]}
    assert names - {"process_name"}
