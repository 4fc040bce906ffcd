"""gluon.contrib.nn (MXNet 1.9.1's home of these): PixelShuffle1D/2D/3D against an index-by-index
numpy reference, gradients vs finite differences, hybridized vs eager; HybridConcurrent and
Identity through the same oracle."""
import itertools
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.gluon import nn
from tracegrad.gluon.contrib.nn import (HybridConcurrent, Identity, PixelShuffle1D,
                                        PixelShuffle2D, PixelShuffle3D)

from test_gluon_layers import check_block

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402


def _ref_shuffle(x, factors):
    """out[n, c, s1*f1+i1, ...] = x[n, c*F + flat(i1, ..., id), s1, ...], element by element."""
    n, ch = x.shape[:2]
    spatial = x.shape[2:]
    group = int(np.prod(factors))
    c = ch // group
    out = np.zeros((n, c) + tuple(s * f for s, f in zip(spatial, factors)))
    for b, k in itertools.product(range(n), range(c)):
        for sub in itertools.product(*[range(f) for f in factors]):
            flat = int(np.ravel_multi_index(sub, factors))
            for pos in itertools.product(*[range(s) for s in spatial]):
                dst = tuple(p * f + i for p, f, i in zip(pos, factors, sub))
                out[(b, k) + dst] = x[(b, k * group + flat) + pos]
    return out


@pytest.mark.parametrize("cls, factor, shape", [
    (PixelShuffle1D, 2, (2, 6, 3)),
    (PixelShuffle2D, (2, 3), (1, 12, 2, 3)),
    (PixelShuffle2D, 2, (2, 8, 2, 2)),
    (PixelShuffle3D, (2, 1, 2), (1, 8, 2, 1, 2)),
])
def test_pixel_shuffle_matches_reference_and_gradients(rng, cls, factor, shape):
    x = rng.standard_normal(shape)
    block = cls(factor)
    factors = (factor,) * cls._dims if isinstance(factor, int) else factor
    out = check_block(block, [x], lambda v: _ref_shuffle(v, factors))
    assert out.shape == _ref_shuffle(x, factors).shape


def test_pixel_shuffle_second_order_and_shapes(rng):
    x = rng.standard_normal((1, 4, 2, 3))
    fx = mx.make_ir(lambda v: PixelShuffle2D(2)(v) ** 2)(nd.array(x, dtype="float64"))
    check_grads(fx, [x], order=2, rtol=1e-5)
    assert PixelShuffle1D(2)(nd.zeros((1, 8, 3))).shape == (1, 4, 6)
    assert PixelShuffle3D((2, 3, 4))(nd.zeros((1, 48, 3, 5, 7))).shape == (1, 2, 6, 15, 28)
    assert repr(PixelShuffle1D(2)) == "PixelShuffle1D(2)"


def test_pixel_shuffle_bad_arguments():
    with pytest.raises(ValueError, match="PixelShuffle2D: factor"):
        PixelShuffle2D((2, 2, 2))
    with pytest.raises(ValueError, match=r"PixelShuffle2D: 6 channels .* \(2, 2\)"):
        PixelShuffle2D(2)(nd.zeros((1, 6, 2, 2)))
    with pytest.raises(ValueError, match="PixelShuffle1D: expects"):
        PixelShuffle1D(2)(nd.zeros((4, 2)))


def test_hybrid_concurrent_concatenates_children(rng):
    x = rng.standard_normal((2, 3))
    net = HybridConcurrent(axis=1)
    net.add(nn.Dense(4, in_units=3), Identity(), nn.Dense(2, in_units=3, activation="tanh"))

    def ref(v):
        d1, d2 = net[0], net[2]
        a = v @ d1.weight.data().asnumpy().T + d1.bias.data().asnumpy()
        b = np.tanh(v @ d2.weight.data().asnumpy().T + d2.bias.data().asnumpy())
        return np.concatenate([a, v, b], axis=1)
    out = check_block(net, [x], ref)
    assert out.shape == (2, 9)


def test_hybrid_concurrent_called_on_a_symbol_is_its_graph(rng):
    """MXNet's HybridConcurrent concatenates with F.concat, so `net(mx.sym.var('data'))`
    builds a Symbol (benchmark_score.py does this for densenet / squeezenet); bound with the
    block's parameters it computes what the block computes."""
    x = rng.standard_normal((2, 3)).astype(np.float32)
    net = HybridConcurrent(axis=1, prefix="cc_")
    with net.name_scope():
        net.add(nn.Dense(4, in_units=3), Identity(), nn.Dense(2, in_units=3))
    net.initialize()
    sym = net(mx.sym.var("data"))
    assert isinstance(sym, mx.sym.Symbol)
    assert sym.infer_shape(data=(2, 3))[1] == [(2, 9)]
    args = {name: p.data() for name, p in net.collect_params().items()}
    args["data"] = nd.array(x)
    got = sym.bind(mx.cpu(), args).forward()[0].asnumpy()
    np.testing.assert_allclose(got, net(nd.array(x)).asnumpy(), rtol=1e-6)


def test_repr_like_mxnet():
    """MXNet 1.x prints a Dense's activation as the Activation block it holds."""
    net = nn.HybridSequential()
    net.add(nn.Dense(4, activation="relu", in_units=5), nn.Dense(2))
    assert repr(net) == ("HybridSequential(\n  (0): Dense(5 -> 4, Activation(relu))\n"
                         "  (1): Dense(None -> 2, linear)\n)")
