"""@use_np on a Block class, as MXNet 1.9.1 programs write it: the block is called in np mode
(hybrid_forward's F is the np one, outputs are mx.np arrays) whatever mode its caller is in,
eager and hybridized; and a parameter's unknown dims, which np_shape shows as -1, are still
sized from the input by the block's graph."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd, np
from tracegrad.util import use_np


@use_np
class AddMul(gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.np.add(x, x), F.np.multiply(x, x)


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_use_np_block_called_outside_np_mode(hybridize):
    block = AddMul()
    if hybridize:
        block.hybridize()
    x = np.array(onp.arange(6, dtype="float32").reshape(2, 3))
    for _ in range(3):
        a, b = block(x)
        assert type(a) is np.ndarray and type(b) is np.ndarray
        onp.testing.assert_array_equal(a.asnumpy(), 2 * x.asnumpy())
        onp.testing.assert_array_equal(b.asnumpy(), x.asnumpy() ** 2)
    assert not mx.util.is_np_array() and not mx.util.is_np_shape()


def test_a_use_np_block_inside_an_nd_parent_differentiates():
    class Parent(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.inner = AddMul()

        def hybrid_forward(self, F, x):
            a, b = self.inner(x.as_np_ndarray())
            return (a + b).as_nd_ndarray()

    parent = Parent()
    x = nd.array([[1.0, -2.0, 0.5]])
    x.attach_grad()
    with autograd.record():
        y = parent(x)
    y.backward()
    assert type(y) is nd.NDArray
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 + 2 * x.asnumpy())


def test_np_shape_parameter_with_unknown_dim_is_sized(np_mode):
    class Linear(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.w = self.params.get("w", shape=(0, 7), allow_deferred_init=True)

        def hybrid_forward(self, F, x, w):
            return x.dot(w)

    block = Linear()
    assert block.w.shape == (-1, 7)     # (MXNet shows unknown dims as -1 under np_shape)
    block.initialize()
    block.hybridize()
    out = block(np.ones((4, 5)))
    assert out.shape == (4, 7) and block.w.shape == (5, 7)
