"""What real programs wait for around a large model, outside its steady steps:

1. shape inference: `sym.infer_shape` of model-zoo ResNet-50 at batch 32 on 224x224, and a
   Module bind of it (MXNet's legacy API binds by inferring every argument's shape);
2. export: `net.export` of a hybridized ResNet-50 last called at batch 16;
3. the first training steps of ResNet-18 at 224x224, batch 2, with a cold disk cache: the
   slowest step after the first, where capture learns the step and compiles it (in the
   loop's thread, or in the background: runtime/background.py), and the whole run.

Each figure runs in a fresh process (cold caches), on one BLAS thread:

    python bench/bench_model_flows.py [--quick]

--quick runs the training part for 40 steps instead of 80 (the update is fused after 64
captured steps when the step took long to compile, so only the full run reaches it).
"""
import json
import os
import subprocess
import sys
import tempfile

CHILD = r'''
import json, os, sys, tempfile, time
os.environ["TRACEGRAD_CACHE_DIR"] = tempfile.mkdtemp()
import numpy as np
import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon.model_zoo import vision
what = sys.argv[1]
out = {}
if what == "infer":
    net = vision.resnet50_v1(classes=1000)
    net.initialize()
    net.hybridize()
    sym = mx.sym.SoftmaxOutput(net(mx.sym.var("data")), name="softmax")
    t = time.perf_counter()
    sym.infer_shape(data=(32, 3, 224, 224))
    out["infer_shape"] = time.perf_counter() - t
    mod = mx.mod.Module(sym, data_names=["data"], label_names=["softmax_label"])
    t = time.perf_counter()
    mod.bind(data_shapes=[("data", (32, 3, 224, 224))],
             label_shapes=[("softmax_label", (32,))])
    out["bind"] = time.perf_counter() - t
elif what == "export":
    net = vision.resnet50_v1(classes=1000)
    net.initialize()
    net.hybridize()
    net(nd.array(np.random.rand(16, 3, 224, 224).astype(np.float32)))
    t = time.perf_counter()
    net.export(os.path.join(tempfile.mkdtemp(), "r50"))
    out["export"] = time.perf_counter() - t
else:
    from tracegrad.runtime import background
    if what == "in the loop's thread":
        background.BACKGROUND_OPS = None
    mx.random.seed(0)
    net = vision.resnet18_v1(classes=1000)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = nd.array(np.random.rand(2, 3, 224, 224).astype(np.float32))
    y = nd.array(np.random.randint(0, 1000, 2))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    times, t0 = [], time.perf_counter()
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(2)
        loss.asnumpy()
        times.append(time.perf_counter() - t)
    out = {"total": time.perf_counter() - t0, "worst": max(times[1:]),
           "median": sorted(times)[len(times) // 2],
           "captured": mx.stats()["captured_steps"],
           "fused": mx.stats()["fused_update_steps"]}
print(json.dumps(out))
'''


def run(*args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                       text=True, env=env, cwd=tempfile.gettempdir())
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    steps = 40 if "--quick" in sys.argv else 80
    r = run("infer")
    print(f"ResNet-50, batch 32, 224x224: infer_shape {r['infer_shape']:.2f} s, Module.bind "
          f"{r['bind']:.2f} s")
    r = run("export")
    print(f"ResNet-50 last called at batch 16: export {r['export']:.2f} s")
    print(f"ResNet-18 training, batch 2, 224x224, {steps} steps from a cold cache:")
    for where in ("in the loop's thread", "in the background"):
        r = run(where, steps)
        print(f"  capture compiles {where:22s}: slowest step after the first "
              f"{r['worst']:.2f} s, median {r['median']:.2f} s, run {r['total']:.1f} s; "
              f"captured steps {r['captured']}, with the update fused {r['fused']}")


if __name__ == "__main__":
    main()
