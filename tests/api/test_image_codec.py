"""Image decoding and encoding (Pillow standing in for MXNet's OpenCV): mx.image.imdecode /
imread, recordio.pack_img / unpack_img, and the image datasets of gluon.data.vision."""
import io
import warnings

import numpy as np
import pytest
from PIL import Image

import tracegrad as mx
from tracegrad import recordio
from tracegrad.gluon.data.vision import ImageFolderDataset, ImageRecordDataset

RNG = np.random.RandomState(7)
RGB = RNG.randint(0, 256, (6, 9, 3)).astype(np.uint8)


def _encoded(arr, fmt, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def _smooth(h=32, w=40):
    """A smooth RGB image: JPEG keeps it within a few levels."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 6, y * 7, (x + y) * 3], axis=2).astype(np.uint8)


def test_imdecode_png_exact_rgb_bgr_and_gray():
    png = _encoded(RGB, "PNG")
    rgb = mx.image.imdecode(png)
    assert isinstance(rgb, mx.nd.NDArray) and rgb.dtype == np.uint8 and rgb.shape == (6, 9, 3)
    np.testing.assert_array_equal(rgb.asnumpy(), RGB)
    bgr = mx.image.imdecode(png, to_rgb=False)
    np.testing.assert_array_equal(bgr.asnumpy(), RGB[:, :, ::-1])
    gray = mx.image.imdecode(png, flag=0)
    assert gray.shape == (6, 9, 1)
    r, g, b = (RGB[..., i].astype(np.int64) for i in range(3))
    expected = (9797 * r + 19234 * g + 3737 * b) >> 15          # libpng's rgb_to_gray
    np.testing.assert_array_equal(gray.asnumpy()[:, :, 0], expected)


def test_imdecode_buffer_kinds_and_out():
    png = _encoded(RGB, "PNG")
    for buf in (bytearray(png), np.frombuffer(png, np.uint8),
                mx.nd.array(np.frombuffer(png, np.uint8), dtype="uint8")):
        np.testing.assert_array_equal(mx.image.imdecode(buf).asnumpy(), RGB)
    out = mx.nd.zeros((6, 9, 3), dtype="uint8")
    assert mx.image.imdecode(png, out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), RGB)
    with pytest.raises(mx.MXNetError, match="out has shape"):
        mx.image.imdecode(png, out=mx.nd.zeros((2, 2, 3), dtype="uint8"))
    with pytest.raises(ValueError, match="convert to bytes"):
        mx.image.imdecode("not bytes")
    with pytest.raises(mx.MXNetError, match="flag must be"):
        mx.image.imdecode(png, flag=-1)


def test_imdecode_gray_png_and_rgba_png():
    gray = RGB[:, :, 0]
    dec = mx.image.imdecode(_encoded(gray, "PNG"))
    np.testing.assert_array_equal(dec.asnumpy(), np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(mx.image.imdecode(_encoded(gray, "PNG"), 0).asnumpy()[..., 0],
                                  gray)
    rgba = np.concatenate([RGB, np.full((6, 9, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(mx.image.imdecode(_encoded(rgba, "PNG")).asnumpy(), RGB)


def test_imdecode_jpeg_within_tolerance():
    src = _smooth()
    dec = mx.image.imdecode(_encoded(src, "JPEG", quality=95)).asnumpy()
    assert dec.shape == src.shape
    assert np.abs(dec.astype(int) - src).max() <= 8
    gray = mx.image.imdecode(_encoded(src, "JPEG", quality=95), flag=0).asnumpy()[..., 0]
    luma = 0.299 * src[..., 0] + 0.587 * src[..., 1] + 0.114 * src[..., 2]
    assert gray.shape == (32, 40) and np.abs(gray - luma).max() <= 6


def test_imdecode_under_set_np_gives_np_array():
    with mx.util.np_array(True):
        out = mx.image.imdecode(_encoded(RGB, "PNG"))
    assert isinstance(out, mx.np.ndarray)
    np.testing.assert_array_equal(out.asnumpy(), RGB)


def test_imread(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(_encoded(RGB, "PNG"))
    np.testing.assert_array_equal(mx.image.imread(str(path)).asnumpy(), RGB)
    np.testing.assert_array_equal(mx.img.imread(str(path), 1, False).asnumpy(), RGB[:, :, ::-1])
    assert mx.image.imread(str(path), flag=0).shape == (6, 9, 1)
    with pytest.raises(mx.MXNetError, match="missing.jpg.*couldn't open"):
        mx.image.imread(str(tmp_path / "missing.jpg"))


def test_corrupt_images_raise_mxnet_error_naming_the_source(tmp_path):
    png = _encoded(RGB, "PNG")
    with pytest.raises(mx.MXNetError, match="imdecode: decoding failed.*not a valid image"):
        mx.image.imdecode(png[:len(png) // 2])
    with pytest.raises(mx.MXNetError, match="not a JPEG, PNG"):
        mx.image.imdecode(b"definitely not an image")
    with pytest.raises(mx.MXNetError, match="empty"):
        mx.image.imdecode(b"")
    jpg = _encoded(_smooth(), "JPEG")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(jpg[:len(jpg) // 2])
    with pytest.raises(mx.MXNetError, match="bad.jpg"):
        mx.image.imread(str(bad))
    eps = tmp_path / "x.eps"      # a format Pillow would hand to Ghostscript is never opened
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n")
    with pytest.raises(mx.MXNetError, match="not a valid image"):
        mx.image.imread(str(eps))


def test_pack_unpack_img_png_exact_bgr():
    header = recordio.IRHeader(0, 3.0, 11, 0)
    s = recordio.pack_img(header, RGB, img_fmt=".png")       # the array is taken as BGR
    assert s[24:32] == b"\x89PNG\r\n\x1a\n"
    h, img = recordio.unpack_img(s)
    assert h.label == 3.0 and h.id == 11
    assert isinstance(img, np.ndarray) and img.shape == (6, 9, 3)
    np.testing.assert_array_equal(img, RGB)                  # BGR in, BGR out
    # imdecode of the payload turns OpenCV's BGR into RGB
    np.testing.assert_array_equal(mx.image.imdecode(s[24:]).asnumpy(), RGB[:, :, ::-1])
    _, gray = recordio.unpack_img(s, iscolor=0)
    assert gray.shape == (6, 9) and gray.dtype == np.uint8
    _, g = recordio.unpack_img(recordio.pack_img(header, RGB[:, :, 1], img_fmt=".PNG"))
    assert g.shape == (6, 9)
    np.testing.assert_array_equal(g, RGB[:, :, 1])
    _, g3 = recordio.unpack_img(recordio.pack_img(header, RGB[:, :, 1], img_fmt=".png"), 1)
    np.testing.assert_array_equal(g3, np.repeat(RGB[:, :, 1:2], 3, axis=2))


def test_pack_img_jpeg_and_bad_arguments():
    src = _smooth()
    h, img = recordio.unpack_img(recordio.pack_img(recordio.IRHeader(0, [1, 2], 0, 0), src))
    np.testing.assert_array_equal(h.label, [1.0, 2.0])
    assert np.abs(img.astype(int) - src).max() <= 8
    small = recordio.pack_img(recordio.IRHeader(0, 0, 0, 0), src, quality=10)
    large = recordio.pack_img(recordio.IRHeader(0, 0, 0, 0), src, quality=95)
    assert len(small) < len(large)
    with pytest.raises(mx.MXNetError, match="'.gif' is not supported"):
        recordio.pack_img(recordio.IRHeader(0, 0, 0, 0), src, img_fmt=".gif")
    with pytest.raises(mx.MXNetError, match="must be uint8"):
        recordio.pack_img(recordio.IRHeader(0, 0, 0, 0), src.astype(np.float32))
    with pytest.raises(mx.MXNetError, match="shape"):
        recordio.pack_img(recordio.IRHeader(0, 0, 0, 0), np.zeros((2, 2, 2), np.uint8))
    broken = recordio.pack(recordio.IRHeader(0, 0, 5, 0), b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(mx.MXNetError, match="record id 5.*not a valid image"):
        recordio.unpack_img(broken)


def _tree(root):
    """root/cat/{a,b}.png, root/dog/c.png, plus files MXNet skips with a warning."""
    images = {}
    for cls, names in (("dog", ["c.png"]), ("cat", ["b.png", "a.PNG"])):
        (root / cls).mkdir()
        for n, name in enumerate(names):
            arr = np.full((4, 5, 3), 40 * n + (0 if cls == "cat" else 100), np.uint8)
            arr[0, 0] = (1, 2, 3)
            (root / cls / name).write_bytes(_encoded(arr, "PNG"))
            images[str(root / cls / name)] = arr
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "README").write_text("not a folder")
    return images


@pytest.mark.filterwarnings("ignore:Ignoring")
def test_image_folder_dataset(tmp_path):
    images = _tree(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolderDataset(str(tmp_path))
    messages = [str(w.message) for w in caught]
    assert any("README, which is not a directory" in m for m in messages)
    assert any("notes.txt of type .txt" in m for m in messages)
    assert ds.synsets == ["cat", "dog"]
    assert [(f.split("/")[-1], label) for f, label in ds.items] == \
        [("a.PNG", 0), ("b.png", 0), ("c.png", 1)]
    assert len(ds) == 3
    for i, (f, label) in enumerate(ds.items):
        img, lab = ds[i]
        assert lab == label and img.shape == (4, 5, 3)
        np.testing.assert_array_equal(img.asnumpy(), images[f])
    gray = ImageFolderDataset(str(tmp_path), flag=0)
    assert gray[0][0].shape == (4, 5, 1)
    tr = ImageFolderDataset(str(tmp_path),
                            transform=lambda d, l: (d.astype("float32") / 255, l + 10))
    img, lab = tr[2]
    assert lab == 11 and img.dtype == np.float32
    np.testing.assert_allclose(img.asnumpy(), images[ds.items[2][0]] / 255.0, rtol=1e-6)
    loader = mx.gluon.data.DataLoader(ImageFolderDataset(str(tmp_path)), batch_size=3)
    data, label = next(iter(loader))
    assert data.shape == (3, 4, 5, 3) and label.asnumpy().tolist() == [0, 0, 1]


def test_image_folder_dataset_corrupt_file_names_it(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    ds = ImageFolderDataset(str(tmp_path))
    with pytest.raises(mx.MXNetError, match="broken.jpg"):
        ds[0]


def test_image_record_dataset(tmp_path):
    rec, idx = str(tmp_path / "d.rec"), str(tmp_path / "d.idx")
    arrays = [RNG.randint(0, 256, (5, 6, 3)).astype(np.uint8) for _ in range(4)]
    writer = recordio.MXIndexedRecordIO(idx, rec, "w")
    for i, a in enumerate(arrays):
        writer.write_idx(i, recordio.pack_img(recordio.IRHeader(0, float(i % 2), i, 0), a,
                                              img_fmt=".png"))
    writer.write_idx(4, recordio.pack(recordio.IRHeader(0, 1.0, 4, 0), b"not an image"))
    writer.close()
    ds = ImageRecordDataset(rec)
    assert len(ds) == 5
    for i, a in enumerate(arrays):
        img, label = ds[i]
        assert label == float(i % 2)
        np.testing.assert_array_equal(img.asnumpy(), a[:, :, ::-1])   # BGR packed, RGB read
    assert ImageRecordDataset(rec, flag=0)[1][0].shape == (5, 6, 1)
    tr = ImageRecordDataset(rec, transform=lambda d, l: (d.shape, l * 2))
    assert tr[1] == ((5, 6, 3), 2.0)
    with pytest.raises(mx.MXNetError, match="d.rec: record 4.*not a valid image"):
        ds[4]


def test_pillow_is_imported_lazily():
    import subprocess
    import sys
    code = ("import sys; sys.modules['PIL'] = None; import tracegrad as mx\n"
            "mx.image.imresize(mx.nd.zeros((4, 4, 3)), 2, 2)\n"
            "try:\n    mx.image.imdecode(b'x')\nexcept mx.MXNetError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert "pip install pillow" in out.stdout, out.stderr
