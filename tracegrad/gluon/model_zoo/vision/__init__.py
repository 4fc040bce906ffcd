"""`gluon.model_zoo.vision`: MXNet 1.9.1's image classification models by name.

    net = vision.get_model('resnet18_v1', classes=10)       # random weights
    net = vision.get_model('resnet50_v2', pretrained=True)  # weights from ~/.mxnet/models

pretrained=True reads `<name>-<hash>.params` from `root` (default $MXNET_HOME/models or
~/.mxnet/models) and never downloads; a missing file raises an error naming the path.
"""
# re-exported as in MXNet (vision.resnet18_v1, vision.ResNetV1, ...)
from .alexnet import AlexNet, alexnet  # noqa: F401
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201  # noqa: F401
from .inception import Inception3, inception_v3  # noqa: F401
from .mobilenet import MobileNet, MobileNetV2  # noqa: F401
from .mobilenet import mobilenet0_5, mobilenet0_25, mobilenet0_75, mobilenet1_0  # noqa: F401
from .mobilenet import mobilenet_v2_0_5, mobilenet_v2_0_25, mobilenet_v2_0_75  # noqa: F401
from .mobilenet import mobilenet_v2_1_0  # noqa: F401
from .resnet import BasicBlockV1, BasicBlockV2, BottleneckV1, BottleneckV2  # noqa: F401
from .resnet import ResNetV1, ResNetV2, get_resnet  # noqa: F401
from .resnet import resnet18_v1, resnet34_v1, resnet50_v1, resnet101_v1  # noqa: F401
from .resnet import resnet152_v1, resnet18_v2, resnet34_v2, resnet50_v2  # noqa: F401
from .resnet import resnet101_v2, resnet152_v2  # noqa: F401
from .squeezenet import SqueezeNet, squeezenet1_0, squeezenet1_1  # noqa: F401
from .vgg import VGG, get_vgg, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn  # noqa: F401
from .vgg import vgg19, vgg19_bn  # noqa: F401

_MODELS = {f"resnet{n}_v{v}": globals()[f"resnet{n}_v{v}"] for n in (18, 34, 50, 101, 152)
           for v in (1, 2)}
_MODELS.update({f"vgg{n}{bn}": globals()[f"vgg{n}{bn}"] for n in (11, 13, 16, 19)
                for bn in ("", "_bn")})
_MODELS.update({f"densenet{n}": globals()[f"densenet{n}"] for n in (121, 161, 169, 201)})
_MODELS.update({
    "alexnet": alexnet, "squeezenet1.0": squeezenet1_0, "squeezenet1.1": squeezenet1_1,
    "inceptionv3": inception_v3,
    "mobilenet1.0": mobilenet1_0, "mobilenet0.75": mobilenet0_75, "mobilenet0.5": mobilenet0_5,
    "mobilenet0.25": mobilenet0_25, "mobilenetv2_1.0": mobilenet_v2_1_0,
    "mobilenetv2_0.75": mobilenet_v2_0_75, "mobilenetv2_0.5": mobilenet_v2_0_5,
    "mobilenetv2_0.25": mobilenet_v2_0_25})


def get_model(name, **kwargs):
    """A model by MXNet's name ('resnet18_v1', 'vgg16_bn', 'mobilenetv2_1.0', ...); keyword
    arguments (classes, pretrained, root, ctx, thumbnail, ...) go to its constructor."""
    key = name.lower()
    if key not in _MODELS:
        raise ValueError(f"Model {name} is not supported. Available options are\n\t"
                         + "\n\t".join(sorted(_MODELS)))
    return _MODELS[key](**kwargs)
