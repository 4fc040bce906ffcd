"""nd.contrib.boolean_mask / index_copy / arange_like and nd.batch_take, ravel_multi_index,
unravel_index, split_v2, histogram (MXNet 1.9.1 semantics): values against float64 numpy
references written from MXNet's kernels, compiled (mx.jit, hybridize) against eager,
gradients against finite differences (tests/grad/check.py), bad input raising errors that name
the op and the shapes."""

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

from arrays import keep_dtype as array
from compiled_checks import grads_ok, jit_grads_match


RNG = np.random.default_rng(11)


def jit_matches(fn, *inputs):
    """mx.jit(fn) gives eager fn's values and dtype bit for bit (tracing call, then native)."""
    want = fn(*[array(x) for x in inputs])
    compiled = mx.jit(fn)
    for _ in range(2):
        got = compiled(*[array(x) for x in inputs])
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want]):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g.asnumpy(), w.asnumpy())
    return compiled


# ------------------------------------------------------------------ boolean_mask
def test_boolean_mask_values_and_mxnet_example():
    data = nd.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    out = nd.contrib.boolean_mask(data, nd.array([0, 1, 0]))
    np.testing.assert_array_equal(out.asnumpy(), [[4, 5, 6]])
    x = RNG.standard_normal((6, 2, 3))
    mask = np.array([1, 0, np.nan, 0, -2, 1])     # NaN and negatives are non-zero
    out = nd.contrib.boolean_mask(array(x), array(mask))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), x[mask != 0])
    empty = nd.contrib.boolean_mask(array(x), array(np.zeros(6)))
    assert empty.shape == (0, 2, 3)
    ints = nd.contrib.boolean_mask(array(np.arange(6, dtype=np.int32)),
                                   array(np.array([1, 1, 0, 0, 1, 0], np.int32)))
    assert ints.dtype == np.int32
    np.testing.assert_array_equal(ints.asnumpy(), [0, 1, 4])
    # any axis (MXNet 1.9.1 has axis=0 only)
    np.testing.assert_array_equal(
        nd.contrib.boolean_mask(array(x), array(np.array([0, 1, 1])), axis=-1).asnumpy(),
        x[:, :, 1:])


def test_boolean_mask_gradient_and_jit():
    x = RNG.standard_normal((5, 3))
    mask = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    grads_ok(lambda a, m: nd.contrib.boolean_mask(a, m) * a.sum(), x, mask.astype(np.int64))
    g = jit_grads_match(lambda a, m: nd.contrib.boolean_mask(a, m), x.astype(np.float32),
                        mask.astype(np.float32))
    np.testing.assert_allclose(g[0], 2 * x.astype(np.float32) * mask[:, None], rtol=1e-6)
    compiled = jit_matches(lambda a, m: nd.contrib.boolean_mask(a, m) + 1, x, mask)
    # another mask with the same count reuses the compiled variant; a new count adds one
    for m in ([0.0, 1, 1, 1, 0], [1.0, 1, 1, 1, 1], [0.0, 0, 0, 0, 0]):
        np.testing.assert_array_equal(compiled(array(x), array(np.array(m))).asnumpy(),
                                      x[np.array(m) != 0] + 1)
    assert "guard" in compiled.explain()


def test_boolean_mask_in_hybridized_block():
    class Masked(gluon.HybridBlock):
        def hybrid_forward(self, F, x, m):
            return F.contrib.boolean_mask(x, m) * 2

    net = Masked()
    net.hybridize()
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    for m in ([1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 1, 0]):
        m = np.array(m, np.float32)
        np.testing.assert_array_equal(net(nd.array(x), nd.array(m)).asnumpy(),
                                      x[m != 0] * 2)


def test_boolean_mask_bad_input():
    with pytest.raises(MXNetError, match=r"boolean_mask.*\(3,\).*\(4, 2\)"):
        nd.contrib.boolean_mask(nd.zeros((4, 2)), nd.ones((3,)))
    with pytest.raises(MXNetError, match=r"boolean_mask.*\(4, 1\)"):
        nd.contrib.boolean_mask(nd.zeros((4, 2)), nd.ones((4, 1)))
    with pytest.raises(MXNetError, match="boolean_mask: axis 2"):
        nd.contrib.boolean_mask(nd.zeros((4, 2)), nd.ones((4,)), axis=2)


# ------------------------------------------------------------------ index_copy
def _index_copy_ref(old, idx, new):
    out = old.copy()
    for i, j in enumerate(np.trunc(idx).astype(int)):   # sequential: the last write wins
        out[j] = new[i]
    return out


def test_index_copy_values_example_and_duplicates():
    out = nd.contrib.index_copy(nd.zeros((5, 3)), nd.array([0, 4, 2]),
                                nd.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    np.testing.assert_array_equal(out.asnumpy(), [[1, 2, 3], [0, 0, 0], [7, 8, 9], [0, 0, 0],
                                                  [4, 5, 6]])
    old = RNG.standard_normal((6, 2, 2))
    new = RNG.standard_normal((4, 2, 2))
    idx = np.array([5, 1.7, 5, 0])
    out = nd.contrib.index_copy(array(old), array(idx), array(new))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), _index_copy_ref(old, idx, new))
    jit_matches(lambda o, i, n: nd.contrib.index_copy(o, i, n), old, idx, new)


def test_index_copy_gradients():
    old = RNG.standard_normal((5, 3))
    new = RNG.standard_normal((3, 3))
    idx = np.array([4.0, 0.0, 2.0])
    grads_ok(lambda o, n, i: nd.contrib.index_copy(o, i, n) * o, old, new, idx.astype(np.int64))
    g_old, g_new = jit_grads_match(
        lambda o, n, i: nd.contrib.index_copy(o, i, n), old.astype(np.float32),
        new.astype(np.float32), idx.astype(np.float32))[:2]
    out = _index_copy_ref(old, idx, new).astype(np.float32)
    keep = np.ones(5, bool)
    keep[[4, 0, 2]] = False
    np.testing.assert_allclose(g_old, 2 * out * keep[:, None], rtol=1e-6)
    np.testing.assert_allclose(g_new, 2 * out[[4, 0, 2]], rtol=1e-6)


def test_index_copy_bad_input():
    with pytest.raises(MXNetError, match=r"index_copy.*old_tensor \(5, 3\).*new_tensor \(3, 2\)"):
        nd.contrib.index_copy(nd.zeros((5, 3)), nd.array([0, 1, 2]), nd.zeros((3, 2)))
    with pytest.raises(MXNetError, match=r"index_copy: index_vector needs one entry"):
        nd.contrib.index_copy(nd.zeros((5, 3)), nd.array([0, 1]), nd.zeros((3, 3)))
    with pytest.raises(MXNetError, match=r"index_copy: index_vector must be in \[0, 4\]"):
        nd.contrib.index_copy(nd.zeros((5, 3)), nd.array([0, 5, 1]), nd.zeros((3, 3)))


# ------------------------------------------------------------------ arange_like
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_arange_like(dtype):
    x = np.zeros((3, 4), dtype)
    for start, step, repeat, axis in ((0, 1, 1, None), (1.5, 0.5, 2, None), (-2, 3, 1, -1),
                                      (10, -0.25, 3, 0)):
        out = nd.contrib.arange_like(array(x), start=start, step=step, repeat=repeat,
                                     axis=axis)
        n = x.size if axis is None else x.shape[axis]
        # MXNet's kernel: start + (i / repeat) * step in the data's dtype
        i = (np.arange(n) // repeat).astype(dtype)
        ref = (dtype(start) + i * dtype(step)).astype(dtype)
        ref = ref.reshape(x.shape) if axis is None else ref
        assert out.dtype == dtype and out.shape == ref.shape
        np.testing.assert_array_equal(out.asnumpy(), ref)
    jit_matches(lambda a: nd.contrib.arange_like(a, start=2, step=0.5, repeat=2) + a, x)
    a = nd.array(x)
    a.attach_grad()
    with autograd.record():
        y = (nd.contrib.arange_like(a) * a).sum()
    y.backward()            # through the product only: arange_like passes no gradient
    np.testing.assert_array_equal(a.grad.asnumpy(), np.arange(12).reshape(3, 4))
    with pytest.raises(MXNetError, match=r"arange_like: axis 2 .* \(3, 4\)"):
        nd.contrib.arange_like(a, axis=2)


# ------------------------------------------------------------------ batch_take
def test_batch_take():
    x = nd.array([[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(nd.batch_take(x, nd.array([0, 1, 0], dtype="int32"))
                                  .asnumpy(), [1, 4, 5])
    a = RNG.standard_normal((4, 5))
    idx = np.array([0, 7, -3, 2.9])             # clipped into the row after truncation
    ref = a[np.arange(4), np.clip(np.trunc(idx).astype(int), 0, 4)]
    np.testing.assert_array_equal(nd.batch_take(array(a), array(idx)).asnumpy(), ref)
    jit_matches(lambda d, i: nd.batch_take(d, i), a, idx)
    grads_ok(lambda d, i: nd.batch_take(d, i), a, np.trunc(idx).astype(np.int32))
    with pytest.raises(MXNetError, match=r"batch_take: indices .* \(4, 5\).*\(3,\)"):
        nd.batch_take(array(a), nd.array([0, 1, 2]))
    with pytest.raises(MXNetError, match=r"batch_take: a must be 2-d.*\(2, 2, 2\)"):
        nd.batch_take(nd.zeros((2, 2, 2)), nd.array([0, 1]))


# ------------------------------------------------------------------ ravel / unravel
def test_ravel_and_unravel_index():
    A = nd.array([[3, 6, 6], [4, 5, 1]])
    for shape in ((7, 6), (-1, 6)):
        np.testing.assert_array_equal(nd.ravel_multi_index(A, shape=shape).asnumpy(),
                                      [22, 41, 37])
        np.testing.assert_array_equal(nd.unravel_index(nd.array([22, 41, 37]), shape=shape)
                                      .asnumpy(), [[3, 6, 6], [4, 5, 1]])
    shape = (4, 3, 5)
    flat = RNG.integers(0, 60, 20)
    multi = np.array(np.unravel_index(flat, shape))
    for dtype in (np.float32, np.int64, np.int32):
        un = nd.unravel_index(array(flat.astype(dtype)), shape=shape)
        assert un.dtype == dtype
        np.testing.assert_array_equal(un.asnumpy(), multi)
        ra = nd.ravel_multi_index(array(multi.astype(dtype)), shape=shape)
        assert ra.dtype == dtype and ra.shape == (20,)
        np.testing.assert_array_equal(ra.asnumpy(), flat)
    # C division, as MXNet's kernel: -7 in (-1, 3) is (-2, -1)
    np.testing.assert_array_equal(nd.unravel_index(nd.array([-7, 7]), shape=(-1, 3))
                                  .asnumpy(), [[-2, 2], [-1, 1]])
    jit_matches(lambda f: nd.unravel_index(f, shape=shape), flat.astype(np.float32))
    jit_matches(lambda m: nd.ravel_multi_index(m, shape=shape), multi.astype(np.int64))
    with pytest.raises(MXNetError, match=r"ravel_multi_index: data must be 2-d with 3 rows.*"
                                         r"\(2, 3\)"):
        nd.ravel_multi_index(A, shape=(2, 3, 4))
    with pytest.raises(MXNetError, match=r"unravel_index: shape \(3, 0\)"):
        nd.unravel_index(nd.array([1]), shape=(3, 0))


# ------------------------------------------------------------------ split_v2
def test_split_v2():
    x = RNG.standard_normal((6, 4))
    parts = nd.split_v2(array(x), 3, axis=0)
    for got, want in zip(parts, np.split(x, 3, axis=0)):
        np.testing.assert_array_equal(got.asnumpy(), want)
    parts = nd.split_v2(array(x), (1, 3), axis=1)
    assert [p.shape for p in parts] == [(6, 1), (6, 2), (6, 1)]
    for got, want in zip(parts, np.split(x, (1, 3), axis=1)):
        np.testing.assert_array_equal(got.asnumpy(), want)
    sq = nd.split_v2(array(x), 4, axis=-1, squeeze_axis=True)
    assert [p.shape for p in sq] == [(6,)] * 4
    np.testing.assert_array_equal(sq[2].asnumpy(), x[:, 2])
    single = nd.split_v2(array(x), 1)
    assert isinstance(single, nd.NDArray) and single.shape == (6, 4)
    jit_matches(lambda a: nd.split_v2(a, (2, 5), axis=0), x)
    grads_ok(lambda a: nd.split_v2(a, (1, 3), axis=1)[1] * 3, x)
    with pytest.raises(ValueError, match="split_v2: array split does not result in an equal"):
        nd.split_v2(array(x), 4, axis=0)
    with pytest.raises(MXNetError, match=r"split_v2: split points \(3, 1\)"):
        nd.split_v2(array(x), (3, 1), axis=0)
    with pytest.raises(MXNetError, match="split_v2: squeeze_axis"):
        nd.split_v2(array(x), 2, axis=0, squeeze_axis=True)


# ------------------------------------------------------------------ histogram
def _uniform_hist_ref(data, cnt, lo, hi):
    """MXNet's ComputeBinKernel, element by element, in float64 / the data's dtype."""
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    i = np.arange(cnt + 1, dtype=np.float64)
    edges = ((hi * i + (cnt - i) * lo) / cnt).astype(data.dtype)
    counts = np.zeros(cnt, np.int64)
    for v in data.reshape(-1):
        if not (float(v) >= lo and float(v) <= hi):
            continue
        t = min(cnt - 1, int((float(v) - lo) * cnt / (hi - lo)))
        t -= 1 if v < edges[t] else 0
        t += 1 if v >= edges[t + 1] and t != cnt - 1 else 0
        counts[t] += 1
    return counts, edges


def test_histogram_uniform_bins():
    data = np.concatenate([RNG.uniform(-1, 3, 200), [0.0, 0.4, 2.0, 3.0, -1.0, np.nan, 9]])
    for dtype in (np.float32, np.float64):
        d = data.astype(dtype)
        for cnt, rng in ((5, (0, 2)), (7, (-1, 3)), (3, (1.0, 1.0)), (10, (0.1, 0.7))):
            counts, edges = nd.histogram(array(d.reshape(-1, 1)), bins=cnt, range=rng)
            ref_c, ref_e = _uniform_hist_ref(d, cnt, *rng)
            assert counts.dtype == np.int64 and edges.dtype == dtype
            np.testing.assert_array_equal(counts.asnumpy(), ref_c)
            np.testing.assert_array_equal(edges.asnumpy(), ref_e)
        jit_matches(lambda a: nd.histogram(a, bins=6, range=(-0.5, 2.5)), d)


def test_histogram_edges_and_numpy_path():
    data = RNG.uniform(0, 10, 300)
    edges = np.array([0.0, 1.0, 2.5, 2.5001, 7.0, 10.0])
    counts, out_edges = nd.histogram(array(data), bins=array(edges))
    np.testing.assert_array_equal(counts.asnumpy(), np.histogram(data, bins=edges)[0])
    np.testing.assert_array_equal(out_edges.asnumpy(), edges)
    jit_matches(lambda a, e: nd.histogram(a, bins=e), data, edges)
    counts, out_edges = nd.histogram(array(data), bins=8)   # numpy's, as float32 (MXNet)
    ref_c, ref_e = np.histogram(data, bins=8)
    assert counts.dtype == np.float32
    np.testing.assert_array_equal(counts.asnumpy(), ref_c)
    np.testing.assert_array_equal(out_edges.asnumpy(), ref_e.astype(np.float32))
    with pytest.raises(MXNetError, match=r"histogram: bins must be a 1-d array .*\(1,\)"):
        nd.histogram(array(data), bins=nd.array([1.0]))
    with pytest.raises(MXNetError, match=r"histogram: left hand side of range"):
        nd.histogram(array(data), bins=3, range=(2, 1))
    with pytest.raises(ValueError, match="histogram: bins argument"):
        nd.histogram(array(data), bins=[1, 2])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8"])
@pytest.mark.parametrize("cfg", [(10,), (0, 10), (5, 100, 4), (50, -50, -2), (1.3, 456.6, 1.3),
                                 (0.5, 7.3, 0.7), (0, 1, 0.1)])
def test_arange_is_mxnets_kernel(dtype, cfg):
    """MXNet's range kernel: start and step cast to the dtype, then start + i * step in it
    (numpy's length); an int arange of step 1.3 counts by 1, one of step 0.7 stays at start."""
    start, stop, step = (0, cfg[0], 1) if len(cfg) == 1 else (cfg + (1,))[:3]
    n = max(0, int(np.ceil((stop - start) / step)))
    dt = np.dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        want = (np.arange(n).astype(dt) * np.array(step).astype(dt)
                + np.array(start).astype(dt)).astype(dt)
    for repeat in (1, 3):
        got = nd.arange(*cfg, repeat=repeat, dtype=dtype).asnumpy()
        assert got.dtype == dt
        np.testing.assert_array_equal(got, np.repeat(want, repeat))


def test_arange_of_ints_with_a_float_step_counts_in_the_dtype():
    np.testing.assert_array_equal(nd.arange(1.3, 456.6, 1.3, dtype="int32").asnumpy(),
                                  np.arange(1, 352))
    np.testing.assert_array_equal(nd.arange(0.5, 7.3, 0.7, dtype="int32").asnumpy(),
                                  np.zeros(10))
    np.testing.assert_array_equal(nd.arange(3, -3, -2, dtype="uint8").asnumpy(),
                                  [3, 1, 255])


def test_tile_refuses_negative_reps_and_zero_outside_np_shape():
    data = nd.arange(16).reshape((4, 4))
    for reps in [(1, 2, -3), (1, 0, 3)]:
        with pytest.raises(MXNetError, match=r"tile: reps must be positive integers"):
            nd.tile(data, reps)
    with mx.np_shape():
        assert nd.tile(data, (1, 0, 3)).shape == (1, 0, 12)
        with pytest.raises(MXNetError, match="non-negative"):
            nd.tile(data, (-1,))
