"""Every gluon loss against a float64 numpy transcription of MXNet 1.9.1's hybrid_forward
(python/mxnet/gluon/loss.py at the tag): weights, sample weights broadcast along the batch
axis, 2-d and 3-d inputs, batch_axis 0 and 1, eager and hybridized. The expectations are
MXNet's formulas, not tracegrad's (KLDivLoss once averaged where MXNet sums, and its tests
agreed with it)."""
import numpy as np
import pytest

from tracegrad import gluon, nd

SHAPES = [((4, 3), 0), ((4, 3, 2), 0), ((3, 4, 2), 1)]


def _mean_ex(loss, axis):
    """F.mean(loss, axis=batch_axis, exclude=True)."""
    return loss.mean(axis=tuple(i for i in range(loss.ndim) if i != axis))


def _sum_ex(loss, axis):
    return loss.sum(axis=tuple(i for i in range(loss.ndim) if i != axis))


def _softrelu(x):
    return np.log1p(np.exp(x))


def _log_softmax(x, axis=-1):
    e = x - x.max(axis=axis, keepdims=True)
    return e - np.log(np.exp(e).sum(axis=axis, keepdims=True))


def _cases(shape, axis):
    rs = np.random.RandomState(len(shape) * 10 + axis)
    p, lab = rs.randn(*shape).astype(np.float32), rs.randn(*shape).astype(np.float32)
    sw = rs.rand(*[shape[axis] if i == axis else 1 for i in range(len(shape))]).astype(
        np.float32)
    P, L, SW = p.astype(np.float64), lab.astype(np.float64), sw.astype(np.float64)
    sign = np.sign(lab)
    binary = (lab > 0).astype(np.float32)
    B = binary.astype(np.float64)
    prob = (1 / (1 + np.exp(-p))).astype(np.float32)
    Q = prob.astype(np.float64)
    dense = (np.abs(lab) / np.abs(lab).sum(-1, keepdims=True)).astype(np.float32)
    D = dense.astype(np.float64)
    idx = rs.randint(0, shape[-1], shape[:-1]).astype(np.float32)
    sw1 = sw if sw.shape[-1] == 1 else sw[..., :1]
    logp = _log_softmax(P)
    picked = -np.take_along_axis(logp, idx.astype(int)[..., None], axis=-1)
    stable_bce = np.maximum(P, 0) - P * B + _softrelu(-np.abs(P))
    rate, counts = np.abs(p) + 0.1, np.abs(lab).round()
    return [
        ("L2", gluon.loss.L2Loss(weight=0.7, batch_axis=axis), (p, lab, sw),
         _mean_ex(np.square(L - P) * SW * 0.35, axis)),
        ("L1", gluon.loss.L1Loss(batch_axis=axis), (p, lab, sw),
         _mean_ex(np.abs(L - P) * SW, axis)),
        ("Huber", gluon.loss.HuberLoss(rho=0.8, batch_axis=axis), (p, lab, sw),
         _mean_ex(np.where(np.abs(L - P) > 0.8, np.abs(L - P) - 0.4,
                           (0.5 / 0.8) * np.square(L - P)) * SW, axis)),
        ("Hinge", gluon.loss.HingeLoss(margin=0.5, batch_axis=axis), (p, sign, sw),
         _mean_ex(np.maximum(0, 0.5 - P * sign) * SW, axis)),
        ("SquaredHinge", gluon.loss.SquaredHingeLoss(batch_axis=axis), (p, sign, sw),
         _mean_ex(np.square(np.maximum(0, 1 - P * sign)) * SW, axis)),
        ("Logistic signed", gluon.loss.LogisticLoss(batch_axis=axis), (p, sign, sw),
         _mean_ex((np.maximum(P, 0) - P * (sign + 1) / 2 + _softrelu(-np.abs(P))) * SW, axis)),
        ("Logistic binary", gluon.loss.LogisticLoss(batch_axis=axis, label_format="binary"),
         (p, binary, sw), _mean_ex(stable_bce * SW, axis)),
        ("SigmoidBCE", gluon.loss.SigmoidBCELoss(batch_axis=axis), (p, binary, sw),
         _mean_ex(stable_bce * SW, axis)),
        ("SigmoidBCE from_sigmoid",
         gluon.loss.SigmoidBCELoss(from_sigmoid=True, batch_axis=axis), (prob, binary, sw),
         _mean_ex(-(np.log(Q + 1e-12) * B + np.log(1 - Q + 1e-12) * (1 - B)) * SW, axis)),
        ("Triplet", gluon.loss.TripletLoss(margin=0.3, batch_axis=axis), (p, lab, lab * 0.5),
         np.maximum(_sum_ex(np.square(L - P) - np.square(L * 0.5 - P), axis) + 0.3, 0)),
        ("SoftmaxCE sparse", gluon.loss.SoftmaxCrossEntropyLoss(batch_axis=axis),
         (p, idx, sw1), _mean_ex(picked * sw1.astype(np.float64), axis)),
        ("SoftmaxCE dense", gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False,
                                                                batch_axis=axis),
         (p, dense, sw1), _mean_ex(-(logp * D).sum(-1, keepdims=True) * sw1, axis)),
        ("KLDiv", gluon.loss.KLDivLoss(from_logits=False, batch_axis=axis), (p, dense, sw),
         _sum_ex(D * (np.log(D + 1e-12) - logp) * SW, axis)),
        ("PoissonNLL", gluon.loss.PoissonNLLLoss(from_logits=False),
         (rate.astype(np.float32), counts.astype(np.float32), sw),
         np.array([((rate - counts * np.log(rate + 1e-8)) * SW).mean()])),
    ]


@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("hybridize", [False, True])
def test_each_loss_computes_mxnets_formula(shape, axis, hybridize):
    for name, loss, args, want in _cases(shape, axis):
        if hybridize:
            loss.hybridize()
        for _ in range(2):      # (hybridized: the trace, then the compiled call)
            got = loss(*[nd.array(a, dtype=a.dtype) for a in args]).asnumpy()
        assert got.shape == want.shape, (name, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("hybridize", [False, True])
def test_cosine_embedding_loss_is_mxnets_formula(hybridize):
    rs = np.random.RandomState(3)
    x1, x2 = rs.randn(5, 4).astype(np.float32), rs.randn(5, 4).astype(np.float32)
    label = np.array([1, -1, 1, -1, 0], np.float32)
    loss = gluon.loss.CosineEmbeddingLoss(margin=0.1)
    if hybridize:
        loss.hybridize()
    cos = (x1 * x2).sum(1, keepdims=True) / np.maximum(
        np.linalg.norm(x1, axis=1, keepdims=True) * np.linalg.norm(x2, axis=1, keepdims=True),
        1e-12)
    y = label.reshape(-1, 1)
    want = (1 - cos) * (y == 1) + np.maximum(0, (y == -1) * (cos - 0.1))
    for _ in range(2):
        got = loss(nd.array(x1), nd.array(x2), nd.array(label)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
