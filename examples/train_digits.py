"""Train a Gluon network on scikit-learn's 8x8 handwritten digits, eagerly and hybridized.

    pip install -e '.[examples]' && python examples/train_digits.py

The digits ship inside scikit-learn (no download). Each model is trained twice from the same
initial weights: once eagerly (every op on numpy, autograd interprets the recorded graph) and
once hybridized (forward and backward compiled to native code). The script prints the test
accuracy of both, the median time of one training step in each mode, and the op counts of the
optimized compiled graphs. An MLP always; a small CNN too when gluon.nn has Conv2D.
"""
import argparse
import collections
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


def digits(seed):
    """Train/test splits: images scaled to [0, 1], (n, 1, 8, 8) float32; labels float32."""
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None, :, :]
    y = data.target.astype(np.float32)
    return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def mlp():
    net = nn.HybridSequential()
    net.add(nn.Flatten(), nn.Dense(128, activation="relu"), nn.Dense(64, activation="relu"),
            nn.Dense(10))
    return net


def cnn():
    """Conv -> ReLU -> (max pool when gluon.nn has it) -> Dense layers."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, kernel_size=3, padding=1, activation="relu"))
    if hasattr(nn, "MaxPool2D"):
        net.add(nn.MaxPool2D(pool_size=2))
    net.add(nn.Flatten(), nn.Dense(64, activation="relu"), nn.Dense(10))
    return net


MODELS = {"mlp": mlp, "cnn": cnn}


def available(name):
    return name != "cnn" or hasattr(nn, "Conv2D")


def train(make, hybridize, data, epochs, batch_size, seed, label):
    x_train, x_test, y_train, y_test = data
    mx.random.seed(seed)
    net = make()
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.003})
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(x_train, y_train),
                                   batch_size=batch_size, shuffle=True, last_batch="discard")
    np.random.seed(seed)  # the same batch order in both modes
    step_times = []
    for epoch in range(epochs):
        bar = tqdm(loader, desc=f"{label} epoch {epoch + 1}/{epochs}", unit="batch")
        for data_batch, label_batch in bar:
            t0 = time.perf_counter()
            with autograd.record():
                loss = loss_fn(net(data_batch), label_batch)
            loss.backward()
            trainer.step(batch_size)
            step_times.append(time.perf_counter() - t0)
            bar.set_postfix(loss=f"{float(loss.mean().asscalar()):.3f}")
    # the compiled training graphs, before evaluation compiles an inference variant
    graphs = (net.ir("optimized"), net.ir("adjoint")) if hybridize else None
    accuracy = mx.metric.Accuracy()
    accuracy.update(nd.array(y_test), net(nd.array(x_test)))
    warm = step_times[3:] or step_times  # the first steps trace and compile
    return graphs, accuracy.get()[1], (float(np.median(warm)), min(warm))


def op_counts(fn):
    counts = collections.Counter(op.opdef.name for op in fn.ops)
    return f"{len(fn.ops)} ops: " + ", ".join(f"{k} {v}" for k, v in counts.most_common())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default="mlp,cnn",
                        help="comma-separated: mlp, cnn (cnn runs when gluon.nn has Conv2D)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = digits(args.seed)
    print(f"digits: {len(data[0])} training and {len(data[1])} test images of 8x8")
    for name in args.models.split(","):
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        if not available(name):
            print(f"{name}: skipped (this tracegrad has no gluon.nn.Conv2D)")
            continue
        results = {}
        for mode, hybrid in (("eager", False), ("hybridized", True)):
            results[mode] = train(MODELS[name], hybrid, data, args.epochs, args.batch_size,
                                  args.seed, f"{name} {mode}")
        (_, acc_e, t_e), (graphs, acc_h, t_h) = results["eager"], results["hybridized"]
        print(f"{name}: test accuracy eager {acc_e:.4f}, hybridized {acc_h:.4f}")
        print(f"{name}: training step (batch {args.batch_size}), median (fastest): eager "
              f"{t_e[0] * 1e3:.3f} ms ({t_e[1] * 1e3:.3f} ms), compiled {t_h[0] * 1e3:.3f} ms "
              f"({t_h[1] * 1e3:.3f} ms): {t_e[0] / t_h[0]:.1f}x faster compiled")
        print(f"{name}: optimized forward graph: {op_counts(graphs[0])}")
        print(f"{name}: optimized backward graph: {op_counts(graphs[1])}")
    print(f"tracegrad.stats(): {mx.stats()}")


if __name__ == "__main__":
    main()
