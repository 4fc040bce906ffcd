"""A captured weight's gradient through a compiled loop, summed after the loop as one product
of the stacked rows (tracing/loops._outer_products): the same values as eager's Python loop,
a float64 reference and finite differences, for foreach (an LSTM layer, a cell reading its
input row), a while_loop stopping early (rows past the trip count must add nothing, though a
sequence holds data there), gradients of second order, and the adjoint's structure."""
import gc

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.ir.printer import print_function
from tracegrad.tracing.loops import LoopBody


def grads_of(f, arrays):
    arrays = [a.copy() for a in arrays]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        y = f(*arrays)
    y.backward()
    return y.asnumpy(), [a.grad.asnumpy() for a in arrays]


def rnn(x, h0, w_x, w_h):
    """h_t = tanh(x_t W_x^T + h_{t-1} W_h^T), summed with weights: a cell reading its input
    row inside the loop (both weights' gradients are outer products of per-step values)."""
    def body(x_t, states):
        h = nd.tanh(nd.dot(x_t, w_x, transpose_b=True) + nd.dot(states[0], w_h, transpose_b=True))
        return h, [h]
    outs, _ = nd.contrib.foreach(body, x, [h0])
    return (outs * nd.arange(outs.size, dtype=outs.dtype).reshape(outs.shape) / outs.size).sum()


def rnn_inputs(seed, dtype="float64"):
    rng = np.random.default_rng(seed)
    return [nd.array(rng.normal(size=s) * 0.5, dtype=dtype)
            for s in ((12, 3, 4), (3, 5), (5, 4), (5, 5))]


def test_foreach_cell_matches_eager_float64_and_finite_differences():
    xs = rnn_inputs(0)
    want_y, want = grads_of(rnn, xs)
    got_y, got = grads_of(mx.jit(rnn), xs)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-12)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    # finite differences on the two weights
    base = [x.asnumpy() for x in xs]
    for k in (2, 3):
        for idx in [(0, 0), (4, 3), (2, 1)]:
            plus, minus = [b.copy() for b in base], [b.copy() for b in base]
            plus[k][idx] += 1e-6
            minus[k][idx] -= 1e-6
            fd = (rnn(*[nd.array(a, dtype="float64") for a in plus]).asscalar()
                  - rnn(*[nd.array(a, dtype="float64") for a in minus]).asscalar()) / 2e-6
            np.testing.assert_allclose(got[k][idx], fd, rtol=1e-6, atol=1e-9)


def test_the_adjoint_loop_no_longer_sums_the_weights_per_step():
    xs = rnn_inputs(1)
    f = mx.jit(rnn)
    grads_of(f, xs)
    texts = [print_function(alb.body_fn) for lb in gc.get_objects()
             if isinstance(lb, LoopBody) and lb._adjoint
             for alb, _ in lb._adjoint.values()]
    ours = [t for t in texts if "f64[5,4]" in t and "f64[12" not in t]
    assert ours, texts
    # neither weight's (5,4) / (5,5) gradient is made or accumulated inside the adjoint body
    for t in ours:
        assert "transpose_a = true} : f64[5,4]" not in t
        assert "transpose_a = true} : f64[5,5]" not in t


def test_while_loop_stopping_early_adds_nothing_for_rows_it_did_not_run():
    rng = np.random.default_rng(2)
    seq = nd.array(rng.normal(size=(8, 2, 3)))       # rows past the trip count hold data
    w = nd.array(rng.normal(size=(3, 3)) * 0.3)

    def f(h, w):
        def cond(i, h):
            return i < 3
        def body(i, h):
            row = nd.take(seq, i.astype("int64"), axis=0).reshape((2, 3))
            new = nd.tanh(nd.dot(h, w) + row)
            return new, (i + 1, new)
        outs, (_, last) = nd.contrib.while_loop(cond, body, (nd.zeros((1,)), h),
                                                max_iterations=8)
        # (outs.sum(): cotangents of 1 on the rows past the trip count too)
        return (outs ** 2).sum() + outs.sum() + last.sum()
    h = nd.array(rng.normal(size=(2, 3)))
    want = grads_of(f, [h, w])
    got = grads_of(mx.jit(f), [h, w])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    for g, e in zip(got[1], want[1]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_hybridized_lstm_weight_gradients_match_eager():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    x = nd.array(rng.normal(size=(20, 4, 6)).astype(np.float32))
    results = []
    for hybridize in (False, True):
        mx.random.seed(3)
        layer = gluon.rnn.LSTM(7, input_size=6)
        layer.initialize()
        if hybridize:
            layer.hybridize()
        with autograd.record():
            loss = (layer(x) ** 2).sum()
        loss.backward()
        results.append([p.grad().asnumpy() for p in layer.collect_params().values()])
    eager, compiled = results
    assert len(eager) == 4
    for k, (c, e) in enumerate(zip(compiled, eager)):
        np.testing.assert_allclose(c, e, rtol=2e-4, atol=2e-5, err_msg=str(k))


def test_second_order_through_the_loop():
    xs = rnn_inputs(4)

    def first(f):
        arrays = [a.copy() for a in xs]
        for a in arrays:
            a.attach_grad()
        with autograd.record():
            (gw,) = autograd.grad(f(*arrays), [arrays[3]], create_graph=True)
            z = (gw * gw).sum()
        z.backward()
        return gw.asnumpy(), arrays[2].grad.asnumpy()
    (e1, e2), (c1, c2) = first(rnn), first(mx.jit(rnn))
    np.testing.assert_allclose(c1, e1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c2, e2, rtol=1e-8, atol=1e-11)


def test_adjoint_body_is_simplified_like_a_captured_step():
    """The LSTM gates' four slice_scatter gradients are summed into one concat inside the
    adjoint loop (simplify's add_disjoint_scatters), as in a captured step's graph."""
    x = nd.array(np.random.default_rng(5).normal(size=(12, 2, 3)).astype(np.float32))
    layer = gluon.rnn.LSTM(4, input_size=3)
    layer.initialize()
    layer.hybridize()
    with autograd.record():
        loss = layer(x).sum()
    loss.backward()
    texts = [print_function(alb.body_fn) for lb in gc.get_objects()
             if isinstance(lb, LoopBody) and lb._adjoint
             for alb, _ in lb._adjoint.values()]
    ours = [t for t in texts if "f32[2,16]" in t]
    assert ours and all("slice_scatter" not in t and " concat " in t for t in ours), ours
