"""gluon.model_zoo.vision: every model builds by name, a few run forward (eager == hybridized),
parameter counts match the published architectures, ResNets train, and pretrained=True reads a
local file or says where to put it. Inputs are tiny to keep CI fast: the full-size forwards of
VGG, DenseNet, SqueezeNet and Inception (224/299 inputs) are left to their users."""
import os

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon.model_zoo import vision

NAMES = sorted(vision._MODELS)


def test_every_model_builds_by_name():
    assert len(NAMES) == 34
    for name in NAMES:
        net = vision.get_model(name, classes=7)
        assert isinstance(net, gluon.HybridBlock), name
        assert len(net.collect_params()) > 0, name
    assert "resnet50_v2" in NAMES and "mobilenetv2_0.25" in NAMES and "vgg19_bn" in NAMES
    with pytest.raises(ValueError, match="not supported"):
        vision.get_model("resnet19_v1")


def _trainable(net):
    return sum(int(np.prod(p.shape)) for p in net.collect_params().values()
               if p.grad_req != "null")


@pytest.mark.parametrize("name,count", [("resnet18_v1", 11689512), ("resnet34_v2", 21797672)])
def test_resnet_parameter_counts(name, count):
    """The published sizes (ImageNet, 1000 classes): shapes are inferred by one forward."""
    net = vision.get_model(name)
    net.initialize(mx.init.Zero())
    net(nd.zeros((1, 3, 32, 32)))
    # v2 against v1 (the published count): no batch norm in the three projections
    # (-2 * (128 + 256 + 512)), each stage's first bn1 sees the narrower input
    # (-2 * (64 + 128 + 256)), one final batch norm (+2 * 512); its input norm is not learned
    extra = 0 if name.endswith("v1") else -1792 - 896 + 1024
    assert _trainable(net) == count + extra


@pytest.mark.parametrize("name,size,kwargs,hybridize", [
    ("resnet18_v1", 16, {"thumbnail": True}, True),
    ("resnet18_v2", 32, {}, False),
    ("mobilenet0.25", 32, {}, False),
    ("mobilenetv2_0.25", 32, {}, False),
    ("alexnet", 63, {}, False),
])
def test_forward(rng, name, size, kwargs, hybridize):
    """Forward on a small input (hybridized too for one: compiling each model costs seconds)."""
    net = vision.get_model(name, classes=5, **kwargs)
    mx.random.seed(1)
    net.initialize(mx.init.Xavier() if name != "alexnet" else mx.init.Zero())
    x = nd.array(rng.standard_normal((1, 3, size, size)).astype(np.float32))
    eager = net(x).asnumpy()
    assert eager.shape == (1, 5) and np.all(np.isfinite(eager))
    if hybridize:
        net.hybridize()
        np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-4, atol=1e-5)


def _train(net, x, y, steps, hybridize, lr=0.1):
    mx.random.seed(0)
    net.initialize(mx.init.Xavier(), force_reinit=True)
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        losses.append(float(loss.mean().asscalar()))
    return losses


def test_resnet18_trains_eager_and_hybridized_agree(rng):
    """The full ResNet-18 (resnet18_v1, CIFAR stem, 10 classes) on two 3x32x32 images: three
    SGD steps eagerly and hybridized (one native call per forward and per backward; the first
    call compiles in seconds because identical blocks share their code). Every gradient of the
    first step agrees, every step's loss agrees and the loss goes down. (Parameters are not
    compared after several steps: with batch statistics over two samples the steps are
    ill-conditioned, a relative change of 1e-6 in the weights moving the next gradients by
    tens of percent, so float32 rounding alone parts two exact implementations.)"""
    x = nd.array(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    y = nd.array(np.array([3, 7], dtype=np.float32))
    nets = [vision.resnet18_v1(classes=10, thumbnail=True) for _ in range(2)]
    for net in nets:
        net.initialize(mx.init.Zero())
        net(x)                                   # deferred shapes
    pairs = list(zip(nets[0].collect_params().values(), nets[1].collect_params().values()))
    for a, b in pairs:                           # the same start: He-scaled weights, unit
        if a.name.endswith(("gamma", "running_var")):   # gamma and variance, zero shifts
            value = np.ones(a.shape, np.float32)
        elif len(a.shape) >= 2:
            fan_in = int(np.prod(a.shape[1:]))
            value = (rng.standard_normal(a.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            value = np.zeros(a.shape, np.float32)
        a.set_data(nd.array(value))
        b.set_data(nd.array(value))
    nets[1].hybridize()
    trainers = [gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
                for net in nets]
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = [[], []]
    before = mx.stats()
    was = mx.capture.set_enabled(False)          # each step as written: op by op / per block
    try:
        for step in range(3):
            for net, trainer, out in zip(nets, trainers, losses):
                with autograd.record():
                    loss = loss_fn(net(x), y)
                loss.backward()
                out.append(float(loss.mean().asscalar()))
            if step == 0:
                for a, b in pairs:
                    if a.grad_req != "null":
                        want = a.grad().asnumpy()
                        np.testing.assert_allclose(b.grad().asnumpy(), want, rtol=0,
                                                   atol=1e-4 * np.abs(want).max() + 1e-9,
                                                   err_msg=a.name)
            for trainer in trainers:
                trainer.step(x.shape[0])
    finally:
        mx.capture.set_enabled(was)
    after = mx.stats()
    assert after["native_calls"] - before["native_calls"] >= 6      # forward + backward each
    assert after["eager_fallbacks"] == before["eager_fallbacks"]
    eager, hybrid = losses
    assert eager[-1] < 0.1 * eager[0], eager
    np.testing.assert_allclose(hybrid, eager, rtol=1e-3)


def test_pretrained_reads_the_local_file_or_says_where(tmp_path, rng):
    x = nd.array(rng.standard_normal((1, 3, 8, 8)).astype(np.float32))
    with pytest.raises(mx.base.MXNetError) as info:
        vision.get_model("resnet18_v1", pretrained=True, root=str(tmp_path), classes=3,
                         thumbnail=True)
    message = str(info.value)
    assert str(tmp_path) in message and "resnet18_v1-<hash>.params" in message
    trained = vision.get_model("resnet18_v1", classes=3, thumbnail=True)
    trained.initialize(mx.init.Xavier())
    want = trained(x).asnumpy()
    trained.save_parameters(os.path.join(tmp_path, "resnet18_v1-a1b2c3d4.params"))
    loaded = vision.get_model("resnet18_v1", pretrained=True, root=str(tmp_path), classes=3,
                              thumbnail=True)
    np.testing.assert_array_equal(loaded(x).asnumpy(), want)


def test_default_root_is_mxnet_home(monkeypatch, tmp_path):
    from tracegrad.gluon.model_zoo import model_store
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    assert model_store.default_root() == os.path.join(str(tmp_path), "models")
    with pytest.raises(mx.base.MXNetError, match="models"):
        vision.alexnet(pretrained=True)


def test_structural_parameter_names_follow_mxnet():
    """save_parameters keys are attribute paths; MXNet's files use the same ones."""
    keys = set(vision.resnet18_v1()._collect_params_with_prefix())
    assert {"features.0.weight", "features.1.gamma", "features.4.0.body.0.weight",
            "features.5.0.downsample.0.weight", "output.weight", "output.bias"} <= keys
    keys = set(vision.mobilenet_v2_0_25()._collect_params_with_prefix())
    assert {"features.0.weight", "features.3.out.0.weight", "output.0.weight"} <= keys
    keys = set(vision.densenet121()._collect_params_with_prefix())
    assert "features.4.0.1.2.weight" in keys  # stage 1, layer 0, new features, 1x1 conv
