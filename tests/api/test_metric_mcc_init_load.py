"""mx.metric.MCC and mx.init.Load (MXNet 1.9.1 semantics): MCC against its formula computed
here from the confusion counts (MXNet's documented example included), macro / micro /
global averaging; Load from a dict and from a file nd.save wrote, prefixes dropped,
default_init for the rest, and errors naming the parameter and the shapes."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.base import MXNetError

RNG = np.random.default_rng(2)


def _mcc(label, pred):
    p = pred.argmax(axis=1) == 1
    t = label == 1
    tp, fp = float((p & t).sum()), float((p & ~t).sum())
    fn, tn = float((~p & t).sum()), float((~p & ~t).sum())
    margins = [m for m in (tp + fp, tp + fn, tn + fp, tn + fn) if m]
    return (tp * tn - fp * fn) / math.sqrt(math.prod(margins))


def test_mcc_documented_example():
    fp, fn, tp, tn = 1000, 1, 10000, 1
    preds = [nd.array([[.3, .7]] * fp + [[.7, .3]] * tn + [[.7, .3]] * fn + [[.3, .7]] * tp)]
    labels = [nd.array([0.] * (fp + tn) + [1.] * (fn + tp))]
    m = mx.metric.MCC()
    m.update(labels=labels, preds=preds)
    assert m.get() == ("mcc", pytest.approx(0.01917751877733392, rel=1e-12))
    assert isinstance(mx.metric.create("mcc"), mx.metric.MCC)


def test_mcc_macro_micro_and_global():
    batches = []
    for _ in range(3):
        label = RNG.integers(0, 2, 40)
        pred = RNG.random((40, 2)) + np.stack([1 - label, label], axis=1) * 0.3
        batches.append((label, pred))
    macro, micro = mx.metric.MCC(), mx.metric.MCC(average="micro")
    for label, pred in batches:
        for m in (macro, micro):
            m.update([nd.array(label)], [nd.array(pred)])
    per_batch = [_mcc(lab, p) for lab, p in batches]
    assert macro.get()[1] == pytest.approx(np.mean(per_batch), rel=1e-12)
    assert macro.get_global()[1] == pytest.approx(np.mean(per_batch), rel=1e-12)
    pooled = _mcc(np.concatenate([b[0] for b in batches]),
                  np.concatenate([b[1] for b in batches]))
    assert micro.get()[1] == pytest.approx(pooled, rel=1e-12)
    micro.reset_local()        # the global counts keep accumulating
    assert math.isnan(micro.get()[1])
    assert micro.get_global()[1] == pytest.approx(pooled, rel=1e-12)
    # always predicting one class: uncorrelated, 0
    const = mx.metric.MCC()
    const.update([nd.array([0, 1, 1, 0])], [nd.array([[0.0, 1.0]] * 4)])
    assert const.get()[1] == 0.0
    with pytest.raises(ValueError, match="only supports binary classification"):
        const.update([nd.array([0, 1, 2])], [nd.array([[0.0, 1.0]] * 3)])


def _net():
    net = gluon.nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(gluon.nn.Dense(3, in_units=4), gluon.nn.Dense(2, in_units=3))
    return net


def test_init_load_from_dict_and_file(tmp_path):
    src = _net()
    src.initialize(mx.init.Xavier())
    params = src.collect_params()
    saved = {name: p.data() for name, p in params.items()}
    # from a dict, with MXNet's arg: prefixes dropped
    dst = _net()
    dst.initialize(mx.init.Load({"arg:" + k: v for k, v in saved.items()}))
    for name, p in dst.collect_params().items():
        np.testing.assert_array_equal(p.data().asnumpy(), saved[name].asnumpy())
    # from a file nd.save wrote; names missing there go to default_init
    path = str(tmp_path / "params.nd")
    weights_only = {k: v for k, v in saved.items() if k.endswith("weight")}
    nd.save(path, weights_only)
    dst = _net()
    dst.initialize(mx.init.Load(path, default_init=mx.init.One(), verbose=True))
    for name, p in dst.collect_params().items():
        want = saved[name].asnumpy() if name.endswith("weight") else np.zeros(p.shape)
        np.testing.assert_array_equal(p.data().asnumpy(), want)   # biases: One's rule, 0
    x = nd.array(RNG.standard_normal((5, 4)))
    np.testing.assert_allclose(dst(x).asnumpy(), src(x).asnumpy(), rtol=1e-6)


def test_init_load_errors():
    net = _net()
    with pytest.raises(MXNetError, match=r"Load: cannot initialize net_dense0_bias"):
        net.initialize(mx.init.Load({"net_dense0_weight": nd.zeros((3, 4))}))
    net = _net()
    with pytest.raises(MXNetError, match=r"Load: parameter net_dense0_weight .* target "
                                         r"\(3, 4\) vs loaded \(4, 3\)"):
        net.initialize(mx.init.Load({"net_dense0_weight": nd.zeros((4, 3))},
                                    default_init=mx.init.Zero()))
    with pytest.raises(MXNetError, match="Load: param must be a dict"):
        mx.init.Load([nd.zeros(2)])
