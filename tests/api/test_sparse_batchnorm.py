"""BatchNorm with sparse inputs falls back to dense, but with fix_gamma=True (its default)
MXNet 1.9.1's BatchNormStorageType refuses them: an MXNetError, eagerly and at bind."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

X = np.array([[0.5, 0, -1.0], [0, 2.0, 0], [1.0, 0, 3.0]], np.float32)
ARGS = [nd.ones(3), nd.zeros(3), nd.zeros(3), nd.ones(3)]


def test_eager():
    x = nd.array(X).tostype("row_sparse")
    with pytest.raises(mx.MXNetError, match="fix_gamma=True is not supported for sparse"):
        nd.BatchNorm(x, *ARGS)
    got = nd.BatchNorm(x, *ARGS, fix_gamma=False, use_global_stats=True)
    assert got.stype == "default"
    np.testing.assert_allclose(got.asnumpy(), X / np.sqrt(1 + 1e-3), rtol=1e-6)
    dense = nd.BatchNorm(nd.array(X), *ARGS, use_global_stats=True)
    np.testing.assert_allclose(dense.asnumpy(), got.asnumpy(), rtol=1e-6)


def test_bind():
    data = mx.sym.var("data", stype="row_sparse")
    args = {"data": nd.array(X).tostype("row_sparse"), "bn_gamma": ARGS[0], "bn_beta": ARGS[1]}
    aux = {"bn_moving_mean": ARGS[2], "bn_moving_var": ARGS[3]}
    with pytest.raises(mx.MXNetError, match="fix_gamma"):
        mx.sym.BatchNorm(data, name="bn").bind(mx.cpu(), args, aux_states=aux)
    exe = mx.sym.BatchNorm(data, name="bn", fix_gamma=False, use_global_stats=True).bind(
        mx.cpu(), args, aux_states=aux)
    exe.forward()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), X / np.sqrt(1 + 1e-3), rtol=1e-6)
