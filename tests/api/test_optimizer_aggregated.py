"""MXNet's aggregated optimizer calls (its multi-tensor kernels, as test_multilamb and the
Updater's aggregation make them): update / update_multi_precision given lists of indices,
weights, gradients and states update each tensor as alone."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


@pytest.mark.parametrize("name,kwargs", [("lamb", {"wd": 0.01}), ("sgd", {"momentum": 0.9}),
                                         ("adam", {}), ("lars", {"momentum": 0.9})])
@pytest.mark.parametrize("method", ["update", "update_multi_precision"])
def test_aggregated_update_is_each_tensor_alone(name, kwargs, method):
    rs = np.random.RandomState(0)
    shapes = [(4, 3), (5,), (2, 2, 2)]
    weights = [rs.uniform(-1, 1, s).astype(np.float32) for s in shapes]
    grads = [rs.uniform(-1, 1, s).astype(np.float32) for s in shapes]
    together = mx.optimizer.create(name, learning_rate=0.1, **kwargs)
    alone = mx.optimizer.create(name, learning_rate=0.1, **kwargs)
    w1 = [nd.array(w) for w in weights]
    w2 = [nd.array(w) for w in weights]
    s1 = [together.create_state_multi_precision(i, w) for i, w in enumerate(w1)]
    s2 = [alone.create_state_multi_precision(i, w) for i, w in enumerate(w2)]
    for _ in range(3):
        getattr(together, method)(list(range(3)), w1, [nd.array(g) for g in grads], s1)
        for i in range(3):
            getattr(alone, method)(i, w2[i], nd.array(grads[i]), s2[i])
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert together._index_update_count == alone._index_update_count
