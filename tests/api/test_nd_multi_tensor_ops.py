"""MXNet 1.9.1's multi-tensor, mixed-precision and helper optimizer operators (nd.all_finite,
nd.multi_sum_sq, nd.multi_lars, nd.reset_arrays, nd.mp_sgd_update, nd.multi_sgd_update,
nd.preloaded_multi_sgd_update, nd.ftml_update, nd.lamb_update_phase1, ...): each against a
float64 transcription of its kernel written here, states in place, `out` as MXNet's generated
functions handle it, errors naming the op, and refusal inside a trace."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

F16, F32, F64 = np.float16, np.float32, np.float64
SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _rand(shape, seed, scale=1.0):
    return (np.random.RandomState(seed).randn(*shape) * scale).astype(F32)


def _clip(x, c):
    return np.clip(x, -c, c) if c >= 0 else x


# ------------------------------------------------------------- float64 references (MXNet 1.9.1)

def _ref_multi_sgd(w, g, m, lr, momentum, wd, rg, cg):
    """MultiSGDKernel / MP_SGDMomKernel / SGDMomKernel: (new weight, new mom)."""
    m = momentum * m - lr * wd * w - lr * _clip(rg * g, cg)
    return w + m, m


def _ref_mp_nag(w, g, m, lr, momentum, wd, rg, cg):
    """MP_NAGMomKernel: the mom update's weight decay reads the weight already updated."""
    g = _clip(rg * g, cg)
    m = momentum * m
    w = w - m + (momentum + 1) * (m - lr * (g + wd * w))
    return w, m - lr * (g + wd * w)


def _ref_ftml(w, g, d, v, z, lr, beta1, beta2, eps, t, wd, rg, cg):
    g = _clip(rg * g + wd * w, cg)
    v = beta2 * v + (1 - beta2) * g ** 2
    d_t = (1 - beta1 ** t) / lr * (np.sqrt(v / (1 - beta2 ** t)) + eps)
    z = beta1 * z + (1 - beta1) * g - (d_t - beta1 * d) * w
    return -z / d_t, d_t, v, z


def _ref_lamb1(w, g, mean, var, beta1, beta2, eps, t, bias_correction, wd, rg, cg):
    g = _clip(g * rg, cg)
    mean = beta1 * mean + (1 - beta1) * g
    var = beta2 * var + (1 - beta2) * g ** 2
    if bias_correction:
        out = (mean / (1 - beta1 ** t)) / (np.sqrt(var / (1 - beta2 ** t)) + eps) + wd * w
    else:
        out = mean / (np.sqrt(var) + eps) + wd * w
    return out, mean, var


def _ref_lamb2(w, g, r1, r2, lr, lower, upper):
    if lower >= 0:
        r1 = max(r1, lower)
    if upper >= 0:
        r1 = min(r1, upper)
    ratio = 1.0 if r1 == 0 or r2 == 0 else r1 / r2
    return w - lr * ratio * g


# ---------------------------------------------------------------------------- all_finite

@pytest.mark.parametrize("dtype", [F16, F32, F64])
@pytest.mark.parametrize("shape", SHAPES)
def test_all_finite_flags_nan_and_inf(dtype, shape):
    x = _rand(shape, 1).astype(dtype)
    got = nd.all_finite(nd.array(x, dtype=dtype))
    assert got.shape == (1,) and np.dtype(got.dtype) == F32
    assert got.asnumpy()[0] == 1.0
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y.reshape(-1)[-1] = bad
        assert nd.all_finite(nd.array(y, dtype=dtype)).asnumpy()[0] == 0.0
        arrays = [nd.array(x, dtype=dtype), nd.array(y, dtype=dtype), nd.array(x, dtype=dtype)]
        assert nd.multi_all_finite(*arrays, num_arrays=3).asnumpy()[0] == 0.0
    assert nd.multi_all_finite(nd.array(x, dtype=dtype), nd.array(x[..., :1], dtype=dtype),
                               num_arrays=2).asnumpy()[0] == 1.0


def test_all_finite_reads_each_element_as_a_float32():
    # MXNet's kernel tests isfinite(float(x)): a float64 beyond float32's range overflows
    x = nd.array(np.array([1.0, 1e300]), dtype=F64)
    assert nd.all_finite(x).asnumpy()[0] == 0.0
    assert nd.all_finite(nd.array(np.array([1.0, 1e30]), dtype=F64)).asnumpy()[0] == 1.0


def test_init_output_false_keeps_a_previous_zero_and_out_is_returned():
    good, bad = nd.ones((3, 4)), nd.array(np.array([1.0, np.nan], dtype=F32))
    out = nd.zeros((1,))
    assert nd.all_finite(good, init_output=False, out=out) is out
    assert out.asnumpy()[0] == 0.0                  # stays 0: nothing re-initialises it
    nd.all_finite(good, out=out)                    # init_output=True: back to 1
    assert out.asnumpy()[0] == 1.0
    out[:] = 0.5                                    # neither 0 nor 1: kept as it is
    nd.all_finite(good, init_output=False, out=out)
    assert out.asnumpy()[0] == 0.5
    # AMP's loss scaler: one flag over chunks of gradients of mixed dtypes
    flag = nd.ones((1,))
    chunks = [[good, nd.ones((2,), dtype=F16)], [bad], [good]]
    for chunk in chunks:
        assert nd.multi_all_finite(*chunk, num_arrays=len(chunk), init_output=False,
                                   out=flag) is flag
    assert flag.asnumpy()[0] == 0.0
    flag[:] = 1
    nd.multi_all_finite(good, nd.array(np.array([np.inf]), dtype=F16), num_arrays=2,
                        init_output=False, out=flag)
    assert flag.asnumpy()[0] == 0.0


def test_all_finite_errors_name_the_op():
    with pytest.raises(mx.MXNetError, match=r"multi_all_finite: num_arrays=1 but 2 arrays"):
        nd.multi_all_finite(nd.ones(2), nd.ones(2))
    with pytest.raises(mx.MXNetError, match=r"all_finite: needs float arrays, got int32"):
        nd.all_finite(nd.ones(2, dtype="int32"))
    with pytest.raises(ValueError, match=r"nd.all_finite\(\): out is float32\[2\]"):
        nd.all_finite(nd.ones(2), out=nd.ones(2))
    with pytest.raises(ValueError, match=r"nd.multi_all_finite\(\): out is float64\[1\]"):
        nd.multi_all_finite(nd.ones(2), out=nd.ones(1, dtype=F64))


# --------------------------------------------------------------------------- multi_sum_sq

@pytest.mark.parametrize("dtype,rtol", [(F32, 1e-6), (F64, 1e-6), (F16, 2e-3)])
def test_multi_sum_sq_matches_float64_sums_of_squares(dtype, rtol):
    xs = [_rand(s, i, scale=3.0).astype(dtype) for i, s in enumerate(SHAPES + [(1,)])]
    got = nd.multi_sum_sq(*[nd.array(x, dtype=dtype) for x in xs], num_arrays=len(xs))
    assert got.shape == (len(xs),) and np.dtype(got.dtype) == F32
    want = [np.sum(x.astype(F64) ** 2) for x in xs]
    np.testing.assert_allclose(got.asnumpy(), want, rtol=rtol)
    one = nd.multi_sum_sq(nd.array(xs[0], dtype=dtype), num_arrays=1)
    np.testing.assert_allclose(one.asnumpy(), want[:1], rtol=rtol)


def test_multi_sum_sq_errors_and_out():
    a, b = nd.ones((2, 3)), nd.ones((4,), dtype=F64)
    with pytest.raises(mx.MXNetError, match=r"multi_sum_sq: the arrays must have one dtype"):
        nd.multi_sum_sq(a, b, num_arrays=2)
    with pytest.raises(mx.MXNetError, match=r"multi_sum_sq: num_arrays=3 but 2 arrays"):
        nd.multi_sum_sq(a, a, num_arrays=3)
    with pytest.raises(TypeError, match="num_arrays"):
        nd.multi_sum_sq(a, a)
    out = nd.zeros((2,))
    assert nd.multi_sum_sq(a, a * 2, num_arrays=2, out=out) is out
    np.testing.assert_allclose(out.asnumpy(), [6.0, 24.0])


# ----------------------------------------------------------------------------- multi_lars

def _ref_lars(lrs, w_sq, g_sq, wds, eta, eps, rg):
    out = []
    for lr, ws, gs, wd in zip(lrs, w_sq, g_sq, wds):
        wn = np.sqrt(ws)
        ok = wn > 0 and gs > 0
        out.append(lr * eta * wn / (np.sqrt(gs) * rg + wd * wn + eps) if ok else lr)
    return np.array(out)


@pytest.mark.parametrize("rescale_grad", [1.0, 0.25])
def test_multi_lars_matches_the_kernel(rescale_grad):
    lrs = np.array([0.1, 0.2, 0.05, 0.3, 0.1], dtype=F32)
    w_sq = np.array([4.0, 0.0, 9.0, 1.0, 2.5], dtype=F32)
    g_sq = np.array([1.0, 1.0, 0.0, 0.25, 16.0], dtype=F32)
    wds = np.array([0.0, 1e-4, 1e-4, 0.01, 0.5], dtype=F32)
    got = nd.multi_lars(nd.array(lrs), nd.array(w_sq), nd.array(g_sq), nd.array(wds),
                        eta=0.001, eps=1e-8, rescale_grad=rescale_grad)
    want = _ref_lars(lrs.astype(F64), w_sq, g_sq, wds, 0.001, 1e-8, rescale_grad)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6)
    assert got.asnumpy()[1] == lrs[1] and got.asnumpy()[2] == lrs[2]   # a zero norm: lr
    # MXNet's LARS optimizer writes into a slice of its lrs array (a view)
    all_lrs = nd.array(np.concatenate([lrs, [7.0]]).astype(F32))
    nd.multi_lars(all_lrs[:5], nd.array(w_sq), nd.array(g_sq), nd.array(wds), 0.001, 1e-8,
                  rescale_grad, out=all_lrs[:5])
    np.testing.assert_allclose(all_lrs.asnumpy()[:5], want, rtol=1e-6)
    assert all_lrs.asnumpy()[5] == 7.0


def test_multi_lars_wants_float32_arrays_of_one_shape():
    x = nd.ones((3,))
    with pytest.raises(mx.MXNetError, match=r"multi_lars: .* must be float32 arrays of one "
                                            r"shape, got .*float64\[3\]"):
        nd.multi_lars(x, x, nd.ones((3,), dtype=F64), x, eta=1.0, eps=0.0)
    with pytest.raises(mx.MXNetError, match=r"multi_lars: .*float32\[4\]"):
        nd.multi_lars(x, x, x, nd.ones((4,)), eta=1.0, eps=0.0)


# --------------------------------------------------------------------------- reset_arrays

def test_reset_arrays_zeros_every_array_in_place():
    arrays = [nd.array(_rand(s, i) + 1, dtype=d) for i, (s, d) in
              enumerate(zip(SHAPES, [F32, F16, F64]))]
    keep = nd.ones((2,))
    assert nd.reset_arrays(*arrays, num_arrays=3) == []
    for a, s in zip(arrays, SHAPES):
        assert a.shape == s and not a.asnumpy().any()
    assert keep.asnumpy().tolist() == [1.0, 1.0]
    with pytest.raises(mx.MXNetError, match=r"reset_arrays: num_arrays=1 but 2 arrays"):
        nd.reset_arrays(keep, keep, num_arrays=1)
    ints = nd.ones((2,), dtype="int32")
    with pytest.raises(mx.MXNetError, match=r"reset_arrays: needs float arrays"):
        nd.reset_arrays(keep, ints, num_arrays=2)
    assert keep.asnumpy().tolist() == [1.0, 1.0]     # checked before anything is zeroed


def test_reset_arrays_zeros_a_gluon_models_gradients():
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    with autograd.record():
        loss = net(nd.ones((2, 4))).sum()
    loss.backward()
    grads = [p.grad() for p in net.collect_params().values()]
    assert any(g.asnumpy().any() for g in grads)
    nd.reset_arrays(*grads, num_arrays=len(grads))
    assert not any(p.grad().asnumpy().any() for p in net.collect_params().values())


# --------------------------------------------------------------- mixed-precision single ops

HYPER = [dict(lr=0.1, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0),
         dict(lr=0.05, wd=0.01, rescale_grad=0.5, clip_gradient=0.3),
         dict(lr=0.2, wd=0.001, rescale_grad=2.0, clip_gradient=-1.0)]


@pytest.mark.parametrize("hyper", HYPER)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["mp_sgd_update", "mp_sgd_mom_update", "mp_nag_mom_update"])
def test_mp_updates_compute_in_float32_on_the_master_copy(name, shape, hyper):
    w16 = _rand(shape, 3).astype(F16)
    weight, weight32 = nd.array(w16, dtype=F16), nd.array(w16.astype(F32))
    mom = nd.zeros(shape)
    ref_w, ref_m = w16.astype(F64), np.zeros(shape)
    p = dict(hyper)
    if name != "mp_sgd_update":
        p["momentum"] = 0.9
    for step in range(3):
        g16 = _rand(shape, 10 + step).astype(F16)
        grad = nd.array(g16, dtype=F16)
        g = g16.astype(F64)
        if name == "mp_sgd_update":
            new = nd.mp_sgd_update(weight, grad, weight32, out=weight, **p)
            ref_w, _ = _ref_multi_sgd(ref_w, g, 0.0, p["lr"], 0.0, p["wd"],
                                      p["rescale_grad"], p["clip_gradient"])
        else:
            new = getattr(nd, name)(weight, grad, mom, weight32, out=weight, **p)
            ref = _ref_multi_sgd if name == "mp_sgd_mom_update" else _ref_mp_nag
            ref_w, ref_m = ref(ref_w, g, ref_m, p["lr"], p["momentum"], p["wd"],
                               p["rescale_grad"], p["clip_gradient"])
        assert new is weight and np.dtype(weight.dtype) == F16
        assert np.dtype(weight32.dtype) == F32
        np.testing.assert_allclose(weight32.asnumpy(), ref_w, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(weight.asnumpy(), weight32.asnumpy().astype(F16))
        np.testing.assert_allclose(mom.asnumpy(), ref_m, rtol=1e-5, atol=1e-6)


def test_mp_update_without_out_returns_a_new_float16_weight():
    w16 = _rand((3, 4), 4).astype(F16)
    weight, weight32 = nd.array(w16, dtype=F16), nd.array(w16.astype(F32))
    grad = nd.array(_rand((3, 4), 5).astype(F16), dtype=F16)
    new = nd.mp_sgd_update(weight, grad, weight32, lr=0.1)
    assert new is not weight and np.dtype(new.dtype) == F16
    np.testing.assert_array_equal(weight.asnumpy(), w16)            # the weight untouched
    np.testing.assert_array_equal(new.asnumpy(), weight32.asnumpy().astype(F16))
    assert not np.array_equal(weight32.asnumpy(), w16.astype(F32))  # the master moved


def test_mp_nag_uses_the_updated_weight_in_its_momentum_like_mxnet():
    w0, g0 = _rand((4,), 6), _rand((4,), 7)
    weight, weight32 = nd.array(w0.astype(F16), dtype=F16), nd.array(w0.astype(F16))
    mom = nd.zeros((4,))
    nd.mp_nag_mom_update(weight, nd.array(g0.astype(F16), dtype=F16), mom, weight32,
                         lr=0.1, momentum=0.9, wd=0.5, out=weight)
    w, g = w0.astype(F16).astype(F64), g0.astype(F16).astype(F64)
    textbook = -0.1 * (g + 0.5 * w)              # nag_mom_update's mom, from the old weight
    _, quirk = _ref_mp_nag(w, g, 0.0, 0.1, 0.9, 0.5, 1.0, -1.0)
    np.testing.assert_allclose(mom.asnumpy(), quirk, rtol=1e-5)
    assert not np.allclose(mom.asnumpy(), textbook, rtol=1e-3)


# --------------------------------------------------------------------- multi-tensor SGD

def _multi_case(n, dtype, mp, momentum, seed=0):
    """Weights (weight dtype), grads, moms (float32 when mp), master copies."""
    shapes = [SHAPES[i % len(SHAPES)] for i in range(n)]
    w = [_rand(s, seed + i).astype(dtype) for i, s in enumerate(shapes)]
    g = [_rand(s, seed + 50 + i).astype(dtype) for i, s in enumerate(shapes)]
    m = [(_rand(s, seed + 90 + i) * 0.1).astype(F32 if mp else dtype)
         for i, s in enumerate(shapes)] if momentum else None
    return w, g, m


def _interleave(*columns):
    return [a for group in zip(*columns) for a in group]


@pytest.mark.parametrize("hyper", HYPER)
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("preloaded", [False, True])
def test_multi_sgd_matches_the_kernel(preloaded, momentum, dtype, n, hyper):
    w0, g0, m0 = _multi_case(n, dtype, False, momentum)
    lrs = [hyper["lr"] * (i + 1) for i in range(n)]
    wds = [hyper["wd"] * (i + 1) for i in range(n)]
    weights = [nd.array(w, dtype=dtype) for w in w0]
    grads = [nd.array(g, dtype=dtype) for g in g0]
    moms = [nd.array(m, dtype=dtype) for m in m0] if momentum else None
    data = _interleave(weights, grads, moms) if momentum else _interleave(weights, grads)
    kw = dict(rescale_grad=hyper["rescale_grad"], clip_gradient=hyper["clip_gradient"],
              num_weights=n)
    if momentum:
        kw["momentum"] = momentum
    name = ("preloaded_" if preloaded else "") + \
        ("multi_sgd_mom_update" if momentum else "multi_sgd_update")
    if preloaded:
        data += [nd.array(lrs), nd.array(wds)]
    else:
        kw.update(lrs=lrs, wds=wds)
    got = getattr(nd, name)(*data, out=weights, **kw)
    assert got is weights                           # MXNet returns `out` itself
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == F32 else dict(rtol=1e-12, atol=1e-12)
    if preloaded:   # (the preloaded lrs / wds are float32 numbers)
        lrs, wds = [float(F32(x)) for x in lrs], [float(F32(x)) for x in wds]
        tol = dict(rtol=1e-5, atol=1e-6)
    for i in range(n):
        m = m0[i].astype(F64) if momentum else 0.0
        ref_w, ref_m = _ref_multi_sgd(w0[i].astype(F64), g0[i].astype(F64), m, lrs[i], momentum,
                                      wds[i], hyper["rescale_grad"], hyper["clip_gradient"])
        assert np.dtype(weights[i].dtype) == dtype
        np.testing.assert_allclose(weights[i].asnumpy(), ref_w, **tol)
        if momentum:
            np.testing.assert_allclose(moms[i].asnumpy(), ref_m, **tol)


def test_multi_sgd_without_out_returns_new_weights_and_a_single_one_bare():
    w0, g0, _ = _multi_case(2, F32, False, 0.0)
    weights = [nd.array(w) for w in w0]
    grads = [nd.array(g) for g in g0]
    new = nd.multi_sgd_update(*_interleave(weights, grads), lrs=(0.1, 0.2), wds=(0.0, 0.0),
                              num_weights=2)
    assert isinstance(new, list) and len(new) == 2
    for i in range(2):
        np.testing.assert_array_equal(weights[i].asnumpy(), w0[i])      # untouched
        np.testing.assert_allclose(new[i].asnumpy(), w0[i] - (0.1, 0.2)[i] * g0[i], rtol=1e-6)
    one = nd.multi_sgd_update(weights[0], grads[0], lrs=(0.1,), wds=(0.0,))
    assert isinstance(one, mx.nd.NDArray)           # num_outputs 1: MXNet returns the array
    single_out = nd.multi_sgd_update(weights[0], grads[0], lrs=0.1, wds=0.0, out=weights[0])
    assert single_out is weights[0]
    np.testing.assert_allclose(weights[0].asnumpy(), one.asnumpy(), rtol=1e-7)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("preloaded", [False, True])
def test_multi_mp_sgd_updates_the_master_copies(preloaded, momentum):
    n, hyper = 3, HYPER[1]
    w0, g0, m0 = _multi_case(n, F16, True, momentum)
    weights = [nd.array(w, dtype=F16) for w in w0]
    grads = [nd.array(g, dtype=F16) for g in g0]
    masters = [nd.array(w.astype(F32)) for w in w0]
    moms = [nd.array(m) for m in m0] if momentum else None
    columns = [weights, grads] + ([moms] if momentum else []) + [masters]
    data = _interleave(*columns)
    lrs, wds = [0.1, 0.05, 0.2], [0.0, 0.01, 0.001]
    kw = dict(rescale_grad=hyper["rescale_grad"], clip_gradient=hyper["clip_gradient"],
              num_weights=n)
    if momentum:
        kw["momentum"] = momentum
    name = ("preloaded_" if preloaded else "") + \
        ("multi_mp_sgd_mom_update" if momentum else "multi_mp_sgd_update")
    if preloaded:
        data += [nd.array(lrs), nd.array(wds)]
    else:
        kw.update(lrs=lrs, wds=wds)
    for step in range(2):
        if step:
            for i, g in enumerate(grads):
                g[:] = nd.array(_rand(g.shape, 70 + i).astype(F16), dtype=F16)
        before_w = [m.asnumpy().astype(F64) for m in masters]
        before_m = [m.asnumpy().astype(F64) for m in moms] if momentum else [0.0] * n
        assert getattr(nd, name)(*data, out=weights, **kw) is weights
        for i in range(n):
            ref_w, ref_m = _ref_multi_sgd(before_w[i], grads[i].asnumpy().astype(F64),
                                          before_m[i], float(F32(lrs[i])), momentum,
                                          float(F32(wds[i])), hyper["rescale_grad"],
                                          hyper["clip_gradient"])
            np.testing.assert_allclose(masters[i].asnumpy(), ref_w, rtol=1e-5, atol=1e-6)
            assert np.dtype(weights[i].dtype) == F16
            np.testing.assert_array_equal(weights[i].asnumpy(),
                                          masters[i].asnumpy().astype(F16))
            if momentum:
                np.testing.assert_allclose(moms[i].asnumpy(), ref_m, rtol=1e-5, atol=1e-6)


def test_multi_mp_sgd_with_float32_weights_leaves_weight32_alone_as_mxnet_does():
    # MXNet's MPDType is float32 there, so the kernel is multi_sgd on the weights themselves
    w0, g0 = _rand((4,), 1), _rand((4,), 2)
    weight, master = nd.array(w0), nd.array(w0 + 100)
    nd.multi_mp_sgd_update(weight, nd.array(g0), master, lrs=(0.1,), wds=(0.0,), out=weight)
    np.testing.assert_allclose(weight.asnumpy(), w0 - 0.1 * g0, rtol=1e-6)
    np.testing.assert_array_equal(master.asnumpy(), w0 + 100)


def test_multi_sgd_agrees_with_the_sgd_optimizer():
    w0, g0, _ = _multi_case(2, F32, False, 0.0)
    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5,
                           clip_gradient=0.4)
    refs = [w.copy() for w in w0]
    states = [opt.create_state(i, w) for i, w in enumerate(refs)]
    weights = [nd.array(w) for w in w0]
    moms = [nd.zeros(w.shape) for w in w0]
    for step in range(3):
        grads = [g * (step + 1) for g in g0]
        for i in range(2):
            opt.update(i, refs[i], grads[i], states[i])
        nd.multi_sgd_mom_update(*_interleave(weights, [nd.array(g) for g in grads], moms),
                                lrs=[0.1, 0.1], wds=[0.01, 0.01], momentum=0.9,
                                rescale_grad=0.5, clip_gradient=0.4, num_weights=2,
                                out=weights)
        for i in range(2):
            np.testing.assert_allclose(weights[i].asnumpy(), refs[i], rtol=1e-5, atol=1e-6)


def test_multi_sgd_errors_name_the_op():
    a, b = nd.ones((2, 3)), nd.ones((3, 2))
    with pytest.raises(mx.MXNetError, match=r"multi_sgd_update: num_weights=2 needs 4 arrays "
                                            r"\(weight, grad per weight\), got 3"):
        nd.multi_sgd_update(a, a, a, lrs=(0.1, 0.1), wds=(0, 0), num_weights=2)
    with pytest.raises(mx.MXNetError, match=r"multi_sgd_update: 1 lrs given for "
                                            r"num_weights=2"):
        nd.multi_sgd_update(a, a, a, a, lrs=(0.1,), wds=(0, 0), num_weights=2)
    with pytest.raises(mx.MXNetError, match=r"multi_sgd_mom_update: weight 0's \(weight, grad, "
                                            r"mom\) must have one shape"):
        nd.multi_sgd_mom_update(a, a, b, lrs=(0.1,), wds=(0,))
    with pytest.raises(mx.MXNetError, match=r"multi_mp_sgd_update: weight 0's .*weight32 "
                                            r"float32"):
        nd.multi_mp_sgd_update(a.astype(F16), a.astype(F16), a.astype(F16), lrs=(0.1,),
                               wds=(0,))
    with pytest.raises(mx.MXNetError, match=r"multi_sgd_update: weight 1's .*float32"):
        nd.multi_sgd_update(a, a, a.astype(F64), a.astype(F64), lrs=(1, 1), wds=(0, 0),
                            num_weights=2)
    with pytest.raises(mx.MXNetError, match=r"preloaded_multi_sgd_update: lrs must be a "
                                            r"float32 array of num_weights=1 elements"):
        nd.preloaded_multi_sgd_update(a, a, nd.ones((1,), dtype=F64), nd.zeros((1,)))
    with pytest.raises(mx.MXNetError, match=r"preloaded_multi_sgd_mom_update: wds must be"):
        nd.preloaded_multi_sgd_mom_update(a, a, a, nd.ones((1,)), nd.zeros((2,)))
    with pytest.raises(TypeError, match=r"nd.multi_sgd_update\(\): out must be a list of 2"):
        nd.multi_sgd_update(a, a, a, a, lrs=(1, 1), wds=(0, 0), num_weights=2, out=[a])
    w = nd.ones((2, 3))
    with pytest.raises(ValueError, match=r"nd.multi_sgd_update\(\): out holds float32\[3, 2\]"):
        nd.multi_sgd_update(w, a, lrs=(1,), wds=(0,), out=[b])
    np.testing.assert_array_equal(w.asnumpy(), 1.0)          # nothing was written


# --------------------------------------------------------------------------------- FTML

@pytest.mark.parametrize("clip_grad", [-1.0, 0.5])
@pytest.mark.parametrize("shape", SHAPES)
def test_ftml_matches_the_kernel(shape, clip_grad):
    p = dict(lr=0.05, beta1=0.6, beta2=0.999, epsilon=1e-8, wd=0.01, rescale_grad=0.5,
             clip_grad=clip_grad)
    w0 = _rand(shape, 1)
    weight, d, v, z = nd.array(w0), nd.zeros(shape), nd.zeros(shape), nd.zeros(shape)
    ref = [w0.astype(F64), np.zeros(shape), np.zeros(shape), np.zeros(shape)]
    for t in range(1, 4):
        g = _rand(shape, 20 + t)
        assert nd.ftml_update(weight, nd.array(g), d, v, z, t=t, out=weight, **p) is weight
        ref = list(_ref_ftml(*ref[:1], g.astype(F64), *ref[1:], p["lr"], p["beta1"],
                             p["beta2"], p["epsilon"], t, p["wd"], p["rescale_grad"],
                             clip_grad))
        for got, want in zip((weight, d, v, z), ref):
            np.testing.assert_allclose(got.asnumpy(), want, rtol=2e-5, atol=1e-6)


def test_ftml_agrees_with_the_ftml_optimizer():
    w0 = _rand((3, 4), 2)
    opt = mx.optimizer.FTML(learning_rate=0.01, wd=0.001, clip_gradient=1.0)
    ref, state = w0.copy(), opt.create_state(0, w0)
    weight, d, v, z = nd.array(w0), nd.zeros((3, 4)), nd.zeros((3, 4)), nd.zeros((3, 4))
    for t in range(1, 4):
        g = _rand((3, 4), 30 + t)
        opt.update(0, ref, g, state)
        nd.ftml_update(weight, nd.array(g), d, v, z, lr=0.01, t=t, wd=0.001, clip_grad=1.0,
                       out=weight)
        np.testing.assert_allclose(weight.asnumpy(), ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------- LAMB

@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("clip_gradient", [-1.0, 0.3])
@pytest.mark.parametrize("bounds", [(-1.0, -1.0), (0.5, 2.0), (10.0, 20.0)])
def test_lamb_phases_match_the_kernels(bias_correction, clip_gradient, bounds):
    shape = (4, 5)
    w0 = _rand(shape, 3)
    weight, mean, var = nd.array(w0), nd.zeros(shape), nd.zeros(shape)
    ref_w, ref_m, ref_v = w0.astype(F64), np.zeros(shape), np.zeros(shape)
    p1 = dict(beta1=0.9, beta2=0.999, epsilon=1e-6, bias_correction=bias_correction, wd=0.01,
              rescale_grad=0.5, clip_gradient=clip_gradient)
    for t in range(1, 4):
        g = _rand(shape, 40 + t)
        direction = nd.lamb_update_phase1(weight, nd.array(g), mean, var, t=t, **p1)
        ref_d, ref_m, ref_v = _ref_lamb1(ref_w, g.astype(F64), ref_m, ref_v, p1["beta1"],
                                         p1["beta2"], p1["epsilon"], t, bias_correction,
                                         p1["wd"], p1["rescale_grad"], clip_gradient)
        np.testing.assert_allclose(direction.asnumpy(), ref_d, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(mean.asnumpy(), ref_m, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(var.asnumpy(), ref_v, rtol=5e-5, atol=1e-9)
        r1, r2 = weight.norm(), direction.norm()
        got = nd.lamb_update_phase2(weight, direction, r1.reshape((1,)), r2.reshape((1,)),
                                    lr=0.01, lower_bound=bounds[0], upper_bound=bounds[1],
                                    out=weight)
        assert got is weight
        ref_w = _ref_lamb2(ref_w, ref_d, np.linalg.norm(ref_w), np.linalg.norm(ref_d), 0.01,
                           *bounds)
        np.testing.assert_allclose(weight.asnumpy(), ref_w, rtol=1e-4, atol=1e-6)


def test_lamb_phase2_uses_plain_lr_when_a_norm_is_zero():
    w, g = nd.array(_rand((5,), 1)), nd.array(_rand((5,), 2))
    for r1, r2 in ((0.0, 3.0), (2.0, 0.0)):
        new = nd.lamb_update_phase2(w, g, nd.array([r1]), nd.array([r2]), lr=0.1)
        np.testing.assert_allclose(new.asnumpy(), w.asnumpy() - 0.1 * g.asnumpy(), rtol=1e-6)
    # upper_bound clamps r1 from above (MXNet's docstring says max; the kernel takes min)
    new = nd.lamb_update_phase2(w, g, nd.array([4.0]), nd.array([2.0]), lr=0.1,
                                upper_bound=1.0)
    np.testing.assert_allclose(new.asnumpy(), w.asnumpy() - 0.05 * g.asnumpy(), rtol=1e-6)


def test_mp_lamb_computes_in_float32_and_leaves_weight32_as_mxnet_does():
    shape = (3, 4)
    w16, g16 = _rand(shape, 5).astype(F16), _rand(shape, 6).astype(F16)
    weight, grad = nd.array(w16, dtype=F16), nd.array(g16, dtype=F16)
    weight32, mean, var = nd.array(w16.astype(F32) + 0.01), nd.zeros(shape), nd.zeros(shape)
    direction = nd.mp_lamb_update_phase1(weight, grad, mean, var, weight32, t=1, wd=0.1,
                                         clip_gradient=0.5)
    assert np.dtype(direction.dtype) == F32
    ref_d, ref_m, ref_v = _ref_lamb1(weight32.asnumpy().astype(F64), g16.astype(F64), 0.0,
                                     0.0, 0.9, 0.999, 1e-6, 1, True, 0.1, 1.0, 0.5)
    np.testing.assert_allclose(direction.asnumpy(), ref_d, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mean.asnumpy(), ref_m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(var.asnumpy(), ref_v, rtol=5e-5, atol=1e-9)
    master = weight32.asnumpy()
    r1 = nd.array([np.linalg.norm(master)])
    r2 = nd.array([np.linalg.norm(direction.asnumpy())])
    got = nd.mp_lamb_update_phase2(weight, direction, r1, r2, weight32, lr=0.01, out=weight)
    assert got is weight and np.dtype(weight.dtype) == F16
    want = _ref_lamb2(master.astype(F64), ref_d, r1.asscalar(), r2.asscalar(), 0.01, -1, -1)
    np.testing.assert_allclose(weight.asnumpy(), want.astype(F16), rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(weight32.asnumpy(), master)   # MXNet 1.9.1 leaves it


def test_ftml_and_lamb_errors_name_the_op():
    a = nd.ones((2, 3))
    with pytest.raises(mx.MXNetError, match=r"ftml_update: the parameter t is required"):
        nd.ftml_update(a, a, a, a, a, lr=0.1)
    with pytest.raises(mx.MXNetError, match=r"lamb_update_phase1: the parameter wd is "
                                            r"required"):
        nd.lamb_update_phase1(a, a, a, a, t=1)
    with pytest.raises(mx.MXNetError, match=r"lamb_update_phase1: weight, grad and states "
                                            r"must have one shape"):
        nd.lamb_update_phase1(a, a, nd.ones((3, 2)), a, t=1, wd=0.0)
    with pytest.raises(mx.MXNetError, match=r"lamb_update_phase2: r2 \(a norm\) must have "
                                            r"shape \(1,\)"):
        nd.lamb_update_phase2(a, a, nd.ones((1,)), nd.ones((2,)), lr=0.1)
    with pytest.raises(mx.MXNetError, match=r"lamb_update_phase2: .*float64\[1\]"):
        nd.lamb_update_phase2(a, a, nd.ones((1,)), nd.ones((1,), dtype=F64), lr=0.1)
    h = a.astype(F16)
    with pytest.raises(mx.MXNetError, match=r"mp_lamb_update_phase1: weight and grad must be "
                                            r"float16"):
        nd.mp_lamb_update_phase1(a, a, a, a, a, t=1, wd=0.0)
    with pytest.raises(mx.MXNetError, match=r"mp_lamb_update_phase2: .*'float16\[2, 3\]'\]"):
        nd.mp_lamb_update_phase2(h, a, nd.ones((1,)), nd.ones((1,)), h, lr=0.1)
    with pytest.raises(mx.MXNetError, match=r"mp_sgd_mom_update: weight and grad must share "
                                            r"a shape .* mom, weight32 be float32"):
        nd.mp_sgd_mom_update(h, h, a, h, lr=0.1)
    with pytest.raises(mx.MXNetError, match=r"mp_sgd_update: .*float32\[3, 2\]"):
        nd.mp_sgd_update(h, h, nd.ones((3, 2)), lr=0.1)


# ------------------------------------------------------------------- refused inside a trace

def _h(shape=(3,)):
    return nd.ones(shape, dtype=F16)


TRACED = {
    "all_finite": lambda x: nd.all_finite(x),
    "multi_all_finite": lambda x: nd.multi_all_finite(x, x, num_arrays=2),
    "multi_sum_sq": lambda x: nd.multi_sum_sq(x, num_arrays=1),
    "multi_lars": lambda x: nd.multi_lars(x, x, x, x, eta=1.0, eps=0.0),
    "reset_arrays": lambda x: nd.reset_arrays(x, num_arrays=1),
    "mp_sgd_update": lambda x: nd.mp_sgd_update(_h(), _h(), x, lr=0.1),
    "mp_sgd_mom_update": lambda x: nd.mp_sgd_mom_update(_h(), _h(), x, x, lr=0.1),
    "mp_nag_mom_update": lambda x: nd.mp_nag_mom_update(_h(), _h(), x, x, lr=0.1),
    "multi_sgd_update": lambda x: nd.multi_sgd_update(x, x, lrs=(0.1,), wds=(0.0,)),
    "multi_sgd_mom_update": lambda x: nd.multi_sgd_mom_update(x, x, x, lrs=(0.1,), wds=(0,)),
    "multi_mp_sgd_update": lambda x: nd.multi_mp_sgd_update(_h(), _h(), x, lrs=(1,),
                                                            wds=(0,)),
    "multi_mp_sgd_mom_update": lambda x: nd.multi_mp_sgd_mom_update(_h(), _h(), x, x,
                                                                    lrs=(1,), wds=(0,)),
    "preloaded_multi_sgd_update": lambda x: nd.preloaded_multi_sgd_update(
        x, x, nd.ones((1,)), nd.zeros((1,))),
    "preloaded_multi_sgd_mom_update": lambda x: nd.preloaded_multi_sgd_mom_update(
        x, x, x, nd.ones((1,)), nd.zeros((1,))),
    "preloaded_multi_mp_sgd_update": lambda x: nd.preloaded_multi_mp_sgd_update(
        _h(), _h(), x, nd.ones((1,)), nd.zeros((1,))),
    "preloaded_multi_mp_sgd_mom_update": lambda x: nd.preloaded_multi_mp_sgd_mom_update(
        _h(), _h(), x, x, nd.ones((1,)), nd.zeros((1,))),
    "ftml_update": lambda x: nd.ftml_update(x, x, x, x, x, lr=0.1, t=1),
    "lamb_update_phase1": lambda x: nd.lamb_update_phase1(x, x, x, x, t=1, wd=0.0),
    "lamb_update_phase2": lambda x: nd.lamb_update_phase2(x, x, x[:1], x[:1], lr=0.1),
    "mp_lamb_update_phase1": lambda x: nd.mp_lamb_update_phase1(_h(), _h(), x, x, x, t=1,
                                                                wd=0.0),
    "mp_lamb_update_phase2": lambda x: nd.mp_lamb_update_phase2(_h(), x, x[:1], x[:1], x,
                                                                lr=0.1),
}


def test_every_new_function_has_a_trace_row():
    import tracegrad.nd_optimizer_ops as ops
    old = {"sgd_update", "sgd_mom_update", "nag_mom_update", "adam_update", "rmsprop_update",
           "rmspropalex_update", "ftrl_update", "signsgd_update", "signum_update"}
    assert set(ops.__all__) - old == set(TRACED)
    for name in TRACED:
        assert getattr(nd, name) is getattr(ops, name)


@pytest.mark.parametrize("name", sorted(TRACED))
def test_refused_inside_jit(name):
    x = nd.ones((3,))
    TRACED[name](nd.ones((3,)))                     # runs eagerly
    with pytest.raises(mx.MXNetError, match=rf"{name}: an optimizer update writes its states "
                                            rf"in place and runs eagerly"):
        mx.jit(TRACED[name])(x)
    np.testing.assert_array_equal(x.asnumpy(), 1.0)  # refused before writing anything


# ------------------------------------------------------- a Gluon loop's global gradient norm

def test_global_grad_norm_from_multi_sum_sq_matches_clip_global_norm():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation="relu", in_units=5), gluon.nn.Dense(3, in_units=8))
    net.initialize(mx.init.Xavier(), force_reinit=True)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rs = np.random.RandomState(0)
    params = list(net.collect_params().values())
    for step in range(3):
        x = nd.array(rs.randn(4, 5).astype(F32) * (step + 1) * 5)
        y = nd.array(rs.randint(0, 3, (4,)).astype(F32))
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        grads = [p.grad() for p in params]
        # as on several devices: one multi_sum_sq per chunk, add_n of the partial sums
        chunks = [grads[:2], grads[2:]]
        partial = [nd.multi_sum_sq(*c, num_arrays=len(c)).sum() for c in chunks]
        norm = nd.sqrt(nd.add_n(*partial)).asscalar()
        want = np.sqrt(sum(np.sum(g.asnumpy().astype(F64) ** 2) for g in grads))
        np.testing.assert_allclose(norm, want, rtol=1e-5)
        copies = [g.copy() for g in grads]
        reported = gluon.utils.clip_global_norm(copies, max_norm=1.0)
        np.testing.assert_allclose(norm, reported, rtol=1e-5)
        # clipping by that norm by hand matches clip_global_norm's scaled gradients
        scale = min(1.0, 1.0 / (norm + 1e-8))
        for g, c in zip(grads, copies):
            np.testing.assert_allclose(g.asnumpy() * scale, c.asnumpy(), rtol=1e-5, atol=1e-7)
        gluon.utils.clip_global_norm(grads, max_norm=1.0)
        trainer.step(1)
        assert nd.multi_all_finite(*grads, num_arrays=len(grads)).asscalar() == 1.0
