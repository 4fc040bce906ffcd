"""nd.LeakyReLU's act_types, the PReLU/ELU/SELU/GELU/Swish layers, GroupNorm and InstanceNorm
against numpy references written here; gradients vs finite differences and hybridized == eager
(check_block); second order on the smooth ones."""
import math
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.gluon import nn
from arrays import keep_dtype as array

from test_gluon_layers import check_block

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402


ERF = np.vectorize(math.erf)
SELU_L, SELU_A = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def elu_ref(x, a):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def gelu_ref(x):
    return 0.5 * x * (1 + ERF(x / math.sqrt(2)))


@pytest.fixture
def x(rng):
    return rng.standard_normal((2, 3, 4)) * 2


@pytest.mark.parametrize("kwargs,ref", [
    ({"act_type": "leaky", "slope": 0.1}, lambda x: np.where(x > 0, x, 0.1 * x)),
    ({"act_type": "elu", "slope": 0.7}, lambda x: elu_ref(x, 0.7)),
    ({"act_type": "selu"}, lambda x: SELU_L * elu_ref(x, SELU_A)),
    ({"act_type": "gelu"}, gelu_ref),
    ({"act_type": "rrelu", "lower_bound": 0.1, "upper_bound": 0.3},
     lambda x: np.where(x > 0, x, 0.2 * x)),
])
def test_leaky_relu_act_types(x, kwargs, ref):
    out = nd.LeakyReLU(array(x), **kwargs)
    np.testing.assert_allclose(out.asnumpy(), ref(x), rtol=1e-6, atol=3e-7)


def test_leaky_relu_prelu_gamma_per_channel(x):
    gamma = np.array([0.1, 0.2, 0.3])
    out = nd.LeakyReLU(array(x), gamma=array(gamma), act_type="prelu")
    np.testing.assert_allclose(out.asnumpy(), np.where(x > 0, x, gamma[None, :, None] * x))
    with pytest.raises(mx.base.MXNetError, match="act_type"):
        nd.LeakyReLU(array(x), act_type="swish")


def test_rrelu_refuses_training(x):
    with mx.autograd.record(), pytest.raises(mx.base.MXNetError, match="rrelu"):
        nd.LeakyReLU(array(x), act_type="rrelu")


@pytest.mark.parametrize("make,ref", [
    (lambda: nn.ELU(0.5), lambda b, x: elu_ref(x, 0.5)),
    (lambda: nn.SELU(), lambda b, x: SELU_L * elu_ref(x, SELU_A)),
    (lambda: nn.Swish(1.5), lambda b, x: x / (1 + np.exp(-1.5 * x))),
    (lambda: nn.PReLU(in_channels=3), lambda b, x: np.where(
        x > 0, x, b.alpha.data().asnumpy()[None, :, None] * x)),
    (lambda: nn.PReLU(), lambda b, x: np.where(x > 0, x, b.alpha.data().asnumpy()[0] * x)),
])
def test_activation_layers(x, make, ref):
    block = make()
    check_block(block, [x], lambda v: ref(block, v))


def test_gelu_layer(x):
    """erf is approximated to 1.5e-7 absolute (below float32 rounding), so the float64 forward
    is compared at that tolerance; gradients and hybridization by check_block."""
    block = nn.GELU()
    np.testing.assert_allclose(block(array(x)).asnumpy(), gelu_ref(x), rtol=0, atol=3e-7)
    check_block(block, [x])


def group_norm_ref(x, gamma, beta, groups, eps):
    n, c = x.shape[:2]
    xg = x.reshape(n, groups, -1)
    mean = xg.mean(axis=2, keepdims=True)
    var = ((xg - mean) ** 2).mean(axis=2, keepdims=True)
    out = (xg - mean) / np.sqrt(var + eps) * gamma[None, :, None] + beta[None, :, None]
    return out.reshape(x.shape)


@pytest.mark.parametrize("groups,shape", [(1, (2, 3, 4)), (2, (2, 4, 3, 2)), (3, (1, 6, 5))])
def test_group_norm(rng, groups, shape):
    block = nn.GroupNorm(groups, epsilon=1e-3)
    data = rng.standard_normal(shape)
    check_block(block, [data], lambda v: group_norm_ref(
        v, block.gamma.data().asnumpy(), block.beta.data().asnumpy(), groups, 1e-3))


@pytest.mark.parametrize("axis,shape", [(1, (2, 3, 4)), (1, (2, 2, 3, 3)), (-1, (2, 4, 3))])
def test_instance_norm(rng, axis, shape):
    block = nn.InstanceNorm(axis=axis, scale=True)
    data = rng.standard_normal(shape)

    def ref(v):
        moved = np.moveaxis(v, axis, 1)
        c = moved.shape[1]
        out = group_norm_ref(moved, block.gamma.data().asnumpy(), block.beta.data().asnumpy(),
                             c, 1e-5)
        return np.moveaxis(out, 1, axis)
    check_block(block, [data], ref)


def test_instance_norm_default_does_not_learn_gamma():
    block = nn.InstanceNorm()
    assert block.gamma.grad_req == "null" and block.beta.grad_req == "write"


@pytest.mark.parametrize("fn", [
    lambda x, g, b: nd.LeakyReLU(x, act_type="gelu") * g.sum(),
    lambda x, g, b: nd.LeakyReLU(x, act_type="selu") * x + b.sum(),
    lambda x, g, b: nd.GroupNorm(x, g, b, num_groups=2) ** 2,
])
def test_second_order(rng, fn):
    data = rng.standard_normal((2, 4, 3)) + 0.05  # keep clear of selu's kink at 0
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    fx = mx.make_ir(fn)(array(data), array(gamma), array(beta))
    check_grads(fx, [data, gamma, beta], order=2, rtol=1e-4)
