"""mx.test_utils (MXNet 1.9.1's subset) and mx.current_context."""
import threading

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.test_utils import (almost_equal, assert_almost_equal, assert_exception,
                                  default_context, rand_ndarray, rand_shape_nd, same,
                                  set_default_context)


def test_assert_almost_equal_tolerances_by_dtype():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    assert_almost_equal(a, a + 5e-4)  # float32 default atol 1e-3
    with pytest.raises(AssertionError, match=r"rtol=1\.0+e-04, atol=1\.0+e-03.*1 of 3"):
        assert_almost_equal(a, a + np.array([0, 0, 0.1], np.float32))
    assert_almost_equal(nd.array(a), nd.array(a) * (1 + 1e-6))
    with pytest.raises(AssertionError, match=r"at \(2,\): x=3\.0, y=3\.09"):
        assert_almost_equal(nd.array(a), a + np.array([0, 0, 0.1], np.float32), names=("x", "y"))
    f64 = np.array([1.0, 2.0])
    with pytest.raises(AssertionError):
        assert_almost_equal(f64, f64 * (1 + 1e-4))  # float64: rtol 1e-5
    assert_almost_equal(f64, f64 * (1 + 1e-4), rtol=1e-3, atol=0)
    ints = np.array([1, 2], np.int32)
    with pytest.raises(AssertionError):
        assert_almost_equal(ints, ints + 1)  # exact
    nan = np.array([np.nan, 1.0])
    with pytest.raises(AssertionError):
        assert_almost_equal(nan, nan)
    assert_almost_equal(nan, nan, equal_nan=True)
    with pytest.raises(AssertionError, match="do not broadcast"):
        assert_almost_equal(np.zeros(3), np.zeros(4))
    with pytest.raises(AssertionError, match="shape"):
        assert_almost_equal(np.zeros((1, 3)), np.zeros(3), use_broadcast=False)


def test_almost_equal_same_and_assert_exception():
    assert almost_equal(np.ones(3), np.ones(3) + 1e-21)
    assert not almost_equal(np.ones(3), np.ones(3) + 1e-4)  # float64 defaults
    assert almost_equal(np.ones(3), np.ones(3) + 1e-4, rtol=1e-3)
    assert same(nd.array([1, 2]), np.array([1.0, 2.0])) and not same([1, 2], [1, 3])
    assert_exception(lambda: 1 / 0, ZeroDivisionError)
    with pytest.raises(AssertionError, match="did not raise"):
        assert_exception(lambda: 1, ZeroDivisionError)


def test_random_arrays_and_shapes():
    np.random.seed(0)
    shape = rand_shape_nd(4, dim=5)
    assert len(shape) == 4 and all(1 <= s <= 5 for s in shape)
    assert all(isinstance(s, int) for s in shape)
    assert all(0 <= s <= 2 for s in rand_shape_nd(50, dim=2, allow_zero_size=True))
    x = rand_ndarray((3, 4))
    assert isinstance(x, mx.NDArray) and x.shape == (3, 4) and x.dtype == np.float32
    assert rand_ndarray((2,), dtype="float64").dtype == np.float64
    csr = rand_ndarray((4, 5), stype="csr", density=0.5)
    assert csr.stype == "csr" and csr.shape == (4, 5) and csr.dtype == np.float32


def test_current_and_default_context():
    assert mx.current_context() == mx.cpu() == default_context()
    seen = []
    try:
        set_default_context(mx.cpu(1))
        assert mx.current_context() == mx.cpu(1) and default_context() == mx.cpu(1)
        t = threading.Thread(target=lambda: seen.append(mx.current_context()))
        t.start()
        t.join()
    finally:
        set_default_context(mx.cpu())
    assert seen == [mx.cpu()]  # per thread, as MXNet's
    with pytest.raises(TypeError, match="Context"):
        set_default_context("gpu")


def _write_idx(path, magic, arr):
    import gzip
    with gzip.open(path, "wb") as f:
        f.write(np.array([magic] + list(arr.shape), dtype=">u4").tobytes() +
                arr.astype(np.uint8).tobytes())


def test_get_mnist_reads_local_idx_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rs = np.random.RandomState(0)
    sets = {}
    for prefix, n in (("train", 3), ("t10k", 2)):
        images, labels = rs.randint(0, 256, (n, 28, 28)), rs.randint(0, 10, n)
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", 2051, images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", 2049, labels)
        sets[prefix] = images, labels
    mnist = mx.test_utils.get_mnist()
    assert mnist["train_data"].shape == (3, 1, 28, 28) and mnist["test_label"].dtype == np.int8
    np.testing.assert_allclose(mnist["train_data"][:, 0], sets["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(mnist["test_label"], sets["t10k"][1])
    # an existing file is not fetched again
    assert mx.test_utils.download("http://example.invalid/x/t10k-labels-idx1-ubyte.gz") == \
        "t10k-labels-idx1-ubyte.gz"
    assert list(mx.test_utils.list_gpus()) == []


def test_random_uniform_arrays_and_environment_helpers():
    np.random.seed(3)
    a, b = mx.test_utils.random_uniform_arrays((2, 3), (4,), low=-2.0, high=-1.0)
    assert a.shape == (2, 3) and b.shape == (4,) and a.dtype == np.float32
    assert ((a >= -2) & (a < -1)).all() and ((b >= -2) & (b < -1)).all()
    (c,) = mx.test_utils.random_uniform_arrays((5,), dtype=np.float64)
    assert c.dtype == np.float64 and ((c >= 0) & (c < 1)).all()
    with pytest.raises(TypeError):
        mx.test_utils.random_uniform_arrays((2,), scale=3)
    assert mx.test_utils.is_op_runnable()
    name = "TRACEGRAD_TEST_UTIL_ENV"
    assert mx.util.getenv(name) is None
    mx.util.setenv(name, 42)
    try:
        assert mx.util.getenv(name) == "42"
        with mx.test_utils.environment(name, "7"):
            assert mx.util.getenv(name) == "7"
        assert mx.util.getenv(name) == "42"
    finally:
        mx.util.setenv(name, None)
    assert mx.util.getenv(name) is None
    assert mx.base.mx_real_t is np.float32


def test_collapse_sum_like_and_numpy_dtype_names():
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(mx.test_utils.collapse_sum_like(a, (3, 1)),
                                  a.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(mx.test_utils.collapse_sum_like(a, (1, 4)),
                                  a.sum(axis=(0, 1)).reshape(1, 4))
    assert mx.test_utils.collapse_sum_like(np.zeros((0, 3)), (1, 3)).shape == (1, 3)
    with pytest.raises(ValueError, match="does not broadcast"):
        mx.test_utils.collapse_sum_like(a, (2, 4))
    assert mx.np.zeros((2,), dtype=mx.np.bool).dtype == np.bool_
    assert mx.np.NINF == -np.inf and np.isnan(mx.np.NaN)
    assert mx.np.finfo(mx.np.float32).eps == np.finfo(np.float32).eps


def test_check_gluon_hybridize_consistency_with_deferred_parameters():
    """MXNet reads the first net's parameters after its forward and starts the later nets from
    them, so a block with a deferred Dense (input dim unknown until called) is checked; a
    block whose hybridized output differs is caught."""
    from tracegrad import gluon, np
    from tracegrad.test_utils import check_gluon_hybridize_consistency

    class Sliced(gluon.HybridBlock):
        def __init__(self, prefix=None, params=None):
            super().__init__(prefix=prefix, params=params)
            with self.name_scope():
                self.layer = gluon.nn.Dense(4, flatten=False)

        def hybrid_forward(self, F, x, y):
            return self.layer(x[:, -1, :] + y[:, -1, :])

    x, y = np.random.uniform(size=(2, 3, 5)), np.random.uniform(size=(2, 3, 5))
    check_gluon_hybridize_consistency(Sliced, [x, y])

    class Differs(Sliced):
        def hybrid_forward(self, F, x, y):
            out = super().hybrid_forward(F, x, y)
            return out + 1 if self._active else out

    with pytest.raises(AssertionError, match="hybridize=True"):
        check_gluon_hybridize_consistency(Differs, [x, y])
