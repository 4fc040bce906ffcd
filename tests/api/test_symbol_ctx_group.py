"""simple_bind places each argument, gradient and auxiliary state as MXNet's
MXExecutorSimpleBindEx: on group2ctx[g] for a variable made in AttrScope(ctx_group=g), else on
the executor's ctx. The executor still computes the same values."""
import numpy as np

import tracegrad as mx
from tracegrad import nd


def two_stage_net():
    with mx.AttrScope(ctx_group="stage1"):
        data = mx.sym.var("data")
        fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=4)
    w2 = mx.sym.var("fc2_weight")                    # no group: ctx
    with mx.AttrScope(ctx_group="stage2"):
        fc2 = mx.sym.FullyConnected(mx.sym.relu(fc1), weight=w2, name="fc2", num_hidden=3)
        net = mx.sym.BatchNorm(fc2, name="bn")
    return net


def test_arguments_grads_and_aux_states_go_to_their_groups_context():
    net = two_stage_net()
    group2ctx = {"stage1": mx.cpu(1), "stage2": mx.cpu(2)}
    ex = net.simple_bind(mx.cpu(3), group2ctx=group2ctx, data=(2, 5))
    where = {k: v.context for k, v in ex.arg_dict.items()}
    assert where == {"data": mx.cpu(1), "fc1_weight": mx.cpu(1), "fc1_bias": mx.cpu(1),
                     "fc2_weight": mx.cpu(3), "fc2_bias": mx.cpu(2), "bn_gamma": mx.cpu(2),
                     "bn_beta": mx.cpu(2)}
    assert {k: v.context for k, v in ex.grad_dict.items()} == where
    assert {k: v.context for k, v in ex.aux_dict.items()} == {
        "bn_moving_mean": mx.cpu(2), "bn_moving_var": mx.cpu(2)}
    # a group group2ctx lacks is on ctx; without group2ctx every array is
    ex2 = net.simple_bind(mx.cpu(3), group2ctx={"stage1": mx.cpu(1)}, data=(2, 5))
    assert ex2.arg_dict["data"].context == mx.cpu(1)
    assert ex2.arg_dict["fc2_bias"].context == mx.cpu(3)
    ex3 = net.simple_bind(mx.cpu(4), data=(2, 5))
    assert {v.context for v in ex3.arg_arrays + ex3.aux_arrays} == {mx.cpu(4)}


def test_placed_executor_computes_what_an_unplaced_one_does():
    net = two_stage_net()
    placed = net.simple_bind(mx.cpu(0), group2ctx={"stage1": mx.cpu(1), "stage2": mx.cpu(2)},
                             data=(2, 5))
    plain = net.simple_bind(mx.cpu(0), data=(2, 5))
    R = np.random.default_rng(0)
    for name, arr in plain.arg_dict.items():
        value = R.uniform(-1, 1, arr.shape).astype(np.float32)
        arr[:] = value
        placed.arg_dict[name][:] = value
    for ex in (placed, plain):
        ex.aux_dict["bn_moving_var"][:] = 1.0
        ex.forward(is_train=True)
        ex.backward(nd.ones((2, 3)))
    np.testing.assert_allclose(placed.outputs[0].asnumpy(), plain.outputs[0].asnumpy(),
                               rtol=1e-6)
    for name in plain.grad_dict:
        np.testing.assert_allclose(placed.grad_dict[name].asnumpy(),
                                   plain.grad_dict[name].asnumpy(), rtol=1e-5, atol=1e-6)
