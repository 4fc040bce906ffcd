"""Wall time of a model-zoo net's first hybridized training step, the way a user meets it:
trace, compile (or load from the disk cache), forward, backward, trainer.step, loss read.

    OPENBLAS_NUM_THREADS=1 python bench/bench_first_step.py [net] [batch] [size]

Defaults: resnet50_v1 16 224. Run it twice with the same TRACEGRAD_CACHE_DIR for a warm
cache (the second run loads every object: no LLVM), with a fresh one for a cold start;
compare trees with PYTHONPATH=<tree>. bench_compile.py splits the cold time by stage at a
smaller size. Reports `trace_values_computed` (stats()): values the trace computed because
something read them (tracing/lazy_values.py); 0 for a net whose forward reads nothing.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tracegrad as mx  # noqa: E402
from tracegrad import autograd, gluon, nd  # noqa: E402
from tracegrad.gluon.model_zoo import vision  # noqa: E402


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "resnet50_v1"
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 224
    mx.random.seed(0)
    net = vision.get_model(name, classes=10)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = nd.array(np.random.RandomState(0).rand(batch, 3, size, size).astype("float32"))
    y = nd.array(np.arange(batch) % 10)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    t0 = time.perf_counter()
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    trainer.step(batch)
    value = float(loss.mean().asscalar())
    took = time.perf_counter() - t0
    print(f"{name} batch {batch} at {size}: first training step {took:.2f} s (loss {value:.6f}, "
          f"trace values computed {mx.stats().get('trace_values_computed', '-')})")


if __name__ == "__main__":
    main()
