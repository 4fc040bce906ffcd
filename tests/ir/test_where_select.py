"""where's branch-free select must equal np.where bit for bit (NaN, -0.0, inf, broadcasting)."""
import numpy as np
import pytest

from tracegrad.ir.ops import REGISTRY

WHERE = REGISTRY["where"].impl
RS = np.random.RandomState(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_large_select_equals_np_where_bitwise(dtype):
    x = (RS.randn(64, 100) * 10).astype(dtype)
    y = (RS.randn(64, 100) * 10).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x.reshape(-1)[:4] = [np.nan, -0.0, np.inf, -np.inf]
    c = RS.rand(64, 100) > 0.5
    zero = np.zeros((), dtype)
    neg_zero = np.array(-0.0 if np.dtype(dtype).kind == "f" else 0, dtype)
    for args in [(c, x, y), (c, x, zero), (c, zero, y), (c, x, neg_zero), (c[:, :1], x, y),
                 (c[:1], x, y[:1])]:
        got, want = WHERE(*args), np.where(*args)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
