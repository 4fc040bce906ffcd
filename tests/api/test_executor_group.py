"""mx.module.executor_group.DataParallelExecutorGroup: one executor per context over slices of
the batch; merged outputs and summed per-context gradients equal one executor's on the whole
batch; a group bound with shared_group shares its parameters, their gradients and its input
buffers by name."""
import numpy as np

import tracegrad as mx
from tracegrad import nd
from tracegrad.module.executor_group import DataParallelExecutorGroup
from tracegrad.test_utils import same_array


def _net(layers=1):
    x = mx.sym.var("data")
    for k in range(layers):
        x = mx.sym.FullyConnected(x, num_hidden=3, name=f"fc{k}")
    return mx.sym.LinearRegressionOutput(x, name="out")


def test_slices_of_the_batch_give_what_one_executor_gives():
    rs = np.random.RandomState(0)
    sym = _net()
    params = {"fc0_weight": nd.array(rs.randn(3, 4)), "fc0_bias": nd.array(rs.randn(3))}
    group = DataParallelExecutorGroup(sym, [mx.cpu(0), mx.cpu(1)], [1, 2],
                                      [("data", (6, 4))], [("out_label", (6, 3))],
                                      list(params), for_training=True, inputs_need_grad=True)
    assert group.slices == [slice(0, 2), slice(2, 6)]
    group.set_params(params, {})
    x, y = rs.randn(6, 4), rs.randn(6, 3)
    batch = mx.io.DataBatch([nd.array(x)], [nd.array(y)])
    group.forward(batch, is_train=True)
    group.backward()
    whole = sym.simple_bind(mx.cpu(), data=(6, 4), out_label=(6, 3), grad_req="write")
    whole.copy_params_from(params)
    out = whole.forward(is_train=True, data=x, out_label=y)[0].asnumpy()
    whole.backward()
    np.testing.assert_allclose(group.get_outputs()[0].asnumpy(), out, rtol=1e-6)
    for k, name in enumerate(group.param_names):
        summed = sum(g.asnumpy() for g in group.grad_arrays[k])
        np.testing.assert_allclose(summed, whole.grad_dict[name].asnumpy(), rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_allclose(group.get_input_grads()[0].asnumpy(),
                               whole.grad_dict["data"].asnumpy(), rtol=1e-5, atol=1e-6)
    got = {}
    group.get_params(got, {})
    np.testing.assert_allclose(got["fc0_weight"].asnumpy(), params["fc0_weight"].asnumpy())


def test_a_shared_group_shares_parameters_gradients_and_input_buffers():
    first = DataParallelExecutorGroup(_net(1), [mx.cpu(0), mx.cpu(1)], [1, 1],
                                      [("data", (4, 4))], [("out_label", (4, 3))],
                                      ["fc0_weight", "fc0_bias"], True, False)
    assert sorted(first.shared_data_arrays[0]) == ["data", "out_label"]
    second = DataParallelExecutorGroup(_net(2), [mx.cpu(0), mx.cpu(1)], [1, 1],
                                       [("data", (4, 4))], [("out_label", (4, 3))],
                                       ["fc0_weight", "fc0_bias"], True, False,
                                       shared_group=first)
    for a, b in zip(first.execs, second.execs):
        assert same_array(a.arg_dict["fc0_weight"], b.arg_dict["fc0_weight"])
        assert same_array(a.grad_dict["fc0_weight"], b.grad_dict["fc0_weight"])
        assert same_array(a.arg_dict["data"], b.arg_dict["data"])
    # what is no parameter of the first group's (the second layer) lives in the input pool
    assert sorted(first.shared_data_arrays[1]) == ["data", "fc1_bias", "fc1_weight",
                                                   "out_label"]
    assert not same_array(first.execs[0].arg_dict["data"], first.execs[1].arg_dict["data"])
