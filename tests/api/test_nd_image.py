"""mx.nd.image: MXNet 1.9.1's image operators as functions, against numpy references, eager
and compiled (F.image inside a hybridized block), with gradients against central
differences."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from numeric import central_differences


@pytest.fixture
def image():
    return np.random.RandomState(0).randint(0, 256, (5, 6, 3)).astype(np.int32)


def test_to_tensor_and_normalize_match_numpy(image):
    t = nd.image.to_tensor(nd.array(image, dtype="int32"))
    np.testing.assert_allclose(t.asnumpy(), image.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert t.dtype == np.float32
    batch = nd.image.to_tensor(nd.array(np.stack([image, image]), dtype="int32"))
    assert batch.shape == (2, 3, 5, 6)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = nd.image.normalize(t, mean, std).asnumpy()
    want = (t.asnumpy() - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(nd.image.normalize(batch, 0.5, 2.0).asnumpy(),
                               (batch.asnumpy() - 0.5) / 2.0, rtol=1e-6)


def test_flips_and_crop_match_numpy(image):
    x = nd.array(image, dtype="int32")
    np.testing.assert_array_equal(nd.image.flip_left_right(x).asnumpy(), image[:, ::-1])
    np.testing.assert_array_equal(nd.image.flip_top_bottom(x).asnumpy(), image[::-1])
    np.testing.assert_array_equal(nd.image.crop(x, 1, 2, 4, 3).asnumpy(), image[2:5, 1:5])
    b = np.stack([image, image + 1])
    np.testing.assert_array_equal(nd.image.crop(nd.array(b, dtype="int32"), 2, 0, 3, 2)
                                  .asnumpy(), b[:, 0:2, 2:5])


def test_resize_follows_the_transform_and_mxnets_sizes(image):
    x = nd.array(image, dtype="int32")
    assert nd.image.resize(x, (4, 3)).shape == (3, 4, 3)           # (width, height)
    assert nd.image.resize(x, 10, keep_ratio=True).shape == (10, 12, 3)   # short side
    f = nd.array(image.astype(np.float32))
    want = gluon.data.vision.transforms.Resize((4, 7), interpolation=2)(f).asnumpy()
    np.testing.assert_array_equal(nd.image.resize(f, (4, 7), interp=2).asnumpy(), want)
    nearest = nd.image.resize(f, (3, 5), interp=0).asnumpy()
    np.testing.assert_array_equal(nearest, image[:, ::2].astype(np.float32))


def test_random_flips_draw_per_call_and_stay_random_hybridized(image):
    mx.random.seed(1)
    x = nd.array(image.astype(np.float32))

    class Flip(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.image.random_flip_left_right(x)
    for net in (Flip(), Flip()):
        flipped = 0
        for i in range(40):
            if i == 1:
                net.hybridize()
            out = net(x).asnumpy()
            if np.array_equal(out, image[:, ::-1]):
                flipped += 1
            else:
                np.testing.assert_array_equal(out, image)
        assert 8 <= flipped <= 32


def test_compiled_agrees_and_gradients_match_central_differences():
    rs = np.random.RandomState(2)
    x64 = rs.rand(2, 4, 5, 3)
    w64 = rs.rand(2, 3, 3, 4)

    def f(x, w):
        t = nd.image.to_tensor(nd.image.flip_top_bottom(nd.image.resize(x, (4, 3))))
        t = nd.image.normalize(t * 255.0, (0.2, 0.4, 0.6), (1.5, 2.0, 0.5))
        return nd.sum(t * w)
    x, w = nd.array(x64, dtype="float64"), nd.array(w64, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = f(x, w)
    y.backward()
    jy = mx.jit(f)(x, w)
    np.testing.assert_allclose(jy.asscalar(), y.asscalar(), rtol=1e-12)
    # (to_tensor computes in float32, as MXNet's does; the function is linear in x, so a
    # large step is exact up to float32 rounding)
    (want,) = central_differences(
        lambda: f(nd.array(x64, dtype="float64"), w).asscalar(), [x64], eps=0.5)
    np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-4, atol=1e-5)


def test_bad_images_are_named(image):
    x = nd.array(image, dtype="int32")
    with pytest.raises(ValueError, match=r"crop: the window .* height 5 and width 6"):
        nd.image.crop(x, 4, 0, 3, 2)
    with pytest.raises(ValueError, match=r"to_tensor: expects an image .* shape \(5, 6\)"):
        nd.image.to_tensor(nd.zeros((5, 6)))
    with pytest.raises(ValueError, match="normalize: mean has 2 values for an input of 3"):
        nd.image.normalize(nd.image.to_tensor(x), (0.1, 0.2))
    with pytest.raises(ValueError, match="normalize: std must be non-zero"):
        nd.image.normalize(nd.image.to_tensor(x), 0.0, 0.0)


def test_sym_image_ops_are_nd_images_with_their_gradient():
    """mx.sym.image.crop(data, x, y, width, height): MXNet's _image_crop node; the cropped
    window's head gradient lands in the window, zeros elsewhere."""
    data = mx.sym.var("data")
    sym = mx.sym.image.crop(data, 2, 1, 1, 2)
    assert sym.list_arguments() == ["data"] and sym.name == "_image_crop0"
    img = np.arange(60, dtype=np.float32).reshape(5, 4, 3)
    ex = sym.bind(mx.cpu(), {"data": nd.array(img)}, args_grad={"data": nd.zeros((5, 4, 3))})
    out = ex.forward(is_train=True)[0].asnumpy()
    np.testing.assert_array_equal(out, img[1:3, 2:3])
    ex.backward(nd.array(out))
    want = np.zeros_like(img)
    want[1:3, 2:3] = out
    np.testing.assert_array_equal(ex.grad_dict["data"].asnumpy(), want)
    flipped = mx.sym.image.flip_left_right(data).eval(data=nd.array(img))[0]
    np.testing.assert_array_equal(flipped.asnumpy(), img[:, ::-1])
