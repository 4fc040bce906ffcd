"""MXNet 1.9.1's test_contrib_operator.py reaches the contrib operators through the
`mx.contrib` package: `mx.contrib.nd.box_nms(...)` eagerly and `mx.contrib.sym.box_nms(...)`
bound into an executor whose backward scatters the head gradient back to the kept boxes.
Its box_nms cases (force_suppress, a lower threshold, per-class suppression, batches, a
float valid_thresh given to the symbol) run here through those names."""
import numpy as np

import tracegrad as mx

BOXES = [[0, 0.5, 0.1, 0.1, 0.2, 0.2], [1, 0.4, 0.1, 0.1, 0.2, 0.2],
         [0, 0.3, 0.1, 0.1, 0.14, 0.14], [2, 0.6, 0.5, 0.5, 0.7, 0.8]]
NONE = [-1] * 6


def _forward(data, id_index=0, **kw):
    """(the unittest's helper passes coord_start=2, score_index=1, id_index=0)"""
    return mx.contrib.nd.box_nms(mx.nd.array(data), id_index=id_index, **kw).asnumpy()


def _backward(data, grad, id_index=0, **kw):
    op = mx.contrib.sym.box_nms(mx.sym.Variable("data"), id_index=id_index, **kw)
    arr_grad = mx.nd.empty(np.shape(data))
    exe = op.bind(ctx=mx.cpu(), args=[mx.nd.array(data)], args_grad=[arr_grad])
    exe.forward(is_train=True)
    exe.backward(mx.nd.array(grad))
    return arr_grad.asnumpy()


def test_box_nms_through_mx_contrib_nd_and_sym():
    assert mx.contrib.ndarray is mx.contrib.nd and mx.contrib.symbol is mx.contrib.sym
    rs = np.random.RandomState(0)
    cases = [  # (kwargs, expected rows, rows of the input each output row came from)
        (dict(overlap_thresh=0.5, force_suppress=True),
         [BOXES[3], BOXES[0], BOXES[2], NONE], (3, 0, 2, None)),
        (dict(overlap_thresh=0.1, force_suppress=True),
         [BOXES[3], BOXES[0], NONE, NONE], (3, 0, None, None)),
        (dict(overlap_thresh=0.1, force_suppress=False),
         [BOXES[3], BOXES[0], BOXES[1], NONE], (3, 0, 1, None)),
    ]
    for kw, expected, source in cases:
        np.testing.assert_allclose(_forward(BOXES, **kw), expected, rtol=1e-5, atol=1e-6)
        grad = rs.rand(4, 6)
        want = np.zeros((4, 6))
        for out_row, src in enumerate(source):
            if src is not None:
                want[src] = grad[out_row]
        np.testing.assert_allclose(_backward(BOXES, grad, **kw), want, rtol=1e-5, atol=1e-6)
    # batches of batches, and no class id (suppression across classes, like force)
    batch = np.array([[BOXES] * 3] * 2)
    np.testing.assert_allclose(
        _forward(batch, overlap_thresh=0.5, force_suppress=True),
        np.array([[cases[0][1]] * 3] * 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_forward(BOXES, overlap_thresh=0.5, id_index=-1),
                               cases[0][1], rtol=1e-5, atol=1e-6)


def test_box_nms_valid_threshold_and_topk_per_batch():
    boxes = [[[c, s, 0, 0, 10, 10] for s in (1, 0.4, 0.3)] for c in (1, 2, 3)]
    expected = [[[c, 1, 0, 0, 10, 10], NONE, NONE] for c in (1, 2, 3)]
    kw = dict(overlap_thresh=0.5, valid_thresh=0.5, topk=2)
    np.testing.assert_allclose(_forward(boxes, **kw), expected, rtol=1e-5, atol=1e-6)
    grad = np.random.RandomState(1).rand(3, 3, 6)
    want = np.zeros((3, 3, 6))
    want[:, 0] = grad[:, 0]
    np.testing.assert_allclose(_backward(boxes, grad, **kw), want, rtol=1e-5, atol=1e-6)
