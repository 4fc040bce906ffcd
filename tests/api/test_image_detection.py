"""mx.image's detection API (augmenters that move boxes, ImageDetIter) and imrotate /
random_rotate. Images are PNG, which decodes exactly, so pixels are compared with numpy;
rotations are compared with a float64 bilinear reference written here."""
import random
import warnings

import numpy as np
import pytest
from PIL import Image

import tracegrad as mx
from tracegrad import recordio

H, W = 20, 30
RNG = np.random.RandomState(11)
IMGS = [RNG.randint(0, 256, (H, W, 3)).astype(np.uint8) for _ in range(5)]
# raw labels: header width 2, object width 5, [class, xmin, ymin, xmax, ymax] per object
RAW = [
    [2, 5, 1, .1, .2, .5, .6],
    [2, 5, 0, .2, .2, .4, .4, 3, .5, .5, .9, .8],
    [2, 5, 2, .1, .1, .3, .3, 4, .6, .6, .5, .9, 1, .4, .3, .6, .9],   # 2nd box: xmax < xmin
    [2, 5, 5, .0, .0, .2, .2, 6, .3, .3, .4, .4, 7, .7, .1, .9, .3],
    [2, 5, 9, .25, .25, .75, .75],
]
# the labels as ImageDetIter gives them: boxes of no size dropped, padded with -1 to 3 rows
PARSED = []
for raw in RAW:
    objs = np.array(raw[2:], np.float32).reshape(-1, 5)
    objs = objs[(objs[:, 3] > objs[:, 1]) & (objs[:, 4] > objs[:, 2])]
    PARSED.append(np.vstack([objs, -np.ones((3 - len(objs), 5), np.float32)]))


@pytest.fixture
def rec(tmp_path):
    rec, idx = str(tmp_path / "d.rec"), str(tmp_path / "d.idx")
    w = recordio.MXIndexedRecordIO(idx, rec, "w")
    for i, (img, raw) in enumerate(zip(IMGS, RAW)):
        w.write_idx(i, recordio.pack_img((0, np.array(raw, np.float32), i, 0), img[:, :, ::-1],
                                         img_fmt=".png"))
    w.close()
    return rec, idx


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i, img in enumerate(IMGS):
        Image.fromarray(img).save(root / f"{i}.png")
    return root


def _epoch(it):
    return [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in it]


def _img(i):
    return mx.nd.array(IMGS[i], dtype="uint8")


# ---------------------------------------------------------------- augmenters on labels

def test_flip_mirrors_the_x_coordinates_in_place():
    label = np.array([[1, .1, .2, .5, .6], [2, .3, .0, .9, .4]], np.float32)
    before = label.copy()
    out, new = mx.image.DetHorizontalFlipAug(1)(_img(0), label)
    assert new is label                                     # changed in place, as MXNet's
    np.testing.assert_array_equal(out.asnumpy(), IMGS[0][:, ::-1])
    np.testing.assert_allclose(new[:, 1], 1 - before[:, 3])
    np.testing.assert_allclose(new[:, 3], 1 - before[:, 1])
    np.testing.assert_array_equal(new[:, (0, 2, 4)], before[:, (0, 2, 4)])
    assert np.all(new[:, 3] > new[:, 1])
    out, same = mx.image.DetHorizontalFlipAug(0)(_img(0), before.copy())
    np.testing.assert_array_equal(out.asnumpy(), IMGS[0])
    np.testing.assert_array_equal(same, before)


def test_crop_moves_clips_and_ejects_boxes():
    # binary fractions, so coverages are exact: the rules are strict inequalities
    aug = mx.image.DetRandomCropAug(min_object_covered=0.2, min_eject_coverage=0.3)
    label = np.array([[0, .0625, .0625, .1875, .1875],   # inside the crop (0, 0, 32, 32)
                      [1, .25, .25, .75, .75],          # a quarter of it inside
                      [2, .75, .75, 1., 1.]],           # outside
                     np.float32)
    crop = (0, 0, 32, 32)                               # of a 64x64 image
    out = aug._update_labels(label, crop, 64, 64)
    np.testing.assert_array_equal(out, [[0, .125, .125, .375, .375]])
    aug.min_eject_coverage = 0.25                       # a quarter kept is not more
    np.testing.assert_array_equal(aug._update_labels(label, crop, 64, 64), out)
    aug.min_eject_coverage = 0.2
    np.testing.assert_array_equal(aug._update_labels(label, crop, 64, 64),
                                  [[0, .125, .125, .375, .375], [1, .5, .5, 1, 1]])
    assert aug._update_labels(label[2:], crop, 64, 64) is None
    # every box touched must be covered more than min_object_covered (0.25 for the second)
    assert aug._check_satisfy_constraints(label, 0, 0, 32, 32, 64, 64)
    aug.min_object_covered = 0.25
    assert not aug._check_satisfy_constraints(label, 0, 0, 32, 32, 64, 64)
    assert aug._check_satisfy_constraints(label, 0, 0, 16, 16, 64, 64)    # only the first
    assert not aug._check_satisfy_constraints(label, 0, 0, 3, 3, 64, 64)   # touches none
    aug.min_object_covered = 0                          # any overlap will do, but a crop
    assert aug._check_satisfy_constraints(label, 4, 4, 6, 5, 64, 64)       # of 2 pixels,
    assert not aug._check_satisfy_constraints(label, 4, 4, 5, 5, 64, 64)   # not of 1
    tiny = np.array([[0, 0, 0, 1 / 64, 1 / 64]], np.float32)   # 1 pixel: not counted
    assert not aug._check_satisfy_constraints(tiny, 0, 0, 32, 32, 64, 64)


def test_crop_call_cuts_the_image_where_the_proposal_says():
    aug = mx.image.DetRandomCropAug(min_object_covered=0.1, aspect_ratio_range=(0.5, 2),
                                    area_range=(0.2, 0.6))
    label = np.array([[1, .2, .2, .8, .8]], np.float32)
    for seed in range(5):
        random.seed(seed)
        out, new = aug(_img(1), label.copy())
        random.seed(seed)
        x, y, w, h, expect = aug._random_crop_proposal(label.copy(), H, W)
        assert 0.2 * H * W <= w * h <= 0.6 * H * W
        np.testing.assert_array_equal(out.asnumpy(), IMGS[1][y:y + h, x:x + w])
        np.testing.assert_array_equal(new, expect)
        box = label[0, 1:] * [W, H, W, H]
        ref = (np.clip(box, [x, y, x, y], [x + w, y + h, x + w, y + h]) - [x, y, x, y]) / \
            [w, h, w, h]
        np.testing.assert_allclose(new[0, 1:], ref, atol=1e-6)


def test_crop_gives_up_and_invalid_ranges_disable_it():
    aug = mx.image.DetRandomCropAug(min_object_covered=0.99, area_range=(0.05, 0.1),
                                    max_attempts=5)
    label = np.array([[1, .0, .0, 1., 1.]], np.float32)    # no small crop covers 99% of it
    out, new = aug(_img(0), label)
    assert out.shape == (H, W, 3) and new is label
    with pytest.warns(UserWarning, match="invalid area_range"):
        off = mx.image.DetRandomCropAug(area_range=(0.5, 0.1))
    assert not off.enabled and off._random_crop_proposal(label, H, W) == ()
    assert mx.image.DetRandomCropAug(area_range=0.5).area_range == (0.5, 0.5)


def test_pad_places_the_image_and_shrinks_the_boxes():
    aug = mx.image.DetRandomPadAug(area_range=(1.5, 3.0), pad_val=(1, 2, 3))
    label = np.array([[1, .5, .25, 1., .75]], np.float32)
    np.testing.assert_allclose(aug._update_labels(label, (5, 2, 60, 40), H, W),
                               [[1, 20 / 60, 7 / 40, 35 / 60, 17 / 40]], rtol=1e-6)
    for seed in range(4):
        random.seed(seed)
        out, new = aug(_img(2), label.copy())
        random.seed(seed)
        x, y, w, h, expect = aug._random_pad_proposal(label.copy(), H, W)
        assert h - H >= 2 and w - W >= 2     # (MXNet's sizes only roughly keep the area)
        o = out.asnumpy()
        assert o.shape == (h, w, 3) and o.dtype == np.uint8
        np.testing.assert_array_equal(o[y:y + H, x:x + W], IMGS[2])
        border = np.ones((h, w), bool)
        border[y:y + H, x:x + W] = False
        np.testing.assert_array_equal(o[border], np.tile([1, 2, 3], (border.sum(), 1)))
        np.testing.assert_array_equal(new, expect)
        # the box covers the same pixels of the image as before
        np.testing.assert_allclose(new[0, 1:] * [w, h, w, h] - [x, y, x, y],
                                   label[0, 1:] * [W, H, W, H], atol=1e-4)
    with pytest.warns(UserWarning, match="invalid parameters"):
        off = mx.image.DetRandomPadAug(area_range=(1.0, 1.0))
    out, new = off(_img(2), label)
    assert out.shape == (H, W, 3) and new is label


def test_select_borrow_and_their_errors():
    label = np.array([[1, .1, .2, .5, .6]], np.float32)
    flip = mx.image.DetHorizontalFlipAug(1)
    out, new = mx.image.DetRandomSelectAug([flip], skip_prob=1)(_img(0), label.copy())
    np.testing.assert_array_equal(out.asnumpy(), IMGS[0])
    out, new = mx.image.DetRandomSelectAug(flip, skip_prob=0)(_img(0), label.copy())
    np.testing.assert_array_equal(out.asnumpy(), IMGS[0][:, ::-1])
    both = mx.image.DetRandomSelectAug([flip, mx.image.DetBorrowAug(mx.image.CastAug())])
    random.seed(0)
    kinds = {both(_img(0), label.copy())[0].dtype for _ in range(20)}
    assert kinds == {np.uint8, np.float32}              # each is picked some of the time
    empty = mx.image.DetRandomSelectAug([])
    assert empty.skip_prob == 1
    with pytest.raises(ValueError, match="DetAugmenter"):
        mx.image.DetRandomSelectAug([mx.image.CastAug()])
    with pytest.raises(TypeError, match="invalid Augmenter"):
        mx.image.DetBorrowAug(flip)
    borrow = mx.image.DetBorrowAug(mx.image.CastAug())
    out, new = borrow(_img(0), label)
    assert out.dtype == np.float32 and new is label
    assert borrow.dumps() == ["detborrowaug", mx.image.CastAug().dumps()]


def test_create_det_augmenter_lists_mxnets_augmenters_in_order():
    augs = mx.image.CreateDetAugmenter((3, 30, 40), resize=50, rand_crop=0.7, rand_pad=0.4,
                                       rand_gray=0.1, rand_mirror=True, mean=True, std=True,
                                       brightness=.1, hue=.1, pca_noise=.1,
                                       min_object_covered=[0.1, 0.5, 0.9],
                                       area_range=(0.1, 2.5))
    names = [type(a).__name__ if not isinstance(a, mx.image.DetBorrowAug)
             else type(a.augmenter).__name__ for a in augs]
    assert names == ["ResizeAug", "DetRandomSelectAug", "DetHorizontalFlipAug",
                     "DetRandomSelectAug", "ForceResizeAug", "CastAug", "ColorJitterAug",
                     "HueJitterAug", "LightingAug", "RandomGrayAug", "ColorNormalizeAug"]
    crops, pads = augs[1], augs[3]
    assert abs(crops.skip_prob - 0.3) < 1e-12 and abs(pads.skip_prob - 0.6) < 1e-12
    assert [a.min_object_covered for a in crops.aug_list] == [0.1, 0.5, 0.9]
    assert pads.aug_list[0].area_range == (1.0, 2.5)
    assert augs[4].augmenter.size == (40, 30)
    assert [type(a).__name__ for a in mx.image.CreateDetAugmenter((3, 8, 8))] == \
        ["DetBorrowAug", "DetBorrowAug"]
    with pytest.raises(ValueError, match="mean"):
        mx.image.CreateDetAugmenter((3, 8, 8), mean=[1, 2])
    with pytest.raises(ValueError, match="lengths"):
        mx.image.CreateMultiRandCropAugmenter(min_object_covered=[0.1, 0.2],
                                              max_attempts=[1, 2, 3])


# ---------------------------------------------------------------- ImageDetIter

def test_detiter_rec_shapes_labels_padding(rec):
    it = mx.image.ImageDetIter(2, (3, H, W), path_imgrec=rec[0], path_imgidx=rec[1])
    assert it.label_shape == (3, 5)
    assert it.provide_data == [("data", (2, 3, H, W))]
    assert it.provide_label == [("label", (2, 3, 5))]
    batches = _epoch(it)
    assert [b[2] for b in batches] == [0, 0, 1]
    data = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    order = [0, 1, 2, 3, 4, 0]
    np.testing.assert_array_equal(data, np.stack([IMGS[i] for i in order]).transpose(0, 3, 1, 2))
    np.testing.assert_allclose(labels, np.stack([PARSED[i] for i in order]), rtol=1e-6)
    assert data.dtype == np.float32 and labels.dtype == np.float32
    it.reset()
    first = it.next()
    np.testing.assert_array_equal(first.label[0].asnumpy(), batches[0][1])
    # a file without an index, read in order
    seq = mx.image.ImageDetIter(5, (3, H, W), path_imgrec=rec[0])
    b = seq.next()
    np.testing.assert_allclose(b.label[0].asnumpy(), np.stack(PARSED), rtol=1e-6)


def test_detiter_reshape_and_sync_label_shape(rec, files):
    it = mx.image.ImageDetIter(2, (3, H, W), path_imgrec=rec[0])
    it.reshape(label_shape=(5, 5))
    assert it.provide_label == [("label", (2, 5, 5))] and it.label_shape == (5, 5)
    lab = it.next().label[0].asnumpy()
    assert lab.shape == (2, 5, 5)
    np.testing.assert_allclose(lab[1, :3], PARSED[1], rtol=1e-6)
    assert np.all(lab[1, 3:] == -1) and np.all(lab[0, 1:] == -1)
    with pytest.raises(ValueError, match="reduce"):
        it.reshape(label_shape=(2, 5))
    with pytest.raises(ValueError, match="width"):
        it.reshape(label_shape=(6, 6))
    it.reshape(data_shape=(3, 10, 12))
    assert it.provide_data == [("data", (2, 3, 10, 12))]
    it.reset()
    assert it.next().data[0].shape == (2, 3, 10, 12)
    # the larger label count wins on both sides
    small = mx.image.ImageDetIter(1, (3, H, W), imglist=[RAW[0] + ["0.png"]],
                                  path_root=str(files))
    assert small.label_shape == (1, 5)
    big = mx.image.ImageDetIter(1, (3, H, W), path_imgrec=rec[0])
    assert small.sync_label_shape(big) is big
    assert small.label_shape == big.label_shape == (3, 5)
    lab = small.next().label[0].asnumpy()
    np.testing.assert_allclose(lab[0], PARSED[0], rtol=1e-6)
    with pytest.raises(TypeError):
        small.sync_label_shape(mx.image.ImageIter(1, (3, H, W), path_imgrec=rec[0]))


def test_detiter_imglist_and_lst_with_wider_header_and_objects(tmp_path, files):
    # header width 4 (two extra values), object width 6, and the [label, path] form
    imglist = [[4, 6, 7, 7, 1, .1, .1, .6, .9, 0.5, "0.png"],
               [[2, 6, 2, .2, .3, .4, .5, 1.5, 3, .5, .5, .9, .9, 2.5], "1.png"],
               [2, 6, 4, .0, .0, 1., 1., 3.5, "2.png"]]
    it = mx.image.ImageDetIter(3, (3, H, W), imglist=imglist, path_root=str(files))
    assert it.label_shape == (2, 6)
    b = it.next()
    lab = b.label[0].asnumpy()
    np.testing.assert_allclose(lab[0], [[1, .1, .1, .6, .9, .5], [-1] * 6], rtol=1e-6)
    np.testing.assert_allclose(lab[1], [[2, .2, .3, .4, .5, 1.5], [3, .5, .5, .9, .9, 2.5]],
                               rtol=1e-6)
    np.testing.assert_array_equal(b.data[0].asnumpy(),
                                  np.stack(IMGS[:3]).transpose(0, 3, 1, 2).astype(np.float32))
    lst = tmp_path / "d.lst"
    lst.write_text("".join(f"{i}\t" + "\t".join(str(v) for v in raw) + f"\t{i}.png\n"
                           for i, raw in enumerate(RAW)))
    it = mx.image.ImageDetIter(5, (3, H, W), path_imglist=str(lst), path_root=str(files))
    b = it.next()
    np.testing.assert_allclose(b.label[0].asnumpy(), np.stack(PARSED), rtol=1e-6)
    np.testing.assert_array_equal(b.data[0].asnumpy(),
                                  np.stack(IMGS).transpose(0, 3, 1, 2).astype(np.float32))


def test_detiter_skips_images_without_a_valid_box_and_rejects_malformed_labels(files):
    imglist = [RAW[0] + ["0.png"], [2, 5, -1, .1, .1, .5, .5, "1.png"], RAW[4] + ["4.png"]]
    it = mx.image.ImageDetIter(2, (3, H, W), imglist=imglist, path_root=str(files))
    b = it.next()
    assert b.pad == 0
    np.testing.assert_array_equal(b.data[0].asnumpy()[1], IMGS[4].transpose(2, 0, 1))
    np.testing.assert_allclose(b.label[0].asnumpy()[1, 0], RAW[4][2:], rtol=1e-6)
    for bad in ([2, 5, 1, .1, .1, .5, .5, 7, "0.png"],     # 6 values after a header of 2
                [2, 5, 1, .5, .1, .4, .5, "0.png"],        # no box with a size
                [2, 5, 1, .1, "0.png"]):                   # too short
        with pytest.raises(RuntimeError):
            mx.image.ImageDetIter(1, (3, H, W), imglist=[bad], path_root=str(files))
    # an augmenter's RuntimeError skips the image; an op's MXNetError is raised
    class Refuse(mx.image.DetAugmenter):
        def __init__(self, error):
            super().__init__()
            self.error, self.calls = error, 0

        def __call__(self, src, label):
            self.calls += 1
            if self.calls == 1:
                raise self.error("no")
            return src, label

    it = mx.image.ImageDetIter(1, (3, H, W), imglist=imglist[:1] + [RAW[3] + ["3.png"]],
                               path_root=str(files), aug_list=[Refuse(RuntimeError)])
    np.testing.assert_array_equal(it.next().data[0].asnumpy()[0], IMGS[3].transpose(2, 0, 1))
    it = mx.image.ImageDetIter(1, (3, H, W), imglist=imglist[:1], path_root=str(files),
                               aug_list=[Refuse(mx.base.MXNetError)])
    with pytest.raises(mx.base.MXNetError, match="no"):
        it.next()
    # one image, batches of 3: the padded batch repeats it once, the last row stays empty
    one = mx.image.ImageDetIter(3, (3, H, W), imglist=imglist[:1], path_root=str(files))
    b = one.next()
    assert b.pad == 2
    lab, data = b.label[0].asnumpy(), b.data[0].asnumpy()
    np.testing.assert_allclose(lab[:2, 0], [RAW[0][2:]] * 2, rtol=1e-6)
    assert np.all(lab[2] == -1) and np.all(data[2] == 0)
    empty = mx.image.ImageDetIter(2, (3, H, W), imglist=[], path_root=str(files))
    assert empty.label_shape == (0, 5)
    with pytest.raises(StopIteration):
        empty.next()


def test_detiter_mirror_keeps_boxes_on_their_pixels(rec):
    random.seed(3)
    it = mx.image.ImageDetIter(5, (3, H, W), path_imgrec=rec[0], rand_mirror=True)
    flips = 0
    for _ in range(3):
        it.reset()
        b = it.next()
        data, lab = b.data[0].asnumpy(), b.label[0].asnumpy()
        for k in range(5):
            img = IMGS[k].transpose(2, 0, 1).astype(np.float32)
            mirrored = PARSED[k].copy()
            ok = mirrored[:, 0] >= 0
            mirrored[ok, 1], mirrored[ok, 3] = 1 - PARSED[k][ok, 3], 1 - PARSED[k][ok, 1]
            if np.array_equal(data[k], img):
                np.testing.assert_allclose(lab[k], PARSED[k], rtol=1e-6)
            else:
                np.testing.assert_array_equal(data[k], img[:, :, ::-1])
                np.testing.assert_allclose(lab[k], mirrored, rtol=1e-6, atol=1e-7)
                flips += 1
    assert 0 < flips < 15


def test_detiter_is_deterministic_under_a_seed(rec):
    def run(seed):
        random.seed(seed)
        np.random.seed(seed)
        it = mx.image.ImageDetIter(2, (3, 16, 16), path_imgrec=rec[0], path_imgidx=rec[1],
                                   shuffle=True, rand_crop=1, rand_pad=0.5, rand_mirror=True,
                                   min_object_covered=[0.1, 0.5], area_range=(0.2, 2.0),
                                   brightness=0.2, pca_noise=0.1)
        first = _epoch(it)
        it.reset()
        return first + _epoch(it)

    a, b, c = run(5), run(5), run(6)
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c))
    for data, lab, _ in a:
        assert data.shape == (2, 3, 16, 16) and lab.shape == (2, 3, 5)
        boxes = lab[lab[:, :, 0] >= 0]
        assert len(boxes) and np.all((boxes[:, 1:] >= 0) & (boxes[:, 1:] <= 1))
        assert np.all(boxes[:, 3] > boxes[:, 1]) and np.all(boxes[:, 4] > boxes[:, 2])
        assert np.all(lab[lab[:, :, 0] < 0] == -1)


def test_detiter_last_batch_handles(rec):
    it = mx.image.ImageDetIter(2, (3, H, W), path_imgrec=rec[0], path_imgidx=rec[1],
                               last_batch_handle="discard")
    assert [b[2] for b in _epoch(it)] == [0, 0]
    it = mx.image.ImageDetIter(2, (3, H, W), path_imgrec=rec[0], path_imgidx=rec[1],
                               last_batch_handle="roll_over")
    assert len(_epoch(it)) == 2
    it.reset()
    first = it.next()                     # image 4 rolled over, then images 0
    np.testing.assert_allclose(first.label[0].asnumpy(), np.stack([PARSED[4], PARSED[0]]),
                               rtol=1e-6)


def test_draw_next_draws_boxes_in_bgr(rec):
    it = mx.image.ImageDetIter(1, (3, H, W), path_imgrec=rec[0])
    img = next(it.draw_next(color=(255, 0, 0), thickness=1))
    assert img.dtype == np.uint8 and img.shape == (H, W, 3)
    x1, y1, x2, y2 = (int(np.float32(v) * s) for v, s in zip(RAW[0][3:], (W, H, W, H)))
    np.testing.assert_array_equal(img[y1, x1:x2 + 1], np.tile([0, 0, 255], (x2 - x1 + 1, 1)))
    np.testing.assert_array_equal(img[y1:y2 + 1, x2], np.tile([0, 0, 255], (y2 - y1 + 1, 1)))
    np.testing.assert_array_equal(img[y1 + 1:y2, x1 + 1:x2], IMGS[0][y1 + 1:y2, x1 + 1:x2, ::-1])
    np.testing.assert_array_equal(img[:y1], IMGS[0][:y1, :, ::-1])
    assert len(list(it.draw_next())) == 4                       # the rest of the epoch


def test_module_paths():
    assert mx.image.image is mx.image and mx.img.image.imread is mx.image.imread
    assert mx.image.detection.ImageDetIter is mx.image.det.ImageDetIter is mx.image.ImageDetIter
    for name in ("ImageDetIter", "CreateDetAugmenter", "imrotate", "random_rotate"):
        assert name in mx.image.__all__
    with pytest.raises(mx.base.MXNetError):
        mx.img.image.imread("/no/such/dir/blah.jpg")


# ---------------------------------------------------------------- imrotate

def _ref_rotate(img, degrees, scale=1.0):
    """float64 rotation of CHW img: bilinear from the four neighbours, 0 outside."""
    c, h, w = img.shape
    a = np.deg2rad(degrees)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    i, j = np.mgrid[0:h, 0:w].astype(np.float64)
    x = cx + scale * ((j - cx) * np.cos(a) - (i - cy) * np.sin(a))
    y = cy + scale * ((j - cx) * np.sin(a) + (i - cy) * np.cos(a))
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    out = np.zeros((c, h, w))
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            wgt = (1 - np.abs(y - yy)) * (1 - np.abs(x - xx))
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            vals = img[:, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            out += np.where(inside, vals * wgt, 0)
    return out


def _zoom_scale(h, w, degrees, zoom_out):
    """MXNet's zoom: the extents of the rotated corners against the image's sides."""
    a, rho, phi = abs(np.deg2rad(degrees)), np.hypot(h, w), np.arctan(h / w)
    ext_x = max(abs(rho * np.cos(phi + a)), abs(rho * np.cos(phi - a)))
    ext_y = max(abs(rho * np.sin(phi + a)), abs(rho * np.sin(phi - a)))
    return max(ext_x / w, ext_y / h) if zoom_out else min(w / ext_x, h / ext_y)


def test_imrotate_quarter_and_half_turns():
    img = np.random.RandomState(0).rand(2, 6, 6).astype(np.float32)
    out = mx.image.imrotate(mx.nd.array(img), 90).asnumpy()
    np.testing.assert_allclose(out, np.rot90(img, 1, axes=(1, 2)), atol=1e-5)
    out = mx.image.imrotate(mx.nd.array(img), -90).asnumpy()
    np.testing.assert_allclose(out, np.rot90(img, -1, axes=(1, 2)), atol=1e-5)
    wide = np.random.RandomState(1).rand(3, 5, 8).astype(np.float32)
    out = mx.image.imrotate(mx.nd.array(wide), 180).asnumpy()
    np.testing.assert_allclose(out, wide[:, ::-1, ::-1], atol=1e-5)
    np.testing.assert_allclose(mx.image.imrotate(mx.nd.array(wide), 0).asnumpy(), wide,
                               atol=1e-6)


def test_imrotate_general_angles_match_bilinear_reference():
    imgs = np.random.RandomState(2).rand(3, 2, 7, 9).astype(np.float32)
    angles = [33.0, -71.5, 200.0]
    out = mx.image.imrotate(mx.nd.array(imgs), mx.nd.array(angles)).asnumpy()
    assert out.shape == imgs.shape and out.dtype == np.float32
    for k, deg in enumerate(angles):
        np.testing.assert_allclose(out[k], _ref_rotate(imgs[k].astype(np.float64), deg),
                                   atol=2e-5)
    # a scalar angle rotates every image of a batch; a single CHW image gives CHW
    out = mx.image.imrotate(mx.nd.array(imgs), 33).asnumpy()
    for k in range(3):
        np.testing.assert_allclose(out[k], _ref_rotate(imgs[k].astype(np.float64), 33),
                                   atol=2e-5)
    single = mx.image.imrotate(mx.nd.array(imgs[1]), -71.5).asnumpy()
    np.testing.assert_allclose(single, _ref_rotate(imgs[1].astype(np.float64), -71.5),
                               atol=2e-5)


def test_imrotate_zoom():
    img = np.random.RandomState(3).rand(1, 1, 10, 16).astype(np.float32)
    for deg in (30, -50, 90):
        for zoom_out in (False, True):
            s = _zoom_scale(10, 16, deg, zoom_out)
            out = mx.image.imrotate(mx.nd.array(img), deg, zoom_in=not zoom_out,
                                    zoom_out=zoom_out).asnumpy()
            np.testing.assert_allclose(out[0], _ref_rotate(img[0].astype(np.float64), deg, s),
                                       atol=2e-5)
    assert abs(_zoom_scale(10, 16, 90, True) - 1.6) < 1e-12        # W / H for a quarter turn
    assert abs(_zoom_scale(10, 16, 90, False) - 0.625) < 1e-12
    # zoom_in leaves no empty corner; zoom_out keeps the image's corners in view
    ones = mx.nd.ones((1, 1, 30, 40))
    assert mx.image.imrotate(ones, 30, zoom_in=True).asnumpy().min() > 0.9
    assert mx.image.imrotate(ones, 30).asnumpy().min() == 0
    marks = np.zeros((1, 1, 30, 40), np.float32)
    for ys, xs in ((slice(0, 3), slice(0, 3)), (slice(0, 3), slice(37, 40)),
                   (slice(27, 30), slice(0, 3)), (slice(27, 30), slice(37, 40))):
        marks[0, 0, ys, xs] = 1
    kept = mx.image.imrotate(mx.nd.array(marks), 30, zoom_out=True).asnumpy()[0, 0]
    cut = mx.image.imrotate(mx.nd.array(marks), 30).asnumpy()[0, 0]
    assert kept.sum() > 0.9 * marks.sum() / _zoom_scale(30, 40, 30, True) ** 2
    assert cut.sum() < 0.75 * marks.sum()


def test_imrotate_errors():
    img = mx.nd.ones((3, 6, 8))
    batch = mx.nd.ones((2, 3, 6, 8))
    with pytest.raises(ValueError, match="cannot be both"):
        mx.image.imrotate(img, 10, zoom_in=True, zoom_out=True)
    with pytest.raises(TypeError, match="float32"):
        mx.image.imrotate(img.astype("float64"), 10)
    with pytest.raises(TypeError, match="float32"):
        mx.image.imrotate(np.ones((3, 6, 8), np.float32), 10)
    with pytest.raises(TypeError, match="scalar"):
        mx.image.imrotate(img, mx.nd.array([1, 2]))
    with pytest.raises(ValueError, match="3D and 4D"):
        mx.image.imrotate(mx.nd.ones((6, 8)), 10)
    with pytest.raises(ValueError, match="number of rotation angles"):
        mx.image.imrotate(batch, mx.nd.array([1, 2, 3]))
    with pytest.raises(ValueError, match="at least 2x2"):
        mx.image.imrotate(mx.nd.ones((3, 1, 8)), 10)


def test_imrotate_gradient_and_np_arrays():
    x = mx.nd.array(np.random.RandomState(4).rand(1, 2, 5, 7).astype(np.float32))
    x.attach_grad()
    with mx.autograd.record():
        y = mx.image.imrotate(x, 180)
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), np.ones((1, 2, 5, 7)), atol=1e-5)
    out = mx.image.imrotate(mx.np.array(x.asnumpy()[0]), 90)
    assert isinstance(out, mx.np.ndarray) and out.shape == (2, 5, 7)


def test_random_rotate_draws_with_numpy():
    img = np.random.RandomState(5).rand(3, 8, 10).astype(np.float32)
    np.random.seed(9)
    out = mx.image.random_rotate(mx.nd.array(img), (-20, 20)).asnumpy()
    np.random.seed(9)
    deg = np.random.uniform(-20, 20)
    np.testing.assert_allclose(out, _ref_rotate(img.astype(np.float64), deg), atol=2e-5)
    batch = np.stack([img, img[:, ::-1]])
    np.random.seed(10)
    out = mx.image.random_rotate(mx.nd.array(batch), (-5, 5), zoom_in=True).asnumpy()
    np.random.seed(10)
    degs = np.random.uniform(-5, 5, size=2)
    assert out.shape == (2, 3, 8, 10) and degs[0] != degs[1]
    for k in range(2):
        s = _zoom_scale(8, 10, degs[k], False)
        np.testing.assert_allclose(out[k], _ref_rotate(batch[k].astype(np.float64), degs[k], s),
                                   atol=2e-5)


def test_pad_aug_warns_nothing_for_valid_settings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mx.image.DetRandomPadAug()
        mx.image.DetRandomCropAug()
