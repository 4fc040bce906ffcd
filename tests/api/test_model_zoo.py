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
from tracegrad.gluon.model_zoo.vision.resnet import BasicBlockV1, ResNetV1

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


def test_resnet18_trains(rng):
    """ResNet-18 (CIFAR stem) on a tiny batch: the loss goes down in a few SGD steps."""
    x = nd.array(rng.standard_normal((4, 3, 8, 8)).astype(np.float32))
    y = nd.array(np.array([0, 1, 2, 3], dtype=np.float32))
    losses = _train(vision.resnet18_v1(classes=4, thumbnail=True), x, y, 3, hybridize=False,
                    lr=0.05)
    assert losses[-1] < 0.5 * losses[0], losses


def test_resnet_trains_eager_and_hybridized_agree(rng):
    """A two-stage ResNet v1 (the model zoo's blocks, fewer of them: each batch-norm layer costs
    seconds of LLVM time): compiled training follows eager training step for step."""
    x = nd.array(rng.standard_normal((4, 3, 8, 8)).astype(np.float32))
    y = nd.array(np.array([1, 3, 0, 2], dtype=np.float32))

    def make():
        return ResNetV1(BasicBlockV1, [1, 1], [8, 8, 16], classes=4, thumbnail=True)
    eager = _train(make(), x, y, 4, hybridize=False)
    hybrid = _train(make(), x, y, 4, hybridize=True)
    assert eager[-1] < 0.5 * eager[0], eager
    np.testing.assert_allclose(hybrid, eager, rtol=1e-4)


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
