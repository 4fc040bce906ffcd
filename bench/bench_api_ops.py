"""The operators added for MXNet breadth, compiled (jit) and eager, next to numpy/scipy by hand
in one interleaved run: transcendentals on 1M float32 elements, sort/topk along rows, cumsum,
pad (reflect), gather_nd, and clip_global_norm over an LSTM language model's gradients.

    python bench/bench_api_ops.py
"""
import os
import sys

import numpy as np
import scipy.special

sys.path.insert(0, os.path.dirname(__file__))
from common import compare, report  # noqa: E402

from tracegrad import nd  # noqa: E402
from tracegrad.gluon.utils import clip_global_norm  # noqa: E402
from tracegrad.tracing.jit import jit  # noqa: E402

RNG = np.random.default_rng(0)


def case(title, numpy_fn, nd_fn, *arrays):
    xs = [nd.array(a, dtype=a.dtype) for a in arrays]
    compiled = jit(nd_fn)
    compiled(*xs)
    rows = compare([("numpy by hand", lambda: numpy_fn(*arrays)),
                    ("tracegrad eager", lambda: nd_fn(*xs).wait_to_read()),
                    ("tracegrad jit", lambda: compiled(*xs).wait_to_read())])
    report(title, rows, baseline="numpy by hand")


def main():
    u = RNG.uniform(-0.99, 0.99, 1_000_000).astype(np.float32)
    case("erf, 1M f32", scipy.special.erf, nd.erf, u)
    case("erfinv, 1M f32", scipy.special.erfinv, nd.erfinv, u)
    case("arctan, 1M f32", np.arctan, nd.arctan, u * 10)
    case("sinh + cosh, 1M f32", lambda a: np.sinh(a) + np.cosh(a),
         lambda a: nd.sinh(a) + nd.cosh(a), u * 5)
    rows = RNG.standard_normal((64, 2000)).astype(np.float32)
    case("sort rows, 64x2000 f32", lambda a: np.sort(a, axis=1, kind="stable"),
         lambda a: nd.sort(a, axis=1), rows)
    case("topk k=5 values, 64x2000 f32",
         lambda a: np.take_along_axis(a, np.argsort(-a, axis=1, kind="stable")[:, :5], 1),
         lambda a: nd.topk(a, k=5, ret_typ="value"), rows)
    case("cumsum rows, 64x2000 f32", lambda a: np.cumsum(a, axis=1),
         lambda a: nd.cumsum(a, axis=1), rows)
    img = RNG.standard_normal((32, 16, 32, 32)).astype(np.float32)
    case("pad reflect 1, 32x16x32x32", lambda a: np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)),
                                                        mode="reflect"),
         lambda a: nd.pad(a, mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 1, 1)), img)
    table = RNG.standard_normal((2000, 128)).astype(np.float32)
    idx = RNG.integers(0, 2000, (1, 35 * 32))
    case("gather_nd 1120 rows of 2000x128", lambda t: t[idx[0]],
         lambda t: nd.gather_nd(t, nd.array(idx)), table)
    shapes = [(2000, 128), (1024, 128), (1024, 256), (1024,), (1024,), (2000, 256), (2000,)]
    grads = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    nds = [nd.array(g) for g in grads]

    def by_hand():
        n = np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
        s = min(1e9 / (n + 1e-8), 1.0)
        for g in grads:
            g *= s
    report("clip_global_norm, LSTM LM gradients (7 arrays, 0.9M floats)",
           compare([("numpy by hand", by_hand),
                    ("tracegrad", lambda: clip_global_norm(nds, 1e9))]),
           baseline="numpy by hand")


if __name__ == "__main__":
    main()
