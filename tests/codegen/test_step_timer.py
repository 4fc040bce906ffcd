"""TRACEGRAD_STEP_TIMES=1: per-step cycle counters in tg_entry (codegen/step_timer.py); off by
default, and then nothing of them is in the generated code."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tracegrad.codegen import step_timer
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def small_fn():
    b = Builder(name="timed")
    x = b.param(TensorType("f32", (64, 32)), "x")
    w = b.param(TensorType("f32", (16, 32)), "w")
    h = b.relu(b.matmul(x, w, transpose_b=True))
    return b.ret(h, b.sum(b.exp(h), axes=(1,)))


def test_off_by_default_emits_nothing():
    """(This process runs with the flag as its environment says; the suite runs without.)"""
    f = NativeFunction(small_fn())
    assert (step_timer.GLOBAL in f.module.llvm_ir) == step_timer.ENABLED
    assert ("readcyclecounter" in f.module.llvm_ir) == step_timer.ENABLED
    if not step_timer.ENABLED:
        with pytest.raises(RuntimeError, match="TRACEGRAD_STEP_TIMES=1"):
            step_timer.step_times(f.module)


CHILD = """
import numpy as np
from tracegrad.codegen import step_timer
from tracegrad.runtime.native import NativeFunction
import test_step_timer as t
f = NativeFunction(t.small_fn())
x, w = np.ones((64, 32), np.float32), np.ones((16, 32), np.float32)
for _ in range(5):
    h, s = f(x, w)
assert h[0, 0] == 32 and np.isclose(s[0], 16 * np.exp(np.float32(32)), rtol=1e-5)
times = step_timer.step_times(f.module)
assert [k for _, k, _, _ in times] == [s.kind for s, _ in f.module.plan.steps], times
assert times[0][2] == ["matmul"] and all(sec > 0 for *_, sec in times), times
assert sum(sec for *_, sec in times) < 1.0, times
step_timer.reset(f.module)
assert all(sec == 0 for *_, sec in step_timer.step_times(f.module))
print("ok", len(times))
"""


def test_counters_when_asked():
    env = dict(os.environ, TRACEGRAD_STEP_TIMES="1",
               PYTHONPATH=os.pathsep.join([ROOT, os.path.dirname(__file__)]))
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok ")
