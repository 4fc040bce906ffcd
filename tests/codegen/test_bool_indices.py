"""Bool indices of one_hot, take and pick read as 0 / 1, as eager code (and numpy's take)
reads them: a hybridized block gives eager's values and gradients instead of refusing them."""
import numpy as np
import pytest

from tracegrad import autograd, gluon, nd

IDX = np.array([[True, False, True], [False, False, True]])


class Gather(gluon.HybridBlock):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def hybrid_forward(self, F, x, idx):
        if self.kind == "one_hot":
            return F.one_hot(idx, 3) * x.sum()
        if self.kind == "take":
            return F.take(x, idx)
        return F.pick(x, idx.reshape((-1,)), axis=1)


@pytest.mark.parametrize("kind", ["one_hot", "take", "pick"])
def test_bool_indices_compiled_as_eager(kind):
    x0 = np.arange(1.0, 4.0 if kind != "pick" else 19.0, dtype=np.float32)
    x0 = x0.reshape((6, 3)) if kind == "pick" else x0
    idx = nd.array(IDX, dtype="bool")
    results = []
    for hybridize in (False, True):
        block = Gather(kind)
        if hybridize:
            block.hybridize()
        x = nd.array(x0)
        x.attach_grad()
        with autograd.record():
            y = block(x, idx)
            (y * y).sum().backward()
        results.append((y.asnumpy(), x.grad.asnumpy()))
    ints = IDX.astype(np.int64)
    want = {"one_hot": np.eye(3, dtype=np.float32)[ints] * x0.sum(),
            "take": x0[ints],
            "pick": x0[np.arange(6), ints.reshape(-1)] if kind == "pick" else None}[kind]
    for y, g in results:
        np.testing.assert_allclose(y, want, rtol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6)
