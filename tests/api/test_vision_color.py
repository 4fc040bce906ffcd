"""Colour jitter transforms: each output is the documented formula for one drawn factor,
the factor stays within its range and varies between calls (also hybridized), and integer
images are the float result saturated to [0, 255] and truncated."""
import colorsys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.gluon.data.vision import transforms as T
from tracegrad.gluon.data.vision.color import _hue

GRAY = np.array([0.299, 0.587, 0.114])


def _img(seed=0):
    return np.random.RandomState(seed).randint(0, 256, (4, 5, 3)).astype(np.float32)


def _solve(out, base, target):
    """The scalar a with out = a * base + (1 - a) * target, checked on every element."""
    d = (base - target).ravel()
    k = np.argmax(np.abs(d))
    a = (out.ravel()[k] - target.ravel()[k]) / d[k]
    np.testing.assert_allclose(out, a * base + (1 - a) * target, rtol=1e-4, atol=1e-2)
    return a


@pytest.mark.parametrize("hybrid", [False, True])
def test_brightness_contrast_saturation_formulas(hybrid):
    x = _img().astype(np.float64)
    mean_gray = (x * GRAY).sum() / (4 * 5)
    gray = (x * GRAY).sum(axis=2, keepdims=True)
    cases = [(T.RandomBrightness(0.3), lambda o: _solve(o, x, np.zeros_like(x))),
             (T.RandomContrast(0.4), lambda o: _solve(o, x, np.full_like(x, mean_gray))),
             (T.RandomSaturation(0.5), lambda o: _solve(o, x, np.broadcast_to(gray, x.shape)))]
    for (block, solve), amount in zip(cases, (0.3, 0.4, 0.5)):
        if hybrid:
            block.hybridize()
        mx.random.seed(1)
        factors = [solve(block(x.astype(np.float32)).asnumpy().astype(np.float64))
                   for _ in range(6)]
        assert all(1 - amount - 1e-5 <= f <= 1 + amount + 1e-5 for f in factors)
        assert len({round(f, 5) for f in factors}) > 1


def test_integer_images_saturate_and_truncate():
    x = _img(1)
    for block in (T.RandomBrightness(0.9), T.RandomContrast(0.9), T.RandomColorJitter(
            0.5, 0.5, 0.5), T.RandomLighting(5.0)):
        for seed in range(3):
            mx.random.seed(seed)
            f = block(nd.array(x)).asnumpy()
            mx.random.seed(seed)
            i = block(x.astype(np.uint8)).asnumpy()
            assert i.dtype == np.uint8     # uint8 in, uint8 out (MXNet's)
            np.testing.assert_array_equal(i, np.floor(np.clip(f, 0, 255)))


def test_lighting_adds_pca_shift():
    x = _img(2)
    eig = np.array([[55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009],
                    [55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140],
                    [55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203]])
    block = T.RandomLighting(0.1)
    block.hybridize()
    mx.random.seed(3)
    alphas = []
    for _ in range(40):
        shift = block(nd.array(x)).asnumpy() - x
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0, 0], x.shape), atol=1e-3)
        alphas.append(np.linalg.solve(eig, shift[0, 0].astype(np.float64)))
    std = np.std(alphas)
    assert 0.06 < std < 0.14  # N(0, 0.1) draws
    gray = np.ones((2, 2, 1), np.float32)
    np.testing.assert_array_equal(block(nd.array(gray)).asnumpy(), gray)


def test_color_jitter_float_matches_composition_and_bad_args():
    x = _img(4)
    mx.random.seed(5)
    out = T.RandomColorJitter(brightness=0.0, contrast=0.0, saturation=0.0)(nd.array(x))
    np.testing.assert_array_equal(out.asnumpy(), x)
    with pytest.raises(ValueError, match="RandomColorJitter: jitter amounts"):
        T.RandomColorJitter(hue=-0.1)
    with pytest.raises(ValueError, match="RandomBrightness.*>= 0"):
        T.RandomBrightness(-0.1)
    with pytest.raises(ValueError, match="HWC"):
        T.RandomContrast(0.1)(nd.zeros((2, 3)))


def _ref_hue(x, alpha):
    out = np.zeros(x.shape)
    for i, j in np.ndindex(x.shape[:2]):
        h, light, sat = colorsys.rgb_to_hls(*(x[i, j].astype(np.float64) / 255.0))
        out[i, j] = np.array(colorsys.hls_to_rgb((h + alpha) % 1.0, light, sat)) * 255.0
    return out


@pytest.mark.parametrize("alpha", [0.1, -0.37, 1.25, 0.0])
def test_hue_rotation_matches_colorsys(alpha):
    x = _img(6)
    x[0, 0], x[0, 1], x[1, 0] = [10, 10, 10], [255, 0, 0], [0, 0, 255]  # grey and pure hues
    out = _hue(nd.array(x), nd.array(np.full((1, 1, 1), alpha, np.float32))).asnumpy()
    np.testing.assert_allclose(out, _ref_hue(x, alpha), atol=2e-3)


@pytest.mark.parametrize("hybrid", [False, True])
def test_random_hue_draws_its_factor_and_saturates_integers(hybrid):
    x = _img(7)
    block = T.RandomHue(0.2)
    if hybrid:
        block.hybridize()
    for seed in range(3):
        mx.random.seed(seed)
        alpha = float(nd.random.uniform(0.8, 1.2, shape=(1, 1, 1)).asscalar())
        mx.random.seed(seed)
        out = block(nd.array(x)).asnumpy()
        np.testing.assert_allclose(out, _ref_hue(x, alpha), atol=2e-2)
        mx.random.seed(seed)
        ints = block(x.astype(np.uint8)).asnumpy()
        np.testing.assert_array_equal(ints, np.floor(np.clip(out, 0, 255)))
    jitter = T.RandomColorJitter(hue=0.3)
    mx.random.seed(4)
    alpha = float(nd.random.uniform(-0.3, 0.3, shape=(1, 1, 1)).asscalar())
    mx.random.seed(4)
    np.testing.assert_allclose(jitter(nd.array(x)).asnumpy(), _ref_hue(x, alpha), atol=2e-2)
