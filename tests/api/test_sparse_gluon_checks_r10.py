"""The sparse-parameter combinations MXNet 1.9.1 refuses, refused with its errors:
Embedding's row_sparse gradient with grad_req='add' (indexing_op.cc
SparseEmbeddingOpBackwardRspImpl), a sparse parameter read through data() / a dense one
through row_sparse_data() (gluon/parameter.py), a sparse parameter in two Trainers, and a
Trainer that would not update a sparse weight on its kvstore (gluon/trainer.py)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError


@pytest.mark.parametrize("hybridize", [False, True])
def test_sparse_grad_embedding_refuses_grad_req_add(hybridize):
    emb = gluon.nn.Embedding(10, 3, sparse_grad=True)
    emb.initialize()
    emb.collect_params().setattr("grad_req", "add")
    if hybridize:
        emb.hybridize()
    with pytest.raises(MXNetError, match="doesn't support weight gradient calculation with "
                                         "req != write"):
        with autograd.record():
            emb(nd.array([1, 2])).sum().backward()


def test_sparse_grad_embedding_with_write_and_dense_grad_with_add_still_work():
    x = nd.array([1, 2, 1])
    w0 = np.arange(30.0).reshape(10, 3)
    sparse = gluon.nn.Embedding(10, 3, sparse_grad=True)
    sparse.initialize()
    sparse.weight.set_data(nd.array(w0))
    with autograd.record():
        sparse(x).sum().backward()
    want = np.zeros((10, 3))
    want[1], want[2] = 2.0, 1.0
    np.testing.assert_allclose(sparse.weight.grad().asnumpy(), want)
    dense = gluon.nn.Embedding(10, 3)
    dense.initialize()
    dense.collect_params().setattr("grad_req", "add")
    for _ in range(2):
        with autograd.record():
            dense(x).sum().backward()
    np.testing.assert_allclose(dense.weight.grad().asnumpy(), 2 * want)


def test_nd_embedding_with_row_sparse_add_gradient_is_refused():
    w = nd.ones((5, 2))
    w.attach_grad(grad_req="add", stype="row_sparse")
    with pytest.raises(MXNetError, match="req != write"):
        with autograd.record():
            nd.Embedding(nd.array([0, 4]), w, input_dim=5, output_dim=2, sparse_grad=True)


def test_sparse_parameter_reads():
    p = gluon.Parameter("w", shape=(4, 2), stype="row_sparse", grad_stype="row_sparse")
    p.initialize()
    with pytest.raises(RuntimeError, match="via data\\(\\) because its storage type is "
                                           "row_sparse. Please use row_sparse_data"):
        p.data()
    with pytest.raises(RuntimeError, match="via list_data\\(\\) because its storage type"):
        p.list_data()
    with pytest.raises(RuntimeError, match="when no Trainer is created with it"):
        p.row_sparse_data(nd.array([0, 1]))
    gluon.Trainer([p], "sgd")
    with pytest.raises(TypeError, match="row_id must have NDArray type"):
        p.row_sparse_data([0, 1])
    assert p.row_sparse_data(nd.array([0, 1])).stype == "row_sparse"

    dense = gluon.Parameter("d", shape=(4, 2))
    dense.initialize()
    with pytest.raises(RuntimeError, match="via row_sparse_data\\(\\) because its storage "
                                           "type is default. Please use data"):
        dense.row_sparse_data(nd.array([0]))


def test_sparse_parameter_belongs_to_one_trainer():
    p = gluon.Parameter("w", shape=(4, 2), stype="row_sparse")
    p.initialize()
    t = gluon.Trainer([p], "sgd")
    with pytest.raises(RuntimeError, match="More than one trainers for a row_sparse "
                                           "Parameter is not supported"):
        gluon.Trainer([p], "sgd")
    assert p._trainer is t
    dense = gluon.Parameter("d", shape=(4, 2))
    dense.initialize()
    gluon.Trainer([dense], "sgd")
    gluon.Trainer([dense], "adam")      # a dense parameter may change trainers


def test_sparse_weight_needs_update_on_kvstore():
    p = gluon.Parameter("w", shape=(4, 2), stype="row_sparse")
    p.initialize()
    t = gluon.Trainer([p], "sgd", update_on_kvstore=False)
    with pytest.raises(ValueError, match="Cannot set update_on_kvstore=False when sparse "
                                         "weights are present"):
        t._init_kvstore()
    q = gluon.Parameter("q", shape=(4, 2), stype="row_sparse")
    q.initialize()
    t = gluon.Trainer([q], "sgd", kvstore=None)
    with pytest.raises(TypeError, match="Cannot create 'None' KVStore with row_sparse"):
        t._init_kvstore()
