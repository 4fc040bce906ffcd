"""Patterns of MXNet 1.9.1's symbol/Module example programs, each cut to a few synthetic
batches (the programs' own code, their data loading replaced, widths shrunk) and checked
against numpy statements of the formulas (example/numpy-ops: test_mxnet_examples_r9a.py):
example/distributed_training (cifar10_dist.py on kv.create('dist') in one process),
example/kaggle-ndsb1 and kaggle-ndsb2 (symbol nets, Module, FeedForward, CSVIter) and
example/speech_recognition (the stt_layer_* GRU/LSTM/fc/conv/batchnorm symbols under a
BucketingModule). (example/gan holds only R code in 1.9.1.)"""
import math
from collections import namedtuple

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

from ctc_reference import ctc_nll


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# --------------------------------------------------------------------------- distributed_training
class SplitSampler(gluon.data.sampler.Sampler):
    def __init__(self, length, num_parts=1, part_index=0):
        self.part_len = length // num_parts
        self.start = self.part_len * part_index
        self.end = self.start + self.part_len

    def __iter__(self):
        indices = list(range(self.start, self.end))
        np.random.shuffle(indices)
        return iter(indices)

    def __len__(self):
        return self.part_len


def _small_cnn():
    """(a small stand-in for the program's resnet18_v1, which is too slow for a unit test;
    no BatchNorm, whose batch statistics would differ between the halves and the batch)"""
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, padding=1), gluon.nn.Activation('relu'),
            gluon.nn.GlobalAvgPool2D(), gluon.nn.Dense(10))
    return net


def test_distributed_training_cifar_script_on_dist_kvstore_in_one_process():
    store = mx.kv.create('dist')            # the program's store: synchronous, 1 worker here
    assert (store.type, store.num_workers, store.rank) == ('dist', 1, 0)
    ctx = [mx.cpu(0), mx.cpu(1)]

    def transform(data, label):
        return nd.transpose(data.astype(np.float32), (2, 0, 1)) / 255, label.astype(np.float32)

    rs = np.random.RandomState(0)
    images = nd.array(rs.randint(0, 255, (16, 8, 8, 3)), dtype='uint8')
    labels = nd.array(rs.randint(0, 10, (16,)), dtype='int32')
    dataset = gluon.data.ArrayDataset(images, labels).transform(transform)
    sampler = SplitSampler(16, store.num_workers, store.rank)
    train_data = gluon.data.DataLoader(dataset, 8, sampler=sampler)
    assert sorted(sampler) == list(range(16))
    x0, y0 = dataset[3]
    np.testing.assert_allclose(x0.asnumpy(), images.asnumpy()[3].transpose(2, 0, 1) / 255,
                               rtol=1e-6)
    assert y0.dtype == np.float32

    mx.random.seed(0)
    net = _small_cnn()
    net.collect_params().initialize(mx.init.Xavier(), ctx=ctx)
    ref = _small_cnn()                    # the same model on one context and the whole batch
    ref.collect_params().initialize(mx.init.Xavier(), ctx=mx.cpu())
    net(nd.zeros((1, 3, 8, 8), ctx=ctx[0]))
    ref(nd.zeros((1, 3, 8, 8)))
    for (name, p), q in zip(net.collect_params().items(), ref.collect_params().values()):
        q.set_data(p.data(ctx[0]))
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': .01}, kvstore=store)
    ref_trainer = gluon.Trainer(ref.collect_params(), 'adam', {'learning_rate': .01})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for batch in train_data:
        data = gluon.utils.split_and_load(batch[0], ctx)
        label = gluon.utils.split_and_load(batch[1], ctx)
        with autograd.record():
            losses = [loss(net(X), Y) for X, Y in zip(data, label)]
        for l in losses:
            l.backward()
        trainer.step(batch[0].shape[0])
        with autograd.record():
            ref_loss = loss(ref(batch[0]), batch[1])
        ref_loss.backward()
        ref_trainer.step(batch[0].shape[0])
        np.testing.assert_allclose(np.concatenate([l.asnumpy() for l in losses]),
                                   ref_loss.asnumpy(), rtol=1e-4, atol=1e-6)
    # the two copies stay equal, and equal the single-context model: the gradients summed
    for p, q in zip(net.collect_params().values(), ref.collect_params().values()):
        a, b = p.data(ctx[0]).asnumpy(), p.data(ctx[1]).asnumpy()
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, q.data().asnumpy(), rtol=1e-3, atol=1e-5)
    acc = mx.metric.Accuracy()
    outs = []
    for data, label in gluon.data.DataLoader(dataset, 8, shuffle=False):
        output = net(data.as_in_context(ctx[0]))
        outs.append(output.asnumpy())
        acc.update(preds=nd.argmax(output, axis=1), labels=label.as_in_context(ctx[0]))
    assert acc.get()[1] == pytest.approx(np.mean(np.concatenate(outs).argmax(1)
                                                 == labels.asnumpy()))


# --------------------------------------------------------------------------- kaggle-ndsb1
def get_dsb_symbol(num_classes=121, w=8):
    """symbol_dsb.py's net, filter counts divided by w."""
    net = mx.sym.Variable("data")
    net = mx.sym.Convolution(data=net, kernel=(5, 5), num_filter=32 // w, pad=(2, 2))
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Convolution(data=net, kernel=(5, 5), num_filter=64 // w, pad=(2, 2))
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Pooling(data=net, pool_type="max", kernel=(3, 3), stride=(2, 2))
    net = mx.sym.Convolution(data=net, kernel=(3, 3), num_filter=64 // w, pad=(1, 1))
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Convolution(data=net, kernel=(3, 3), num_filter=128 // w, pad=(1, 1))
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Pooling(data=net, pool_type="max", kernel=(3, 3), stride=(2, 2))
    net = mx.sym.Convolution(data=net, kernel=(3, 3), num_filter=256 // w, pad=(1, 1))
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Pooling(data=net, pool_type="avg", kernel=(9, 9), stride=(1, 1))
    net = mx.sym.Flatten(data=net)
    net = mx.sym.Dropout(data=net, p=0.25)
    net = mx.sym.FullyConnected(data=net, num_hidden=num_classes)
    return mx.symbol.SoftmaxOutput(data=net, name='softmax')


def test_kaggle_ndsb1_symbol_train_checkpoint_and_feedforward_predict(tmp_path):
    net = get_dsb_symbol(5)
    # the program's data_shape (3, 36, 36) leaves an 8x8 map for the 9x9 average pool:
    # MXNet's Pooling shape check refuses it ("kernel size (9) exceeds input (8 ...")
    with pytest.raises(mx.MXNetError, match="exceeds input"):
        net.infer_shape(data=(2, 3, 36, 36))
    assert net.infer_shape(data=(2, 3, 40, 40))[1] == [(2, 5)]
    rs = np.random.RandomState(0)
    x = rs.rand(8, 3, 40, 40).astype(np.float32)
    y = rs.randint(0, 5, 8).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=4)
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(train, num_epoch=1, optimizer='sgd',
            optimizer_params={'learning_rate': 0.01, 'momentum': 0.9, 'wd': 0.0001},
            initializer=mx.init.Xavier(factor_type="in", magnitude=2.34), eval_metric='acc')
    mod.save_checkpoint(str(tmp_path / "sample_net-0"), 1)
    # predict_dsb.py: FeedForward.load the checkpoint, predict (numpy, one row per image)
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward.load(str(tmp_path / "sample_net-0"), 1, ctx=mx.cpu(),
                                          numpy_batch_size=4)
    test = mx.io.NDArrayIter(x, batch_size=4)
    predictions = model.predict(test)
    assert predictions.shape == (8, 5)
    np.testing.assert_allclose(predictions, mod.predict(test).asnumpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(predictions.sum(1), 1, rtol=1e-5)


# --------------------------------------------------------------------------- kaggle-ndsb2
def get_lenet(n_out):
    """Train.py's get_lenet (frame differences in, a CDF of n_out steps out), widths shrunk."""
    source = mx.sym.Variable("data")
    source = (source - 128) * (1.0 / 128)
    frames = mx.sym.SliceChannel(source, num_outputs=30)
    diffs = [frames[i + 1] - frames[i] for i in range(29)]
    source = mx.sym.Concat(*diffs)
    net = mx.sym.Convolution(source, kernel=(5, 5), num_filter=4)
    net = mx.sym.BatchNorm(net, fix_gamma=True)
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Convolution(net, kernel=(3, 3), num_filter=4)
    net = mx.sym.BatchNorm(net, fix_gamma=True)
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    flatten = mx.symbol.Flatten(net)
    flatten = mx.symbol.Dropout(flatten)
    fc1 = mx.symbol.FullyConnected(data=flatten, num_hidden=n_out)
    return mx.symbol.LogisticRegressionOutput(data=fc1, name='softmax'), source


def CRPS(label, pred):
    for i in range(pred.shape[0]):
        for j in range(pred.shape[1] - 1):
            if pred[i, j] > pred[i, j + 1]:
                pred[i, j + 1] = pred[i, j]
    return np.sum(np.square(label - pred)) / label.size


def encode_label(label_data, n):
    systole = label_data[:, 1]
    diastole = label_data[:, 2]
    systole_encode = np.array([(x < np.arange(n)) for x in systole], dtype=np.uint8)
    diastole_encode = np.array([(x < np.arange(n)) for x in diastole], dtype=np.uint8)
    return systole_encode, diastole_encode


def test_kaggle_ndsb2_frame_differences_csviter_feedforward_crps(tmp_path):
    n_out, N, side = 12, 6, 12
    rs = np.random.RandomState(0)
    label_data = np.stack([np.arange(N), rs.randint(0, n_out, N), rs.randint(0, n_out, N)], 1)
    systole, diastole = encode_label(label_data.astype(float), n_out)
    np.testing.assert_array_equal(systole.sum(1), n_out - 1 - np.minimum(label_data[:, 1],
                                                                         n_out - 1))
    frames = rs.randint(0, 255, (N, 30 * side * side)).astype(np.float64)
    np.savetxt(tmp_path / "train-data.csv", frames, delimiter=",", fmt="%g")
    np.savetxt(tmp_path / "train-systole.csv", systole, delimiter=",", fmt="%g")
    network, diffs = get_lenet(n_out)
    # the first layer's input: consecutive frame differences of the scaled data
    exe = diffs.simple_bind(mx.cpu(), data=(2, 30, side, side))
    v = frames[:2].reshape(2, 30, side, side)
    out = exe.forward(data=nd.array(v))[0].asnumpy()
    s = (v - 128) / 128
    np.testing.assert_allclose(out, s[:, 1:] - s[:, :-1], rtol=1e-5, atol=1e-6)

    data_train = mx.io.CSVIter(data_csv=str(tmp_path / "train-data.csv"),
                               data_shape=(30, side, side),
                               label_csv=str(tmp_path / "train-systole.csv"),
                               label_shape=(n_out,), batch_size=3)
    data_validate = mx.io.CSVIter(data_csv=str(tmp_path / "train-data.csv"),
                                  data_shape=(30, side, side), batch_size=1)
    with pytest.warns(DeprecationWarning):
        systole_model = mx.model.FeedForward(ctx=[mx.cpu()], symbol=network, num_epoch=2,
                                             learning_rate=0.001, wd=0.00001, momentum=0.9)
    seen = []

    def crps(label, pred):
        seen.append((label.copy(), pred.copy()))
        return CRPS(label, pred)

    systole_model.fit(X=data_train, eval_metric=mx.metric.np(crps))
    label, pred = seen[-1]
    assert label.shape == pred.shape == (3, n_out)
    assert ((pred > 0) & (pred < 1)).all()
    # predict on the label-less iterator (its dummy label is not the loss layer's)
    systole_prob = systole_model.predict(data_validate)
    assert systole_prob.shape == (N, n_out)
    again = systole_model.predict(mx.io.NDArrayIter(frames.reshape(N, 30, side, side),
                                                    batch_size=2))
    np.testing.assert_allclose(systole_prob, again, rtol=1e-5, atol=1e-6)
    monotone = np.maximum.accumulate(systole_prob, axis=1)
    assert CRPS(systole.astype(float), systole_prob.copy()) == pytest.approx(
        np.mean((systole - monotone) ** 2))


# --------------------------------------------------------------------------- speech_recognition
GRUState = namedtuple("GRUState", ["h"])
GRUParam = namedtuple("GRUParam", ["gates_i2h_weight", "gates_i2h_bias",
                                   "gates_h2h_weight", "gates_h2h_bias",
                                   "trans_i2h_weight", "trans_i2h_bias",
                                   "trans_h2h_weight", "trans_h2h_bias"])
LSTMState = namedtuple("LSTMState", ["c", "h"])


def batchnorm(net, gamma=None, beta=None, eps=0.001, momentum=0.9, fix_gamma=False,
              use_global_stats=False, output_mean_var=False, name=None):
    if gamma is not None and beta is not None:
        return mx.sym.BatchNorm(data=net, gamma=gamma, beta=beta, eps=eps, momentum=momentum,
                                fix_gamma=fix_gamma, use_global_stats=use_global_stats,
                                output_mean_var=output_mean_var, name=name)
    return mx.sym.BatchNorm(data=net, eps=eps, momentum=momentum, fix_gamma=fix_gamma,
                            use_global_stats=use_global_stats,
                            output_mean_var=output_mean_var, name=name)


def conv(net, channels, filter_dimension, stride, act_type="relu", no_bias=False, name=None):
    net = mx.sym.Convolution(data=net, num_filter=channels, kernel=filter_dimension,
                             stride=stride, no_bias=no_bias, name=name)
    return mx.sym.Activation(data=net, act_type=act_type)


def gru(num_hidden, indata, prev_state, param, seqidx, layeridx, is_batchnorm=False,
        gamma=None, beta=None, name=None):
    i2h = mx.sym.FullyConnected(data=indata, weight=param.gates_i2h_weight,
                                bias=param.gates_i2h_bias, num_hidden=num_hidden * 2,
                                name="t%d_l%d_gates_i2h" % (seqidx, layeridx))
    if is_batchnorm:
        i2h = batchnorm(net=i2h, gamma=gamma, beta=beta, name="%s_batchnorm" % name)
    h2h = mx.sym.FullyConnected(data=prev_state.h, weight=param.gates_h2h_weight,
                                bias=param.gates_h2h_bias, num_hidden=num_hidden * 2,
                                name="t%d_l%d_gates_h2h" % (seqidx, layeridx))
    gates = i2h + h2h
    slice_gates = mx.sym.SliceChannel(gates, num_outputs=2,
                                      name="t%d_l%d_slice" % (seqidx, layeridx))
    update_gate = mx.sym.Activation(slice_gates[0], act_type="sigmoid")
    reset_gate = mx.sym.Activation(slice_gates[1], act_type="sigmoid")
    htrans_i2h = mx.sym.FullyConnected(data=indata, weight=param.trans_i2h_weight,
                                       bias=param.trans_i2h_bias, num_hidden=num_hidden,
                                       name="t%d_l%d_trans_i2h" % (seqidx, layeridx))
    h_after_reset = prev_state.h * reset_gate
    htrans_h2h = mx.sym.FullyConnected(data=h_after_reset, weight=param.trans_h2h_weight,
                                       bias=param.trans_h2h_bias, num_hidden=num_hidden,
                                       name="t%d_l%d_trans_h2h" % (seqidx, layeridx))
    h_trans_active = mx.sym.Activation(htrans_i2h + htrans_h2h, act_type="tanh")
    return GRUState(h=prev_state.h + update_gate * (h_trans_active - prev_state.h))


def gru_unroll(net, num_gru_layer, seq_len, num_hidden_gru_list, is_batchnorm=False,
               prefix="", direction="forward"):
    """stt_layer_gru.gru_unroll, bucketing form (one BatchNorm gamma/beta per layer)."""
    param_cells, last_states = [], []
    for i in range(num_gru_layer):
        v = lambda s: mx.sym.Variable(prefix + s % i)
        param_cells.append(GRUParam(v("l%d_i2h_gates_weight"), v("l%d_i2h_gates_bias"),
                                    v("l%d_h2h_gates_weight"), v("l%d_h2h_gates_bias"),
                                    v("l%d_i2h_trans_weight"), v("l%d_i2h_trans_bias"),
                                    v("l%d_h2h_trans_weight"), v("l%d_h2h_trans_bias")))
        last_states.append(GRUState(h=mx.sym.Variable(prefix + "l%d_init_h" % i)))
    gammas = [mx.sym.Variable(prefix + "l%d_i2h_gamma" % l) for l in range(num_gru_layer)]
    betas = [mx.sym.Variable(prefix + "l%d_i2h_beta" % l) for l in range(num_gru_layer)]
    hidden_all = []
    for seqidx in range(seq_len):
        k = seqidx if direction == "forward" else seq_len - seqidx - 1
        hidden = net[k]
        for i in range(num_gru_layer):
            next_state = gru(num_hidden_gru_list[i], indata=hidden, prev_state=last_states[i],
                             param=param_cells[i], seqidx=k, layeridx=i,
                             is_batchnorm=is_batchnorm, gamma=gammas[i], beta=betas[i],
                             name=prefix + ("t%d_l%d" % (seqidx, i)))
            hidden = next_state.h
            last_states[i] = next_state
        if direction == "forward":
            hidden_all.append(hidden)
        else:
            hidden_all.insert(0, hidden)
    return hidden_all


def bi_gru_unroll(net, num_gru_layer, seq_len, num_hidden_gru_list, is_batchnorm=False):
    fwd = gru_unroll(net, num_gru_layer, seq_len, num_hidden_gru_list, is_batchnorm,
                     prefix="forward_", direction="forward")
    bwd = gru_unroll(net, num_gru_layer, seq_len, num_hidden_gru_list, is_batchnorm,
                     prefix="backward_", direction="backward")
    return [mx.sym.Concat(*[fwd[i], bwd[i]], dim=1) for i in range(seq_len)]


def peephole_lstm(num_hidden, indata, prev_state, i2h_weight, i2h_bias, h2h_weight,
                  c2i_bias, c2f_bias, c2o_bias):
    """stt_layer_lstm.lstm: peepholes as (1, H) variables broadcast-multiplied with c."""
    i2h = mx.sym.FullyConnected(data=indata, weight=i2h_weight, bias=i2h_bias,
                                num_hidden=num_hidden * 4)
    h2h = mx.sym.FullyConnected(data=prev_state.h, weight=h2h_weight, no_bias=True,
                                num_hidden=num_hidden * 4)
    slice_gates = mx.sym.SliceChannel(i2h + h2h, num_outputs=4)
    in_gate = mx.sym.Activation(mx.sym.broadcast_mul(c2i_bias, prev_state.c) + slice_gates[0],
                                act_type="sigmoid")
    in_transform = mx.sym.Activation(slice_gates[1], act_type="tanh")
    forget_gate = mx.sym.Activation(
        mx.sym.broadcast_mul(c2f_bias, prev_state.c) + slice_gates[2], act_type="sigmoid")
    next_c = (forget_gate * prev_state.c) + (in_gate * in_transform)
    out_gate = mx.sym.Activation(mx.sym.broadcast_mul(c2o_bias, next_c) + slice_gates[3],
                                 act_type="sigmoid")
    return LSTMState(c=next_c, h=out_gate * mx.sym.Activation(next_c, act_type="tanh"))


def test_speech_peephole_lstm_cell_against_numpy():
    H, D, B = 3, 4, 2
    names = ["i2h_weight", "i2h_bias", "h2h_weight"]
    v = {n: mx.sym.Variable(n) for n in names}
    peep = {n: mx.sym.Variable(n, shape=(1, H)) for n in ("c2i_bias", "c2f_bias", "c2o_bias")}
    state = peephole_lstm(H, mx.sym.Variable("x"), LSTMState(c=mx.sym.Variable("c"),
                                                             h=mx.sym.Variable("h")),
                          v["i2h_weight"], v["i2h_bias"], v["h2h_weight"], **peep)
    out = mx.sym.Group([state.c, state.h])
    arg_shapes, _, _ = out.infer_shape(x=(B, D), c=(B, H), h=(B, H))
    shapes = dict(zip(out.list_arguments(), arg_shapes))
    assert shapes["c2i_bias"] == (1, H) and shapes["i2h_weight"] == (4 * H, D)
    rs = np.random.RandomState(0)
    vals = {n: rs.randn(*s) for n, s in shapes.items()}
    res = out.eval(ctx=mx.cpu(), **{n: nd.array(a) for n, a in vals.items()})
    g = vals["x"] @ vals["i2h_weight"].T + vals["i2h_bias"] + vals["h"] @ vals["h2h_weight"].T
    gi, gt, gf, go = np.split(g, 4, axis=1)
    c = vals["c"]
    i = _sigmoid(vals["c2i_bias"] * c + gi)
    f = _sigmoid(vals["c2f_bias"] * c + gf)
    c2 = f * c + i * np.tanh(gt)
    h2 = _sigmoid(vals["c2o_bias"] * c2 + go) * np.tanh(c2)
    np.testing.assert_allclose(res[0].asnumpy(), c2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res[1].asnumpy(), h2, rtol=1e-5, atol=1e-6)


class STTBucketingModule(mx.mod.BucketingModule):
    """stt_bucketing_module.py: the default bucket's symbol, the parameters and the current
    module's optimizer states."""

    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False):
        symbol, data_names, label_names = self._sym_gen(self._default_bucket_key)
        symbol.save('%s-symbol.json' % prefix)
        param_name = '%s-%04d.params' % (prefix, epoch)
        self.save_params(param_name)
        if save_optimizer_states:
            state_name = '%s-%04d.states' % (prefix, epoch)
            self._curr_module.save_optimizer_states(state_name)


class SimpleLRScheduler(mx.lr_scheduler.LRScheduler):
    """train.py's scheduler: whatever learning_rate the training loop last set."""

    def __init__(self, learning_rate=0.001):
        super(SimpleLRScheduler, self).__init__()
        self.learning_rate = learning_rate

    def __call__(self, num_update):
        return self.learning_rate


def test_speech_deepspeech_bigru_bucketing_with_ctc(tmp_path):
    # arch_deepspeech.arch (bigru, batchnorm, bucketing) with the conv front end, the
    # sequence_fc rear layer and the classifier shared over time as in warpctc_layer; the
    # loss is ctc_loss under MakeLoss (WarpCTC is an optional plugin, absent from 1.9.1's
    # default build)
    batch, feat, n_classes, num_label, hidden = 2, 6, 4, 2, 5
    conv1, conv2 = ((3, 3), (1, 1)), ((3, 3), (2, 1))
    init_states = [('forward_l0_init_h', (batch, hidden)), ('backward_l0_init_h', (batch, hidden))]

    def after_conv(seq_len):
        t1 = int(math.floor((seq_len - conv1[0][0]) / conv1[1][0])) + 1
        return int(math.floor((t1 - conv2[0][0]) / conv2[1][0])) + 1

    def sym_gen(seq_len):
        data, label = mx.sym.Variable('data'), mx.sym.Variable('label')
        net = mx.sym.Reshape(data=data, shape=(-4, -1, 1, 0, 0))
        net = conv(net, 2, conv1[0], conv1[1], no_bias=True, name='conv1')
        net = batchnorm(net, name="conv1_batchnorm")
        net = conv(net, 2, conv2[0], conv2[1], no_bias=True, name='conv2')
        net = batchnorm(net, name="conv2_batchnorm")
        net = mx.sym.transpose(data=net, axes=(0, 2, 1, 3))
        net = mx.sym.Reshape(data=net, shape=(0, 0, -3))
        t = after_conv(seq_len)
        net = mx.sym.SliceChannel(data=net, num_outputs=t, axis=1, squeeze_axis=True)
        net = bi_gru_unroll([net[i] for i in range(t)], 1, t, [hidden], is_batchnorm=True)
        fc_w, fc_g, fc_b = (mx.sym.Variable('rear_sequence_fc0_%s' % s)
                            for s in ('weight', 'gamma', 'beta'))
        net = [mx.sym.Activation(batchnorm(mx.sym.FullyConnected(
            h, num_hidden=6, weight=fc_w, no_bias=True), gamma=fc_g, beta=fc_b,
            name="rear_t%d_l0_batchnorm" % i), act_type="relu") for i, h in enumerate(net)]
        cls_weight, cls_bias = mx.sym.Variable("cls_weight"), mx.sym.Variable("cls_bias")
        fc_seq = [mx.sym.FullyConnected(data=h, num_hidden=n_classes + 1, weight=cls_weight,
                                        bias=cls_bias) for h in net]
        scores = mx.sym.Concat(*fc_seq, dim=0)                      # (t * batch, classes)
        acts = mx.sym.Reshape(scores, shape=(t, batch, n_classes + 1))
        loss = mx.sym.MakeLoss(mx.sym.contrib.ctc_loss(acts, label, blank_label='first'))
        out = mx.sym.Group([loss, mx.sym.BlockGrad(mx.sym.softmax(scores))])
        return out, ['data'] + [n for n, _ in init_states], ['label']

    mod = STTBucketingModule(sym_gen=sym_gen, default_bucket_key=12, context=[mx.cpu()])
    mod.bind(data_shapes=[('data', (batch, 12, feat))] + init_states,
             label_shapes=[('label', (batch, num_label))], for_training=True)
    mod.init_params(initializer=mx.init.Xavier(factor_type="in", magnitude=2.34))
    lr_scheduler = SimpleLRScheduler(learning_rate=0.01)
    mod.init_optimizer(kvstore='device', optimizer='adam', force_init=True,
                       optimizer_params={'lr_scheduler': lr_scheduler, 'clip_gradient': None,
                                         'wd': 0.0, 'learning_rate': 0.01})
    rs = np.random.RandomState(0)
    label = nd.array([[1, 2], [3, 3]])        # 0 is the blank (as the example's labels)
    states = [nd.zeros(s) for _, s in init_states]
    history = {}
    inputs = {seq_len: nd.array(rs.randn(batch, seq_len, feat)) for seq_len in (12, 10)}
    for step in range(2):              # (eager executors: a third forward would compile)
        for seq_len, x in inputs.items():
            b = mx.io.DataBatch([x] + states, [label], bucket_key=seq_len,
                                provide_data=[('data', x.shape)] + init_states,
                                provide_label=[('label', (batch, num_label))])
            mod.forward_backward(b)
            loss, probs = [o.asnumpy() for o in mod.get_outputs()]
            t = after_conv(seq_len)
            assert loss.shape == (batch,) and probs.shape == (t * batch, n_classes + 1)
            logp = np.log(probs.astype(np.float64)).reshape(t, batch, -1)
            np.testing.assert_allclose(loss, [ctc_nll(logp[:, 0], [1, 2], 0),
                                              ctc_nll(logp[:, 1], [3, 3], 0)], rtol=1e-4)
            mod.update()
            history.setdefault(seq_len, []).append(loss.sum())
    # one set of parameters serves both buckets; fixed batches here, so training lowers it
    assert history[12][-1] < history[12][0] and history[10][-1] < history[10][0]
    arg, aux = mod.get_params()
    assert 'forward_l0_i2h_gamma' in arg and 'conv1_batchnorm_moving_mean' in aux
    # (2 channels x the 6 features after a 3-wide then a 3-wide valid convolution)
    assert arg['forward_l0_i2h_gates_weight'].shape == (2 * hidden, 2 * (feat - 4))
    mod.save_checkpoint(str(tmp_path / "deepspeech"), 1, save_optimizer_states=True)
    symbol, _, _ = sym_gen(12)
    sym2, arg2, aux2 = mx.model.load_checkpoint(str(tmp_path / "deepspeech"), 1)
    assert sym2.list_arguments() == symbol.list_arguments()
    for k, val in arg.items():
        np.testing.assert_array_equal(arg2[k].asnumpy(), val.asnumpy())
    for k, val in aux.items():
        np.testing.assert_array_equal(aux2[k].asnumpy(), val.asnumpy())
    # train.py's 'load' mode: a new module, the checkpoint's parameters and optimizer states
    model = STTBucketingModule(sym_gen=sym_gen, default_bucket_key=12, context=[mx.cpu()])
    model.bind(data_shapes=[('data', (batch, 12, feat))] + init_states,
               label_shapes=[('label', (batch, num_label))], for_training=True)
    model.set_params(arg2, aux2)
    model.init_optimizer(kvstore='device', optimizer='adam',
                         optimizer_params={'lr_scheduler': lr_scheduler, 'wd': 0.0,
                                           'learning_rate': 0.01})
    model._curr_module.load_optimizer_states(str(tmp_path / "deepspeech-0001.states"))
    # the loaded states are the saved ones (moments per parameter, update counts)
    model._curr_module.save_optimizer_states(str(tmp_path / "again.states"))
    # (tracegrad writes the optimizer states as an .npz archive)
    saved = np.load(str(tmp_path / "deepspeech-0001.states"))
    again = np.load(str(tmp_path / "again.states"))
    assert sorted(saved.files) == sorted(again.files) and len(saved.files) > 2 * len(arg)
    for k in saved.files:
        np.testing.assert_array_equal(again[k], saved[k])
