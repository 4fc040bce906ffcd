"""Executor.backward's out_grads as MXNet 1.9.1 takes them: by position, and a shorter list
may leave out the outputs that take no head gradient (MakeLoss / SoftmaxOutput losses,
BlockGrad), as example/reinforcement-learning's actor-critic does; a left-out output that
needs one is an error naming it."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def _actor_critic_heads():
    x = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(x, num_hidden=3, no_bias=True, name="fc")
    policy = mx.sym.SoftmaxActivation(h)
    log_policy = mx.sym.log(policy)
    value = mx.sym.FullyConnected(x, num_hidden=1, no_bias=True, name="value")
    entropy = mx.sym.MakeLoss(policy * log_policy, grad_scale=0.1)
    return mx.sym.Group([log_policy, value, entropy, mx.sym.BlockGrad(policy)])


def test_leaving_out_loss_and_blockgrad_outputs():
    rs = np.random.RandomState(0)
    sym = _actor_critic_heads()
    xv, wf, wv = rs.randn(4, 5), rs.randn(3, 5) * 0.5, rs.randn(1, 5)
    adv, vg = rs.randn(4, 3), rs.randn(4, 1)
    mod = mx.mod.Module(sym, label_names=None)
    mod.bind([("data", (4, 5))])
    mod.init_params(mx.init.Zero())
    mod.set_params({"fc_weight": mx.nd.array(wf), "value_weight": mx.nd.array(wv)}, {})
    mod.forward(mx.io.DataBatch([mx.nd.array(xv)]), is_train=True)
    mod.backward([mx.nd.array(adv), mx.nd.array(vg)])
    grads = dict(zip(mod._exec_group.param_names, mod._exec_group.grad_arrays))

    def objective(wf):
        z = xv @ wf.T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return np.sum(adv * np.log(p)) + 0.1 * np.sum(p * np.log(p))

    numeric = np.zeros_like(wf)
    for idx in np.ndindex(*wf.shape):
        d = np.zeros_like(wf)
        d[idx] = 1e-6
        numeric[idx] = (objective(wf + d) - objective(wf - d)) / 2e-6
    np.testing.assert_allclose(grads["fc_weight"][0].asnumpy(), numeric, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(grads["value_weight"][0].asnumpy(), vg.T @ xv, rtol=1e-5)
    mod._sync_params_from_devices()


def test_leaving_out_an_output_that_needs_a_head_gradient_names_it():
    sym = _actor_critic_heads()
    exe = sym.simple_bind(mx.cpu(), data=(2, 5))
    exe.forward(is_train=True)
    with pytest.raises(mx.MXNetError, match="output 1 .*needs a head gradient"):
        exe.backward([mx.nd.ones((2, 3))])


def test_extra_out_grads_are_ignored_with_a_warning_as_mxnet_does():
    # (MXNet's GraphExecutor::Backward reads one head gradient per output)
    sym = _actor_critic_heads()
    exe = sym.simple_bind(mx.cpu(), data=(2, 5))
    exe.arg_dict["data"][:] = mx.nd.array(np.arange(10).reshape(2, 5) / 10)
    exe.arg_dict["fc_weight"][:] = 0.3
    exe.arg_dict["value_weight"][:] = 0.2
    grads = [mx.nd.ones((2, 3)), mx.nd.full((2, 1), 2.0)]
    exe.forward(is_train=True)
    exe.backward(grads)
    want = {k: v.asnumpy().copy() for k, v in exe.grad_dict.items()}
    exe.forward(is_train=True)
    with pytest.warns(UserWarning, match="5 out_grads for 4 outputs; the last 1 are ignored"):
        exe.backward(grads + [mx.nd.ones((2, 3)), mx.nd.ones((2, 3)), mx.nd.ones((7,))])
    for k, v in exe.grad_dict.items():
        np.testing.assert_array_equal(v.asnumpy(), want[k])


def test_make_loss_passes_an_infinite_loss_through_and_its_gradient_stays_finite():
    # MakeLoss's forward is the identity (MXNet make_loss-inl.h): an inf loss (a CTC label
    # no alignment fits in the time steps) stays inf, not inf - inf = nan
    x = mx.sym.Variable("x")
    loss = mx.sym.MakeLoss(mx.sym.log(x), grad_scale=2.0)
    exe = loss.simple_bind(mx.cpu(), x=(3,))
    for _ in range(3):                   # eager forwards, then the compiled one
        exe.forward(is_train=True, x=mx.nd.array([0.5, 2.0, 4.0]))
        exe.backward()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), np.log([0.5, 2.0, 4.0]), rtol=1e-6)
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), 2.0 / np.array([0.5, 2.0, 4.0]),
                               rtol=1e-6)
    out = exe.forward(is_train=False, x=mx.nd.array([0.0, 1.0, np.inf]))[0].asnumpy()
    np.testing.assert_array_equal(out, [-np.inf, 0.0, np.inf])


def test_an_integer_index_or_length_argument_gets_a_zero_gradient():
    """MXNet writes 0 into the gradient of an integer argument read only as an index, a
    length or a condition (softmax's length, take's indices); an integer argument that a
    differentiable op reads through a cast gets the gradient cast back to its dtype
    (_backward_cast: 2.5 -> 2, -3.75 -> -3, truncated)."""
    data, length = mx.sym.var("data"), mx.sym.var("length", dtype="int32")
    out = mx.sym.softmax(data, length=length, use_length=True, axis=1)
    x = np.random.RandomState(0).randn(2, 4)
    exe = out.bind(mx.cpu(), args={"data": nd.array(x), "length": nd.array([2, 4],
                                                                          dtype="int32")},
                   args_grad={"data": nd.zeros((2, 4)),
                              "length": nd.array([7, 7], dtype="int32")})
    exe.forward(is_train=True)
    exe.backward(nd.ones((2, 4)))
    np.testing.assert_array_equal(exe.grad_dict["length"].asnumpy(), [0, 0])
    assert np.abs(exe.grad_dict["data"].asnumpy()).sum() < 1e-6    # (rows of softmax sum to 1)
    idx = mx.sym.var("idx", dtype="int32")
    cast = mx.sym.Cast(idx, dtype="float32") * 2.5
    exe = cast.bind(mx.cpu(), args={"idx": nd.array([1, 2], dtype="int32")},
                    args_grad={"idx": nd.zeros((2,), dtype="int32")})
    exe.forward(is_train=True)
    exe.backward(nd.array([1.0, -1.5]))
    assert exe.grad_dict["idx"].dtype == np.int32
    np.testing.assert_array_equal(exe.grad_dict["idx"].asnumpy(), [2, -3])


def test_dropout_of_rate_one_is_nan_as_in_mxnet():
    y = mx.sym.Dropout(mx.sym.var("data"), p=1.0)
    exe = y.simple_bind(mx.cpu(), data=(3, 4))
    exe.arg_arrays[0][:] = 1
    exe.forward(is_train=True)
    assert np.isnan(exe.outputs[0].asnumpy()).all()
    exe.forward(is_train=False)
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), np.ones((3, 4)))


def test_batchnorm_statistics_outputs_and_its_v1_and_sync_forms():
    """output_mean_var: BatchNorm gives the batch mean and the inverse std 1 / sqrt(var + eps)
    (MXNet's saved statistics), BatchNorm_v1 and contrib SyncBatchNorm the variance; none of
    them carries a gradient. The symbol forms bind with BatchNorm's arguments and states."""
    rs = np.random.RandomState(0)
    x = rs.randn(4, 3, 5)
    mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    args = [nd.array(x, dtype="float64")] + [nd.array(v, dtype="float64") for v in
                                            (np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))]
    with mx.autograd.record():
        _, m, s = nd.BatchNorm(*args, eps=1e-3, fix_gamma=False, output_mean_var=True)
    np.testing.assert_allclose(m.asnumpy(), mean, rtol=1e-10)
    np.testing.assert_allclose(s.asnumpy(), 1 / np.sqrt(var + 1e-3), rtol=1e-10)
    for fn in (nd.BatchNorm_v1, nd.contrib.SyncBatchNorm):
        with mx.autograd.record():
            out, m, v = fn(*args, eps=1e-3, fix_gamma=False, output_mean_var=True)
        np.testing.assert_allclose(v.asnumpy(), var, rtol=1e-10)
        want = (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-3)
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-9, atol=1e-12)
    for sym_fn in (mx.sym.BatchNorm_v1, mx.sym.contrib.SyncBatchNorm):
        sym = sym_fn(mx.sym.var("data"), fix_gamma=False, name="bn")
        assert sym.list_arguments() == ["data", "bn_gamma", "bn_beta"]
        assert sym.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
        exe = sym.simple_bind(mx.cpu(), data=(4, 3, 5))
        exe.arg_dict["data"][:] = x
        exe.arg_dict["bn_gamma"][:] = 1
        exe.forward(is_train=True)
        np.testing.assert_allclose(exe.outputs[0].asnumpy(), want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(exe.aux_dict["bn_moving_mean"].asnumpy(), 0.1 * mean,
                                   rtol=1e-4, atol=1e-6)
        assert mx.sym.load_json(sym.tojson()).tojson() == sym.tojson()
