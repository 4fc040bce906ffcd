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


@pytest.mark.parametrize("deferred", [False, True])
@pytest.mark.parametrize("hybridize", [False, True])
def test_parameters_made_in_np_mode_stay_mx_np_arrays(deferred, hybridize):
    """MXNet: a parameter initialized under np mode (a @use_np block's initialize, or its
    first forward for a deferred one) holds mx.np arrays; data() and grad() return them in
    either mode after. One made in nd mode stays an NDArray."""
    @use_np
    class NpDot(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.w = self.params.get("w", shape=(0 if deferred else 3, 2),
                                         allow_deferred_init=True)

        def hybrid_forward(self, F, x, w):
            return x.dot(w)     # (mx.np's method: the deferred w's shape is inferred)

    class NdDot(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.w = self.params.get("w", shape=(3, 2))

        def hybrid_forward(self, F, x, w):
            return F.dot(x, w)

    x = onp.arange(12, dtype="float32").reshape(4, 3)
    for cls, arg, kind in ((NpDot, np.array(x), np.ndarray), (NdDot, nd.array(x), nd.NDArray)):
        net = cls()
        net.initialize(mx.init.One())
        if hybridize:
            net.hybridize()
        with autograd.record():
            y = net(arg)
        y.backward()
        assert type(net.w.data()) is kind and type(net.w.grad()) is kind
        onp.testing.assert_array_equal(net.w.data().asnumpy(), onp.ones((3, 2)))
        onp.testing.assert_array_equal(net.w.grad().asnumpy(),
                                       onp.repeat(x.sum(axis=0)[:, None], 2, axis=1))


@pytest.mark.parametrize("hybridize", [False, True])
def test_deferred_shapes_inferred_through_f_np_and_f_npx(hybridize):
    """MXNet sizes a deferred parameter from hybrid_forward's graph on symbols, F.np / F.npx
    calls included (its test_optimizer_with_np_ndarrays' LinearRegression)."""
    @use_np
    class TwoLayer(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.w1 = self.params.get("w1", shape=(0, 5), allow_deferred_init=True)
                self.w2 = self.params.get("w2", shape=(5, 2), allow_deferred_init=True)

        def hybrid_forward(self, F, x, w1, w2):
            return F.np.dot(F.npx.relu(F.np.subtract(x.dot(w1), 1.0)), w2)

    net = TwoLayer()
    net.initialize(mx.init.Uniform())
    if hybridize:
        net.hybridize()
    x = onp.random.RandomState(0).uniform(size=(4, 7)).astype("float32")
    y = net(np.array(x))
    assert net.w1.shape == (7, 5) and type(y) is np.ndarray and y.shape == (4, 2)
    w1, w2 = net.w1.data().asnumpy(), net.w2.data().asnumpy()
    onp.testing.assert_allclose(y.asnumpy(), onp.maximum(x @ w1 - 1.0, 0) @ w2, rtol=1e-5)


def test_check_one_kind_refuses_mixed_classic_and_np_outputs():
    """MXNet's rule for a set_np hybrid_forward's outputs (its graph groups one kind of
    symbol): classic NDArrays and mx.np arrays together are a TypeError; one kind passes."""
    from tracegrad.numpy_api.gluon import check_one_kind
    a = np.ones((2,))
    both = (a.as_nd_ndarray() + 1, a * 2)
    with pytest.raises(TypeError, match=r"both classic NDArrays and mx.np arrays.*NDArray"):
        check_one_kind(both)
    with pytest.raises(TypeError, match="as_np_ndarray"):
        check_one_kind([a, [a.as_nd_ndarray()]])     # (nested, as MXNet flattens)
    for one in ((a, a * 2), (a.as_nd_ndarray(), nd.ones((1,))), a, nd.ones((1,)), (a, 3.0)):
        assert check_one_kind(one) is one


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_set_np_block_returning_both_kinds_is_refused(hybridize):
    """HybridBlock.forward's set_np branch applies check_one_kind, eagerly and traced; a block
    returning one kind keeps working in both."""
    @use_np
    class Mixed(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x * 2, (x + 1).as_nd_ndarray()

    @use_np
    class Same(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x * 2, x + 1

    x = np.array([1.0, 2.0])
    mixed, same = Mixed(), Same()
    if hybridize:
        mixed.hybridize()
        same.hybridize()
    with pytest.raises(TypeError, match="both classic NDArrays and mx.np arrays"):
        mixed(x)
    a, b = same(x)
    assert type(a) is np.ndarray and type(b) is np.ndarray
    onp.testing.assert_array_equal(a.asnumpy(), [2.0, 4.0])
    onp.testing.assert_array_equal(b.asnumpy(), [2.0, 3.0])
