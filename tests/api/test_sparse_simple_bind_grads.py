"""simple_bind binds a row_sparse gradient array for a weight read only by
Embedding(sparse_grad=True), as MXNet's backward storage inference makes it; the values are
the dense gradient (one-hot^T head), the weight's own storage type does not matter."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


@pytest.mark.parametrize("weight_stype", ["default", "row_sparse"])
@pytest.mark.parametrize("sparse_grad", [True, False])
def test_embedding_weight_gradient_storage(weight_stype, sparse_grad):
    w = mx.sym.var("w", stype=weight_stype)
    emb = mx.sym.sparse.Embedding(data=mx.sym.var("d"), weight=w, input_dim=6, output_dim=2,
                                  sparse_grad=sparse_grad)
    exe = emb.simple_bind(mx.cpu(), grad_req={"d": "null", "w": "write"}, d=(4,))
    idx = np.array([1, 4, 1, 0])
    exe.arg_dict["d"][:] = idx
    wv = np.arange(12, dtype=np.float32).reshape(6, 2)
    exe.arg_dict["w"][:] = nd.array(wv).tostype(weight_stype)
    exe.forward(is_train=True)
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), wv[idx])
    head = np.arange(8, dtype=np.float32).reshape(4, 2) - 3
    exe.backward([nd.array(head)])
    onehot = np.eye(6, dtype=np.float32)[idx]
    grad = exe.grad_dict["w"]
    assert grad.stype == ("row_sparse" if sparse_grad else "default")
    np.testing.assert_allclose(grad.asnumpy(), onehot.T @ head)


def test_a_weight_also_read_densely_has_a_dense_gradient():
    w = mx.sym.var("w")
    emb = mx.sym.Embedding(data=mx.sym.var("d"), weight=w, input_dim=3, output_dim=2,
                           sparse_grad=True)
    out = mx.sym.broadcast_add(emb, mx.sym.sum(w))
    exe = out.simple_bind(mx.cpu(), grad_req={"d": "null", "w": "write"}, d=(2,))
    assert exe.grad_dict["w"].stype == "default"
