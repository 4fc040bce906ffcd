"""mx.sym's shape inference runs each node's nd function inside array.shapes_only(): every
primitive gives zeros of its type rule's result without computing it, so a large bind neither
computes nor allocates its activations, and the shapes are those a real forward gives."""
import tracemalloc

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.array import shapes_only


def _conv_net():
    data = mx.sym.var("data")
    x = mx.sym.Convolution(data, num_filter=64, kernel=(7, 7), stride=(2, 2), pad=(3, 3),
                           name="conv0")
    x = mx.sym.BatchNorm(x, name="bn0")
    x = mx.sym.Activation(x, act_type="relu")
    x = mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
    x = mx.sym.Convolution(x, num_filter=128, kernel=(3, 3), pad=(1, 1), name="conv1")
    x = mx.sym.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1))
    x = mx.sym.FullyConnected(mx.sym.flatten(x), num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(x, name="softmax")


def test_large_bind_infers_without_allocating_activations():
    # (a forward at this batch holds 822 MB in conv0's output alone)
    sym = _conv_net()
    tracemalloc.start()
    try:
        args, outs, aux = sym.infer_shape(data=(256, 3, 224, 224))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2 ** 20, peak
    shapes = dict(zip(sym.list_arguments(), args))
    assert shapes["conv0_weight"] == (64, 3, 7, 7)
    assert shapes["conv1_weight"] == (128, 64, 3, 3)
    assert shapes["fc_weight"] == (10, 128)
    assert shapes["softmax_label"] == (256,)
    assert outs == [(256, 10)]
    assert dict(zip(sym.list_auxiliary_states(), aux))["bn0_moving_mean"] == (64,)


def test_inferred_shapes_and_types_match_a_real_forward():
    sym = _conv_net()
    args, outs, _ = sym.infer_shape(data=(2, 3, 20, 20))
    _, out_types, _ = sym.infer_type(data=np.float32)
    exe = sym.simple_bind(mx.cpu(), data=(2, 3, 20, 20))
    exe.arg_dict["data"][:] = nd.array(np.random.RandomState(0).rand(2, 3, 20, 20))
    out = exe.forward(is_train=False)[0]
    assert out.shape == outs[0]
    assert out.dtype == out_types[0]
    for name, shape in zip(sym.list_arguments(), args):
        assert exe.arg_dict[name].shape == shape


def test_typed_zeros_follow_the_type_rules():
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    i = nd.array([[1, 0, 2]], dtype="int32")
    with shapes_only():
        y = nd.dot(x, x.T) + 1
        z = nd.sum(i, axis=1)
        w = (i > 0) * 2
    assert y.shape == (2, 2) and y.dtype == np.float32
    assert not y.asnumpy().any()         # nothing computed: zeros of the result's type
    for typed, real in ((z, nd.sum(i, axis=1)), (w, (i > 0) * 2)):   # (as eager gives)
        assert typed.shape == real.shape and typed.dtype == real.dtype
    assert (nd.dot(x, x.T) + 1).asnumpy()[0, 0] == 6.0   # (and outside, computed again)


def test_typed_zeros_still_refuse_what_the_op_refuses():
    with shapes_only():
        with pytest.raises(mx.base.MXNetError, match="dot"):
            nd.dot(nd.ones((2, 3)), nd.ones((2, 3)))
    sym = mx.sym.FullyConnected(mx.sym.var("data"), mx.sym.var("w"), no_bias=True,
                                num_hidden=4)
    with pytest.raises(mx.base.MXNetError):
        sym.infer_shape(data=(2, 3), w=(4, 5))


def test_an_operand_no_trace_takes_is_computed():
    from tracegrad.array import apply
    from tracegrad.ir.ops import REGISTRY
    with shapes_only():
        y = apply(REGISTRY["add"], [nd.ones((2, 3)), [[1.0, 2.0, 3.0]]])
    np.testing.assert_array_equal(y.asnumpy(), [[2, 3, 4], [2, 3, 4]])
