"""mx.image's augmenters as ImageIter-style programs use them on decoded HWC images:
CreateAugmenter's list for each flag combination, and each augmenter's arithmetic against a
float64 numpy statement of MXNet 1.9.1's (the random factor replayed from Python's `random`
with the same seed), the in-place update of float images, and dumps()."""
import json
import random

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

RS = np.random.RandomState(8)
IMG = RS.randint(0, 256, (10, 12, 3)).astype(np.uint8)
GRAY = np.array([0.299, 0.587, 0.114])


def _float_img():
    return nd.array(IMG, dtype="float32")


def test_create_augmenter_lists_the_steps_in_mxnets_order():
    names = lambda augs: [type(a).__name__ for a in augs]
    assert names(mx.image.CreateAugmenter((3, 4, 4))) == ["CenterCropAug", "CastAug"]
    augs = mx.image.CreateAugmenter((3, 4, 5), resize=6, rand_crop=True, rand_resize=True,
                                    rand_mirror=True, mean=True, std=True, brightness=0.1,
                                    contrast=0.1, saturation=0.1, hue=0.1, pca_noise=0.1,
                                    rand_gray=0.2)
    assert names(augs) == ["ResizeAug", "RandomSizedCropAug", "HorizontalFlipAug", "CastAug",
                           "ColorJitterAug", "HueJitterAug", "LightingAug", "RandomGrayAug",
                           "ColorNormalizeAug"]
    assert augs[1].size == (5, 4) and len(augs[4].ts) == 3
    np.testing.assert_allclose(augs[-1].mean.asnumpy(), [123.68, 116.28, 103.53], rtol=1e-6)
    random.seed(0)
    np.random.seed(0)
    x = nd.array(IMG, dtype="uint8")
    for aug in augs:
        x = aug(x)
    assert x.shape == (4, 5, 3) and x.dtype == np.float32
    assert names(mx.image.CreateAugmenter((3, 4, 4), rand_crop=True)) == \
        ["RandomCropAug", "CastAug"]
    with pytest.raises(ValueError, match="rand_resize needs rand_crop"):
        mx.image.CreateAugmenter((3, 4, 4), rand_resize=True)
    assert json.loads(augs[0].dumps()) == ["resizeaug", {"size": 6, "interp": 2}]


def test_colour_jitters_follow_mxnets_formulas_in_place():
    src = IMG.astype(np.float64)
    random.seed(3)
    alpha = 1.0 + random.uniform(-0.4, 0.4)
    random.seed(3)
    x = _float_img()
    out = mx.image.BrightnessJitterAug(0.4)(x)
    assert out is x                                         # updated in place
    np.testing.assert_allclose(out.asnumpy(), src * alpha, rtol=1e-5)

    random.seed(4)
    alpha = 1.0 + random.uniform(-0.4, 0.4)
    random.seed(4)
    out = mx.image.ContrastJitterAug(0.4)(_float_img()).asnumpy()
    mean_gray = 3.0 * (1.0 - alpha) / src.size * (src * GRAY).sum()
    np.testing.assert_allclose(out, src * alpha + mean_gray, rtol=1e-5)

    random.seed(5)
    alpha = 1.0 + random.uniform(-0.4, 0.4)
    random.seed(5)
    out = mx.image.SaturationJitterAug(0.4)(_float_img()).asnumpy()
    gray = (src * GRAY).sum(2, keepdims=True) * (1.0 - alpha)
    np.testing.assert_allclose(out, src * alpha + gray, rtol=1e-5, atol=1e-4)


def test_hue_lighting_gray_flip_normalize_and_crops():
    src = IMG.astype(np.float64)
    random.seed(6)
    alpha = random.uniform(-0.3, 0.3)
    random.seed(6)
    out = mx.image.HueJitterAug(0.3)(_float_img()).asnumpy()
    aug = mx.image.HueJitterAug(0.3)
    u, w = np.cos(alpha * np.pi), np.sin(alpha * np.pi)
    bt = np.array([[1.0, 0.0, 0.0], [0.0, u, -w], [0.0, w, u]])
    np.testing.assert_allclose(out, src @ (aug.ityiq @ bt @ aug.tyiq).T, rtol=1e-4, atol=1e-3)

    eigval, eigvec = np.array([55.46, 4.794, 1.148]), RS.randn(3, 3)
    np.random.seed(7)
    noise = np.dot(eigvec * np.random.normal(0, 0.1, size=(3,)), eigval)
    np.random.seed(7)
    out = mx.image.LightingAug(0.1, eigval, eigvec)(_float_img()).asnumpy()
    np.testing.assert_allclose(out, src + noise, rtol=1e-5, atol=1e-4)

    gray = mx.image.RandomGrayAug(1.0)(_float_img()).asnumpy()
    np.testing.assert_allclose(gray, (src @ [0.21, 0.72, 0.07])[..., None].repeat(3, -1),
                               rtol=1e-5)
    np.testing.assert_array_equal(mx.image.HorizontalFlipAug(1.0)(_float_img()).asnumpy(),
                                  src[:, ::-1])
    np.testing.assert_array_equal(mx.image.HorizontalFlipAug(0.0)(_float_img()).asnumpy(), src)
    norm = mx.image.ColorNormalizeAug([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])(_float_img())
    np.testing.assert_allclose(norm.asnumpy(), (src - [1, 2, 3]) / 2, rtol=1e-6)
    assert mx.image.ForceResizeAug((5, 7))(nd.array(IMG, dtype="uint8")).shape == (7, 5, 3)
    assert mx.image.ResizeAug(5)(nd.array(IMG, dtype="uint8")).shape == (5, 6, 3)
    np.testing.assert_array_equal(mx.image.CenterCropAug((4, 6))(nd.array(IMG, dtype="uint8"))
                                  .asnumpy(), IMG[2:8, 4:8])
    random.seed(2)
    crop = mx.image.RandomCropAug((4, 6))(nd.array(IMG, dtype="uint8")).asnumpy()
    assert any(np.array_equal(crop, IMG[y:y + 6, x:x + 4]) for y in range(5) for x in range(9))
    random.seed(2)
    sized = mx.image.RandomSizedCropAug((4, 4), 0.3, (0.75, 1.33))(nd.array(IMG, dtype="uint8"))
    assert sized.shape == (4, 4, 3)
    seq = mx.image.SequentialAug([mx.image.CastAug(), mx.image.HorizontalFlipAug(1.0)])
    np.testing.assert_array_equal(seq(nd.array(IMG, dtype="uint8")).asnumpy(), src[:, ::-1])
