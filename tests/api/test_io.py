"""mx.io: MXNet 1.x's data iterators, against the behaviour MXNet 1.9.1 documents and its
source implements (io/io.py, src/io/iter_batchloader.h)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def _rows(batches):
    return [b.data[0].asnumpy()[:, 0, 0] for b in batches]


def test_last_batch_handles_give_mxnets_batch_counts_and_pads():
    data = np.arange(40).reshape((10, 2, 2))
    labels = np.ones([10, 1])
    counts = {h: len(list(mx.io.NDArrayIter(data, labels, 3, True, last_batch_handle=h)))
              for h in ("pad", "discard", "roll_over")}
    assert counts == {"pad": 4, "discard": 3, "roll_over": 3}
    it = mx.io.NDArrayIter(data, labels, 3, last_batch_handle="pad")
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 0, 2]
    # the last batch is completed from the start of the data
    np.testing.assert_array_equal(batches[-1].data[0].asnumpy()[:, 0, 0], [36, 0, 4])
    assert batches[0].data[0].dtype == np.float32     # numpy input: float32, as nd.array
    assert batches[0].label[0].shape == (3, 1)


def test_roll_over_heads_the_next_epoch_with_the_left_over_rows():
    data = np.arange(40).reshape((10, 2, 2))
    it = mx.io.NDArrayIter(data, np.ones([10, 1]), 3, False, last_batch_handle="roll_over")
    assert [r.tolist() for r in _rows(it)] == [[0, 4, 8], [12, 16, 20], [24, 28, 32]]
    it.reset()
    first = it.next()
    np.testing.assert_array_equal(first.data[0].asnumpy()[:, 0, 0], [36, 0, 4])  # MXNet's doc
    assert first.pad == 1
    assert [r.tolist() for r in _rows(it)] == [[8, 12, 16], [20, 24, 28]]
    it.hard_reset()
    assert _rows([it.next()])[0].tolist() == [0, 4, 8]


def test_pad_larger_than_the_data_tiles_it():
    it = mx.io.NDArrayIter(np.arange(2).reshape(2, 1, 1), batch_size=5)
    (batch,) = list(it)
    assert batch.pad == 3
    np.testing.assert_array_equal(batch.data[0].asnumpy().ravel(), [0, 1, 0, 1, 0])


def test_names_descriptions_and_dict_inputs():
    x, y = nd.ones((6, 4)), nd.zeros((6,))
    it = mx.io.NDArrayIter(x, y, batch_size=2)
    (d,), (l,) = it.provide_data, it.provide_label
    assert (d.name, d.shape, l.name, l.shape) == ("data", (2, 4), "softmax_label", (2,))
    assert d.dtype == np.float32 and d.layout == "NCHW"
    it = mx.io.NDArrayIter([x, x * 2], batch_size=3)
    assert [desc.name for desc in it.provide_data] == ["_0_data", "_1_data"]
    it = mx.io.NDArrayIter({"b": x, "a": x * 2}, {"lab": y}, batch_size=3)
    assert [desc.name for desc in it.provide_data] == ["a", "b"]     # sorted by name
    batch = it.next()
    np.testing.assert_array_equal(batch.data[0].asnumpy(), 2 * np.ones((3, 4)))
    assert "data shapes: [(3, 4), (3, 4)]" in str(batch)
    assert mx.io.DataDesc.get_batch_axis("TNC") == 1


def test_shuffle_keeps_data_and_label_rows_together():
    np.random.seed(3)
    x = np.arange(12, dtype=np.float32).reshape(12, 1)
    it = mx.io.NDArrayIter(x, x * 10, batch_size=4, shuffle=True)
    seen = []
    for epoch in range(2):
        it.reset()
        for b in it:
            np.testing.assert_array_equal(b.label[0].asnumpy(), b.data[0].asnumpy() * 10)
            seen.extend(b.data[0].asnumpy().ravel().tolist())
    assert sorted(seen[:12]) == list(range(12)) and seen[:12] != list(range(12))
    assert seen[:12] != seen[12:]        # a new order each epoch


def test_a_longer_label_is_read_up_to_the_datas_count_as_in_mxnet():
    """MXNet's own test_sample_weight_loss scores data[10:] against the full 20 labels: the
    first input sets the count, the rest of a longer one goes unread (shuffled or not)."""
    x = np.arange(6, dtype=np.float32).reshape(6, 1)
    y = np.arange(10, dtype=np.float32) * 10
    it = mx.io.NDArrayIter(x, y, batch_size=4)
    batches = [(b.data[0].asnumpy().ravel().tolist(), b.label[0].asnumpy().tolist(), b.pad)
               for b in it]
    assert batches == [([0, 1, 2, 3], [0, 10, 20, 30], 0), ([4, 5, 0, 1], [40, 50, 0, 10], 2)]
    np.random.seed(4)
    it = mx.io.NDArrayIter(x, {"label": y, "w": y + 1}, batch_size=3, shuffle=True)
    for b in it:
        d, lab, w = b.data[0].asnumpy().ravel(), b.label[0].asnumpy(), b.label[1].asnumpy()
        np.testing.assert_array_equal(lab, d * 10)
        np.testing.assert_array_equal(w, d * 10 + 1)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="last_batch_handle"):
        mx.io.NDArrayIter(np.zeros((4, 2)), last_batch_handle="wrap")
    with pytest.raises(ValueError, match=r"'softmax_label' has shape \(3,\)"):
        mx.io.NDArrayIter(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(TypeError, match="NDArrayIter: input must be"):
        mx.io.NDArrayIter("data.csv")
    with pytest.raises(ValueError, match="batch_size"):
        mx.io.NDArrayIter(np.zeros((4, 2)), batch_size=0)


def test_resize_and_prefetching_iterators():
    base = mx.io.NDArrayIter(np.arange(10).reshape(10, 1), batch_size=4,
                             last_batch_handle="discard")
    resized = mx.io.ResizeIter(base, 5)
    firsts = [b.data[0].asnumpy()[0, 0] for b in resized]
    assert firsts == [0, 4, 0, 4, 0]      # restarts its iterator when it runs out
    a = mx.io.NDArrayIter({"data": np.arange(8).reshape(8, 1)}, batch_size=4)
    b = mx.io.NDArrayIter({"data": -np.arange(8).reshape(8, 1)}, batch_size=4)
    p = mx.io.PrefetchingIter([a, b], rename_data=[{"data": "x"}, {"data": "y"}])
    try:
        assert [d.name for d in p.provide_data] == ["x", "y"]
        for epoch in range(2):
            got = [(bt.data[0].asnumpy().ravel().tolist(), bt.data[1].asnumpy().ravel().tolist())
                   for bt in p]
            assert got == [([0, 1, 2, 3], [0, -1, -2, -3]), ([4, 5, 6, 7], [-4, -5, -6, -7])]
            p.reset()
    finally:
        p.close()


def test_csv_iter_wraps_the_last_batch_and_starts_the_next_epoch_after_it(tmp_path):
    data = np.arange(14, dtype=np.float32).reshape(7, 2)
    np.savetxt(tmp_path / "d.csv", data, delimiter=",")
    np.savetxt(tmp_path / "l.csv", np.arange(7), delimiter=",")
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(2,),
                       label_csv=str(tmp_path / "l.csv"), batch_size=3)
    epoch1 = [(b.label[0].asnumpy().ravel().tolist(), b.pad) for b in it]
    assert epoch1 == [([0, 1, 2], 0), ([3, 4, 5], 0), ([6, 0, 1], 2)]
    it.reset()
    epoch2 = [b.label[0].asnumpy().ravel().tolist() for b in it]
    assert epoch2 == [[2, 3, 4], [5, 6, 0]]           # (as MXNet's batch loader)
    np.testing.assert_array_equal(it.provide_data[0].shape, (3, 2))
    plain = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(2,), batch_size=3,
                          round_batch=False)
    last = list(plain)[-1]
    assert last.pad == 2 and last.label[0].asnumpy().ravel().tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match=r"2 values per row; shape \(3,\) needs 3"):
        mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(3,))


def test_the_cpp_style_iterators_get_one_data_and_one_label_array(tmp_path):
    """MXNet's C++ iterators (CSVIter, LibSVMIter, MNISTIter, ImageRecordIter) answer
    getdata() / getlabel() with the array itself; NDArrayIter with a list."""
    data = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.savetxt(tmp_path / "d.csv", data, delimiter=",")
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(2,), batch_size=3)
    assert it.getdata() is None
    for k, batch in enumerate(it):
        assert isinstance(it.getdata(), nd.NDArray) and it.getdata() is batch.data[0]
        assert it.getdata().asnumpy().tolist() == data[3 * k:3 * k + 3].tolist()
        assert isinstance(it.getlabel(), nd.NDArray) and it.getpad() == 0
    assert k == 1
    plain = mx.io.NDArrayIter(data, batch_size=3)
    next(plain)
    assert isinstance(plain.getdata(), list)


def test_a_module_style_loop_trains_from_an_ndarray_iter():
    from tracegrad import autograd, gluon
    rs = np.random.RandomState(0)
    X = rs.randn(64, 3).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], np.float32)
    it = mx.io.NDArrayIter(X, y, batch_size=16, shuffle=True, label_name="lin_reg_label")
    net = gluon.nn.Dense(1, in_units=3)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.L2Loss()
    for epoch in range(30):
        it.reset()
        for batch in it:
            with autograd.record():
                loss = loss_fn(net(batch.data[0]), batch.label[0])
            loss.backward()
            trainer.step(batch.data[0].shape[0])
    np.testing.assert_allclose(net.weight.data().asnumpy().ravel(), [1.0, -2.0, 0.5],
                               atol=1e-2)


def test_ndarrayiter_keeps_csr_batches_from_csr_and_scipy_inputs():
    """MXNet's NDArrayIter: a CSRNDArray or a scipy csr_matrix input gives CSR batches, also
    shuffled; with last_batch_handle other than 'discard' it raises NotImplementedError."""
    import scipy.sparse as spsp
    from tracegrad.test_utils import rand_sparse_ndarray
    csr, _ = rand_sparse_ndarray((10, 6), "csr", density=0.5)
    dense = csr.asnumpy()
    for source in (csr, spsp.csr_matrix(dense)):
        with pytest.raises(NotImplementedError, match="last_batch_handle='discard'"):
            mx.io.NDArrayIter({"data": source}, dense, 3)
        it = mx.io.NDArrayIter({"data": source, "dense": dense}, np.arange(10), 3,
                               shuffle=True, last_batch_handle="discard")
        rows = []
        for batch in it:
            sp, dn = batch.data        # (sorted by name: 'data', 'dense')
            assert sp.stype == "csr" and dn.stype == "default" and sp.shape == (3, 6)
            np.testing.assert_array_equal(sp.asnumpy(), dn.asnumpy())
            np.testing.assert_array_equal(sp.asnumpy(), dense[batch.label[0].asnumpy()
                                                              .astype(int)])
            rows += batch.label[0].asnumpy().astype(int).tolist()
        assert len(rows) == 9 and len(set(rows)) == 9
