"""An Embedding fed integer indices (example/model-parallel feeds int32 user ids) keeps a
float weight: MXNet's EmbeddingOpType gives the weight and the output the op's dtype
attribute (float32 by default) or the weight's own type, never the indices' type."""
import numpy as np

import tracegrad as mx


def test_infer_type_and_module_bind_with_int32_indices():
    emb = mx.sym.Embedding(mx.sym.var("user"), input_dim=6, output_dim=3, name="emb")
    assert emb.infer_type(user=np.int32) == ([np.int32, np.float32], [np.float32], [])
    half = mx.sym.Embedding(mx.sym.var("user"), input_dim=6, output_dim=3, dtype="float16")
    assert half.infer_type(user=np.int32)[1] == [np.float16]
    out = mx.sym.LinearRegressionOutput(mx.sym.sum(emb, axis=1), mx.sym.var("score"))
    mod = mx.mod.Module(out, data_names=["user"], label_names=["score"])
    mod.bind([mx.io.DataDesc("user", (4,), np.int32)], [("score", (4,))])
    mod.init_params(mx.init.Xavier())
    assert mod.get_params()[0]["emb_weight"].dtype == np.float32
    ids = np.array([0, 5, 2, 5], np.int32)
    mod.forward(mx.io.DataBatch([mx.nd.array(ids, dtype="int32")], [mx.nd.zeros(4)]),
                is_train=True)
    mod.backward()
    w = mod.get_params()[0]["emb_weight"].asnumpy()
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), w[ids].sum(1), rtol=1e-6)
    grad = dict(zip(mod._exec_group.param_names, mod._exec_group.grad_arrays))["emb_weight"]
    want = np.zeros_like(w)
    np.add.at(want, ids, w[ids].sum(1, keepdims=True) * np.ones((1, 3)))
    np.testing.assert_allclose(grad[0].asnumpy(), want, rtol=1e-5)
