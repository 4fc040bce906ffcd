"""`mx.test_utils`: the subset of MXNet 1.9.1's test helpers that test scripts use:
tolerance defaults per dtype, assert_almost_equal / almost_equal / same, random arrays and
shapes, and the default context. Comparisons run in numpy on the arrays' values."""
import contextlib
import numbers
import os
import sys

import numpy as np
import numpy.random as rnd

from . import context as _context
from .array import NDArray

__all__ = ["environment", "random_sample", "np_reduce", "discard_stderr", "default_context",
           "set_default_context", "default_dtype", "default_rtols", "default_atols",
           "default_numeric_eps", "effective_dtype", "get_tolerance", "get_tols", "get_rtol",
           "get_atol", "get_etol",
           "random_arrays", "rand_ndarray", "rand_shape_2d", "rand_shape_3d", "rand_shape_nd",
           "same", "almost_equal", "assert_almost_equal", "assert_allclose",
           "assert_almost_equal_ignore_nan", "assert_exception", "find_max_violation", "retry",
           "list_gpus", "download", "get_mnist", "get_mnist_ubyte", "get_mnist_iterator",
           "get_cifar10", "get_bz2_data", "mx", "np", "array", "use_np", "Context",
           "current_context",
           "Symbol", "os", "sys", "rnd", "is_aarch64_run", "is_cd_run", "same_array",
           "random_uniform_arrays", "is_op_runnable", "has_tvm_ops",
           "check_gluon_hybridize_consistency", "collapse_sum_like", "DummyIter"]
# (MXNet's test_utils has no __all__: its star import brings the modules it imports too, and
# MXNet's tests use os, sys and rnd (numpy.random) through it)


def __getattr__(name):
    """MXNet's test_utils imports mxnet as mx, nd's array, use_np, Context and Symbol at its
    top, so `from mxnet.test_utils import *` (its own tests, and tests written after them)
    brings them along; here they are looked up when asked for."""
    if name == "mx":
        import tracegrad
        return tracegrad
    if name == "array":
        from .nd import array
        return array
    if name == "use_np":
        from .util import use_np
        return use_np
    if name in ("Context", "current_context"):
        return getattr(_context, name)
    if name == "Symbol":
        from .symbol import Symbol
        return Symbol
    if name == "DummyIter":
        return _dummy_iter_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DUMMY_ITER = []


def _dummy_iter_class():
    """MXNet's test_utils.DummyIter (made on first use: io imports more than this module
    should at import time): a DataIter giving the first batch of a real iterator forever,
    for timing and for tests that need one batch repeated."""
    if not _DUMMY_ITER:
        from .io import DataIter

        class DummyIter(DataIter):
            def __init__(self, real_iter):
                super().__init__()
                self.real_iter = real_iter
                self.provide_data = real_iter.provide_data
                self.provide_label = real_iter.provide_label
                self.batch_size = real_iter.batch_size
                self.the_batch = next(real_iter)

            def __iter__(self):
                return self

            def next(self):
                """The real iterator's first batch, every time (never StopIteration)."""
                return self.the_batch

            __next__ = next
        DummyIter.__module__ = __name__
        _DUMMY_ITER.append(DummyIter)
    return _DUMMY_ITER[0]


_INTS = (np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64)


def same_array(array1, array2):
    """Whether two NDArrays share their memory: a change through one shows in the other
    (MXNet's helper; array1 is left as it was)."""
    array1[:] += 1
    shared = same(array1.asnumpy(), array2.asnumpy())
    array1[:] -= 1
    return shared and same(array1.asnumpy(), array2.asnumpy())


def is_aarch64_run():
    """Whether this is an ARM64 machine (MXNet's tests skip a few ARM-specific failures)."""
    import platform
    return platform.machine() in ("aarch64", "arm64")


def is_cd_run():
    """Whether tests run in MXNet's release pipeline ($CD_JOB=1)."""
    return os.environ.get("CD_JOB") == "1"


def default_context():
    """The context tests run in (the current one)."""
    return _context.current_context()


def set_default_context(ctx):
    """Make ctx the current (default) context."""
    _context.set_current_context(ctx)


def default_dtype():
    return np.float32


def default_rtols():
    """Relative tolerance per dtype (exact for ints and bools)."""
    tols = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4,
            np.dtype(np.float64): 1e-5, np.dtype(np.bool_): 0}
    tols.update({np.dtype(t): 0 for t in _INTS})
    return tols


def default_atols():
    """Absolute tolerance per dtype (exact for ints and bools)."""
    tols = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
            np.dtype(np.float64): 1e-20, np.dtype(np.bool_): 0}
    tols.update({np.dtype(t): 0 for t in _INTS})
    return tols


def default_numeric_eps():
    """The finite-difference step per float dtype (powers of two: adding one drops no bits
    of the input)."""
    return {np.dtype(np.float16): 1.0 / 2 ** 6, np.dtype(np.float32): 1.0 / 2 ** 9,
            np.dtype(np.float64): 1.0 / 2 ** 14}


def effective_dtype(dat):
    """The dtype tolerances for dat are chosen by: its own (MXNet narrows float32 to float16
    only for TF32 GEMMs on Ampere GPUs; everything here runs float32 in full)."""
    return np.dtype(dat.dtype)


def get_tolerance(dat, tol, default_tol):
    """tol if it is a number, else its (or the default's) entry for dat's dtype."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = np.dtype(dat.dtype)
    tol = {} if tol is None else tol
    return tol.get(dtype, default_tol[dtype])


def get_tols(x, y, rtol, atol):
    """(rtol, atol) for comparing x and y: the looser of their dtypes' when not given."""
    x = np.array(x) if isinstance(x, numbers.Number) else x
    y = np.array(y) if isinstance(y, numbers.Number) else y
    rtol = max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols()))
    atol = max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols()))
    return rtol, atol


def get_atol(atol=None, dtype=np.dtype(np.float64)):
    return default_atols()[np.dtype(dtype)] if atol is None else atol


def get_rtol(rtol=None, dtype=np.dtype(np.float64)):
    return default_rtols()[np.dtype(dtype)] if rtol is None else rtol


def get_etol(etol=None):
    return 0 if etol is None else etol


def random_arrays(*shapes):
    """Standard-normal numpy arrays of default_dtype, one per shape (one array for one)."""
    arrays = [np.array(np.random.randn(), dtype=default_dtype()) if len(s) == 0
              else np.random.randn(*s).astype(default_dtype()) for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def random_uniform_arrays(*shapes, low=0.0, high=1.0, dtype=None):
    """Uniform [low, high) numpy arrays of `dtype` (default_dtype), one per shape (a list,
    even for one)."""
    dtype = default_dtype() if dtype is None else dtype
    return [np.random.uniform(low, high, size=s).astype(dtype) for s in shapes]


def collapse_sum_like(a, shape):
    """numpy `a` summed over the axes `shape` broadcasts along (the leading ones it lacks and
    its 1s): the gradient of a broadcast input of that shape."""
    a = np.asarray(a)
    shape = tuple(shape)
    lead = a.ndim - len(shape)
    if lead < 0 or any(s not in (1, d) for s, d in zip(shape, a.shape[lead:])):
        raise ValueError(f"collapse_sum_like: shape {shape} does not broadcast to "
                         f"{a.shape}")
    if a.size == 0 or int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=a.dtype)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and a.shape[lead + i] != 1)
    return np.sum(a, axis=axes).reshape(shape)


def is_op_runnable():
    """Whether an operator's tests can run on the current context: always, on the CPU."""
    return True


def has_tvm_ops():
    """Whether operators generated by TVM are built in (MXNet's USE_TVM_OP): never here;
    tests then skip the TVM-only dtype combinations, as on an MXNet built without them."""
    return False


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """A standard-normal NDArray of shape (dtype default float32); a random sparse one
    (test_utils_sparse.py) for stype 'csr' or 'row_sparse'."""
    if stype != "default":
        return rand_sparse_ndarray(shape, stype, density=density, modifier_func=modifier_func,
                                   dtype=dtype, shuffle_csr_indices=shuffle_csr_indices,
                                   distribution=distribution, ctx=ctx)[0]
    from . import nd
    return nd.array(random_arrays(tuple(shape)), dtype=dtype or default_dtype())


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1), rnd.randint(low, dim2 + 1)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """num_dim random sizes in [1, dim] ([0, dim] with allow_zero_size)."""
    low = 0 if allow_zero_size else 1
    return tuple(int(v) for v in rnd.randint(low, dim + 1, size=num_dim))


def _np(x):
    return x.asnumpy() if isinstance(x, NDArray) else x


def same(a, b):
    """Equal shapes and elements."""
    return np.array_equal(_np(a), _np(b))


def _check_shapes(a, b):
    if np.shape(a) != np.shape(b):
        raise AssertionError(f"a.shape = {np.shape(a)} and b.shape = {np.shape(b)} are not "
                             f"equal")


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """np.allclose with the default tolerances (float64's when not given)."""
    a, b = _np(a), _np(b)
    if not use_broadcast:
        _check_shapes(a, b)
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol),
                            equal_nan=equal_nan))


def find_max_violation(a, b, rtol=None, atol=None):
    """(index, ratio) of the element where |a - b| / (atol + rtol |b|) is largest."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    violation = np.abs(a - b) / (get_atol(atol) + get_rtol(rtol) * np.abs(b) + 1e-20)
    violation = np.broadcast_to(np.nan_to_num(violation, nan=np.inf), np.broadcast(a, b).shape)
    if violation.size == 0:
        return (), 0.0
    index = np.unravel_index(np.argmax(violation), violation.shape)
    return index, float(violation[index])


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Raise AssertionError, naming the worst element, unless a and b are close (tolerances
    default per dtype: 1e-4/1e-3 for float32, exact for ints)."""
    if not use_broadcast:
        _check_shapes(a, b)
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = np.asarray(_np(a)), np.asarray(_np(b))
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        np.testing.assert_equal(a, b)
        return
    try:
        np.broadcast(a, b)
    except ValueError:
        raise AssertionError(f"{names[0]} of shape {a.shape} and {names[1]} of shape "
                             f"{b.shape} do not broadcast") from None
    if almost_equal(a, b, rtol, atol, equal_nan=equal_nan):
        return
    index, ratio = find_max_violation(a, b, rtol, atol)
    av, bv = np.broadcast_arrays(a, b)
    bad = ~np.isclose(av, bv, rtol=rtol, atol=atol, equal_nan=equal_nan)
    where = f" at {tuple(int(i) for i in index)}: {names[0]}={av[index].item()!r}, " \
            f"{names[1]}={bv[index].item()!r}" if index != () else ""
    raise AssertionError(
        f"Error {ratio:f} exceeds tolerance rtol={rtol:e}, atol={atol:e} "
        f"({int(bad.sum())} of {bad.size} elements differ); maximum error{where}")


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=("a", "b")):
    """assert_almost_equal after zeroing the positions where either is NaN."""
    a, b = np.copy(_np(a)), np.copy(_np(b))
    nan = np.logical_or(np.isnan(a), np.isnan(b))
    a[nan], b[nan] = 0, 0
    assert_almost_equal(a, b, rtol, atol, names)


def assert_exception(f, exception_type, *args, **kwargs):
    """f(*args, **kwargs) must raise exception_type."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)} did not raise "
                         f"{exception_type.__name__}")


def retry(n):
    """Decorator: rerun a stochastic test up to n times while it fails an assertion."""
    if n <= 0:
        raise ValueError(f"retry: n must be positive, got {n}")

    def decorate(f):
        def wrapper(*args, **kwargs):
            for i in range(n):
                try:
                    return f(*args, **kwargs)
                except AssertionError:
                    if i == n - 1:
                        raise
        return wrapper
    return decorate


def list_gpus():
    """GPU ids: none here (tracegrad computes on the CPU)."""
    return range(0)


def download(url, fname=None, dirname=None, overwrite=False, retries=5):
    """Fetch url to fname (default: the URL's last component) in dirname, unless the file is
    already there and overwrite is False; returns the file name."""
    if retries < 0:
        raise ValueError(f"download: retries must be >= 0, got {retries}")
    fname = url.split("/")[-1] if fname is None else fname
    if dirname is None:
        dirname = os.path.dirname(fname)
    else:
        fname = os.path.join(dirname, fname)
    if dirname:
        os.makedirs(dirname, exist_ok=True)
    if not overwrite and os.path.exists(fname):
        return fname
    from .gluon.utils import download as fetch
    return fetch(url, path=fname, overwrite=True, retries=retries)


def get_mnist():
    """MNIST as numpy arrays: {'train_data', 'train_label', 'test_data', 'test_label'}, images
    (N, 1, 28, 28) float32 in [0, 1], labels int8; the idx files are read from the current
    directory (fetched from data.mxnet.io first when missing)."""
    from .gluon.data.vision.datasets import _read_idx
    base = "http://data.mxnet.io/data/mnist/"

    def read(labels_name, images_name):
        labels = _read_idx(download(base + labels_name), 2049, (None,)).astype(np.int8)
        images = _read_idx(download(base + images_name), 2051, (len(labels), 28, 28))
        return labels, images.reshape(len(labels), 1, 28, 28).astype(np.float32) / 255

    train_label, train_data = read("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz")
    test_label, test_data = read("t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    return {"train_data": train_data, "train_label": train_label,
            "test_data": test_data, "test_label": test_label}


def _unzip_unless_present(url, paths):
    """MXNet's data helpers: fetch and unpack the zip at `url` into ./data unless every one of
    `paths` is there already."""
    os.makedirs("data", exist_ok=True)
    if not all(os.path.exists(p) for p in paths):
        import zipfile
        with zipfile.ZipFile(download(url, dirname="data")) as zf:
            zf.extractall("data")


def get_mnist_ubyte():
    """MNIST's four uncompressed idx files in ./data (data.mxnet.io's mnist.zip when one is
    missing), as mx.io.MNISTIter reads them."""
    _unzip_unless_present("http://data.mxnet.io/mxnet/data/mnist.zip", [
        "data/train-images-idx3-ubyte", "data/train-labels-idx1-ubyte",
        "data/t10k-images-idx3-ubyte", "data/t10k-labels-idx1-ubyte"])


def get_cifar10():
    """CIFAR-10's RecordIO files in ./data/cifar (data.mxnet.io's cifar10.zip when one is
    missing), as mx.io.ImageRecordIter reads them."""
    _unzip_unless_present("http://data.mxnet.io/mxnet/data/cifar10.zip", [
        "data/cifar/train.rec", "data/cifar/test.rec", "data/cifar/train.lst",
        "data/cifar/test.lst"])


def get_bz2_data(data_dir, data_name, url, data_origin_name):
    """MXNet's helper for its LibSVM data: `data_dir/data_name` holds the bz2 file at `url`
    decompressed; when it is missing, the archive is fetched as `data_dir/data_origin_name`,
    unpacked, and the archive removed."""
    import bz2
    target = os.path.join(data_dir, data_name)
    if os.path.exists(target):
        return
    archive = os.path.join(data_dir, data_origin_name)
    download(url, fname=data_origin_name, dirname=data_dir, overwrite=False)
    with bz2.BZ2File(archive, "rb") as packed, open(target, "wb") as out:
        for chunk in iter(lambda: packed.read(1 << 20), b""):
            out.write(chunk)
    os.remove(archive)


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """(train, val) mx.io.MNISTIter over ./data's idx files: flat (batch, 784) images unless
    `input_shape` has 3 dimensions; the training one shuffled."""
    from .io import MNISTIter
    get_mnist_ubyte()
    flat = len(input_shape) != 3
    train = MNISTIter(image="data/train-images-idx3-ubyte", label="data/train-labels-idx1-ubyte",
                      input_shape=input_shape, batch_size=batch_size, shuffle=True, flat=flat,
                      num_parts=num_parts, part_index=part_index)
    val = MNISTIter(image="data/t10k-images-idx3-ubyte", label="data/t10k-labels-idx1-ubyte",
                    input_shape=input_shape, batch_size=batch_size, flat=flat,
                    num_parts=num_parts, part_index=part_index)
    return train, val


@contextlib.contextmanager
def environment(*args):
    """`with environment('NAME', 'value'):` or `with environment({'NAME': 'value', ...}):`:
    the variables set (None: unset) for the body, restored afterwards (MXNet's helper)."""
    if len(args) == 2:
        settings = {args[0]: args[1]}
    elif len(args) == 1 and isinstance(args[0], dict):
        settings = dict(args[0])
    else:
        raise ValueError(f"environment: expected (name, value) or a dict, got {args!r}")
    saved = {k: os.environ.get(k) for k in settings}
    try:
        _set_environ(settings)
        yield
    finally:
        _set_environ(saved)


def _set_environ(settings):
    """Each name to its value; a None value unsets the name."""
    for k, v in settings.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def random_sample(population, k):
    """k elements of the list `population` in random order (numpy's global generator)."""
    if not 0 <= k <= len(population):
        raise ValueError(f"random_sample: k={k} is outside [0, {len(population)}]")
    shuffled = list(population)
    np.random.shuffle(shuffled)
    return shuffled[:k]


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """numpy_reduce_func (np.sum, np.max, ...) over `axis` (an int, a list, or None: all), one
    axis at a time from the last, as MXNet's helper does; keepdims keeps them as 1s."""
    axes = [axis] if isinstance(axis, numbers.Integral) else (
        list(axis) if axis is not None else list(range(dat.ndim)))
    out = dat
    for a in sorted(axes, reverse=True):
        out = numpy_reduce_func(out, axis=a)
    if keepdims:
        shape = list(dat.shape)
        for a in axes:
            shape[a] = 1
        out = out.reshape(tuple(shape))
    return out


@contextlib.contextmanager
def discard_stderr():
    """The body's writes to the stderr file descriptor are discarded."""
    import sys
    with open(os.devnull, "w") as sink:
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, ValueError):
            yield
            return
        saved = os.dup(fd)
        try:
            os.dup2(sink.fileno(), fd)
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


# the symbolic checks (bound Executors): symbol_checks.py
from .symbol_checks import (check_consistency, check_numeric_gradient,  # noqa: E402
                            check_symbolic_backward, check_symbolic_forward, numeric_grad,
                            simple_forward)

# random sparse arrays: test_utils_sparse.py
from .test_utils_sparse import (assign_each, assign_each2, create_sparse_array,  # noqa: E402
                                create_sparse_array_zd, rand_sparse_ndarray,
                                shuffle_csr_column_indices)

# statistical checks of random generators: test_utils_random.py
from .test_utils_random import (chi_square_check, gen_buckets_probs_with_ppf,  # noqa: E402
                                mean_check, var_check, verify_generator)

# random matrices for linear-algebra tests: test_utils_linalg.py
from .test_utils_linalg import (new_matrix_with_real_eigvals_2d,  # noqa: E402
                                new_matrix_with_real_eigvals_nd, new_orthonormal_matrix_2d,
                                new_sym_matrix_with_real_eigvals_2d,
                                new_sym_matrix_with_real_eigvals_nd)

__all__ += ["new_matrix_with_real_eigvals_2d", "new_matrix_with_real_eigvals_nd",
            "new_orthonormal_matrix_2d", "new_sym_matrix_with_real_eigvals_2d",
            "new_sym_matrix_with_real_eigvals_nd"]
__all__ += ["chi_square_check", "gen_buckets_probs_with_ppf", "mean_check", "var_check",
            "verify_generator"]
__all__ += ["assign_each", "assign_each2", "create_sparse_array", "create_sparse_array_zd",
            "rand_sparse_ndarray", "shuffle_csr_column_indices"]
__all__ += ["check_consistency", "check_numeric_gradient", "check_symbolic_backward",
            "check_symbolic_forward",
            "numeric_grad", "simple_forward"]


def check_gluon_hybridize_consistency(net_builder, data_l, numpy_func=None, test_grad=True,
                                      rtol=1e-4, atol=1e-4):
    """Assert that the block `net_builder(prefix='net_')` builds gives the same outputs (and,
    with `test_grad`, input gradients for a head gradient equal to the output) eager and
    hybridized, with the parameters of the first one built; and, given `numpy_func`, the
    outputs it computes from the inputs. Under set_np semantics, as MXNet's."""
    from .util import np_array, np_shape
    from .initializer import Initializer, _fill

    class _Saved(Initializer):
        """The first net's values, by parameter name: read after its first forward, so a
        deferred parameter (a Dense's input dim) has them too; later nets start from them."""

        def _init_weight(self, name, arr):
            _fill(arr, params[name])

    with np_shape(True), np_array(True):
        saved_out, saved_grads, params = None, None, None
        for hybridize in (False, True):
            for use_autograd in ((False, True) if test_grad else (False,)):
                net = net_builder(prefix="net_")
                if params is None:
                    net.initialize()
                else:
                    net.initialize(_Saved())
                    for k, v in net.collect_params().items():   # (one with its own init)
                        if v._data is not None:
                            v.set_data(params[k])
                if hybridize:
                    net.hybridize()
                inputs = [x.copy() for x in data_l]
                if use_autograd:
                    from . import autograd
                    for x in inputs:
                        x.attach_grad()
                    with autograd.record():
                        out = net(*inputs)
                    out.backward(out)
                else:
                    out = net(*inputs)
                if params is None:
                    params = {k: v.data().asnumpy() for k, v in net.collect_params().items()}
                if saved_out is None:
                    saved_out = out.asnumpy()
                else:
                    assert_almost_equal(out.asnumpy(), saved_out, rtol=rtol, atol=atol,
                                        names=(f"output (hybridize={hybridize})", "first output"))
                if use_autograd:
                    grads = [x.grad.asnumpy() for x in inputs]
                    if saved_grads is None:
                        saved_grads = grads
                    else:
                        for g, want in zip(grads, saved_grads):
                            assert_almost_equal(g, want, rtol=rtol, atol=atol,
                                                names=(f"input gradient (hybridize={hybridize})",
                                                       "first input gradient"))
        if numpy_func is not None:
            want = numpy_func(*[x.asnumpy() for x in data_l])
            assert_almost_equal(saved_out, want, rtol=rtol, atol=atol,
                                names=("output", "numpy_func"))


def compare_ndarray_tuple(t1, t2, rtol=None, atol=None):
    """Two optimizer states (an NDArray, a tuple of them, nested, or None) agree."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, tuple):
        for a, b in zip(t1, t2):
            compare_ndarray_tuple(a, b, rtol, atol)
    else:
        assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def compare_optimizer(opt1, opt2, shape, dtype, w_stype="default", g_stype="default",
                      rtol=1e-4, atol=1e-5, compare_states=True, ntensors=1):
    """One update of opt1 and of opt2 from the same random weight and gradient: the states
    they create and the weights they leave agree (MXNet's test helper: opt1 is typically a
    reference written in the test, opt2 the library's). A list of shapes: opt2 updates the
    `ntensors` weights in one multi-tensor call, opt1 one by one."""
    import copy

    from . import random as _random
    if not isinstance(shape, list):
        if ntensors != 1:
            raise ValueError("compare_optimizer: one shape means one tensor")
        w1, w2 = (_pair(shape, dtype, w_stype, density=1) if w_stype != "default" else
                  _pair_dense(_random.uniform(shape=shape, dtype=dtype)))
        g1, g2 = (_pair(shape, dtype, g_stype) if g_stype != "default" else
                  _pair_dense(_random.uniform(shape=shape, dtype=dtype)))
        state1 = opt1.create_state_multi_precision(0, w1)
        state2 = opt2.create_state_multi_precision(0, w2)
        if compare_states:
            compare_ndarray_tuple(state1, state2)
        opt1.update_multi_precision(0, w1, g1, state1)
        opt2.update_multi_precision(0, w2, g2, state2)
        if compare_states:
            compare_ndarray_tuple(state1, state2, rtol=rtol, atol=atol)
        assert_almost_equal(w1, w2, rtol=rtol, atol=atol)
        return
    w1 = tuple(_random.uniform(shape=s, dtype=dtype) for s in shape)
    g1 = tuple(_random.uniform(shape=s, dtype=dtype) for s in shape)
    w2, g2 = copy.deepcopy(w1), copy.deepcopy(g1)
    state2 = [opt2.create_state_multi_precision(0, w2[i]) for i in range(ntensors)]
    opt2.update_multi_precision(list(range(ntensors)), w2, g2, state2)
    for i in range(ntensors):
        state1 = opt1.create_state_multi_precision(i, w1[i])
        opt1.update_multi_precision(i, w1[i], g1[i], state1)
        if compare_states:
            compare_ndarray_tuple(state1, state2[i], rtol, atol)
        compare_ndarray_tuple(w1[i], w2[i], rtol, atol)


def _pair_dense(a):
    return a.copy(), a


def _pair(shape, dtype, stype, density=None):
    """(a dense copy, the sparse array) of a random sparse array."""
    sparse = rand_ndarray(shape, stype, density=density, dtype=dtype)
    return sparse.tostype("default"), sparse


__all__ += ["compare_ndarray_tuple", "compare_optimizer"]
