"""Eager per-op overhead on small arrays (issue 8: it may not grow): `a * b` unrecorded and
recorded, `nd.sum(x, axis=0)`, and the ops a loss applies to a batch-64 label every step, in
microseconds per call (best of several timeit repeats).

    python bench/bench_eager_overhead.py                 # this checkout
    python bench/bench_eager_overhead.py /path/to/other  # also another checkout, same run

Each checkout is timed in its own subprocess (so each imports its own tracegrad), and the
two are interleaved round by round, so drift on a noisy machine hits both alike. The clock is
the process's CPU time (time.process_time): on a shared machine, time spent waiting for a core
is not the op's.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time, timeit
sys.path.insert(0, sys.argv[1])
import tracegrad as mx
from tracegrad import autograd, nd
a = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
b = nd.array([[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]])
x = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
w = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
w.attach_grad()

def mul():
    a * b

def mul_recorded():
    with autograd.record():
        w * b

def mul_recorded_op():  # the op alone, inside one record() scope
    w * b

def total():
    nd.sum(x, axis=0)

out = {}
for name, fn in [("a * b", mul), ("a * b recorded (op only)", mul_recorded_op),
                 ("a * b recorded (with record())", mul_recorded),
                 ("nd.sum(x, axis=0)", total)]:
    n = 20000
    fn()
    if name == "a * b recorded (op only)":
        with autograd.record():
            best = min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n
    else:
        best = min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n
    out[name] = best * 1e6

# what a loss does to a batch-64 label every step (float labels, as data loaders give them):
# the cast, one_hot, pick (its clamped one_hot), a clip, a reshape to (N, 1)
y = nd.array([float(k % 10) for k in range(64)])
yi = y.astype("int64")
p = nd.array([[0.1 * j for j in range(10)] for _ in range(64)])
for name, fn in [("label y.astype('int64')", lambda: y.astype("int64")),
                 ("label nd.one_hot(yi, 10)", lambda: nd.one_hot(yi, 10)),
                 ("label nd.pick(p, y)", lambda: nd.pick(p, y)),
                 ("label nd.clip(y, 0, 9)", lambda: nd.clip(y, 0, 9)),
                 ("label y.reshape((-1, 1))", lambda: y.reshape((-1, 1))),
                 ("label y.expand_dims(1)", lambda: y.expand_dims(1))]:
    n = 20000
    fn()
    out[name] = min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n * 1e6

# a step capture learned, used and then left behind (a training phase that ended, followed by
# eager code of other shapes): per-op cost with that plan around
v = nd.array([1.0, 2.0, 3.0])
v.attach_grad()
for _ in range(6):
    with autograd.record():
        s = (v * 2).sum()
    s.backward()
for k in range(12):
    with autograd.record():
        s = v
        for _ in range(k + 2):
            s = nd.exp(s)
        s = s.sum()
    s.backward()
for name, fn in [("a * b (capture plan left behind)", mul),
                 ("a * b recorded (capture plan left behind)", mul_recorded)]:
    n = 20000
    fn()
    out[name] = min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n * 1e6
print(json.dumps(out))
"""


def measure(root):
    res = subprocess.run([sys.executable, "-c", CHILD, root], capture_output=True, text=True,
                         check=True, cwd=root)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    roots = [("this checkout", HERE)] + [(p, os.path.abspath(p)) for p in sys.argv[1:]]
    best = {}
    for _ in range(3):  # interleaved rounds; keep each figure's best
        for label, root in roots:
            for k, v in measure(root).items():
                best.setdefault(label, {})
                best[label][k] = min(v, best[label].get(k, v))
    names = list(next(iter(best.values())))
    print(f"{'eager per-op overhead (us/call, best of 3 runs)':48s}" +
          "".join(f"{label[-24:]:>26s}" for label, _ in roots))
    for n in names:
        print(f"  {n:46s}" + "".join(f"{best[label][n]:26.2f}" for label, _ in roots))


if __name__ == "__main__":
    main()
