"""MXNet's kvstore tutorial: init / push / pull on one key and on lists of keys, values from
several devices summed, and a custom updater set with _set_updater that updates the stored
value in place (the tutorial's printed values: 2, 8, 4, 6, 3, 11)."""
import numpy as np

import tracegrad as mx


def test_kvstore_tutorial_values():
    kv = mx.kv.create("local")
    shape = (2, 3)
    kv.init(3, mx.nd.ones(shape) * 2)
    a = mx.nd.zeros(shape)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), 2)
    kv.push(3, mx.nd.ones(shape) * 8)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), 8)
    contexts = [mx.cpu(i) for i in range(4)]
    kv.push(3, [mx.nd.ones(shape, ctx) for ctx in contexts])
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), 4)          # the devices' values summed
    seen = []

    def update(key, pushed, stored):
        seen.append(key)
        stored += pushed * 2
    kv._set_updater(update)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), 4)          # pull does not update
    kv.push(3, mx.nd.ones(shape))
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), 6)
    keys = [5, 7, 9]
    kv.init(keys, [mx.nd.ones(shape)] * len(keys))
    kv.push(keys, [mx.nd.ones(shape)] * len(keys))
    b = [mx.nd.zeros(shape) for _ in keys]
    kv.pull(keys, out=b)
    np.testing.assert_array_equal(b[1].asnumpy(), 3)
    per_device = [[mx.nd.ones(shape, ctx) for ctx in contexts]] * len(keys)
    kv.push(keys, per_device)
    kv.pull(keys, out=per_device)
    np.testing.assert_array_equal(per_device[1][1].asnumpy(), 11)
    assert seen == [3, 5, 7, 9, 5, 7, 9]
