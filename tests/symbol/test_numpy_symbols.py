"""mx.sym.np / mx.sym.npx and Symbol.as_np_ndarray(): MXNet 1.9.1's numpy symbols, as its
test_numpy_op.py builds them (`mx.sym.np.sum(x_sym, ...).as_nd_ndarray()` checked with
check_numeric_gradient). Values are checked against numpy, gradients against finite
differences and against mx.np's eager autograd, graphs through a JSON round trip, and files
with a bad numpy-op attribute are refused."""
import json

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad.base import MXNetError
from tracegrad.symbol import ops
from tracegrad.test_utils import (check_numeric_gradient, check_symbolic_backward,
                                  check_symbolic_forward)

S = mx.sym
RS = onp.random.RandomState(7)


def _f32(*shape, lo=0.5):
    return (RS.rand(*shape) + lo).astype(onp.float32)


def _v(name):
    return S.var(name).as_np_ndarray()


def _ops(sym):
    return [n["op"] for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null"]


def _eval(sym, values):
    outs = sym.as_nd_ndarray().eval(**{k: mx.nd.array(v, dtype=v.dtype)
                                       for k, v in values.items()})
    return [o.asnumpy() for o in outs]


A, B, M, C = _f32(2, 3), _f32(3), _f32(3, 3), RS.rand(2, 3) > 0.5
# name: (graph of a, b, m, c in the namespaces np / npx: mx.sym's or the eager mx.np / npx;
# the arguments; numpy's value; MXNet's op of the head node)
CASES = {
    "sum": (lambda np, npx, a, b, m, c: np.sum(a, axis=1, keepdims=True), dict(a=A),
            lambda a: a.sum(1, keepdims=True), "_np_sum"),
    "mean": (lambda np, npx, a, b, m, c: np.mean(a, axis=0), dict(a=A),
             lambda a: a.mean(0), "_npi_mean"),
    "prod": (lambda np, npx, a, b, m, c: np.prod(a, axis=(0, 1)), dict(a=A),
             lambda a: a.prod(), "_np_prod"),
    "dot": (lambda np, npx, a, b, m, c: np.dot(a, b), dict(a=A, b=B), onp.dot, "_np_dot"),
    "tensordot": (lambda np, npx, a, b, m, c: np.tensordot(a, m, ((1,), (0,))),
                  dict(a=A, m=M), lambda a, m: onp.tensordot(a, m, ((1,), (0,))),
                  "_npi_tensordot"),
    "vdot": (lambda np, npx, a, b, m, c: np.vdot(m, m), dict(m=M),
             lambda m: onp.vdot(m, m), "_np_vdot"),
    "outer": (lambda np, npx, a, b, m, c: np.outer(b, b), dict(b=B),
              lambda b: onp.outer(b, b), "_np_outer"),
    "stack": (lambda np, npx, a, b, m, c: np.stack([a, a * 2], axis=1), dict(a=A),
              lambda a: onp.stack([a, a * 2], axis=1), "_npi_stack"),
    "roll": (lambda np, npx, a, b, m, c: np.roll(a, shift=1, axis=1), dict(a=A),
             lambda a: onp.roll(a, 1, axis=1), "_np_roll"),
    "det": (lambda np, npx, a, b, m, c: np.linalg.det(m), dict(m=M), onp.linalg.det,
            "_npi_det"),
    "where": (lambda np, npx, a, b, m, c: np.where(c, a, b), dict(a=A, b=B, c=C),
              lambda a, b, c: onp.where(c, a, b), "_npi_where"),
    "einsum": (lambda np, npx, a, b, m, c: np.einsum("ij,j->i", a, b), dict(a=A, b=B),
               lambda a, b: onp.einsum("ij,j->i", a, b), "_npi_einsum"),
    "broadcast_arith": (lambda np, npx, a, b, m, c: (a * b - 1) ** 2 / (a + 1) - 3 / b,
                        dict(a=A, b=B), lambda a, b: (a * b - 1) ** 2 / (a + 1) - 3 / b,
                        "_npi_subtract"),
    "indexing": (lambda np, npx, a, b, m, c: a[-1, ::-1] + a[0], dict(a=A),
                 lambda a: a[-1, ::-1] + a[0], "_npi_add"),
    "fluent": (lambda np, npx, a, b, m, c: (a.T @ a).sum(axis=0).reshape(1, 3), dict(a=A),
               lambda a: (a.T @ a).sum(axis=0).reshape(1, 3), "_np_reshape"),
    "relu": (lambda np, npx, a, b, m, c: npx.relu(a - 1), dict(a=A),
             lambda a: onp.maximum(a - 1, 0), "_npx_relu"),
}


def _case(name):
    build, values, ref, head_op = CASES[name]
    sym = build(S.np, S.npx, _v("a"), _v("b"), _v("m"), _v("c"))
    return sym, values, ref, head_op


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy_and_the_node_is_mxnets_op(name):
    sym, values, ref, head_op = _case(name)
    assert type(sym) is S.np._Symbol
    assert _ops(sym)[-1] == head_op
    want = ref(*values.values())
    got = _eval(sym, values)[0]
    assert got.shape == onp.shape(want)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences_and_eager_autograd(name):
    sym, values, _, _ = _case(name)
    floats = [k for k, v in values.items() if v.dtype.kind == "f"]
    nd_sym = sym.as_nd_ndarray()
    check_numeric_gradient(nd_sym, values, grad_nodes=floats, numeric_eps=1e-3, rtol=2e-2,
                           atol=2e-3)
    # the executor's backward for a head gradient, against mx.np's eager autograd
    exe = nd_sym.simple_bind(mx.cpu(), **{k: v.shape for k, v in values.items()},
                             type_dict={k: v.dtype for k, v in values.items()})
    for k, v in values.items():
        exe.arg_dict[k][:] = mx.nd.array(v, dtype=v.dtype)
    out = exe.forward(is_train=True)[0]
    head = onp.asarray(RS.rand(*out.shape) + 0.5, dtype=onp.float32)
    exe.backward(mx.nd.array(head))
    eager = {k: mx.np.array(v, dtype=v.dtype) for k, v in values.items()}
    for k in floats:
        eager[k].attach_grad()
    with mx.autograd.record():
        y = CASES[name][0](mx.np, mx.npx, *(eager.get(k) for k in "abmc"))
    y.backward(mx.np.array(head))
    for k in floats:
        onp.testing.assert_allclose(exe.grad_dict[k].asnumpy(), eager[k].grad.asnumpy(),
                                    rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_round_trip_keeps_the_graph_and_its_values(name):
    sym, values, _, _ = _case(name)
    text = sym.as_nd_ndarray().tojson()
    again = S.load_json(text)
    assert again.tojson() == text
    for got, want in zip(_eval(again.as_np_ndarray(), values), _eval(sym, values)):
        onp.testing.assert_array_equal(got, want)


def test_conversions_switch_the_class_without_adding_nodes():
    x = S.var("x")
    np_x = x.as_np_ndarray()
    assert type(np_x) is S.np._Symbol and np_x.as_np_ndarray() is np_x
    assert x.as_nd_ndarray() is x
    s = S.np.sum(np_x * 2)
    back = s.as_nd_ndarray()
    assert type(back) is S.Symbol
    assert back._outputs == s._outputs and back.tojson() == s.tojson()
    assert repr(s).startswith("<_Symbol ") and repr(back).startswith("<Symbol ")


def test_legacy_arithmetic_is_unchanged_and_numpy_arithmetic_broadcasts():
    x, y = S.var("x"), S.var("y")
    assert _ops(x + y) == ["elemwise_add"] and _ops(x * 2) == ["_mul_scalar"]
    with pytest.raises(MXNetError, match="differ"):
        (x + y).eval(x=mx.nd.ones((2, 3)), y=mx.nd.ones((3,)))
    nx, ny = x.as_np_ndarray(), y.as_np_ndarray()
    assert _ops(nx + ny) == ["_npi_add"]
    assert _ops(nx + 2) == ["_npi_add_scalar"] and _ops(2 - nx) == ["_npi_rsubtract_scalar"]
    assert _ops(1 < nx) == ["_npi_greater_scalar"] and _ops(-nx) == ["_npi_negative"]
    got = (nx + ny).as_nd_ndarray().eval(x=mx.nd.ones((2, 3)), y=mx.nd.array([1, 2, 3]))
    onp.testing.assert_array_equal(got[0].asnumpy(), [[2, 3, 4], [2, 3, 4]])
    cmp = _eval(nx >= ny, dict(x=A, y=B))[0]
    assert cmp.dtype == onp.bool_
    onp.testing.assert_array_equal(cmp, A >= B)
    onp.testing.assert_array_equal(_eval(1 < nx, dict(x=A))[0], 1 < A)
    ints = onp.arange(6, dtype=onp.int32).reshape(2, 3)
    kept = _eval(nx * 3 % 4, dict(x=ints))[0]
    assert kept.dtype == onp.int32
    onp.testing.assert_array_equal(kept, ints * 3 % 4)


def test_indexing_astype_and_multi_output_functions():
    a = _v("a")
    for key in (1, -1, (slice(None), 1), (0, slice(1, None)), (slice(None, None, -1),)):
        onp.testing.assert_array_equal(_eval(a[key], dict(a=A))[0], A[key])
    cast = a.astype("int32")
    assert _ops(cast) == ["_npi_cast"] and _eval(cast, dict(a=A * 10))[0].dtype == onp.int32
    parts = S.np.split(a, 3, axis=1)
    assert len(parts) == 3 and all(type(p) is S.np._Symbol for p in parts)
    assert parts.list_outputs() == [f"{parts[0].name}_output{i}"
                                    for i in range(3)]
    for got, want in zip(_eval(parts, dict(a=A)), onp.split(A, 3, axis=1)):
        onp.testing.assert_array_equal(got, want)
    sign, logdet = S.np.linalg.slogdet(_v("m"))
    onp.testing.assert_allclose(_eval(logdet, dict(m=M))[0], onp.linalg.slogdet(M)[1],
                                rtol=1e-5)


def test_infer_shape_and_type_bind_and_grad_req_add():
    a, b = _v("a"), _v("b")
    sym = S.np.tensordot(a, b, axes=1).as_nd_ndarray()
    assert sym.infer_shape(a=(2, 3), b=(3, 4)) == ([(2, 3), (3, 4)], [(2, 4)], [])
    mean64 = S.np.mean(a, dtype="float64").as_nd_ndarray()
    assert mean64.infer_type(a=onp.float32)[1] == [onp.float64]
    exe = sym.simple_bind(mx.cpu(), grad_req="add", a=(2, 3), b=(3, 4))
    exe.arg_dict["a"][:] = 1
    exe.arg_dict["b"][:] = 2
    for _ in range(4):      # (eagerly, then as the executor's compiled call)
        out = exe.forward(is_train=True)[0]
        exe.backward(mx.nd.ones((2, 4)))
    onp.testing.assert_array_equal(out.asnumpy(), onp.full((2, 4), 6.0))
    onp.testing.assert_array_equal(exe.grad_dict["a"].asnumpy(), onp.full((2, 3), 32.0))


def test_symbolic_checks_and_zero_dim_outputs_under_set_np():
    a, b = _v("a"), _v("b")
    mx.npx.set_np()
    try:
        vdot = S.np.vdot(a, b).as_nd_ndarray()
        assert vdot.infer_shape(a=(3,), b=(3,))[1] == [()]
        check_symbolic_forward(vdot, {"a": B, "b": B}, [onp.vdot(B, B)], rtol=1e-5)
        check_symbolic_backward(vdot, {"a": B, "b": B}, [onp.array(2.0)],
                                {"a": 2 * B, "b": 2 * B}, rtol=1e-5)
        empty = S.np.sum(a, axis=0).as_nd_ndarray()
        assert empty.infer_shape(a=(0, 4))[1] == [(4,)]
    finally:
        mx.npx.reset_np()


def test_random_nodes_draw_anew_and_replay_for_backward():
    a = _v("a")
    sym = (S.np.random.normal(a, 1.0) * a).as_nd_ndarray()
    node = sym._outputs[0][0].inputs[0][0]
    assert node.op == "_npi_normal" and ops.draws_random(node)
    assert not ops.draws_random(S.np.sum(a)._outputs[0][0])
    exe = sym.simple_bind(mx.cpu(), a=(3, 3))
    exe.arg_dict["a"][:] = 1
    first = exe.forward(is_train=True)[0].asnumpy().copy()
    second = exe.forward(is_train=True)[0].asnumpy().copy()
    assert not onp.allclose(first, second)
    exe.backward(mx.nd.ones((3, 3)))
    grad = exe.grad_dict["a"].asnumpy().copy()
    exe.backward(mx.nd.ones((3, 3)))     # (a second backward replays the same draws)
    onp.testing.assert_array_equal(exe.grad_dict["a"].asnumpy(), grad)
    onp.testing.assert_allclose(grad, second + 1, rtol=1e-5)   # d(x*(x+n))/dx = 2x+n


def test_errors_name_the_op_and_the_shapes():
    dot = S.np.dot(_v("a"), _v("b")).as_nd_ndarray()
    with pytest.raises(MXNetError, match=r"_np_dot.*\(4, 5\).*\(2, 3\)"):
        dot.infer_shape(a=(4, 5), b=(2, 3))
    with pytest.raises(MXNetError, match=r"_np_dot.*\(4, 5\).*\(2, 3\)"):
        dot.simple_bind(mx.cpu(), a=(4, 5), b=(2, 3))
    with pytest.raises(MXNetError, match=r"op _np_dot.*mx\.np\.dot on inputs a \(4, 5\)"):
        dot.eval(a=mx.nd.ones((4, 5)), b=mx.nd.ones((2, 3)))
    with pytest.raises(MXNetError, match="_np_sum, attribute keepdims='maybe'"):
        S.np.sum(_v("a"), keepdims="maybe")
    with pytest.raises(TypeError, match="mx.sym.np.sum: .*unexpected keyword"):
        S.np.sum(_v("a"), bogus=1)
    with pytest.raises(AttributeError, match="no operator 'nosuch'"):
        S.np.nosuch


def _load_mutated(sym, change):
    doc = json.loads(sym.as_nd_ndarray().tojson())
    change(doc["nodes"][-1])
    return S.load_json(json.dumps(doc))


@pytest.mark.parametrize("sym_fn, change, message", [
    (lambda a, b: S.np.sum(a, axis=1), lambda n: n["attrs"].update(keepdims="banana"),
     "op _np_sum, attribute keepdims='banana'"),
    (lambda a, b: S.np.sum(a, axis=1), lambda n: n["attrs"].update(axis="(1, x)"),
     "attribute axis="),
    (lambda a, b: S.np.sum(a, axis=1), lambda n: n["attrs"].update(bogus="1"),
     "has no attribute 'bogus'"),
    (lambda a, b: S.np.sum(a, axis=1), lambda n: n.update(op="_np_nosuchfn"),
     "unknown operator '_np_nosuchfn'"),
    (lambda a, b: S.np.sum(a), lambda n: n["inputs"].append([0, 0, 0]), "has 2 inputs"),
    (lambda a, b: S.np.stack([a, b]), lambda n: n["attrs"].update(num_args="3"),
     "has 2 inputs"),
    (lambda a, b: S.np.where(a > 0, a, b), lambda n: n["attrs"].update(inputs="x,zz"),
     "names 'zz'"),
    (lambda a, b: S.np.tensordot(a, b, ((1, 0), (0, 1))),
     lambda n: n["attrs"].update(axes="((1, 0), (0, 1)"), "unbalanced"),
    (lambda a, b: S.np.split(a, 2), lambda n: n["attrs"].update(
        indices_or_sections="1000000000"), "asks for 1000000000 outputs"),
    (lambda a, b: S.np.zeros((2, 3)) + a, lambda n: None, None),
    (lambda a, b: a + 1, lambda n: n["attrs"].update(scalar="one"), "expected a number"),
    (lambda a, b: a.astype("float16"), lambda n: n["attrs"].update(dtype="float99"),
     "not a dtype"),
])
def test_a_file_with_a_bad_numpy_op_attribute_is_refused(sym_fn, change, message):
    sym = sym_fn(_v("a"), _v("b"))
    if message is None:     # (the unchanged graph loads: the check is not the refusal)
        assert _load_mutated(sym, change).tojson() == sym.as_nd_ndarray().tojson()
        return
    with pytest.raises(MXNetError, match=message):
        _load_mutated(sym, change)


def test_a_loaded_attribute_that_breaks_the_function_is_an_mxnet_error():
    """npx.relu takes **kwargs, so num_args=2 loads and hands relu a list: the call's
    failure is an MXNetError naming the node's function and inputs, never an AttributeError
    (found by mutating saved graphs)."""
    sym = _load_mutated(S.np.stack([_v("a"), _v("b")]), lambda n: n.update(op="_npx_relu"))
    with pytest.raises(MXNetError, match=r"op _npx_relu\): inputs of shapes"):
        sym.simple_bind(mx.cpu(), a=(3, 4), b=(3, 4)).forward()


@pytest.mark.parametrize("build, want", [
    (lambda a, b: a > 0, onp.bool_),
    (lambda a, b: S.np.argmax(a, axis=0), onp.int64),
    (lambda a, b: a.astype("int32"), onp.int32),
    (lambda a, b: S.np.dot(a, b), onp.float64),
    (lambda a, b: S.np.linalg.det(a), onp.float32),
    (lambda a, b: a + b, onp.float64),
])
def test_infer_type_gives_the_numpy_ops_own_dtypes(build, want):
    """infer_type has no shapes: a numpy node's output dtype comes from its function (a
    comparison is bool, argmax int64, float32 + float64 float64), as its forward gives."""
    sym = build(_v("a"), _v("b")).as_nd_ndarray()
    types = {"a": onp.float32, "b": onp.float64}
    _, (out,), _ = sym.infer_type(**{k: v for k, v in types.items()
                                      if k in sym.list_arguments()})
    assert out == want
    ex = sym.simple_bind(mx.cpu(), type_dict=types, **{k: (3, 3) for k in sym.list_arguments()})
    ex.forward()
    assert ex.outputs[0].dtype == want


class _NumpyNet(mx.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(3, 4))
            self.dense = mx.gluon.nn.Dense(2, in_units=4)

    def hybrid_forward(self, F, x, weight):
        h = F.npx.relu(F.np.dot(x, weight)) + F.np.sum(x, axis=1, keepdims=True) * 2
        return self.dense(h)


def test_a_block_called_on_numpy_symbols_under_set_np(tmp_path):
    """Under set_np a Parameter's variable and a block's output are numpy symbols (MXNet's
    Parameter.var() and npx layers), so the block's graph is numpy ops; it and its export
    compute what the block computes."""
    mx.npx.set_np()
    try:
        net = _NumpyNet()
        net.initialize(mx.init.Normal(1.0))
        x = mx.np.array(onp.random.RandomState(0).randn(5, 3))
        want = net(x).asnumpy()
        assert type(net.weight.var()) is S.np._Symbol
        out = net(mx.sym.var("data").as_np_ndarray())
        assert type(out) is S.np._Symbol
        ops = [n["op"] for n in json.loads(out.tojson())["nodes"] if n["op"] != "null"]
        assert ops[:2] == ["_np_dot", "_npx_relu"] and "FullyConnected" in ops
        ex = out.as_nd_ndarray().simple_bind(mx.cpu(), data=(5, 3))
        for name, p in net.collect_params().items():
            ex.arg_dict[name][:] = p.data().as_nd_ndarray()
        ex.arg_dict["data"][:] = x.as_nd_ndarray()
        ex.forward()
        onp.testing.assert_allclose(ex.outputs[0].asnumpy(), want, rtol=1e-5, atol=1e-5)
        net.hybridize()
        net(x)
        net.export(str(tmp_path / "net"))
        back = mx.gluon.SymbolBlock.imports(str(tmp_path / "net-symbol.json"), ["data"],
                                            str(tmp_path / "net-0000.params"))
        onp.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-5, atol=1e-5)
    finally:
        mx.npx.reset_np()
    assert type(net.weight.var()) is mx.sym.Symbol      # (legacy again outside set_np)
