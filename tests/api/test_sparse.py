"""mx.nd.sparse: CSRNDArray / RowSparseNDArray as MXNet 1.x makes, shows and combines them
(values dense underneath: tracegrad/sparse.py), row_sparse gradients, and the lazy updates
SGD and Adam make of them (only the rows a batch looked up), against references by hand."""
import numpy as np
import pytest
import scipy.sparse as spsp

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError


def _csr():
    return nd.sparse.csr_matrix((np.array([7.0, 8, 9], np.float32), np.array([0, 2, 1]),
                                 np.array([0, 2, 2, 3])), shape=(3, 4))


def test_csr_matrix_forms_and_its_listing():
    a = _csr()
    assert isinstance(a, nd.sparse.CSRNDArray) and a.stype == "csr" and a.shape == (3, 4)
    want = np.array([[7, 0, 8, 0], [0, 0, 0, 0], [0, 9, 0, 0]], np.float32)
    np.testing.assert_array_equal(a.asnumpy(), want)
    np.testing.assert_array_equal(a.data.asnumpy(), [7, 8, 9])
    np.testing.assert_array_equal(a.indices.asnumpy(), [0, 2, 1])
    np.testing.assert_array_equal(a.indptr.asnumpy(), [0, 2, 2, 3])
    assert a.indices.dtype == np.int64 and a.dtype == np.float32
    assert repr(a) == "\n<CSRNDArray 3x4 @cpu(0)>"
    # the other forms: coordinates (duplicates summed), scipy, dense, a shape
    coo = nd.sparse.csr_matrix(([1.0, 2.0, 3.0], ([0, 0, 2], [1, 1, 0])), shape=(3, 2))
    np.testing.assert_array_equal(coo.asnumpy(), [[0, 3], [0, 0], [3, 0]])
    s = nd.sparse.csr_matrix(spsp.csr_matrix(want))
    np.testing.assert_array_equal(s.asnumpy(), want)
    assert nd.sparse.array(spsp.csr_matrix(want.astype(np.float64))).dtype == np.float64
    np.testing.assert_array_equal(nd.sparse.csr_matrix(nd.array(want)).indptr.asnumpy(),
                                  [0, 2, 2, 3])
    z = nd.sparse.csr_matrix((2, 5))
    assert z.shape == (2, 5) and z.data.size == 0 and z.indptr.asnumpy().tolist() == [0, 0, 0]
    np.testing.assert_array_equal(a.asscipy().toarray(), want)
    # an entry stored as an explicit zero stays listed, as MXNet keeps it
    e = nd.sparse.csr_matrix(([0.0, 5.0], [1, 0], [0, 1, 2]), shape=(2, 2))
    assert e.indices.asnumpy().tolist() == [1, 0] and e.data.asnumpy().tolist() == [0, 5]


def test_row_sparse_array_forms_retain_and_listing():
    b = nd.sparse.row_sparse_array((np.array([[1.0, 2], [3, 4]], np.float32), [1, 4]),
                                   shape=(6, 2))
    assert b.stype == "row_sparse" and repr(b) == "\n<RowSparseNDArray 6x2 @cpu(0)>"
    dense = np.zeros((6, 2), np.float32)
    dense[1], dense[4] = [1, 2], [3, 4]
    np.testing.assert_array_equal(b.asnumpy(), dense)
    assert b.indices.asnumpy().tolist() == [1, 4]
    np.testing.assert_array_equal(b.data.asnumpy(), [[1, 2], [3, 4]])
    kept = nd.sparse.retain(b, nd.array([4]))
    assert kept.indices.asnumpy().tolist() == [4] and b.retain([1]).data.shape == (1, 2)
    assert nd.sparse.row_sparse_array((3, 2)).indices.size == 0
    assert nd.sparse.row_sparse_array(nd.array(dense)).indices.asnumpy().tolist() == [1, 4]


# (index arrays whose values break the format are MXNet's check_format's to report:
# tests/api/test_sparse_format.py)
@pytest.mark.parametrize("make, match", [
    (lambda: nd.sparse.csr_matrix(np.ones(3)), "2-d"),
    (lambda: nd.sparse.row_sparse_array(([[1.0]], [0, 1])), "one row per index"),
    (lambda: nd.cast_storage(nd.ones((2, 2, 2)), "csr"), "2-d"),
    (lambda: nd.ones(2).tostype("coo"), "unknown storage type"),
    (lambda: _csr()[::2], "step 1"),
])
def test_malformed_sparse_inputs_are_named(make, match):
    with pytest.raises(MXNetError, match=match):
        make()


def test_conversions_and_the_storage_of_results():
    a = _csr()
    d = a.tostype("default")
    assert type(d) is nd.NDArray and d.stype == "default"
    assert d.tostype("csr").stype == "csr" and nd.cast_storage(d, "row_sparse").stype == \
        "row_sparse"
    assert nd.zeros((3, 2), stype="row_sparse").stype == "row_sparse"
    assert nd.sparse.zeros("csr", (2, 3)).stype == "csr"
    assert (a * 2).stype == "csr" and (a / 2).stype == "csr" and (-a).stype == "csr"
    assert (a + a).stype == "csr" and (a - a).stype == "csr"
    assert nd.sparse.elemwise_add(a, a).stype == "csr"
    assert (a + 1).stype == "default" and nd.sparse.exp(a).stype == "default"
    assert nd.sparse.sqrt(a).stype == "csr" and nd.sparse.abs(a).stype == "csr"
    np.testing.assert_allclose((a * 2 + a).asnumpy(), 3 * a.asnumpy())
    np.testing.assert_allclose(nd.sparse.sqrt(a).asnumpy(), np.sqrt(a.asnumpy()))
    x = nd.array(np.arange(8.0).reshape(4, 2))
    y = nd.sparse.dot(a, x)
    assert y.stype == "default" and nd.dot(a, x).stype == "default"
    np.testing.assert_allclose(y.asnumpy(), a.asnumpy() @ x.asnumpy())
    t = nd.sparse.dot(a, nd.ones((3, 2)), transpose_a=True)   # csr.T @ dense: row_sparse
    assert t.stype == "row_sparse" and t.indices.asnumpy().tolist() == [0, 1, 2]
    np.testing.assert_allclose(t.asnumpy(), a.asnumpy().T @ np.ones((3, 2)))
    rows = a[1:3]
    assert rows.stype == "csr" and rows.shape == (2, 4) and a[0].shape == (1, 4)
    np.testing.assert_array_equal(rows.asnumpy(), a.asnumpy()[1:3])
    c = a.copy()
    c[:] = nd.zeros((3, 4))
    assert c.data.size == 0 and a.data.size == 3


def test_row_sparse_gradients_of_attach_grad_and_of_a_sparse_dot():
    a = _csr()
    w = nd.array(np.random.RandomState(0).rand(4, 2))
    w.attach_grad(stype="row_sparse")
    with autograd.record():
        loss = (nd.sparse.dot(a, w) ** 2).sum()
    loss.backward()
    g = w.grad
    assert g.stype == "row_sparse" and g.indices.asnumpy().tolist() == [0, 1, 2]
    y = a.asnumpy() @ w.asnumpy()
    np.testing.assert_allclose(g.asnumpy(), a.asnumpy().T @ (2 * y), rtol=1e-6)


def _embedding_run(sparse, opt, kw, batches):
    mx.random.seed(0)
    emb = gluon.nn.Embedding(6, 2, sparse_grad=sparse)
    emb.initialize(mx.init.Uniform(0.5))
    w0 = emb.weight.data().asnumpy().copy()
    trainer = gluon.Trainer(emb.collect_params(), opt, dict(kw))
    for idx in batches:
        with autograd.record():
            loss = (emb(nd.array(idx)) ** 2).sum()
        loss.backward()
        if sparse:
            g = emb.weight.grad()
            assert g.stype == "row_sparse" and g.indices.asnumpy().tolist() == sorted(set(idx))
        trainer.step(1)
    return w0, emb.weight.data().asnumpy()


BATCHES = ([1, 3], [2, 3], [4, 4], [1, 5])


def test_lazy_adam_updates_only_the_rows_a_batch_looked_up():
    w0, got = _embedding_run(True, "adam", {"learning_rate": 0.1}, BATCHES)
    w = w0.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, idx in enumerate(BATCHES, 1):
        g = np.zeros_like(w)
        for k in idx:
            g[k] += 2 * w[k]
        rows = sorted(set(idx))
        lr_t = 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m[rows] = 0.9 * m[rows] + 0.1 * g[rows]
        v[rows] = 0.999 * v[rows] + 0.001 * g[rows] ** 2
        w[rows] -= lr_t * m[rows] / (np.sqrt(v[rows]) + 1e-8)
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
    _, dense = _embedding_run(False, "adam", {"learning_rate": 0.1}, BATCHES)
    assert not np.allclose(got, dense)      # (dense Adam moves rows a batch did not touch)


@pytest.mark.parametrize("kw", [{"learning_rate": 0.1, "wd": 0.1},
                                {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}])
def test_lazy_sgd_leaves_other_rows_and_lazy_update_false_is_dense(kw):
    w0, lazy = _embedding_run(True, "sgd", kw, BATCHES)
    np.testing.assert_array_equal(lazy[0], w0[0])        # never looked up: untouched
    _, dense = _embedding_run(False, "sgd", kw, BATCHES)
    assert not np.allclose(dense[0], w0[0])             # wd decays it densely
    _, eager_dense = _embedding_run(True, "sgd", dict(kw, lazy_update=False), BATCHES)
    np.testing.assert_allclose(eager_dense, dense, rtol=1e-6)


def test_row_sparse_pull_and_row_sparse_data():
    kv = mx.kv.create("local")
    kv.init("w", nd.array(np.arange(12.0).reshape(4, 3)))
    out = nd.sparse.zeros("row_sparse", (4, 3))
    kv.row_sparse_pull("w", out=out, row_ids=nd.array([1, 3]))
    assert out.indices.asnumpy().tolist() == [1, 3]
    np.testing.assert_array_equal(out.data.asnumpy(), [[3, 4, 5], [9, 10, 11]])
    p = gluon.Parameter("w", shape=(4, 2), grad_stype="row_sparse", stype="row_sparse")
    p.initialize()
    gluon.Trainer([p], "sgd")       # (MXNet reads a row_sparse weight through its Trainer)
    x = nd.sparse.csr_matrix(([1.0, 2.0], [0, 3], [0, 1, 2]), shape=(2, 4))
    with autograd.record():
        loss = nd.sparse.dot(x, p.row_sparse_data(x.indices)).sum()
    loss.backward()
    g = p.grad()
    assert g.stype == "row_sparse" and g.indices.asnumpy().tolist() == [0, 3]
    np.testing.assert_allclose(g.data.asnumpy(), [[1, 1], [2, 2]])


def test_sparse_values_are_recorded_and_traced_like_dense_ones():
    """A sparse array's ops go through the dense ops: autograd reaches the dense source, and
    a jitted function reads each call's values (none is baked in at trace time)."""
    x = nd.array(np.random.RandomState(1).rand(3, 4))
    x.attach_grad()
    with autograd.record():
        c = x.tostype("csr")
        y = ((c * 3 + c) / 2).tostype("default").sum() + \
            nd.sparse.dot(c, nd.ones((4, 1))).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), np.full((3, 4), 3.0), rtol=1e-6)

    f = mx.jit(lambda a: nd.sparse.dot(a.tostype("csr"), nd.ones((4, 2)),
                                       transpose_a=False) * 2)
    for seed in (2, 3):
        a = np.random.RandomState(seed).rand(3, 4).astype(np.float32)
        np.testing.assert_allclose(f(nd.array(a)).asnumpy(), 2 * a @ np.ones((4, 2)),
                                   rtol=1e-6)


def test_libsvm_iter_batches_as_mxnets_documentation_shows(tmp_path):
    path = tmp_path / "data.t"
    path.write_text("1.0 0:0.5 2:1.2\n-2.0\n-3.0 0:0.6 1:2.4 2:1.2\n4 2:-1.2\n")
    it = mx.io.LibSVMIter(data_libsvm=str(path), data_shape=(3,), batch_size=3)
    assert it.provide_data[0].shape == (3, 3)
    b = it.next()
    assert b.data[0].stype == "csr" and b.pad == 0
    np.testing.assert_allclose(b.data[0].asnumpy(), [[0.5, 0, 1.2], [0, 0, 0], [0.6, 2.4, 1.2]])
    np.testing.assert_array_equal(b.label[0].asnumpy(), [1, -2, -3])
    b = it.next()      # round_batch: the last batch wraps to the start
    np.testing.assert_allclose(b.data[0].asnumpy(), [[0, 0, -1.2], [0.5, 0, 1.2], [0, 0, 0]])
    np.testing.assert_array_equal(b.label[0].asnumpy(), [4, 1, -2])
    assert b.pad == 2
    with pytest.raises(StopIteration):
        it.next()
    it.reset()         # the next epoch begins after the wrapped rows
    np.testing.assert_array_equal(it.next().label[0].asnumpy(), [-3, 4, 1])
    # labels from a LibSVM file of their own (csr), one part of two
    labels = tmp_path / "label.t"
    labels.write_text("0 0:1\n0 1:1\n0 0:1\n0 1:1\n")
    it = mx.io.LibSVMIter(data_libsvm=str(path), data_shape=(3,), label_libsvm=str(labels),
                          label_shape=(2,), batch_size=2, num_parts=2, part_index=1)
    b = it.next()
    assert b.label[0].stype == "csr"
    np.testing.assert_array_equal(b.label[0].asnumpy(), [[1, 0], [0, 1]])
    np.testing.assert_allclose(b.data[0].asnumpy(), [[0.6, 2.4, 1.2], [0, 0, -1.2]])


@pytest.mark.parametrize("line, match", [("1 3:1.0", "below 3"), ("1 2:1 0:1", "ascending"),
                                         ("1 x:1", "LibSVM line"), ("a 0:1", "LibSVM line")])
def test_libsvm_iter_names_the_bad_line(tmp_path, line, match):
    path = tmp_path / "bad.t"
    path.write_text("1 0:1\n" + line + "\n")
    with pytest.raises(ValueError, match=match) as e:
        mx.io.LibSVMIter(data_libsvm=str(path), data_shape=(3,))
    assert "bad.t:2" in str(e.value)


def test_nd_save_and_load_keep_the_storage_type(tmp_path):
    a = _csr()
    b = nd.sparse.row_sparse_array(([[1.0, 2.0]], [2]), shape=(4, 2))
    path = str(tmp_path / "s.nd")
    nd.save(path, {"a": a, "b": b, "c": nd.ones(2)})
    got = nd.load(path)
    assert [got[k].stype for k in "abc"] == ["csr", "row_sparse", "default"]
    np.testing.assert_array_equal(got["a"].asnumpy(), a.asnumpy())
    assert got["b"].indices.asnumpy().tolist() == [2]
    nd.save(path, [a, nd.ones(2)])
    assert [v.stype for v in nd.load(path)] == ["csr", "default"]


def _shape_bytes(shape):
    return len(shape).to_bytes(4, "little") + b"".join(
        int(d).to_bytes(8, "little", signed=True) for d in shape)


def _mxnet_sparse_record(stype, shape, values, aux):
    """One array as MXNet's NDArray::Save writes a sparse one (V2): storage type, stored
    values' shape, shape, context, dtype, each index array's dtype and shape, the values,
    the index arrays."""
    out = (0xF993FAC9).to_bytes(4, "little") + {"row_sparse": 1, "csr": 2}[stype].to_bytes(
        4, "little") + _shape_bytes(values.shape) + _shape_bytes(shape)
    out += (1).to_bytes(4, "little") + (0).to_bytes(4, "little") + (0).to_bytes(4, "little")
    for a in aux:
        out += (6).to_bytes(4, "little") + _shape_bytes(a.shape)
    out += values.astype("<f4").tobytes()
    for a in aux:
        out += a.astype("<i8").tobytes()
    return out


def _mxnet_file(records, names):
    out = (0x112).to_bytes(8, "little") + bytes(8) + len(records).to_bytes(8, "little")
    out += b"".join(records) + len(names).to_bytes(8, "little")
    for n in names:
        out += len(n).to_bytes(8, "little") + n.encode()
    return out


def test_sparse_arrays_of_mxnet_files_load_with_their_storage(tmp_path):
    csr = _mxnet_sparse_record("csr", (3, 4), np.array([7.0, 0.0, 9.0]),
                               [np.array([0, 2, 2, 3]), np.array([0, 2, 1])])
    rsp = _mxnet_sparse_record("row_sparse", (5, 2), np.array([[1.0, 2.0], [3.0, 4.0]]),
                               [np.array([1, 4])])
    path = tmp_path / "sparse.nd"
    path.write_bytes(_mxnet_file([csr, rsp], ["c", "r"]))
    got = nd.load(str(path))
    assert got["c"].stype == "csr" and got["r"].stype == "row_sparse"
    np.testing.assert_array_equal(got["c"].asnumpy(), [[7, 0, 0, 0], [0, 0, 0, 0],
                                                       [0, 9, 0, 0]])
    # the explicit zero the file stored stays listed
    assert got["c"].indices.asnumpy().tolist() == [0, 2, 1]
    assert got["r"].indices.asnumpy().tolist() == [1, 4]
    np.testing.assert_array_equal(got["r"].data.asnumpy(), [[1, 2], [3, 4]])
    # load_parameters-style readers get the dense values
    from tracegrad import mxnet_format
    arrays, _ = mxnet_format.read(str(path))
    assert all(type(a) is np.ndarray for a in arrays)


@pytest.mark.parametrize("record, match", [
    (lambda: _mxnet_sparse_record("csr", (3, 4), np.array([1.0]),
                                  [np.array([0, 1, 1, 1]), np.array([4])]), "column indices"),
    (lambda: _mxnet_sparse_record("csr", (3, 4), np.array([1.0, 2.0]),
                                  [np.array([0, 2, 1, 2]), np.array([0, 1])]), "indptr"),
    (lambda: _mxnet_sparse_record("csr", (2, 4), np.array([1.0, 2.0]),
                                  [np.array([0, 2, 2]), np.array([1, 1])]), "ascending"),
    (lambda: _mxnet_sparse_record("row_sparse", (3, 2), np.array([[1.0, 2.0]] * 2),
                                  [np.array([2, 1])]), "ascending"),
    (lambda: _mxnet_sparse_record("row_sparse", (3, 2), np.array([[1.0, 2.0]]),
                                  [np.array([3])]), r"\[0, 3\)"),
    (lambda: _mxnet_sparse_record("row_sparse", (2 ** 20, 2 ** 10), np.array([[1.0] * 1024]),
                                  [np.array([0])]), "too large"),
])
def test_malformed_sparse_records_are_refused_naming_the_file(tmp_path, record, match):
    path = tmp_path / "bad.nd"
    path.write_bytes(_mxnet_file([record()], []))
    with pytest.raises(MXNetError, match=match) as e:
        nd.load(str(path))
    assert "bad.nd" in str(e.value)


@pytest.mark.parametrize("hybridize", [False, True])
def test_captured_steps_with_a_sparse_embedding_match_capture_off(hybridize):
    """The usual step with Embedding(sparse_grad=True) and Adam: captured (forward and
    backward in native calls), the lazy row update after them, equal to capture off."""
    from tracegrad import capture

    def run(on):
        capture.set_enabled(on)
        try:
            mx.random.seed(0)
            net = gluon.nn.HybridSequential()
            net.add(gluon.nn.Embedding(20, 4, sparse_grad=True), gluon.nn.Dense(3, flatten=True))
            net.initialize(mx.init.Xavier())
            if hybridize:
                net.hybridize()
            trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
            loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
            rs = np.random.RandomState(1)
            before = mx.stats()["captured_steps"]
            for _ in range(10):
                x, y = nd.array(rs.randint(0, 20, (5, 2))), nd.array(rs.randint(0, 3, 5))
                with autograd.record():
                    loss = loss_fn(net(x), y)
                loss.backward()
                trainer.step(5)
            return ([p.data().asnumpy() for p in net.collect_params().values()],
                    mx.stats()["captured_steps"] - before)
        finally:
            capture.set_enabled(True)
    on, captured = run(True)
    off, _ = run(False)
    assert captured >= 5
    for a, b in zip(on, off):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_float16_sparse_embedding_updates_lazily_under_multi_precision():
    """multi_precision's state (a float32 master copy and the momentum) is cut to the
    looked-up rows and written back like any other state: rows 1 and 3 move, row 0 stays."""
    emb = gluon.nn.Embedding(10, 4, sparse_grad=True, dtype="float16")
    emb.initialize(mx.init.Constant(0.5))
    trainer = gluon.Trainer(emb.collect_params(), "sgd",
                            {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True})
    x = nd.array([[1, 3]])
    for _ in range(2):
        with autograd.record():
            y = emb(x).astype("float32").sum()
        y.backward()
        trainer.step(1)
    w = emb.weight.data().asnumpy()
    # momentum m1 = -lr g = -0.1, m2 = 0.9 m1 - 0.1 = -0.19: 0.5 - 0.1 - 0.19
    np.testing.assert_allclose(w[[1, 3]], 0.21, rtol=1e-3)
    np.testing.assert_array_equal(w[[0, 2, 4]], 0.5)
