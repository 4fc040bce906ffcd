"""mx.image.ImageIter and mx.io.ImageRecordIter on small PNG records and files (PNG decodes
exactly, so pixels are compared with numpy)."""
import numpy as np
import pytest
from PIL import Image

import tracegrad as mx
from tracegrad import recordio

N = 5
RNG = np.random.RandomState(3)
IMGS = [RNG.randint(0, 256, (6, 8, 3)).astype(np.uint8) for _ in range(N)]   # RGB, H=6 W=8


@pytest.fixture
def rec(tmp_path):
    rec, idx = str(tmp_path / "d.rec"), str(tmp_path / "d.idx")
    w = recordio.MXIndexedRecordIO(idx, rec, "w")
    for i, img in enumerate(IMGS):
        w.write_idx(i, recordio.pack_img((0, float(i), i, 0), img[:, :, ::-1], img_fmt=".png"))
    w.close()
    return rec, idx


def _center(img, h, w):
    y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return img[y0:y0 + h, x0:x0 + w]


def _epoch(it):
    return [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in it]


def test_imageiter_rec_shapes_labels_and_center_crop(rec):
    it = mx.image.ImageIter(2, (3, 4, 6), path_imgrec=rec[0])
    assert it.provide_data == [("data", (2, 3, 4, 6))]
    assert it.provide_label == [("softmax_label", (2,))]
    batches = _epoch(it)
    assert [b[2] for b in batches] == [0, 0, 1]
    labels = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(labels, [0, 1, 2, 3, 4, 0])
    data = np.concatenate([b[0] for b in batches])
    assert data.dtype == np.float32 and data.shape == (6, 3, 4, 6)
    for k, i in enumerate([0, 1, 2, 3, 4, 0]):
        np.testing.assert_array_equal(data[k], _center(IMGS[i], 4, 6).transpose(2, 0, 1))


def test_imageiter_lst_and_label_width(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    lines = []
    for i, img in enumerate(IMGS):
        Image.fromarray(img).save(root / f"{i}.png")
        lines.append(f"{i}\t{i}\t{10 * i}\t{i}.png")
    (tmp_path / "l.lst").write_text("\n".join(lines) + "\n")
    it = mx.image.ImageIter(5, (3, 6, 8), label_width=2, path_imglist=str(tmp_path / "l.lst"),
                            path_root=str(root))
    assert it.provide_label == [("softmax_label", (5, 2))]
    b = it.next()
    np.testing.assert_array_equal(b.label[0].asnumpy(), [[i, 10 * i] for i in range(N)])
    np.testing.assert_array_equal(b.data[0].asnumpy(),
                                  np.stack(IMGS).transpose(0, 3, 1, 2).astype(np.float32))
    with pytest.raises(StopIteration):
        it.next()
    it.reset()
    assert it.next().label[0].shape == (5, 2)


def test_imageiter_discard_and_roll_over(rec):
    it = mx.image.ImageIter(2, (3, 6, 8), path_imgrec=rec[0], last_batch_handle="discard")
    assert [b[2] for b in _epoch(it)] == [0, 0]
    it.reset()
    assert len(_epoch(it)) == 2
    it = mx.image.ImageIter(2, (3, 6, 8), path_imgrec=rec[0], path_imgidx=rec[1],
                            last_batch_handle="roll_over")
    first = _epoch(it)
    assert [list(b[1]) for b in first] == [[0, 1], [2, 3]]
    it.reset()
    second = _epoch(it)
    # image 4 was kept and heads the next epoch; MXNet still reports pad 1 on that batch
    assert [list(b[1]) for b in second] == [[4, 0], [1, 2], [3, 4]]
    assert second[0][2] == 1


def test_imageiter_shuffle_needs_idx_and_shuffles(rec):
    with pytest.raises(mx.MXNetError, match="path_imgidx"):
        mx.image.ImageIter(2, (3, 6, 8), path_imgrec=rec[0], shuffle=True)
    it = mx.image.ImageIter(5, (3, 6, 8), path_imgrec=rec[0], path_imgidx=rec[1], shuffle=True)
    b = it.next()
    labels = b.label[0].asnumpy()
    assert sorted(labels) == list(range(N))
    for k, lab in enumerate(labels.astype(int)):
        np.testing.assert_array_equal(b.data[0].asnumpy()[k], IMGS[lab].transpose(2, 0, 1))


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(mx.MXNetError, match="does not exist"):
        mx.image.ImageIter(2, (3, 6, 8), path_imgrec=str(tmp_path / "nope.rec"))
    with pytest.raises(mx.MXNetError, match="does not exist"):
        mx.io.ImageRecordIter(path_imgrec=str(tmp_path / "nope.rec"), data_shape=(3, 6, 8),
                              batch_size=2)
    (tmp_path / "l.lst").write_text("0\t1\tmissing.png\n")
    it = mx.image.ImageIter(1, (3, 6, 8), path_imglist=str(tmp_path / "l.lst"),
                            path_root=str(tmp_path))
    with pytest.raises(mx.MXNetError, match="missing.png"):
        it.next()
    with pytest.raises(ValueError, match="3 channels"):
        mx.image.ImageIter(2, (1, 6, 8), path_imgrec=str(tmp_path / "nope.rec"))


def test_imagerecorditer_normalisation(rec):
    mean, std, scale = (10.0, 20.0, 30.0), (2.0, 4.0, 8.0), 0.5
    it = mx.io.ImageRecordIter(path_imgrec=rec[0], data_shape=(3, 4, 6), batch_size=5,
                               mean_r=mean[0], mean_g=mean[1], mean_b=mean[2], std_r=std[0],
                               std_g=std[1], std_b=std[2], scale=scale)
    assert it.provide_data[0].shape == (5, 3, 4, 6)
    assert it.provide_label[0].shape == (5,)
    b = it.next()
    assert b.pad == 0
    np.testing.assert_array_equal(b.label[0].asnumpy(), np.arange(N))
    mult = np.float32(scale) / np.array(std, np.float32)
    for k in range(N):
        want = (_center(IMGS[k], 4, 6).astype(np.float32) - np.array(mean, np.float32)) * mult
        np.testing.assert_allclose(b.data[0].asnumpy()[k], want.transpose(2, 0, 1), rtol=1e-6)


def test_imagerecorditer_mean_img_is_made_saved_read_and_subtracted_before_the_flip(rec,
                                                                                    tmp_path):
    """mean_img (example/stochastic-depth, score.py): a missing file is made from the whole
    file's images as the iterator gives them (mean_r/g/b and scale applied, batches'
    wrapped rows not counted) and saved under the key 'mean_img'; then each image has it
    subtracted pixel by pixel at its unflipped place, and mirror flips the result."""
    path = str(tmp_path / "mean.bin")
    kw = dict(path_imgrec=rec[0], data_shape=(3, 4, 6), batch_size=2, mean_img=path,
              mean_r=1.0, scale=0.5)
    crops = np.stack([_center(img, 4, 6).astype(np.float64) for img in IMGS])
    made = ((crops - np.array([1.0, 0, 0])) * 0.5).mean(0)                  # (H, W, C)
    it = mx.io.ImageRecordIter(**kw)
    saved = mx.nd.load(path)
    assert list(saved) == ["mean_img"] and saved["mean_img"].shape == (3, 4, 6)
    np.testing.assert_allclose(saved["mean_img"].asnumpy(), made.transpose(2, 0, 1), rtol=1e-6)
    got = np.concatenate([b.data[0].asnumpy()[:2 - b.pad] for b in it])
    want = (crops - made) * 0.5
    np.testing.assert_allclose(got, want.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    flipped = mx.io.ImageRecordIter(mirror=True, **kw).next().data[0].asnumpy()
    np.testing.assert_allclose(flipped, want[:2, :, ::-1].transpose(0, 3, 1, 2), rtol=1e-5,
                               atol=1e-5)
    mx.nd.save(path, [mx.nd.zeros((3, 2, 2))])
    with pytest.raises(mx.base.MXNetError, match="mean_img"):
        mx.io.ImageRecordIter(**kw)


def test_imagerecorditer_shuffles_and_splits_a_file_without_an_index(rec):
    """The C++ ImageRecordIter needs no .idx to shuffle or split (data.py passes
    path_imgidx=''); the augmentation options it passes at their no-op defaults warn of
    nothing."""
    import warnings
    kw = dict(path_imgrec=rec[0], path_imgidx='', data_shape=(3, 4, 6), batch_size=5,
              brightness=0, pad=0, fill_value=127, max_random_scale=1, min_crop_size=-1,
              min_aspect_ratio=None, random_resized_crop=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        it = mx.io.ImageRecordIter(shuffle=True, seed=1, **kw)
    orders = []
    for _ in range(3):
        batch = it.next()
        labels = batch.label[0].asnumpy().astype(int)
        assert sorted(labels) == list(range(N))
        for k, i in enumerate(labels):     # each image still carries its own label
            np.testing.assert_array_equal(batch.data[0].asnumpy()[k],
                                          _center(IMGS[i], 4, 6).transpose(2, 0, 1))
        orders.append(tuple(labels))
        it.reset()
    assert len(set(orders)) > 1
    parts = [mx.io.ImageRecordIter(num_parts=2, part_index=p, **dict(kw, batch_size=2))
             for p in (0, 1)]
    got = [tuple(parts[p].next().label[0].asnumpy().astype(int)) for p in (0, 1)]
    assert got == [(0, 1), (2, 3)]
    with pytest.warns(UserWarning, match="brightness"):
        mx.io.ImageRecordIter(**dict(kw, brightness=0.4))


def test_imagerecorditer_mirror_and_seeded_rand_mirror(rec):
    kw = dict(path_imgrec=rec[0], data_shape=(3, 6, 8), batch_size=5)
    plain = mx.io.ImageRecordIter(**kw).next().data[0].asnumpy()
    mirrored = mx.io.ImageRecordIter(mirror=True, **kw).next().data[0].asnumpy()
    np.testing.assert_array_equal(mirrored, plain[:, :, :, ::-1])
    a = mx.io.ImageRecordIter(rand_mirror=True, seed=4, **kw).next().data[0].asnumpy()
    b = mx.io.ImageRecordIter(rand_mirror=True, seed=4, **kw).next().data[0].asnumpy()
    np.testing.assert_array_equal(a, b)
    flipped = [np.array_equal(a[k], plain[k, :, :, ::-1]) for k in range(N)]
    same = [np.array_equal(a[k], plain[k]) for k in range(N)]
    assert all(f or s for f, s in zip(flipped, same))


def test_imagerecorditer_round_batch_and_reset(rec):
    it = mx.io.ImageRecordIter(path_imgrec=rec[0], data_shape=(3, 6, 8), batch_size=2)
    first = _epoch(it)
    assert [list(b[1]) for b in first] == [[0, 1], [2, 3], [4, 0]]
    assert [b[2] for b in first] == [0, 0, 1]
    it.reset()       # as MXNet's C++ iterator: the next epoch begins after the wrapped image
    assert [list(b[1]) for b in _epoch(it)] == [[1, 2], [3, 4]]
    it.reset()
    assert [list(b[1]) for b in _epoch(it)] == [[0, 1], [2, 3], [4, 0]]
    it = mx.io.ImageRecordIter(path_imgrec=rec[0], data_shape=(3, 6, 8), batch_size=2,
                               round_batch=False)
    last = _epoch(it)[-1]
    assert last[2] == 0 and list(last[1]) == [4, 3]      # the stale row keeps image 3


def test_imagerecorditer_resize_rand_crop_gray(rec):
    it = mx.io.ImageRecordIter(path_imgrec=rec[0], data_shape=(1, 3, 3), batch_size=5,
                               resize=3, rand_crop=True, seed=1)
    d = it.next().data[0].asnumpy()
    assert d.shape == (5, 1, 3, 3)
    with pytest.raises(mx.MXNetError, match="smaller than"):
        mx.io.ImageRecordIter(path_imgrec=rec[0], data_shape=(3, 10, 10), batch_size=1).next()
    with pytest.warns(UserWarning, match="max_rotate_angle"):
        mx.io.ImageRecordIter(path_imgrec=rec[0], data_shape=(3, 6, 8), batch_size=1,
                              max_rotate_angle=10)
