"""MXNet 1.9.1 behaviours found by running its gluon unit tests (helper 87, session 31)."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _row_sparse_param(rows, ctx):
    p = gluon.Parameter("w", shape=(rows, 2), stype="row_sparse", grad_stype="row_sparse")
    p.initialize(init=mx.init.Constant(3.0), ctx=ctx)
    gluon.Trainer([p], "sgd")       # (MXNet pulls a row_sparse weight through its Trainer)
    return p


def test_row_sparse_data_holds_only_the_pulled_rows():
    """MXNet's row_sparse_pull gives the rows asked for; the others read as zero."""
    p = _row_sparse_param(4, [mx.cpu(1), mx.cpu(2)])
    got = p.row_sparse_data(nd.array([0, 2], ctx=mx.cpu(1)))
    assert got.stype == "row_sparse" and got.context == mx.cpu(1)
    np.testing.assert_array_equal(got.asnumpy(), [[3, 3], [0, 0], [3, 3], [0, 0]])
    assert got.indices.asnumpy().tolist() == [0, 2]
    every = p.row_sparse_data(nd.arange(0, 4, ctx=mx.cpu(2)))
    assert every.context == mx.cpu(2)
    np.testing.assert_array_equal(every.asnumpy(), np.full((4, 2), 3.0))
    copies = p.list_row_sparse_data(nd.array([1, 2, 3]))
    assert [c.context for c in copies] == [mx.cpu(1), mx.cpu(2)]
    for c in copies:
        np.testing.assert_array_equal(c.asnumpy(), [[0, 0], [3, 3], [3, 3], [3, 3]])


def test_row_sparse_data_lists_a_pulled_row_even_when_zero():
    """The pulled array lists row_id's rows as MXNet's kvstore writes them, zero or not."""
    p = gluon.Parameter("z", shape=(3, 2), stype="row_sparse")
    p.initialize(init="zeros")
    gluon.Trainer([p], "sgd")
    assert p.row_sparse_data(nd.array([2, 0])).indices.asnumpy().tolist() == [0, 2]


def test_row_sparse_data_gradient_reaches_the_parameter_rows_read():
    p = _row_sparse_param(4, mx.cpu())
    with autograd.record():
        loss = (p.row_sparse_data(nd.array([1, 3])) * 2).sum()
    loss.backward()
    g = p.grad()
    assert g.stype == "row_sparse" and g.indices.asnumpy().tolist() == [1, 3]
    np.testing.assert_array_equal(g.asnumpy(), [[0, 0], [2, 2], [0, 0], [2, 2]])


def test_rows_pulled_outside_record_are_differentiated_inside_it():
    """MXNet's pulled array is the parameter's own: read before record(), used inside it."""
    p = _row_sparse_param(4, [mx.cpu(0), mx.cpu(1)])
    some = p.list_row_sparse_data(nd.array([0, 1]))
    every = p.list_row_sparse_data(nd.arange(0, 4))
    np.testing.assert_array_equal(some[1].asnumpy(), [[3, 3], [3, 3], [0, 0], [0, 0]])
    with autograd.record():
        for w in some + every:
            (w + 1).backward()
    for g in p.list_grad():
        assert np.all(g.asnumpy() != 0)


def test_row_sparse_data_reads_row_ids_of_any_shape():
    """MXNet's kvstore pulls every id of row_id, e.g. a (batch, seq) token batch."""
    p = _row_sparse_param(4, mx.cpu())
    got = p.row_sparse_data(nd.array([[1, 3], [3, 1]]))
    assert got.indices.asnumpy().tolist() == [1, 3]


def test_get_bz2_data_unpacks_the_fetched_archive(tmp_path):
    """MXNet's test_utils.get_bz2_data (test_io's LibSVM data); an archive already there is
    not fetched again, and it is removed once unpacked."""
    import bz2
    from tracegrad import test_utils
    (tmp_path / "news.bz2").write_bytes(bz2.compress(b"1 3:0.5\n0 1:2\n"))
    test_utils.get_bz2_data(str(tmp_path), "news", "http://unused.invalid/news.bz2",
                            "news.bz2")
    assert (tmp_path / "news").read_bytes() == b"1 3:0.5\n0 1:2\n"
    assert not (tmp_path / "news.bz2").exists()
    test_utils.get_bz2_data(str(tmp_path), "news", "http://unused.invalid/x.bz2", "x.bz2")
    assert "get_bz2_data" in test_utils.__all__
