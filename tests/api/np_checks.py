"""What the mx.np / mx.npx tests share: a comparison that checks the result is an mx.np array
(the set_np fixture, np_mode, is tests/conftest.py's)."""
import numpy as onp

from tracegrad import np


def close(a, ref, rtol=1e-5, atol=1e-6):
    assert isinstance(a, np.ndarray), type(a)
    onp.testing.assert_allclose(a.asnumpy(), onp.asarray(ref), rtol=rtol, atol=atol)
