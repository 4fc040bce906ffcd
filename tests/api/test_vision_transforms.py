"""gluon.data.vision: transforms against numpy references (cv::resize's bilinear and nearest
rules written out here), hybridized against eager, the datasets' file formats, and a small
training loop fed through transform_first, a BatchSampler and a hybridized conv net."""
import gzip
import math
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError, MXNetValueError
from tracegrad.gluon.data import ArrayDataset, BatchSampler, DataLoader, RandomSampler
from tracegrad.gluon.data.vision import transforms as T

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402


def _image(shape, seed=0):
    return np.random.RandomState(seed).randint(0, 256, shape).astype(np.uint8)


def _ref_resize(img, out_h, out_w, nearest=False):
    """Per-pixel cv::resize in float64: the source coordinates of each output pixel."""
    h, w = img.shape[:2]
    out = np.zeros((out_h, out_w) + img.shape[2:])
    for i in range(out_h):
        for j in range(out_w):
            if nearest:
                out[i, j] = img[min(int(i * h / out_h), h - 1), min(int(j * w / out_w), w - 1)]
                continue
            acc = 0.0
            for (a, wa) in _taps((i + 0.5) * h / out_h - 0.5, h):
                for (b, wb) in _taps((j + 0.5) * w / out_w - 0.5, w):
                    acc = acc + wa * wb * img[a, b].astype(np.float64)
            out[i, j] = acc
    return out


def _taps(pos, n):
    lo = math.floor(pos)
    if lo < 0:
        return [(0, 1.0)]
    if lo >= n - 1:
        return [(n - 1, 1.0)]
    return [(lo, 1 - (pos - lo)), (lo + 1, pos - lo)]


def test_to_tensor_hwc_and_nhwc():
    img = _image((5, 4, 3))
    out = T.ToTensor()(img)
    assert out.dtype == np.float32 and out.shape == (3, 5, 4)
    np.testing.assert_allclose(out.asnumpy(), img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    batch = _image((2, 5, 4, 3), 1)
    np.testing.assert_allclose(T.ToTensor()(nd.array(batch.astype(np.int32))).asnumpy(),
                               batch.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)
    with pytest.raises(MXNetValueError, match="ToTensor.*shape"):
        T.ToTensor()(np.zeros((4, 4), np.uint8))
    with pytest.raises(MXNetError, match=r"ToTensor.*\(1, 2, 4, 4, 3\)"):
        T.ToTensor()(np.zeros((1, 2, 4, 4, 3), np.uint8))


def test_normalize_per_channel_and_scalar():
    x = np.random.RandomState(2).rand(3, 4, 2).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 2.0, 4.0)
    want = (x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(nd.array(x)).asnumpy(), want, rtol=1e-5)
    np.testing.assert_allclose(T.Normalize(0.5, 2.0)(nd.array(x[None])).asnumpy(),
                               (x[None] - 0.5) / 2.0, rtol=1e-6)
    ints = _image((3, 2, 2))
    out = T.Normalize(0.5, 2.0)(ints)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.asnumpy(), (ints - 0.5) / 2.0, rtol=1e-6)
    assert T.Normalize(mean, std)(nd.array(x, dtype="float64")).dtype == np.float64
    with pytest.raises(MXNetValueError, match="Normalize: mean has 2 values .* 3 channels"):
        T.Normalize((0.1, 0.2), 1.0)(nd.array(x))
    with pytest.raises(MXNetError, match=r"Normalize.*\(1, 1, 3, 4, 2\)"):
        T.Normalize(mean, std)(nd.array(x[None, None]))


def test_resize_bilinear_hand_case():
    row = np.array([[[0.0], [100.0]]], np.float32)  # 1x2x1
    out = T.Resize((4, 1))(nd.array(row)).asnumpy()
    # cv::resize: source x = (j + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped at the ends
    np.testing.assert_allclose(out[0, :, 0], [0.0, 25.0, 75.0, 100.0])
    near = T.Resize((2, 1), interpolation=0)(nd.array(np.array([[[1.], [2.], [3.], [4.]]],
                                                                np.float32))).asnumpy()
    np.testing.assert_allclose(near[0, :, 0], [1.0, 3.0])


@pytest.mark.parametrize("interp", [0, 1])
@pytest.mark.parametrize("out_wh", [(3, 4), (9, 7), (5, 5)])
def test_resize_against_reference(interp, out_wh):
    img = _image((5, 6, 3), 3)
    out = T.Resize(out_wh, interpolation=interp)(img)
    assert out.shape == (out_wh[1], out_wh[0], 3)
    want = np.round(_ref_resize(img, out_wh[1], out_wh[0], nearest=interp == 0))
    np.testing.assert_allclose(out.asnumpy(), want, atol=1.0 if interp else 0.0)
    assert np.abs(out.asnumpy() - want).mean() < 0.1  # rounding ties only
    f = img.astype(np.float32)
    np.testing.assert_allclose(T.Resize(out_wh, interpolation=interp)(nd.array(f)).asnumpy(),
                               _ref_resize(f, out_wh[1], out_wh[0], interp == 0), rtol=1e-5,
                               atol=1e-3)


def test_resize_keep_ratio_sizes_and_batches():
    img = _image((5, 7, 3))
    assert T.Resize(3, keep_ratio=True)(img).shape == (3, 7 * 3 // 5, 3)
    assert T.Resize(3, keep_ratio=True)(img.transpose(1, 0, 2)).shape == (7 * 3 // 5, 3, 3)
    assert T.Resize(3)(img).shape == (3, 3, 3)
    batch = _image((2, 5, 7, 3), 4)
    out = T.Resize((4, 6))(batch).asnumpy()
    for k in range(2):
        np.testing.assert_array_equal(out[k], T.Resize((4, 6))(batch[k]).asnumpy())
    # as MXNet's, a bad size or interpolation is refused when the transform is called (an
    # MXNetError, which is a ValueError too)
    for bad, message in ((T.Resize(4, interpolation=5), "interpolation 5"),
                         (T.Resize((0, 3)), "Resize: size"), (T.Resize(-150, True), "size"),
                         (T.Resize((100, 100, 100)), "Resize: size")):
        with pytest.raises(MXNetError, match=message):
            bad(img)
        assert issubclass(MXNetValueError, ValueError)


def test_hybridized_chain_matches_eager():
    img = nd.array(np.random.RandomState(5).rand(6, 5, 3).astype(np.float32) * 255)
    def chain():
        net = gluon.nn.HybridSequential()
        net.add(T.Resize((4, 3)), T.ToTensor(), T.Normalize((0.4, 0.5, 0.6), (0.2, 0.3, 0.4)))
        return net
    eager, hybrid = chain(), chain()
    hybrid.hybridize()
    for _ in range(2):
        np.testing.assert_allclose(hybrid(img).asnumpy(), eager(img).asnumpy(), rtol=1e-5,
                                   atol=1e-6)


def test_resize_gradient_matches_finite_differences():
    def fn(x):
        return T.resize(x, 5, 2, 1) * 1.5
    x = np.random.RandomState(6).rand(3, 4, 2)
    fx = mx.make_ir(fn)(nd.array(x, dtype="float64"))
    # the interpolation matrices are captured constants: parameters after x
    mats = [T.interpolation_matrix(3, 2, 1), T.interpolation_matrix(4, 5, 1)]
    assert [p.type.shape for p in fx.params[1:]] == [(2, 3), (5, 4)]
    check_grads(fx, [x] + mats, order=2, rtol=1e-5)


def test_center_crop_and_random_resized_crop():
    img = _image((6, 8, 3))
    np.testing.assert_array_equal(T.CenterCrop((4, 2))(img).asnumpy(), img[2:4, 2:6])
    small = _image((3, 3, 3), 1)  # smaller than the crop: resized up
    np.testing.assert_array_equal(T.CenterCrop(4)(small).asnumpy(),
                                  T.Resize(4)(small).asnumpy())
    square = _image((6, 6, 3), 2)  # full area, ratio 1: the whole image, resized
    out = T.RandomResizedCrop(4, scale=(1.0, 1.0), ratio=(1.0, 1.0))(square)
    np.testing.assert_array_equal(out.asnumpy(), T.Resize(4)(square).asnumpy())
    for _ in range(5):
        assert T.RandomResizedCrop((5, 3))(img).shape == (3, 5, 3)


@pytest.mark.parametrize("cls, axis", [(T.RandomFlipLeftRight, 1), (T.RandomFlipTopBottom, 0)])
@pytest.mark.parametrize("hybrid", [False, True])
def test_random_flips(cls, axis, hybrid):
    img = _image((3, 4, 2)).astype(np.int32)
    flip = cls()
    if hybrid:
        flip.hybridize()
    mx.random.seed(0)
    seen = set()
    for _ in range(16):
        out = flip(img).asnumpy()
        if np.array_equal(out, img):
            seen.add("same")
        else:
            np.testing.assert_array_equal(out, np.flip(img, axis))
            seen.add("flipped")
    assert seen == {"same", "flipped"}


def test_cast_and_compose_grouping():
    assert T.Cast()(nd.array([1, 2], dtype="int32")).dtype == np.float32
    comp = T.Compose([T.Resize(4), T.CenterCrop(3), T.ToTensor(), T.Normalize(0.5, 0.25)])
    kinds = [type(c).__name__ for c in comp._children.values()]
    assert kinds == ["Resize", "CenterCrop", "HybridSequential"]
    img = _image((6, 5, 3))
    want = (T.CenterCrop(3)(T.Resize(4)(img)).asnumpy().transpose(2, 0, 1) / 255.0 - 0.5) / 0.25
    np.testing.assert_allclose(comp(img).asnumpy(), want, rtol=1e-5, atol=1e-6)


def _write_idx(path, magic, arr):
    header = np.array([magic] + list(arr.shape), dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_reads_idx_files(tmp_path):
    images, labels = _image((3, 28, 28)), np.array([7, 0, 9], np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", 2051, images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", 2049, labels)
    ds = gluon.data.vision.MNIST(root=str(tmp_path), train=False)
    assert len(ds) == 3
    img, label = ds[2]
    assert img.shape == (28, 28, 1) and label == 9 and label.dtype == np.int32
    assert img.dtype == np.uint8                  # MXNet's: the file's uint8 pixels
    np.testing.assert_array_equal(img.asnumpy()[..., 0], images[2])
    fashion = gluon.data.vision.FashionMNIST(
        root=str(tmp_path), train=False, transform=lambda d, l: (d.astype("int32") * 2, l + 1))
    assert fashion[0][1] == 8 and fashion[0][0].asnumpy().max() == 2 * int(images[0].max())
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", 2049, labels[:2])  # 2 labels, 3 images
    with pytest.raises(ValueError, match="t10k-images.*dimensions"):
        gluon.data.vision.MNIST(root=str(tmp_path), train=False)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*https://.*mnist"):
        gluon.data.vision.MNIST(root=str(tmp_path))


def test_cifar_reads_binary_records(tmp_path):
    rs = np.random.RandomState(7)
    pixels = rs.randint(0, 256, (5, 2, 3072)).astype(np.uint8)
    for i in range(5):
        recs = np.concatenate([np.array([[i], [9 - i]], np.uint8), pixels[i]], axis=1)
        (tmp_path / f"data_batch_{i + 1}.bin").write_bytes(recs.tobytes())
    ds = gluon.data.vision.CIFAR10(root=str(tmp_path))
    assert len(ds) == 10 and [int(ds[k][1]) for k in (0, 1, 8)] == [0, 9, 4]
    np.testing.assert_array_equal(ds[3][0].asnumpy(),
                                  pixels[1, 1].reshape(3, 32, 32).transpose(1, 2, 0))
    with pytest.raises(FileNotFoundError, match="test_batch.bin.*cifar-10-binary.tar.gz"):
        gluon.data.vision.CIFAR10(root=str(tmp_path), train=False)
    (tmp_path / "test_batch.bin").write_bytes(b"\0" * 3000)
    with pytest.raises(ValueError, match="3073-byte CIFAR records"):
        gluon.data.vision.CIFAR10(root=str(tmp_path), train=False)
    rec = np.concatenate([[3, 42], pixels[0, 0]]).astype(np.uint8)
    (tmp_path / "train.bin").write_bytes(rec.tobytes())
    assert gluon.data.vision.CIFAR100(root=str(tmp_path))[0][1] == 3
    assert gluon.data.vision.CIFAR100(root=str(tmp_path), fine_label=True)[0][1] == 42


def test_end_to_end_transform_first_batch_sampler_conv_net():
    rs = np.random.RandomState(8)
    n = 10
    images = rs.randint(0, 256, (n, 8, 8, 3)).astype(np.uint8)
    labels = (images.reshape(n, -1).mean(1) > 127).astype(np.float32)
    ds = ArrayDataset(images, labels).transform_first(
        T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))]))
    loader = DataLoader(ds, batch_sampler=BatchSampler(RandomSampler(n), 4, "discard"))
    assert len(loader) == 2
    mx.random.seed(1)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, activation="relu"), gluon.nn.GlobalAvgPool2D(),
            gluon.nn.Dense(2))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    net(nd.zeros((1, 3, 8, 8)))
    before = net[0].weight.data().asnumpy().copy()
    steps, losses = 0, []
    while steps < 3:
        for data, label in loader:
            assert data.shape == (4, 3, 8, 8) and data.dtype == np.float32
            with autograd.record():
                loss = loss_fn(net(data), label)
            loss.backward()
            trainer.step(4)
            losses.append(float(loss.mean().asscalar()))
            steps += 1
    assert all(np.isfinite(losses)) and len(losses) >= 3
    w = net[0].weight.data().asnumpy()
    assert np.all(np.isfinite(w)) and not np.allclose(w, before)


def test_crop_resize_and_random_apply():
    img = np.arange(5 * 6 * 3).reshape(5, 6, 3).astype(np.float32)
    np.testing.assert_array_equal(T.CropResize(1, 2, 3, 2)(img).asnumpy(), img[2:4, 1:4])
    batch = np.stack([img, img + 1])
    out = T.CropResize(1, 2, 3, 2, size=(4, 3))(batch).asnumpy()
    assert out.shape == (2, 3, 4, 3)
    np.testing.assert_allclose(out[1], _ref_resize(img[2:4, 1:4] + 1, 3, 4), rtol=1e-5)
    hybrid = T.CropResize(0, 1, 4, 3, size=5)
    hybrid.hybridize()
    np.testing.assert_allclose(hybrid(img).asnumpy(), _ref_resize(img[1:4, 0:4], 5, 5),
                               rtol=1e-5)
    # MXNet's image ops refuse these when called: MXNetErrors (ValueErrors too)
    for bad in (T.CropResize(4, 0, 3, 2), T.CropResize(0, 0, -3, -2)):
        with pytest.raises(MXNetValueError, match="does not fit"):
            bad(img)
    with pytest.raises(MXNetError, match=r"CropResize: size .* got \(-2, 2\)"):
        T.CropResize(0, 0, 3, 2, size=(-2, 2))(img)
    import random
    random.seed(0)
    apply = T.RandomApply(T.Cast("float64"), p=0.5)
    kinds = {np.dtype(apply(img).dtype).name for _ in range(20)}
    assert kinds == {"float32", "float64"}
    assert {np.dtype(T.RandomApply(T.Cast("float64"), p=1.0)(img).dtype).name
            for _ in range(5)} == {"float64"}


def _keys(d, a=-0.75):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a if d < 2 else 0.0


def _ref_bicubic(img, out_h, out_w):
    """Keys' cubic kernel (a = -0.75) over the 4x4 neighbours, borders replicated."""
    h, w = img.shape[:2]
    out = np.zeros((out_h, out_w) + img.shape[2:])
    for i in range(out_h):
        y = (i + 0.5) * h / out_h - 0.5
        for j in range(out_w):
            x = (j + 0.5) * w / out_w - 0.5
            for a in range(math.floor(y) - 1, math.floor(y) + 3):
                for b in range(math.floor(x) - 1, math.floor(x) + 3):
                    out[i, j] += _keys(y - a) * _keys(x - b) * \
                        img[min(max(a, 0), h - 1), min(max(b, 0), w - 1)]
    return out


@pytest.mark.parametrize("out_wh", [(9, 7), (3, 2), (6, 5)])
def test_resize_bicubic_against_keys_kernel(out_wh):
    img = _image((5, 6, 3), 9)
    f = T.Resize(out_wh, interpolation=2)(nd.array(img.astype(np.float32))).asnumpy()
    want = _ref_bicubic(img.astype(np.float64), out_wh[1], out_wh[0])
    np.testing.assert_allclose(f, want, rtol=1e-5, atol=1e-3)
    ints = T.Resize(out_wh, interpolation=2)(img).asnumpy()
    np.testing.assert_allclose(ints, np.clip(np.round(want), 0, 255), atol=1.0)
    assert ints.min() >= 0 and ints.max() <= 255


def _ref_area_shrink(img, out_h, out_w):
    """INTER_AREA when no axis grows, per output pixel in float64: the mean of the source
    area [i, i + 1) * in/out by [j, j + 1) * in/out, partly covered pixels in proportion."""
    h, w = img.shape[:2]
    sy, sx = h / out_h, w / out_w
    out = np.zeros((out_h, out_w) + img.shape[2:])
    for i in range(out_h):
        for j in range(out_w):
            for a in range(h):
                cy = max(0.0, min(a + 1, (i + 1) * sy) - max(a, i * sy))
                for b in range(w):
                    cx = max(0.0, min(b + 1, (j + 1) * sx) - max(b, j * sx))
                    out[i, j] += cy * cx * img[a, b] / (sy * sx)
    return out


def _ref_lanczos4(img, out_h, out_w):
    """INTER_LANCZOS4 per output pixel: sinc(d) sinc(d / 4) over the 8 x 8 source pixels
    around (i + 0.5) * in/out - 0.5 (a float32, as cv::resize computes it), each axis'
    weights normalized to 1, border replicated."""
    h, w = img.shape[:2]

    def taps(pos, n):
        pos = float(np.float32(pos))
        lo = math.floor(pos)
        idx = [lo - 3 + k for k in range(8)]
        wts = np.array([np.sinc(pos - t) * np.sinc((pos - t) / 4) for t in idx])
        return [min(max(t, 0), n - 1) for t in idx], wts / wts.sum()

    out = np.zeros((out_h, out_w) + img.shape[2:])
    for i in range(out_h):
        ys, wy = taps((i + 0.5) * h / out_h - 0.5, h)
        for j in range(out_w):
            xs, wx = taps((j + 0.5) * w / out_w - 0.5, w)
            for a, va in zip(ys, wy):
                for b, vb in zip(xs, wx):
                    out[i, j] += va * vb * img[a, b]
    return out


@pytest.mark.parametrize("out_wh", [(4, 3), (3, 2), (6, 5), (2, 5)])
def test_resize_area_and_lanczos_against_their_definitions(out_wh):
    """MXNet's interp 3 (INTER_AREA) and 4 (INTER_LANCZOS4), which its random resize
    (inter_method=10) draws: shrinking by area means, Lanczos by windowed sinc."""
    img = _image((5, 6, 3), 11)
    f = img.astype(np.float64)
    got = T.Resize(out_wh, interpolation=4)(nd.array(f, dtype="float64")).asnumpy()
    np.testing.assert_allclose(got, _ref_lanczos4(f, out_wh[1], out_wh[0]), rtol=1e-9,
                               atol=1e-7)
    ints = T.Resize(out_wh, interpolation=4)(img).asnumpy()
    assert ints.min() >= 0 and ints.max() <= 255
    np.testing.assert_allclose(ints, np.clip(np.round(got), 0, 255), atol=1.0)
    area = T.Resize(out_wh, interpolation=3)(nd.array(f, dtype="float64")).asnumpy()
    if out_wh[0] <= 6 and out_wh[1] <= 5:
        np.testing.assert_allclose(area, _ref_area_shrink(f, out_wh[1], out_wh[0]),
                                   rtol=1e-9, atol=1e-7)
        np.testing.assert_allclose(area.mean(axis=(0, 1)), f.mean(axis=(0, 1)), rtol=1e-9)
    else:   # (an axis grows: OpenCV blends two pixels with its area weights)
        assert area.min() >= f.min() - 1e-9 and area.max() <= f.max() + 1e-9


def test_area_upscale_weights_and_random_interpolation_resizes():
    """Growing with INTER_AREA: OpenCV's weights fx = (i + 1) - (sx + 1) * out/in, sx =
    floor(i * in/out), reduced to their fraction; a doubled row repeats its pixels, a tripled
    one blends at the seams. imresize and inter_method=10's draws (0-4) all resize."""
    row = np.array([[[0.0], [90.0]]])
    grow = T.Resize((4, 1), interpolation=3)(nd.array(row)).asnumpy()[0, :, 0]
    np.testing.assert_allclose(grow, [0.0, 0.0, 90.0, 90.0])
    grow = T.Resize((6, 1), interpolation=3)(nd.array(row)).asnumpy()[0, :, 0]
    np.testing.assert_allclose(grow, [0.0, 0.0, 0.0, 90.0, 90.0, 90.0])
    three = np.array([[[0.0], [30.0], [60.0]]])
    got = T.Resize((5, 1), interpolation=3)(nd.array(three, dtype="float64")).asnumpy()[0, :, 0]
    want = []
    for i in range(5):
        sx = math.floor(i * 3 / 5)
        fx = float(np.float32((i + 1) - (sx + 1) * 5 / 3))     # (cv::resize's float)
        fx = 0.0 if fx <= 0 else fx - math.floor(fx)
        want.append(three[0, sx, 0] * (1 - fx) + three[0, min(sx + 1, 2), 0] * fx)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    img = _image((12, 10, 3), 4)
    for interp in (3, 4, 10):
        assert mx.image.imresize(nd.array(img, dtype="uint8"), 7, 5, interp=interp).shape == \
            (5, 7, 3)
    with pytest.raises(mx.MXNetError, match="Unknown interp method 7"):
        mx.image.imresize(nd.array(img, dtype="uint8"), 7, 5, interp=7)
