"""MXNet's "train a linear regression model with sparse symbols" tutorial: csr batches from
NDArrayIter, a row_sparse weight, mx.sym.sparse.dot, Module with SGD and momentum. The
weight's gradient is row_sparse, so (as in MXNet) only the rows a batch's features touch are
updated, their momentum too; checked against the same loop by hand in float64."""
import numpy as np

import tracegrad as mx


def test_sparse_linear_regression_module_matches_lazy_momentum_by_hand():
    dim, n, bs, lr, mom = 30, 40, 8, 0.1, 0.9
    rs = np.random.RandomState(0)
    dense = (rs.rand(n, dim) < 0.1) * rs.rand(n, dim)
    dense[:, -1] = 0          # a feature no batch touches: its row must never move
    label = dense @ rs.randn(dim, 1) + 0.5
    it = mx.io.NDArrayIter(mx.nd.sparse.csr_matrix(dense.astype(np.float32)),
                           mx.nd.array(label), bs, last_batch_handle="discard",
                           label_name="label")
    x = mx.sym.Variable("data", stype="csr")
    w = mx.sym.Variable("weight", shape=(dim, 1), init=mx.initializer.Normal(),
                        stype="row_sparse")
    pred = mx.sym.broadcast_add(mx.sym.sparse.dot(x, w), mx.sym.Variable("bias", shape=(1,)))
    out = mx.sym.LinearRegressionOutput(data=pred, label=mx.sym.Variable("label"), name="lro")
    mod = mx.mod.Module(symbol=out, data_names=["data"], label_names=["label"])
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params()
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", lr),
                                                          ("momentum", mom)))
    params = mod.get_params()[0]
    wt, b = params["weight"].asnumpy().astype(np.float64), params["bias"].asnumpy().astype(
        np.float64)
    w0 = wt.copy()
    mw, mb = np.zeros_like(wt), np.zeros_like(b)
    metric = mx.metric.create("MSE")
    for epoch in range(3):
        it.reset()
        metric.reset()
        for batch in it:
            assert batch.data[0].stype == "csr"
            mod.forward(batch, is_train=True)
            mod.update_metric(metric, batch.label)
            mod.backward()
            mod.update()
            xb, yb = batch.data[0].asnumpy().astype(np.float64), batch.label[0].asnumpy()
            g = (xb @ wt + b - yb.reshape(-1, 1)) / bs          # rescale_grad = 1 / batch
            gw, gb = xb.T @ g, g.sum(0)
            rows = np.flatnonzero(np.any(gw != 0, axis=1))      # the lazy rows
            mw[rows] = mom * mw[rows] - lr * gw[rows]
            wt[rows] += mw[rows]
            mb = mom * mb - lr * gb
            b += mb
    got = mod.get_params()[0]
    np.testing.assert_allclose(got["weight"].asnumpy(), wt, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["bias"].asnumpy(), b, rtol=1e-4, atol=1e-5)
    assert got["weight"].asnumpy()[-1, 0] == np.float32(w0[-1, 0])
    assert metric.get()[1] < 2.0
