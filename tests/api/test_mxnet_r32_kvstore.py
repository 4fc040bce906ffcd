"""MXNet 1.9.1 behaviours of the KVStore and SVRG optimizer, found by running its unit tests
(test_kvstore.py, test_contrib_svrg_optimizer.py; helper 32)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError


def _store(stype="row_sparse"):
    kv = mx.kv.create()
    kv.init("e", nd.ones((4, 3)).tostype(stype))
    return kv


def test_row_sparse_pull_reads_2d_row_ids_flattened():
    """MXNet takes the unique ids of a row_ids array of any shape."""
    kv = _store()
    out = nd.zeros((4, 3)).tostype("row_sparse")
    kv.row_sparse_pull("e", out=out, row_ids=nd.array([[0, 0], [2, 2]]))
    want = np.zeros((4, 3))
    want[[0, 2]] = 1
    np.testing.assert_array_equal(out.asnumpy(), want)


def test_row_sparse_pull_row_ids_are_laid_out_as_out():
    """Several keys, each with a list of outs: row_ids is a list of lists alike."""
    kv = mx.kv.create()
    kv.init(["b", "c"], [nd.ones((4, 2)).tostype("row_sparse")] * 2)
    outs = [[nd.zeros((4, 2)).tostype("row_sparse") for _ in range(3)] for _ in range(2)]
    ids = [[nd.array([i]) for i in range(3)] for _ in range(2)]
    kv.row_sparse_pull(["b", "c"], out=outs, row_ids=ids)
    for per_key in outs:
        for i, o in enumerate(per_key):
            want = np.zeros((4, 2))
            want[i] = 1
            np.testing.assert_array_equal(o.asnumpy(), want)
    # one row_ids array serves every out of one key
    one = [nd.zeros((4, 2)).tostype("row_sparse") for _ in range(2)]
    kv.row_sparse_pull("b", out=one, row_ids=nd.array([3]))
    for o in one:
        np.testing.assert_array_equal(o.asnumpy()[3], [1, 1])
        np.testing.assert_array_equal(o.asnumpy()[:3], np.zeros((3, 2)))


def test_pull_into_sparse_out_is_ignored_unless_asked():
    """pull leaves a row_sparse out unwritten (ignore_sparse=True, MXNet's default)."""
    kv = mx.kv.create()
    kv.init(3, nd.zeros((2, 2)))
    out = (nd.ones((2, 2)) * 2).tostype("row_sparse")
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 2), 2.0))
    kv.pull(3, out=out, ignore_sparse=False)
    np.testing.assert_array_equal(out.asnumpy(), np.zeros((2, 2)))


def test_mixed_key_types_are_refused():
    """A store takes int keys or str keys: the first kind it sees."""
    kv = mx.kv.create()
    kv.init(3, nd.zeros((2,)))
    with pytest.raises(MXNetError, match="mixed key types"):
        kv.init("a", nd.zeros((2,)))
    with pytest.raises(MXNetError, match="mixed key types"):
        kv.pull(["a"], out=[nd.zeros((2,))])


def test_row_sparse_pull_into_dense_out_is_an_error():
    kv = _store()
    with pytest.raises(MXNetError, match="RowSparseNDArray"):
        kv.row_sparse_pull("e", out=nd.zeros((4, 3)), row_ids=nd.array([1]))


def test_svrg_optimizer_routes_full_keys_to_assignment():
    """_SVRGOptimizer: "<name>_full" keys are assigned the pushed value, the others take the
    default optimizer's step (sgd: w - lr * g)."""
    from tracegrad.contrib.svrg_optimization.svrg_optimizer import _SVRGOptimizer
    svrg = _SVRGOptimizer(default_optimizer="sgd", learning_rate=1.0,
                          param_idx2name={0: "weight", 1: "weight_full"})
    assert svrg.default_opt.lr == 1.0
    kv = mx.kv.create("local")
    kv.set_optimizer(svrg)
    w, full = nd.array([0, 0, 0]), nd.array([1, 1, 1])
    kv.init(0, w)
    kv.push(0, nd.array([1, 1, 1]))
    kv.pull(0, w)
    kv.init(1, full)
    kv.push(1, nd.array([2, 2, 2]))
    kv.pull(1, full)
    np.testing.assert_array_equal(w.asnumpy(), [-1, -1, -1])
    np.testing.assert_array_equal(full.asnumpy(), [2, 2, 2])


def test_svrg_module_installs_the_svrg_optimizer():
    from tracegrad.contrib.svrg_optimization.svrg_module import SVRGModule
    x, y = mx.sym.Variable("data"), mx.sym.Variable("lin_reg_label")
    out = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(x, name="fc1", num_hidden=1),
                                        label=y, name="lro")
    mod = SVRGModule(out, data_names=["data"], label_names=["lin_reg_label"], update_freq=2)
    mod.bind(data_shapes=[("data", (8, 2))], label_shapes=[("lin_reg_label", (8,))])
    mod.init_params()
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.01),))
    assert type(mod._optimizer).__name__ == "_SVRGOptimizer"
    assert type(mod._optimizer.default_opt).__name__.lower() == "sgd"
    assert mod._optimizer.default_opt.rescale_grad == pytest.approx(1 / 8)


def test_libsvm_iter_malformed_line_is_an_mxnet_error(tmp_path):
    """MXNet's LibSVMIter raises MXNetError for a negative feature index (test_io)."""
    data = tmp_path / "data.t"
    data.write_text("1.0 0:0.5 2:1.2\n-3.0 -1:0.6 1:2.4\n")
    with pytest.raises(MXNetError, match="LibSVM"):
        mx.io.LibSVMIter(data_libsvm=str(data), data_shape=(3,), batch_size=1)


class _NDArraySGD(mx.optimizer.Optimizer):
    """A user's optimizer written the MXNet way: NDArray ops writing into `weight`."""

    def create_state(self, index, weight):
        return nd.zeros(weight.shape)

    def update(self, index, weight, grad, state):
        assert isinstance(weight, nd.NDArray) and isinstance(grad, nd.NDArray)
        state[:] = state + grad
        nd.sgd_update(weight, state, lr=0.5, wd=0.0, out=weight)


def test_kvstore_calls_a_users_optimizer_with_ndarrays(tmp_path):
    """MXNet's store hands set_optimizer's update NDArrays over its values (the state too),
    and saves / loads the states the optimizer made."""
    kv = mx.kv.create()
    kv.set_optimizer(_NDArraySGD())
    kv.init(0, nd.ones((2,)))
    out = nd.zeros((2,))
    kv.push(0, nd.ones((2,)))          # state 1: w = 1 - 0.5
    kv.push(0, nd.ones((2,)))          # state 2: w = 0.5 - 1
    kv.pull(0, out=out)
    np.testing.assert_allclose(out.asnumpy(), [-0.5, -0.5])
    kv.save_optimizer_states(str(tmp_path / "s"))
    kv2 = mx.kv.create()
    kv2.set_optimizer(_NDArraySGD())
    kv2.init(0, nd.zeros((2,)))
    kv2.load_optimizer_states(str(tmp_path / "s"))
    kv2.push(0, nd.ones((2,)))         # state 3: w = 0 - 1.5
    kv2.pull(0, out=out)
    np.testing.assert_allclose(out.asnumpy(), [-1.5, -1.5])
