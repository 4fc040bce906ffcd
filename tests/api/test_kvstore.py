"""The single-process KVStore ('local', 'device') and the bucket layout the MPI store uses."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.kvstore.buckets import Buckets


def test_local_store_identity():
    kv = mx.kv.create("local")
    assert (kv.type, kv.rank, kv.num_workers) == ("local", 0, 1)
    assert mx.kv.create("device").type == "device"
    assert kv.is_capable(kv.OPTIMIZER)


def test_unknown_and_unsupported_types_are_named():
    with pytest.raises(ValueError, match="unknown kvstore type 'nccl2'"):
        mx.kv.create("nccl2")
    with pytest.raises(ValueError, match="'dist_async' is not supported"):
        mx.kv.create("dist_async")


def test_dist_is_the_synchronous_store_and_names_are_case_insensitive():
    # MXNet's KVStore::Create: a 'dist' name without '_async' is sync mode (the
    # distributed_training example's kv.create('dist')); create() lowercases the name
    assert mx.kv.create("dist").type == "dist"
    assert mx.kv.create("Local").type == "local"
    assert mx.kv.create("DIST_SYNC").type == "dist_sync"


def test_init_push_pull_sums_device_values():
    kv = mx.kv.create("local")
    kv.init(3, nd.ones((2, 3)))
    out = nd.zeros((2, 3))
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.ones((2, 3)))
    kv.push(3, [nd.ones((2, 3)), nd.ones((2, 3)) * 2])
    outs = [nd.zeros((2, 3)), nd.zeros((2, 3))]
    kv.pull(3, out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), np.full((2, 3), 3.0))


def test_list_keys_and_errors():
    kv = mx.kv.create("local")
    kv.init(["a", "b"], [nd.zeros((2,)), nd.zeros((3,))])
    with pytest.raises(mx.MXNetError, match="duplicate init of key 'a'"):
        kv.init("a", nd.zeros((2,)))
    with pytest.raises(mx.MXNetError, match="key 'c' has not been initialized"):
        kv.push("c", nd.zeros((2,)))
    with pytest.raises(mx.MXNetError, match="holds shape \\(2,\\), pushed \\(4,\\)"):
        kv.push("a", nd.zeros((4,)))
    with pytest.raises(mx.MXNetError, match="2 keys but 1 values"):
        kv.push(["a", "b"], [nd.zeros((2,))])


def test_pushpull_without_optimizer_is_a_reduction_into_the_values():
    kv = mx.kv.create("device")
    a, b = nd.array([1.0, 2.0]), nd.array([10.0, 20.0])
    kv.pushpull("g", [a, b])
    np.testing.assert_array_equal(a.asnumpy(), [11.0, 22.0])
    np.testing.assert_array_equal(b.asnumpy(), [11.0, 22.0])
    out = nd.zeros((2,))
    kv.pushpull("h", nd.array([1.0, 5.0]), out=out)
    np.testing.assert_array_equal(out.asnumpy(), [1.0, 5.0])


def test_set_optimizer_updates_the_stored_weight():
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.1))
    kv.init(0, nd.ones((3,)))
    kv.push(0, nd.array([1.0, 2.0, 3.0]))
    out = nd.zeros((3,))
    kv.pull(0, out=out)
    np.testing.assert_allclose(out.asnumpy(), [0.9, 0.8, 0.7], rtol=1e-6)
    w = nd.zeros((3,))
    kv.pushpull(0, nd.ones((3,)), out=w)
    np.testing.assert_allclose(w.asnumpy(), [0.8, 0.7, 0.6], rtol=1e-6)


def test_broadcast_stores_and_pulls():
    kv = mx.kv.create("local")
    out = nd.zeros((2,))
    kv.broadcast("w", nd.array([4.0, 5.0]), out=out)
    np.testing.assert_array_equal(out.asnumpy(), [4.0, 5.0])


def test_trainer_with_a_local_store_trains_as_without():
    def run(kvstore):
        mx.random.seed(3)
        net = gluon.nn.Dense(2, in_units=3)
        net.initialize()
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore=kvstore)
        x = nd.array(np.arange(12.0).reshape(4, 3))
        with mx.autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        tr.step(4)
        return net.weight.data().asnumpy()
    np.testing.assert_array_equal(run("device"), run(mx.kv.create("local")))


def test_buckets_group_by_dtype_in_order_and_split_at_the_limit():
    specs = [((4,), "float32"), ((2, 3), "float64"), ((5,), "float32"), ((3,), "float64")]
    b = Buckets(specs, limit=40)  # the float64 bucket is full (48 bytes) after its first array
    assert [buf.dtype for buf in b.buffers] == [np.float32, np.float64, np.float64]
    assert [len(buf) for buf in b.buffers] == [9, 6, 3]
    assert b.members == [[0, 2], [1], [3]]
    arrays = [np.arange(4, dtype=np.float32), np.arange(6.0).reshape(2, 3) * 1e-300,
              np.arange(5, dtype=np.float32) + 0.5, np.array([1e300, -0.0, np.pi])]
    for k in range(len(b.buffers)):
        b.pack(k, arrays)
    outs = [np.zeros_like(a) for a in arrays]
    b.unpack(outs)
    for a, o in zip(arrays, outs):
        assert o.dtype == a.dtype and np.array_equal(a, o)
    b.pack(0, [None, None, None, None])
    assert not b.view(0).any()


def test_split_sampler_gives_disjoint_equal_shards():
    parts = [list(gluon.data.SplitSampler(10, 3, i, shuffle=False)) for i in range(3)]
    assert parts == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    shuffled = gluon.data.SplitSampler(10, 3, 1)
    assert len(shuffled) == 3 and sorted(shuffled) == [3, 4, 5]
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(np.arange(8.0)), batch_size=2,
                                   sampler=gluon.data.SplitSampler(8, 2, 1, shuffle=False))
    assert [b.asnumpy().tolist() for b in loader] == [[4.0, 5.0], [6.0, 7.0]]
    with pytest.raises(ValueError, match="part_index must be in"):
        gluon.data.SplitSampler(10, 2, 2)


def test_optimizer_states_save_and_load(tmp_path):
    def store():
        kv = mx.kv.create("local")
        kv.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.9))
        kv.init(0, nd.ones((3,)))
        return kv
    kv = store()
    kv.push(0, nd.array([1.0, 2.0, 3.0]))
    kv.save_optimizer_states(str(tmp_path / "states"))
    again = store()
    again.load_optimizer_states(str(tmp_path / "states"))
    for k in (kv, again):  # the same momentum carries into the next push
        k.push(0, nd.array([1.0, 1.0, 1.0]))
    a, b = nd.zeros((3,)), nd.zeros((3,))
    kv.pull(0, out=a)
    again.pull(0, out=b)
    fresh = nd.zeros((3,))
    store_without = store()
    store_without.push(0, nd.array([1.0, 1.0, 1.0]))
    store_without.pull(0, out=fresh)
    # b started from weights 1 with the saved momentum: its step is larger than a fresh one
    np.testing.assert_allclose(1 - b.asnumpy(), (1 - fresh.asnumpy()) + 0.9 * 0.1 *
                               np.array([1.0, 2.0, 3.0]), rtol=1e-6)
    assert not np.array_equal(a.asnumpy(), b.asnumpy())  # different weights, same momentum


def test_unsupported_features_say_so():
    kv = mx.kv.create("local")
    with pytest.raises(mx.MXNetError, match="gradient compression is not supported"):
        kv.set_gradient_compression({"type": "2bit"})
    kv.init(0, nd.ones((2,)))   # (row_sparse_pull: tests/api/test_sparse.py)
    with pytest.raises(mx.MXNetError, match="out must be RowSparseNDArrays"):
        kv.row_sparse_pull(0, out=nd.zeros((2,)), row_ids=nd.array([0]))
    with pytest.raises(mx.MXNetError, match="no optimizer is set"):
        kv.save_optimizer_states("x")


def test_registered_store_is_created_by_lowercased_class_name():
    # MXNet 1.9's KVStoreBase.register: create() looks the registry up first
    from tracegrad.kvstore import KVStoreBase

    @KVStoreBase.register
    class MyOwnStore(KVStoreBase):
        @property
        def type(self):
            return "mine"
    try:
        kv = mx.kv.create("MyOwnStore")
        assert type(kv) is MyOwnStore and kv.type == "mine"
        with pytest.raises(NotImplementedError):
            kv.pushpull(0, nd.ones((2,)))
        with pytest.warns(UserWarning, match="replaces"):
            KVStoreBase.register(MyOwnStore)
    finally:
        del KVStoreBase.kv_registry["myownstore"]
    with pytest.raises(ValueError, match="unknown kvstore type 'myownstore'"):
        mx.kv.create("myownstore")


def test_teststore_broadcasts_and_sums_device_values():
    kv = mx.kv.create("teststore")
    assert (kv.type, kv.rank, kv.num_workers) == ("teststore", 0, 1)
    assert type(kv).is_capable("optimizer") is False
    with pytest.raises(ValueError, match="unknown capability"):
        kv.is_capable("sparse")
    outs = [nd.zeros((2,)), nd.zeros((2,))]
    kv.broadcast("w", nd.array([1.0, 2.0]), out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), [1.0, 2.0])
    vals = [nd.array([1.0, 2.0], ctx=mx.cpu(i)) for i in range(3)]
    kv.pushpull("w", vals, out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), [3.0, 6.0])
    kv.pushpull("w", vals)                      # no out: written back into the values
    for v in vals:
        np.testing.assert_array_equal(v.asnumpy(), [3.0, 6.0])
    for call in (lambda: kv.set_optimizer(mx.optimizer.create("sgd")),
                 lambda: kv.save_optimizer_states("x"), lambda: kv.load_optimizer_states("x")):
        with pytest.raises(NotImplementedError):
            call()
