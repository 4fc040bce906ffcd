"""The persistent worker pool behind threaded steps: workers are started once and reused,
results do not depend on which thread runs a piece, concurrent callers and forked children
get correct results, and the interpreter exits without joining anything."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from tracegrad.codegen import threads
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime import native
from tracegrad.runtime.native import NativeFunction

SHAPE = (1 << 20,)


def _threaded(name="pool_sum"):
    b = Builder(name=name)
    x = b.param(TensorType("f32", SHAPE), "x")
    f = NativeFunction(b.ret(b.sum(b.tanh(x), axes=(0,)), b.exp(x)))
    assert threads.PARALLEL_FOR in f.llvm_ir
    return f


def _os_threads():
    return len(os.listdir("/proc/self/task"))


def _workers():
    names = []
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names.count("tg-worker")


@pytest.fixture
def three_threads():
    saved = native._CONTEXT.num_threads
    native._CONTEXT.num_threads = 3
    yield
    native._CONTEXT.num_threads = saved


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_workers_are_started_once_and_reused(three_threads):
    f = _threaded()
    x = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
    first = f(x)
    started = _os_threads()
    assert _workers() >= 2                # the pool's threads live on between calls
    for _ in range(10):
        again = f(x)
        np.testing.assert_array_equal(again[0], first[0])
        np.testing.assert_array_equal(again[1], first[1])
    assert _os_threads() == started       # no thread created (nor leaked) per call
    native._CONTEXT.num_threads = 1
    np.testing.assert_array_equal(f(x)[0], first[0])


def test_concurrent_callers_get_the_same_results(three_threads):
    f, g = _threaded("pool_a"), _threaded("pool_b")
    xs = [np.random.default_rng(k).normal(size=SHAPE).astype(np.float32) for k in range(4)]
    want = [f(x)[0] for x in xs]
    got = {}

    def work(k):
        fn = f if k % 2 else g
        got[k] = [fn(xs[k])[0] for _ in range(3)]
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    for k in range(4):
        for r in got[k]:
            np.testing.assert_array_equal(r, want[k])


SCRIPT = r"""
import os, sys
import numpy as np
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime import native
from tracegrad.runtime.native import NativeFunction
native._CONTEXT.num_threads = 3
b = Builder(name="fork_sum")
x = b.param(TensorType("f32", (1 << 20,)), "x")
f = NativeFunction(b.ret(b.sum(b.tanh(x), axes=(0,))))
xv = np.random.default_rng(0).normal(size=1 << 20).astype(np.float32)
want = f(xv)[0]
pid = os.fork()
if pid == 0:
    ok = all(np.array_equal(f(xv)[0], want) for _ in range(3))
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, status
assert np.array_equal(f(xv)[0], want)
print("done")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_and_interpreter_exit():
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "done"
