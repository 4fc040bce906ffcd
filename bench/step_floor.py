"""The floor of a captured step's Python: the tiny usual step (record(), net(x), loss_fn(out, y),
backward(), trainer.step(1)) as five calls that do only what no sound capture can skip, in
plain Python on objects shaped like tracegrad's, next to tracegrad's own captured step.

    python bench/step_floor.py

The floor's calls check the recording state, the argument's type, shape and dtype, the
parameters' identity, that nobody holds the step's intermediate value or the weights' buffers
(reference counts), and that the optimizer's scalars are unchanged; they make the step's
output placeholders, and trainer.step makes one builtin call standing for the native one and
hands the loss its buffer. They do not keep what tracegrad keeps for exactness and
inspection: the replay log an interrupted step falls back to, the held gradients' class swap
(a gradient read between backward() and trainer.step materializes), per-index update counts,
stats() counters, the lock against another thread finishing the step, and the mx.np and
learning-rate-schedule cases. It answers how far a pure-Python capture can go on this
interpreter (issue 8 asks for "a few microseconds" of Python per step); bench/step_overhead.py
splits tracegrad's step by call and by bytecode.
"""
import os
import statistics
import sys
import threading
import weakref

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_new = object.__new__
CALLS = ("record() entered", "net(x)", "loss_fn(out, y)", "record() left", "backward()",
         "trainer.step()")


class State:
    __slots__ = ("recording", "training", "step")


STATE = State()
STATE.recording = STATE.training = False
STATE.step = None


class Record:
    __slots__ = ("prev",)

    def __enter__(self):
        self.prev = STATE.recording, STATE.training
        STATE.recording = STATE.training = True
        return self

    def __exit__(self, *exc):
        STATE.recording, STATE.training = self.prev


class Array:
    __slots__ = ("_data", "_value", "_leaf", "__weakref__")


class Placeholder(Array):
    __slots__ = ()

    def backward(self):
        step = STATE.step
        if step is None or step.k != 2 or self._leaf != 1 or step.refs[0]() is not None \
                or GRAD_REQ["weight"] != "write" or GRAD_REQ["bias"] != "write":
            raise RuntimeError("not the captured step")
        step.held = True


class Step:
    __slots__ = ("leaves", "refs", "k", "held")


def array(data):
    a = _new(Array)
    a._data, a._value = data, None
    return a


X, Y = array(np.ones((1, 2), np.float32)), array(np.ones((1, 1), np.float32))
WEIGHT, BIAS = array(np.ones((1, 2), np.float32)), array(np.zeros((1,), np.float32))
W_DATA, B_DATA = WEIGHT._data, BIAS._data
F32 = np.dtype(np.float32)
GRAD_REQ = {"weight": "write", "bias": "write"}


class Block:
    def __init__(self, fast):
        self.__dict__["_fast"] = fast

    def __call__(self, *args):
        fast = self.__dict__.get("_fast")
        if fast is not None:
            out = fast(args)
            if out is not None:
                return out
        raise RuntimeError("not the captured step")


def net_call(args):
    if not STATE.recording or not STATE.training or STATE.step is not None or len(args) != 1:
        return None
    a = args[0]
    if type(a) is not Array or a._value is not None:
        return None
    d = a._data
    if d.shape != (1, 2) or d.dtype != F32 or WEIGHT._data is not W_DATA \
            or BIAS._data is not B_DATA:
        return None
    step = _new(Step)
    step.leaves, step.k, step.held = [d, None], 1, None
    out = _new(Placeholder)
    out._leaf, out._value = 0, None
    step.refs = [weakref.ref(out), None]
    STATE.step = step
    return out


def loss_call(args):
    step = STATE.step
    if step is None or step.k != 1 or len(args) != 2:
        return None
    out, label = args
    if type(out) is not Placeholder or out._leaf != 0 or type(label) is not Array \
            or label._value is not None:
        return None
    d = label._data
    if d.shape != (1, 1) or d.dtype != F32:
        return None
    step.leaves[1], step.k = d, 2
    loss = _new(Placeholder)
    loss._leaf, loss._value = 1, None
    step.refs[1] = weakref.ref(loss)
    return loss


class Optimizer:
    __slots__ = ("num_update", "version", "counts", "scalars")


class Trainer:
    def __init__(self):
        self.optimizer = opt = Optimizer()
        opt.num_update, opt.version, opt.counts = 0, 0, {0: 0, 1: 0}
        opt.scalars = (0, np.zeros(2, np.float32))
        self.lock = threading.Lock()

    def step(self, batch_size):
        step, opt = STATE.step, self.optimizer
        if step is None or not step.held or batch_size != 1 or WEIGHT._data is not W_DATA \
                or BIAS._data is not B_DATA or sys.getrefcount(W_DATA) > 4 \
                or sys.getrefcount(B_DATA) > 4 or opt.scalars[0] != opt.version:
            raise RuntimeError("not the captured step")
        counts = opt.counts
        counts[0] += 1
        counts[1] += 1
        opt.num_update = max(counts[0], counts[1])
        with self.lock:
            out = np.empty((1,), np.float32)
            NATIVE(step.leaves[0])      # (a builtin call standing for the native one)
            STATE.step = None
            r = step.refs[1]
            loss = r() if r is not None else None
            if loss is not None:
                loss.__class__ = Array
                loss._data, loss._leaf = out, None


NATIVE = len


def floor_parts():
    net, loss_fn, trainer = Block(net_call), Block(loss_call), Trainer()
    return net, loss_fn, trainer, X, Y


def floor_record():
    return Record()


def main(steps=20000):
    from step_overhead import per_call, tiny
    from tracegrad import autograd
    rows = {}
    parts = tiny(True)
    per_call(*parts, 2000)          # warm: the step is captured and fused
    floor = floor_parts()
    per_call(*floor, 2000, record=floor_record)
    for _ in range(3):      # interleaved rounds, medians of each
        for name, make, p in (("tracegrad", autograd.record, parts),
                              ("floor", floor_record, floor)):
            calls, whole = per_call(*p, steps // 3, record=make)
            rows.setdefault(name, []).append((calls, whole))
    print(f"{'us per call':18s} {'tracegrad':>10s} {'floor':>8s}")
    for name in CALLS:
        tg = statistics.median(c[name] for c, _ in rows["tracegrad"]) * 1e6
        fl = statistics.median(c[name] for c, _ in rows["floor"]) * 1e6
        print(f"{name:18s} {tg:10.2f} {fl:8.2f}")
    tg = statistics.median(w for _, w in rows["tracegrad"]) * 1e6
    fl = statistics.median(w for _, w in rows["floor"]) * 1e6
    print(f"{'whole step':18s} {tg:10.2f} {fl:8.2f}")


if __name__ == "__main__":
    main()
