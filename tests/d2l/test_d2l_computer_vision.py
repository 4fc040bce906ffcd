"""d2l.ai chapter 14 (computer vision), MXNet edition, on synthetic images: augmentation with
gluon.data.vision.transforms (transform_first on a dataset), anchor boxes (the book's
multibox_prior from scratch == npx.multibox_prior, box_iou, npx.multibox_target and
npx.multibox_detection on the book's examples), a shrunk TinySSD trained with its multibox
loss, transposed convolution (trans_conv from scratch, Conv2DTranspose with init.Constant, the
bilinear kernel of FCN) and a small FCN, and neural style transfer's gram-matrix optimization
of an image held in a Parameter."""
import numpy as onp

import tracegrad as mx
from tracegrad import autograd, gluon, image, init, np, npx
from tracegrad.gluon import nn
from tracegrad.gluon.data.vision import transforms


def f64(a):
    return a.asnumpy().astype('f8')


# ------------------------------------------------------------------ augmentation
def test_image_augmentation_pipeline():
    mx.random.seed(0)
    rs = onp.random.RandomState(0)
    img = np.array(rs.randint(0, 256, (24, 32, 3)), dtype='uint8')   # HWC, as imread gives
    flipped = [transforms.RandomFlipLeftRight()(img) for _ in range(12)]
    kinds = {('same' if (f.asnumpy() == img.asnumpy()).all() else
              'flip' if (f.asnumpy() == img.asnumpy()[:, ::-1]).all() else 'other')
             for f in flipped}
    assert kinds == {'same', 'flip'}
    shape_aug = transforms.RandomResizedCrop((20, 16), scale=(0.1, 1), ratio=(0.5, 2))
    assert shape_aug(img).shape == (16, 20, 3)
    color_aug = transforms.RandomColorJitter(brightness=0.5, contrast=0.5, saturation=0.5,
                                             hue=0.5)
    out = color_aug(img.astype('float32'))
    assert out.shape == img.shape
    bright = transforms.RandomBrightness(0.5)(img.astype('float32'))
    ratio = f64(bright) / onp.maximum(img.asnumpy().astype('f8'), 1)
    assert 0.5 - 1e-3 <= onp.median(ratio) <= 1.5 + 1e-3
    augs = transforms.Compose([transforms.RandomFlipLeftRight(), shape_aug])
    assert augs(img).shape == (16, 20, 3)

    train_augs = transforms.Compose([transforms.RandomFlipLeftRight(), transforms.ToTensor()])
    test_augs = transforms.Compose([transforms.ToTensor()])
    images = np.array(rs.randint(0, 256, (6, 8, 8, 3)), dtype='uint8')
    labels = np.array(onp.arange(6) % 2, dtype='int32')
    dataset = gluon.data.ArrayDataset(images, labels)
    loader = gluon.data.DataLoader(dataset.transform_first(train_augs), batch_size=4,
                                   shuffle=True)
    X, y = next(iter(loader))
    assert X.shape == (4, 3, 8, 8) and X.dtype == onp.float32 and y.shape == (4,)
    assert 0 <= float(X.min()) and float(X.max()) <= 1
    X, y = next(iter(gluon.data.DataLoader(dataset.transform_first(test_augs), batch_size=6)))
    onp.testing.assert_allclose(f64(X), images.asnumpy().transpose(0, 3, 1, 2) / 255,
                                rtol=1e-6)
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    Z = norm(X[0])
    onp.testing.assert_allclose(f64(Z)[1], (f64(X[0])[1] - 0.456) / 0.224, rtol=1e-5)
    small = image.imresize(images[0], 4, 4)
    assert small.shape == (4, 4, 3)


# ------------------------------------------------------------------ anchor boxes
def multibox_prior(data, sizes, ratios):
    """The book's version of npx.multibox_prior, written with np."""
    in_height, in_width = data.shape[-2:]
    num_sizes, num_ratios = len(sizes), len(ratios)
    boxes_per_pixel = (num_sizes + num_ratios - 1)
    size_tensor = np.array(sizes)
    ratio_tensor = np.array(ratios)
    offset_h, offset_w = 0.5, 0.5
    steps_h = 1.0 / in_height
    steps_w = 1.0 / in_width
    center_h = (np.arange(in_height) + offset_h) * steps_h
    center_w = (np.arange(in_width) + offset_w) * steps_w
    shift_x, shift_y = np.meshgrid(center_w, center_h)
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    w = np.concatenate((size_tensor * np.sqrt(ratio_tensor[0]),
                        sizes[0] * np.sqrt(ratio_tensor[1:]))) * in_height / in_width
    h = np.concatenate((size_tensor / np.sqrt(ratio_tensor[0]),
                        sizes[0] / np.sqrt(ratio_tensor[1:])))
    anchor_manipulations = np.tile(np.stack((-w, -h, w, h)).T, (in_height * in_width, 1)) / 2
    out_grid = np.stack([shift_x, shift_y, shift_x, shift_y],
                        axis=1).repeat(boxes_per_pixel, axis=0)
    output = out_grid + anchor_manipulations
    return np.expand_dims(output, axis=0)


def box_iou(boxes1, boxes2):
    def box_area(boxes):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    areas1 = box_area(boxes1)
    areas2 = box_area(boxes2)
    inter_upperlefts = np.maximum(boxes1[:, None, :2], boxes2[:, :2])
    inter_lowerrights = np.minimum(boxes1[:, None, 2:], boxes2[:, 2:])
    inters = (inter_lowerrights - inter_upperlefts).clip(min=0)
    inter_areas = inters[:, :, 0] * inters[:, :, 1]
    union_areas = areas1[:, None] + areas2 - inter_areas
    return inter_areas / union_areas


def test_anchor_boxes_from_scratch_match_npx_multibox_prior():
    h, w = 12, 16
    X = np.random.uniform(size=(1, 3, h, w))
    Y = npx.multibox_prior(X, sizes=[0.75, 0.5, 0.25], ratios=[1, 2, 0.5])
    assert Y.shape == (1, h * w * 5, 4)
    onp.testing.assert_allclose(f64(multibox_prior(X, [0.75, 0.5, 0.25], [1, 2, 0.5])),
                                f64(Y), rtol=1e-5, atol=1e-6)
    boxes = Y.reshape(h, w, 5, 4)
    # the first anchor at pixel (5, 7): size 0.75, ratio 1, centred on the pixel
    cy, cx = (5 + 0.5) / h, (7 + 0.5) / w
    half_w, half_h = 0.75 * h / w / 2, 0.75 / 2
    onp.testing.assert_allclose(f64(boxes[5, 7, 0, :]),
                                [cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                                rtol=1e-5)


def test_box_iou_from_scratch_and_npx():
    rs = onp.random.RandomState(1)
    a = rs.rand(5, 2) * 0.5
    b = rs.rand(4, 2) * 0.5
    boxes1 = np.array(onp.concatenate([a, a + rs.rand(5, 2) * 0.5], 1))
    boxes2 = np.array(onp.concatenate([b, b + rs.rand(4, 2) * 0.5], 1))
    iou = box_iou(boxes1, boxes2)
    onp.testing.assert_allclose(f64(iou), f64(npx.box_iou(boxes1, boxes2)), rtol=1e-5,
                                atol=1e-7)
    onp.testing.assert_allclose(f64(box_iou(boxes1, boxes1)).diagonal(), onp.ones(5),
                                rtol=1e-6)
    assert float(iou.min()) >= 0 and float(iou.max()) <= 1


GROUND_TRUTH = [[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]]
ANCHORS = [[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
           [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]]


def test_multibox_target_labels_the_books_anchors():
    ground_truth, anchors = np.array(GROUND_TRUTH), np.array(ANCHORS)
    labels = npx.multibox_target(np.expand_dims(anchors, axis=0),
                                 np.expand_dims(ground_truth, axis=0), np.zeros((1, 3, 5)))
    # as the book prints them: classes (+1, 0 = background), masks, offsets
    onp.testing.assert_array_equal(labels[2].asnumpy(), [[0, 1, 2, 0, 2]])
    onp.testing.assert_array_equal(labels[1].asnumpy(),
                                   [[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0,
                                     1, 1, 1, 1]])
    offsets = f64(labels[0]).reshape(5, 4)

    def offset_boxes(anc, assigned_bb, eps=1e-6):   # the book's, in float64
        def center(b):
            return onp.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                              b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
        c_anc, c_bb = center(anc), center(assigned_bb)
        offset_xy = 10 * (c_bb[:, :2] - c_anc[:, :2]) / c_anc[:, 2:]
        offset_wh = 5 * onp.log(eps + c_bb[:, 2:] / c_anc[:, 2:])
        return onp.concatenate([offset_xy, offset_wh], axis=1)

    gt, anc = onp.array(GROUND_TRUTH), onp.array(ANCHORS)
    assigned = [None, 0, 1, None, 1]
    for i, g in enumerate(assigned):
        if g is None:
            onp.testing.assert_array_equal(offsets[i], 0)
        else:
            onp.testing.assert_allclose(offsets[i], offset_boxes(anc[i:i + 1], gt[g:g + 1, 1:])[0],
                                        rtol=1e-3, atol=1e-4)
    onp.testing.assert_allclose(offsets[1], [1.4, 10, 2.59, 7.18], rtol=1e-2, atol=1e-2)


def test_multibox_detection_non_maximum_suppression():
    anchors = np.array([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                        [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]])
    offset_preds = np.array([0] * anchors.size)
    cls_probs = np.array([[0] * 4,                 # background
                          [0.9, 0.8, 0.7, 0.1],    # dog
                          [0.1, 0.2, 0.3, 0.9]])   # cat
    output = npx.multibox_detection(np.expand_dims(cls_probs, axis=0),
                                    np.expand_dims(offset_preds, axis=0),
                                    np.expand_dims(anchors, axis=0), nms_threshold=0.5)
    onp.testing.assert_allclose(f64(output), [[[0, 0.9, 0.1, 0.08, 0.52, 0.92],
                                               [1, 0.9, 0.55, 0.2, 0.9, 0.88],
                                               [-1, 0.8, 0.08, 0.2, 0.56, 0.95],
                                               [-1, 0.7, 0.15, 0.3, 0.62, 0.91]]],
                                rtol=1e-5, atol=1e-6)
    kept = [row for row in output[0].asnumpy() if row[0] != -1]
    assert len(kept) == 2


# ------------------------------------------------------------------ single-shot detection
def cls_predictor(num_anchors, num_classes):
    return nn.Conv2D(num_anchors * (num_classes + 1), kernel_size=3, padding=1)


def bbox_predictor(num_anchors):
    return nn.Conv2D(num_anchors * 4, kernel_size=3, padding=1)


def flatten_pred(pred):
    return npx.batch_flatten(pred.transpose(0, 2, 3, 1))


def concat_preds(preds):
    return np.concatenate([flatten_pred(p) for p in preds], axis=1)


def down_sample_blk(num_channels):
    blk = nn.Sequential()
    for _ in range(2):
        blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1),
                nn.BatchNorm(in_channels=num_channels),
                nn.Activation('relu'))
    blk.add(nn.MaxPool2D(2))
    return blk


def base_net():
    blk = nn.Sequential()
    for num_filters in [4, 8, 8]:
        blk.add(down_sample_blk(num_filters))
    return blk


def get_blk(i):
    if i == 0:
        blk = base_net()
    elif i == 4:
        blk = nn.GlobalMaxPool2D()
    else:
        blk = down_sample_blk(8)
    return blk


def blk_forward(X, blk, size, ratio, cls_predictor, bbox_predictor):
    Y = blk(X)
    anchors = npx.multibox_prior(Y, sizes=size, ratios=ratio)
    cls_preds = cls_predictor(Y)
    bbox_preds = bbox_predictor(Y)
    return (Y, anchors, cls_preds, bbox_preds)


SIZES = [[0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961]]
RATIOS = [[1, 2, 0.5]] * 5
NUM_ANCHORS = len(SIZES[0]) + len(RATIOS[0]) - 1


class TinySSD(nn.Block):
    def __init__(self, num_classes, **kwargs):
        super(TinySSD, self).__init__(**kwargs)
        self.num_classes = num_classes
        for i in range(5):
            setattr(self, f'blk_{i}', get_blk(i))
            setattr(self, f'cls_{i}', cls_predictor(NUM_ANCHORS, num_classes))
            setattr(self, f'bbox_{i}', bbox_predictor(NUM_ANCHORS))

    def forward(self, X):
        anchors, cls_preds, bbox_preds = [None] * 5, [None] * 5, [None] * 5
        for i in range(5):
            X, anchors[i], cls_preds[i], bbox_preds[i] = blk_forward(
                X, getattr(self, f'blk_{i}'), SIZES[i], RATIOS[i],
                getattr(self, f'cls_{i}'), getattr(self, f'bbox_{i}'))
        anchors = np.concatenate(anchors, axis=1)
        cls_preds = concat_preds(cls_preds)
        cls_preds = cls_preds.reshape(cls_preds.shape[0], -1, self.num_classes + 1)
        bbox_preds = concat_preds(bbox_preds)
        return anchors, cls_preds, bbox_preds


def test_ssd_prediction_layer_shapes():
    def forward(x, block):
        block.initialize()
        return block(x)

    Y1 = forward(np.zeros((2, 8, 20, 20)), cls_predictor(5, 10))
    Y2 = forward(np.zeros((2, 16, 10, 10)), cls_predictor(3, 10))
    assert Y1.shape == (2, 55, 20, 20) and Y2.shape == (2, 33, 10, 10)
    assert concat_preds([Y1, Y2]).shape == (2, 25300)
    # flatten_pred puts the channels last: element (n, c, h, w) goes to (h * W + w) * C + c
    onp.testing.assert_array_equal(f64(flatten_pred(Y2)).reshape(2, 10, 10, 33),
                                   f64(Y2).transpose(0, 2, 3, 1))
    assert forward(np.zeros((2, 3, 20, 20)), down_sample_blk(10)).shape == (2, 10, 10, 10)
    assert forward(np.zeros((2, 3, 64, 64)), base_net()).shape == (2, 8, 8, 8)


def test_tiny_ssd_trains_with_the_multibox_loss():
    mx.random.seed(0)
    rs = onp.random.RandomState(0)
    batch_size = 4
    net = TinySSD(num_classes=1)
    net.initialize(init.Xavier())
    X = np.array(rs.rand(batch_size, 3, 64, 64), dtype='float32')
    # one bright square per image, its box the label (class 0)
    Y = onp.zeros((batch_size, 1, 5), dtype='float32')
    for n in range(batch_size):
        x0, y0 = rs.randint(4, 30, 2)
        X[n, :, y0:y0 + 24, x0:x0 + 24] = 1.0
        Y[n, 0] = [0, x0 / 64, y0 / 64, (x0 + 24) / 64, (y0 + 24) / 64]
    Y = np.array(Y)
    anchors, cls_preds, bbox_preds = net(X)
    n_anchors = (64 + 16 + 4 + 1 + 1) * NUM_ANCHORS
    assert anchors.shape == (1, n_anchors, 4)
    assert cls_preds.shape == (batch_size, n_anchors, 2)
    assert bbox_preds.shape == (batch_size, n_anchors * 4)

    cls_loss = gluon.loss.SoftmaxCrossEntropyLoss()
    bbox_loss = gluon.loss.L1Loss()

    def calc_loss(cls_preds, cls_labels, bbox_preds, bbox_labels, bbox_masks):
        cls = cls_loss(cls_preds, cls_labels)
        bbox = bbox_loss(bbox_preds * bbox_masks, bbox_labels * bbox_masks)
        return cls + bbox

    def cls_eval(cls_preds, cls_labels):
        return float((cls_preds.argmax(axis=-1).astype(cls_labels.dtype) == cls_labels).sum())

    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.2, 'wd': 5e-4})
    losses = []
    for _ in range(3):
        with autograd.record():
            anchors, cls_preds, bbox_preds = net(X)
            bbox_labels, bbox_masks, cls_labels = npx.multibox_target(
                anchors, Y, cls_preds.transpose(0, 2, 1))
            l = calc_loss(cls_preds, cls_labels, bbox_preds, bbox_labels, bbox_masks)
        l.backward()
        trainer.step(batch_size)
        losses.append(float(l.mean()))
        acc = cls_eval(cls_preds, cls_labels) / cls_labels.size
    assert bbox_masks.shape == bbox_preds.shape and cls_labels.shape == (batch_size, n_anchors)
    assert float(bbox_masks.sum()) > 0   # some anchors matched the squares
    assert losses[-1] < losses[0], losses
    assert 0 <= acc <= 1
    # prediction: softmax probabilities, offsets and anchors to detections
    cls_probs = npx.softmax(cls_preds).transpose(0, 2, 1)
    output = npx.multibox_detection(cls_probs, bbox_preds, anchors)
    assert output.shape == (batch_size, n_anchors, 6)
    idx = [i for i, row in enumerate(output[0]) if row[0] != -1]
    kept = output[0, idx]
    assert len(idx) > 0 and float(kept[:, 1].min()) >= 0.0


# ------------------------------------------------------------------ transposed convolution
def trans_conv(X, K):
    h, w = K.shape
    Y = np.zeros((X.shape[0] + h - 1, X.shape[1] + w - 1))
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            Y[i: i + h, j: j + w] += X[i, j] * K
    return Y


def bilinear_kernel(in_channels, out_channels, kernel_size):
    factor = (kernel_size + 1) // 2
    if kernel_size % 2 == 1:
        center = factor - 1
    else:
        center = factor - 0.5
    og = (np.arange(kernel_size).reshape(-1, 1), np.arange(kernel_size).reshape(1, -1))
    filt = (1 - np.abs(og[0] - center) / factor) * (1 - np.abs(og[1] - center) / factor)
    weight = np.zeros((in_channels, out_channels, kernel_size, kernel_size))
    weight[range(in_channels), range(out_channels), :, :] = filt
    return np.array(weight)


def test_transposed_convolution():
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    onp.testing.assert_array_equal(trans_conv(X, K).asnumpy(), [[0, 0, 1], [0, 4, 6],
                                                                 [4, 12, 9]])
    X, K = X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2)
    tconv = nn.Conv2DTranspose(1, kernel_size=2)
    tconv.initialize(init.Constant(K))
    onp.testing.assert_array_equal(tconv(X).asnumpy(), [[[[0, 0, 1], [0, 4, 6], [4, 12, 9]]]])
    tconv = nn.Conv2DTranspose(1, kernel_size=2, padding=1)
    tconv.initialize(init.Constant(K))
    onp.testing.assert_array_equal(tconv(X).asnumpy(), [[[[4]]]])
    tconv = nn.Conv2DTranspose(1, kernel_size=2, strides=2)
    tconv.initialize(init.Constant(K))
    onp.testing.assert_array_equal(tconv(X).asnumpy(), [[[[0, 0, 0, 1], [0, 0, 2, 3],
                                                          [0, 2, 0, 3], [4, 6, 6, 9]]]])
    X = np.random.uniform(size=(1, 4, 16, 16))
    conv = nn.Conv2D(6, kernel_size=5, padding=2, strides=3)
    tconv = nn.Conv2DTranspose(4, kernel_size=5, padding=2, strides=3)
    conv.initialize()
    tconv.initialize()
    assert tconv(conv(X)).shape == X.shape

    # the transposed convolution is the matrix product with the convolution's matrix
    # transposed (kernel2matrix of the book)
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[1.0, 2.0], [3.0, 4.0]])

    def kernel2matrix(K):
        k, W = np.zeros(5), np.zeros((4, 9))
        k[:2], k[3:5] = K[0, :], K[1, :]
        W[0, :5], W[1, 1:6], W[2, 3:8], W[3, 4:] = k, k, k, k
        return W

    W = kernel2matrix(K)
    Y = np.dot(W, X.reshape(-1))
    conv = nn.Conv2D(1, kernel_size=2, use_bias=False)
    conv.initialize(init.Constant(K.reshape(1, 1, 2, 2)))
    onp.testing.assert_allclose(f64(conv(X.reshape(1, 1, 3, 3))).reshape(-1), f64(Y),
                                rtol=1e-6)
    Z = trans_conv(Y.reshape(2, 2), K)
    onp.testing.assert_allclose(f64(np.dot(W.T, Y)), f64(Z).reshape(-1), rtol=1e-6)


def test_bilinear_upsampling_and_a_small_fcn():
    W = bilinear_kernel(3, 3, 4)
    conv_trans = nn.Conv2DTranspose(3, kernel_size=4, padding=1, strides=2)
    conv_trans.initialize(init.Constant(W))
    img = np.array(onp.random.RandomState(2).rand(1, 3, 6, 8), dtype='float32')
    Y = conv_trans(img)
    assert Y.shape == (1, 3, 12, 16)
    # a 2x bilinear upsampling: interior pixels interpolate their two nearest inputs
    y, x = f64(Y)[0], f64(img)[0]
    onp.testing.assert_allclose(y[:, 3, 5], 0.75 * (0.75 * x[:, 1, 2] + 0.25 * x[:, 1, 3])
                                + 0.25 * (0.75 * x[:, 2, 2] + 0.25 * x[:, 2, 3]), rtol=1e-5)
    const = conv_trans(np.ones((1, 3, 6, 8)))
    onp.testing.assert_allclose(f64(const)[:, :, 1:-1, 1:-1], 1.0, rtol=1e-6)

    num_classes = 3
    mx.random.seed(3)
    pretrained = nn.HybridSequential()
    pretrained.add(nn.Conv2D(8, kernel_size=3, padding=1, activation='relu'),
                   nn.MaxPool2D(2), nn.Conv2D(8, kernel_size=3, padding=1, activation='relu'),
                   nn.MaxPool2D(2))
    pretrained.initialize(init.Xavier())
    net = nn.HybridSequential()
    for layer in pretrained:
        net.add(layer)
    net.add(nn.Conv2D(num_classes, kernel_size=1),
            nn.Conv2DTranspose(num_classes, kernel_size=8, padding=2, strides=4))
    net[-1].initialize(init.Constant(bilinear_kernel(num_classes, num_classes, 8)))
    net[-2].initialize(init=init.Xavier())
    rs = onp.random.RandomState(3)
    X = np.array(rs.rand(4, 3, 16, 16), dtype='float32')
    labels = np.array((rs.rand(4, 16, 16) * 3).astype('int32'))
    X[:, 0] += labels == 1
    X[:, 1] += labels == 2
    assert net(X).shape == (4, num_classes, 16, 16)
    net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss(axis=1)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'wd': 1e-3})
    losses = []
    for _ in range(3):
        with autograd.record():
            l = loss(net(X), labels)
        l.backward()
        trainer.step(X.shape[0])
        losses.append(float(l.mean()))
    assert l.shape == (4,)
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ neural style transfer
def gram(X):
    num_channels, n = X.shape[1], X.size // X.shape[1]
    X = X.reshape((num_channels, n))
    return np.dot(X, X.T) / (num_channels * n)


def content_loss(Y_hat, Y):
    return np.square(Y_hat - Y).mean()


def style_loss(Y_hat, gram_Y):
    return np.square(gram(Y_hat) - gram_Y).mean()


def tv_loss(Y_hat):
    return 0.5 * (np.abs(Y_hat[:, :, 1:, :] - Y_hat[:, :, :-1, :]).mean() +
                  np.abs(Y_hat[:, :, :, 1:] - Y_hat[:, :, :, :-1]).mean())


class SynthesizedImage(nn.Block):
    def __init__(self, img_shape, **kwargs):
        super(SynthesizedImage, self).__init__(**kwargs)
        self.weight = self.params.get('weight', shape=img_shape)

    def forward(self):
        return self.weight.data()


def test_style_transfer_optimizes_the_image_parameter():
    mx.random.seed(4)
    rs = onp.random.RandomState(4)
    net = nn.Sequential()   # the "pretrained" feature extractor, frozen
    net.add(nn.Conv2D(6, kernel_size=3, padding=1, activation='relu'),
            nn.Conv2D(6, kernel_size=3, padding=1, activation='relu'),
            nn.MaxPool2D(2),
            nn.Conv2D(8, kernel_size=3, padding=1, activation='relu'))
    net.initialize(init.Xavier())
    style_layers, content_layers = [0, 3], [1]
    content_X = np.array(rs.rand(1, 3, 12, 12), dtype='float32')
    style_X = np.array(rs.rand(1, 3, 12, 12) ** 3, dtype='float32')

    def extract_features(X, content_layers, style_layers):
        contents, styles = [], []
        for i in range(len(net)):
            X = net[i](X)
            if i in style_layers:
                styles.append(X)
            if i in content_layers:
                contents.append(X)
        return contents, styles

    content_weight, style_weight, tv_weight = 1, 1e3, 10

    def compute_loss(X, contents_Y_hat, styles_Y_hat, contents_Y, styles_Y_gram):
        contents_l = [content_loss(Y_hat, Y) * content_weight for Y_hat, Y in zip(
            contents_Y_hat, contents_Y)]
        styles_l = [style_loss(Y_hat, Y) * style_weight for Y_hat, Y in zip(
            styles_Y_hat, styles_Y_gram)]
        tv_l = tv_loss(X) * tv_weight
        l = sum(styles_l + contents_l + [tv_l])
        return contents_l, styles_l, tv_l, l

    contents_Y, _ = extract_features(content_X, content_layers, style_layers)
    _, styles_Y = extract_features(style_X, content_layers, style_layers)
    gen_img = SynthesizedImage(content_X.shape)
    gen_img.initialize(init.Constant(content_X), force_reinit=True)
    trainer = gluon.Trainer(gen_img.collect_params(), 'adam', {'learning_rate': 0.05})
    styles_Y_gram = [gram(Y) for Y in styles_Y]
    X = gen_img()
    onp.testing.assert_array_equal(X.asnumpy(), content_X.asnumpy())
    weights_before = [f64(p.data()) for p in net.collect_params().values()]

    def style_of(X):
        return float(sum(compute_loss(X, *extract_features(X, content_layers, style_layers),
                                      contents_Y, styles_Y_gram)[1]))

    before = style_of(X)
    # one epoch of the book's loop (with its learning-rate decay)
    with autograd.record():
        contents_Y_hat, styles_Y_hat = extract_features(X, content_layers, style_layers)
        contents_l, styles_l, tv_l, l = compute_loss(
            X, contents_Y_hat, styles_Y_hat, contents_Y, styles_Y_gram)
    l.backward()
    assert gen_img.weight.grad().shape == content_X.shape
    g = f64(gen_img.weight.grad())
    assert onp.abs(g).sum() > 0
    trainer.step(1)
    trainer.set_learning_rate(trainer.learning_rate * 0.8)
    assert trainer.learning_rate == 0.05 * 0.8
    onp.testing.assert_allclose(float(sum(styles_l)), before, rtol=1e-5)
    # the image Parameter moved by Adam's first step (about lr * sign(grad)) and its style
    # loss fell; the network's weights did not change
    moved = f64(gen_img()) - content_X.asnumpy()
    onp.testing.assert_allclose(moved, -0.05 * g / (onp.abs(g) + 1e-8 / onp.sqrt(1e-3)),
                                rtol=1e-3, atol=1e-6)
    assert style_of(gen_img()) < before
    for w0, p in zip(weights_before, net.collect_params().values()):
        onp.testing.assert_array_equal(f64(p.data()), w0)
    # gram: channel correlations divided by channels x positions
    G = gram(styles_Y[0])
    f = f64(styles_Y[0]).reshape(6, -1)
    onp.testing.assert_allclose(f64(G), f @ f.T / f.size, rtol=1e-5, atol=1e-7)
