"""Patterns from MXNet 1.9.1's tutorials (docs/python_docs/python/tutorials/): getting-started
logistic_regression_explained, to-mxnet/pytorch, crash-course 5-predict and 6-use_gpus;
packages/ndarray gotchas_numpy_in_mxnet and sparse/csr, row_sparse, train, train_gluon;
extend/customop; packages/gluon/image info_gan and mnist; packages/gluon/data
data_augmentation and gluon/image image-augmentation. Expected values are MXNet's formulas
restated in numpy, or MXNet's documented outputs.
"""
import numpy as np

import tracegrad as mx
from tracegrad.gluon import nn


# ---------------------------------------------------------------- sparse/train.md, train_gluon.md
def test_rand_ndarray_csr_is_scipy_uniform_draw():
    """train.md: mx.test_utils.rand_ndarray((1000, 100), 'csr', 0.01) is a CSRNDArray drawn by
    scipy.sparse.rand (as MXNet's _get_uniform_dataset_csr)."""
    import scipy.sparse as spsp
    np.random.seed(7)
    a = mx.test_utils.rand_ndarray((50, 40), "csr", 0.05)
    np.random.seed(7)
    ref = spsp.rand(50, 40, 0.05, dtype=np.float32, format="csr")
    assert isinstance(a, mx.nd.sparse.CSRNDArray) and a.stype == "csr"
    assert a.dtype == np.float32 and a.shape == (50, 40)
    np.testing.assert_array_equal(a.asnumpy(), ref.toarray())
    np.testing.assert_array_equal(a.indptr.asnumpy(), ref.indptr)
    assert a.data.size == 100


def test_rand_ndarray_row_sparse_and_powerlaw():
    np.random.seed(3)
    r = mx.test_utils.rand_ndarray((20, 3), "row_sparse", 0.3)
    np.random.seed(3)
    rows = np.argwhere(np.random.rand(20) < 0.3).flatten()
    vals = np.random.rand(len(rows), 3).astype(np.float32)
    assert isinstance(r, mx.nd.sparse.RowSparseNDArray)
    np.testing.assert_array_equal(r.indices.asnumpy(), rows)
    np.testing.assert_array_equal(r.data.asnumpy(), vals)
    # MXNet's docstring: with powerlaw, each row has twice the nonzeros of the one before
    p, _ = mx.test_utils.rand_sparse_ndarray((5, 16), "csr", density=0.5,
                                             distribution="powerlaw")
    nnz = np.diff(p.indptr.asnumpy())
    assert nnz[2] == 2 * nnz[1] and nnz[3] == 2 * nnz[2]


# ---------------------------------------------------------------- gluon/image/info_gan.md
def test_conv_repr_is_mxnets():
    """info_gan.md prints discriminator.D[:11]: MXNet's _Conv.__repr__ shows padding /
    dilation / groups only when set, `bias=False` without bias, the activation last, and
    maps weight.shape[1] -> weight.shape[0]."""
    assert repr(nn.Conv2D(64, 4, 2, 1, use_bias=False)) == \
        "Conv2D(None -> 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)"
    assert repr(nn.Conv2D(8, 3, in_channels=3, dilation=2, activation="relu")) == \
        "Conv2D(3 -> 8, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2), Activation(relu))"
    assert repr(nn.Conv1D(8, 3, groups=2, in_channels=4)) == \
        "Conv1D(2 -> 8, kernel_size=(3,), stride=(1,), groups=2)"
    assert repr(nn.Conv2DTranspose(512, 4, 1, 0, use_bias=False, in_channels=100)) == \
        "Conv2DTranspose(512 -> 100, kernel_size=(4, 4), stride=(1, 1), bias=False)"


# ---------------------------------------------------------------- sparse/row_sparse.md
def _sgd_mom_rows(w, g, m, rows, lr, mom, wd):
    """MXNet's sgd_mom_update on `rows` (all rows: the standard update), float64."""
    w, m = w.astype(np.float64), m.astype(np.float64)
    for r in rows:
        m[r] = mom * m[r] - lr * (g[r] + wd * w[r])
        w[r] = w[r] + m[r]
    return w, m


def test_sgd_by_hand_on_row_sparse_gradient_updates_lazily():
    """row_sparse.md: momentum = sgd.create_state(0, weight) is an NDArray and
    sgd.update(0, weight, grad, momentum) changes only the rows grad lists (MXNet's
    documented output), also a listed row whose gradient is zero."""
    shape = (4, 2)
    weight = mx.nd.ones(shape).tostype("row_sparse")
    grad = mx.nd.sparse.row_sparse_array(([[1, 2], [4, 5]], [1, 2]), shape=shape)
    sgd = mx.optimizer.SGD(learning_rate=0.01, momentum=0.01)
    momentum = sgd.create_state(0, weight)
    assert isinstance(momentum, mx.nd.NDArray) and momentum.stype == "row_sparse"
    np.testing.assert_array_equal(momentum.asnumpy(), np.zeros(shape))
    sgd.update(0, weight, grad, momentum)
    np.testing.assert_allclose(weight.asnumpy(), [[1, 1], [0.99, 0.98], [0.96, 0.95], [1, 1]],
                               rtol=1e-6)
    np.testing.assert_allclose(momentum.asnumpy(),
                               [[0, 0], [-0.01, -0.02], [-0.04, -0.05], [0, 0]], rtol=1e-6)

    g = np.array([[0, 0], [0, 0], [3, 1], [0, 0]], np.float32)
    for lazy, rows in ((True, [1, 2]), (False, range(4))):
        opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.5, wd=0.2, lazy_update=lazy)
        w0 = np.arange(8, dtype=np.float32).reshape(4, 2) / 4
        w = mx.nd.array(w0)
        state = opt.create_state(0, w)
        grad = mx.nd.sparse.row_sparse_array(([[0, 0], [3, 1]], [1, 2]), shape=(4, 2))
        m0 = np.zeros((4, 2))
        for _ in range(2):
            opt.update(0, w, grad, state)
            w0, m0 = _sgd_mom_rows(w0, g, m0, rows, 0.1, 0.5, 0.2)
        np.testing.assert_allclose(w.asnumpy(), w0, rtol=1e-6)
        np.testing.assert_allclose(state.asnumpy(), m0, rtol=1e-6, atol=1e-7)


def test_optimizer_states_by_hand_are_ndarrays_updated_in_place():
    """MXNet's create_state returns NDArrays; Adam's (mean, var) are updated in place."""
    adam = mx.optimizer.Adam(learning_rate=0.1)
    w = mx.nd.array([1.0, -2.0])
    mean, var = adam.create_state(0, w)
    assert isinstance(mean, mx.nd.NDArray) and isinstance(var, mx.nd.NDArray)
    g = np.array([0.5, 0.25])
    adam.update(0, w, mx.nd.array(g), (mean, var))
    m, v = 0.1 * g, 0.001 * g * g
    lr = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(mean.asnumpy(), m, rtol=1e-6)
    np.testing.assert_allclose(var.asnumpy(), v, rtol=1e-6)
    np.testing.assert_allclose(w.asnumpy(), np.array([1.0, -2.0]) - lr * m / (np.sqrt(v) + 1e-8),
                               rtol=1e-6)


# ---------------------------------------------------------------- to-mxnet/pytorch.md
def test_linalg_syevd_matches_mxnet_doc_and_backward():
    """pytorch.md's table: `v, e = nd.linalg.syevd(a)`. MXNet's documented example, and its
    syevd_backward (dA = U^T Y U, Y_ij = (X_ij - X_ji) / 2(L_i - L_j) off the diagonal,
    dL on it, X = dU U^T) in float64 numpy."""
    A = mx.nd.array([[[1., 2.], [2., 4.]], [[1., 2.], [2., 5.]]])
    U, L = mx.nd.linalg.syevd(A)
    np.testing.assert_allclose(U.asnumpy(), [[[0.89442719, -0.4472136], [0.4472136, 0.89442719]],
                                             [[0.92387953, -0.38268343],
                                              [0.38268343, 0.92387953]]], rtol=1e-6)
    np.testing.assert_allclose(L.asnumpy(), [[0., 5.], [0.17157288, 5.82842712]], atol=1e-6)

    rng = np.random.RandomState(0)
    b = rng.randn(2, 3, 3)
    a0 = b + b.transpose(0, 2, 1)
    w_u, w_l = rng.randn(2, 3, 3), rng.randn(2, 3)
    vals, vecs = np.linalg.eigh(a0)
    u = vecs.transpose(0, 2, 1)
    u = np.where(np.take_along_axis(u, np.argmax(np.abs(u), -1)[..., None], -1) < 0, -u, u)
    x = w_u @ u.transpose(0, 2, 1)
    y = np.zeros_like(x)
    for k in range(2):
        for i in range(3):
            for j in range(3):
                if i != j:
                    lo, hi = max(i, j), min(i, j)
                    y[k, i, j] = (x[k, lo, hi] - x[k, hi, lo]) / (2 * (vals[k, lo] - vals[k, hi]))
            y[k, i, i] = w_l[k, i]
    a = mx.nd.array(a0, dtype="float64")
    a.attach_grad()
    with mx.autograd.record():
        U, L = mx.nd.linalg.syevd(a)
        loss = (U * mx.nd.array(w_u, dtype="float64")).sum() + \
            (L * mx.nd.array(w_l, dtype="float64")).sum()
    loss.backward()
    np.testing.assert_allclose(U.asnumpy(), u, atol=1e-12)
    np.testing.assert_allclose(L.asnumpy(), vals, atol=1e-12)
    np.testing.assert_allclose(a.grad.asnumpy(), u.transpose(0, 2, 1) @ y @ u, atol=1e-10)
    # the symbolic op has MXNet's two outputs
    s = mx.sym.linalg.syevd(mx.sym.var("a"))
    assert len(s.list_outputs()) == 2


# ---------------------------------------------------------------- sparse/train.md
def test_sparse_symbols_bind_sparse_arrays_and_infer_output_stypes():
    """train.md: a csr / row_sparse variable binds to a sparse array; negative(csr) is csr,
    elemwise_add(rsp, rsp) row_sparse, a dense add and the fallbacks (csr + rsp, log) dense
    (MXNet's storage inference, as the tutorial prints it)."""
    a = mx.sym.Variable("a")
    b = mx.sym.Variable("b", stype="csr")
    c = mx.sym.Variable("c", stype="row_sparse")
    shape = (2, 2)
    b_exec = b.simple_bind(ctx=mx.cpu(), b=shape)
    b_exec.forward()
    assert b_exec.arg_dict["b"].stype == "csr" and b_exec.outputs[0].stype == "csr"
    b_exec.arg_dict["b"][:] = mx.nd.ones(shape).tostype("csr")
    b_exec.forward()
    np.testing.assert_array_equal(b_exec.outputs[0].asnumpy(), np.ones(shape))
    group = mx.sym.Group([mx.sym.elemwise_add(a, a), mx.sym.sparse.negative(b),
                          mx.sym.sparse.elemwise_add(c, c), mx.sym.elemwise_add(b, c),
                          mx.sym.log(b), 2 * c])
    ex = group.simple_bind(ctx=mx.cpu(), a=shape, b=shape, c=shape)
    ex.arg_dict["b"][:] = mx.nd.array([[1, 0], [0, 2]]).tostype("csr")
    ex.arg_dict["c"][:] = mx.nd.array([[0, 0], [3, 4]]).tostype("row_sparse")
    outs = ex.forward()
    assert [o.stype for o in outs] == ["default", "csr", "row_sparse", "default", "default",
                                       "row_sparse"]
    np.testing.assert_array_equal(outs[1].asnumpy(), [[-1, 0], [0, -2]])
    np.testing.assert_array_equal(outs[2].asnumpy(), [[0, 0], [6, 8]])
    np.testing.assert_array_equal(outs[3].asnumpy(), [[1, 0], [3, 6]])
    np.testing.assert_array_equal(outs[2].indices.asnumpy(), [1])
    # stype_dict declares the storage of a plain variable
    ex = mx.sym.sparse.negative(a).simple_bind(mx.cpu(), a=shape, stype_dict={"a": "csr"})
    assert ex.arg_dict["a"].stype == "csr" and ex.forward()[0].stype == "csr"
