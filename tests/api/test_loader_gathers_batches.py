"""The DataLoader reads a batch of an ArrayDataset / SimpleDataset of arrays in one gather per
field, and a row read x[i] that nothing observes is a numpy view: both must give exactly what
the sample-by-sample path gives (types, dtypes, shapes, values, views, errors, gradients)."""
import gzip

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd, npx
from tracegrad.gluon.data.vision import transforms as T
from tracegrad.gluon.data import ArrayDataset, DataLoader, SimpleDataset, dataloader
from tracegrad.nd import _getitem


def _one_by_one(samples):
    """MXNet's batchify, NDArray samples through nd.stack (default_batchify_fn's numpy path
    otherwise), behind another function object: the loader reads sample by sample."""
    first = samples[0]
    if isinstance(first, tuple):
        return [_one_by_one(list(field)) for field in zip(*samples)]
    if not isinstance(first, nd.NDArray):
        return dataloader.default_batchify_fn(samples)
    out = nd.stack(*samples)
    return out.as_np_ndarray() if mx.util.is_np_array() else out


def _flat(batch):
    return batch if isinstance(batch, list) else [batch]


def _same_batches(make, **loader_kwargs):
    np.random.seed(3)
    mx.random.seed(3)
    fast = list(DataLoader(make(), **loader_kwargs))
    np.random.seed(3)
    mx.random.seed(3)
    slow = list(DataLoader(make(), batchify_fn=_one_by_one, **loader_kwargs))
    assert len(fast) == len(slow) > 0
    for f, s in zip(fast, slow):
        assert type(f) is type(s)
        for a, b in zip(_flat(f), _flat(s)):
            assert type(a) is type(b), (type(a), type(b))
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a.asnumpy(), b.asnumpy())
            assert a.asnumpy().flags.c_contiguous
    return fast


RS = np.random.RandomState(0)
X = RS.rand(23, 4, 3).astype(np.float32)
Y = RS.randint(0, 5, 23)
IMAGES = RS.randint(0, 256, (23, 5, 4, 3)).astype(np.uint8)

DATASETS = {
    "nd images, nd labels": lambda: ArrayDataset(nd.array(X), nd.array(Y)),
    "numpy float32 and int64": lambda: ArrayDataset(X, Y),
    "numpy float16, uint8, bool": lambda: ArrayDataset(X.astype(np.float16),
                                                       Y.astype(np.uint8), Y > 2),
    "int16 and uint32 labels": lambda: ArrayDataset(X, Y.astype(np.int16), Y.astype(np.uint32)),
    "int32 labels 1-d nd": lambda: ArrayDataset(nd.array(X[:, 0]), nd.array(Y, dtype="int32")),
    "one nd array": lambda: ArrayDataset(nd.array(X)),
    "simple over nd": lambda: SimpleDataset(nd.array(X)),
    "simple over a 1-d nd (rows of shape (1,))": lambda: SimpleDataset(nd.array(Y)),
    "simple over a 1-d mx.np (rows of shape ())": lambda: SimpleDataset(mx.np.array(Y)),
    "simple over numpy": lambda: SimpleDataset(X[:, :, 0].astype(np.float64)),
    "simple over a list": lambda: SimpleDataset([float(v) for v in Y]),
    "taken": lambda: ArrayDataset(nd.array(X), Y).take(17),
    "sharded": lambda: ArrayDataset(nd.array(X), Y).shard(3, 1),
    "filtered": lambda: ArrayDataset(X, Y).filter(lambda s: s[1] % 2 == 0),
    "transformed": lambda: ArrayDataset(X, Y).transform_first(lambda x: x * 2),
    "to tensor": lambda: ArrayDataset(IMAGES, Y).transform_first(T.ToTensor()),
    "to tensor, normalized, nd": lambda: ArrayDataset(nd.array(IMAGES, dtype="uint8"), Y)
    .transform_first(T.Compose([T.ToTensor(), T.Normalize((0.1, 0.2, 0.3), (0.5, 2, 3))])),
    "cast then to tensor, twice": lambda: ArrayDataset(IMAGES.astype(np.int16), Y)
    .transform_first(T.Cast("float16")).transform_first(T.HybridCompose([T.ToTensor()])),
    "images alone, normalized": lambda: SimpleDataset(IMAGES.astype(np.float32))
    .transform_first(T.Normalize(0.5, 0.25)),
    "2-d images to tensor (one by one)": lambda: ArrayDataset(IMAGES[..., 0], Y)
    .transform_first(T.Cast()),
    "random flips (one by one)": lambda: ArrayDataset(IMAGES, Y)
    .transform_first(T.Compose([T.RandomFlipLeftRight(), T.ToTensor()])),
    "random flips, uint8 samples (one by one)": lambda: ArrayDataset(
        nd.array(IMAGES, dtype="uint8"), Y).transform_first(T.RandomFlipTopBottom()),
    "a list field": lambda: ArrayDataset(X, [int(v) for v in Y]),
    "an NDArray as the dataset": lambda: nd.array(X),
    "a 1-d NDArray as the dataset": lambda: nd.array(Y),
    "a numpy array as the dataset": lambda: X[:, 0],
}


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("last_batch", ["keep", "discard", "rollover"])
def test_gathered_batches_equal_the_sample_by_sample_ones(name, last_batch):
    _same_batches(DATASETS[name], batch_size=5, shuffle=True, last_batch=last_batch)


@pytest.mark.parametrize("name", ["nd images, nd labels", "numpy float32 and int64",
                                  "int16 and uint32 labels", "simple over numpy", "sharded",
                                  "to tensor, normalized, nd", "cast then to tensor, twice",
                                  "simple over a 1-d mx.np (rows of shape ())"])
def test_gathered_batches_under_set_np(name):
    npx.set_np()
    try:
        batches = _same_batches(DATASETS[name], batch_size=4)
        assert all(type(a) is mx.np.ndarray for b in batches for a in _flat(b))
    finally:
        npx.reset_np()


def test_an_mx_np_array_field_gathers_like_its_samples():
    npx.set_np()
    try:
        _same_batches(lambda: ArrayDataset(mx.np.array(X), mx.np.array(Y)), batch_size=4)
    finally:
        npx.reset_np()
    _same_batches(lambda: ArrayDataset(mx.np.array(X), Y), batch_size=4)


def test_an_array_dataset_batch_is_one_gather(monkeypatch):
    """No sample is read one by one (ArrayDataset.__getitem__ stays the class's own, so the
    loader still takes its rows)."""
    reads = []
    getitem = ArrayDataset.__getitem__

    def counted(self, idx):
        reads.append(idx)
        return getitem(self, idx)
    monkeypatch.setattr(ArrayDataset, "__getitem__", counted)
    ds = ArrayDataset(nd.array(X), Y)
    assert [b[0].shape[0] for b in DataLoader(ds, batch_size=8)] == [8, 8, 7]
    assert reads == []


def test_a_subclass_that_reads_its_own_samples_is_read_sample_by_sample():
    class Doubled(ArrayDataset):
        def __getitem__(self, idx):
            x, y = super().__getitem__(idx)
            return x * 2, y
    (x, y), = list(DataLoader(Doubled(nd.array(X[:4]), Y[:4]), batch_size=4))
    assert np.array_equal(x.asnumpy(), X[:4] * 2)


def test_a_custom_batch_sampler_out_of_range_raises_as_before():
    ds = ArrayDataset(nd.array(X), Y)
    with pytest.raises(IndexError, match="out of bounds"):
        list(DataLoader(ds, batch_sampler=[[0, 1], [5, 40]]))
    # negative positions read the rows from the end, as one by one
    (x, y), = list(DataLoader(ds, batch_sampler=[[-1, 0, -23]]))
    assert np.array_equal(x.asnumpy(), X[[-1, 0, -23]]) and y.asnumpy().tolist() == \
        Y[[-1, 0, -23]].tolist()


def test_batches_read_while_recording_keep_their_graph():
    """Under record() the rows are recorded ops (the gather is not taken): the gradient flows
    back to the dataset's array, one per time a row was read."""
    data = nd.array(X)
    data.attach_grad()
    ds = ArrayDataset(data, Y)
    with autograd.record():
        (x, _), = list(DataLoader(ds, batch_sampler=[[2, 5, 2]]))
        loss = x.sum()
    loss.backward()
    want = np.zeros_like(X)
    want[5] = 1
    want[2] = 2
    assert np.array_equal(data.grad.asnumpy(), want)


@pytest.mark.parametrize("shape", [(7,), (7, 3), (7, 2, 3), (1, 5)])
@pytest.mark.parametrize("dtype", ["float32", "int64", "float16", "bool"])
def test_a_row_read_equals_slice_and_reshape(shape, dtype):
    base = np.arange(int(np.prod(shape))).reshape(shape) % 3
    x = nd.array(base.astype(dtype), dtype=dtype)
    for i in range(-shape[0], shape[0]):
        fast, slow = x[i], _getitem(x, (i,))     # (a tuple key takes the general path)
        assert type(fast) is nd.NDArray and fast.dtype == slow.dtype
        assert fast.shape == slow.shape == (shape[1:] or (1,))
        assert np.array_equal(fast.asnumpy(), slow.asnumpy())
    for i in (shape[0], -shape[0] - 1):
        with pytest.raises(IndexError, match="out of bounds for axis 0"):
            x[i]


def test_a_row_read_is_a_view_as_in_mxnet():
    x = nd.zeros((3, 4))
    row = x[1]
    row[:] = 5
    x[2][1] = 7
    assert x.asnumpy().tolist() == [[0] * 4, [5] * 4, [0, 7, 0, 0]]
    v = nd.zeros((3,))
    v[-1][:] = 2
    assert v.asnumpy().tolist() == [0, 0, 2]


def test_a_row_read_under_record_and_in_a_trace_is_recorded():
    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    x.attach_grad()
    with autograd.record():
        y = (x[1] * x[-2]).sum()
    y.backward()
    assert x.grad.asnumpy().tolist() == [[3, 4], [1, 2]]

    @mx.jit
    def second_row(a):
        return a[1] * 2
    for k in range(3):
        a = nd.array(np.arange(6, dtype=np.float32).reshape(3, 2) + k)
        assert second_row(a).asnumpy().tolist() == (a.asnumpy()[1] * 2).tolist()


def test_a_time_step_of_an_input_batch_under_record_is_a_view():
    """x[t] of an array not on the tape (an input batch) under record(): the view eager
    slicing gives, gradients flowing through what is computed from it."""
    x = nd.array(np.arange(12, dtype=np.float32).reshape(3, 2, 2))
    w = nd.ones((2,))
    w.attach_grad()
    with autograd.record():
        rows = [x[t] for t in range(3)]
        y = sum((r * w).sum() for r in rows)
    y.backward()
    assert all(np.shares_memory(r._data, x._data) for r in rows)
    for t, r in enumerate(rows):
        assert r.asnumpy().tolist() == x.asnumpy()[t].tolist()
    assert w.grad.asnumpy().tolist() == x.asnumpy().sum(axis=(0, 1)).tolist()
    rows[1][:] = -1           # a view, as MXNet's x[i]
    assert x.asnumpy()[1].tolist() == [[-1, -1], [-1, -1]]


def _write_idx(path, magic, arr):
    header = np.array([magic] + list(arr.shape), dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


@pytest.mark.parametrize("np_mode", [False, True])
def test_mnist_batches_read_at_once_equal_one_by_one(tmp_path, np_mode):
    """FashionMNIST as d2l loads it: transform_first(Compose([ToTensor()])), and without."""
    pixels = np.random.RandomState(1).randint(0, 256, (len(Y), 28, 28))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", 2051, pixels)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", 2049, Y)
    fashion = gluon.data.vision.FashionMNIST(root=str(tmp_path))
    if np_mode:
        npx.set_np()
    try:
        for ds in (fashion, fashion.transform_first(T.Compose([T.ToTensor()])),
                   fashion.transform_first(T.ToTensor()).transform_first(T.Normalize(0.3, 2))):
            batches = _same_batches(lambda: ds, batch_size=6, shuffle=True)
            assert batches[0][0].dtype == (np.uint8 if ds is fashion else np.float32)
            assert batches[0][1].dtype == np.int32
    finally:
        npx.reset_np()


def test_a_transformed_batch_is_transformed_once(monkeypatch):
    calls = []
    forward = T.ToTensor.hybrid_forward

    def counted(self, F, x):
        calls.append(x.shape)
        return forward(self, F, x)
    monkeypatch.setattr(T.ToTensor, "hybrid_forward", counted)
    ds = ArrayDataset(IMAGES[:10], Y[:10]).transform_first(T.ToTensor())
    assert [x.shape for x, _ in DataLoader(ds, batch_size=4)] == \
        [(4, 3, 5, 4), (4, 3, 5, 4), (2, 3, 5, 4)]
    assert calls == [(4, 5, 4, 3), (4, 5, 4, 3), (2, 5, 4, 3)]


def test_transform_first_of_a_sample_that_is_not_a_tuple_is_not_a_tuple():
    """MXNet's _TransformFirstClosure: fn(sample) itself."""
    out = SimpleDataset(X).transform_first(lambda a: a + 1)[4]
    assert type(out) is np.ndarray and np.array_equal(out, X[4] + 1)
