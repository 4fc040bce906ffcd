"""`mx.io`: MXNet 1.x's data iterators, for programs written before gluon.data.

    it = mx.io.NDArrayIter(X, y, batch_size=32, shuffle=True, last_batch_handle="pad")
    for batch in it:                 # a DataBatch: .data, .label (lists of NDArray), .pad
        train(batch.data[0], batch.label[0])
    it.reset()

NDArrayIter follows MXNet 1.9.1 exactly: inputs named and sorted as MXNet names them
("data", "_0_data", ... or a dict's keys), numpy inputs turned into float32 NDArrays as
`nd.array` does, shuffling with numpy's global generator at every reset (each permutation
applied to the already shuffled data), and the three ways to end an epoch: 'pad' (the last
batch completed from the start of the data, `pad` telling how many rows are repeats),
'discard', and 'roll_over' (the incomplete batch is kept and heads the next epoch).
CSVIter reads numeric CSV files (MXNet's C++ iterator has no header or quoting either).
"""
import threading
from collections import OrderedDict, namedtuple

import numpy as np

from . import nd, sparse
from .array import NDArray
from .base import MXNetError

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter", "PrefetchingIter",
           "CSVIter", "LibSVMIter", "MNISTIter"]


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """A data or label input's name and shape, with its dtype and layout ("NCHW": the batch
    axis is where 'N' is)."""

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        desc = super().__new__(cls, name, shape)
        desc.dtype, desc.layout = dtype, layout
        return desc

    def __repr__(self):
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    @staticmethod
    def get_batch_axis(layout):
        """The batch axis of a layout string (0 when there is none)."""
        return 0 if layout is None else layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from (name, shape) pairs and optional (name, dtype) pairs."""
        if types is None:
            return [DataDesc(name, shape) for name, shape in shapes]
        dtypes = dict(types)
        return [DataDesc(name, shape, dtypes[name]) for name, shape in shapes]


class DataBatch:
    """One batch: `data` and `label` are lists of NDArrays; `pad` rows at the end of this
    batch repeat earlier examples (ignore them in prediction)."""

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise TypeError(f"DataBatch: data must be a list of NDArrays, got "
                            f"{type(data).__name__}")
        if label is not None and not isinstance(label, (list, tuple)):
            raise TypeError(f"DataBatch: label must be a list of NDArrays, got "
                            f"{type(label).__name__}")
        self.data, self.label, self.pad, self.index = data, label, pad, index
        self.bucket_key = bucket_key
        self.provide_data, self.provide_label = provide_data, provide_label

    def __str__(self):
        labels = [a.shape for a in self.label] if self.label else None
        return (f"{type(self).__name__}: data shapes: {[a.shape for a in self.data]} "
                f"label shapes: {labels}")


class DataIter:
    """The iterator protocol of mx.io: next() gives a DataBatch or raises StopIteration;
    reset() starts the data again."""

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        """Back to the beginning of the data."""

    def next(self):
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    # (as MXNet's base class, each getter gives None unless a subclass overrides it: an
    # iterator of data only, such as a GAN's noise, writes iter_next and getdata alone)
    def iter_next(self):
        """Move to the next batch: whether there is one."""
        return None

    def getdata(self):
        return None

    def getlabel(self):
        return None

    def getindex(self):
        return None

    def getpad(self):
        return None


class _FromCurrentBatch:
    """The getters of an iterator that keeps the batch it made in `current_batch`."""

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


def _named_inputs(data, allow_empty, default_name, who):
    """MXNet's canonical form of an iterator's inputs: (name, NDArray) pairs sorted by name;
    one array is `default_name`, a list's arrays are `_<i>_<default_name>`."""
    if data is None:
        if not allow_empty:
            raise ValueError(f"{who}: data is required")
        data = []
    if isinstance(data, (np.ndarray, NDArray)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not data and not allow_empty:
            raise ValueError(f"{who}: data is an empty list")
        data = OrderedDict([(default_name, data[0])] if len(data) == 1 else
                           [(f"_{i}_{default_name}", d) for i, d in enumerate(data)])
    if not isinstance(data, dict):
        raise TypeError(f"{who}: input must be an NDArray, a numpy.ndarray, a list of them or "
                        f"a dict with them as values, got {type(data).__name__}")
    named = []
    for name, value in data.items():
        if not isinstance(value, NDArray) and sparse.is_scipy_sparse(value):
            value = sparse.array(value)     # (a scipy csr_matrix: a CSRNDArray, as MXNet)
        if not isinstance(value, NDArray):
            try:
                value = nd.array(value)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{who}: invalid type {type(value).__name__} for {name!r}, "
                                f"should be NDArray or numpy.ndarray ({e})") from None
        if value.ndim == 0:
            raise ValueError(f"{who}: {name!r} is a scalar; it needs a batch axis")
        named.append((name, value))
    return sorted(named, key=lambda item: item[0])


class NDArrayIter(DataIter):
    """Batches of NDArrays or numpy arrays (module docstring: MXNet 1.9.1's rules)."""

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle="pad",
                 data_name="data", label_name="softmax_label"):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError(f"NDArrayIter: last_batch_handle must be 'pad', 'discard' or "
                             f"'roll_over', got {last_batch_handle!r}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"NDArrayIter: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        self.data = _named_inputs(data, False, data_name, "NDArrayIter")
        self.label = _named_inputs(label, True, label_name, "NDArrayIter")
        if last_batch_handle != "discard" and any(
                v.stype == "csr" for _, v in self.data + self.label):
            raise NotImplementedError("NDArrayIter only supports CSRNDArray (or a scipy "
                                      "csr_matrix) with last_batch_handle='discard', as MXNet")
        n = self.data[0][1].shape[0]
        for name, value in self.data + self.label:
            # (more is MXNet's: the first input sets the count and the rest of a longer one
            # goes unread; fewer would make short batches there)
            if value.shape[0] < n:
                raise ValueError(f"NDArrayIter: every input needs {n} examples along axis 0 "
                                 f"(as {self.data[0][0]!r}); {name!r} has shape {value.shape}")
        self.idx = np.arange(n)
        self.shuffle, self.last_batch_handle = shuffle, last_batch_handle
        self.batch_size = int(batch_size)
        self.cursor = -self.batch_size
        self.num_data = n
        self._cache_data = self._cache_label = None
        self.reset()
        self.data_list = [v for _, v in self.data] + [v for _, v in self.label]
        self.num_source = len(self.data_list)

    @property
    def provide_data(self):
        return [DataDesc(k, (self.batch_size,) + tuple(v.shape[1:]), v.dtype)
                for k, v in self.data]

    @property
    def provide_label(self):
        return [DataDesc(k, (self.batch_size,) + tuple(v.shape[1:]), v.dtype)
                for k, v in self.label]

    def hard_reset(self):
        """Back to the start, forgetting the examples rolled over."""
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = self._cache_label = None

    def reset(self):
        if self.shuffle:
            self._shuffle_data()
        if self.last_batch_handle == "roll_over" and \
                self.num_data - self.batch_size < self.cursor < self.num_data:
            # the incomplete last batch heads the next epoch: start that many rows early
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data, label = self.getdata(), self.getlabel()
        if data[0].shape[0] != self.batch_size:   # incomplete ('discard', 'roll_over')
            self._cache_data, self._cache_label = data, label
            raise StopIteration
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _rows(self, source, start=0, end=None):
        end = self.num_data if end is None else end
        return [value[start:end] for _, value in source]

    @staticmethod
    def _concat(first, second):
        if not first or not second:
            return first if first else second
        return [nd.concat(a, b, dim=0) for a, b in zip(first, second)]

    def _batchify(self, source):
        if self.cursor >= self.num_data:
            raise StopIteration("NDArrayIter needs reset()")
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            cached = self._cache_data if self._cache_data is not None else self._cache_label
            if cached is None:
                raise RuntimeError("NDArrayIter: the epoch's rolled-over rows are missing")
            rest = self._rows(source, end=self.cursor + self.batch_size)
            if self._cache_data is not None:
                self._cache_data = None
            else:
                self._cache_label = None
            return self._concat(cached, rest)
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            pad = self.batch_size - self.num_data + self.cursor
            first = self._rows(source, start=self.cursor)
            if pad > self.num_data:
                repeats = pad // self.num_data
                second = [nd.tile(a, (repeats,) + (1,) * (a.ndim - 1))
                          for a in self._rows(source)]
                if pad % self.num_data:
                    second = self._concat(second, self._rows(source, end=pad % self.num_data))
            else:
                second = self._rows(source, end=pad)
            return self._concat(first, second)
        return self._rows(source, self.cursor, min(self.cursor + self.batch_size,
                                                   self.num_data))

    def getdata(self):
        return self._batchify(self.data)

    def getlabel(self):
        return self._batchify(self.label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0

    def _shuffle_data(self):
        np.random.shuffle(self.idx)
        # (as MXNet: each source goes through numpy and nd.array again, so float32)
        self.data = [(k, _shuffled(v, self.idx)) for k, v in self.data]
        self.label = [(k, _shuffled(v, self.idx)) for k, v in self.label]


def _shuffled(value, idx):
    """The rows of `value` in the order `idx` (a CSRNDArray stays one, as MXNet's)."""
    rows = nd.array(value.asnumpy()[idx])
    return sparse.cast_storage(rows, "csr") if value.stype == "csr" else rows


class ResizeIter(_FromCurrentBatch, DataIter):
    """`size` batches per epoch from `data_iter`, restarting it when it runs out."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__(data_iter.batch_size)
        self.data_iter, self.size, self.reset_internal = data_iter, size, reset_internal
        self.cur, self.current_batch = 0, None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True



class PrefetchingIter(_FromCurrentBatch, DataIter):
    """Batches of several iterators side by side (their data and labels concatenated in
    order), each read one batch ahead on a thread of its own. `rename_data` /
    `rename_label`: per iterator, {old name: new name} for provide_data / provide_label."""

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        self.iters = iters if isinstance(iters, list) else [iters]
        if not self.iters:
            raise ValueError("PrefetchingIter: no iterator given")
        self.rename_data, self.rename_label = rename_data, rename_label
        self.batch_size = self.provide_data[0][1][0]
        self.current_batch = None
        self._next = [None] * len(self.iters)
        self._errors = [None] * len(self.iters)
        self._ready = [threading.Event() for _ in self.iters]
        self._taken = [threading.Event() for _ in self.iters]
        self._running = True
        for event in self._taken:
            event.set()
        self._threads = [threading.Thread(target=self._fetch, args=(i,), daemon=True)
                         for i in range(len(self.iters))]
        for thread in self._threads:
            thread.start()

    def _fetch(self, i):
        while True:
            self._taken[i].wait()
            if not self._running:
                return
            try:
                self._next[i], self._errors[i] = self.iters[i].next(), None
            except StopIteration:
                self._next[i], self._errors[i] = None, None
            except BaseException as e:  # noqa: BLE001 - raised in the reading thread
                self._next[i], self._errors[i] = None, e
            self._taken[i].clear()
            self._ready[i].set()

    def close(self):
        """Stop the reading threads."""
        self._running = False
        for event in self._taken:
            event.set()
        for thread in self._threads:
            thread.join()

    def __del__(self):
        if getattr(self, "_running", False):
            self.close()

    def _renamed(self, descs, renames):
        if renames is None:
            return sum(descs, [])
        return [DataDesc(r[d.name], d.shape, d.dtype) if isinstance(d, DataDesc)
                else DataDesc(r[d[0]], d[1]) for r, ds in zip(renames, descs) for d in ds]

    @property
    def provide_data(self):
        return self._renamed([it.provide_data for it in self.iters], self.rename_data)

    @property
    def provide_label(self):
        return self._renamed([it.provide_label for it in self.iters], self.rename_label)

    def reset(self):
        for event in self._ready:
            event.wait()
        for it in self.iters:
            it.reset()
        for event in self._ready:
            event.clear()
        for event in self._taken:
            event.set()

    def iter_next(self):
        for event in self._ready:
            event.wait()
        for e in self._errors:
            if e is not None:
                raise e
        batches = self._next
        if batches[0] is None:
            if any(b is not None for b in batches):
                raise ValueError("PrefetchingIter: the iterators have different numbers of "
                                 "batches")
            return False
        if any(b is None or b.pad != batches[0].pad for b in batches):
            raise ValueError("PrefetchingIter: the iterators' batches do not line up (a "
                             "different number of examples)")
        self.current_batch = DataBatch(sum([b.data for b in batches], []),
                                       sum([b.label or [] for b in batches], []),
                                       batches[0].pad, batches[0].index,
                                       provide_data=self.provide_data,
                                       provide_label=self.provide_label)
        for event in self._ready:
            event.clear()
        for event in self._taken:
            event.set()
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration



def _check_batch_size(batch_size, who):
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}")


def _read_csv(path, shape, who):
    """The rows of a numeric CSV file, each reshaped to `shape`."""
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except OSError as e:
        raise FileNotFoundError(f"{who}: cannot read {path!r}: {e}") from None
    except ValueError as e:
        raise DataFormatError(f"{who}: {path!r} is not a numeric CSV file: {e}") from None
    size = int(np.prod(shape))
    if rows.shape[1] != size:
        raise ValueError(f"{who}: {path!r} has {rows.shape[1]} values per row; shape "
                         f"{tuple(shape)} needs {size}")
    return rows.reshape((rows.shape[0],) + tuple(shape))


class OneArrayGetters(_FromCurrentBatch):
    """The getters of MXNet's C++ iterators (its MXDataIter: CSVIter, LibSVMIter, MNISTIter,
    ImageRecordIter): the batch's one data array and one label array, not lists as a Python
    iterator's (NDArrayIter) give."""

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration

    def getdata(self):
        batch = self.current_batch
        return None if batch is None else batch.data[0]

    def getlabel(self):
        batch = self.current_batch
        return None if batch is None or not batch.label else batch.label[0]


class CSVIter(OneArrayGetters, DataIter):
    """Batches from CSV files: `data_csv` rows reshaped to `data_shape`, and `label_csv`'s to
    `label_shape` (no label file: zeros; label_shape (1,): (batch_size,) labels). As MXNet's
    batch loader does: with `round_batch` the last batch wraps around to the start of the
    data (`pad` counts the repeated rows) and the next epoch begins after them; without, its
    missing rows keep the previous batch's values (`pad` counts them too)."""

    def __init__(self, data_csv, data_shape, label_csv=None, label_shape=(1,), batch_size=1,
                 round_batch=True, dtype="float32", data_name="data",
                 label_name="softmax_label", **kwargs):
        super().__init__(batch_size)
        _check_batch_size(batch_size, "CSVIter")
        dtype = np.dtype(dtype)
        data = _read_csv(data_csv, data_shape, "CSVIter").astype(dtype)
        if label_csv is None:
            label = np.zeros((data.shape[0],) + tuple(label_shape), dtype)
        else:
            label = _read_csv(label_csv, label_shape, "CSVIter").astype(dtype)
            if label.shape[0] != data.shape[0]:
                raise ValueError(f"CSVIter: {data_csv!r} has {data.shape[0]} rows but "
                                 f"{label_csv!r} has {label.shape[0]}")
        if label.shape[1:] == (1,):     # MXNet's C API makes (batch, 1) labels 1-d
            label = label.reshape(-1)
        self._rows(data, label, batch_size, round_batch, data_name, label_name)

    def _rows(self, data, label, batch_size, round_batch, data_name, label_name):
        """Batch these rows (data and label arrays, one row per example) from the start."""
        self._sources, self.round_batch = (data, label), bool(round_batch)
        self.batch_size = int(batch_size)
        self.provide_data = [DataDesc(data_name, (self.batch_size,) + data.shape[1:],
                                      data.dtype)]
        self.provide_label = [DataDesc(label_name, (self.batch_size,) + label.shape[1:],
                                       label.dtype)]
        self._cursor, self._overflow, self.current_batch, self._last = 0, 0, None, None

    def reset(self):
        if self._overflow:      # the wrapped rows were this epoch's: the next starts after
            self._overflow = 0
        else:
            self._cursor = 0

    def iter_next(self):
        n, bs = self._sources[0].shape[0], self.batch_size
        if self._overflow or self._cursor >= n:
            return False
        start = self._cursor
        take = min(bs, n - start)
        rows = [src[start:start + take] for src in self._sources]
        self._cursor += take
        pad = bs - take
        if pad and self.round_batch:
            if pad > n:
                raise ValueError(f"CSVIter: round_batch needs more rows than the batch size "
                                 f"({n} rows, batch_size {bs})")
            rows = [np.concatenate([r, src[:pad]]) for r, src in zip(rows, self._sources)]
            self._cursor = self._overflow = pad
        elif pad:
            rows = [np.concatenate([r, last[take:] if last is not None else
                                    np.zeros((pad,) + r.shape[1:], r.dtype)])
                    for r, last in zip(rows, self._last or (None, None))]
        self._last = rows
        self.current_batch = DataBatch(*self._arrays(rows), pad=pad)
        return True

    def _arrays(self, rows):
        """([data], [label]) NDArrays of a batch's rows."""
        return [nd.array(rows[0], dtype=rows[0].dtype)], [nd.array(rows[1], dtype=rows[1].dtype)]


def _read_libsvm(path, width, who):
    """(labels, rows) of a LibSVM text file (a directory: its files, by name) with
    zero-based, ascending feature indices below `width`: rows dense, float32."""
    import os
    paths = [os.path.join(path, f) for f in sorted(os.listdir(path))] \
        if os.path.isdir(path) else [path]
    labels, rows = [], []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise FileNotFoundError(f"{who}: cannot read {p!r}: {e}") from None
        for k, line in enumerate(lines, 1):
            tokens = line.split()
            if not tokens:
                continue
            row = np.zeros(width, np.float32)
            try:
                labels.append(float(tokens[0]))
                last = -1
                for t in tokens[1:]:
                    i, v = t.split(":")
                    i = int(i)
                    if not last < i < width:
                        raise ValueError(f"feature index {i} is not ascending or not below "
                                         f"{width}")
                    row[i], last = float(v), i
            except ValueError as e:
                raise DataFormatError(f"{who}: {p}:{k}: not a LibSVM line ({e}): "
                                 f"{line[:80]!r}") from None
            rows.append(row)
    return np.asarray(labels, np.float32), np.asarray(rows, np.float32).reshape(-1, width)


class DataFormatError(MXNetError, ValueError):
    """A malformed data file: MXNet's iterators raise MXNetError (its parser's check), and it
    is a ValueError too, as tracegrad raised before."""


class LibSVMIter(CSVIter):
    """Batches of a LibSVM file (zero-based, ascending feature indices, as MXNet's): the data
    a CSRNDArray of (batch_size, data_shape[0]), the labels the file's first column, or the
    CSRNDArrays of `label_libsvm`; round_batch as CSVIter's (MXNet's LibSVMIter allows it
    only). `num_parts` / `part_index` keep one contiguous share of the rows."""

    def __init__(self, data_libsvm, data_shape, label_libsvm=None, label_shape=(1,),
                 batch_size=1, round_batch=True, num_parts=1, part_index=0,
                 data_name="data", label_name="softmax_label", **kwargs):
        DataIter.__init__(self, batch_size)
        who = "LibSVMIter"
        _check_batch_size(batch_size, who)
        if len(tuple(data_shape)) != 1 or len(tuple(label_shape)) != 1:
            raise ValueError(f"{who}: data_shape and label_shape must be 1-d, got "
                             f"{tuple(data_shape)} and {tuple(label_shape)}")
        if not 0 <= part_index < num_parts:
            raise ValueError(f"{who}: part_index {part_index} is not in [0, {num_parts})")
        labels, data = _read_libsvm(data_libsvm, int(data_shape[0]), who)
        self._sparse_label = label_libsvm is not None
        if self._sparse_label:
            _, label = _read_libsvm(label_libsvm, int(label_shape[0]), who)
            if label.shape[0] != data.shape[0]:
                raise ValueError(f"{who}: {data_libsvm!r} has {data.shape[0]} rows but "
                                 f"{label_libsvm!r} has {label.shape[0]}")
        else:
            label = labels.reshape(-1, *([] if tuple(label_shape) == (1,) else
                                         [int(label_shape[0])]))
        n = data.shape[0]
        lo, hi = n * part_index // num_parts, n * (part_index + 1) // num_parts
        data, label = data[lo:hi], label[lo:hi]
        if data.shape[0] == 0:
            raise ValueError(f"{who}: no rows to read in {data_libsvm!r} (part {part_index} "
                             f"of {num_parts})")
        self._rows(data, label, batch_size, round_batch, data_name, label_name)

    def _arrays(self, rows):
        from .sparse import csr_matrix
        label = csr_matrix(rows[1]) if self._sparse_label else nd.array(rows[1])
        return [csr_matrix(rows[0])], [label]

from .image_iter import ImageRecordIter  # noqa: E402,F401  (image_iter imports DataIter from here)
from .io_mnist import MNISTIter  # noqa: E402,F401
