"""A large captured step compiles in a thread (runtime/background.py) while the loop goes on as
before; it is installed at a later backward(), and the fused update likewise. The parameters
are those of the same loop with capture off, and a fork meanwhile leaves the child able to
compile."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.runtime import background


@pytest.fixture
def small_background(fresh_capture):
    """Every plan of 10+ ops not in the cache compiles in the background."""
    ops = background.BACKGROUND_OPS
    background.BACKGROUND_OPS = 10
    yield
    background.BACKGROUND_OPS = ops


def _train(steps, seed=3, after_step=None, width=16):
    """(parameters, losses) of the usual step's loop (`width`: a graph no test compiled)."""
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(width, activation="tanh"), gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1,
                                                          "momentum": 0.9})
    rs = np.random.RandomState(seed)
    x = nd.array(rs.randn(8, 5).astype(np.float32))
    y = nd.array(rs.randint(0, 3, 8).astype(np.float32))
    losses = []
    for i in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(8)
        losses.append(loss.asnumpy())
        if after_step is not None:
            after_step(i)
    return [p.data().asnumpy() for p in net.collect_params().values()], losses


def test_plan_and_fusion_compile_in_the_background(small_background, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))   # (not cached: compiled)
    seen = []

    def after(i):
        seen.append((i, mx.stats()["captured_steps"], mx.stats()["fused_update_steps"],
                     capture.explain()))
        background.wait_all()       # (the compile ends; the next backward installs it)

    before = dict(mx.stats())
    params, losses = _train(16, after_step=after, width=17)
    compiling = [i for i, _, _, text in seen if "compiling in the background" in text]
    assert compiling, [t for *_, t in seen][-1]
    first = compiling[0]
    # the step that started the compile ran as before, and so did the next (its backward
    # installed the plan); the one after that was captured
    assert seen[first + 1][1] == before["captured_steps"]
    assert seen[first + 2][1] == before["captured_steps"] + 1
    assert mx.stats()["fused_update_steps"] > before["fused_update_steps"]
    assert "compiling in the background" not in capture.explain()
    with capture.paused():
        want, want_losses = _train(16, width=17)
    for got, ref in zip(params, want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(losses), np.concatenate(want_losses),
                               rtol=1e-5, atol=1e-6)


def test_a_failed_background_compile_drops_the_plan(small_background, monkeypatch):
    def broken(fn, donate=None):
        raise RuntimeError("no LLVM today")
    monkeypatch.setattr("tracegrad.runtime.segments.compile_callable", broken)
    monkeypatch.setattr(background, "wanted", lambda fn, donate=None: True)
    params, _ = _train(8, after_step=lambda i: background.wait_all(), width=18)
    assert "no LLVM today" in capture.explain()
    monkeypatch.undo()
    with capture.paused():
        want, _ = _train(8, width=18)
    for got, ref in zip(params, want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_fork_during_a_background_compile_leaves_the_child_able_to_compile(
        small_background, tmp_path, monkeypatch):
    """The compile holds llvmlite's lock (as inside a long LLVM call) when the loop forks: the
    fork waits for it, and the child compiles (with the lock copied held, it would hang)."""
    from tracegrad.runtime import segments
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    real, holding, forked = segments.compile_callable, threading.Event(), []

    def slow(fn, **kw):
        with background._llvm_lock():
            holding.set()
            time.sleep(0.5)
        return real(fn, **kw)
    monkeypatch.setattr(segments, "compile_callable", slow)

    def fork_while_compiling(i):
        if forked or not holding.is_set():
            return
        pid = os.fork()
        if pid == 0:    # the child: a fresh graph compiles, then it exits at once
            code = 1
            try:
                f = mx.jit(lambda a: nd.sin(a) * 3 + 1)
                out = f(nd.array([0.5, 1.0])).asnumpy()
                code = 0 if np.allclose(out, np.sin([0.5, 1.0]) * 3 + 1) else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                forked.append(os.waitstatus_to_exitcode(status))
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        forked.append("hung")

    _train(10, after_step=fork_while_compiling, width=19)
    background.wait_all()
    assert forked == [0], forked
