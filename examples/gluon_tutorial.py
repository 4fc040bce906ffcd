"""The Gluon parts of MXNet's autograd tutorial, run with `import tracegrad as mx`.

Prints the first layer's gradients, shows Dropout active only while recording, and freezes
layer 0 with grad_req = 'null' while the other layers still get gradients.
"""
import tracegrad as mx
from tracegrad import autograd
from tracegrad.gluon.loss import L2Loss
from tracegrad.gluon.nn import Dense, HybridSequential

# Define network
net = HybridSequential()
net.add(Dense(units=3))
net.add(Dense(units=1))
net.initialize()

# Define loss
loss_fn = L2Loss()

# Create dummy data
x = mx.nd.array([[0.3, 0.5]])
y = mx.nd.array([[1.5]])

with autograd.record():
    y_hat = net(x)
    loss = loss_fn(y_hat, y)
loss.backward()
print("layer 0 weight gradient:", net[0].weight.grad())

# training vs inference mode
dropout = mx.gluon.nn.Dropout(rate=0.5)
data = mx.nd.ones(shape=(3, 3))
output = dropout(data)
print("is_training:", autograd.is_training(), output)
with autograd.record():
    output = dropout(data)
    is_training = autograd.is_training()
print("is_training:", is_training, output)

# freeze layer 0
net[0].weight.grad_req = "null"
with autograd.record():
    loss = loss_fn(net(x), y)
loss.backward()
print("layer 1 weight gradient (layer 0 frozen):", net[1].weight.grad())
try:
    net[0].weight.grad()
except RuntimeError as e:
    print("layer 0:", e)

# the same network, hybridized: identical outputs
before = net(x).asnumpy()
net.hybridize()
after = net(x).asnumpy()
print("hybridized output matches eager (rtol 1e-5):", bool(abs(after - before).max()
                                                       <= 1e-5 * abs(before).max()))
