"""mx.sym.sparse.retain is MXNet's _sparse_retain: a row_sparse output holding the rows at
`indices` (cast to integers by truncation, as its kernel reads them), its gradient the head
gradient at those rows (row_sparse)."""
import numpy as np

import tracegrad as mx
from tracegrad import nd

V = np.arange(15, dtype=np.float32).reshape(5, 3)


def _masked(rows):
    out = np.zeros_like(V)
    out[rows] = V[rows]
    return out


def test_nd_retain_truncates_float_indices():
    x = nd.array(V).tostype("row_sparse")
    got = nd.sparse.retain(x, nd.array([0.9, 2.2, 3.99]))
    np.testing.assert_array_equal(got.asnumpy(), _masked([0, 2, 3]))
    assert got.indices.asnumpy().tolist() == [0, 2, 3]


def test_symbolic_retain_forward_backward():
    s = mx.sym.sparse.retain(data=mx.sym.var("data"), indices=mx.sym.var("indices"))
    assert s.list_arguments() == ["data", "indices"]
    assert s.infer_shape(data=(5, 3), indices=(2,))[1] == [(5, 3)]
    grad = nd.zeros((5, 3)).tostype("row_sparse")
    exe = s.bind(mx.cpu(), {"data": nd.array(V).tostype("row_sparse"),
                            "indices": nd.array([1, 4])}, args_grad={"data": grad},
                 grad_req={"data": "write", "indices": "null"})
    exe.forward(is_train=True)
    assert exe.outputs[0].stype == "row_sparse"
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), _masked([1, 4]))
    head = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    exe.backward(nd.array(head))
    want = np.zeros_like(head)
    want[[1, 4]] = head[[1, 4]]
    assert exe.grad_dict["data"].stype == "row_sparse"
    np.testing.assert_array_equal(exe.grad_dict["data"].asnumpy(), want)
