"""The MXNet autograd tutorial, run with `import tracegrad as mx` in place of mxnet.

Each section prints what the tutorial says it should: y = 2x² gives 4x; the head-gradient
example gives 192; the control-flow function's gradient is 2x, 3x², 4x³ and 0 on its four
segments; Dropout is active only while recording.
"""
import math

import tracegrad as mx
from tracegrad import autograd

# y = 2 x^2: dy/dx = 4x
x = mx.nd.array([1, 2, 3])
x.attach_grad()
with autograd.record():
    y = 2 * x ** 2
y.backward()
print("dy/dx of 2x^2 at [1, 2, 3]:", x.grad)

# training vs inference mode with Dropout
dropout = mx.gluon.nn.Dropout(rate=0.5) if hasattr(mx, "gluon") else None
data = mx.nd.ones(shape=(3, 3))
output = mx.nd.Dropout(data, p=0.5)
print("is_training:", autograd.is_training(), output)
with autograd.record():
    output = mx.nd.Dropout(data, p=0.5)
    is_training = autograd.is_training()
print("is_training:", is_training, output)


# Python control flow
def f(x):
    y = x  # going to change y but still want to use x
    if x < 0.75:  # variable num_loops because it depends on x
        num_loops = math.floor(1 / (1 - x.asscalar()))
        for i in range(num_loops):
            y = y * x  # increase polynomial degree
    else:  # otherwise flatline
        y = y * 0
    return y


def get_grad(f, x):
    x.attach_grad()
    with autograd.record():
        y = f(x)
    y.backward()
    return x.grad


xs = mx.nd.arange(0.0, 1.0, step=0.1)
grads = [get_grad(f, x).asscalar() for x in xs]
print("gradients of the control-flow f:", [round(float(g), 4) for g in grads])

# custom head gradients: y = x^3 in tracegrad, z = y^2 in numpy
x = mx.nd.array([2, ])
x.attach_grad()
with autograd.record():
    y = x ** 3
y_np = y.asnumpy()
z_np = y_np ** 2
dzdy_np = 2 * y_np
dzdy = mx.nd.array(dzdy_np)
y.backward(dzdy)
print("dz/dx at x = 2:", x.grad)

# what tracegrad records: the typed SSA IR of the forward and its adjoint
fn = mx.make_ir(lambda x, w: mx.nd.sum(mx.nd.tanh(mx.nd.dot(x, w))))(
    mx.nd.ones((4, 3)), mx.nd.ones((3, 2)))
print(fn)
print(mx.ir.vjp(fn, wrt=[1]))
