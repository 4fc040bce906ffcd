"""MXNet 1.9.1's example/image-classification and example/ctc programs, shortened to a few
synthetic steps and checked against float64 numpy or MXNet's documented formulas:
symbols/ (mlp, lenet, resnet, alexnet built by get_symbol; parameter counts from the layer
formulas; a float16 resnet), common/fit.py (argparse args, the MultiFactorScheduler from
lr_step_epochs, kvstore 'device', Speedometer, do_checkpoint / load_checkpoint and a resume
at load_epoch) over common/data.py's SyntheticDataIter, fine-tune.py's get_fine_tune_model,
score.py (an ImageRecordIter over a .rec file with per-channel means) and benchmark_score.py
(a model zoo net called on a Symbol, bound without labels); ctc/ (lstm.py's unrolled LSTM
with contrib.ctc_loss under MakeLoss, OCRIter, CtcMetrics, lstm_ocr_infer's get_internals).
The programs' own code is copied as written there (trimmed to the parts run)."""
import argparse
import logging
import math
import re
from collections import namedtuple

import numpy as np

import tracegrad as mx
from tracegrad.io import DataBatch, DataIter

from ctc_reference import ctc_nll, log_softmax


# ------------------------------------------------------------------ symbols/ (as written)
def mlp_get_symbol(num_classes=10, **kwargs):
    data = mx.symbol.Variable('data')
    data = mx.sym.Flatten(data=data)
    fc1 = mx.symbol.FullyConnected(data=data, name='fc1', num_hidden=128)
    act1 = mx.symbol.Activation(data=fc1, name='relu1', act_type="relu")
    fc2 = mx.symbol.FullyConnected(data=act1, name='fc2', num_hidden=64)
    act2 = mx.symbol.Activation(data=fc2, name='relu2', act_type="relu")
    fc3 = mx.symbol.FullyConnected(data=act2, name='fc3', num_hidden=num_classes)
    mlp = mx.symbol.SoftmaxOutput(data=fc3, name='softmax')
    return mlp


def lenet_get_symbol(num_classes=10, add_stn=False, **kwargs):
    data = mx.symbol.Variable('data')
    conv1 = mx.symbol.Convolution(data=data, kernel=(5, 5), num_filter=20)
    tanh1 = mx.symbol.Activation(data=conv1, act_type="tanh")
    pool1 = mx.symbol.Pooling(data=tanh1, pool_type="max", kernel=(2, 2), stride=(2, 2))
    conv2 = mx.symbol.Convolution(data=pool1, kernel=(5, 5), num_filter=50)
    tanh2 = mx.symbol.Activation(data=conv2, act_type="tanh")
    pool2 = mx.symbol.Pooling(data=tanh2, pool_type="max", kernel=(2, 2), stride=(2, 2))
    flatten = mx.symbol.Flatten(data=pool2)
    fc1 = mx.symbol.FullyConnected(data=flatten, num_hidden=500)
    tanh3 = mx.symbol.Activation(data=fc1, act_type="tanh")
    fc2 = mx.symbol.FullyConnected(data=tanh3, num_hidden=num_classes)
    lenet = mx.symbol.SoftmaxOutput(data=fc2, name='softmax')
    return lenet


def alexnet_get_symbol(num_classes, dtype='float32', **kwargs):
    input_data = mx.sym.Variable(name="data")
    if dtype == 'float16':
        input_data = mx.sym.Cast(data=input_data, dtype=np.float16)
    conv1 = mx.sym.Convolution(name='conv1', data=input_data, kernel=(11, 11), stride=(4, 4),
                               num_filter=96)
    relu1 = mx.sym.Activation(data=conv1, act_type="relu")
    lrn1 = mx.sym.LRN(data=relu1, alpha=0.0001, beta=0.75, knorm=2, nsize=5)
    pool1 = mx.sym.Pooling(data=lrn1, pool_type="max", kernel=(3, 3), stride=(2, 2))
    conv2 = mx.sym.Convolution(name='conv2', data=pool1, kernel=(5, 5), pad=(2, 2),
                               num_filter=256)
    relu2 = mx.sym.Activation(data=conv2, act_type="relu")
    lrn2 = mx.sym.LRN(data=relu2, alpha=0.0001, beta=0.75, knorm=2, nsize=5)
    pool2 = mx.sym.Pooling(data=lrn2, kernel=(3, 3), stride=(2, 2), pool_type="max")
    conv3 = mx.sym.Convolution(name='conv3', data=pool2, kernel=(3, 3), pad=(1, 1),
                               num_filter=384)
    relu3 = mx.sym.Activation(data=conv3, act_type="relu")
    conv4 = mx.sym.Convolution(name='conv4', data=relu3, kernel=(3, 3), pad=(1, 1),
                               num_filter=384)
    relu4 = mx.sym.Activation(data=conv4, act_type="relu")
    conv5 = mx.sym.Convolution(name='conv5', data=relu4, kernel=(3, 3), pad=(1, 1),
                               num_filter=256)
    relu5 = mx.sym.Activation(data=conv5, act_type="relu")
    pool3 = mx.sym.Pooling(data=relu5, kernel=(3, 3), stride=(2, 2), pool_type="max")
    flatten = mx.sym.Flatten(data=pool3)
    fc1 = mx.sym.FullyConnected(name='fc1', data=flatten, num_hidden=4096)
    relu6 = mx.sym.Activation(data=fc1, act_type="relu")
    dropout1 = mx.sym.Dropout(data=relu6, p=0.5)
    fc2 = mx.sym.FullyConnected(name='fc2', data=dropout1, num_hidden=4096)
    relu7 = mx.sym.Activation(data=fc2, act_type="relu")
    dropout2 = mx.sym.Dropout(data=relu7, p=0.5)
    fc3 = mx.sym.FullyConnected(name='fc3', data=dropout2, num_hidden=num_classes)
    if dtype == 'float16':
        fc3 = mx.sym.Cast(data=fc3, dtype=np.float32)
    softmax = mx.sym.SoftmaxOutput(data=fc3, name='softmax')
    return softmax


def residual_unit(data, num_filter, stride, dim_match, name, bottle_neck=True, bn_mom=0.9,
                  workspace=256, memonger=False):
    """symbols/resnet.py's unit (the basic, non-bottleneck branch run here)."""
    bn1 = mx.sym.BatchNorm(data=data, fix_gamma=False, momentum=bn_mom, eps=2e-5,
                           name=name + '_bn1')
    act1 = mx.sym.Activation(data=bn1, act_type='relu', name=name + '_relu1')
    conv1 = mx.sym.Convolution(data=act1, num_filter=num_filter, kernel=(3, 3), stride=stride,
                               pad=(1, 1), no_bias=True, workspace=workspace,
                               name=name + '_conv1')
    bn2 = mx.sym.BatchNorm(data=conv1, fix_gamma=False, momentum=bn_mom, eps=2e-5,
                           name=name + '_bn2')
    act2 = mx.sym.Activation(data=bn2, act_type='relu', name=name + '_relu2')
    conv2 = mx.sym.Convolution(data=act2, num_filter=num_filter, kernel=(3, 3), stride=(1, 1),
                               pad=(1, 1), no_bias=True, workspace=workspace,
                               name=name + '_conv2')
    if dim_match:
        shortcut = data
    else:
        shortcut = mx.sym.Convolution(data=act1, num_filter=num_filter, kernel=(1, 1),
                                      stride=stride, no_bias=True, workspace=workspace,
                                      name=name + '_sc')
    return conv2 + shortcut


def resnet(units, num_stages, filter_list, num_classes, image_shape, bottle_neck=True,
           bn_mom=0.9, workspace=256, dtype='float32', memonger=False):
    num_unit = len(units)
    assert(num_unit == num_stages)
    data = mx.sym.Variable(name='data')
    if dtype == 'float32':
        data = mx.sym.identity(data=data, name='id')
    else:
        if dtype == 'float16':
            data = mx.sym.Cast(data=data, dtype=np.float16)
    data = mx.sym.BatchNorm(data=data, fix_gamma=True, eps=2e-5, momentum=bn_mom,
                            name='bn_data')
    body = mx.sym.Convolution(data=data, num_filter=filter_list[0], kernel=(3, 3),
                              stride=(1, 1), pad=(1, 1), no_bias=True, name="conv0",
                              workspace=workspace)
    for i in range(num_stages):
        body = residual_unit(body, filter_list[i + 1], (1 if i == 0 else 2, 1 if i == 0 else 2),
                             False, name='stage%d_unit%d' % (i + 1, 1),
                             bottle_neck=bottle_neck, workspace=workspace, memonger=memonger)
        for j in range(units[i] - 1):
            body = residual_unit(body, filter_list[i + 1], (1, 1), True,
                                 name='stage%d_unit%d' % (i + 1, j + 2),
                                 bottle_neck=bottle_neck, workspace=workspace,
                                 memonger=memonger)
    bn1 = mx.sym.BatchNorm(data=body, fix_gamma=False, eps=2e-5, momentum=bn_mom, name='bn1')
    relu1 = mx.sym.Activation(data=bn1, act_type='relu', name='relu1')
    pool1 = mx.sym.Pooling(data=relu1, global_pool=True, kernel=(7, 7), pool_type='avg',
                           name='pool1')
    flat = mx.sym.Flatten(data=pool1)
    fc1 = mx.sym.FullyConnected(data=flat, num_hidden=num_classes, name='fc1')
    if dtype == 'float16':
        fc1 = mx.sym.Cast(data=fc1, dtype=np.float32)
    return mx.sym.SoftmaxOutput(data=fc1, name='softmax')


def resnet_get_symbol(num_classes, num_layers, image_shape, conv_workspace=256,
                      dtype='float32', **kwargs):
    """The cifar branch (height <= 28) of symbols/resnet.py's get_symbol."""
    image_shape = [int(l) for l in image_shape.split(',')]
    (nchannel, height, width) = image_shape
    assert height <= 28 and (num_layers - 2) % 6 == 0 and num_layers < 164
    num_stages = 3
    per_unit = [(num_layers - 2) // 6]
    filter_list = [16, 16, 32, 64]
    units = per_unit * num_stages
    return resnet(units=units, num_stages=num_stages, filter_list=filter_list,
                  num_classes=num_classes, image_shape=image_shape, bottle_neck=False,
                  workspace=conv_workspace, dtype=dtype)


NETWORKS = {"mlp": mlp_get_symbol, "lenet": lenet_get_symbol, "resnet": resnet_get_symbol}


def _weights(sym, shape):
    arg_shapes = sym.infer_shape(data=shape)[0]
    return sum(int(np.prod(s)) for n, s in zip(sym.list_arguments(), arg_shapes)
               if n not in ("data", "softmax_label"))


def _conv_out(n, k, s=1, p=0):
    return (n + 2 * p - k) // s + 1


def test_symbols_have_the_layer_formulas_parameter_counts_and_output_shapes():
    nc = 7
    assert _weights(mlp_get_symbol(nc), (2, 1, 28, 28)) == \
        784 * 128 + 128 + 128 * 64 + 64 + 64 * nc + nc
    side = (((28 - 4) // 2) - 4) // 2                                    # 4
    assert _weights(lenet_get_symbol(nc), (2, 1, 28, 28)) == \
        (20 * 25 + 20) + (50 * 20 * 25 + 50) + (50 * side * side * 500 + 500) + (500 * nc + nc)
    for layers in (8, 14):
        n = (layers - 2) // 6
        want = 2 * 3 + 16 * 3 * 9 + 2 * 64 + 64 * nc + nc
        for cin, cout in ((16, 16), (16, 32), (32, 64)):
            first = 2 * cin + cout * cin * 9 + 2 * cout + cout * cout * 9 + cout * cin
            want += first + (n - 1) * (2 * cout + cout * cout * 9 + 2 * cout + cout * cout * 9)
        sym = resnet_get_symbol(nc, layers, '3,16,16')
        assert _weights(sym, (2, 3, 16, 16)) == want
        aux = sym.infer_shape(data=(2, 3, 16, 16))[2]
        assert len(aux) == 2 * (1 + 3 * 2 * n + 1)          # moving mean / var of each BN
    # alexnet at 224: conv1 54, pools 26 / 12 / 5: fc1 sees 256 * 5 * 5
    s = _conv_out(_conv_out(_conv_out(_conv_out(_conv_out(224, 11, 4), 3, 2), 3, 2), 3, 2), 1)
    assert s == 5
    convs = [(96, 3, 11), (256, 96, 5), (384, 256, 3), (384, 384, 3), (256, 384, 3)]
    want = sum(o * i * k * k + o for o, i, k in convs) + (256 * s * s * 4096 + 4096) + \
        (4096 * 4096 + 4096) + (4096 * nc + nc)
    alex = alexnet_get_symbol(nc)
    assert _weights(alex, (1, 3, 224, 224)) == want
    assert alex.infer_shape(data=(1, 3, 224, 224))[1] == [(1, nc)]


# ------------------------------------------------------------------ common/data.py (as written)
class SyntheticDataIter(DataIter):
    def __init__(self, num_classes, data_shape, max_iter, dtype):
        self.batch_size = data_shape[0]
        self.cur_iter = 0
        self.max_iter = max_iter
        self.dtype = dtype
        label = np.random.randint(0, num_classes, [self.batch_size, ])
        data = np.random.uniform(-1, 1, data_shape)
        self.data = mx.nd.array(data, dtype=self.dtype, ctx=mx.Context('cpu_pinned', 0))
        self.label = mx.nd.array(label, dtype=self.dtype, ctx=mx.Context('cpu_pinned', 0))

    def __iter__(self):
        return self

    @property
    def provide_data(self):
        return [mx.io.DataDesc('data', self.data.shape, self.dtype)]

    @property
    def provide_label(self):
        return [mx.io.DataDesc('softmax_label', (self.batch_size,), self.dtype)]

    def next(self):
        self.cur_iter += 1
        if self.cur_iter <= self.max_iter:
            return DataBatch(data=(self.data,), label=(self.label,), pad=0, index=None,
                             provide_data=self.provide_data, provide_label=self.provide_label)
        else:
            raise StopIteration

    def __next__(self):
        return self.next()

    def reset(self):
        self.cur_iter = 0


def get_rec_iter(args, kv=None):
    """The --benchmark 1 branch of data.get_rec_iter."""
    image_shape = tuple([int(l) for l in args.image_shape.split(',')])
    assert 'benchmark' in args and args.benchmark
    data_shape = (args.batch_size,) + image_shape
    train = SyntheticDataIter(args.num_classes, data_shape,
                              args.num_examples / args.batch_size, np.float32)
    return (train, None)


# ------------------------------------------------------------------ common/fit.py (as written)
def get_epoch_size(args, kv):
    return math.ceil(int(args.num_examples / kv.num_workers) / args.batch_size)


def _get_lr_scheduler(args, kv):
    if 'lr_factor' not in args or args.lr_factor >= 1:
        return (args.lr, None)
    epoch_size = get_epoch_size(args, kv)
    begin_epoch = args.load_epoch if args.load_epoch else 0
    if 'pow' in args.lr_step_epochs:
        lr = args.lr
        max_up = args.num_epochs * epoch_size
        pwr = float(re.sub('pow[- ]*', '', args.lr_step_epochs))
        poly_sched = mx.lr_scheduler.PolyScheduler(max_up, lr, pwr)
        return (lr, poly_sched)
    step_epochs = [int(l) for l in args.lr_step_epochs.split(',')]
    lr = args.lr
    for s in step_epochs:
        if begin_epoch >= s:
            lr *= args.lr_factor
    if lr != args.lr:
        logging.info('Adjust learning rate to %e for epoch %d', lr, begin_epoch)
    steps = [epoch_size * (x - begin_epoch) for x in step_epochs if x - begin_epoch > 0]
    if steps:
        return (lr, mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=args.lr_factor,
                                                         base_lr=args.lr))
    else:
        return (lr, None)


def _load_model(args, rank=0):
    if 'load_epoch' not in args or args.load_epoch is None:
        return (None, None, None)
    assert args.model_prefix is not None
    model_prefix = args.model_prefix
    sym, arg_params, aux_params = mx.model.load_checkpoint(model_prefix, args.load_epoch)
    logging.info('Loaded model %s_%04d.params', model_prefix, args.load_epoch)
    return (sym, arg_params, aux_params)


def _save_model(args, rank=0):
    if args.model_prefix is None:
        return None
    return mx.callback.do_checkpoint(args.model_prefix if rank == 0 else "%s-%d" % (
        args.model_prefix, rank), period=args.save_period)


def add_fit_args(parser):
    train = parser.add_argument_group('Training', 'model training')
    train.add_argument('--network', type=str)
    train.add_argument('--num-layers', type=int)
    train.add_argument('--gpus', type=str)
    train.add_argument('--kv-store', type=str, default='device')
    train.add_argument('--num-epochs', type=int, default=100)
    train.add_argument('--lr', type=float, default=0.1)
    train.add_argument('--lr-factor', type=float, default=0.1)
    train.add_argument('--lr-step-epochs', type=str)
    train.add_argument('--initializer', type=str, default='default')
    train.add_argument('--optimizer', type=str, default='sgd')
    train.add_argument('--mom', type=float, default=0.9)
    train.add_argument('--wd', type=float, default=0.0001)
    train.add_argument('--batch-size', type=int, default=128)
    train.add_argument('--disp-batches', type=int, default=20)
    train.add_argument('--model-prefix', type=str)
    train.add_argument('--save-period', type=int, default=1)
    train.add_argument('--load-epoch', type=int)
    train.add_argument('--top-k', type=int, default=0)
    train.add_argument('--loss', type=str, default='')
    train.add_argument('--image-shape', type=str)
    train.add_argument('--num-classes', type=int)
    train.add_argument('--num-examples', type=int)
    train.add_argument('--benchmark', type=int, default=0)
    return train


def fit(args, network, data_loader, **kwargs):
    """fit.fit without the profiler, gradient compression and test-io branches."""
    kv = mx.kvstore.create(args.kv_store)
    (train, val) = data_loader(args, kv)
    if 'arg_params' in kwargs and 'aux_params' in kwargs:
        arg_params = kwargs['arg_params']
        aux_params = kwargs['aux_params']
    else:
        sym, arg_params, aux_params = _load_model(args, kv.rank)
        if sym is not None:
            assert sym.tojson() == network.tojson()
    checkpoint = _save_model(args, kv.rank)
    devs = mx.cpu() if args.gpus is None or args.gpus == "" else [
        mx.gpu(int(i)) for i in args.gpus.split(',')]
    lr, lr_scheduler = _get_lr_scheduler(args, kv)
    model = mx.mod.Module(context=devs, symbol=network)
    optimizer_params = {'learning_rate': lr, 'wd': args.wd, 'lr_scheduler': lr_scheduler,
                        'multi_precision': True}
    has_momentum = {'sgd', 'dcasgd', 'nag', 'signum', 'lbsgd'}
    if args.optimizer in has_momentum:
        optimizer_params['momentum'] = args.mom
    initializer = mx.init.Xavier(rnd_type='gaussian', factor_type="in", magnitude=2)
    eval_metrics = ['accuracy']
    if args.top_k > 0:
        eval_metrics.append(mx.metric.create('top_k_accuracy', top_k=args.top_k))
    if len(args.loss) > 0:
        loss_type_list = args.loss.split(',')
        if 'softmax_output' in network.list_outputs():
            for loss_type in loss_type_list:
                loss_type = loss_type.strip()
                if loss_type == 'nll':
                    loss_type = 'nll_loss'
                eval_metrics.append(mx.metric.create(loss_type))
    batch_end_callbacks = [mx.callback.Speedometer(args.batch_size, args.disp_batches)]
    model.fit(train, begin_epoch=args.load_epoch if args.load_epoch else 0,
              num_epoch=args.num_epochs, eval_data=val, eval_metric=eval_metrics, kvstore=kv,
              optimizer=args.optimizer, optimizer_params=optimizer_params,
              initializer=initializer, arg_params=arg_params, aux_params=aux_params,
              batch_end_callback=batch_end_callbacks, epoch_end_callback=checkpoint,
              allow_missing=True)
    return model, train


def _parse(extra):
    parser = argparse.ArgumentParser()
    add_fit_args(parser)
    parser.set_defaults(network='mlp', num_classes=4, num_examples=32, image_shape='1,4,4',
                        batch_size=8, num_epochs=3, lr=.05, lr_step_epochs='1,2', benchmark=1,
                        disp_batches=2, top_k=2, loss='ce')
    return parser.parse_args(extra)


def _mlp_params(rs, nin, nc):
    shapes = {"fc1_weight": (128, nin), "fc1_bias": (128,), "fc2_weight": (64, 128),
              "fc2_bias": (64,), "fc3_weight": (nc, 64), "fc3_bias": (nc,)}
    return {k: rs.randn(*s) * (0.3 if k.endswith("weight") else 0.05) for k, s in shapes.items()}


def _mlp_sgd(params, x, y, lrs, mom=0.9, wd=1e-4, moms=None):
    """SGD with momentum on the mlp in float64, MXNet's update order; wd decays weights only
    (a Module's optimizer made by name). Returns params, momenta and per-step
    (accuracy, top-2 hits, cross-entropy) of the pre-update predictions."""
    p = {k: v.copy() for k, v in params.items()}
    moms = {k: np.zeros_like(v) for k, v in p.items()} if moms is None else moms
    stats, n = [], len(y)
    for lr in lrs:
        a1 = x @ p["fc1_weight"].T + p["fc1_bias"]
        h1 = np.maximum(a1, 0)
        a2 = h1 @ p["fc2_weight"].T + p["fc2_bias"]
        h2 = np.maximum(a2, 0)
        z = h2 @ p["fc3_weight"].T + p["fc3_bias"]
        e = np.exp(z - z.max(1, keepdims=True))
        prob = e / e.sum(1, keepdims=True)
        top2 = np.argsort(-prob, 1)[:, :2]
        stats.append(((prob.argmax(1) == y).mean(), (top2 == y[:, None]).any(1).mean(),
                      -np.log(prob[np.arange(n), y]).mean()))
        dz = prob.copy()
        dz[np.arange(n), y] -= 1
        g = {"fc3_weight": dz.T @ h2, "fc3_bias": dz.sum(0)}
        d2 = (dz @ p["fc3_weight"]) * (a2 > 0)
        g.update(fc2_weight=d2.T @ h1, fc2_bias=d2.sum(0))
        d1 = (d2 @ p["fc2_weight"]) * (a1 > 0)
        g.update(fc1_weight=d1.T @ x, fc1_bias=d1.sum(0))
        for k in p:
            decay = wd if k.endswith("weight") else 0.0
            moms[k] = mom * moms[k] - lr * (g[k] / n + decay * p[k])
            p[k] = p[k] + moms[k]
    return p, moms, stats


def _logged(caplog, pattern):
    return [m.groups() for r in caplog.records for m in [re.search(pattern, r.getMessage())]
            if m]


def test_fit_with_lr_steps_speedometer_checkpoints_and_a_resume_is_numpys_sgd(tmp_path, caplog):
    prefix = str(tmp_path / "mlp")
    args = _parse(['--model-prefix', prefix])
    rs = np.random.RandomState(0)
    init = _mlp_params(rs, 16, 4)
    np.random.seed(1)
    loaders = []

    def loader(a, kv):
        loaders.append(get_rec_iter(a, kv)[0])
        return loaders[-1], None
    with mx.name.NameManager():
        net = NETWORKS[args.network](num_classes=args.num_classes)
    with caplog.at_level(logging.INFO):
        model, _ = fit(args, net, loader, arg_params={k: mx.nd.array(v) for k, v in init.items()},
                       aux_params={})
    it = loaders[0]
    x = it.data.asnumpy().reshape(8, -1).astype(np.float64)
    y = it.label.asnumpy().astype(int)
    # MultiFactorScheduler(step=[4, 8], factor=0.1): update t uses 0.05 * 0.1^#{s < t}
    lrs = [0.05 * 0.1 ** sum(t > s for s in (4, 8)) for t in range(1, 13)]
    want, _, stats = _mlp_sgd(init, x, y, lrs)
    got = model.get_params()[0]
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k], rtol=2e-4, atol=2e-6)
    # Speedometer(8, 2): at batch 2 of each epoch, the metrics of batches 0..2
    speed = _logged(caplog, r"Epoch\[(\d)\] Batch \[0-2\]\tSpeed: [\d.]+ samples/sec\t"
                            r"accuracy=([\d.]+)\ttop_k_accuracy_2=([\d.]+)\t"
                            r"cross-entropy=([\d.]+)")
    assert [int(s[0]) for s in speed] == [0, 1, 2]
    for e, *vals in speed:
        first3 = np.array(stats[4 * int(e):4 * int(e) + 3]).mean(0)
        np.testing.assert_allclose([float(v) for v in vals], first3, atol=2e-5)
    train = _logged(caplog, r"Epoch\[(\d)\] Train-accuracy=([\d.]+)")
    assert [(int(e), float(v)) for e, v in train] == \
        [(e, round(np.mean([s[0] for s in stats[4 * e:4 * e + 4]]), 6)) for e in range(3)]
    assert _logged(caplog, r"Update\[(\d+)\]: Change learning rate to (\S+)") == \
        [("5", "5.00000e-03"), ("9", "5.00000e-04")]
    # do_checkpoint(prefix, period=1): one .params an epoch, loaded back as they were
    sym, arg, aux = mx.model.load_checkpoint(prefix, 3)
    assert sym.tojson() == net.tojson() and aux == {}
    for k in want:
        np.testing.assert_array_equal(arg[k].asnumpy(), got[k].asnumpy())
    # resume at epoch 2: lr already stepped twice, no scheduler left, fresh momentum
    at2, moms2, _ = _mlp_sgd(init, x, y, lrs[:8])
    caplog.clear()
    args = _parse(['--model-prefix', prefix, '--load-epoch', '2'])
    with mx.name.NameManager(), caplog.at_level(logging.INFO):
        net2 = NETWORKS[args.network](num_classes=args.num_classes)
        loaders.clear()

        def same_data(a, kv):
            return it, None
        it.reset()
        model2, _ = fit(args, net2, same_data)
    ck2 = mx.model.load_checkpoint(prefix, 2)[1]
    for k in at2:
        np.testing.assert_allclose(ck2[k].asnumpy(), at2[k], rtol=2e-4, atol=2e-6)
    assert _logged(caplog, r"Adjust learning rate to ([\d.e+-]+) for epoch (\d)") == \
        [("%e" % (0.05 * 0.01), "2")]
    resumed, _, _ = _mlp_sgd({k: v.asnumpy().astype(np.float64) for k, v in ck2.items()},
                             x, y, [0.05 * 0.01] * 4)
    got2 = model2.get_params()[0]
    for k in resumed:
        np.testing.assert_allclose(got2[k].asnumpy(), resumed[k], rtol=2e-4, atol=2e-6)


# ------------------------------------------------------------------ score.py (as written)
def score(model, data_val, metrics, gpus, batch_size, rgb_mean=None, mean_img=None,
          image_shape='3,224,224', data_nthreads=4, label_name='softmax_label',
          max_num_examples=None):
    data_shape = tuple([int(i) for i in image_shape.split(',')])
    if mean_img is not None:
        mean_args = {'mean_img': mean_img}
    elif rgb_mean is not None:
        rgb_mean = [float(i) for i in rgb_mean.split(',')]
        mean_args = {'mean_r': rgb_mean[0], 'mean_g': rgb_mean[1], 'mean_b': rgb_mean[2]}
    data = mx.io.ImageRecordIter(
        path_imgrec=data_val, label_width=1, preprocess_threads=data_nthreads,
        batch_size=batch_size, data_shape=data_shape, label_name=label_name,
        rand_crop=False, rand_mirror=False, **mean_args)
    if isinstance(model, tuple) or isinstance(model, list):
        assert len(model) == 3
        (sym, arg_params, aux_params) = model
    else:
        raise TypeError('model type [%s] is not supported' % str(type(model)))
    if gpus == '':
        devs = mx.cpu()
    else:
        devs = [mx.gpu(int(i)) for i in gpus.split(',')]
    mod = mx.mod.Module(symbol=sym, context=devs, label_names=[label_name, ])
    mod.bind(for_training=False, data_shapes=data.provide_data,
             label_shapes=data.provide_label)
    mod.set_params(arg_params, aux_params)
    if not isinstance(metrics, list):
        metrics = [metrics, ]
    num = 0
    for batch in data:
        mod.forward(batch, is_train=False)
        for m in metrics:
            mod.update_metric(m, batch.label)
        num += batch_size
        if max_num_examples is not None and num > max_num_examples:
            break
    return (num, )


def test_score_reads_a_rec_file_center_cropped_rgb_minus_means(tmp_path):
    """ImageRecordIter without rand_crop takes the centre data_shape crop, gives channels in
    RGB order (pack_img / imdecode hold BGR), subtracts mean_r/g/b, and fills the last batch
    from the start (round_batch): score counts those samples too."""
    rs = np.random.RandomState(0)
    rec = str(tmp_path / "val.rec")
    w = mx.recordio.MXIndexedRecordIO(str(tmp_path / "val.idx"), rec, 'w')
    imgs, labels = [], []
    for i in range(10):
        img = rs.randint(0, 255, (20, 20, 3)).astype(np.uint8)
        imgs.append(img)
        labels.append(float(i % 3))
        w.write_idx(i, mx.recordio.pack_img(mx.recordio.IRHeader(0, labels[-1], i, 0), img,
                                            img_fmt='.png'))
    w.close()
    sym = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Flatten(mx.sym.Variable('data')),
                                                     num_hidden=3, name='fc'), name='softmax')
    W, b = rs.randn(3, 3 * 16 * 16) * 0.01, rs.randn(3) * 0.1
    metrics = [mx.metric.create('acc'), mx.metric.create('top_k_accuracy', top_k=2)]
    (num,) = score((sym, {'fc_weight': mx.nd.array(W), 'fc_bias': mx.nd.array(b)}, {}),
                   rec, metrics, '', 4, rgb_mean='10,20,30', image_shape='3,16,16',
                   data_nthreads=1)
    assert num == 12
    order = list(range(10)) + [0, 1]
    x = np.stack([imgs[i][2:18, 2:18, ::-1].transpose(2, 0, 1).astype(np.float64)
                  - np.array([10, 20, 30.]).reshape(3, 1, 1) for i in order])
    z = x.reshape(12, -1) @ W.T + b
    y = np.array([labels[i] for i in order])
    assert metrics[0].get() == ('accuracy', (z.argmax(1) == y).mean())
    top2 = np.argsort(-z, 1)[:, :2]
    assert metrics[1].get() == ('top_k_accuracy_2', (top2 == y[:, None]).any(1).mean())


# ------------------------------------------------------------------ benchmark_score.py
def test_benchmark_score_binds_a_model_zoo_net_built_as_a_symbol_without_labels():
    """get_symbol's model zoo branch: a hybridized gluon net called on mx.sym.var('data')
    (squeezenet's HybridConcurrent fire modules), SoftmaxOutput on top, bound
    for_training=False with no label, fed DataBatch(data, []); its output is the gluon net's
    softmax."""
    from tracegrad.gluon.model_zoo import vision as models
    net = models.get_model('squeezenet1.1')
    net.hybridize()
    sym = mx.sym.SoftmaxOutput(net(mx.sym.var('data')), name='softmax')
    mod = mx.mod.Module(symbol=sym, context=mx.cpu())
    mod.bind(for_training=False, inputs_need_grad=False,
             data_shapes=[('data', (1, 3, 224, 224))])
    mod.init_params(initializer=mx.init.Xavier(magnitude=2.))
    data = [mx.random.uniform(-1.0, 1.0, shape=shape, ctx=mx.cpu())
            for _, shape in mod.data_shapes]
    batch = mx.io.DataBatch(data, [])  # empty label
    mod.forward(batch, is_train=False)
    out = mod.get_outputs()[0]
    assert out.shape == (1, 1000)
    arg_params = mod.get_params()[0]
    assert set(arg_params) == set(net.collect_params().keys())
    net.initialize()
    net(data[0])
    for k, p in net.collect_params().items():
        p.set_data(arg_params[k])
    np.testing.assert_allclose(out.asnumpy(), mx.nd.softmax(net(data[0])).asnumpy(),
                               rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------ fine-tune.py (as written)
def get_fine_tune_model(symbol, arg_params, num_classes, layer_name, dtype='float32'):
    all_layers = symbol.get_internals()
    net = all_layers[layer_name + '_output']
    net = mx.symbol.FullyConnected(data=net, num_hidden=num_classes, name='fc')
    if dtype == 'float16':
        net = mx.sym.Cast(data=net, dtype=np.float32)
    net = mx.symbol.SoftmaxOutput(data=net, name='softmax')
    new_args = dict({k: arg_params[k] for k in arg_params if 'fc' not in k})
    return (net, new_args)


def _ce(mod, y):
    p = mod.get_outputs()[0].asnumpy().astype(np.float64)
    return -np.log(p[np.arange(len(y)), y]).mean()


def test_resnet_trains_checkpoints_and_fine_tunes_from_its_flatten_layer(tmp_path):
    np.random.seed(2)
    it = SyntheticDataIter(4, (8, 3, 8, 8), 2, np.float32)
    y = it.label.asnumpy().astype(int)
    with mx.name.NameManager():
        sym = resnet_get_symbol(4, 8, '3,8,8')
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2))
    mod.init_optimizer(kvstore='device', optimizer='sgd',
                       optimizer_params={'learning_rate': 0.05, 'momentum': 0.9, 'wd': 1e-4,
                                         'multi_precision': True})
    losses = []
    for batch in it:
        mod.forward(batch, is_train=True)
        losses.append(_ce(mod, y))
        mod.backward()
        mod.update()
    assert losses[1] < 0.9 * losses[0]   # (two steps: a third would compile the step)
    # the BN moving statistics moved from their (0, 1) start
    aux = mod.get_params()[1]
    assert not np.allclose(aux['bn_data_moving_mean'].asnumpy(), 0)
    prefix = str(tmp_path / "resnet")
    mod.save_checkpoint(prefix, 1)
    sym1, arg_params, aux_params = mx.model.load_checkpoint(prefix, 1)
    (new_sym, new_args) = get_fine_tune_model(sym1, arg_params, 3, 'flatten0')
    assert sorted(set(arg_params) - set(new_args)) == ['fc1_bias', 'fc1_weight']
    assert new_sym.infer_shape(data=(8, 3, 8, 8))[1] == [(8, 3)]
    ft = mx.mod.Module(new_sym, context=mx.cpu())
    ft.bind(data_shapes=it.provide_data, label_shapes=[('softmax_label', (8,))])
    ft.init_params(mx.init.Xavier(), arg_params=new_args, aux_params=aux_params,
                   allow_missing=True)
    got = ft.get_params()[0]
    for k, v in new_args.items():
        np.testing.assert_array_equal(got[k].asnumpy(), v.asnumpy())
    assert got['fc_weight'].shape == (3, 64)
    # the kept body computes what the trained one did: flatten0 through the new head
    it.reset()
    batch = next(it)
    mod.forward(batch, is_train=False)
    ft.forward(batch, is_train=False)
    flat = mx.mod.Module(sym.get_internals()['flatten0_output'], label_names=None)
    flat.bind(data_shapes=it.provide_data, for_training=False)
    flat.set_params(*mod.get_params())
    flat.forward(batch, is_train=False)
    h = flat.get_outputs()[0].asnumpy().astype(np.float64)
    z = h @ got['fc_weight'].asnumpy().T + got['fc_bias'].asnumpy()
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(ft.get_outputs()[0].asnumpy(), e / e.sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_float16_resnet_binds_half_weights_float32_batchnorm_and_trains():
    np.random.seed(3)
    it = SyntheticDataIter(4, (8, 3, 8, 8), 2, np.float32)
    y = it.label.asnumpy().astype(int)
    with mx.name.NameManager():
        sym = resnet_get_symbol(4, 8, '3,8,8', dtype='float16')
    arg_types, out_types, aux_types = sym.infer_type(data=np.float32)
    types = dict(zip(sym.list_arguments(), arg_types))
    assert types['conv0_weight'] == np.float16 and types['fc1_weight'] == np.float16
    assert types['bn_data_gamma'] == np.float32 and types['stage1_unit1_bn1_beta'] == np.float32
    assert set(aux_types) == {np.float32} and out_types == [np.float32]
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2))
    mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.05,
                                                          'momentum': 0.9,
                                                          'multi_precision': True})
    losses = []
    for batch in it:
        mod.forward(batch, is_train=True)
        assert mod.get_outputs()[0].dtype == np.float32
        losses.append(_ce(mod, y))
        mod.backward()
        mod.update()
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    arg, aux = mod.get_params()
    assert arg['conv0_weight'].dtype == np.float16 and arg['bn1_gamma'].dtype == np.float32
    assert aux['bn1_moving_var'].dtype == np.float32


# ------------------------------------------------------------------ ctc/lstm.py (as written)
LSTMState = namedtuple("LSTMState", ["c", "h"])
LSTMParam = namedtuple("LSTMParam", ["i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias"])


def _lstm(num_hidden, indata, prev_state, param, seqidx, layeridx):
    i2h = mx.sym.FullyConnected(data=indata, weight=param.i2h_weight, bias=param.i2h_bias,
                                num_hidden=num_hidden * 4,
                                name="t%d_l%d_i2h" % (seqidx, layeridx))
    h2h = mx.sym.FullyConnected(data=prev_state.h, weight=param.h2h_weight,
                                bias=param.h2h_bias, num_hidden=num_hidden * 4,
                                name="t%d_l%d_h2h" % (seqidx, layeridx))
    gates = i2h + h2h
    slice_gates = mx.sym.SliceChannel(gates, num_outputs=4,
                                      name="t%d_l%d_slice" % (seqidx, layeridx))
    in_gate = mx.sym.Activation(slice_gates[0], act_type="sigmoid")
    in_transform = mx.sym.Activation(slice_gates[1], act_type="tanh")
    forget_gate = mx.sym.Activation(slice_gates[2], act_type="sigmoid")
    out_gate = mx.sym.Activation(slice_gates[3], act_type="sigmoid")
    next_c = (forget_gate * prev_state.c) + (in_gate * in_transform)
    next_h = out_gate * mx.sym.Activation(next_c, act_type="tanh")
    return LSTMState(c=next_c, h=next_h)


def _lstm_unroll_base(num_lstm_layer, seq_len, num_hidden):
    param_cells = []
    last_states = []
    for i in range(num_lstm_layer):
        param_cells.append(LSTMParam(i2h_weight=mx.sym.Variable("l%d_i2h_weight" % i),
                                     i2h_bias=mx.sym.Variable("l%d_i2h_bias" % i),
                                     h2h_weight=mx.sym.Variable("l%d_h2h_weight" % i),
                                     h2h_bias=mx.sym.Variable("l%d_h2h_bias" % i)))
        state = LSTMState(c=mx.sym.Variable("l%d_init_c" % i),
                          h=mx.sym.Variable("l%d_init_h" % i))
        last_states.append(state)
    assert len(last_states) == num_lstm_layer
    data = mx.sym.Variable('data')
    wordvec = mx.sym.SliceChannel(data=data, num_outputs=seq_len, squeeze_axis=1)
    hidden_all = []
    for seqidx in range(seq_len):
        hidden = wordvec[seqidx]
        for i in range(num_lstm_layer):
            next_state = _lstm(num_hidden=num_hidden, indata=hidden, prev_state=last_states[i],
                               param=param_cells[i], seqidx=seqidx, layeridx=i)
            hidden = next_state.h
            last_states[i] = next_state
        hidden_all.append(hidden)
    hidden_concat = mx.sym.Concat(*hidden_all, dim=0)
    pred_fc = mx.sym.FullyConnected(data=hidden_concat, num_hidden=11, name="pred_fc")
    return pred_fc


def _add_mxnet_ctc_loss(pred, seq_len, label):
    pred_ctc = mx.sym.Reshape(data=pred, shape=(-4, seq_len, -1, 0))
    loss = mx.sym.contrib.ctc_loss(data=pred_ctc, label=label)
    ctc_loss = mx.sym.MakeLoss(loss)
    softmax_class = mx.symbol.SoftmaxActivation(data=pred)
    softmax_loss = mx.sym.MakeLoss(softmax_class)
    softmax_loss = mx.sym.BlockGrad(softmax_loss)
    return mx.sym.Group([softmax_loss, ctc_loss])


def lstm_unroll(num_lstm_layer, seq_len, num_hidden, num_label, loss_type=None):
    pred = _lstm_unroll_base(num_lstm_layer, seq_len, num_hidden)
    if loss_type:
        assert loss_type == 'ctc'
        return _add_mxnet_ctc_loss(pred, seq_len, mx.sym.Variable('label'))
    else:
        return mx.sym.softmax(data=pred, name='softmax')


def init_states(batch_size, num_lstm_layer, num_hidden):
    init_c = [('l%d_init_c' % l, (batch_size, num_hidden)) for l in range(num_lstm_layer)]
    init_h = [('l%d_init_h' % l, (batch_size, num_hidden)) for l in range(num_lstm_layer)]
    return init_c + init_h


# ------------------------------------------------------------------ ctc/ocr_iter.py, ctc_metrics.py
class SimpleBatch(object):
    def __init__(self, data_names, data, label_names=None, label=None):
        self._data = data
        self._label = label
        self._data_names = data_names
        self._label_names = label_names
        self.pad = 0
        self.index = None

    @property
    def data(self):
        return self._data

    @property
    def label(self):
        return self._label

    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def provide_data(self):
        return [(n, x.shape) for n, x in zip(self._data_names, self._data)]

    @property
    def provide_label(self):
        return [(n, x.shape) for n, x in zip(self._label_names, self._label)]


def get_label(buf):
    ret = np.zeros(4)
    for i, element in enumerate(buf):
        ret[i] = 1 + int(element)
    if len(buf) == 3:
        ret[3] = 0
    return ret


class OCRIter(mx.io.DataIter):
    def __init__(self, count, batch_size, lstm_init_states, captcha, name):
        super(OCRIter, self).__init__()
        self.batch_size = batch_size
        self.count = count
        self.init_states = lstm_init_states
        self.init_state_arrays = [mx.nd.zeros(x[1]) for x in lstm_init_states]
        data_shape = captcha.shape
        self.provide_data = [('data', (batch_size, data_shape[0], data_shape[1]))] + \
            lstm_init_states
        self.provide_label = [('label', (self.batch_size, 4))]
        self.mp_captcha = captcha
        self.name = name

    def __iter__(self):
        init_state_names = [x[0] for x in self.init_states]
        for k in range(self.count):
            data = []
            label = []
            for i in range(self.batch_size):
                img, num = self.mp_captcha.get()
                data.append(img)
                label.append(get_label(num))
            data_all = [mx.nd.array(data)] + self.init_state_arrays
            label_all = [mx.nd.array(label)]
            data_names = ['data'] + init_state_names
            label_names = ['label']
            data_batch = SimpleBatch(data_names, data_all, label_names, label_all)
            yield data_batch


class CtcMetrics(object):
    def __init__(self, seq_len):
        self.seq_len = seq_len

    @staticmethod
    def ctc_label(p):
        ret = []
        p1 = [0] + p
        for i, _ in enumerate(p):
            c1 = p1[i]
            c2 = p1[i + 1]
            if c2 in (0, c1):
                continue
            ret.append(c2)
        return ret

    @staticmethod
    def _remove_blank(l):
        ret = []
        for i, _ in enumerate(l):
            if l[i] == 0:
                break
            ret.append(l[i])
        return ret

    def accuracy(self, label, pred):
        hit = 0.
        total = 0.
        batch_size = label.shape[0]
        for i in range(batch_size):
            l = self._remove_blank(label[i])
            p = []
            for k in range(self.seq_len):
                p.append(np.argmax(pred[k * batch_size + i]))
            p = self.ctc_label(p)
            if len(p) == len(l):
                match = True
                for k, _ in enumerate(p):
                    if p[k] != int(l[k]):
                        match = False
                        break
                if match:
                    hit += 1.0
            total += 1.0
        assert total == batch_size
        return hit / total


class _Captchas:
    """A fixed set of 'images' and 3-4 digit strings, served in turn (MPDigitCaptcha's get)."""
    shape = (5, 4)

    def __init__(self, n, seed):
        rs = np.random.RandomState(seed)
        self.items = [(rs.rand(*self.shape).astype(np.float32),
                       ''.join(str(d) for d in rs.randint(0, 10, rs.randint(3, 5))))
                      for _ in range(n)]
        self.i = 0

    def get(self):
        item = self.items[self.i % len(self.items)]
        self.i += 1
        return item


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _np_pred_fc(params, x, layers, hid):
    """lstm.py's unrolled LSTM in float64: x (batch, seq, width) -> (seq * batch, 11)."""
    p = {k: v.asnumpy().astype(np.float64) for k, v in params.items()}
    n, seq = x.shape[:2]
    c = [np.zeros((n, hid)) for _ in range(layers)]
    h = [np.zeros((n, hid)) for _ in range(layers)]
    outs = []
    for t in range(seq):
        inp = x[:, t]
        for i in range(layers):
            g = inp @ p["l%d_i2h_weight" % i].T + p["l%d_i2h_bias" % i] + \
                h[i] @ p["l%d_h2h_weight" % i].T + p["l%d_h2h_bias" % i]
            gi, gt, gf, go = np.split(g, 4, axis=1)
            c[i] = _sigmoid(gf) * c[i] + _sigmoid(gi) * np.tanh(gt)
            h[i] = _sigmoid(go) * np.tanh(c[i])
            inp = h[i]
        outs.append(inp)
    return np.concatenate(outs, 0) @ p["pred_fc_weight"].T + p["pred_fc_bias"]


def _np_ctc(logits, label):
    """-log p(label) with blank 0, the label padded with 0; logits (T, C)."""
    return ctc_nll(log_softmax(logits), [int(v) for v in label if v != 0], 0)


def test_lstm_ocr_ctc_trains_scores_and_infers_from_its_checkpoint(tmp_path, caplog):
    seq, hid, layers, bs = 5, 4, 2, 4
    names = ['data', 'l0_init_c', 'l0_init_h', 'l1_init_c', 'l1_init_h']
    states = init_states(bs, layers, hid)
    captcha = _Captchas(8, seed=4)
    train = OCRIter(1, bs, states, captcha=captcha, name='train')
    symbol = lstm_unroll(num_lstm_layer=layers, seq_len=seq, num_hidden=hid, num_label=4,
                         loss_type='ctc')
    module = mx.mod.Module(symbol, data_names=names, label_names=['label'],
                           context=[mx.cpu(0)])
    module.bind(data_shapes=train.provide_data, label_shapes=train.provide_label)
    mx.random.seed(0)
    module.init_params(mx.init.Xavier(factor_type="in", magnitude=2.34))
    batches = list(OCRIter(2, bs, states, captcha=captcha, name='val'))
    captcha.i = 0
    assert batches[0].label[0].shape == (4, 4)

    def losses():
        out = []
        for b in batches:
            module.forward(b, is_train=False)
            out.append(module.get_outputs()[1].asnumpy())
        return np.concatenate(out)
    # the graph is the unrolled LSTM; its loss is the CTC of pred_fc with blank 0
    module.forward(batches[0], is_train=False)
    soft, loss = [o.asnumpy() for o in module.get_outputs()]
    x = batches[0].data[0].asnumpy().astype(np.float64)
    pred = _np_pred_fc(module.get_params()[0], x, layers, hid)
    e = np.exp(pred - pred.max(1, keepdims=True))
    np.testing.assert_allclose(soft, e / e.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    labels = batches[0].label[0].asnumpy()
    want = [_np_ctc(pred.reshape(seq, bs, 11)[:, i], labels[i]) for i in range(bs)]
    np.testing.assert_allclose(loss, want, rtol=1e-4)
    # MakeLoss's head gradient is 1 per sample: pred_fc_bias's gradient is d(sum of losses)
    module.forward(batches[0], is_train=True)
    module.backward()
    group = module._exec_group
    grad = dict(zip(group.param_names, group.grad_arrays))["pred_fc_bias"][0].asnumpy()
    params = module.get_params()[0]

    def total(bias):
        p = dict(params, pred_fc_bias=mx.nd.array(bias, dtype=np.float64))
        z = _np_pred_fc(p, x, layers, hid).reshape(seq, bs, 11)
        return sum(_np_ctc(z[:, i], labels[i]) for i in range(bs))
    b0 = params["pred_fc_bias"].asnumpy().astype(np.float64)
    numeric = [(total(b0 + 1e-5 * np.eye(11)[k]) - total(b0 - 1e-5 * np.eye(11)[k])) / 2e-5
               for k in range(11)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)
    before = losses()
    metrics = CtcMetrics(seq)
    prefix = str(tmp_path / "ocr")
    with caplog.at_level(logging.INFO):
        module.fit(train_data=train, eval_metric=mx.metric.np(metrics.accuracy,
                                                              allow_extra_outputs=True),
                   optimizer='sgd', optimizer_params={'learning_rate': 0.1, 'momentum': 0.9,
                                                      'wd': 0.00001},
                   num_epoch=2, batch_end_callback=mx.callback.Speedometer(bs, 50),
                   epoch_end_callback=mx.callback.do_checkpoint(prefix))
    assert losses().mean() < before.mean()
    assert len([r for r in caplog.records if "Train-accuracy=" in r.getMessage()]) == 2
    # the metric is CtcMetrics.accuracy of the softmax output (the extra loss output ignored)
    m = mx.metric.np(metrics.accuracy, allow_extra_outputs=True)
    module.forward(batches[1], is_train=False)
    module.update_metric(m, batches[1].label)
    soft1 = module.get_outputs()[0].asnumpy()
    assert m.get() == ('accuracy', metrics.accuracy(batches[1].label[0].asnumpy(), soft1))
    # lstm_ocr_infer.py: pred_fc from the checkpoint's internals, softmax, one image
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 2)
    first = mx.model.load_checkpoint(prefix, 1)[1]
    assert all(not np.array_equal(first[k].asnumpy(), v.asnumpy())
               for k, v in arg_params.items())     # each epoch updated every weight
    pred_fc = sym.get_internals()['pred_fc_output']
    sym = mx.sym.softmax(data=pred_fc)
    one = init_states(1, layers, hid)
    img = batches[1].data[0][2:3]
    sample = SimpleBatch(data_names=names, data=[img] + [mx.nd.zeros(s) for _, s in one])
    mod = mx.mod.Module(symbol=sym, context=mx.cpu(), data_names=sample.data_names,
                        label_names=None)
    mod.bind(for_training=False, data_shapes=sample.provide_data)
    mod.set_params(arg_params, aux_params, allow_missing=False)
    mod.forward(sample)
    prob = mod.get_outputs()[0].asnumpy()
    assert prob.shape == (seq, 11)
    np.testing.assert_allclose(prob, soft1.reshape(seq, bs, 11)[:, 2], rtol=1e-4, atol=1e-6)
    prediction = CtcMetrics.ctc_label(np.argmax(prob, axis=-1).tolist())
    assert all(1 <= p <= 10 for p in prediction)
