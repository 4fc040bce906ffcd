"""mx.npx's cast, constraint_check, gather_nd, nonzero, reshape_like, rnn, shape_array, slice,
smooth_l1 and the mx.npx.image namespace, against the legacy nd ops and numpy references:
values, dtypes and shapes as MXNet 1.9.1 gives them, gradients against central differences,
hybridized set_np blocks against eager, seeded randomness and clear errors."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd, np, npx
from numeric import central_differences
from np_checks import close

R = onp.random.default_rng(11)



def f64(*shape, lo=-1.0, hi=1.0):
    return R.uniform(lo, hi, shape)


def grad_check(fn, arrays, rtol=1e-5, atol=1e-7, eps=1e-6):
    """tracegrad's gradient of sum(fn(*arrays) * w) (w a fixed random weight) against central
    differences of the same eager function, for each float64 array."""
    xs = [np.array(a, dtype="float64") for a in arrays]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        out = fn(*xs)
    w = R.uniform(0.5, 1.5, out.shape)
    with autograd.record():
        loss = (fn(*xs) * np.array(w, dtype=out.dtype)).sum()
    loss.backward()

    def value():
        return float((fn(*[np.array(a, dtype="float64") for a in arrays]).asnumpy() * w).sum())
    refs = central_differences(value, arrays, eps=eps)
    for x, ref in zip(xs, refs):
        assert x.grad is not None and x.grad.dtype == onp.float64
        assert onp.abs(ref).max() > 0      # the check can fail: the gradient is not all 0
        onp.testing.assert_allclose(x.grad.asnumpy(), ref, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ cast / shape_array
def test_cast_values_dtypes_and_gradient():
    x = onp.array([[-1.7, 0.2, 2.9], [3.5, -0.5, 7.0]])
    a = np.array(x, dtype="float64")
    for dt in ("float32", "float16", "int32", "int64", "uint8", "bool"):
        out = npx.cast(a, dtype=dt)
        assert isinstance(out, np.ndarray) and out.dtype == onp.dtype(dt)
        onp.testing.assert_array_equal(out.asnumpy(), nd.Cast(a.as_nd_ndarray(), dt).asnumpy())
    onp.testing.assert_array_equal(npx.cast(a, "int32").asnumpy(), x.astype(onp.int32))
    # the gradient comes back in the input's dtype
    grad_check(lambda v: npx.cast(v, "float32"), [f64(3, 4)], rtol=1e-4, atol=1e-4, eps=1e-3)
    with pytest.raises(mx.MXNetError, match="npx.cast"):
        npx.cast(a, "not-a-dtype")
    with pytest.raises(TypeError, match="npx.cast"):
        npx.cast(x, "float32")


def test_shape_array_is_int64():
    out = npx.shape_array(np.zeros((2, 0, 5)))
    assert isinstance(out, np.ndarray) and out.dtype == onp.int64
    onp.testing.assert_array_equal(out.asnumpy(), [2, 0, 5])
    assert npx.shape_array(np.array(3.0)).shape == (0,)


# ------------------------------------------------------------------ gather_nd
def test_gather_nd_values_gradient_and_errors():
    data = f64(3, 4, 2)
    idx = onp.array([[0, 2, 2, -1], [1, 3, 3, 0]])
    out = npx.gather_nd(np.array(data, dtype="float64"), np.array(idx, dtype="int64"))
    assert out.shape == (4, 2) and out.dtype == onp.float64
    close(out, data[tuple(idx)], rtol=0, atol=0)
    ref = nd.gather_nd(nd.array(data, dtype="float64"), nd.array(idx, dtype="int64"))
    close(out, ref.asnumpy(), rtol=0, atol=0)
    # a repeated index sums its gradient
    grad_check(lambda d: npx.gather_nd(d, np.array(idx, dtype="int64")), [data])
    with pytest.raises(mx.MXNetError, match="gather_nd"):
        npx.gather_nd(np.array(data), np.array([[3], [0]], dtype="int64"))


# ------------------------------------------------------------------ nonzero
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2), (2, 1, 2, 3, 2)])
def test_nonzero_matches_argwhere(shape):
    x = R.integers(-1, 2, shape).astype(onp.float32)
    out = npx.nonzero(np.array(x))
    assert isinstance(out, np.ndarray) and out.dtype == onp.int64
    assert out.shape == (int((x != 0).sum()), len(shape))
    onp.testing.assert_array_equal(out.asnumpy(), onp.argwhere(x))
    b = npx.nonzero(np.array(x != 0, dtype="bool"))
    onp.testing.assert_array_equal(b.asnumpy(), onp.argwhere(x))


def test_nonzero_of_0d_empty_and_too_many_axes():
    one = npx.nonzero(np.array(2.0))
    assert one.shape == (1, 1) and one.asnumpy()[0, 0] == 0 and one.dtype == onp.int64
    assert npx.nonzero(np.array(0.0)).shape == (0, 1)
    assert npx.nonzero(np.zeros((2, 0, 3))).shape == (0, 3)
    assert npx.nonzero(np.zeros((2, 3))).shape == (0, 2)
    with pytest.raises(mx.MXNetError, match="npx.nonzero"):
        npx.nonzero(np.ones((1, 1, 1, 1, 1, 2)))


def test_nonzero_under_jit_follows_the_values():
    f = mx.jit(lambda a: npx.nonzero(a) * 2)
    for v in ([0.0, 1.0, 2.0], [3.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 2.0]):
        onp.testing.assert_array_equal(f(np.array(v)).asnumpy(), onp.argwhere(v) * 2)


# ------------------------------------------------------------------ reshape_like
def test_reshape_like_values_ranges_gradient_and_errors():
    x = f64(2, 6)
    out = npx.reshape_like(np.array(x), np.zeros((3, 4)))
    assert out.shape == (3, 4)
    close(out, x.reshape(3, 4), rtol=0, atol=0)
    y = f64(30, 7)
    part = npx.reshape_like(np.array(y), np.zeros((15, 2, 4)), lhs_begin=0, lhs_end=1,
                            rhs_begin=0, rhs_end=2)
    assert part.shape == (15, 2, 7)
    close(part, y.reshape(15, 2, 7), rtol=0, atol=0)
    ref = nd.reshape_like(nd.array(y), nd.zeros((15, 2, 4)), lhs_begin=0, lhs_end=1,
                          rhs_begin=0, rhs_end=2)
    assert ref.shape == part.shape
    grad_check(lambda v: npx.reshape_like(v, np.zeros((4, 3))) * np.arange(3.0), [x])
    with pytest.raises(mx.MXNetError, match="reshape"):
        npx.reshape_like(np.array(x), np.zeros((5, 2)))


# ------------------------------------------------------------------ slice
@pytest.mark.parametrize("begin,end,step,key", [
    ((0, 1), (2, 4), (), onp.s_[0:2, 1:4]),
    ((None, 1), (None, None), (1, 2), onp.s_[:, 1::2]),
    ((-1, None), (None, 0), (-1, -2), onp.s_[-1::-1, :0:-2]),
    ((1,), (3,), None, onp.s_[1:3]),
])
def test_slice_matches_numpy_and_nd(begin, end, step, key):
    x = f64(3, 5, 2)
    out = npx.slice(np.array(x, dtype="float64"), begin, end, step)
    assert isinstance(out, np.ndarray)
    close(out, x[key], rtol=0, atol=0)
    ref = nd.slice(nd.array(x, dtype="float64"), begin, end, step or None)
    close(out, ref.asnumpy(), rtol=0, atol=0)
    grad_check(lambda v: npx.slice(v, begin, end, step), [x])


def test_slice_errors_and_copy():
    a = np.arange(12.0).reshape(3, 4)
    with pytest.raises(mx.MXNetError, match="npx.slice"):
        npx.slice(a, (0, 1), (2,))
    with pytest.raises(mx.MXNetError, match="npx.slice"):
        npx.slice(a, (0,), (2,), (0,))
    with pytest.raises(mx.MXNetError, match="npx.slice"):
        npx.slice(a, (0, 0, 0), (1, 1, 1))
    out = npx.slice(a, (0,), (2,))
    out[:] = -1.0        # a new array, as MXNet's slice op writes one
    assert a.asnumpy().min() == 0.0


# ------------------------------------------------------------------ smooth_l1
@pytest.mark.parametrize("scalar", [1.0, 2.0, 0.5])
def test_smooth_l1_values_and_gradient(scalar):
    x = onp.array([-3.0, -0.6, -0.1, 0.0, 0.05, 0.3, 0.9, 2.5])
    s2 = scalar * scalar
    ref = onp.where(onp.abs(x) < 1 / s2, 0.5 * s2 * x * x, onp.abs(x) - 0.5 / s2)
    out = npx.smooth_l1(np.array(x, dtype="float64"), scalar=scalar)
    close(out, ref)
    close(out, nd.smooth_l1(nd.array(x, dtype="float64"), scalar=scalar).asnumpy())
    away = x[onp.abs(onp.abs(x) - 1 / s2) > 0.01]     # no finite difference across the kink
    grad_check(lambda v: npx.smooth_l1(v, scalar=scalar), [away.copy()])


def test_smooth_l1_default_scalar_is_one():
    x = np.array([0.5, 2.0])
    close(npx.smooth_l1(x), [0.125, 1.5])


# ------------------------------------------------------------------ constraint_check
def test_constraint_check_true_and_false():
    ok = npx.constraint_check(np.array([[True, True]], dtype="bool"))
    assert isinstance(ok, np.ndarray) and ok.dtype == onp.bool_ and ok.shape == ()
    assert bool(ok.asnumpy())
    assert bool(npx.constraint_check(np.array(True, dtype="bool")).asnumpy())
    with pytest.raises(mx.MXNetError, match="scale should be positive"):
        npx.constraint_check(np.array([True, False, True], dtype="bool"),
                             "scale should be positive")
    with pytest.raises(mx.MXNetError, match="Constraint violated"):
        npx.constraint_check(np.array([False], dtype="bool"))
    with pytest.raises(mx.MXNetError, match="bool"):
        npx.constraint_check(np.array([1.0, 1.0]))


def test_constraint_check_inside_a_hybridized_block(np_mode):
    class Checked(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x * F.npx.constraint_check(x > 0, "x must be positive")

    net = Checked()
    net.hybridize()
    x = np.array([1.0, 2.0, 3.0])
    close(net(x), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="x must be positive"):
        net(np.array([1.0, -2.0, 3.0])).asnumpy()
    close(net(np.array([4.0, 5.0, 6.0])), [4.0, 5.0, 6.0])


@pytest.mark.parametrize("path", ["eager", "hybridized", "jit"])
def test_constraint_check_raises_a_value_error_every_way_it_runs(path):
    """MXNet's ValueError (test_numpy_op's test_npx_constraint_check), eager and from compiled
    code alike: a value check, not an index one."""
    class Checked(gluon.HybridBlock):
        def hybrid_forward(self, F, b):
            return F.npx.constraint_check(b, "condition violated")

    call = {"eager": Checked(), "hybridized": Checked(),
            "jit": mx.jit(lambda b: npx.constraint_check(b, "condition violated"))}[path]
    if path == "hybridized":
        call.hybridize()
    for _ in range(3):      # the later calls run the compiled check
        assert bool(call(np.ones((2, 3), dtype="bool")).asnumpy())
        with pytest.raises(ValueError, match="condition violated") as info:
            call(np.array([[True, False, True], [True] * 3], dtype="bool")).asnumpy()
        assert not isinstance(info.value, IndexError)


# ------------------------------------------------------------------ rnn
def _rnn_sizes(mode, C, H, L, D):
    G = {"rnn_relu": 1, "rnn_tanh": 1, "gru": 3, "lstm": 4}[mode]
    total = 0
    for layer in range(L):
        ni = C if layer == 0 else H * D
        total += D * (G * H * ni + G * H * H + 2 * G * H)
    return total


@pytest.mark.parametrize("mode,L,bidir", [("lstm", 1, False), ("gru", 2, True),
                                          ("rnn_tanh", 1, True), ("rnn_relu", 2, False)])
def test_rnn_matches_nd_rnn(mode, L, bidir):
    T, N, C, H = 4, 3, 5, 6
    D = 2 if bidir else 1
    data, params = f64(T, N, C), f64(_rnn_sizes(mode, C, H, L, D), lo=-0.3, hi=0.3)
    h0, c0 = f64(L * D, N, H), f64(L * D, N, H)
    cell = np.array(c0, dtype="float64") if mode == "lstm" else None
    out = npx.rnn(np.array(data, dtype="float64"), np.array(params, dtype="float64"),
                  np.array(h0, dtype="float64"), cell, mode=mode, state_size=H,
                  num_layers=L, bidirectional=bidir, state_outputs=True)
    ref = nd.RNN(nd.array(data, dtype="float64"), nd.array(params, dtype="float64"),
                 nd.array(h0, dtype="float64"),
                 nd.array(c0, dtype="float64") if mode == "lstm" else None, mode=mode,
                 state_size=H, num_layers=L, bidirectional=bidir, state_outputs=True)
    assert len(out) == (3 if mode == "lstm" else 2)
    assert out[0].shape == (T, N, D * H) and out[1].shape == (L * D, N, H)
    for o, r in zip(out, ref):
        assert isinstance(o, np.ndarray)
        close(o, r.asnumpy(), rtol=1e-12, atol=1e-12)
    f32 = [np.array(v, dtype="float32") for v in (data, params, h0, c0)]
    single = npx.rnn(*f32[:3], f32[3] if mode == "lstm" else None, mode=mode,
                     state_size=H, num_layers=L, bidirectional=bidir)
    assert isinstance(single, np.ndarray) and single.shape == (T, N, D * H)
    assert single.dtype == onp.float32


def test_rnn_gradient_against_central_differences():
    T, N, C, H = 3, 2, 2, 2
    data, params = f64(T, N, C), f64(_rnn_sizes("lstm", C, H, 1, 1), lo=-0.5, hi=0.5)
    h0, c0 = f64(1, N, H), f64(1, N, H)

    def fn(d, p, h, c):
        out, hy, cy = npx.rnn(d, p, h, c, mode="lstm", state_size=H, num_layers=1,
                              state_outputs=True)
        return out.sum() + (hy * 2.0).sum() + (cy * 3.0).sum()
    grad_check(fn, [data, params, h0, c0], rtol=1e-5, atol=1e-8)


def test_rnn_sequence_length_and_errors():
    T, N, C, H = 5, 3, 2, 4
    data, params = f64(T, N, C), f64(_rnn_sizes("gru", C, H, 1, 1), lo=-0.5, hi=0.5)
    h0 = f64(1, N, H)
    lengths = onp.array([5, 2, 3], dtype=onp.float32)
    out = npx.rnn(np.array(data), np.array(params), np.array(h0),
                  sequence_length=np.array(lengths), mode="gru", state_size=H, num_layers=1,
                  use_sequence_length=True)
    ref = nd.RNN(nd.array(data), nd.array(params), nd.array(h0),
                 sequence_length=nd.array(lengths), mode="gru", state_size=H, num_layers=1,
                 use_sequence_length=True)
    close(out, ref.asnumpy(), rtol=1e-6, atol=1e-6)
    assert onp.all(out.asnumpy()[2:, 1] == 0) and onp.any(out.asnumpy()[4, 0] != 0)
    base = dict(mode="gru", state_size=H, num_layers=1)
    for missing in ("mode", "state_size", "num_layers"):
        kw = {k: v for k, v in base.items() if k != missing}
        with pytest.raises(mx.MXNetError, match=missing):
            npx.rnn(np.array(data), np.array(params), np.array(h0), **kw)
    with pytest.raises(mx.MXNetError, match="parameters"):
        npx.rnn(np.array(data), np.array(params[:-1]), np.array(h0), **base)
    with pytest.raises(mx.MXNetError, match="sequence_length"):
        npx.rnn(np.array(data), np.array(params), np.array(h0), use_sequence_length=True,
                **base)
    with pytest.raises(mx.MXNetError, match="state_cell"):
        npx.rnn(np.array(data), np.array(_rnn_sizes("lstm", C, H, 1, 1) * [0.0]),
                np.array(h0), mode="lstm", state_size=H, num_layers=1)


# ------------------------------------------------------------------ hybridized blocks
class _RNNGather(gluon.HybridBlock):
    """An LSTM through F.npx.rnn, then F.npx.slice and F.npx.gather_nd of its output."""

    def __init__(self, C, H):
        super().__init__()
        self.H = H
        with self.name_scope():
            self.params_vec = self.params.get("rnn_param", shape=(_rnn_sizes("lstm", C, H, 1,
                                                                              1),))

    def hybrid_forward(self, F, x, idx, params_vec):
        N = x.shape[1]
        h0 = F.np.zeros((1, N, self.H))
        out, hy, cy = F.npx.rnn(x, params_vec, h0, h0, mode="lstm", state_size=self.H,
                                num_layers=1, state_outputs=True)
        part = F.npx.slice(out, (1, None, 0), (None, None, None), (1, 1, 2))
        # (idx: an int64 mx.np input of a hybridized call under autograd.record, which
        # needs no gradient)
        picked = F.npx.gather_nd(part, idx)
        h_part = F.npx.slice(hy + cy, (0, 0, 0), (1, N, 2))
        return F.npx.smooth_l1(picked) + F.npx.reshape_like(h_part, picked) * 2.0


def test_hybridized_block_with_rnn_slice_gather_matches_eager(np_mode):
    T, N, C, H = 4, 3, 3, 4
    x = np.array(f64(T, N, C), dtype="float32")
    idx = np.array([[0, 2, 1], [1, 0, 2]], dtype="int64")
    mx.random.seed(2)
    net = _RNNGather(C, H)
    net.initialize(mx.init.Uniform(0.5))
    results = []
    for hybrid in (False, True):
        if hybrid:
            net.hybridize()
        x.attach_grad()
        with autograd.record():
            y = net(x, idx)
            loss = (y * np.arange(1.0, 1.0 + y.shape[-1])).sum()
        loss.backward()
        p = net.params_vec
        results.append((y.asnumpy(), x.grad.asnumpy(), p.grad().asnumpy()))
        assert isinstance(y, np.ndarray) and y.shape == (3, 2)
    (ye, gxe, gpe), (yh, gxh, gph) = results
    onp.testing.assert_allclose(yh, ye, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(gxh, gxe, rtol=1e-4, atol=1e-6)
    onp.testing.assert_allclose(gph, gpe, rtol=1e-4, atol=1e-6)
    assert onp.abs(gxe).max() > 0 and onp.abs(gpe).max() > 0


def test_jit_of_npx_ops_agrees_with_eager():
    f = mx.jit(lambda a, b: npx.gather_nd(npx.slice(a, (0, 1), (3, 4)), b)
               + npx.cast(npx.reshape_like(a, a), "float32").sum())
    for _ in range(2):
        a = np.array(f64(3, 5), dtype="float32")
        b = np.array([[0, 2], [1, 2]], dtype="int64")
        ref = npx.gather_nd(npx.slice(a, (0, 1), (3, 4)), b) + a.sum()
        close(f(a, b), ref.asnumpy(), rtol=1e-5)


# ------------------------------------------------------------------ image: deterministic ops
def _img(h=4, w=5, c=3, dtype="uint8"):
    return R.integers(0, 256, (h, w, c)).astype(dtype)


def test_image_to_tensor_values_and_gradient():
    x = _img()
    out = npx.image.to_tensor(np.array(x, dtype="uint8"))
    assert out.dtype == onp.float32 and out.shape == (3, 4, 5)
    close(out, x.transpose(2, 0, 1) / 255.0)
    batch = _img(2, 3, 1).reshape(1, 2, 3, 1).repeat(2, 0)
    outb = npx.image.to_tensor(np.array(batch, dtype="uint8"))
    assert outb.shape == (2, 1, 2, 3)
    close(outb, batch.transpose(0, 3, 1, 2) / 255.0)
    close(out, nd.image.to_tensor(nd.array(x, dtype="uint8")).asnumpy())
    grad_check(npx.image.to_tensor, [R.uniform(0, 255, (3, 2, 3))], rtol=1e-3, atol=1e-5,
               eps=1e-2)
    with pytest.raises(ValueError, match="to_tensor"):
        npx.image.to_tensor(np.zeros((4, 5)))


def test_image_normalize_values_gradient_and_errors():
    x = f64(3, 4, 5)
    mean, std = (0.1, 0.2, 0.3), (0.5, 2.0, 1.5)
    out = npx.image.normalize(np.array(x, dtype="float64"), mean=mean, std=std)
    assert out.dtype == onp.float64
    close(out, (x - onp.array(mean)[:, None, None]) / onp.array(std)[:, None, None])
    one = npx.image.normalize(np.array(x[None]), mean=0.5, std=0.25)
    assert one.shape == (1, 3, 4, 5)
    close(one, (x[None] - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    close(npx.image.normalize(np.array(x[:1], dtype="float64")), x[:1])
    grad_check(lambda v: npx.image.normalize(v, mean=mean, std=std), [x])
    with pytest.raises(ValueError, match="mean"):
        npx.image.normalize(np.array(x), mean=(0.1, 0.2))
    with pytest.raises(mx.MXNetError, match="channel"):
        npx.image.normalize(np.zeros((2, 4, 5)))


def test_image_resize_values_gradient_and_errors():
    x = _img(6, 8, 3)
    out = npx.image.resize(np.array(x, dtype="uint8"), size=(4, 3))
    assert out.shape == (3, 4, 3) and out.dtype == onp.uint8
    ref = nd.image.resize(nd.array(x, dtype="uint8"), size=(4, 3))
    onp.testing.assert_array_equal(out.asnumpy(), ref.asnumpy())
    # nearest neighbour by halves picks every other pixel
    near = npx.image.resize(np.array(x, dtype="uint8"), size=(4, 3), interp=0)
    onp.testing.assert_array_equal(near.asnumpy(), x[::2, ::2])
    assert npx.image.resize(np.array(x, dtype="uint8"), size=3, keep_ratio=True).shape == \
        (3, 4, 3)
    assert npx.image.resize(np.array(x, dtype="uint8"), size=(5,)).shape == (5, 5, 3)
    assert npx.image.resize(np.array(x[None].repeat(2, 0)), size=(4, 3)).shape == (2, 3, 4, 3)
    grad_check(lambda v: npx.image.resize(v, size=(3, 5)), [f64(4, 6, 1)])
    with pytest.raises(mx.MXNetError, match="fp16"):
        npx.image.resize(np.zeros((4, 4, 3), dtype="float16"), size=(2, 2))
    with pytest.raises(mx.MXNetError, match="size"):
        npx.image.resize(np.zeros((4, 4, 3)), size=(1, 2, 3))


def test_image_crop_and_flips():
    x = _img(5, 6, 3)
    a = np.array(x, dtype="uint8")
    c = npx.image.crop(a, 1, 2, 3, 2)
    onp.testing.assert_array_equal(c.asnumpy(), x[2:4, 1:4])
    assert c.dtype == onp.uint8
    onp.testing.assert_array_equal(npx.image.crop(np.array(x[None]), 1, 2, 3, 2).asnumpy(),
                                   x[None, 2:4, 1:4])
    with pytest.raises(ValueError, match="crop"):
        npx.image.crop(a, 4, 0, 3, 2)
    onp.testing.assert_array_equal(npx.image.flip_left_right(a).asnumpy(), x[:, ::-1])
    onp.testing.assert_array_equal(npx.image.flip_top_bottom(a).asnumpy(), x[::-1])
    assert npx.image.flip_left_right(a).dtype == onp.uint8
    for fn in (npx.image.flip_left_right, npx.image.random_flip_top_bottom,
               npx.image.random_brightness):
        args = () if "flip" in fn.__name__ else (0.5, 1.5)
        with pytest.raises(mx.MXNetError, match="height, width, channels"):
            fn(np.array(x[None]), *args)
        with pytest.raises(mx.MXNetError, match="1 or 3"):
            fn(np.zeros((4, 4, 2)), *args)
        with pytest.raises(TypeError, match="mx.np.ndarray"):
            fn(x, *args)


def test_image_adjust_lighting_values():
    x = _img(3, 4, 3)
    alpha = (0.3, -0.2, 0.5)
    eig = onp.array([[55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009],
                     [55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140],
                     [55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203]])
    shift = eig @ onp.array(alpha)
    out = npx.image.adjust_lighting(np.array(x, dtype="float32"), alpha)
    close(out, x + shift, rtol=1e-5, atol=1e-4)
    u8 = npx.image.adjust_lighting(np.array(x, dtype="uint8"), alpha)
    assert u8.dtype == onp.uint8
    onp.testing.assert_array_equal(u8.asnumpy(), onp.clip(x + shift, 0, 255).astype(onp.uint8))
    gray = _img(3, 4, 1)
    onp.testing.assert_array_equal(npx.image.adjust_lighting(np.array(gray, dtype="uint8"),
                                                             alpha).asnumpy(), gray)
    with pytest.raises(mx.MXNetError, match="alpha"):
        npx.image.adjust_lighting(np.array(x, dtype="uint8"), (0.1, 0.2))


def test_image_enhancements_with_a_fixed_factor():
    x = _img(3, 4, 3).astype(onp.float32)
    a = np.array(x)
    coef = onp.array([0.299, 0.587, 0.114])
    close(npx.image.random_brightness(a, 1.5, 1.5), x * 1.5, rtol=1e-6)
    u8 = npx.image.random_brightness(np.array(x, dtype="uint8"), 1.7, 1.7)
    onp.testing.assert_array_equal(u8.asnumpy(),
                                   onp.clip(x * onp.float32(1.7), 0, 255).astype(onp.uint8))
    gray_mean = (x * coef).sum() / (3 * 4)
    close(npx.image.random_contrast(a, 0.4, 0.4), x * 0.4 + 0.6 * gray_mean, rtol=1e-5,
          atol=1e-3)
    gray = (x * coef).sum(axis=2, keepdims=True)
    close(npx.image.random_saturation(a, 0.3, 0.3), x * 0.3 + 0.7 * gray, rtol=1e-5,
          atol=1e-3)
    # a hue rotation by 0 or a whole turn gives the colours back
    close(npx.image.random_hue(a, 0.0, 0.0), x, rtol=1e-4, atol=1e-2)
    close(npx.image.random_hue(a, 1.0, 1.0), x, rtol=1e-4, atol=1e-2)
    turned = npx.image.random_hue(a, 0.5, 0.5).asnumpy()
    assert onp.abs(turned - x).max() > 1.0
    # zero jitter amounts leave the image as it is
    close(npx.image.random_color_jitter(a, 0, 0, 0, 0), x)
    close(npx.image.random_lighting(a, alpha_std=0.0), x)
    with pytest.raises(mx.MXNetError, match="min_factor"):
        npx.image.random_contrast(a, 1.5, 0.5)
    with pytest.raises(mx.MXNetError, match=">= 0"):
        npx.image.random_brightness(a, -0.5, 0.5)


# ------------------------------------------------------------------ image: random ops
_RANDOM = [
    (lambda a: npx.image.random_flip_left_right(a)),
    (lambda a: npx.image.random_flip_top_bottom(a)),
    (lambda a: npx.image.random_brightness(a, 0.2, 1.8)),
    (lambda a: npx.image.random_contrast(a, 0.2, 1.8)),
    (lambda a: npx.image.random_saturation(a, 0.2, 1.8)),
    (lambda a: npx.image.random_hue(a, 0.0, 0.5)),
    (lambda a: npx.image.random_color_jitter(a, 0.4, 0.4, 0.4, 0.2)),
    (lambda a: npx.image.random_lighting(a, 0.5)),
]


@pytest.mark.parametrize("k", range(len(_RANDOM)))
def test_random_image_ops_repeat_under_a_seed(k):
    fn = _RANDOM[k]
    a = np.array(_img(4, 5, 3), dtype="uint8")
    outs = []
    for seed in (7, 7, 8, 9, 10, 11, 12):
        mx.random.seed(seed)
        o = fn(a)
        assert isinstance(o, np.ndarray) and o.dtype == onp.uint8 and o.shape == (4, 5, 3)
        outs.append(o.asnumpy())
    onp.testing.assert_array_equal(outs[0], outs[1])
    assert any(not onp.array_equal(outs[0], o) for o in outs[2:])


def test_random_flips_give_the_image_or_its_flip():
    x = _img(4, 5, 3)
    a = np.array(x, dtype="uint8")
    seen = set()
    for seed in range(12):
        mx.random.seed(seed)
        o = npx.image.random_flip_left_right(a).asnumpy()
        assert onp.array_equal(o, x) or onp.array_equal(o, x[:, ::-1])
        seen.add(onp.array_equal(o, x))
    assert seen == {True, False}


def test_random_brightness_factor_stays_in_its_range():
    x = _img(4, 5, 3).astype(onp.float32) + 1.0
    for seed in range(5):
        mx.random.seed(seed)
        ratio = npx.image.random_brightness(np.array(x), 0.6, 0.9).asnumpy() / x
        assert onp.allclose(ratio, ratio.flat[0], rtol=1e-5)
        assert 0.6 <= ratio.flat[0] <= 0.9


def test_image_ops_in_a_hybridized_block_match_eager(np_mode):
    class Pre(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            t = F.npx.image.to_tensor(F.npx.image.resize(x, size=(4, 3)))
            return F.npx.image.normalize(t, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))

    net = Pre()
    x = np.array(R.uniform(0, 255, (6, 8, 3)), dtype="float32")
    eager = net(x)
    net.hybridize()
    x.attach_grad()
    with autograd.record():
        compiled = net(x)
        loss = (compiled * compiled).sum()
    loss.backward()
    onp.testing.assert_allclose(compiled.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-5)
    assert compiled.shape == (3, 3, 4)
    assert onp.abs(x.grad.asnumpy()).max() > 0

    class Jitter(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.npx.image.random_brightness(x, 0.5, 1.5)

    jit = Jitter()
    jit.hybridize()
    outs = []
    for seed in (3, 3, 4):
        mx.random.seed(seed)
        outs.append(jit(x).asnumpy())
    onp.testing.assert_array_equal(outs[0], outs[1])
    assert not onp.array_equal(outs[0], outs[2])
