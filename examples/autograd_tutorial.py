"""MXNet's autograd tutorial, section by section, with `import tracegrad as mx`.

Each section prints what the tutorial says it should: the regression's layer-0 gradients;
Dropout active only while recording; layer 0 frozen with grad_req = 'null'; y = 2x² giving
4x; the control-flow function's gradient 2x, 3x², 4x³ and 0 on its four segments (1.08 at
0.6); the head-gradient example giving 192. Last, what tracegrad recorded: the IR and its
adjoint, and the same network hybridized (compiled to native code).
"""
import math

import tracegrad as mx
from tracegrad import autograd
from tracegrad.gluon.loss import L2Loss
from tracegrad.gluon.nn import Dense, HybridSequential

# ---- a regression model: net, loss, dummy data
net = HybridSequential()
net.add(Dense(units=3))
net.add(Dense(units=1))
net.initialize()
loss_fn = L2Loss()
x = mx.nd.array([[0.3, 0.5]])
y = mx.nd.array([[1.5]])

with autograd.record():
    y_hat = net(x)
    loss = loss_fn(y_hat, y)
loss.backward()
print("layer 0 weight gradient:", net[0].weight.grad())

# ---- training vs inference mode
dropout = mx.gluon.nn.Dropout(rate=0.5)
data = mx.nd.ones(shape=(3, 3))
output = dropout(data)
is_training = autograd.is_training()
print("is_training:", is_training, output)
with autograd.record():
    output = dropout(data)
    is_training = autograd.is_training()
print("is_training:", is_training, output)

# ---- skipping parameter gradients: freeze layer 0
net[0].weight.grad_req = "null"
with autograd.record():
    loss = loss_fn(net(x), y)
loss.backward()
print("layer 1 weight gradient with layer 0 frozen:", net[1].weight.grad())

# ---- non-parameter gradients: y = 2x^2, dy/dx = 4x
x = mx.nd.array([1, 2, 3])
x.attach_grad()
with autograd.record():
    y = 2 * x ** 2
y.backward()
print("dy/dx of 2x^2 at [1, 2, 3]:", x.grad)


# ---- Python control flow
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

# the same f compiled: each branch and loop count it meets is traced once and runs natively
jf = mx.jit(f)
compiled = [get_grad(jf, x).asscalar() for x in xs]
mx.stats(reset=True)
again = [get_grad(jf, x).asscalar() for x in xs]
s = mx.stats()
print("compiled f, second pass:", [round(float(g), 4) for g in again],
      f"traces {s['traces']}, eager fallbacks {s['eager_fallbacks']}")

# ---- custom head gradients: y = x^3 in tracegrad, z = y^2 in numpy, dz/dx = 6x^5 = 192
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

# ---- what tracegrad recorded: typed SSA IR, its adjoint (itself IR), and native code
fn = mx.make_ir(lambda x, w: mx.nd.sum(mx.nd.tanh(mx.nd.dot(x, w))))(
    mx.nd.ones((4, 3)), mx.nd.ones((3, 2)))
print(fn)
print(mx.ir.vjp(fn, wrt=[1]))
x = mx.nd.array([[0.3, 0.5]])
eager = net(x).asnumpy()
net.hybridize()
print("hybridized output:", net(x).asnumpy(), "eager:", eager)
print(mx.stats())
