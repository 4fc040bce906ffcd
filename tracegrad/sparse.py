"""mx.nd.sparse: MXNet 1.x's sparse storage types, CSRNDArray ('csr', 2-d) and
RowSparseNDArray ('row_sparse'), and the functions that make and combine them.

The values are kept dense (every op, autograd and compiled code read them as any NDArray);
the storage type is what the array reports and how it is shown: `data`, `indices` and
`indptr` are computed from the values and from the entries (rows) the array was made with,
so an entry stored as an explicit zero stays listed, as in MXNet. Results have MXNet's
storage types (sparse_storage.py's table, read by the nd functions, the array methods and
operators, and the executors): zero-preserving unary ops (abs, negative, sqrt, relu, ...),
a sparse array times or divided by a number and elemwise_add / sub / mul of one sparse
type keep it, `dot(csr.T, dense)` is row_sparse; exp, cos, ... (f(0) != 0) are dense.
Row_sparse gradients are updated lazily by SGD and Adam (gluon/trainer.py); those of
Embedding(sparse_grad=True) list the rows it looked up (sparse_rows.py); io.LibSVMIter
yields csr batches. The operators whose MXNet kernels compute stored entries only (csr *
nan, elemwise_mul(csr, dense), ...) do so (sparse_kernels.py). nd.save writes a list with a
sparse array in MXNet's format (its stored entries and index arrays, `to_record`), and files
MXNet wrote load with their csr / row_sparse arrays (mxnet_format.py). Index arrays whose
values break the format are taken as MXNet takes them and reported by check_format
(sparse_format.py).
"""
import numpy as np

from . import nd, sparse_format, sparse_kernels, sparse_layout, sparse_storage
from .array import NDArray, on_context, wrap
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["BaseSparseNDArray", "CSRNDArray", "RowSparseNDArray", "csr_matrix",
           "row_sparse_array", "array", "zeros", "empty", "dot", "retain", "cast_storage",
           "add", "subtract", "multiply", "divide", "elemwise_add", "elemwise_sub",
           "elemwise_mul", "elemwise_div", "negative", "relabel"]
# the zero-preserving unary ops (nd's, keeping a sparse input's storage type) and clip
__all__ += [n for n in sparse_storage.ND_FUNCTIONS if n not in __all__ and
            sparse_storage.RULES.get(n) in (sparse_storage._keep, sparse_storage._clip)]

STYPES = ("default", "row_sparse", "csr")
STYPE_CODES = {s: k for k, s in enumerate(STYPES)}     # (MXNet's codes: 0, 1, 2)


def _default_dtype(src, dtype):
    """MXNet's rule: the given dtype, else the source's (numpy / NDArray / scipy), else
    float32 (a plain Python list)."""
    if dtype is not None:
        return np.dtype(dtype)
    if isinstance(src, NDArray):
        return np.dtype(src.dtype)
    if isinstance(src, np.ndarray) or is_scipy_sparse(src):
        return src.dtype
    return np.dtype(np.float32)


def is_scipy_sparse(x):
    """Whether `x` is a scipy.sparse matrix (scipy is not a dependency: read by its module)."""
    return type(x).__module__.startswith("scipy.sparse")


def _numpy(x):
    return x.asnumpy() if isinstance(x, NDArray) else np.asarray(x)


def _index_array(x, what, who):
    a = _numpy(x)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu" and not np.all(a == np.floor(a))):
        raise MXNetError(f"{who}: {what} must be a 1-d array of integers, got "
                         f"{a.dtype} of shape {a.shape}")
    return a.astype(np.int64)


class BaseSparseNDArray(NDArray):
    """A sparse NDArray (dense values, a storage type; module docstring). `_stored`: the
    entries (csr: a boolean matrix) or rows (row_sparse: a boolean vector) the array was
    made with, listed even where their value is zero; None: its nonzeros only. Every value
    an op computes from it goes through the dense NDArray ops, so autograd records it and a
    trace (jit, hybridize) reads it at every call; only the listing is sparse. `_raw`: the
    index arrays it was made with when they break MXNet's format (sparse_format.py)."""
    __slots__ = ("_stored", "_raw")
    _STYPE = None
    _NUM_AUX = 0

    @property
    def _num_aux(self):
        """How many index arrays the storage type has (MXNet's: csr 2, row_sparse 1)."""
        return self._NUM_AUX

    @property
    def stype(self):
        return self._STYPE

    def __repr__(self):
        shape = "x".join(str(d) for d in self.shape)
        return f"\n<{type(self).__name__} {shape} @{self.context}>"

    __str__ = __repr__

    def _listed(self, why):
        """The values, concrete (a trace guards on them, as on any value read)."""
        self._placeable()
        self._concretize(why)
        return self._data

    def _placeable(self):
        raw = self._raw
        if raw is not None and raw.dense is None:
            raise MXNetError(f"{type(self).__name__} {self.shape}: its index arrays place "
                             f"entries outside its data or shape, so it has no values: "
                             f"{raw.fault}")

    def asnumpy(self):
        self._placeable()
        return NDArray.asnumpy(self)

    def copy(self):
        return _relabel(_dense(self).copy(), type(self), self._stored)

    def detach(self):
        """The same sparse array (its storage type kept, as MXNet's), cut from the graph."""
        return _relabel(NDArray.detach(self), type(self), self._stored)

    def attach_grad(self, grad_req="write", stype=None):
        """As NDArray's; the gradient is shown in this array's storage type unless `stype`
        says another (MXNet's default)."""
        NDArray.attach_grad(self, grad_req, self._STYPE if stype is None else stype)

    def astype(self, dtype, copy=True):
        if not copy and np.dtype(dtype) == self._data.dtype:
            return self
        return _relabel(_dense(self).astype(dtype), type(self), self._stored)

    def as_in_context(self, context):
        """This array on `context`: itself if it is there, else a copy placed there."""
        return self if context == self.context else on_context(self.copy(), context)

    def copyto(self, other):
        if isinstance(other, NDArray):
            if tuple(other.shape) != tuple(self.shape):
                raise MXNetError(f"copyto: shape {tuple(self.shape)} into an array of shape "
                                 f"{tuple(other.shape)}")
            other[:] = self
            return other
        return self.copy()

    def tostype(self, stype):
        return cast_storage(self, stype)

    def todense(self):
        return cast_storage(self, "default")

    def check_format(self, full_check=True):
        """MXNet's check: raises MXNetError if the index arrays the array was made with
        break its format (sparse_format.py); arrays made any other way are valid."""
        if self._raw is not None and full_check:
            raise MXNetError(f"check_format: {self._raw.fault}")

    def __setitem__(self, key, value):
        if not (isinstance(key, slice) and key == slice(None)):
            raise MXNetError(f"{type(self).__name__} supports only x[:] = value assignment, "
                             f"got key {key!r}")
        NDArray.__setitem__(self, key, _dense(value))
        self._stored = value._stored if isinstance(value, type(self)) else None
        self._raw = None

    # ------------------------------------------------------------------ operators
    # MXNet's BaseSparseNDArray: +, -, *, / are sparse.add / subtract / multiply / divide;
    # the reflected ones are NDArray's (x + 2 for 2 + x, x * 2 for 2 * x, nd.subtract(2, x),
    # ...); -x is _mul_scalar(x, -1). The output storage is sparse_storage.py's. Python asks
    # a subclass's reflected method first, so `dense * x` lands here: MXNet's NDArray (no
    # reflected methods of its own in BaseSparseNDArray) computes it as nd.multiply(dense, x).
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return nd.add(other, self) if isinstance(other, NDArray) else add(self, other)

    def __sub__(self, other):
        return subtract(self, other)

    def __mul__(self, other):
        return multiply(self, other)

    def __rmul__(self, other):
        return nd.multiply(other, self) if isinstance(other, NDArray) else \
            multiply(self, other)

    def __truediv__(self, other):
        return divide(self, other)

    __div__ = __truediv__

    def __rsub__(self, other):
        return nd.subtract(other, self)

    def __rtruediv__(self, other):
        return nd.divide(other, self)

    def __neg__(self):
        return nd.negative(self)

    # comparisons: nd.equal ... lesser_equal, whose storage type is MXNet's (a number that 0
    # does not satisfy keeps it: csr > 0 is csr, csr >= 0 dense). Python turns `0 > x` into
    # x < 0, as MXNet's reflected _lesser_scalar does.
    def __eq__(self, other):
        return nd.equal(self, other)

    def __ne__(self, other):
        return nd.not_equal(self, other)

    def __gt__(self, other):
        return nd.greater(self, other)

    def __ge__(self, other):
        return nd.greater_equal(self, other)

    def __lt__(self, other):
        return nd.lesser(self, other)

    def __le__(self, other):
        return nd.lesser_equal(self, other)

    __hash__ = NDArray.__hash__


def _make(cls, values, stored=None):
    out = cls.__new__(cls)
    out._data, out._value, out._var, out._leaf = values, None, None, None
    out._stored, out._raw = stored, None
    return out


def _relabel(out, cls, stored=None):
    """`out` (an op's result, recorded or traced) shown as storage class `cls`: the same
    values and tape value, so autograd and traces still reach it."""
    res = _make(cls, out._data, stored)
    res._value, res._var, res._leaf = out._value, out._var, out._leaf
    ctx = getattr(out, "_ctx", None)
    if ctx is not None:
        res._ctx = ctx
    return res


def _nonzero_mask(a, values):
    return values != 0 if isinstance(a, CSRNDArray) else np.any(
        values.reshape(values.shape[0], -1) != 0, axis=1)


class CSRNDArray(BaseSparseNDArray):
    """A 2-d array in compressed sparse row storage (`data`, `indices`, `indptr`)."""
    __slots__ = ()
    _STYPE = "csr"
    _NUM_AUX = 2

    def _mask(self):
        m = self._listed("a CSRNDArray's listing") != 0
        return m if self._stored is None else (m | self._stored)

    @property
    def data(self):
        if self._raw is not None:
            return wrap(self._raw.data.copy())
        return wrap(self._data[self._mask()].copy())

    @property
    def indices(self):
        if self._raw is not None:
            return wrap(self._raw.aux[1].copy())
        return wrap(np.nonzero(self._mask())[1].astype(np.int64))

    @property
    def indptr(self):
        if self._raw is not None:
            return wrap(self._raw.aux[0].copy())
        counts = self._mask().sum(axis=1)
        return wrap(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def asscipy(self):
        import scipy.sparse as spsp
        return spsp.csr_matrix((self.data.asnumpy(), self.indices.asnumpy(),
                                self.indptr.asnumpy()), shape=self.shape)

    def __getitem__(self, key):
        """Rows: an int (a 1-row CSRNDArray, as MXNet gives) or a slice of step 1."""
        n = self.shape[0]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            k = int(key) + (n if key < 0 else 0)
            if not 0 <= k < n:
                raise IndexError(f"index {key} is out of bounds for a CSRNDArray of "
                                 f"{n} rows")
            key = slice(k, k + 1)
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise MXNetError(f"CSRNDArray supports row slicing with step 1 only, got "
                             f"{key!r}")
        start, stop, _ = key.indices(n)
        stop = max(stop, start)
        stored = None if self._stored is None else self._stored[start:stop].copy()
        return _relabel(NDArray.__getitem__(_dense(self), slice(start, stop)).copy(),
                        CSRNDArray, stored)


class RowSparseNDArray(BaseSparseNDArray):
    """An array storing some of its rows (`indices`, ascending) and their values (`data`)."""
    __slots__ = ()
    _STYPE = "row_sparse"
    _NUM_AUX = 1

    def _rows(self):
        m = _nonzero_mask(self, self._listed("a RowSparseNDArray's listing"))
        if self._stored is not None:
            m = m | self._stored
        return np.nonzero(m)[0].astype(np.int64)

    @property
    def data(self):
        if self._raw is not None:
            return wrap(self._raw.data.copy())
        return wrap(self._data[self._rows()].copy())

    @property
    def indices(self):
        if self._raw is not None:
            return wrap(self._raw.aux[0].copy())
        return wrap(self._rows())

    def retain(self, indices):
        return retain(self, indices)

    def __getitem__(self, key):
        if isinstance(key, slice) and key == slice(None):
            return self
        raise MXNetError(f"RowSparseNDArray supports only x[:], got {key!r}")


_CLASS = {"csr": CSRNDArray, "row_sparse": RowSparseNDArray}


# ------------------------------------------------------------------ making them
def csr_matrix(arg1, shape=None, ctx=None, dtype=None):
    """A CSRNDArray from (data, indices, indptr), (data, (row, col)) coordinates, a scipy
    sparse matrix, a 2-d dense array or CSRNDArray, or a shape (all zeros), on `ctx`. A
    `shape` that differs from the source's is a ValueError, as in MXNet."""
    return on_context(_csr_matrix(arg1, shape, dtype), ctx)


def _csr_matrix(arg1, shape, dtype):
    who = "csr_matrix"
    if isinstance(arg1, tuple) and all(isinstance(d, (int, np.integer)) for d in arg1):
        _check_shape(arg1, shape, who)
        return zeros("csr", arg1, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 3:
        data, indices, indptr = arg1
        dt = _default_dtype(data, dtype)
        values = _numpy(data).reshape(-1).astype(dt)
        indices = _index_array(indices, "indices", who)
        indptr = _index_array(indptr, "indptr", who)
        shape = _shape(shape, lambda: (len(indptr) - 1, int(indices.max()) + 1),
                       len(indices), who)
        if len(shape) == 2 and len(indptr) == shape[0] + 1 and len(values) == len(indices):
            raw = sparse_format.csr(shape, values, indptr, indices)
            if raw is not None:
                return _unchecked(CSRNDArray, shape, raw)
        return _laid_out(CSRNDArray, who, sparse_layout.csr, shape, values, indptr, indices)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        data, (row, col) = arg1
        dt = _default_dtype(data, dtype)
        row, col = _index_array(row, "row", who), _index_array(col, "col", who)
        values = _numpy(data).reshape(-1)
        if not len(row) == len(col) == len(values):
            raise MXNetError(f"{who}: data, row and col must have one entry each, got "
                             f"{len(values)}, {len(row)}, {len(col)}")
        inferred = (int(row.max()) + 1 if len(row) else 0, int(col.max()) + 1 if len(col) else 0)
        if shape is None:
            shape = inferred
        return _laid_out(CSRNDArray, who, sparse_layout.coordinates,
                         _shape(shape, None, 1, who), values.astype(dt), row, col, True)
    if is_scipy_sparse(arg1):
        _check_shape(arg1.shape, shape, who)
        coo = arg1.tocoo()
        return _laid_out(CSRNDArray, who, sparse_layout.coordinates, tuple(coo.shape),
                         coo.data.astype(_default_dtype(arg1, dtype)),
                         coo.row.astype(np.int64), coo.col.astype(np.int64), True)
    if isinstance(arg1, RowSparseNDArray):
        raise ValueError(f"{who}: expects dense or csr data, got a RowSparseNDArray")
    return _from_dense(arg1, dtype, "csr", shape, who)


def _from_dense(src, dtype, stype, shape=None, who=None):
    """cast_storage of a dense (or same-type sparse) source in its default dtype: recorded,
    as MXNet's dense.tostype(stype) is."""
    dt = _default_dtype(src, dtype)
    if not isinstance(src, NDArray):
        src = nd.array(_numpy(src), dtype=dt)
    elif np.dtype(src.dtype) != dt:
        src = src.astype(dt)
    _check_shape(src.shape, shape, who)
    return cast_storage(src, stype)


def _laid_out(cls, who, layout, shape, *args):
    """The sparse array of `layout`'s (dense, stored) from these index arrays."""
    try:
        dense, stored = layout(shape, *args)
    except ValueError as e:
        raise MXNetError(f"{who}: {e}") from None
    return _make(cls, dense, stored)


def _unchecked(cls, shape, raw):
    """A sparse array over index arrays MXNet's format check refuses (sparse_format.py)."""
    out = _make(cls, raw.dense if raw.dense is not None else np.zeros(shape, raw.data.dtype))
    out._raw = raw
    return out


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None):
    """A RowSparseNDArray from (data, indices) (data's rows stored at those row indices), a
    dense array or RowSparseNDArray, or a shape (all zeros), on `ctx`."""
    return on_context(_row_sparse_array(arg1, shape, dtype), ctx)


def _row_sparse_array(arg1, shape, dtype):
    who = "row_sparse_array"
    if isinstance(arg1, tuple) and all(isinstance(d, (int, np.integer)) for d in arg1):
        _check_shape(arg1, shape, who)
        return zeros("row_sparse", arg1, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        data, indices = arg1
        dt = _default_dtype(data, dtype)
        values = _numpy(data).astype(dt)
        indices = _index_array(indices, "indices", who)
        # (MXNet's inferred row count: the last index's, they being ascending)
        shape = _shape(shape, lambda: (int(indices[-1]) + 1,) + values.shape[1:],
                       len(indices), who)
        if values.ndim >= 1 and values.shape[0] == len(indices) and \
                tuple(values.shape[1:]) == tuple(shape[1:]):
            raw = sparse_format.row_sparse(shape, values, indices)
            if raw is not None:
                return _unchecked(RowSparseNDArray, shape, raw)
        return _laid_out(RowSparseNDArray, who, sparse_layout.row_sparse, shape, values,
                         indices)
    if isinstance(arg1, CSRNDArray):
        raise ValueError(f"{who}: expects dense or row_sparse data, got a CSRNDArray")
    return _from_dense(arg1, dtype, "row_sparse", shape, who)


def _check_shape(have, want, who):
    """MXNet's _check_shape: a given `shape` must be the source's (ValueError)."""
    if want is not None and have and want and tuple(have) != tuple(want):
        raise ValueError(f"{who}: shape {tuple(want)} given for a source of shape "
                         f"{tuple(have)}")


def _shape(shape, inferred, n_indices, who):
    """`shape` checked, or the one `inferred()` gives from the indices (MXNet: none to infer
    it from is a ValueError)."""
    if shape is None:
        if not n_indices:
            raise ValueError(f"{who}: cannot infer the shape from no indices; give shape=")
        return tuple(int(d) for d in inferred())
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise MXNetError(f"{who}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise MXNetError(f"{who}: shape {shape} has a negative dimension")
    return shape


def array(source_array, ctx=None, dtype=None):
    """A sparse array from a scipy sparse matrix (csr) or a sparse NDArray (a copy), on `ctx`
    (default: the current context, as MXNet's)."""
    if isinstance(source_array, BaseSparseNDArray):
        return on_context(_from_dense(source_array, dtype, source_array.stype), ctx)
    if is_scipy_sparse(source_array):
        return csr_matrix(source_array, ctx=ctx, dtype=dtype)
    raise ValueError(f"sparse.array: expects a scipy sparse matrix or a sparse NDArray, got "
                     f"{type(source_array).__name__} (use mx.nd.array for dense data)")


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):
    """An all-zero array of storage type `stype`, on `ctx`."""
    if kwargs:
        return _redo(zeros, locals())
    if stype not in STYPES:
        raise ValueError(f"zeros: unknown storage type {stype!r} (known: {STYPES})")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    values = np.zeros(shape, np.dtype(dtype) if dtype is not None else np.float32)
    if stype == "default":
        return on_context(wrap(values), ctx)
    return on_context(cast_storage(wrap(values), stype), ctx)


def empty(stype, shape, ctx=None, dtype=None):
    return zeros(stype, shape, ctx, dtype)


def cast_storage(data, stype):
    """`data` as a new array of storage type `stype` ('default', 'csr' or 'row_sparse'): a
    copy, recorded as one (autograd and traces reach the source)."""
    if stype not in STYPES:
        raise MXNetError(f"cast_storage: unknown storage type {stype!r} (known: {STYPES})")
    if not isinstance(data, NDArray):
        data = nd.array(data)
    if stype == "csr" and data.ndim != 2:
        raise MXNetError(f"cast_storage: csr storage is 2-d, got shape {data.shape}")
    if stype == "row_sparse" and data.ndim < 1:
        raise MXNetError("cast_storage: row_sparse storage needs at least 1 dimension")
    out = _dense(data).copy()
    if stype == "default":
        return out
    same = isinstance(data, BaseSparseNDArray) and data.stype == stype
    stored = data._stored.copy() if same and data._stored is not None else None
    return _relabel(out, _CLASS[stype], stored)


def from_file(record):
    """The sparse NDArray of an mxnet_format.SparseArray (an MXNet file's csr / row_sparse
    array), listing the entries the file stored."""
    return _make(_CLASS[record.stype], record.dense, record.stored)


def to_record(x):
    """The mxnet_format.SparseRecord of sparse array `x`: the entries (rows) it lists, as
    MXNet's NDArray::Save writes them."""
    from .mxnet_format import SparseRecord
    if isinstance(x, CSRNDArray):
        return SparseRecord("csr", x.shape, x.data.asnumpy(),
                            [x.indptr.asnumpy(), x.indices.asnumpy()])
    return SparseRecord("row_sparse", x.shape, x.data.asnumpy(), [x.indices.asnumpy()])


def parameter_record(values, stype):
    """The SparseRecord MXNet's save_parameters writes for a sparse Parameter's values (numpy):
    row_sparse with every row (Parameter._reduce pulls all rows), csr with its nonzeros."""
    if stype == "row_sparse":
        stored = np.ones(values.shape[0] if values.ndim else 0, bool)
        return to_record(storage_view(values, stype, stored))
    return to_record(storage_view(values, stype))


def storage_view(values, stype, stored=None):
    """A sparse array of `stype` over the numpy array `values` itself (a gradient buffer, a
    stored value), listing its nonzeros and the `stored` entries (a row_sparse gradient:
    the rows Embedding looked up, sparse_rows.py)."""
    return _make(_CLASS[stype], values, stored)


# ------------------------------------------------------------------ ops
def dot(lhs, rhs, transpose_a=False, transpose_b=False, forward_stype=None):
    """nd.dot with MXNet's output storage: row_sparse for dot(csr.T, dense), csr for
    dot(dense, csr), else dense (or `forward_stype` when given)."""
    fixed = sparse_kernels.dot_operands(lhs, rhs, transpose_a, transpose_b, forward_stype)
    if fixed is None:
        out = nd.dot(_dense(lhs), _dense(rhs), transpose_a=transpose_a,
                     transpose_b=transpose_b)
    else:       # (a non-finite value meets the csr's stored entries only, as in MXNet)
        lhs_, rhs_, correction = fixed
        out = nd.dot(_dense(lhs_), _dense(rhs_), transpose_a=transpose_a,
                     transpose_b=transpose_b) + nd.array(correction, dtype=lhs.dtype)
    stype = sparse_storage.infer(
        "dot", [getattr(lhs, "stype", "default"), getattr(rhs, "stype", "default")],
        dict(transpose_a=transpose_a, transpose_b=transpose_b, forward_stype=forward_stype))
    if stype == "default":
        return out
    if stype == "csr" and out.ndim != 2:
        raise MXNetError(f"dot: forward_stype 'csr' needs a 2-d result, got {out.shape}")
    return _relabel(out, _CLASS[stype])


def _dense(x):
    """x as a plain NDArray over the same values and tape value (ops differentiate it)."""
    if not isinstance(x, BaseSparseNDArray):
        return x
    if x._raw is not None:
        x._placeable()
    out = wrap(x._data)
    out._value, out._var, out._leaf = x._value, x._var, x._leaf
    return out


def retain(data, indices=None, **kwargs):
    """The rows of a RowSparseNDArray at `indices` kept, the others zero and unlisted. Any
    other storage type is MXNet's MXNetError (sparse_retain has no dense kernel)."""
    if not isinstance(data, RowSparseNDArray):
        raise MXNetError(f"retain: expects a RowSparseNDArray, got {type(data).__name__}")
    if kwargs:
        return _redo(retain, locals())
    if indices is None:
        raise MXNetError("retain: indices is required")
    keep = _numpy(indices)      # (MXNet's kernel casts each index to an integer: truncated)
    keep = _index_array(np.trunc(keep) if keep.dtype.kind == "f" else keep, "indices", "retain")
    if len(keep) and (keep.min() < 0 or keep.max() >= data.shape[0]):
        raise MXNetError(f"retain: indices outside [0, {data.shape[0]})")
    mask = np.zeros(data.shape[0], bool)
    mask[keep] = True
    scale = wrap(mask.reshape((-1,) + (1,) * (data.ndim - 1)).astype(data._data.dtype))
    stored = None if data._stored is None else (data._stored & mask)
    return _relabel(NDArray.__mul__(_dense(data), scale), RowSparseNDArray, stored)


def _same_shape_or(elemwise, other):
    """MXNet's sparse.add / subtract / multiply / divide: two arrays of one shape go through
    elemwise_<op>, anything else (a number, broadcasting) through nd.<op>."""
    def f(lhs, rhs):
        if isinstance(lhs, NDArray) and isinstance(rhs, NDArray) and \
                tuple(lhs.shape) == tuple(rhs.shape):
            return getattr(nd, elemwise)(lhs, rhs)
        return getattr(nd, other)(lhs, rhs)
    f.__name__ = other
    f.__doc__ = f"{elemwise} for two arrays of one shape, else nd.{other}."
    return f


add = _same_shape_or("elemwise_add", "add")
subtract = _same_shape_or("elemwise_sub", "subtract")
multiply = _same_shape_or("elemwise_mul", "multiply")
divide = _same_shape_or("elemwise_div", "divide")


def relabel(out, stype):
    """`out` shown as storage type `stype` ('default': a plain NDArray): the same values and
    tape value, so autograd and traces still reach it."""
    out = _dense(out)
    return out if stype == "default" else _relabel(out, _CLASS[stype])


def __getattr__(name):
    """Any other nd op: nd's own, whose result keeps a sparse storage type where MXNet's
    does (sparse_storage.py's table); the rest computed densely, a dense result (MXNet's
    fallback storage)."""
    op = getattr(nd, name, None)
    if op is None or name.startswith("_") or not callable(op):
        raise AttributeError(f"module 'tracegrad.nd.sparse' has no attribute {name!r}")
    if name in sparse_storage.ND_FUNCTIONS:
        return op

    def dense_op(*args, **kwargs):
        return op(*[_dense(a) for a in args], **{k: _dense(v) for k, v in kwargs.items()})
    dense_op.__name__ = name
    return dense_op


def getnnz(data, axis=None):
    """nd.contrib.getnnz: how many entries a CSRNDArray stores (explicit zeros included), in
    all (axis=None, shape (1,)) or per row (axis=1), as int64. MXNet's operator takes csr
    only and has no axis=0."""
    if not isinstance(data, CSRNDArray):
        raise MXNetError(f"getnnz: expects a CSRNDArray (MXNet's _contrib_getnnz supports csr "
                         f"only), got storage type {getattr(data, 'stype', type(data).__name__)}")
    if axis not in (None, 1):
        raise MXNetError(f"getnnz: axis={axis!r} is not supported (MXNet's: None or 1)")
    indptr = data.indptr.asnumpy()
    return wrap(indptr[-1:].copy() if axis is None else np.diff(indptr))
