"""CIFAR-style augmentation pipelines with the transforms MXNet 1.9.1 added to
gluon.data.vision.transforms: RandomCrop with zero padding (a window of the padded image),
RandomGray (MXNet's matrix: channel j is weight j times R + G + B), HybridCompose and
HybridRandomApply, inside a DataLoader over an ArrayDataset of uint8 images."""
import random

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon.data.vision import transforms as T

RS = np.random.RandomState(2)
IMG = RS.randint(0, 256, (6, 5, 3)).astype(np.uint8)


def _windows(padded, h, w):
    return [padded[y:y + h, x:x + w] for y in range(padded.shape[0] - h + 1)
            for x in range(padded.shape[1] - w + 1)]


def test_random_crop_is_a_window_of_the_padded_image():
    random.seed(0)
    padded = np.pad(IMG, ((2, 2), (2, 2), (0, 0)))
    seen = set()
    for _ in range(20):
        out = T.RandomCrop(4, pad=2)(nd.array(IMG, dtype="uint8"))
        assert out.shape == (4, 4, 3) and out.dtype == np.uint8
        hits = [i for i, win in enumerate(_windows(padded, 4, 4))
                if np.array_equal(win, out.asnumpy())]
        assert hits
        seen.add(hits[0])
    assert len(seen) > 3                                    # the corner is random
    out = T.RandomCrop((3, 2), pad=(1, 0, 0, 2), pad_value=7)(IMG)   # numpy in
    padded = np.pad(IMG, ((1, 0), (0, 2), (0, 0)), constant_values=7)
    assert any(np.array_equal(w, out.asnumpy()) for w in _windows(padded, 2, 3))
    big = T.RandomCrop((8, 9))(IMG)                         # smaller image: resized up
    assert big.shape == (9, 8, 3)
    with pytest.raises(ValueError, match="HWC"):
        T.RandomCrop(2)(nd.ones((2, 3, 4, 4)))


def test_random_gray_uses_mxnets_matrix_and_probability():
    gray = T.RandomGray(p=1.0)(IMG).asnumpy()
    total = IMG.astype(np.float64).sum(-1, keepdims=True)
    np.testing.assert_allclose(gray, total * np.array([0.2989, 0.5870, 0.114]), rtol=1e-5)
    kept = T.RandomGray(p=0.0)(IMG)
    assert kept.dtype == np.float32 and np.array_equal(kept.asnumpy(), IMG)
    mx.random.seed(4)
    flips = [not np.array_equal(T.RandomGray(p=0.5)(IMG).asnumpy(), IMG) for _ in range(40)]
    assert 5 < sum(flips) < 35


def test_hybrid_compose_and_hybrid_random_apply():
    pipe = T.HybridCompose([T.ToTensor(), T.Normalize(0.5, 0.25)])
    np.testing.assert_allclose(pipe(IMG).asnumpy(),
                               (IMG.transpose(2, 0, 1) / 255.0 - 0.5) / 0.25, rtol=1e-5)
    with pytest.raises(ValueError, match="not a HybridBlock"):
        T.HybridCompose([T.RandomCrop(2)])
    x = nd.array(IMG, dtype="float32")
    always = T.HybridRandomApply(T.Cast("float32"), p=1.0)
    np.testing.assert_array_equal(always(x).asnumpy(), IMG)
    flip = T.HybridRandomApply(gluon.nn.HybridLambda(lambda F, t: F.flip(t, axis=1)), p=1.0)
    np.testing.assert_array_equal(flip(x).asnumpy(), IMG[:, ::-1])
    never = T.HybridRandomApply(gluon.nn.HybridLambda(lambda F, t: F.flip(t, axis=1)), p=0.0)
    np.testing.assert_array_equal(never(x).asnumpy(), IMG)


def test_cifar_style_pipeline_in_a_data_loader():
    random.seed(1)
    mx.random.seed(1)
    images = RS.randint(0, 256, (10, 8, 8, 3)).astype(np.uint8)
    train = T.Compose([T.RandomCrop(8, pad=2), T.RandomFlipLeftRight(), T.RandomGray(0.2),
                       T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    ds = gluon.data.ArrayDataset(images, np.arange(10)).transform_first(train)
    batches = list(gluon.data.DataLoader(ds, batch_size=4, shuffle=True))
    assert [b[0].shape for b in batches] == [(4, 3, 8, 8), (4, 3, 8, 8), (2, 3, 8, 8)]
    assert all(b[0].dtype == np.float32 for b in batches)
    assert sorted(np.concatenate([b[1].asnumpy() for b in batches]).tolist()) == list(range(10))
