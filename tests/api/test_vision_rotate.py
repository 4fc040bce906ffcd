"""Rotate / RandomRotation against a per-pixel port of MXNet's imrotate grid and
BilinearSampler (written as loops here), np.rot90 for quarter turns, and bad inputs."""
import math

import numpy as np
import pytest

from tracegrad import autograd, nd
from tracegrad.gluon.data.vision import transforms as T
from tracegrad.gluon.data.vision.rotate import imrotate


def _ref_rotate(img, degrees, zoom_in=False, zoom_out=False):
    c, h, w = img.shape
    r = math.radians(degrees)
    scale = 1.0
    if zoom_in or zoom_out:
        rho, ang = math.hypot(h, w), math.atan(h / w)
        xs = [abs(rho * math.cos(ang + s * abs(r))) for s in (1, -1)]
        ys = [abs(rho * math.sin(ang + s * abs(r))) for s in (1, -1)]
        scale = max(max(xs) / w, max(ys) / h) if zoom_out else min(w / max(xs), h / max(ys))
    out = np.zeros_like(img, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            gx = ((j - (w - 1) / 2) * math.cos(r) - (i - (h - 1) / 2) * math.sin(r)) \
                / ((w - 1) / 2) * scale
            gy = ((j - (w - 1) / 2) * math.sin(r) + (i - (h - 1) / 2) * math.cos(r)) \
                / ((h - 1) / 2) * scale
            x, y = (gx + 1) * (w - 1) / 2, (gy + 1) * (h - 1) / 2
            x0, y0 = math.floor(x), math.floor(y)
            for yy, xx, wt in ((y0, x0, (1 - (y - y0)) * (1 - (x - x0))),
                               (y0, x0 + 1, (1 - (y - y0)) * (x - x0)),
                               (y0 + 1, x0, (y - y0) * (1 - (x - x0))),
                               (y0 + 1, x0 + 1, (y - y0) * (x - x0))):
                if 0 <= yy < h and 0 <= xx < w:
                    out[:, i, j] += wt * img[:, yy, xx]
    return out


@pytest.mark.parametrize("degrees, zoom_in, zoom_out", [
    (30.0, False, False), (-50.0, True, False), (20.0, False, True), (180.0, False, False)])
def test_rotate_matches_reference(degrees, zoom_in, zoom_out):
    img = np.random.RandomState(0).rand(2, 6, 7).astype(np.float32)
    out = T.Rotate(degrees, zoom_in, zoom_out)(nd.array(img)).asnumpy()
    np.testing.assert_allclose(out, _ref_rotate(img, degrees, zoom_in, zoom_out), rtol=1e-5,
                               atol=1e-5)


def test_quarter_turn_is_rot90_and_batches_take_one_angle_each():
    img = np.arange(3 * 5 * 5).reshape(3, 5, 5).astype(np.float32)
    np.testing.assert_allclose(T.Rotate(90)(img).asnumpy(), np.rot90(img, axes=(1, 2)),
                               atol=1e-4)
    batch = np.stack([img, img + 1])
    out = imrotate(nd.array(batch), nd.array([0, 90]))
    np.testing.assert_allclose(out.asnumpy()[0], img, atol=1e-5)
    np.testing.assert_allclose(out.asnumpy()[1], np.rot90(img + 1, axes=(1, 2)), atol=1e-4)


def test_rotate_gradient_is_the_transposed_sampling():
    img = np.random.RandomState(1).rand(1, 4, 5).astype(np.float32)
    x = nd.array(img)
    x.attach_grad()
    cot = np.random.RandomState(2).rand(1, 4, 5).astype(np.float32)
    with autograd.record():
        y = T.Rotate(25)(x)
    y.backward(nd.array(cot))
    # the sampling as a matrix: column k is the rotation of the k-th unit image
    m = np.stack([_ref_rotate(np.eye(20)[k].reshape(1, 4, 5), 25).reshape(-1)
                  for k in range(20)], axis=1)
    np.testing.assert_allclose(x.grad.asnumpy().reshape(-1), m.T @ cot.reshape(-1), rtol=1e-5,
                               atol=1e-6)


def test_rotating_a_large_image_samples_it_without_a_dense_matrix():
    # (a dense (H*W, H*W) sampling matrix of a 224 x 224 image is 20 GB: MXNet's
    # test_transformer ran out of memory)
    img = np.random.RandomState(4).rand(3, 224, 224).astype(np.float32)
    out = T.Rotate(90)(img).asnumpy()
    np.testing.assert_allclose(out, np.rot90(img, axes=(1, 2)), atol=1e-4)


def test_random_rotation_and_bad_inputs():
    img = np.random.RandomState(3).rand(1, 5, 5).astype(np.float32)
    np.random.seed(0)
    rot = T.RandomRotation((10, 20))
    out = rot(img).asnumpy()
    np.random.seed(0)
    np.random.random()  # the rotate-or-not draw comes first, then the angle
    angle = np.random.uniform(10, 20)
    np.testing.assert_allclose(out, _ref_rotate(img, angle), rtol=1e-5, atol=1e-5)
    never = T.RandomRotation((10, 20), rotate_with_proba=0.0)
    np.testing.assert_array_equal(never(img).asnumpy(), img)
    with pytest.raises(TypeError, match="only supports float32"):
        T.Rotate(10)(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="cannot be both True"):
        T.Rotate(10, zoom_in=True, zoom_out=True)(img)
    with pytest.raises(ValueError, match="ordered tuple"):
        T.RandomRotation((20, 10))
    with pytest.raises(ValueError, match="between 0 and 1"):
        T.RandomRotation((10, 20), rotate_with_proba=1.5)
