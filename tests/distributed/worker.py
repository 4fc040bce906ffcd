"""One worker of the distributed tests: `mpiexec -n 2 python worker.py MODE OUT_DIR`, or with no
mpiexec for the single-process reference. Modes:

  train    every training configuration; each worker saves its parameters to OUT_DIR
  kv       the KVStore API across workers (asserts here, prints "KV OK")
  train+kv train, then the KVStore API on a new store (one job instead of two)
  raise    worker 1 raises at step 3
  hang     worker 1 stops answering at step 3 (sleeps); the others must time out
"""
import os
import sys
import time

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd

STEPS, GLOBAL_BATCH = 20, 64
CONFIGS = [  # name, optimizer, optimizer params, hybridize, grad_req
    ("sgd_eager", "sgd", {"learning_rate": 0.1, "momentum": 0.9}, False, "write"),
    ("adam_eager", "adam", {"learning_rate": 0.01}, False, "write"),
    ("sgd_hybrid", "sgd", {"learning_rate": 0.1}, True, "write"),
    ("adam_hybrid", "adam", {"learning_rate": 0.01}, True, "write"),
    ("sgd_add", "sgd", {"learning_rate": 0.1}, False, "add"),
    ("adam_stale_mixed", "adam", {"learning_rate": 0.01}, False, "write"),
]


def data():
    rs = np.random.RandomState(0)
    x = rs.standard_normal((STEPS * GLOBAL_BATCH, 8)).astype(np.float32)
    y = rs.randint(0, 4, STEPS * GLOBAL_BATCH).astype(np.float32)
    return x, y


def mlp(hybrid, seed, dtype="float32", units=16):
    mx.random.seed(seed)
    np.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(units, activation="tanh", in_units=8), gluon.nn.Dense(4, in_units=units))
    net.initialize(mx.init.Xavier())
    if dtype != "float32":
        net.cast(dtype)
    if hybrid:
        net.hybridize()
    return net


def train(name, opt, opt_params, hybrid, grad_req, kv, out_dir):
    rank, workers = kv.rank, kv.num_workers
    # workers start from different weights: the Trainer broadcasts rank 0's
    seed = 100 + rank
    net = mlp(hybrid, seed)
    params = list(net.collect_params().values())
    mixed = name.endswith("mixed")
    if mixed:  # a float64 side network and one used only on some steps by worker 1's rows
        side = mlp(False, seed + 50, "float64", units=5)
        aux = gluon.nn.Dense(4, in_units=8)
        aux.initialize(mx.init.Xavier())
        params += list(side.collect_params().values()) + list(aux.collect_params().values())
    for p in params:
        p.grad_req = grad_req
    # one configuration names the store by its type, as MXNet scripts often do
    # (MXNet's two-call form, allreduce_grads() then update(), needs update_on_kvstore=False:
    # with a KVStore object MXNet otherwise updates on the store, and allreduce_grads asserts)
    trainer = gluon.Trainer(params, opt, opt_params,
                            kvstore=kv.type if name == "sgd_hybrid" else kv,
                            update_on_kvstore=False if name == "adam_eager" else None)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x_all, y_all = data()
    per = GLOBAL_BATCH // workers
    for step in range(STEPS):
        lo = step * GLOBAL_BATCH + rank * per
        x, y = nd.array(x_all[lo:lo + per]), nd.array(y_all[lo:lo + per])
        if grad_req == "add":  # two backward passes (halves) before one step
            for h in range(2):
                xs, ys = x[h * per // 2:(h + 1) * per // 2], y[h * per // 2:(h + 1) * per // 2]
                with autograd.record():
                    loss = loss_fn(net(xs), ys)
                loss.backward()
            trainer.step(GLOBAL_BATCH)
            for p in params:
                p.zero_grad()
            continue
        with autograd.record():
            loss = loss_fn(net(x), y)
            if mixed:
                loss = loss + nd.cast(loss_fn(side(nd.cast(x, "float64")), y), "float32")
                # aux sees the second half of the global batch on even steps only
                rows = _rows_of_second_half(step, rank, workers, per)
                if rows is not None:
                    loss = nd.concat(loss[:rows[0]],
                                     loss[rows[0]:rows[1]] + nd.sum(aux(x[rows[0]:rows[1]]) ** 2,
                                                                    axis=1),
                                     loss[rows[1]:], dim=0)
        loss.backward()
        if name == "adam_eager":  # MXNet's two-call form of step
            trainer.allreduce_grads()
            trainer.update(GLOBAL_BATCH)
        else:
            trainer.step(GLOBAL_BATCH, ignore_stale_grad=mixed)
        if os.environ.get("FAIL_MODE") and step == 3 and rank == 1:
            if os.environ["FAIL_MODE"] == "raise":
                raise RuntimeError("worker 1 exploded at step 3")
            time.sleep(60)
    arrays = {f"{k}": p.data().asnumpy() for k, p in enumerate(params)}
    np.savez(os.path.join(out_dir, f"{name}_rank{rank}_of{workers}.npz"), **arrays)


def _rows_of_second_half(step, rank, workers, per):
    """This worker's rows (lo, hi) of samples 32..63 of the global batch, on even steps."""
    if step % 2:
        return None
    lo, hi = max(GLOBAL_BATCH // 2, rank * per), min(GLOBAL_BATCH, (rank + 1) * per)
    if lo >= hi:
        return None
    return lo - rank * per, hi - rank * per


def kv_api(kv):
    rank, n = kv.rank, kv.num_workers
    # init/broadcast: rank 0's value wins
    out = nd.zeros((3,))
    kv.broadcast("w", nd.array([1.0, 2.0, 3.0]) * (rank + 1), out=out)
    assert out.asnumpy().tolist() == [1.0, 2.0, 3.0], out
    # push sums over the devices of a worker and over the workers
    kv.init(7, nd.zeros((2, 2)))
    kv.push(7, [nd.ones((2, 2)) * (rank + 1), nd.ones((2, 2))])
    got = nd.zeros((2, 2))
    kv.pull(7, out=got)
    want = sum(r + 2 for r in range(n))
    assert np.all(got.asnumpy() == want), got
    # pushpull of mixed float32 / float64 values in one call
    a = nd.array(np.arange(5) + rank, dtype="float32")
    b = nd.array(np.arange(300000) * 1e-3 + rank, dtype="float64")
    kv.pushpull(["a", "b"], [a, b])
    assert a.dtype == np.float32 and b.dtype == np.float64
    ra = sum(np.arange(5, dtype=np.float32) + r for r in range(n))
    rb = sum(np.arange(300000) * 1e-3 + r for r in range(n))
    assert np.array_equal(a.asnumpy(), ra) and np.allclose(b.asnumpy(), rb, rtol=1e-15), (a, b)
    # set_optimizer: the summed push is the gradient of the stored weight
    kv.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.5))
    kv.init("p", nd.ones((4,)))
    kv.push("p", nd.ones((4,)) * (rank + 1))
    p = nd.zeros((4,))
    kv.pull("p", out=p)
    assert np.allclose(p.asnumpy(), 1 - 0.5 * sum(r + 1 for r in range(n))), p
    other = mx.kv.create("dist_device_sync")
    assert (other.type, other.rank, other.num_workers) == ("dist_device_sync", rank, n)
    kv._barrier()
    print(f"KV OK rank {rank} of {n}", flush=True)


def main():
    mode, out_dir = sys.argv[1], sys.argv[2]
    kv = mx.kv.create(os.environ.get("KVSTORE", "dist_sync"))
    if mode == "kv":
        kv_api(kv)
        return
    if mode == "train+kv":
        train_all(kv, out_dir)
        kv_api(mx.kv.create("dist_sync"))
        return
    if mode in ("raise", "hang"):
        os.environ["FAIL_MODE"] = mode
        train("fail", "sgd", {"learning_rate": 0.1}, False, "write", kv, out_dir)
        return
    train_all(kv, out_dir)


def train_module(kv, out_dir):
    """The same MLP as a symbol trained by Module.fit with kvstore=dist_sync (by its type):
    each worker fits its half of every global batch; MXNet's Module sums the gradients over
    the workers and scales them by 1 / (batch size x workers)."""
    rank, workers = kv.rank, kv.num_workers
    mx.random.seed(100 + rank)
    np.random.seed(100 + rank)
    net = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=16, name="fc1")
    net = mx.sym.FullyConnected(mx.sym.Activation(net, act_type="tanh"), num_hidden=4,
                                name="fc2")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    x_all, y_all = data()
    per = GLOBAL_BATCH // workers
    rows = np.concatenate([np.arange(s * GLOBAL_BATCH + rank * per,
                                     s * GLOBAL_BATCH + (rank + 1) * per) for s in range(STEPS)])
    it = mx.io.NDArrayIter(x_all[rows], y_all[rows], batch_size=per,
                           label_name="softmax_label")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(it, num_epoch=1, kvstore=kv.type, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier())
    assert (mod._kvstore is not None) == ("dist" in kv.type)
    arg, _ = mod.get_params()
    np.savez(os.path.join(out_dir, f"module_sgd_rank{rank}_of{workers}.npz"),
             **{k: v.asnumpy() for k, v in sorted(arg.items())})


def train_all(kv, out_dir):
    only = os.environ.get("WORKER_CONFIGS")
    for config in CONFIGS:
        if not only or config[0] in only.split(","):
            train(*config, kv, out_dir)
    if not only or "module_sgd" in only.split(","):
        train_module(kv, out_dir)


if __name__ == "__main__":
    main()
