"""MXNet's gluon_from_experiment_to_deployment tutorial, shortened: fine-tune a small CNN (a
depthwise convolution, BatchNorm, a replaced output layer) with an SGD optimizer object and
a MultiFactorScheduler, export it, load it back with mx.model.load_checkpoint into an
mx.mod.Module (a namedtuple batch without labels) and with SymbolBlock.imports: the same
predictions as the trained net."""
from collections import namedtuple

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, init, mxnet_format, nd
from tracegrad.gluon import nn


class SmallNet(gluon.HybridBlock):
    """Shaped like the model zoo's nets: `features`, then a replaceable `output`."""

    def __init__(self, classes, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(4, 3, padding=1, in_channels=3), nn.BatchNorm(),
                              nn.Activation("relu"),
                              nn.Conv2D(4, 3, padding=1, groups=4, in_channels=4),  # depthwise
                              nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def test_finetune_export_and_deploy_with_module(tmp_path):
    mx.random.seed(7)
    net = SmallNet(10, prefix="cnn_")
    net.initialize(init.Xavier())
    with net.name_scope():
        net.output = nn.Dense(3)          # the tutorial's new head for its classes
    net.output.initialize(init.Xavier())
    net.hybridize()
    schedule = mx.lr_scheduler.MultiFactorScheduler(step=[2, 4], factor=0.75, base_lr=0.05)
    sgd = mx.optimizer.SGD(learning_rate=0.05, lr_scheduler=schedule, momentum=0.9, wd=1e-4)
    trainer = gluon.Trainer(net.collect_params(), optimizer=sgd)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    X = nd.random.uniform(shape=(8, 3, 8, 8))
    Y = nd.array([0, 1, 2, 0, 1, 2, 0, 1])
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(X, Y), batch_size=4)
    ctx = [mx.cpu()]
    for _ in range(2):
        for xb, yb in data:
            xs = gluon.utils.split_and_load(xb, ctx_list=ctx, even_split=False)
            ys = gluon.utils.split_and_load(yb, ctx_list=ctx, even_split=False)
            with autograd.record():
                losses = [loss_fn(net(x), y) for x, y in zip(xs, ys)]
            for l in losses:
                l.backward()
            trainer.step(4)
    assert trainer.learning_rate == 0.05 * 0.75          # num_update 4: one step passed
    want = net(X[:2]).asnumpy()
    prefix = str(tmp_path / "flower")
    net.export(prefix, epoch=2)
    _, keys = mxnet_format.read(prefix + "-0002.params")
    assert "aux:cnn_batchnorm0_running_mean" in keys and "arg:cnn_dense1_weight" in keys
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 2)
    assert sym.list_outputs() == ["cnn_dense1_fwd_output"]
    mod = mx.mod.Module(symbol=sym, context=mx.cpu(), label_names=None)
    mod.bind(for_training=False, data_shapes=[("data", (2, 3, 8, 8))],
             label_shapes=mod._label_shapes)
    mod.set_params(arg_params, aux_params, allow_missing=True)
    Batch = namedtuple("Batch", ["data"])
    mod.forward(Batch([X[:2]]))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), want, rtol=1e-5, atol=1e-6)
    back = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0002.params")
    np.testing.assert_allclose(back(X[:2]).asnumpy(), want, rtol=1e-5, atol=1e-6)
