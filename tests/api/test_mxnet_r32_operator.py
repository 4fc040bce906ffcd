"""Operator behaviours MXNet 1.9.1's test_operator.py relies on (round 32): the internal
`_backward_gather_nd` operator that test_scatter_gather_nd calls directly, and
nd.contrib.DeformablePSROIPooling (test_deformable_psroipooling)."""
import math

import numpy as np
import pytest
from numeric import central_differences

import tracegrad as mx
from tracegrad import gluon, nd


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "float32", "float64"])
def test_backward_gather_nd_sums_repeated_positions(dtype):
    """MXNet's documented example: positions named twice add up; int64 sums stay exact."""
    data = nd.array([2, 3, 0], dtype=dtype)
    idx = nd.array([[1, 1, 0], [1, 1, 0]], dtype="int32")
    out = nd._internal._backward_gather_nd(data, idx, shape=(2, 2))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.asnumpy(), [[0, 0], [0, 5]])
    if dtype == "int64":
        big = np.array([2123162361283621, -31231236374787, -112372937128970,
                        -1378278798172378], dtype=np.int64)
        got = nd._internal._backward_gather_nd(nd.array(big, dtype=dtype),
                                               nd.array([[0, 0, 0, 0]], dtype="int32"),
                                               shape=(1,))
        assert got.asscalar() == big.sum()


def test_backward_gather_nd_is_gather_nd_gradient():
    """Its result equals the gradient gather_nd gives its data for the same head gradient."""
    x = nd.arange(360).reshape((3, 4, 5, 6))
    idx = nd.array([[1, 1, 2], [3, 3, 0], [3, 2, 1], [5, 2, 4]], dtype="int32")
    x.attach_grad()
    with mx.autograd.record():
        y = nd.gather_nd(x, idx)
    y.backward(y)
    want = np.zeros((3, 4, 5, 6), dtype=np.float32)
    np.add.at(want, tuple(idx.asnumpy().astype(int)), y.asnumpy())
    got = nd._internal._backward_gather_nd(y, idx, shape=x.shape)
    np.testing.assert_array_equal(got.asnumpy(), want)
    np.testing.assert_array_equal(x.grad.asnumpy(), want)


# ------------------------------------------------------------ DeformablePSROIPooling
def _dpsroi_ref(data, rois, trans, scale, od, g, p, part, s, std, no_trans):
    """float64 loops over MXNet 1.9.1's CPU kernel (DeformablePSROIPoolForwardCPU)."""
    n, c, h, w = data.shape
    ncls = 1 if no_trans else trans.shape[1] // 2
    each = od // ncls
    out = np.zeros((rois.shape[0], od, p, p))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = np.round(x1) * scale - 0.5, np.round(y1) * scale - 0.5
        ew, eh = (np.round(x2) + 1) * scale - 0.5, (np.round(y2) + 1) * scale - 0.5
        rw, rh = max(ew - sw, 0.1), max(eh - sh, 0.1)
        bw, bh = rw / p, rh / p
        for k in range(od):
            for ph in range(p):
                for pw in range(p):
                    part_h, part_w = math.floor(ph / p * part), math.floor(pw / p * part)
                    cls = k // each
                    tx = 0.0 if no_trans else trans[r, 2 * cls, part_h, part_w] * std
                    ty = 0.0 if no_trans else trans[r, 2 * cls + 1, part_h, part_w] * std
                    ws, hs = pw * bw + sw + tx * rw, ph * bh + sh + ty * rh
                    gw = min(max(math.floor(pw * g / p), 0), g - 1)
                    gh = min(max(math.floor(ph * g / p), 0), g - 1)
                    img = data[int(b), (k * g + gh) * g + gw]
                    total, count = 0.0, 0
                    for ih in range(s):
                        for iw in range(s):
                            x, y = ws + iw * bw / s, hs + ih * bh / s
                            if x < -0.5 or x > w - 0.5 or y < -0.5 or y > h - 0.5:
                                continue
                            x, y = min(max(x, 0), w - 1), min(max(y, 0), h - 1)
                            xa, xb = math.floor(x), math.ceil(x)
                            ya, yb = math.floor(y), math.ceil(y)
                            dx, dy = x - xa, y - ya
                            total += ((1 - dx) * (1 - dy) * img[ya, xa] + (1 - dx) * dy
                                      * img[yb, xa] + dx * (1 - dy) * img[ya, xb]
                                      + dx * dy * img[yb, xb])
                            count += 1
                    out[r, k, ph, pw] = total / count if count else 0.0
    return out


def _dpsroi_case(seed, n=1, ncls=2, g=2, p=2, part=2, h=10, w=14, scale=0.0625, nroi=3):
    rng = np.random.RandomState(seed)
    data = rng.uniform(-1, 1, (n, ncls * g * g, h, w))
    rois = np.zeros((nroi, 5))
    rois[:, 0] = rng.randint(0, n, nroi)
    rois[:, [1, 3]] = np.sort(rng.uniform(-20, w / scale + 20, (nroi, 2)), axis=1)
    rois[:, [2, 4]] = np.sort(rng.uniform(-20, h / scale + 20, (nroi, 2)), axis=1)
    trans = rng.uniform(-1, 1, (nroi, 2 * ncls, part, part))
    return data, rois, trans


@pytest.mark.parametrize("dcase", [dict(), dict(ncls=3, g=3, p=3, part=3, n=2),
                                  dict(ncls=1, g=2, p=4, part=2, scale=0.5, h=7, w=6)])
@pytest.mark.parametrize("no_trans", [False, True])
def test_deformable_psroipooling_matches_mxnets_kernel(dcase, no_trans):
    data, rois, trans = _dpsroi_case(3, **dcase)
    ncls, g, p = dcase.get("ncls", 2), dcase.get("g", 2), dcase.get("p", 2)
    part, scale = dcase.get("part", 2), dcase.get("scale", 0.0625)
    kw = dict(spatial_scale=scale, output_dim=ncls, group_size=g, pooled_size=p,
              part_size=part, sample_per_part=3, trans_std=0.3, no_trans=no_trans)
    args = [nd.array(data, dtype="float64"), nd.array(rois, dtype="float64")]
    if not no_trans:
        args.append(nd.array(trans, dtype="float64"))
    got = nd.contrib.DeformablePSROIPooling(*args, **kw)
    want = _dpsroi_ref(data, rois, trans, scale, ncls, g, p, part, 3, 0.3, no_trans)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-12, atol=1e-12)


def test_deformable_psroipooling_gradients_and_compiled_agree():
    """d/d data and d/d trans as central differences of MXNet's kernel give them (away from
    the bilinear kinks), and a hybridized block computes what the eager call does."""
    data, rois, trans = _dpsroi_case(5, nroi=2)
    rois[:, 1:] = [[20, 30, 150, 120], [60, 10, 200, 140]]
    kw = dict(spatial_scale=0.0625, output_dim=2, group_size=2, pooled_size=2,
              sample_per_part=2, trans_std=0.1)
    head = np.random.RandomState(1).uniform(-1, 1, (2, 2, 2, 2))
    x, t = nd.array(data, dtype="float64"), nd.array(trans, dtype="float64")
    x.attach_grad()
    t.attach_grad()
    with mx.autograd.record():
        out = nd.contrib.DeformablePSROIPooling(x, nd.array(rois, dtype="float64"), t, **kw)
    out.backward(nd.array(head, dtype="float64"))

    def f():
        return (_dpsroi_ref(data, rois, trans, 0.0625, 2, 2, 2, 2, 2, 0.1, False)
                * head).sum()
    num_x, num_t = central_differences(f, [data, trans])
    np.testing.assert_allclose(x.grad.asnumpy(), num_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(t.grad.asnumpy(), num_t, rtol=1e-5, atol=1e-7)

    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, d, b, tr):
            return F.contrib.DeformablePSROIPooling(d, b, tr, **kw)
    args = [nd.array(data), nd.array(rois), nd.array(trans)]
    eager = Net()(*args).asnumpy()
    net = Net()
    net.hybridize()
    for _ in range(2):
        np.testing.assert_allclose(net(*args).asnumpy(), eager, rtol=1e-5, atol=1e-6)


def test_deformable_psroipooling_bad_input_is_named():
    d, b = nd.ones((1, 8, 5, 5)), nd.array([[0, 0, 0, 4, 4]])
    kw = dict(spatial_scale=1.0, output_dim=2, group_size=2, pooled_size=2)
    with pytest.raises(mx.MXNetError, match="channels"):
        nd.contrib.DeformablePSROIPooling(d, b, nd.zeros((1, 2, 2, 2)),
                                          **dict(kw, output_dim=3))
    with pytest.raises(mx.MXNetError, match=r"trans should have shape \(1, 2 \* num_classes"):
        nd.contrib.DeformablePSROIPooling(d, b, nd.zeros((1, 2, 3, 3)), **kw)
    with pytest.raises(mx.MXNetError, match="needs trans"):
        nd.contrib.DeformablePSROIPooling(d, b, **kw)
    with pytest.raises(mx.MXNetError, match=r"\[batch, 5\]"):
        nd.contrib.DeformablePSROIPooling(d, nd.ones((2, 4)), no_trans=True, **kw)
