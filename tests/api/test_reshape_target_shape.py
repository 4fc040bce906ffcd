"""Reshape's deprecated target_shape as MXNet 1.9.1 reads it (example/rnn/old's
Reshape(label, target_shape=(0,))): its single 0 is inferred, keep_highest keeps the first
dim; shape's 0 still copies a dim."""
import numpy as np
import pytest

import tracegrad as mx


def test_target_shape_zero_is_inferred():
    x = mx.nd.array(np.arange(24).reshape(4, 6))
    assert mx.nd.Reshape(x, target_shape=(0,)).shape == (24,)
    assert mx.nd.Reshape(x, target_shape=(3, 0)).shape == (3, 8)
    assert mx.nd.Reshape(x, target_shape=(0, 0), keep_highest=True).shape == (4, 6)
    assert mx.nd.Reshape(x, shape=(0, -1)).shape == (4, 6)      # shape: 0 copies
    np.testing.assert_array_equal(mx.nd.Reshape(x, target_shape=(0,)).asnumpy(),
                                  np.arange(24))
    label = mx.sym.Reshape(mx.sym.transpose(mx.sym.var("label")), target_shape=(0,))
    assert label.infer_shape(label=(4, 10))[1] == [(40,)]
    with pytest.raises(mx.MXNetError, match="target_shape"):
        mx.nd.Reshape(x, target_shape=(5, 0, 0))
