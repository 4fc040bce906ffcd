"""Compile time of a few representative graphs: the first hybridized training steps, where a
user waits for tracing, the IR passes, planning, LLVM IR emission and LLVM itself.

    python bench/bench_compile.py [--quick] [graph ...]

Graphs (each a hybridized net, softmax cross-entropy outside it, SGD):
  unrolled  a 2-layer LSTMCell stack unrolled over 40 steps (hidden 25, batch 128, vocab 50),
            the graph of legacy MXNet bucketing programs: ~500 steps per module
  lstm      an LSTM language model (Embedding 100x32, gluon.rnn.LSTM(64, 2 layers), Dense 100,
            35 steps, batch 8): the time loop is one native loop op
  resnet    ResNet-18 v1 (model zoo, 10 classes) on 4x3x32x32
  mlp       Dense(256, relu) x 3, Dense(10) on 64x784: small graphs, per-compile overheads
  resnet50  ResNet-50 v1 on 4x3x224x224 (only when named: its cold first step is ~15 s)

Each graph runs in fresh processes: `cold` with an empty disk cache (a new temporary
TRACEGRAD_CACHE_DIR), then `warm` with the same directory (objects loaded, LLVM skipped).
Reported per run: seconds from the first forward to the end of the first training step and
of the third (wall, and CPU of the process for the first), the number of LLVM compiles, and
where the cold run's CPU time went: the IR passes (every pass of every pipeline), planning
(codegen/entry.make_plan), LLVM IR emission (entry.emit_module, regions planned inside it),
LLVM optimisation and LLVM code generation. Imports are not counted. Figures are medians of
three rounds (--quick: one). The machine is shared: expect +-10% between runs; compare
trees by running this script from another directory with PYTHONPATH=<tree>.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

GRAPHS = ("unrolled", "lstm", "resnet", "mlp")
STAGES = ("passes", "plan", "emit", "llvm_opt", "llvm_codegen")


def _unrolled():
    from tracegrad import gluon, nd
    from tracegrad.gluon import nn, rnn
    import numpy as np

    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.emb = nn.Embedding(50, 25)
                self.cells = rnn.HybridSequentialRNNCell()
                for _ in range(2):
                    self.cells.add(rnn.LSTMCell(25))
                self.out = nn.Dense(50, flatten=False)

        def hybrid_forward(self, F, x):
            h, _ = self.cells.unroll(40, self.emb(x), layout="NTC", merge_outputs=True)
            return self.out(h)
    rng = np.random.default_rng(0)
    return (Net(), nd.array(rng.integers(0, 50, (128, 40))),
            nd.array(rng.integers(0, 50, (128, 40))))


def _lstm():
    from tracegrad import gluon, nd
    import numpy as np

    class LM(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.emb = gluon.nn.Embedding(100, 32)
                self.rnn = gluon.rnn.LSTM(64, num_layers=2, layout="NTC")
                self.out = gluon.nn.Dense(100, flatten=False)

        def hybrid_forward(self, F, x):
            return self.out(self.rnn(self.emb(x)))
    rng = np.random.default_rng(0)
    return (LM(), nd.array(rng.integers(0, 100, (8, 35))),
            nd.array(rng.integers(0, 100, (8, 35))))


def _resnet():
    from tracegrad import nd
    from tracegrad.gluon.model_zoo import vision
    import numpy as np
    rng = np.random.default_rng(0)
    return (vision.resnet18_v1(classes=10),
            nd.array(rng.random((4, 3, 32, 32)).astype("float32")),
            nd.array(np.arange(4) % 10))


def _resnet50():
    """(named only: not in the default set, a cold first step takes ~15 s)"""
    from tracegrad import nd
    from tracegrad.gluon.model_zoo import vision
    import numpy as np
    rng = np.random.default_rng(0)
    return (vision.resnet50_v1(classes=10),
            nd.array(rng.random((4, 3, 224, 224)).astype("float32")),
            nd.array(np.arange(4) % 10))


def _mlp():
    from tracegrad import gluon, nd
    import numpy as np
    net = gluon.nn.HybridSequential()
    for _ in range(3):
        net.add(gluon.nn.Dense(256, activation="relu"))
    net.add(gluon.nn.Dense(10))
    rng = np.random.default_rng(0)
    return (net, nd.array(rng.random((64, 784)).astype("float32")),
            nd.array(rng.integers(0, 10, 64)))


def _timed_stages(clock):
    """Wrap the compile stages with CPU timers (module attributes looked up at call time)."""
    import llvmlite.binding as llvm
    from tracegrad.codegen import entry, target
    from tracegrad.ir.passes import PASSES
    spent = dict.fromkeys(STAGES, 0.0)

    def wrap(owner, name, stage):
        inner = owner[name] if isinstance(owner, dict) else getattr(owner, name)

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[stage] += clock() - t0
        if isinstance(owner, dict):
            owner[name] = timed
        else:
            setattr(owner, name, timed)
    for name in list(PASSES):
        wrap(PASSES, name, "passes")
    wrap(entry, "make_plan", "plan")
    wrap(entry, "emit_module", "emit")
    wrap(target, "optimize", "llvm_opt")
    wrap(llvm.TargetMachine, "emit_object", "llvm_codegen")
    return spent


def child(graph):
    """One run in this process: print a JSON line of its figures."""
    import time
    import tracegrad as mx
    from tracegrad import autograd, gluon
    mx.random.seed(0)
    spent = _timed_stages(time.process_time)
    net, x, y = globals()["_" + graph]()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    wall0, cpu0 = time.perf_counter(), time.process_time()
    steps = []
    for _ in range(3):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        loss.asnumpy()
        steps.append((time.perf_counter() - wall0, time.process_time() - cpu0))
    print(json.dumps({"steps": steps, "compiles": mx.stats()["compiles"], "stages": spent}))


def run(graph, cache_dir):
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=cache_dir, TRACEGRAD_CACHE="1")
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            f"import bench_compile as b\nb.child({graph!r})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{graph}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(graphs, rounds):
    print(f"== first hybridized training steps, {rounds} round(s), median; seconds")
    print(f"  {'graph':9s} {'cache':5s} {'step 1 wall':>11s} {'CPU':>6s} {'step 3 wall':>11s} "
          f"{'compiles':>8s}   cold CPU by stage: " + " ".join(STAGES))
    for graph in graphs:
        rows = {"cold": [], "warm": []}
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(prefix="tg-bench-compile-") as d:
                rows["cold"].append(run(graph, d))
                rows["warm"].append(run(graph, d))
        for kind, runs in rows.items():
            med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
            stages = ""
            if kind == "cold":
                stages = "   " + " ".join(f"{med(lambda r: r['stages'][s]):.2f}"
                                          for s in STAGES)
            print(f"  {graph:9s} {kind:5s} {med(lambda r: r['steps'][0][0]):11.2f} "
                  f"{med(lambda r: r['steps'][0][1]):6.2f} {med(lambda r: r['steps'][2][0]):11.2f} "
                  f"{med(lambda r: r['compiles']):8.0f}{stages}")


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or list(GRAPHS)
    main(names, 1 if "--quick" in sys.argv else 3)
