"""Data-parallel cost on this machine: 2 MPI workers, MLP 784-256-256-10 at batch 512 per
worker, and the allreduce bandwidth for 1 MB and 100 MB buffers.

    python bench/bench_distributed.py            (starts itself under mpiexec -n 2)
    mpiexec -n 4 python bench/bench_distributed.py

The communication share of a step is the time inside the gradient allreduce over the time of
the whole step (forward, backward, allreduce, update). A barrier before each allreduce keeps
one worker's lateness (this machine is shared) out of the transfer time; the share without it
is printed too. Bandwidths: algorithm bandwidth = bytes / time; bus bandwidth = 2(N-1)/N x
bytes / time, the figure the ring-allreduce cost model in docs/distributed.md uses.
"""
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def relaunch():
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    env = dict(os.environ, PYTHONPATH=ROOT, TRACEGRAD_BENCH_CHILD="1")
    # two workers on two cores: one BLAS thread each, or their spinning threads steal the
    # cores from each other (and from the allreduce's polling)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(subprocess.call([mpiexec, "-n", "2", sys.executable, *sys.argv], env=env))


def step_cost(kv, steps=30, warmup=5):
    import tracegrad as mx
    from tracegrad import autograd, gluon, nd
    from tracegrad.gluon import nn
    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Dense(256, activation="relu", in_units=784),
            nn.Dense(256, activation="relu", in_units=256), nn.Dense(10, in_units=256))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01}, kvstore=kv)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rs = np.random.RandomState(kv.rank)
    x = nd.array(rs.standard_normal((512, 784)).astype(np.float32))
    y = nd.array(rs.randint(0, 10, 512).astype(np.float32))
    totals, comms, skewed = [], [], []
    for i in range(warmup + steps):
        kv._barrier()
        t0 = time.perf_counter()
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        t1 = time.perf_counter()
        kv._barrier()           # not timed: waiting for the slower worker
        t2 = time.perf_counter()
        c0 = kv.comm_seconds
        trainer.step(512 * kv.num_workers)
        t3 = time.perf_counter()
        if i >= warmup:
            comm = kv.comm_seconds - c0
            totals.append((t1 - t0) + (t3 - t2))
            comms.append(comm)
            skewed.append(t2 - t1 + comm)
    grad_bytes = sum(p.data().asnumpy().nbytes for p in net.collect_params().values())
    return statistics.median(totals), statistics.median(comms), statistics.median(skewed), \
        grad_bytes, min(totals), min(comms)


def bandwidth(kv, nbytes, repeat):
    a = np.ones(nbytes // 4, np.float32)
    buckets = kv.layout([(a.shape, a.dtype)])
    times = []
    for _ in range(3):  # warm-up
        kv.reduce_buckets(buckets, [a])
    for _ in range(repeat):
        kv._barrier()
        t0 = time.perf_counter()
        kv.reduce_buckets(buckets, [a])
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    n = kv.num_workers
    return t, nbytes / t, 2 * (n - 1) / n * nbytes / t


def main():
    import tracegrad as mx
    kv = mx.kv.create("dist_sync")
    total, comm, skewed, grad_bytes, best_total, best_comm = step_cost(kv)
    rows = [bandwidth(kv, 2 ** 20, 30), bandwidth(kv, 100 * 2 ** 20, 5)]
    lat = bandwidth(kv, 8, 200)[0]
    if kv.rank:
        return
    n = kv.num_workers
    print(f"{n} workers, MLP 784-256-256-10, batch 512 per worker, gradients "
          f"{grad_bytes / 1e6:.2f} MB in one bucket")
    print(f"  step {total * 1e3:.2f} ms, of which allreduce {comm * 1e3:.3f} ms = "
          f"{100 * comm / total:.1f}% (with the other worker's lateness: "
          f"{100 * skewed / (total - comm + skewed):.1f}%)")
    print(f"  fastest step {best_total * 1e3:.2f} ms, fastest allreduce {best_comm * 1e3:.3f} ms "
          f"= {100 * best_comm / best_total:.1f}% (less exposed to the other processes here)")
    for label, (t, algo, bus) in zip(("1 MB", "100 MB"), rows):
        print(f"  allreduce {label:>6}: {t * 1e3:8.3f} ms, algorithm bandwidth "
              f"{algo / 1e9:6.2f} GB/s, bus bandwidth {bus / 1e9:6.2f} GB/s")
    print(f"  allreduce 8 B (latency): {lat * 1e6:.1f} us")


if __name__ == "__main__":
    if "OMPI_COMM_WORLD_SIZE" not in os.environ and "PMI_SIZE" not in os.environ \
            and not os.environ.get("TRACEGRAD_BENCH_CHILD"):
        relaunch()
    main()
