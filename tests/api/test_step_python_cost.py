"""The Python a captured, fused training step runs (the usual loop: hybridized net, loss
outside, backward, trainer.step) must not grow with the number of parameters: the per-
parameter checks (weights and gradients unshared, optimizer states unshared, the Binding
still describing the parameters, grad_req unchanged, the update counts) are C loops over
flat tuples. Counted in bytecodes executed, which is deterministic, not in time."""
import sys

import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

pytestmark = pytest.mark.usefixtures("fresh_capture")


def _bytecodes_per_step(layers, optimizer, steps=5):
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    for _ in range(layers - 1):
        net.add(gluon.nn.Dense(8, activation="relu"))
    net.add(gluon.nn.Dense(1))
    net.initialize()
    net.hybridize()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": 0.01})
    x, y = nd.ones((2, 8)), nd.ones((2, 1))

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(2)

    for _ in range(30):
        step()
    before = mx.stats()["fused_update_steps"]
    count = [0]

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            count[0] += 1
        return tracer

    sys.settrace(tracer)
    try:
        for _ in range(steps):
            step()
    finally:
        sys.settrace(None)
    assert mx.stats()["fused_update_steps"] - before == steps   # (each step one fused call)
    return count[0] / steps


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_fused_step_s_python_does_not_grow_with_its_parameters(optimizer):
    two = _bytecodes_per_step(1, optimizer)          # 2 parameters
    thirty_two = _bytecodes_per_step(16, optimizer)  # 32 parameters
    assert thirty_two <= two * 1.1, (two, thirty_two)
