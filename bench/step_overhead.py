"""Where the Python time of a captured step goes: the tiny regression's usual step (Dense(1) on a
1x2 input, L2 loss outside the net, SGD), warmed until capture fused it, then

1. the median time of each user call of the step (record() entered, net(x), loss, record()
   left, backward(), trainer.step) over many steps, and the step's median;
2. the bytecodes one steady step executes, per function (generated straight-line code shows
   as '<tracegrad straight-line NAME>'), and the frames it enters.

    python bench/step_overhead.py [--eager] [--steps N]

The native call itself takes ~0.2 us of the step (bench_step.py's split line). The bytecode
count is stable across machines and runs; the times drift with the machine's load.
"""
import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tracegrad as mx  # noqa: E402
from tracegrad import autograd, gluon, nd  # noqa: E402


def tiny(hybridize):
    mx.random.seed(0)
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    if hybridize:
        net.hybridize()
    return (net, gluon.loss.L2Loss(),
            gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01}),
            nd.array([[0.3, 0.5]]), nd.array([[1.5]]))


def per_call(net, loss_fn, trainer, x, y, steps, record=autograd.record):
    """({call: median seconds}, the step's median), timing each user call of the step in
    place (the net's output held by nothing once the loss has it, as in the usual step)."""
    clock = time.perf_counter_ns
    names = ("record() entered", "net(x)", "loss_fn(out, y)", "record() left", "backward()",
             "trainer.step()")
    times = [[] for _ in names]
    whole = []
    for _ in range(steps):
        t0 = clock()
        scope = record()
        scope.__enter__()
        t1 = clock()
        out = net(x)
        t2 = clock()
        loss = loss_fn(out, y)
        t3 = clock()
        del out
        scope.__exit__(None, None, None)
        t4 = clock()
        loss.backward()
        t5 = clock()
        trainer.step(1)
        t6 = clock()
        for k, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5),
                                    (t5, t6))):
            times[k].append(b - a)
        whole.append(t6 - t0)
    return {n: np.median(t) * 1e-9 for n, t in zip(names, times)}, np.median(whole) * 1e-9


def bytecodes(step):
    """(Counter of (file, function) -> bytecodes, frames entered) for one call of step."""
    counts, frames = collections.Counter(), [0]

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "call":
            frames[0] += 1
        elif event == "opcode":
            counts[(os.path.basename(frame.f_code.co_filename), frame.f_code.co_name)] += 1
        return tracer
    sys.settrace(tracer)
    try:
        step()
    finally:
        sys.settrace(None)
    return counts, frames[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eager", action="store_true", help="the net not hybridized")
    ap.add_argument("--steps", type=int, default=20000)
    args = ap.parse_args()
    net, loss_fn, trainer, x, y = tiny(not args.eager)

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(1)
    for _ in range(300):
        step()
    before = mx.stats()
    calls, whole = per_call(net, loss_fn, trainer, x, y, args.steps)
    after = mx.stats()
    fused = after["fused_update_steps"] - before["fused_update_steps"]
    print(f"tiny usual step, {'eager' if args.eager else 'hybridized'} net: {fused} of "
          f"{args.steps} steps fused into one native call")
    print(f"  step median {whole * 1e6:.2f} us; per call:")
    for name, t in calls.items():
        print(f"    {name:<18} {t * 1e6:6.2f} us")
    counts, frames = bytecodes(step)
    print(f"  one steady step: {sum(counts.values())} bytecodes in {frames} Python frames")
    for (fname, fn), n in counts.most_common(20):
        print(f"    {n:5d}  {fn} ({fname})")


if __name__ == "__main__":
    main()
