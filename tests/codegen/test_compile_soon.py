"""A large module compiled ahead with its LLVM work in a child process (codegen/object_worker.py,
compile_function_soon): the same object as in-process, the same results, and an in-process
compile whenever the child cannot help."""
import os

import numpy as np

import tracegrad.codegen as codegen
from tracegrad.codegen import entry, object_worker
from tracegrad.codegen.target import object_code
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction


def _large(n_ops, scale):
    """A chain of matmuls and elementwise ops: n_ops ops, `scale` making its text unique."""
    b = Builder(name="chain")
    x = b.param(TensorType("f32", (8, 16)), "x")
    w = b.param(TensorType("f32", (16, 16)), "w")
    y = x
    while True:
        y = b.tanh(b.add(b.matmul(y, w), scale))
        if len(b.fn.ops) >= n_ops:
            break
    return b.ret(b.sum(y, axes=(1,)))


def _reference(x, w, fn):
    y = x.astype(np.float64)
    for op in fn.ops:
        if op.opdef.name == "matmul":
            y = y @ w.astype(np.float64)
        elif op.opdef.name == "add":
            y = y + op.operands[1].value
        elif op.opdef.name == "tanh":
            y = np.tanh(y)
    return y.sum(axis=1)


def test_the_child_emits_the_object_this_process_would():
    fn = _large(12, 0.25)
    _, plan = codegen._key(fn, (), None)
    ir_text = entry.emit_module(plan)
    assert object_worker.object_code_elsewhere(ir_text) == object_code(ir_text)


def test_a_module_compiled_soon_is_waited_for_and_computes_the_same(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))   # (its object is not cached)
    calls = []
    elsewhere = object_worker.object_code_elsewhere
    monkeypatch.setattr(object_worker, "object_code_elsewhere",
                        lambda text: calls.append(1) or elsewhere(text))
    monkeypatch.setattr(codegen, "SOON_MIN_OPS", 30)
    monkeypatch.setattr(object_worker, "available", lambda: True)   # (one core: no matter)
    fn = _large(30, 0.125)
    assert codegen.compile_function_soon(fn)
    module = codegen.compile_function(fn)
    assert calls == [1] and not codegen._SOON
    x = np.random.RandomState(0).rand(8, 16).astype(np.float32)
    w = (np.random.RandomState(1).rand(16, 16).astype(np.float32) - 0.5) / 4
    got = NativeFunction(module)(x, w)[0]
    np.testing.assert_allclose(got, _reference(x, w, fn), rtol=1e-5, atol=1e-6)


def test_no_child_below_the_size_nor_when_turned_off(monkeypatch):
    fn = _large(12, 0.0625)
    assert not codegen.compile_function_soon(fn)       # (small: in-process when asked)
    monkeypatch.setenv("TRACEGRAD_COMPILE_PROCESS", "0")
    monkeypatch.setattr(codegen, "SOON_MIN_OPS", 1)
    assert not object_worker.available()
    assert not codegen.compile_function_soon(fn)


def test_a_failing_child_leaves_the_compile_to_this_process(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(object_worker.sys, "executable", os.path.join(str(tmp_path), "none"))
    assert object_worker.object_code_elsewhere("define void @f() {\n ret void\n}\n") is None
    monkeypatch.setattr(codegen, "SOON_MIN_OPS", 30)
    monkeypatch.setattr(object_worker, "available", lambda: True)
    fn = _large(30, 0.375)
    assert codegen.compile_function_soon(fn)
    module = codegen.compile_function(fn)
    x = np.random.RandomState(2).rand(8, 16).astype(np.float32)
    w = (np.random.RandomState(3).rand(16, 16).astype(np.float32) - 0.5) / 4
    np.testing.assert_allclose(NativeFunction(module)(x, w)[0], _reference(x, w, fn),
                               rtol=1e-5, atol=1e-6)


def test_a_hybridized_nets_first_step_compiles_its_adjoint_in_the_child(monkeypatch, tmp_path):
    """(tracing/compiled.TrainingEntry) the adjoint goes to the child while the forward
    compiles here; the gradients are eager's."""
    from tracegrad import autograd, gluon, nd
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "SOON_MIN_OPS", 1)
    monkeypatch.setattr(object_worker, "available", lambda: True)
    texts = []
    elsewhere = object_worker.object_code_elsewhere
    monkeypatch.setattr(object_worker, "object_code_elsewhere",
                        lambda text: texts.append(text) or elsewhere(text))
    x = nd.array(np.random.RandomState(4).rand(5, 7).astype(np.float32))
    grads = {}
    for hybridize in (False, True):
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(6, activation="tanh", in_units=7), gluon.nn.Dense(3, in_units=6))
        net.initialize(mx_init())
        if hybridize:
            net.hybridize()
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        grads[hybridize] = [p.grad().asnumpy() for p in net.collect_params().values()]
    assert len(texts) == 1 and '_vjp"' in texts[0].split("\n")[0]     # (the adjoint's)
    for a, b in zip(grads[False], grads[True]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def mx_init():
    import tracegrad as mx
    mx.random.seed(5)
    return mx.init.Xavier()
