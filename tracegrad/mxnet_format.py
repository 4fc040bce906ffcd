"""MXNet's binary NDArray list format (`nd.save` / `save_parameters` in MXNet 1.x), read and
written by our own code: no pickle, no eval.

Layout (little-endian), as MXNet's NDArray::Save writes it:

    u64 0x112 (list magic), u64 reserved,
    u64 n, then n arrays:
        u32 0xF993FAC9 (V2) or 0xF993FACA (V3); i32 storage type (0 = dense);
        [sparse: the stored values' shape (i32 ndim, i64 dims)]
        i32 ndim, i64 dims[ndim]; i32 dev_type, i32 dev_id; i32 dtype code;
        [sparse: per index array (row_sparse: indices; csr: indptr, indices) i32 dtype
        code and shape]; raw data (the stored values); [sparse: the index arrays' data]
    u64 m (0 or n), then m names: u64 length, bytes.

`write` writes dense arrays and SparseRecords (a csr / row_sparse array's stored values
and int64 index arrays) this way, as MXNet's nd.save and save_parameters do.

V3 is V2 written under np_shape (numpy shape semantics): there a rank of 0 is a scalar, and
MXNet loads a V3 array only under np_shape, any other only without it (`read`'s np_shape).

Older files (before V2) start each array with its shape: u32 0xF993FAC8 then as V2, or a bare
u32 ndim followed by u32 dims. Every count, shape and length is checked against the bytes that
remain before anything is allocated, so a truncated or hostile file raises MXNetError naming
the file and the offset, never allocates huge buffers, and never returns a partial result.
"""
import numpy as np

from . import sparse_layout
from .base import MXNetError

LIST_MAGIC = 0x112
V1_MAGIC, V2_MAGIC, V3_MAGIC = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
MAX_NDIM = 32
MAX_EXTENT = 2 ** 48  # elements: far beyond any real array, far below numpy's int64 limit

# mshadow type codes (mshadow/base.h TypeFlag) -> the dtype stored in the file, and the dtype
# tracegrad keeps it as (MXNet's own for those tracegrad holds; int16/uint16/uint32/uint64 and
# bfloat16 widen losslessly)
_DTYPES = {
    0: (np.float32, np.float32), 1: (np.float64, np.float64), 2: (np.float16, np.float16),
    3: (np.uint8, np.uint8), 4: (np.int32, np.int32), 5: (np.int8, np.int8),
    6: (np.int64, np.int64), 7: (np.bool_, np.bool_), 8: (np.int16, np.int32),
    9: (np.uint16, np.int32), 10: (np.uint32, np.int64), 11: (np.uint64, np.int64),
    12: ("bfloat16", np.float32),
}
_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int32): 4,
          np.dtype(np.int64): 6, np.dtype(np.bool_): 7, np.dtype(np.uint8): 3,
          np.dtype(np.int8): 5, np.dtype(np.float16): 2}
STYPES = {1: "row_sparse", 2: "csr"}   # MXNet's storage type codes (0: dense)


def is_mxnet_file(filename) -> bool:
    """True when the file starts with MXNet's list magic 0x112 (else it is, e.g., our .npz)."""
    with open(filename, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and int.from_bytes(head, "little") == LIST_MAGIC


class _Reader:
    """Bounds-checked little-endian reads over the file's bytes."""

    def __init__(self, buf, source):
        self.buf, self.pos, self.source = memoryview(buf), 0, source

    def fail(self, what):
        return MXNetError(f"cannot load '{self.source}' as an MXNet NDArray file: {what} "
                          f"(at byte {self.pos} of {len(self.buf)})")

    def remaining(self):
        return len(self.buf) - self.pos

    def take(self, n, what):
        if n < 0 or n > self.remaining():
            raise self.fail(f"truncated: {what} needs {n} bytes, {self.remaining()} remain")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self, size, what, signed=False):
        return int.from_bytes(self.take(size, what), "little", signed=signed)

    def count(self, what, min_item_bytes):
        """A u64 element count that the remaining bytes could actually hold."""
        n = self.int(8, what)
        if n * min_item_bytes > self.remaining():
            raise self.fail(f"{what} is {n}, more than the {self.remaining()} remaining bytes "
                            f"can hold")
        return n


def _read_shape(r, legacy_ndim=None, scalar=False):
    """A shape; `scalar` (V3): rank 0 is a scalar's, not the 'none' array's."""
    if legacy_ndim is None:
        ndim = r.int(4, "shape rank", signed=True)
        dim_size = 8
    else:  # pre-V1 files: the rank was the array's first word, dims are u32
        ndim, dim_size = legacy_ndim, 4
    if ndim == 0 and scalar:
        return ()
    if ndim == -1 or ndim == 0:
        raise r.fail("an array has no shape (MXNet's 'none' array); tracegrad cannot load it")
    if not 0 < ndim <= MAX_NDIM:
        raise r.fail(f"shape rank {ndim} is invalid (expected 1..{MAX_NDIM})")
    if ndim * dim_size > r.remaining():
        raise r.fail(f"truncated: a rank-{ndim} shape needs {ndim * dim_size} bytes")
    dims = tuple(r.int(dim_size, "shape", signed=True) for _ in range(ndim))
    if any(d < 0 for d in dims):
        raise r.fail(f"shape {dims} has a negative dimension")
    extent = 1  # bounded even when a zero dim makes the array empty (numpy needs it)
    for d in dims:
        extent *= max(d, 1)
    if extent > MAX_EXTENT:
        raise r.fail(f"shape {dims} is implausibly large")
    return dims


class SparseArray:
    """A sparse array of the file: its storage type ('csr' / 'row_sparse'), its values as a
    dense numpy array, and which entries (csr) or rows (row_sparse) the file stored."""
    __slots__ = ("stype", "dense", "stored")

    def __init__(self, stype, dense, stored):
        self.stype, self.dense, self.stored = stype, dense, stored


MAX_SPARSE_DENSE = 2 ** 28   # elements a sparse array of a file may expand to (held dense)


def _read_array(r, index, np_shape=None):
    magic = r.int(4, f"array {index} header")
    if np_shape is not None and (magic == V3_MAGIC) != np_shape:
        raise r.fail(f"array {index} was saved {'in' if magic == V3_MAGIC else 'without'} "
                     f"np_shape semantics and is loaded {'in' if np_shape else 'without'} "
                     f"them (MXNet loads it only in the semantics it was saved in: "
                     f"`with mx.np_shape({not np_shape}):` around the load)")
    stype, sshape, aux = 0, None, []
    if magic in (V2_MAGIC, V3_MAGIC):
        stype = r.int(4, "storage type", signed=True)
        if stype not in (0, 1, 2):
            raise r.fail(f"array {index} has unknown storage type {stype}")
        if stype:
            sshape = _read_shape(r)
        shape = _read_shape(r, scalar=magic == V3_MAGIC and not stype)
    elif magic == V1_MAGIC:
        shape = _read_shape(r)
    else:
        shape = _read_shape(r, legacy_ndim=magic)
    r.device = (r.int(4, "device type", signed=True), r.int(4, "device id", signed=True))
    code = r.int(4, "dtype code", signed=True)
    if code not in _DTYPES:
        raise r.fail(f"array {index} has unknown dtype code {code}")
    for k in range({1: 1, 2: 2}.get(stype, 0)):   # (row_sparse: indices; csr: indptr, indices)
        aux_code = r.int(4, "aux dtype code", signed=True)
        if aux_code not in (4, 6):
            raise r.fail(f"array {index}: an index array of dtype code {aux_code} (int32 or "
                         f"int64 expected)")
        aux.append((aux_code, _read_shape(r)))
    data = _read_values(r, index, sshape if stype else shape, code)
    if not stype:
        return data
    indices = [_read_values(r, index, s, c).astype(np.int64) for c, s in aux]
    return _sparse(r, index, STYPES[stype], shape, data, indices)


def _read_values(r, index, shape, code):
    stored, kept = _DTYPES[code]
    itemsize = 2 if stored == "bfloat16" else np.dtype(stored).itemsize
    size = 1
    for d in shape:
        size *= d
    nbytes = size * itemsize
    if nbytes > r.remaining():
        raise r.fail(f"truncated: array {index} of shape {shape} and dtype code {code} needs "
                     f"{nbytes} bytes, {r.remaining()} remain")
    raw = r.take(nbytes, f"array {index} data")
    if stored == "bfloat16":  # the high half of a float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    data = np.frombuffer(raw, dtype=np.dtype(stored).newbyteorder("<")).reshape(shape)
    if stored == np.uint64 and size and int(data.max()) > np.iinfo(np.int64).max:
        raise r.fail(f"array {index} holds uint64 values beyond int64's range")
    return data.astype(kept)  # a copy: the result owns its memory, native byte order


def _sparse(r, index, stype, shape, data, indices):
    """The checked SparseArray of a csr (indptr, indices) or row_sparse (indices) record."""
    size = 1
    for d in shape:
        size *= d
    if size > MAX_SPARSE_DENSE:
        raise r.fail(f"array {index}: a {stype} array of shape {shape} is too large to hold "
                     f"densely (tracegrad keeps sparse values dense)")
    try:
        if stype == "csr":
            dense, stored = sparse_layout.csr(shape, data, *indices, ascending=True)
        else:
            dense, stored = sparse_layout.row_sparse(shape, data, *indices, ascending=True)
    except ValueError as e:
        raise r.fail(f"array {index}: a malformed {stype} array of shape {shape}: {e}") \
            from None
    return SparseArray(stype, dense, stored)


def read(filename, keep_sparse=False, np_shape=None):
    """(arrays, names) from an MXNet NDArray file: a list of numpy arrays and a list of names
    (empty when the file holds an unnamed list). Raises MXNetError on any malformed byte.
    A sparse array is read as its dense values, or, with keep_sparse, as a SparseArray.
    np_shape True / False: every array must have been saved in / without np_shape semantics
    (nd.load's check, as MXNet's NDArray::Load); None: either."""
    with open(filename, "rb") as f:
        buf = f.read()
    return read_bytes(buf, filename, keep_sparse, np_shape)


def read_bytes(buf, source, keep_sparse=False, np_shape=None):
    """read() of a file's bytes held in memory (nd.load_frombuffer); errors name `source`."""
    r = _Reader(buf, source)
    if r.remaining() < 16 or r.int(8, "magic") != LIST_MAGIC:
        r.pos = 0
        raise r.fail("it does not start with MXNet's magic 0x112")
    r.int(8, "reserved word")
    n = r.count("the array count", 20)  # the smallest array: a legacy 1-d empty one
    arrays = [_read_array(r, i, np_shape) for i in range(n)]
    if not keep_sparse:
        arrays = [a.dense if type(a) is SparseArray else a for a in arrays]
    m = r.count("the name count", 8)
    if m not in (0, n):
        raise r.fail(f"it has {n} arrays but {m} names")
    names = []
    for i in range(m):
        length = r.int(8, f"name {i} length")
        raw = bytes(r.take(length, f"name {i}"))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"name {i} is not valid UTF-8") from None
    if r.remaining():
        raise r.fail(f"{r.remaining()} unexpected bytes after the last name")
    if len(set(names)) != len(names):
        dup = sorted({k for k in names if names.count(k) > 1})
        raise r.fail(f"names {dup} appear more than once")
    return arrays, names


class SparseRecord:
    """A csr / row_sparse array to write as MXNet stores it: its shape, the stored values
    (csr: (nnz,); row_sparse: (rows stored,) + shape[1:]) and the index arrays in MXNet's
    aux order (csr: indptr, indices; row_sparse: indices), int64."""
    __slots__ = ("stype", "shape", "values", "aux")

    def __init__(self, stype, shape, values, aux):
        self.stype, self.shape = stype, tuple(int(d) for d in shape)
        self.values = np.asarray(values)
        self.aux = [np.asarray(a, np.int64) for a in aux]


_STYPE_CODES = {name: code for code, name in STYPES.items()}


def writable(a) -> bool:
    """True when `write` keeps `a` exactly: a SparseRecord, or an array of at least one
    dimension whose dtype has an MXNet code (MXNet 1.x has no 0-d array)."""
    if type(a) is SparseRecord:
        return a.values.dtype in _CODES
    return np.asarray(a).dtype in _CODES and np.ndim(a) >= 1


def _shape_bytes(shape):
    return [len(shape).to_bytes(4, "little")] + [int(d).to_bytes(8, "little") for d in shape]


def _raw(a):
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def _record(filename, a, np_shape=False, device=(1, 0)):
    """One array as NDArray::Save writes it (V2: storage type; a sparse array's storage
    shape, then per index array its type code and shape, after the values its indices;
    V3, np_shape: a dense array, rank 0 for a scalar)."""
    sparse = type(a) is SparseRecord
    values = a.values if sparse else np.asarray(a)
    if values.dtype not in _CODES:
        raise MXNetError(f"write '{filename}': dtype {values.dtype} has no MXNet code")
    if sparse and np_shape:
        raise MXNetError(f"write '{filename}': only dense arrays can be saved in np_shape "
                         f"semantics (MXNet's rule), got a {a.stype} array")
    if not sparse and values.ndim == 0 and not np_shape:
        values = values.reshape(1)
    out = [(V3_MAGIC if np_shape else V2_MAGIC).to_bytes(4, "little")]
    if sparse:
        out += [_STYPE_CODES[a.stype].to_bytes(4, "little")] + _shape_bytes(values.shape)
        out += _shape_bytes(a.shape)
    else:
        out += [bytes(4)] + _shape_bytes(values.shape)
    out += [int(device[0]).to_bytes(4, "little"), int(device[1]).to_bytes(4, "little"),
            _CODES[values.dtype].to_bytes(4, "little")]
    if sparse:
        for aux in a.aux:
            out += [_CODES[np.dtype(np.int64)].to_bytes(4, "little")] + _shape_bytes(aux.shape)
    out.append(_raw(values))
    if sparse:
        out += [_raw(aux) for aux in a.aux]
    return out


def record_bytes(a, np_shape=False, device=(1, 0)):
    """One dense numpy array as MXNet's raw bytes of an NDArray (MXNDArraySaveRawBytes: what
    its NDArray pickles hold); `device`: MXNet's (device type code, device id)."""
    return b"".join(_record("the raw bytes", a, np_shape, device))


def read_record(buf, source):
    """(the dense numpy array, (device type code, device id)) of one array's raw bytes
    (record_bytes; MXNet's MXNDArrayLoadFromRawBytes), checked as a file is: every byte
    used, nothing else."""
    r = _Reader(buf, source)
    a = _read_array(r, 0)
    if type(a) is SparseArray:
        raise r.fail(f"a {a.stype} array where a dense one was expected")
    if r.remaining():
        raise r.fail(f"{r.remaining()} unexpected bytes after the array")
    return a, r.device


def write(filename, arrays, names=(), np_shape=False):
    """Write numpy arrays and SparseRecords (and names, or none) in MXNet's V2 format (V3,
    dense arrays only, with np_shape), which MXNet 1.x loads."""
    names = list(names)
    if names and len(names) != len(arrays):
        raise MXNetError(f"write '{filename}': {len(arrays)} arrays but {len(names)} names")
    out = [LIST_MAGIC.to_bytes(8, "little"), bytes(8), len(arrays).to_bytes(8, "little")]
    for a in arrays:
        out += _record(filename, a, np_shape)
    out.append(len(names).to_bytes(8, "little"))
    for k in names:
        raw = k.encode("utf-8")
        out += [len(raw).to_bytes(8, "little"), raw]
    with open(filename, "wb") as f:
        f.write(b"".join(out))
