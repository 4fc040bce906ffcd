"""The capitalised MXNet 1.x operators: forward values against numpy, the *Output heads'
MXNet backward (gradient of their loss w.r.t. data, whatever the output), BatchNorm's moving
statistics, DLPack / from_numpy sharing, and the names 1.x code imports."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.tracing.jit import jit

RNG = np.random.default_rng(5)


def f64(a):
    return nd.array(a, dtype=np.float64)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def data_grad(fn, data, *rest):
    x = f64(data)
    x.attach_grad()
    with autograd.record():
        out = fn(x, *rest)
    out.backward()
    return out.asnumpy(), x.grad.asnumpy()


def test_softmax_output_forward_and_mxnet_backward():
    x = RNG.standard_normal((4, 5))
    label = np.array([0, 3, 4, 1])
    out, g = data_grad(lambda d: nd.SoftmaxOutput(d, f64(label)), x)
    np.testing.assert_allclose(out, softmax(x), rtol=1e-12)
    np.testing.assert_allclose(g, softmax(x) - np.eye(5)[label], rtol=1e-10, atol=1e-12)
    _, g = data_grad(lambda d: nd.SoftmaxOutput(d, f64(label), grad_scale=2.0,
                                                normalization="batch"), x)
    np.testing.assert_allclose(g, 2.0 * (softmax(x) - np.eye(5)[label]) / 4, atol=1e-12)
    ign = np.array([0, -1, 4, -1])
    _, g = data_grad(lambda d: nd.SoftmaxOutput(d, f64(ign), use_ignore=True,
                                                normalization="valid"), x)
    want = (softmax(x) - np.eye(5)[np.maximum(ign, 0)]) * (ign != -1)[:, None] / 2
    np.testing.assert_allclose(g, want, atol=1e-12)


def test_softmax_output_multi_output_and_compiled():
    x = RNG.standard_normal((2, 3, 4))  # (n, c, d)
    label = RNG.integers(0, 3, (2, 4))
    out, g = data_grad(lambda d: nd.SoftmaxOutput(d, f64(label), multi_output=True), x)
    p = softmax(x, axis=1)
    np.testing.assert_allclose(out, p, rtol=1e-12)
    hot = np.moveaxis(np.eye(3)[label], -1, 1)
    # MXNet's multi_output kernel also divides by the positions (4) unless 'valid'
    np.testing.assert_allclose(g, (p - hot) / 4, atol=1e-12)
    label2 = np.array([1, 2])
    y = RNG.standard_normal((2, 3)).astype(np.float32)
    f = jit(lambda d, l: nd.SoftmaxOutput(d, l))
    for _ in range(2):
        d = nd.array(y)
        d.attach_grad()
        with autograd.record():
            out = f(d, nd.array(label2))
        out.backward()
    np.testing.assert_allclose(d.grad.asnumpy(), softmax(y) - np.eye(3)[label2], atol=1e-6)


def test_regression_heads():
    x = RNG.standard_normal((3, 2))
    y = RNG.standard_normal((3, 2))
    out, g = data_grad(lambda d: nd.LinearRegressionOutput(d, f64(y)), x)
    np.testing.assert_allclose(out, x)
    np.testing.assert_allclose(g, (x - y) / 2, atol=1e-12)
    z = (RNG.random((3, 2)) < 0.5).astype(float)
    out, g = data_grad(lambda d: nd.LogisticRegressionOutput(d, f64(z), grad_scale=3.0), x)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(out, sig, rtol=1e-12)
    np.testing.assert_allclose(g, 3.0 * (sig - z) / 2, atol=1e-12)
    out, g = data_grad(lambda d: nd.MAERegressionOutput(d, f64(y)), x)
    np.testing.assert_allclose(g, np.sign(x - y) / 2, atol=1e-12)


def test_make_loss_in_nd_as_in_mxnet():
    """nd.MakeLoss / nd.make_loss (MXNet registers them for nd as for sym): the value passes
    through; the gradient of data is grad_scale, over the batch size ('batch') or the number
    of entries above valid_thresh ('valid'), whatever the head gradient."""
    x = RNG.standard_normal((4, 3))
    out, g = data_grad(lambda d: nd.make_loss(d * 3), x)
    np.testing.assert_allclose(out, x * 3)
    np.testing.assert_allclose(g, np.full_like(x, 3.0))
    _, g = data_grad(lambda d: nd.MakeLoss(d, grad_scale=2.0, normalization="batch"), x)
    np.testing.assert_allclose(g, np.full_like(x, 2.0 / 4))
    _, g = data_grad(lambda d: nd.MakeLoss(d, grad_scale=2.0, normalization="valid",
                                           valid_thresh=0.5), x)
    np.testing.assert_allclose(g, np.full_like(x, 2.0 / max((x > 0.5).sum(), 1)))
    with pytest.raises(mx.MXNetError, match="normalization"):
        nd.MakeLoss(f64(x), normalization="mean")


def test_batch_norm_legacy_training_and_inference():
    x = RNG.standard_normal((4, 3, 2, 2))
    gamma, beta = RNG.uniform(0.5, 2, 3), RNG.standard_normal(3)
    mm, mv = f64(np.zeros(3)), f64(np.ones(3))
    with autograd.record(train_mode=True):
        out = nd.BatchNorm(f64(x), f64(gamma), f64(beta), mm, mv, fix_gamma=False, eps=1e-5)
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    want = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out.asnumpy(),
                               want * gamma[None, :, None, None] + beta[None, :, None, None],
                               rtol=1e-10)
    np.testing.assert_allclose(mm.asnumpy(), 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(mv.asnumpy(), 0.9 + 0.1 * var, rtol=1e-10)
    out = nd.BatchNorm(f64(x), f64(gamma), f64(beta), mm, mv)  # inference, fix_gamma=True
    want = (x - mm.asnumpy()[None, :, None, None]) / np.sqrt(
        mv.asnumpy()[None, :, None, None] + 1e-3)
    np.testing.assert_allclose(out.asnumpy(), want + beta[None, :, None, None], rtol=1e-10)


def test_layer_norm_upsampling_and_aliases():
    x = RNG.standard_normal((2, 3, 4))
    g, b = RNG.standard_normal(4), RNG.standard_normal(4)
    out = nd.LayerNorm(f64(x), f64(g), f64(b)).asnumpy()
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g + b
    np.testing.assert_allclose(out, want, rtol=1e-10)
    img = RNG.standard_normal((1, 2, 2, 3))
    up = nd.UpSampling(f64(img), scale=2, sample_type="nearest").asnumpy()
    np.testing.assert_array_equal(up, img.repeat(2, axis=2).repeat(2, axis=3))
    a, c = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 1))
    np.testing.assert_array_equal(nd.Concat(f64(a), f64(c)).asnumpy(),
                                  np.concatenate([a, c], 1))
    np.testing.assert_array_equal(nd.Reshape(f64(a), shape=(-1,)).asnumpy(), a.ravel())
    assert nd.SwapAxis(f64(a), dim1=0, dim2=1).shape == (3, 2)
    assert [s.shape for s in nd.SliceChannel(f64(a), num_outputs=3)] == [(2, 1)] * 3
    assert nd.Cast(f64(a), dtype="float32").dtype == np.float32
    assert nd.Activation(f64(a), act_type="tanh").shape == (2, 3)
    assert nd.FullyConnected(f64(a), f64(np.ones((4, 3))), f64(np.zeros(4)),
                             num_hidden=4).shape == (2, 4)
    np.testing.assert_allclose(nd.L2Normalization(f64(a)).asnumpy(),
                               a / np.sqrt((a ** 2).sum(1, keepdims=True) + 1e-10))
    np.testing.assert_allclose(nd.SoftmaxActivation(f64(a)).asnumpy(), softmax(a))
    assert gluon.nn.SymbolBlock is gluon.SymbolBlock


def test_a_second_from_numpy_of_the_same_array_shares_its_memory_too():
    """The first from_numpy made the numpy array read-only; MXNet's second wrapper still
    writes the shared memory (it used to write a private copy, silently)."""
    a = np.ones(3, dtype=np.float32)
    s = nd.from_numpy(a)
    s += 1
    s = nd.from_numpy(a)
    s += 1
    np.testing.assert_array_equal(a, [3, 3, 3])
    s[:] = 7
    np.testing.assert_array_equal(a, [7, 7, 7])
    assert not a.flags.writeable      # (still read-only to numpy, as MXNet leaves it)
    base = np.ones((2, 3), np.float32)
    base.flags.writeable = False          # read-only for good (a view of a read-only array):
    row = nd.from_numpy(base[0])          # shared for reading
    assert row.asnumpy().tolist() == [1, 1, 1]


def test_dlpack_and_from_numpy_share_memory():
    x = nd.array([1.0, 2.0, 3.0])
    view = np.from_dlpack(x)  # NDArray.__dlpack__
    view[0] = 10.0
    assert x.asnumpy()[0] == 10.0 and x.__dlpack_device__() == (1, 0)
    back = nd.from_dlpack(nd.to_dlpack_for_write(x))
    back[1] = 20.0
    assert x.asnumpy().tolist() == [10.0, 20.0, 3.0]
    ro = nd.from_dlpack(nd.to_dlpack_for_read(x))
    np.testing.assert_array_equal(ro.asnumpy(), x.asnumpy())
    assert not np.from_dlpack(ro).flags.writeable
    src = np.arange(6, dtype=np.float64).reshape(2, 3)
    shared = nd.from_numpy(src)
    assert shared.dtype == np.float64 and not src.flags.writeable
    shared[0, 0] = -1.0
    assert src[0, 0] == -1.0
    copied = nd.from_numpy(np.arange(3, dtype=np.int32), zero_copy=False)
    assert copied.dtype == np.int32
    with pytest.raises(ValueError, match="C-contiguous"):
        nd.from_numpy(np.ones((3, 4))[:, ::2])
    half = np.ones(3, dtype=np.float16)
    assert nd.from_numpy(half).dtype == np.float16             # MXNet's dtypes are shared
    assert nd.from_dlpack(np.ones(3, dtype=np.uint8)).dtype == np.uint8
    with pytest.raises(mx.MXNetError, match="int16"):
        nd.from_numpy(np.ones(3, dtype=np.int16))
    with pytest.raises(mx.MXNetError, match="uint16"):
        nd.from_dlpack(np.ones(3, dtype=np.uint16))


def test_older_flat_names():
    x = RNG.uniform(-3, 3, (3, 4))
    np.testing.assert_allclose(nd.sum_axis(f64(x), axis=1).asnumpy(), x.sum(1))
    np.testing.assert_allclose(nd.max_axis(f64(x), axis=0).asnumpy(), x.max(0))
    np.testing.assert_allclose(nd.min_axis(f64(x), axis=0).asnumpy(), x.min(0))
    sigma2 = 4.0
    want = np.where(np.abs(x) < 1 / sigma2, 0.5 * sigma2 * x * x, np.abs(x) - 0.5 / sigma2)
    np.testing.assert_allclose(nd.smooth_l1(f64(x), scalar=2.0).asnumpy(), want)
    np.testing.assert_allclose(nd.hard_sigmoid(f64(x)).asnumpy(), np.clip(0.2 * x + 0.5, 0, 1))
    np.testing.assert_allclose(nd.trunc(f64(x)).asnumpy(), np.trunc(x))
    np.testing.assert_allclose(nd.fix(f64(x)).asnumpy(), np.fix(x))
    np.testing.assert_allclose(nd.cbrt(f64(x)).asnumpy(), np.cbrt(x), rtol=1e-12)
    assert nd.shape_array(f64(x)).asnumpy().tolist() == [3, 4]
    assert nd.size_array(f64(x)).asnumpy().tolist() == [12]
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    np.testing.assert_allclose(nd.linalg_gemm2(f64(a), f64(b)).asnumpy(), a @ b)
    assert nd.linalg_potrf is nd.linalg.potrf


def test_float32_exp_is_correctly_rounded_as_mxnets_expf():
    """MXNet's test_autograd.test_gradient: d/dx (exp(x) + x) at 1 is 3.71828175 within 1e-7
    (numpy's float32 exp gives 2.71828198 for exp(1), one ulp off); on random inputs eager exp
    equals float64 exp rounded once, and its gradient reuses that value."""
    x = nd.ones((1,))
    x.attach_grad()
    with mx.autograd.record():
        z = nd.elemwise_add(nd.exp(x), x)
    dx, = mx.autograd.grad(z, [x], create_graph=True)
    assert abs(dx.asscalar() - 3.71828175) < 1e-7
    xs = np.random.RandomState(0).uniform(-80, 80, 20000).astype(np.float32)
    np.testing.assert_array_equal(nd.exp(nd.array(xs)).asnumpy(),
                                  np.exp(xs.astype(np.float64)).astype(np.float32))
    half = nd.exp(nd.array(xs[:100] / 10, dtype="float16"))
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half.asnumpy(), np.exp(
        (xs[:100] / 10).astype(np.float16).astype(np.float64)).astype(np.float16))
