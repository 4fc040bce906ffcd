"""Data-parallel training of the digits MLP over MPI, MXNet's `kvstore='dist_sync'` way.

    pip install -e '.[dist,examples]'
    mpiexec -n 2 python examples/train_distributed.py

Each worker trains on its own shard of the training set (gluon.data.SplitSampler), at
--batch-size samples per step; the Trainer sums the gradients of all workers before each
update, and `trainer.step` is given the global batch (workers x batch size), so N workers make
the update one process would make on the whole global batch. Every worker prints its
throughput and the share of a step spent communicating; rank 0 prints the test accuracy.
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32, help="per worker")
    parser.add_argument("--kvstore", default="dist_sync")
    args = parser.parse_args(argv)

    kv = mx.kv.create(args.kvstore)
    rank, workers = kv.rank, kv.num_workers
    data = load_digits()
    x = (data.images / 16.0).reshape(-1, 64).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, data.target.astype(np.float32), test_size=0.2, random_state=0, stratify=data.target)

    mx.random.seed(rank)  # different on purpose: the Trainer broadcasts rank 0's weights
    net = nn.HybridSequential()
    net.add(nn.Dense(128, activation="relu", in_units=64), nn.Dense(64, activation="relu"),
            nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(nd.zeros((1, 64)))  # finish deferred shapes before the Trainer broadcasts
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.003}, kvstore=kv)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    np.random.seed(rank)
    sampler = gluon.data.SplitSampler(len(x_train), workers, rank)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(x_train, y_train),
                                   batch_size=args.batch_size, sampler=sampler,
                                   last_batch="discard")
    global_batch = args.batch_size * workers

    samples, busy, comm0 = 0, 0.0, kv.comm_seconds if hasattr(kv, "comm_seconds") else 0.0
    for epoch in range(args.epochs):
        for step, (data_batch, label_batch) in enumerate(loader):
            t0 = time.perf_counter()
            with autograd.record():
                loss = loss_fn(net(data_batch), label_batch)
            loss.backward()
            trainer.step(global_batch)
            if epoch or step >= 3:  # the first steps compile
                busy += time.perf_counter() - t0
                samples += args.batch_size
            elif step == 2:
                comm0 = getattr(kv, "comm_seconds", 0.0)
    comm = getattr(kv, "comm_seconds", 0.0) - comm0
    print(f"worker {rank} of {workers}: {samples / busy:,.0f} samples/s, "
          f"{1e3 * busy / max(samples // args.batch_size, 1):.3f} ms a step, "
          f"{100 * comm / busy:.1f}% of it communicating", flush=True)
    if rank == 0:
        accuracy = mx.metric.Accuracy()
        accuracy.update(nd.array(y_test), net(nd.array(x_test)))
        print(f"test accuracy {accuracy.get()[1]:.4f} after {args.epochs} epochs on "
              f"{workers} worker(s), global batch {global_batch}")


if __name__ == "__main__":
    main()
