"""Fuzz Python control flow under jit: random programs that branch and loop on array values,
compiled vs eager, values and gradients, over many calls with inputs that flip the branches.

    python scripts/fuzz_guards.py [seconds]      (a script, not a CI test: it runs long)
"""
import math
import sys
import time

import numpy as np

import tracegrad as mx
from tracegrad import autograd, nd

UNARY = [nd.tanh, nd.sin, lambda a: a * a, lambda a: nd.exp(nd.clip(a, -3, 3)), nd.relu]


def make_program(rs, depth=0):
    """A nested program: a list of steps over the variables x, w, h."""
    steps = []
    for _ in range(rs.randint(1, 4)):
        kind = rs.choice(["op", "if", "loop", "scalar", "while", "sif", "sloop", "foreach"]
                         if depth < 2 else ["op", "scalar", "while", "foreach"])
        if kind == "op":
            steps.append(("op", rs.randint(len(UNARY)), rs.choice(["x", "w"])))
        elif kind == "if":
            steps.append(("if", float(rs.randn()), make_program(rs, depth + 1),
                          make_program(rs, depth + 1)))
        elif kind == "loop":
            steps.append(("loop", make_program(rs, depth + 1)))
        elif kind == "while":
            steps.append(("while", float(rs.randn() * 2), rs.randint(len(UNARY))))
        elif kind == "foreach":
            steps.append(("foreach", rs.randint(len(UNARY)), int(rs.choice([3, 12]))))
        elif kind == "sif":  # a comparison on scalar arithmetic (a traced scalar)
            steps.append(("sif", float(rs.randn()), make_program(rs, depth + 1),
                          make_program(rs, depth + 1)))
        elif kind == "sloop":  # a loop count from floor() of scalar arithmetic
            steps.append(("sloop", float(rs.uniform(0.5, 2.0)), make_program(rs, depth + 1)))
        else:
            steps.append(("scalar",))
    return steps


def run(prog, h, x, w):
    for step in prog:
        if step[0] == "op":
            h = UNARY[step[1]](h) * (x if step[2] == "x" else w) + 0.1
        elif step[0] == "if":
            h = run(step[2] if nd.sum(h) > step[1] else step[3], h, x, w)
        elif step[0] == "loop":
            for _ in range(int(abs(nd.sum(x).asscalar())) % 3):
                h = run(step[1], h, x, w)
        elif step[0] == "foreach":
            k, n = step[1], step[2]
            seq = nd.stack(*[x * (0.1 * i) for i in range(n)], axis=0)
            outs, h = nd.contrib.foreach(lambda xi, s: (UNARY[k](s) * xi, s * 0.5 + xi * w),
                                         seq, h)
            h = h + nd.sum(outs, axis=0) * 0.1
        elif step[0] == "sif":
            s = nd.mean(h).asscalar() * 2 - 0.5
            h = run(step[2] if s / 1.5 > step[1] else step[3], h, x, w)
        elif step[0] == "sloop":
            for _ in range(math.floor(abs(nd.sum(x).asscalar()) * step[1]) % 3):
                h = run(step[2], h, x, w)
        elif step[0] == "while":
            k = step[2]
            _, h = nd.contrib.while_loop(lambda h: nd.sum(h) < step[1],
                                         lambda h: (h * 2, UNARY[k](h) * w + 0.3), h,
                                         max_iterations=3)
        else:
            h = h * float(np.round(nd.max(w).asscalar(), 1))
    return h


def value_and_grads(fn, x, w):
    x, w = x.copy(), w.copy()
    x.attach_grad()
    w.attach_grad()
    with autograd.record():
        y = nd.sum(fn(x, w))
    y.backward()
    return y.asscalar(), x.grad.asnumpy(), w.grad.asnumpy()


def main(seconds=60.0):
    rs = np.random.RandomState(0)
    end, programs, calls = time.time() + seconds, 0, 0
    while time.time() < end:
        prog = make_program(rs)

        def f(x, w, prog=prog):
            return run(prog, x, x, w)
        jf = mx.jit(f, max_variants=64)
        for _ in range(12):
            x = nd.array(rs.randn(3) * 0.7, dtype="float64")
            w = nd.array(rs.choice([0.5, 1.0, 1.5], size=3), dtype="float64")
            want = value_and_grads(f, x, w)
            got = value_and_grads(jf, x, w)
            for a, b in zip(got, want):
                if not np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True):
                    print("MISMATCH", prog, x, w, got, want)
                    print(jf.explain())
                    sys.exit(1)
            calls += 1
        programs += 1
    print(f"ok: {programs} programs, {calls} calls compared; {mx.stats()}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
