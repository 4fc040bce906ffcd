"""Large outputs of a compiled call reuse an array of an earlier call only when nothing else
references it: no live array ever aliases a new result."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime import buffers
from tracegrad.runtime.native import NativeFunction

N = 1 << 18          # 1 MiB of f32: pooled (buffers.POOL_MIN_BYTES)


def _chain():
    b = Builder(name="pool_chain")
    p = b.param(TensorType("f32", (N,)), "x")
    return NativeFunction(b.ret(b.add(b.mul(p, 2.0), 1.0)))


def test_a_released_output_is_reused_and_a_referenced_one_never():
    f = _chain()
    x = np.arange(N, dtype=np.float32)
    r1 = f(x)[0]
    addr1 = r1.ctypes.data
    r2 = f(x + 1)[0]
    assert r2.ctypes.data != addr1                 # r1 is alive: not handed out again
    np.testing.assert_array_equal(r1, 2 * x + 1)
    del r1
    r3 = f(x + 2)[0]
    assert r3.ctypes.data == addr1                 # nothing held it: reused
    np.testing.assert_array_equal(r3, 2 * (x + 2) + 1)
    view = r3[::2]                                 # a view keeps its base referenced
    del r3
    r4 = f(x)[0]
    assert r4.ctypes.data != addr1
    np.testing.assert_array_equal(view, (2 * (x + 2) + 1)[::2])
    mem = memoryview(r4)                           # so does a buffer export
    a4 = r4.ctypes.data
    del r4, r2
    r5 = f(x)[0]
    assert r5.ctypes.data != a4
    assert np.frombuffer(mem, np.float32)[3] == 7
    assert sum(buffers.pool_refs(a) for a in (r5, view.base)) <= 2


def test_small_outputs_are_not_pooled():
    b = Builder(name="small")
    p = b.param(TensorType("f32", (16,)), "x")
    f = NativeFunction(b.ret(b.mul(p, 2.0)))
    r = f(np.ones(16, np.float32))[0]
    assert buffers.pool_refs(r) == 0 and f._pools == [None]


def test_gradients_alternate_between_pooled_buffers_and_kept_outputs_stay_intact():
    f = mx.jit(lambda x: nd.tanh(x) * x)           # a large output, backward from it
    rng = np.random.default_rng(0)
    x = nd.array(rng.normal(size=N).astype(np.float32))
    x.attach_grad()
    seen, kept, want_kept, grad = set(), None, None, None
    for step in range(8):
        xv = rng.normal(size=N).astype(np.float32)
        x[:] = xv
        with autograd.record():
            y = f(x)
        y.backward()
        t = np.tanh(xv.astype(np.float64))
        np.testing.assert_allclose(x.grad.asnumpy(), (1 - t * t) * xv + t, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(y.asnumpy(), t * xv, rtol=1e-5, atol=1e-6)
        if step >= 3:                              # the fused step runs: grads are pooled
            seen.add(x.grad._data.ctypes.data)
        if step == 4:
            kept, want_kept = y, y.asnumpy().copy()    # the user keeps one output
            grad = x.grad                          # and the gradient array (MXNet: it is
    assert len(seen) <= 3, seen                    # the buffer later backwards write)
    np.testing.assert_array_equal(kept.asnumpy(), want_kept)
    np.testing.assert_array_equal(grad.asnumpy(), x.grad.asnumpy())
