"""tracegrad.jit: compiled results and gradients equal eager and finite differences; caching,
retracing, guards, control-flow fallback, counters and inspection."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.tracing.jit import jit
from arrays import keep_dtype


RS = np.random.RandomState(0)


def mlp(x, w1, b1, w2, b2):
    h = nd.relu(nd.dot(x, w1, transpose_b=True) + b1)
    return nd.log_softmax(nd.dot(h, w2, transpose_b=True) + b2)


def _params(dtype=np.float32):
    shapes = [(16, 8), (16,), (5, 16), (5,)]
    return [keep_dtype(RS.randn(*s).astype(dtype) * 0.3) for s in shapes]


def _grads(fn, x, params, label):
    for p in params:
        p.attach_grad()
    with autograd.record():
        out = fn(x, *params)
        loss = -nd.sum(nd.pick(out, label))
    loss.backward()
    return out.asnumpy(), [p.grad.asnumpy().copy() for p in params]


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_compiled_mlp_matches_eager_outputs_and_gradients(dtype, rtol):
    params = _params(dtype)
    x = keep_dtype(RS.randn(7, 8).astype(dtype))
    label = nd.array([0, 1, 2, 3, 4, 0, 1])
    out_e, g_e = _grads(mlp, x, params, label)
    out_c, g_c = _grads(jit(mlp), x, params, label)
    np.testing.assert_allclose(out_c, out_e, rtol=rtol, atol=rtol)
    for a, b in zip(g_c, g_e):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_compiled_gradient_matches_finite_differences():
    f = jit(lambda x, w: nd.sum(nd.tanh(nd.dot(x, w)) * nd.sigmoid(x[:, :2])))
    x = keep_dtype(RS.randn(3, 4))
    w = keep_dtype(RS.randn(4, 2))
    w.attach_grad()
    with autograd.record():
        y = f(x, w)
    y.backward()
    base = w.asnumpy()
    fd = np.zeros_like(base)
    eps = 1e-6
    for idx in np.ndindex(base.shape):
        for sign in (1, -1):
            pert = base.copy()
            pert[idx] += sign * eps
            fd[idx] += sign * f(x, keep_dtype(pert)).asscalar() / (2 * eps)
    np.testing.assert_allclose(w.grad.asnumpy(), fd, rtol=1e-6, atol=1e-8)


def test_jit_composes_with_autograd_grad_and_higher_order():
    h = jit(lambda t: nd.sin(t) * t)
    a = nd.array([0.5, 2.0], dtype="float64")
    a.attach_grad()
    with autograd.record():
        y = h(a)
        (d1,) = autograd.grad(y, [a], create_graph=True)
        (d2,) = autograd.grad(d1, [a], create_graph=True)
    d2.backward()
    x = a.asnumpy()
    np.testing.assert_allclose(d1.asnumpy(), np.cos(x) * x + np.sin(x), rtol=1e-12)
    np.testing.assert_allclose(d2.asnumpy(), -np.sin(x) * x + 2 * np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(a.grad.asnumpy(), -np.cos(x) * x - 3 * np.sin(x), rtol=1e-12)


def test_head_gradients_and_input_gradients_flow_through_compiled_code():
    f = jit(lambda x: nd.exp(x) * 2)
    x = nd.array([0.0, 1.0])
    x.attach_grad()
    with autograd.record():
        z = x * 3          # an eager op before the compiled one
        y = f(z)
    y.backward(nd.array([1.0, 0.5]))
    np.testing.assert_allclose(x.grad.asnumpy(), 6 * np.exp([0.0, 3.0]) * [1, 0.5], rtol=1e-6)


def test_new_shape_dtype_and_noncontiguous_inputs_retrace_and_match_eager():
    fn = lambda x: nd.sum(x * x, axis=1)  # noqa: E731
    f = jit(fn)
    mx.stats(reset=True)
    for arr in (RS.randn(3, 4).astype(np.float32), RS.randn(5, 4).astype(np.float32),
                RS.randn(3, 4)):
        np.testing.assert_allclose(f(keep_dtype(arr)).asnumpy(), fn(keep_dtype(arr)).asnumpy(),
                                   rtol=1e-6)
    from tracegrad.array import wrap   # (nd.transpose returns a new array, as in MXNet)
    view = wrap(RS.randn(4, 6).astype(np.float32).T)      # a transposed numpy buffer
    assert not view._data.flags.c_contiguous
    np.testing.assert_allclose(f(view).asnumpy(), fn(view).asnumpy(), rtol=1e-6)
    assert mx.stats()["traces"] == 4
    f(keep_dtype(RS.randn(3, 4).astype(np.float32)))
    assert mx.stats()["cache_hits"] == 1


def test_data_dependent_control_flow_compiles_each_branch_without_falling_back():
    def f(x):
        if x.sum() > 0:
            return x * 2
        return x * 3
    jf = jit(f)
    mx.stats(reset=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(jf(nd.array([1.0, 2.0])).asnumpy(), [2, 4])
        np.testing.assert_array_equal(jf(nd.array([-1.0, -2.0])).asnumpy(), [-3, -6])
        np.testing.assert_array_equal(jf(nd.array([3.0, 2.0])).asnumpy(), [6, 4])
    s = mx.stats()
    assert s["eager_fallbacks"] == 0 and s["traces"] == 2


def test_custom_function_inside_jit_falls_back_and_is_correct():
    class Double(autograd.Function):
        def forward(self, x):
            return x * 2

        def backward(self, dy):
            return dy * 2
    f = jit(lambda x: nd.exp(Double()(x)))
    x = nd.array([0.5])
    x.attach_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autograd.record():
            y = f(x)
        y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * np.exp([1.0]), rtol=1e-6)


def test_grad_req_null_prunes_the_adjoint():
    x = keep_dtype(RS.randn(4, 3).astype(np.float32))
    w1, w2 = keep_dtype(RS.randn(3, 3).astype(np.float32)), keep_dtype(RS.randn(3, 2).astype(
        np.float32))
    w1.attach_grad(grad_req="null")
    w2.attach_grad()
    f = jit(lambda x, a, b: nd.sum(nd.dot(nd.tanh(nd.dot(x, a)), b)))
    with autograd.record():
        y = f(x, w1, w2)
    y.backward()
    adj = f.ir("adjoint")
    assert len(adj.outputs) == 1 and str(adj.outputs[0].type) == "f32[3,2]"
    assert "tanh" not in str(adj) and str(adj).count("matmul") == 1


def test_ir_stages_are_inspectable():
    f = jit(lambda x: nd.relu(x) * 2)
    with pytest.raises(ValueError, match="call the function first"):
        f.ir("traced")
    f(nd.ones((2, 2)))
    assert "relu" in str(f.ir("traced"))
    assert str(f.ir("optimized")).startswith("func @")


def test_compiled_function_is_safe_to_call_from_threads(in_threads):
    f = jit(lambda x: nd.sum(nd.tanh(x) * x, axis=1))
    inputs = [keep_dtype(RS.randn(64, 257).astype(np.float32)) for _ in range(4)]
    want = [nd.sum(nd.tanh(x) * x, axis=1).asnumpy() for x in inputs]
    f(inputs[0])
    errors = []

    def worker(i):
        for _ in range(50):
            got = f(inputs[i]).asnumpy()
            if not np.allclose(got, want[i], rtol=1e-5):
                errors.append(i)
    in_threads(worker, 4)
    assert not errors


def test_graph_codegen_cannot_lower_runs_in_the_interpreter_with_the_right_answer():
    f = jit(lambda a, b: nd.dot(a, b) * 2)  # mixed-dtype matmul has no native kernel
    a = keep_dtype(RS.randn(2, 3).astype(np.float32))
    b = keep_dtype(RS.randn(3, 2))
    mx.stats(reset=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = f(a, b)
    np.testing.assert_allclose(out.asnumpy(), 2 * a.asnumpy() @ b.asnumpy(), rtol=1e-12)
    assert mx.stats()["eager_fallbacks"] >= 1


def test_variant_cap_runs_new_signatures_eagerly_without_compiling():
    import sys
    f = jit(lambda x: x * 2)
    cap = sys.modules["tracegrad.tracing.jit"].MAX_VARIANTS  # (tracegrad.jit is the function)
    for n in range(1, cap + 1):
        f(nd.ones((n,)))
    mx.stats(reset=True)
    with pytest.warns(UserWarning, match="variants"):
        out = f(nd.ones((cap + 1,)))
    np.testing.assert_array_equal(out.asnumpy(), 2)
    s = mx.stats()
    assert s["traces"] == 0 and s["compiles"] == 0 and s["eager_fallbacks"] == 1


def test_dump_writes_every_stage_and_cache_off_writes_nothing(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys
    dump = tmp_path / "dump"
    monkeypatch.setenv("TRACEGRAD_DUMP", str(dump))
    f = jit(lambda x: nd.sum(nd.tanh(x) * 2))
    f(nd.ones((3, 4)))
    names = sorted(os.listdir(dump))
    assert any(n.endswith(".simplify.tgir") for n in names)
    assert any(n.endswith(".dce.tgir") for n in names)
    text = (dump / names[0]).read_text()
    assert text.startswith("func @") and mx.ir.parse(text) is not None
    cache = tmp_path / "cache"
    script = ("import tracegrad as mx\nfrom tracegrad import nd\n"
              "f = mx.jit(lambda x: x * 3)\nf(nd.ones((2,)))\nprint(mx.stats()['compiles'])\n")
    env = dict(os.environ, TRACEGRAD_CACHE="0", TRACEGRAD_CACHE_DIR=str(cache))
    env.pop("TRACEGRAD_DUMP", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert int(out) == 1 and not (cache.exists() and any(cache.iterdir()))
