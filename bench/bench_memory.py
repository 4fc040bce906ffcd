"""Memory a program holds while it makes nets in a loop (a sweep, a test file), with Python's
cyclic garbage collector off: what a dropped net leaves behind until a collection happens.

Each mode runs in a fresh process: a new Conv2D(64, 3) + BatchNorm + MaxPool2D net per
iteration on one 8x64x128x128 input (33.5 MB), called once, then dropped; the resident set
size after each iteration and after a final gc.collect():

  e    eager, outside record()
  h    hybridized, outside record()
  er   eager, recorded, backward
  hr   hybridized, recorded, backward

    python bench/bench_memory.py [--iterations N]

Anything a net leaves in reference cycles (a compiled entry's scratch arena, a trace's or a
backward's recorded arrays) shows as growth per iteration that the final collection takes
back. Before session 31: h 2.3 GB and er 1.4 GB after 4 iterations.
"""
import json
import os
import subprocess
import sys

CHILD = r'''
import gc, json, sys
import numpy as np
import tracegrad as mx
from tracegrad import autograd, gluon, nd


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


mode, iterations = sys.argv[1], int(sys.argv[2])
x = nd.array(np.random.RandomState(0).rand(8, 64, 128, 128).astype(np.float32))
gc.disable()
seen = []
for _ in range(iterations):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(64, 3, padding=1), gluon.nn.BatchNorm(), gluon.nn.MaxPool2D())
    net.initialize()
    if "h" in mode:
        net.hybridize()
    if "r" in mode:
        with autograd.record():
            y = net(x)
        y.backward()
    else:
        y = net(x)
    del net, y
    seen.append(rss_mb())
gc.collect()
print(json.dumps({"rss": seen, "after_gc": rss_mb()}))
'''


def main():
    iterations = 4
    if "--iterations" in sys.argv:
        iterations = int(sys.argv[sys.argv.index("--iterations") + 1])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    print(f"RSS (MB) with the collector off, a new net per iteration, {iterations} iterations")
    print(f"  {'mode':5s} {'first':>8s} {'last':>8s} {'after gc':>9s}")
    for mode in ("e", "h", "er", "hr"):
        r = subprocess.run([sys.executable, "-c", CHILD, mode, str(iterations)], env=env,
                           capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(r.stderr[-3000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"  {mode:5s} {out['rss'][0]:8.0f} {out['rss'][-1]:8.0f} {out['after_gc']:9.0f}")


if __name__ == "__main__":
    main()
