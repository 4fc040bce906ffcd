"""The gluon losses beyond L1/L2/softmax CE/BCE/Huber (KLDiv, Hinge, SquaredHinge, Logistic,
Triplet, PoissonNLL, CosineEmbedding, CTC, SDML): values and per-sample shapes against float64
numpy references written here from MXNet 1.9.1's formulas, with sample_weight and weight,
gradients against central differences of those references, the hybridized loss against the
eager one, clear errors for bad shapes, and the usual training step with each loss captured."""
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.tracing.trace import trace
from arrays import keep_dtype
from capture_steps import batches, same_params, small_net
from numeric import central_differences

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402  (tests/grad/check.py, the gradient oracle)

L = gluon.loss
RTOL = 1e-6


# ------------------------------------------------------------------ numpy references
def _log_softmax(p, axis=-1):
    m = p.max(axis, keepdims=True)
    return p - m - np.log(np.exp(p - m).sum(axis, keepdims=True))


def _mean_rows(x):
    return x.reshape(x.shape[0], -1).mean(1)


def ctc_reference(pred, label, pred_lengths=None, label_lengths=None):
    """The textbook CTC forward (alpha) recursion, per sample, float64. pred (N, T, C) logits,
    label (N, L) padded with -1, blank C-1."""
    N, T, C = pred.shape
    out = []
    for n in range(N):
        lp = _log_softmax(pred[n])
        lab = [int(v) for v in label[n]]
        length = (int(label_lengths[n]) if label_lengths is not None else
                  (lab.index(-1) if -1 in lab else len(lab)))
        steps = int(pred_lengths[n]) if pred_lengths is not None else T
        ext = [C - 1]
        for c in lab[:length]:
            ext += [c, C - 1]
        alpha = np.full(len(ext), -np.inf)
        alpha[:2] = lp[0, ext[:2]]
        for t in range(1, steps):
            nxt = np.empty_like(alpha)
            for s, c in enumerate(ext):
                terms = [alpha[s]]
                if s >= 1:
                    terms.append(alpha[s - 1])
                if s >= 2 and c != C - 1 and c != ext[s - 2]:
                    terms.append(alpha[s - 2])
                nxt[s] = np.logaddexp.reduce(terms) + lp[t, c]
            alpha = nxt
        out.append(-np.logaddexp.reduce(alpha[-2:]))
    return np.array(out)


def _cosine_ref(a, b, y, margin):
    """MXNet 1.9.1: (1 - cos) * (y == 1) + max(0, (y == -1) * (cos - margin)), shape (N, 1)
    (weighted, not averaged)."""
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                       1e-12)
    cos, y = cos.reshape(-1, 1), y.reshape(-1, 1)
    return (1 - cos) * (y == 1) + np.maximum(0, (y == -1) * (cos - margin))


def _sdml_ref(x1, x2, smoothing=0.3):
    n = x1.shape[0]
    d = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(2)
    lp = _log_softmax(-d, 1)
    lab = np.eye(n) * (1 - smoothing) + (1 - np.eye(n)) * smoothing / (n - 1)
    return (lab * (np.log(lab + 1e-12) - lp)).sum(1)    # KLDivLoss sums (MXNet 1.9.1)


# ------------------------------------------------------------------ the oracle
def _forward_backward(loss, args, wrt, cot):
    xs = [keep_dtype(a) if isinstance(a, np.ndarray) else a for a in args]
    for i in wrt:
        xs[i].attach_grad()
    with autograd.record():
        out = loss(*xs)
        head = (out * keep_dtype(cot)).sum()
    head.backward()
    return out.asnumpy(), [xs[i].grad.asnumpy() for i in wrt]


def check_loss(loss, args, ref, wrt=(0,), per_sample_weight=True, before_weight=(),
               weight_shape=lambda n: (n, 1), fd=True):
    """loss(*args) against ref(*args) (float64) in value and shape, its gradient w.r.t. args
    in `wrt` against central differences of ref (unless not `fd`), and the hybridized loss
    against the eager one; then loss(*args, *before_weight, sample_weight) with a sample_weight of
    weight_shape(N) against ref(*args, sample_weight=...), eager and hybridized."""
    rng = np.random.default_rng(7)
    want = ref(*args)
    cot = rng.standard_normal(want.shape)
    out, grads = _forward_backward(loss, args, wrt, cot)
    assert out.shape == want.shape, (type(loss).__name__, out.shape, want.shape)
    np.testing.assert_allclose(out, want, rtol=RTOL, atol=1e-10)
    for i, g in zip(wrt if fd else (), grads):
        arr = args[i]
        (fd,) = central_differences(lambda: float((ref(*args) * cot).sum()), [arr])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{type(loss).__name__} gradient of argument {i}")
    loss.hybridize()
    for _ in range(2):   # the tracing call, then the compiled one
        h_out, h_grads = _forward_backward(loss, args, wrt, cot)
        np.testing.assert_allclose(h_out, out, rtol=RTOL, atol=1e-12)
        for a, b in zip(h_grads, grads):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12)
    loss.hybridize(False)
    if per_sample_weight:
        sw = rng.random(weight_shape(want.shape[0])) + 0.5
        full = ref(*args, sample_weight=sw)
        for hybrid in (False, True, True):
            loss.hybridize(hybrid)
            got = loss(*[keep_dtype(a) for a in args], *before_weight, keep_dtype(sw))
            np.testing.assert_allclose(got.asnumpy(), full, rtol=RTOL, atol=1e-10)
        loss.hybridize(False)
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _weighted(per_element, w, sample_weight, reduce=_mean_rows):
    """MXNet's weighting then the mean (KLDivLoss: the sum) over non-batch axes."""
    x = per_element * (1.0 if sample_weight is None else sample_weight)
    return reduce(x * (1.0 if w is None else w))


def _sum_rows(x):
    return x.reshape(x.shape[0], -1).sum(1)


# ------------------------------------------------------------------ the simple losses
def test_kl_div(rng):
    """MXNet 1.9.1 sums over the non-batch axes (F.sum(loss, axis=batch_axis, exclude=True))."""
    p = rng.standard_normal((4, 5))
    y = np.exp(_log_softmax(rng.standard_normal((4, 5))))
    logp = _log_softmax(p)
    check_loss(L.KLDivLoss(), [logp, y],
               lambda a, b, sample_weight=None: _weighted(b * (np.log(b + 1e-12) - a), None,
                                                          sample_weight, _sum_rows), wrt=(0, 1))
    check_loss(L.KLDivLoss(from_logits=False, weight=0.5), [p, y],
               lambda a, b, sample_weight=None: _weighted(
                   b * (np.log(b + 1e-12) - _log_softmax(a)), 0.5, sample_weight, _sum_rows))
    p3 = rng.standard_normal((2, 3, 4))
    y3 = np.exp(_log_softmax(rng.standard_normal((2, 3, 4)), 1))
    check_loss(L.KLDivLoss(from_logits=False, axis=1), [p3, y3],
               lambda a, b, sample_weight=None: _weighted(
                   b * (np.log(b + 1e-12) - _log_softmax(a, 1)), None,
                   None if sample_weight is None else sample_weight[:, :, None], _sum_rows),
               per_sample_weight=False)


def _signed(rng, shape):
    return np.where(rng.random(shape) > 0.5, 1.0, -1.0)


def _away_from(x, kinks, gap=1e-3):
    for k in kinks:
        assert np.all(np.abs(x - k) > gap)


@pytest.mark.parametrize("margin", [1, 0.5])
def test_hinge_and_squared_hinge(rng, margin):
    p, y = rng.standard_normal((5, 3)) * 2, _signed(rng, (5, 3))
    _away_from(p * y, [margin])
    check_loss(L.HingeLoss(margin=margin), [p, y],
               lambda a, b, sample_weight=None: _weighted(np.maximum(0, margin - a * b), None,
                                                          sample_weight), wrt=(0, 1))
    check_loss(L.SquaredHingeLoss(margin=margin, weight=2.0), [p, y],
               lambda a, b, sample_weight=None: _weighted(np.maximum(0, margin - a * b) ** 2,
                                                          2.0, sample_weight))
    # a (N,) label beside a (N, 1) prediction is reshaped, as in MXNet
    out = L.HingeLoss()(nd.array([[0.5], [-2.0]]), nd.array([1.0, 1.0]))
    np.testing.assert_allclose(out.asnumpy(), [0.5, 3.0])


def test_logistic(rng):
    p = rng.standard_normal((4, 3)) * 3
    y = _signed(rng, (4, 3))
    ref = lambda a, b, sample_weight=None: _weighted(np.log1p(np.exp(-a * b)), None,
                                                     sample_weight)
    check_loss(L.LogisticLoss(), [p, y], ref)
    check_loss(L.LogisticLoss(label_format="binary", weight=3.0), [p, (y + 1) / 2],
               lambda a, b, sample_weight=None: 3.0 * ref(a, 2 * b - 1, sample_weight))
    big = L.LogisticLoss()(nd.array([[80.0, -80.0]]), nd.array([[-1.0, 1.0]])).asnumpy()
    np.testing.assert_allclose(big, [80.0], rtol=1e-6)   # the stable form: no overflow
    with pytest.raises(ValueError, match="signed or binary"):
        L.LogisticLoss(label_format="sign")


def test_triplet(rng):
    p, pos, neg = (rng.standard_normal((4, 2, 3)) for _ in range(3))

    def ref(a, b, c, sample_weight=None, margin=1.0, w=None):
        d = ((b - a) ** 2 - (c - a) ** 2).reshape(4, -1).sum(1)
        out = np.maximum(d + margin, 0)
        out = out if sample_weight is None else out * sample_weight
        return out * (1.0 if w is None else w)
    _away_from(((pos - p) ** 2 - (neg - p) ** 2).reshape(4, -1).sum(1), [-1.0, -0.3])
    check_loss(L.TripletLoss(), [p, pos, neg], ref, wrt=(0, 1, 2), per_sample_weight=False)
    check_loss(L.TripletLoss(margin=0.3, weight=2.0), [p, pos, neg],
               lambda *a, sample_weight=None: ref(*a, margin=0.3, w=2.0),
               per_sample_weight=False)
    sw = np.array([1.0, 0.0, 2.0, 0.5])   # weights the (N,) loss itself
    got = L.TripletLoss()(*map(keep_dtype, (p, pos, neg)), keep_dtype(sw))
    np.testing.assert_allclose(got.asnumpy(), ref(p, pos, neg) * sw, rtol=RTOL)


def test_poisson_nll(rng):
    logit = rng.standard_normal((4, 3)) * 0.5
    target = rng.integers(0, 5, (4, 3)).astype(np.float64)
    target[0, :3] = [0.0, 1.0, 4.0]

    def stirling(t):
        t1 = np.where(t > 1, t, 2.0)
        return np.where(t > 1, t1 * np.log(t1) - t1 + 0.5 * np.log(2 * np.pi * t1), 0.0)
    def mean_all(x):    # MXNet 1.9.1: F.mean(loss), one value for the batch
        return np.array([x.mean()])

    check_loss(L.PoissonNLLLoss(), [logit, target],
               lambda a, t, sample_weight=None: _weighted(np.exp(a) - t * a, None,
                                                          sample_weight, mean_all),
               weight_shape=lambda n: (4, 1))
    rate = np.exp(logit)
    check_loss(L.PoissonNLLLoss(from_logits=False, compute_full=True, weight=0.5),
               [rate, target],
               lambda a, t, sample_weight=None: _weighted(
                   a - t * np.log(a + 1e-8) + stirling(t), 0.5, sample_weight, mean_all),
               weight_shape=lambda n: (4, 1))
    # the Stirling term at target 4: 4 log 4 - 4 + log(8 pi) / 2
    one = L.PoissonNLLLoss(compute_full=True)(nd.array([[0.0]]), nd.array([[4.0]])).asnumpy()
    np.testing.assert_allclose(one, [1.0 + 4 * np.log(4) - 4 + 0.5 * np.log(8 * np.pi)],
                               rtol=1e-6)


@pytest.mark.parametrize("margin", [0, 0.2])
def test_cosine_embedding(rng, margin):
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    b[1] = a[1] + 0.5 * b[1]       # a similar pair labelled dissimilar: cos - margin > 0
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    _away_from(cos - margin, [0.0, 1 - margin])
    assert cos[1] - margin > 0.1
    check_loss(L.CosineEmbeddingLoss(margin=margin), [a, b, y],
               lambda u, v, t, sample_weight=None: _cosine_ref(u, v, t, margin) *
               (1.0 if sample_weight is None else sample_weight), wrt=(0, 1))


def test_sdml(rng):
    x1, x2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    check_loss(L.SDMLLoss(), [x1, x2], lambda a, b: _sdml_ref(a, b), wrt=(0, 1),
               per_sample_weight=False)
    check_loss(L.SDMLLoss(smoothing_parameter=0.1, weight=5.0), [x1, x2],
               lambda a, b: _sdml_ref(a, b, 0.1), per_sample_weight=False)


# ------------------------------------------------------------------ CTC
def test_ctc_matches_the_alpha_recursion(rng):
    """Label lengths 0..4, repeated labels (a blank is then required between them), labels
    ending at their first -1, explicit label and prediction lengths, both layouts."""
    N, T, C = 5, 7, 4
    pred = rng.standard_normal((N, T, C))
    label = np.array([[1, 0, -1, -1],
                      [2, 1, 1, -1],
                      [0, 1, 0, 2],
                      [-1, -1, -1, -1],
                      [1, 1, 1, -1]], dtype=np.float64)
    ref = lambda p, y, sample_weight=None: ctc_reference(p, y) * (
        1.0 if sample_weight is None else sample_weight)
    # the loss is (N,) already: a sample_weight of (N,) weights it (one of (N, 1) would
    # broadcast to (N, N), as in MXNet)
    out = check_loss(L.CTCLoss(), [pred, label], ref, before_weight=(None, None),
                     weight_shape=lambda n: (n,))
    assert out.shape == (N,) and np.all(np.isfinite(out))
    # the same in TNC / TN layouts
    tnc = check_loss(L.CTCLoss(layout="TNC", label_layout="TN"),
                     [pred.transpose(1, 0, 2).copy(), label.T.copy()],
                     lambda p, y: ctc_reference(p.transpose(1, 0, 2), y.T),
                     per_sample_weight=False, fd=False)
    np.testing.assert_allclose(tnc, out, rtol=1e-12)
    # explicit lengths: a label cut before its padding, fewer time steps
    pl, ll = np.array([7, 5, 6, 3, 7.0]), np.array([1, 3, 2, 0, 3.0])
    check_loss(L.CTCLoss(weight=2.0), [pred, label, pl, ll],
               lambda p, y, a, b: 2.0 * ctc_reference(p, y, a, b), per_sample_weight=False)


def test_ctc_probabilities_sum_to_one_over_all_labels():
    """An independent check of the recursion: with T=2 and C=3 (two symbols and blank), the
    probabilities of every label sequence of length <= 2 add up to one."""
    pred = np.random.default_rng(3).standard_normal((1, 2, 3))
    labels = [[-1, -1], [0, -1], [1, -1], [0, 0], [0, 1], [1, 0], [1, 1]]
    loss = L.CTCLoss()
    total = sum(np.exp(-loss(keep_dtype(pred), nd.array([lab], dtype="float64")).asnumpy()[0])
                for lab in labels)
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)
    # [0, 0] needs three steps (a blank between the repeats): probability 0, loss inf, and
    # no gradient from that sample (eager and compiled)
    assert ctc_reference(pred, np.array([[0, 0.0]]))[0] == np.inf
    both = np.concatenate([pred, pred])
    for hybrid in (False, True, True):
        loss.hybridize(hybrid)
        x = keep_dtype(both)
        x.attach_grad()
        with autograd.record():
            out = loss(x, nd.array([[0, 0], [0, 1]], dtype="float64"))
        out.backward()
        got = out.asnumpy()
        assert got[0] == np.inf
        np.testing.assert_allclose(got[1], ctc_reference(pred, np.array([[0, 1.0]]))[0],
                                   rtol=1e-12)
        assert np.all(x.grad.asnumpy()[0] == 0) and np.all(np.isfinite(x.grad.asnumpy()))


def test_ctc_float32_and_errors(rng):
    pred = rng.standard_normal((2, 5, 4)).astype(np.float32)
    label = np.array([[1, 2, -1], [0, 0, 1]], dtype=np.float32)
    got = L.CTCLoss()(nd.array(pred), nd.array(label))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.asnumpy(), ctc_reference(pred.astype(np.float64), label),
                               rtol=1e-5)
    with pytest.raises(mx.MXNetError, match=r"CTCLoss.*batch of 3.*pred has 2"):
        L.CTCLoss()(nd.array(pred), nd.array(np.zeros((3, 2))))
    with pytest.raises(mx.MXNetError, match=r"CTCLoss.*3-d"):
        L.CTCLoss()(nd.array(pred[0]), nd.array(label))
    with pytest.raises(mx.MXNetError, match=r"CTCLoss.*pred_lengths"):
        L.CTCLoss()(nd.array(pred), nd.array(label), nd.array([5.0, 5, 5]))
    with pytest.raises(mx.MXNetError, match=r"only 'NTC' and 'TNC'"):
        L.CTCLoss(layout="NCT")


# ------------------------------------------------------------------ second order
def _second_order_cases():
    rng = np.random.default_rng(4)
    p, q, r = (rng.standard_normal((3, 4)) for _ in range(3))
    signed = np.where(rng.random((3, 4)) > 0.5, 1.0, -1.0)
    _away_from(p * signed, [1.0])
    prob = np.exp(q) / np.exp(q).sum(1, keepdims=True)
    # targets off 1, where MXNet's Stirling term switches on (the loss jumps there)
    counts = np.array([[0, 2, 3, 0.5], [4, 0, 2.5, 7], [1.5, 2, 0, 3]])
    return {
        "KLDivLoss": (L.KLDivLoss(from_logits=False), [p, prob]),
        "HingeLoss": (L.HingeLoss(), [p, signed]),
        "SquaredHingeLoss": (L.SquaredHingeLoss(), [p, signed]),
        "LogisticLoss": (L.LogisticLoss(), [p, signed]),
        "TripletLoss": (L.TripletLoss(), [p, q, r]),
        "PoissonNLLLoss": (L.PoissonNLLLoss(from_logits=False, compute_full=True),
                           [np.exp(p), counts]),
        # int labels: `label == 1` is a step in a float label
        "CosineEmbeddingLoss": (L.CosineEmbeddingLoss(margin=0.1),
                                [p, q, np.array([1, -1, -1], np.int32)]),
        "SDMLLoss": (L.SDMLLoss(), [p, q]),
        "CTCLoss": (L.CTCLoss(), [rng.standard_normal((2, 4, 3)),
                                  np.array([[0, 1], [1, 1]], np.int32),
                                  np.array([4, 3], np.int32)]),
    }


@pytest.mark.parametrize("name", list(_second_order_cases()))
def test_second_order_on_the_traced_ir(name):
    """check_grads(order=2) on the traced IR of loss(x, ...) * sum(x^2): the derivative of
    the derivative of every float input, against finite differences (the composites
    differentiate to any order)."""
    loss, args = _second_order_cases()[name]

    def f(*xs):
        return loss(*xs) * nd.sum(xs[0] * xs[0])
    tr = trace(f, [keep_dtype(a) for a in args])
    check_grads(tr.function, list(args) + [v.data for v in tr.captured], order=2)


# ------------------------------------------------------------------ bad shapes
@pytest.mark.parametrize("loss, args", [
    (L.KLDivLoss(), [(4, 3), (4, 2)]),
    (L.HingeLoss(), [(4, 3), (5,)]),
    (L.SquaredHingeLoss(), [(4, 3), (4, 4)]),
    (L.LogisticLoss(), [(4, 3), (3, 3)]),
    (L.TripletLoss(), [(4, 3), (4, 3), (4, 2)]),
    (L.PoissonNLLLoss(), [(4, 3), (12, 2)]),
    (L.CosineEmbeddingLoss(), [(4, 3), (4, 3), (5,)]),
    (L.SDMLLoss(), [(4, 3), (4, 2)]),
])
def test_bad_shapes_name_the_loss(loss, args):
    name = type(loss).__name__
    with pytest.raises(mx.MXNetError, match=name):
        loss(*[nd.ones(s) for s in args])


# ------------------------------------------------------------------ the usual training step
def _ctc_pred(out):
    """The (N, 3) net output stretched over 4 time steps, each scaled differently."""
    return nd.expand_dims(out, axis=1) * nd.array([[[1.0], [0.5], [-1.0], [2.0]]])


def _loss_cases():
    rs = np.random.RandomState(5)
    lab = lambda *s: nd.array(rs.standard_normal(s).astype(np.float32))
    signed = lambda: nd.array(np.where(rs.rand(4, 3) > 0.5, 1.0, -1.0).astype(np.float32))
    return {
        "KLDivLoss": (L.KLDivLoss(from_logits=False),
                      lambda out: (out, nd.softmax(lab(4, 3)))),
        "HingeLoss": (L.HingeLoss(), lambda out: (out, signed())),
        "SquaredHingeLoss": (L.SquaredHingeLoss(), lambda out: (out, signed())),
        "LogisticLoss": (L.LogisticLoss(), lambda out: (out, signed())),
        "TripletLoss": (L.TripletLoss(), lambda out: (out, lab(4, 3), lab(4, 3))),
        "PoissonNLLLoss": (L.PoissonNLLLoss(compute_full=True),
                           lambda out: (out, nd.array(rs.randint(0, 4, (4, 3)).astype("f4")))),
        "CosineEmbeddingLoss": (L.CosineEmbeddingLoss(margin=0.1),
                                lambda out: (out, lab(4, 3), nd.array([1.0, -1, 1, -1]))),
        "CTCLoss": (L.CTCLoss(), lambda out: (_ctc_pred(out),
                                              nd.array([[0, 1], [1, -1], [1, 1], [0, -1.0]]))),
        "SDMLLoss": (L.SDMLLoss(), lambda out: (out, lab(4, 3))),
    }


@pytest.mark.usefixtures("fresh_capture")
def test_the_usual_step_with_each_new_loss_is_captured():
    """net hybridized, the loss outside it, backward, trainer.step: after a few steps each
    loss's step runs captured, and the parameters equal those of the same run uncaptured."""
    for name in _loss_cases():
        params = {}
        for on in (True, False):
            capture._reset_for_tests()
            capture.set_enabled(on)
            loss_fn, make_args = _loss_cases()[name]   # the same label draws in both runs
            net = small_net(hybridize=True)
            trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
            before = mx.stats()["captured_steps"]
            for x, _ in batches(8):
                with autograd.record():
                    loss = loss_fn(*make_args(net(x)))
                loss.backward()
                trainer.step(x.shape[0])
            captured = mx.stats()["captured_steps"] - before
            params[on] = [p.data().asnumpy() for p in net.collect_params().values()]
            if on:
                assert captured >= 4, (name, captured)
            else:
                assert captured == 0, name
        capture.set_enabled(True)
        same_params(params[True], params[False], rtol=1e-5)
