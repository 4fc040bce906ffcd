"""Partial shape inference (symbol/partial_shapes.py): shapes with unknown dims (0; -1 under
np_shape) and unknown ranks are filled in both directions over the graph, as MXNet's
infer_shape passes fill them: forward by probing each op's shape function, backward by
MXNet's rules (elementwise ops, FullyConnected, Convolution, Concat, SliceChannel,
transpose, Reshape). Where a dim cannot be known it stays unknown: nothing is guessed."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def _args(sym, shapes):
    return dict(zip(sym.list_arguments(), shapes))


def test_elementwise_ops_unify_their_operands_known_dims():
    a = mx.sym.var("a", shape=(0, 7))
    b = mx.sym.var("b", shape=(4, 0))
    args, outs, _ = (a * b + 1).infer_shape()
    assert _args(a * b + 1, args) == {"a": (4, 7), "b": (4, 7)} and outs == [(4, 7)]


def test_fully_connected_gets_its_batch_from_what_consumes_it():
    x = mx.sym.var("x", shape=(0, 6))
    y = mx.sym.FullyConnected(x, num_hidden=3, name="fc") - mx.sym.var("t", shape=(9, 0))
    args = _args(y, y.infer_shape()[0])
    assert args == {"x": (9, 6), "fc_weight": (3, 6), "fc_bias": (3,), "t": (9, 3)}


@pytest.mark.parametrize("kernel,stride,pad,dilate,out_hw,in_hw", [
    ((3, 3), (1, 1), (1, 1), (1, 1), (16, 12), (16, 12)),
    ((5, 3), (1, 1), (2, 0), (2, 1), (10, 10), (14, 12)),
])
def test_convolution_gets_its_data_from_its_output(kernel, stride, pad, dilate, out_hw, in_hw):
    x = mx.sym.var("x", shape=(0, 3, 0, 0))
    conv = mx.sym.Convolution(x, num_filter=4, kernel=kernel, stride=stride, pad=pad,
                              dilate=dilate, name="c")
    y = conv + mx.sym.var("r", shape=(2, 4) + out_hw)
    args = _args(y, y.infer_shape()[0])
    assert args["x"] == (2, 3) + in_hw and args["c_weight"] == (4, 3) + kernel
    # (the inferred data gives the output back: the rule is the forward one inverted)
    data = nd.zeros(args["x"])
    out = nd.Convolution(data, nd.zeros(args["c_weight"]), nd.zeros((4,)), num_filter=4,
                         kernel=kernel, stride=stride, pad=pad, dilate=dilate)
    assert out.shape == (2, 4) + out_hw


def test_a_strided_convolution_gives_its_data_only_its_batch():
    """(MXNet's rule: several sizes give a strided axis's output size, so none is chosen.)"""
    x = mx.sym.var("x", shape=(0, 3, 0, 9))
    conv = mx.sym.Convolution(x, num_filter=4, kernel=(3, 3), stride=(2, 1), name="c")
    y = conv + mx.sym.var("r", shape=(2, 4, 7, 7))
    args, _, _ = y.infer_shape_partial()
    assert _args(y, args)["x"] == (2, 3, 0, 9) and _args(y, args)["c_weight"] == (4, 3, 3, 3)
    # (the data's channels unknown: the weight's in-channels too)
    args, outs, _ = mx.sym.Convolution(mx.sym.var("d", shape=(1, 0, 0, 0)), kernel=(3, 3),
                                       num_filter=2, no_bias=True).infer_shape_partial()
    assert args == [(1, 0, 0, 0), (2, 0, 3, 3)] and outs == [(1, 2, 0, 0)]


def test_concat_and_slice_channel_give_their_inputs_back():
    a, b = mx.sym.var("a", shape=(0, 3)), mx.sym.var("b", shape=(0, 0))
    cat = mx.sym.Concat(a, b, dim=1) * mx.sym.var("w", shape=(5, 8))
    assert _args(cat, cat.infer_shape()[0]) == {"a": (5, 3), "b": (5, 5), "w": (5, 8)}
    x = mx.sym.var("x", shape=(0, 6, 0))
    parts = mx.sym.SliceChannel(x, num_outputs=3, axis=1)
    y = parts[2] + mx.sym.var("z", shape=(4, 2, 9))
    assert _args(y, y.infer_shape()[0])["x"] == (4, 6, 9)
    x = mx.sym.var("x", shape=(0, 0))
    parts = mx.sym.SliceChannel(x, num_outputs=4, axis=1, squeeze_axis=True)
    y = parts[0] + mx.sym.var("z", shape=(3,))
    assert _args(y, y.infer_shape()[0])["x"] == (3, 4)


def test_transpose_and_reshape_give_their_inputs_back():
    x = mx.sym.var("x", shape=(0, 5, 0))
    y = mx.sym.transpose(x, axes=(2, 0, 1)) + mx.sym.var("z", shape=(7, 3, 5))
    assert _args(y, y.infer_shape()[0])["x"] == (3, 5, 7)
    x = mx.sym.var("x", shape=(4, 0, 3))
    y = mx.sym.Reshape(x, shape=(-1,)) + mx.sym.var("z", shape=(60,))
    assert _args(y, y.infer_shape()[0])["x"] == (4, 5, 3)


def test_creations_with_unknown_dims_take_them_from_the_graph_and_run():
    """ones(shape=(-1, -1)) transposed and added to a (2, 3): it is (3, 2), and the bound
    graph computes with it."""
    y = mx.sym.ones(shape=(2, 3)) + mx.sym.transpose(mx.sym.ones(shape=(-1, -1)) * 2)
    assert y.infer_shape_partial()[1] == [(2, 3)]
    out = y.bind(mx.cpu(), args={}).forward()[0]
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 3), 3.0))


def test_forward_keeps_the_dims_every_probe_agrees_on():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    assert mx.sym.dot(x, y).infer_shape_partial(x=(0, 2, 6), y=(6, 4))[1] == [(0, 2, 4)]
    bd = mx.sym.batch_dot(x, y)
    assert bd.infer_shape_partial(x=(0, 2, 6), y=(0, 6, 4))[1] == [(0, 2, 4)]
    # (an unknown contraction dim could be anything the op refuses: nothing is known)
    assert bd.infer_shape_partial(x=(0, 2, 6), y=(0, 0, 4))[1] == [()]
    emb = mx.sym.Embedding(x, y, input_dim=30, output_dim=7)
    assert emb.infer_shape_partial(x=(0, 3), y=(30, 7))[1] == [(0, 3, 7)]
    assert mx.sym.pick(x, y, axis=2).infer_shape_partial(x=(0, 4, 5), y=(0, 4))[1] == \
        [(0, 4)]
    z = mx.sym.var("z", shape=(0, 12))
    assert mx.sym.slice(z, begin=(1, 2), end=(None, 8)).infer_shape_partial()[1] == [(0, 6)]
    # a slice's end past an unknown dim is not its size: MXNet keeps the dim unknown
    assert mx.sym.slice(z, begin=(None, 2), end=(4, 8)).infer_shape_partial()[1] == [(0, 6)]
    z = mx.sym.var("z", shape=(6, 0))
    assert mx.sym.slice_axis(z, axis=1, begin=1, end=4).infer_shape_partial()[1] == [(6, 0)]
    assert mx.sym.slice_axis(z, axis=0, begin=1, end=4).infer_shape_partial()[1] == [(3, 0)]


def test_where_needs_its_inputs_whole_and_unknown_ranks_stay_unknown():
    c, x, y = mx.sym.var("c"), mx.sym.var("x"), mx.sym.var("y")
    w = mx.sym.where(c, x, y)
    assert w.infer_shape_partial(c=(0, 3), x=(0, 3), y=(0, 3))[1] == [()]
    assert w.infer_shape_partial(c=(2, 3), x=(2, 3), y=(2, 3))[1] == [(2, 3)]
    args, outs, _ = mx.sym.cos(mx.sym.var("d")).infer_shape_partial()
    assert args == [()] and outs == [()]


def test_np_shape_spells_unknowns_minus_one_and_none():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    with mx.np_shape(True):
        assert mx.sym.dot(x, y).infer_shape_partial(x=(-1, 2, 6), y=(6, 4))[1] == \
            [(-1, 2, 4)]
        assert mx.sym.cos(x).infer_shape_partial()[1] == [None]
        # (0 is a size under np_shape)
        assert mx.sym.dot(x, y).infer_shape(x=(0, 6), y=(6, 4))[1] == [(0, 4)]


def test_infer_shape_with_an_unknown_dim_left_warns_and_gives_none():
    x = mx.sym.var("x")
    fc = mx.sym.FullyConnected(x, num_hidden=4)
    with pytest.warns(UserWarning, match=r"undecided.*x: \(0, 5\)"):
        assert fc.infer_shape(x=(0, 5)) == (None, None, None)
    args, outs, _ = fc.infer_shape_partial(x=(0, 5))
    assert args[0] == (0, 5) and args[1] == (4, 5) and outs == [(0, 4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fc.infer_shape(x=(3, 5))[1] == [(3, 4)]


def test_a_shape_constraint_op_gives_a_weight_its_shape_backwards():
    """_identity_with_attr_like_rhs: its output is lhs, shaped like rhs (MXNet's way to let a
    weight computed from a variable take the variable's shape from its consumer)."""
    w = mx.sym.var("w")
    shifted = mx.sym.broadcast_add(w, mx.sym.var("s", shape=(1,)))
    tied = mx.sym._internal._identity_with_attr_like_rhs(shifted, w)
    net = mx.sym.FullyConnected(mx.sym.var("x"), weight=tied, num_hidden=5, no_bias=True)
    args = _args(net, net.infer_shape(x=(2, 8))[0])
    assert args["w"] == (5, 8)
    exe = net.bind(mx.cpu(), args={"x": nd.ones((2, 8)), "w": nd.ones((5, 8)),
                                   "s": nd.array([0.5])})
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), np.full((2, 5), 12.0))


def test_a_contradiction_is_reported_once_the_shapes_are_known():
    a = mx.sym.var("a", shape=(0, 7))
    b = mx.sym.var("b", shape=(4, 6))
    with pytest.raises(mx.MXNetError, match=r"variable 'a': its shape \(\?, 7\) cannot be "
                                             r"\(4, 6\)"):
        (a + b).infer_shape()
    c = mx.sym.var("c", shape=(0, 7))
    d = mx.sym.FullyConnected(c, num_hidden=2) + mx.sym.var("e", shape=(3, 2, 1))
    with pytest.raises(mx.MXNetError, match=r"\(op elemwise_add\): its shape \(3, 2, 1\) "
                                             r"cannot be \(\?, 2\)"):
        d.infer_shape()
