"""Every stage tracegrad goes through, printed: the traced IR of a function, its adjoint, the
optimized training graph, the LLVM IR of the compiled code, and the counters.

    python examples/print_ir.py
"""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, nd


def loss_fn(x, w, b, label):
    hidden = nd.tanh(nd.dot(x, w, transpose_b=True) + b)
    return nd.mean(nd.square(hidden - label))


rs = np.random.RandomState(0)
x, label = nd.array(rs.randn(4, 3).astype("f4")), nd.array(rs.randn(4, 2).astype("f4"))
w, b = nd.array(rs.randn(2, 3).astype("f4")), nd.zeros((2,))

print("== traced (make_ir)")
fn = mx.make_ir(loss_fn)(x, w, b, label)
print(fn)
print("\n== adjoint (ir.vjp with respect to w and b)")
print(mx.ir.vjp(fn, wrt=[1, 2]))

print("\n== compiled with tracegrad.jit, under autograd.record()")
jitted = mx.jit(loss_fn)
w.attach_grad()
b.attach_grad()
with autograd.record():
    loss = jitted(x, w, b, label)
loss.backward()
print("loss", loss.asscalar(), "dw", w.grad.asnumpy().ravel()[:3], "...")
print(jitted.ir("optimized"))
print(jitted.ir("adjoint"))
print("\n== LLVM IR of the training forward (first 25 lines)")
print("\n".join(jitted.llvm_ir().splitlines()[:25]))
print("\n== graph (Graphviz DOT)")
print(mx.ir.to_dot(fn))
print("\n== counters", mx.stats())
