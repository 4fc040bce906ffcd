"""mx.sym.contrib.foreach / while_loop / cond: the body is cut out as a subgraph (what it
reads from the enclosing graph becomes an input), the node runs through nd.contrib's control
flow, and the graph's JSON carries the subgraphs as MXNet's does. Each is checked against a
float64 numpy loop, against finite differences, node by node and compiled (an executor
compiles from its third forward), and after a JSON round trip; files with bad subgraphs are
refused before anything is built."""
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

RS = np.random.RandomState(0)


def _bind(sym, values, grads=True, dtype=np.float64):
    args = {k: nd.array(v, dtype=dtype) for k, v in values.items()}
    g = {k: nd.zeros(v.shape, dtype=dtype) for k, v in values.items()} if grads else None
    return sym.bind(mx.cpu(), args, args_grad=g)


def _runs(sym, values, head_grads, times=4):
    """Outputs and gradients of `times` forward/backward passes (the later ones compiled)."""
    ex = _bind(sym, values)
    got = []
    for _ in range(times):
        outs = [o.asnumpy().copy() for o in ex.forward(is_train=True)]
        ex.backward([nd.array(g, dtype=np.float64) for g in head_grads])
        got.append((outs, {k: v.asnumpy().copy() for k, v in ex.grad_dict.items()}))
    return got


def _numeric_grads(fn, values, head_grads, eps=1e-6):
    """d(sum(head_grads * fn(values)))/d(values) by central differences (float64)."""
    def objective(vals):
        return sum(float(np.sum(g * o)) for g, o in zip(head_grads, fn(vals)))
    out = {}
    for k, v in values.items():
        grad = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            hi = {**values, k: v.copy()}
            lo = {**values, k: v.copy()}
            hi[k][idx] += eps
            lo[k][idx] -= eps
            grad[idx] = (objective(hi) - objective(lo)) / (2 * eps)
        out[k] = grad
    return out


def _check(sym, values, reference, head_grads):
    want = reference(values)
    fd = _numeric_grads(reference, values, head_grads)
    for outs, grads in _runs(sym, values, head_grads):
        for o, w in zip(outs, want):
            np.testing.assert_allclose(o, w, rtol=1e-10, atol=1e-12)
        for k in values:
            np.testing.assert_allclose(grads[k], fd[k], rtol=1e-6, atol=1e-8)
    again = mx.sym.load_json(sym.tojson())
    assert again.tojson() == sym.tojson()
    outs, grads = _runs(again, values, head_grads, times=1)[0]
    for o, w in zip(outs, want):
        np.testing.assert_allclose(o, w, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ foreach
def _rnn_step(x, states, w, u):
    h = mx.sym.tanh(mx.sym.dot(x, w) + mx.sym.dot(states[0], u))
    return h * 2, [h]


def test_foreach_an_rnn_reading_outer_weights_and_a_computed_symbol():
    data, h0 = mx.sym.var("data"), mx.sym.var("h0")
    w, u0 = mx.sym.var("w"), mx.sym.var("u0")
    u = u0 * 0.5        # computed outside the body: cut, an input of the loop node
    outs, states = mx.sym.contrib.foreach(lambda x, s: _rnn_step(x, s, w, u), data, [h0])
    sym = mx.sym.Group([outs, states[0]])
    assert sorted(sym.list_arguments()) == ["data", "h0", "u0", "w"]
    values = {"data": RS.randn(4, 2, 3), "h0": RS.randn(2, 5), "w": RS.randn(3, 5),
              "u0": RS.randn(5, 5)}

    def reference(v):
        h, ys = v["h0"], []
        for t in range(4):
            h = np.tanh(v["data"][t] @ v["w"] + h @ (v["u0"] * 0.5))
            ys.append(h * 2)
        return [np.stack(ys), h]
    _check(sym, values, reference, [RS.randn(4, 2, 5), RS.randn(2, 5)])


def test_foreach_shapes_of_weights_read_inside_come_from_the_layers_using_them():
    data, h0 = mx.sym.var("data"), mx.sym.var("h0")

    def step(x, states):
        h = mx.sym.FullyConnected(x, num_hidden=6, name="i2h") + \
            mx.sym.FullyConnected(states[0], num_hidden=6, name="h2h")
        return h, [mx.sym.tanh(h)]
    outs, states = mx.sym.contrib.foreach(step, data, [h0])
    sym = mx.sym.Group([outs, states[0]])
    args, out_shapes, _ = sym.infer_shape(data=(7, 3, 4), h0=(3, 6))
    shapes = dict(zip(sym.list_arguments(), args))
    assert shapes["i2h_weight"] == (6, 4) and shapes["h2h_weight"] == (6, 6)
    assert shapes["i2h_bias"] == (6,)
    assert out_shapes == [(7, 3, 6), (3, 6)]
    ex = sym.simple_bind(mx.cpu(), data=(7, 3, 4), h0=(3, 6))
    assert ex.forward()[0].shape == (7, 3, 6)


def test_foreach_several_data_and_states_nested_as_given():
    a, b, s1, s2 = (mx.sym.var(n) for n in ("a", "b", "s1", "s2"))

    def step(xs, states):
        out = xs[0] * states[1][0] + xs[1]
        return [out, out * 3], [states[0] + out, [states[1][0] * 0.9]]
    outs, states = mx.sym.contrib.foreach(step, [a, b], [s1, [s2]])
    assert isinstance(outs, list) and len(outs) == 2
    assert isinstance(states[1], list) and len(states[1]) == 1
    sym = mx.sym.Group(outs + [states[0], states[1][0]])
    values = {"a": RS.randn(3, 2), "b": RS.randn(3, 2), "s1": RS.randn(2), "s2": RS.randn(2)}

    def reference(v):
        s1_, s2_, ys = v["s1"], v["s2"], []
        for t in range(3):
            out = v["a"][t] * s2_ + v["b"][t]
            ys.append(out)
            s1_, s2_ = s1_ + out, s2_ * 0.9
        return [np.stack(ys), np.stack(ys) * 3, s1_, s2_]
    _check(sym, values, reference, [RS.randn(3, 2), RS.randn(3, 2), RS.randn(2), RS.randn(2)])


def test_foreach_a_state_passed_through_and_an_unused_state_refused():
    data, s = mx.sym.var("data"), mx.sym.var("s")
    outs, states = mx.sym.contrib.foreach(lambda x, st: (x * st[0], st), data, [s])
    sym = mx.sym.Group([outs, states[0]])
    values = {"data": RS.randn(3, 2), "s": RS.randn(2)}
    _check(sym, values, lambda v: [v["data"] * v["s"], v["s"]],
           [RS.randn(3, 2), RS.randn(2)])
    with pytest.raises(AssertionError, match="state arrays have to be used"):
        mx.sym.contrib.foreach(lambda x, st: (x, [x]), data, [s])


# ------------------------------------------------------------------ while_loop
def test_while_loop_runs_until_its_condition_and_pads_outputs_with_zeros():
    i, x = mx.sym.var("i"), mx.sym.var("x")
    w = mx.sym.var("w")
    outs, (i_end, x_end) = mx.sym.contrib.while_loop(
        lambda i, x: i < 3, lambda i, x: (x * w, [i + 1, x * w]), [i, x], max_iterations=5)
    sym = mx.sym.Group([outs, i_end, x_end])
    assert outs.infer_shape(i=(1,), x=(2,), w=(2,))[1] == [(5, 2)]

    def reference(v):
        n = int(max(0, min(5, np.ceil(3 - v["i"][0]))))
        rows = [v["x"] * v["w"] ** (k + 1) for k in range(n)]
        rows += [np.zeros(2)] * (5 - n)
        return [np.stack(rows), v["i"] + n, v["x"] * v["w"] ** n]
    for start in (0.5, 2.5, 7.0):      # 3, 1 and no step
        values = {"i": np.array([start]), "x": RS.randn(2), "w": RS.randn(2)}
        _check(sym, values, reference, [RS.randn(5, 2), np.zeros(1), RS.randn(2)])


def test_while_loop_every_loop_var_must_be_used():
    i, x = mx.sym.var("i"), mx.sym.var("x")
    with pytest.raises(ValueError, match="2-th loop_var doesn't involve"):
        mx.sym.contrib.while_loop(lambda i, x: i < 3, lambda i, x: (i, [i + 1, i]), [i, x],
                                  max_iterations=4)
    with pytest.raises(ValueError, match="max_iterations should be specified"):
        mx.sym.contrib.while_loop(lambda i: i < 3, lambda i: (i, [i + 1]), [i])


# ------------------------------------------------------------------ cond
def test_cond_takes_one_branch_and_differentiates_through_it():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    pred = mx.sym.sum(a) > mx.sym.sum(b)
    out = mx.sym.contrib.cond(pred, lambda: [a * b, a + 1], lambda: [a - b, b * b])
    sym = mx.sym.Group(out)

    def reference(v):
        if v["a"].sum() > v["b"].sum():
            return [v["a"] * v["b"], v["a"] + 1]
        return [v["a"] - v["b"], v["b"] * v["b"]]
    for shift in (2.0, -2.0):
        values = {"a": RS.randn(3) + shift, "b": RS.randn(3)}
        _check(sym, values, reference, [RS.randn(3), RS.randn(3)])


def test_cond_branches_must_give_as_many_outputs():
    a = mx.sym.var("a")
    with pytest.raises(ValueError, match="then-branch gives 2 outputs, the else-branch 1"):
        mx.sym.contrib.cond(a > 0, lambda: [a, a], lambda: a)


# ------------------------------------------------------------------ files
def _foreach_doc():
    data, s = mx.sym.var("data"), mx.sym.var("s")
    outs, states = mx.sym.contrib.foreach(lambda x, st: (x + st[0], [st[0] * 2]), data, [s])
    return json.loads(mx.sym.Group([outs, states[0]]).tojson())


def _loop_node(doc):
    return next(n for n in doc["nodes"] if n["op"] == "_foreach")


@pytest.mark.parametrize("damage, message", [
    (lambda n: n["attrs"].update(in_data_locs="[5]"), "must name each of the subgraph"),
    (lambda n: n["attrs"].update(num_args="7"), "num_args=7"),
    (lambda n: n["attrs"].update(num_outputs="3"), "do not agree"),
    (lambda n: n.pop("subgraphs"), "takes 1 subgraphs, got 0"),
    (lambda n: n.update(subgraphs={"nodes": []}), "'subgraphs' must be a list"),
    (lambda n: n["subgraphs"][0]["nodes"][2].update(op="no_such_op"), "unknown operator"),
    (lambda n: n["subgraphs"][0]["heads"].append([9, 0, 0]), "refers to node 9"),
    (lambda n: n["attrs"].pop("in_state_locs"), r"needs the attributes \['in_state_locs'\]"),
    (lambda n: n["attrs"].update(remain_locs=""), "remain_locs"),
])
def test_a_file_with_a_bad_subgraph_is_refused(damage, message):
    doc = _foreach_doc()
    damage(_loop_node(doc))
    with pytest.raises(mx.MXNetError, match=message):
        mx.sym.load_json(json.dumps(doc))


def test_subgraphs_only_on_control_flow_ops_and_nesting_is_bounded():
    doc = _foreach_doc()
    plus = next(n for n in _loop_node(doc)["subgraphs"][0]["nodes"] if n["op"] != "null")
    plus["subgraphs"] = []
    with pytest.raises(mx.MXNetError, match="only control-flow operators have subgraphs"):
        mx.sym.load_json(json.dumps(doc))
    def nested(levels):
        doc = _foreach_doc()
        node = _loop_node(doc)
        for _ in range(levels):     # each subgraph holds another loop
            inner = _foreach_doc()
            del inner["attrs"]      # (a subgraph has no graph attributes)
            node["subgraphs"][0] = inner
            node = _loop_node(inner)
        return json.dumps(doc)
    text = nested(5)
    sym = mx.sym.load_json(text)
    assert sym.list_arguments() == ["data", "s"]
    assert json.loads(sym.tojson()) == json.loads(text)
    with pytest.raises(mx.MXNetError, match="nested more than 8 deep"):
        mx.sym.load_json(nested(10))
    with pytest.raises(mx.MXNetError, match="nested .* deep"):
        mx.sym.load_json(nested(40))


def test_a_hybrid_block_called_on_symbols_builds_the_loop_node():
    class Scan(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x, h):
            outs, states = F.contrib.foreach(lambda xt, st: (xt + st[0], [st[0] + xt]), x, [h])
            return outs, states[0]
    block = Scan()
    outs, final = block(mx.sym.var("x"), mx.sym.var("h"))
    ex = mx.sym.Group([outs, final]).bind(
        mx.cpu(), {"x": nd.array(np.arange(6.0).reshape(3, 2)), "h": nd.ones((2,))})
    got = [o.asnumpy() for o in ex.forward()]
    eager = block(nd.array(np.arange(6.0).reshape(3, 2)), nd.ones((2,)))
    for g, e in zip(got, eager):
        np.testing.assert_array_equal(g, e.asnumpy())


def _while_doc(max_iterations):
    i, x = mx.sym.var("i"), mx.sym.var("x")
    outs, final = mx.sym.contrib.while_loop(lambda i, x: i < 1e9, lambda i, x: (x, [i + 1, x]),
                                            [i, x], max_iterations=max_iterations)
    return json.loads(mx.sym.Group([outs, final[0]]).tojson())


def test_a_file_cannot_ask_for_loops_that_never_end_or_outputs_too_large():
    doc = _while_doc(3)
    node = next(n for n in doc["nodes"] if n["op"] == "_while_loop")
    node["attrs"]["max_iterations"] = str(2 ** 30)
    with pytest.raises(mx.MXNetError, match=r"max_iterations=1073741824 is more than"):
        mx.sym.load_json(json.dumps(doc))
    # nested: 2^13 inside 2^13 is over the 2^24 budget, though each alone is not
    outer, inner = _while_doc(2 ** 13), _while_doc(2 ** 13)
    del inner["attrs"]
    body = next(n for n in outer["nodes"] if n["op"] == "_while_loop")["subgraphs"][1]
    body["nodes"] = inner["nodes"]
    body["arg_nodes"], body["node_row_ptr"], body["heads"] = (
        inner["arg_nodes"], inner["node_row_ptr"], inner["heads"])
    with pytest.raises(mx.MXNetError, match="nested loops multiplied"):
        mx.sym.load_json(json.dumps(outer))
    big = mx.sym.load_json(json.dumps(_while_doc(2 ** 20)))
    ex = big.bind(mx.cpu(), {"i": nd.zeros((1,)), "x": nd.ones((4096,))})
    with pytest.raises(mx.MXNetError, match="more than 2147483648"):
        ex.forward()
