"""mx.image.copyMakeBorder (OpenCV's border types by their codes, as MXNet passes `type`
through) and imresize's out=."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def _img():
    return np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3) * 5


def test_each_border_type_on_a_row():
    row = np.array([[[1], [2], [3], [4]]], np.float32)     # 1 x 4 x 1: "abcd"
    want = {0: [9, 9, 1, 2, 3, 4, 9], 1: [1, 1, 1, 2, 3, 4, 4], 2: [2, 1, 1, 2, 3, 4, 4],
            3: [3, 4, 1, 2, 3, 4, 1], 4: [3, 2, 1, 2, 3, 4, 3]}
    for kind, values in want.items():
        got = mx.image.copyMakeBorder(nd.array(row), 0, 0, 2, 1, type=kind, values=[9])
        np.testing.assert_array_equal(got.asnumpy()[0, :, 0], values, err_msg=str(kind))


def test_constant_colours_dtype_shape_and_out():
    img = _img()
    got = mx.image.copyMakeBorder(nd.array(img, dtype="uint8"), 1, 2, 3, 0,
                                  values=[10, 20, 300])
    assert got.dtype == np.uint8 and got.shape == (5, 7, 3)
    np.testing.assert_array_equal(got.asnumpy()[1:3, 3:], img)
    np.testing.assert_array_equal(got.asnumpy()[0, 0], [10, 20, 255])   # (saturated)
    np.testing.assert_array_equal(got.asnumpy()[4, 6], [10, 20, 255])
    by_value = mx.image.copyMakeBorder(nd.array(img, dtype="uint8"), 1, 0, 0, 0, value=7)
    np.testing.assert_array_equal(by_value.asnumpy()[0], np.full((4, 3), 7))
    out = nd.zeros((5, 7, 3), dtype="uint8")
    res = mx.image.copyMakeBorder(nd.array(img, dtype="uint8"), 1, 2, 3, 0, type=1, out=out)
    assert res is out
    np.testing.assert_array_equal(out.asnumpy(), np.pad(img, ((1, 2), (3, 0), (0, 0)),
                                                        mode="edge"))
    with pytest.raises(mx.MXNetError, match="type must be one of"):
        mx.image.copyMakeBorder(nd.array(img), 1, 1, 1, 1, type=5)
    with pytest.raises(mx.MXNetError, match="out has shape"):
        mx.image.copyMakeBorder(nd.array(img), 1, 1, 1, 1, out=nd.zeros((2, 2, 3)))


def test_imresize_into_out():
    img = nd.array(_img(), dtype="uint8")
    out = nd.zeros((3, 5, 3), dtype="uint8")
    assert mx.image.imresize(img, 5, 3, interp=1, out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), mx.image.imresize(img, 5, 3).asnumpy())
