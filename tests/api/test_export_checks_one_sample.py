"""export writes the block's own graph on mx.sym variables after checking, on the first sample
of the last call's batch, that it computes what the forward does: a block last called on a
training batch is not run again at that batch. A graph that computes something else is still
refused (the traced graph is written instead), and the written files compute the forward."""
import json

import numpy as np

from tracegrad import gluon, nd


class Counting(gluon.HybridBlock):
    """Dense + relu, noting the batch of every eager forward."""

    def __init__(self, seen, **kw):
        super().__init__(**kw)
        self.seen = seen
        with self.name_scope():
            self.fc = gluon.nn.Dense(5)

    def hybrid_forward(self, F, x):
        if isinstance(x, nd.NDArray):
            self.seen.append(x.shape[0])
        return F.relu(self.fc(x))


class SaysOtherwise(gluon.HybridBlock):
    """A forward whose mx.sym form computes something else (x * 3 against x * 2)."""

    def hybrid_forward(self, F, x):
        return x * (2 if F is nd else 3)


def _loaded(prefix):
    return gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"], f"{prefix}-0000.params")


def test_export_checks_on_one_sample(tmp_path):
    seen = []
    net = Counting(seen)
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.RandomState(0).randn(64, 7).astype(np.float32))
    want = net(x).asnumpy()
    del seen[:]
    net.export(str(tmp_path / "m"))
    assert seen and max(seen) == 1, seen
    got = _loaded(str(tmp_path / "m"))(x).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    ops = {n["op"] for n in json.load(open(tmp_path / "m-symbol.json"))["nodes"]}
    assert "FullyConnected" in ops        # (MXNet's own graph, not the traced primitives)


def test_export_still_refuses_a_symbol_that_computes_otherwise(tmp_path):
    net = SaysOtherwise()
    net.hybridize()
    x = nd.array(np.arange(6, dtype=np.float32).reshape(3, 2))
    net(x)
    net.export(str(tmp_path / "m"))
    np.testing.assert_allclose(_loaded(str(tmp_path / "m"))(x).asnumpy(), x.asnumpy() * 2)


def test_export_of_a_batch_mixing_forward(tmp_path):
    class Centered(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.broadcast_sub(x, F.mean(x, axis=0, keepdims=True))

    net = Centered()
    net.hybridize()
    x = nd.array(np.random.RandomState(1).randn(4, 3).astype(np.float32))
    want = net(x).asnumpy()
    net.export(str(tmp_path / "m"))
    np.testing.assert_allclose(_loaded(str(tmp_path / "m"))(x).asnumpy(), want, atol=1e-6)
    assert np.abs(want).sum() > 0
