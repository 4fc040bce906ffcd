"""contrib.quadratic of a csr array with c = 0 is csr (MXNet 1.9.1's QuadraticOpStorageType);
with c != 0, or of a row_sparse array, dense. Values a x^2 + b x + c either way."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

V = np.array([[0, 1.5, 0], [-2, 0, 0], [0, 0, 0.5]], np.float32)


@pytest.mark.parametrize("stype, c, want", [("csr", 0.0, "csr"), ("csr", 1.0, "default"),
                                            ("row_sparse", 0.0, "default"),
                                            ("default", 0.0, "default")])
def test_quadratic_storage(stype, c, want):
    out = nd.contrib.quadratic(nd.array(V).tostype(stype), a=2.0, b=-1.0, c=c)
    assert out.stype == want
    np.testing.assert_allclose(out.asnumpy(), 2 * V ** 2 - V + c, rtol=1e-6)


def test_quadratic_csr_gradient_and_symbol():
    x = nd.array(V).tostype("csr")
    x.attach_grad()
    with mx.autograd.record():
        y = nd.contrib.quadratic(x, a=2.0, b=-1.0)
    y.backward(nd.ones(V.shape))
    np.testing.assert_allclose(x.grad.asnumpy(), 4 * V - 1, rtol=1e-6)
    s = mx.sym.contrib.quadratic(mx.sym.var("x", stype="csr"), a=2.0, b=-1.0)
    exe = s.bind(mx.cpu(), {"x": nd.array(V).tostype("csr")})
    exe.forward()
    assert exe.outputs[0].stype == "csr"
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), 2 * V ** 2 - V, rtol=1e-6)
