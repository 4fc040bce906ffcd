"""check_symbolic_backward(grad_stypes=...) binds gradient arrays of those storage types, as
MXNet's test_utils does (an empty csr / row_sparse array), so the gradients come back in
them; mx.sym ops take and drop `out=` as MXNet's generated symbol functions do."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad.test_utils import check_symbolic_backward

V = np.array([[0, 1.5, 0], [-2, 0, 0], [0, 0, 0]], np.float32)


@pytest.mark.parametrize("stype", ["row_sparse", "csr"])
def test_grad_stypes_make_sparse_gradient_arrays(stype):
    y = mx.sym.relu(mx.sym.var("data"))
    head = np.arange(9, dtype=np.float32).reshape(3, 3)
    grads = check_symbolic_backward(y, [mx.nd.array(V).tostype(stype)], [mx.nd.array(head)],
                                    [head * (V > 0)], grad_stypes={"data": stype})
    assert grads["data"].stype == stype
    np.testing.assert_array_equal(grads["data"].asnumpy(), head * (V > 0))
    dense = check_symbolic_backward(y, [V], [head], [head * (V > 0)])
    assert dense["data"].stype == "default"


def test_symbol_ops_drop_out():
    l, r = mx.sym.var("l"), mx.sym.var("r")
    s = mx.sym.sparse.elemwise_add(l, r, out=l)
    assert s.list_arguments() == ["l", "r"]
    exe = s.bind(mx.cpu(), {"l": mx.nd.array(V), "r": mx.nd.ones((3, 3))})
    exe.forward()
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), V + 1)
