"""float16 composites (hypot, arctan2, softmax, log_softmax, softrelu, softsign, the logistic
BCE, gelu, elu, LayerNorm, GroupNorm, InstanceNorm) are computed in float32 and rounded once:
each result is the float64 reference rounded to float16 (a rare double rounding aside),
eager, hybridized and under jit, as numpy's half ufuncs give. Chained float16 roundings had
put hypot one ulp off on 9 draws in 10."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

RNG = np.random.RandomState(7)
_erf = np.vectorize(math.erf)
A = RNG.uniform(-1, 1, (64, 16)).astype(np.float16)
B = RNG.uniform(-1, 1, (64, 16)).astype(np.float16)


def _softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


CASES = {
    "hypot": (lambda F, a, b: F.hypot(a, b), lambda a, b: np.hypot(a, b)),
    "arctan2": (lambda F, a, b: F.arctan2(a, b), lambda a, b: np.arctan2(a, b)),
    "softmax": (lambda F, a, b: F.softmax(a * 4), lambda a, b: _softmax(a * 4)),
    "log_softmax": (lambda F, a, b: F.log_softmax(a * 4),
                    lambda a, b: np.log(_softmax(a * 4))),
    "softrelu": (lambda F, a, b: F.Activation(a * 4, act_type="softrelu"),
                 lambda a, b: np.log1p(np.exp(a * 4))),
    "softsign": (lambda F, a, b: F.Activation(a * 4, act_type="softsign"),
                 lambda a, b: a * 4 / (1 + np.abs(a * 4))),
    "gelu": (lambda F, a, b: F.LeakyReLU(a * 4, act_type="gelu"),
             lambda a, b: 0.5 * a * 4 * (1 + _erf(a * 4 / np.sqrt(2)))),
    "elu": (lambda F, a, b: F.LeakyReLU(a * 4, act_type="elu", slope=0.3),
            lambda a, b: np.where(a > 0, a * 4, 0.3 * np.expm1(a * 4))),
}


def _h(v):
    """v as the float16 input the layer sees (a * 4 + 1 rounds in float16)."""
    return v.astype(np.float16).astype(np.float64)


def _normalized(a, axes):
    m = a.mean(axes, keepdims=True)
    return (a - m) / np.sqrt(((a - m) ** 2).mean(axes, keepdims=True) + 1e-5)


ONES = nd.ones((16,), dtype="float16")
ZEROS = nd.zeros((16,), dtype="float16")
CASES.update({
    "LayerNorm": (lambda F, a, b: F.LayerNorm(a * 4 + 1, ONES, ZEROS),
                  lambda a, b: _normalized(_h(a * 4 + 1), -1)),
    "GroupNorm": (lambda F, a, b: F.GroupNorm(F.reshape(a * 4 + 1, shape=(8, 4, 32)),
                                              ONES[:2], ZEROS[:2], num_groups=2),
                  lambda a, b: _normalized(_h(a * 4 + 1).reshape(8, 2, 64), -1)
                  .reshape(8, 4, 32)),
    "InstanceNorm": (lambda F, a, b: F.InstanceNorm(F.reshape(a * 4 + 1, shape=(8, 16, 8)),
                                                    ONES, ZEROS, eps=1e-5),
                     lambda a, b: _normalized(_h(a * 4 + 1).reshape(8, 16, 8), -1)),
})


class _Net(mx.gluon.HybridBlock):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def hybrid_forward(self, F, a, b):
        return self.fn(F, a, b)


def _check_rounded_once(out, reference):
    assert out.dtype == np.float16
    want = reference.astype(np.float16)
    ulp = np.spacing(np.abs(want)).astype(np.float64)
    off = np.abs(out.astype(np.float64) - want.astype(np.float64)) / ulp
    assert off.max() <= 1, off.max()        # never more than one ulp from the rounded value
    assert (out != want).mean() <= 0.03     # and that only by a double rounding, rarely


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("how", ["eager", "hybridized", "jit"])
def test_half_composite_is_the_reference_rounded_once(name, how):
    fn, ref = CASES[name]
    a, b = nd.array(A, dtype="float16"), nd.array(B, dtype="float16")
    if how == "eager":
        out = fn(nd, a, b)
    elif how == "hybridized":
        net = _Net(fn)
        net.hybridize()
        out = net(a, b)
    else:
        out = mx.jit(lambda x, y: fn(nd, x, y))(a, b)
    _check_rounded_once(out.asnumpy(), ref(A.astype(np.float64), B.astype(np.float64)))


def test_half_gluon_layer_norm_is_rounded_once():
    net = mx.gluon.nn.LayerNorm(in_channels=16)
    net.initialize()
    net.cast("float16")
    net.hybridize()
    _check_rounded_once(net(nd.array(A * 4 + 1, dtype="float16")).asnumpy(),
                        _normalized(_h(A.astype(np.float64) * 4 + 1), -1))


def test_half_hypot_matches_numpy_through_mx_np():
    out = mx.np.hypot(mx.np.array(A, dtype="float16"), mx.np.array(B, dtype="float16"))
    assert out.dtype == np.float16
    assert (out.asnumpy() != np.hypot(A, B)).mean() <= 0.01


def test_half_composite_gradient_reaches_both_operands():
    a, b = nd.array(A[:4], dtype="float16"), nd.array(B[:4], dtype="float16")
    a.attach_grad()
    b.attach_grad()
    with mx.autograd.record():
        y = nd.hypot(a, b)
    y.backward()
    a64, b64 = A[:4].astype(np.float64), B[:4].astype(np.float64)
    h = np.hypot(a64, b64)
    assert a.grad.dtype == np.float16 and b.grad.dtype == np.float16
    np.testing.assert_allclose(a.grad.asnumpy(), a64 / h, rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(b.grad.asnumpy(), b64 / h, rtol=2e-3, atol=1e-3)


def test_mixed_precision_composite_keeps_promoting():
    a = nd.array(A[:2], dtype="float16")
    b = nd.array(B[:2].astype(np.float32))
    assert mx.np.hypot(a.as_np_ndarray(), b.as_np_ndarray()).dtype == np.float32
