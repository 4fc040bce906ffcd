"""Partial shape inference through a foreach node (MXNet's ForeachShape, which
test_contrib_control_flow's test_foreach_with_unkown_dim relies on): the body's own inference
from one step's data gives the outputs (a step output gains the data's unknown axis 0) and
an unknown state the shape its use gives it."""
import tracegrad as mx


def _loop(data_shape, free=False):
    w = mx.sym.var("w")

    def step(x, states):
        out = x + states[0] + (w if free else 0)
        return out, [states[0] * 2]
    data = mx.sym.var("data", shape=data_shape)
    outs, states = mx.sym.contrib.foreach(step, data, [mx.sym.var("state")])
    return mx.sym.Group([outs] + states)


def test_foreach_with_an_unknown_length_and_an_unknown_state():
    args, outs, aux = _loop((0, 3, 32, 32)).infer_shape_partial()
    assert args == [(0, 3, 32, 32), (3, 32, 32)]
    assert outs == [(0, 3, 32, 32), (3, 32, 32)] and aux == []


def test_foreach_with_an_unknown_step_dim_and_a_free_input():
    args, outs, _ = _loop((4, 0, 5), free=True).infer_shape_partial(w=(2, 5))
    assert args == [(4, 2, 5), (2, 5), (2, 5)]
    assert outs == [(4, 2, 5), (2, 5)]


def test_foreach_inferred_whole_once_the_length_is_given():
    args, outs, _ = _loop((0, 3)).infer_shape(data=(6, 3))
    assert args == [(6, 3), (3,)] and outs == [(6, 3), (3,)]
    with mx.np_shape(True):
        _, outs, _ = _loop((-1, 3)).infer_shape_partial()
    assert outs == [(-1, 3), (3,)]
