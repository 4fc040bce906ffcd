"""Compiled code raises where eager raises on an index or length out of range (check_index,
index_checks.py): take(mode='raise'), gather_nd, scatter_nd, index_copy and the sequence
lengths of SequenceMask / SequenceLast / SequenceReverse. For each op: eager, jit, a
hybridized block and a captured training step raise an MXNetError naming the op and the
range; nothing partial is visible after it (no parameter, gradient or update count moves);
the next call with good values gives the eager result and a float64 numpy reference."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.segments import Interpreted
from tracegrad.stats import COUNTERS

T, N = 5, 3


def _mask_ref(d, n):
    out = d.copy()
    for b, k in enumerate(np.trunc(n).astype(int)):
        out[k:, b] = 0.0
    return out


def _reverse_ref(d, n):
    out = d.copy()
    for b, k in enumerate(np.trunc(n).astype(int)):
        out[:k, b] = d[:k, b][::-1]
    return out


def _index_copy_ref(d, i):
    out = d.copy()
    for r, k in enumerate(i.astype(int)):
        out[k] = d[r] * 2.0
    return out


def _scatter_ref(d, i):
    out = np.zeros((3, 4))
    out[i[0].astype(int), i[1].astype(int)] = d
    return out


# name, f(data, index), data shape, index dtype, good index, bad index, message, reference
CASES = [
    ("take", lambda d, i: nd.take(d, i, mode="raise"), (5, 3), "int64", [0, 4, 2],
     [0, 5, 2], r"take: indices must be in \[0, 4\] \(axis 0 of data \(5, 3\)",
     lambda d, i: d[i.astype(int)]),
    ("take_float", lambda d, i: nd.take(d, i, mode="raise", axis=1), (2, 4), "float32",
     [3.0, 0.0], [1.0, -0.5], r"take: indices must be in \[0, 3\] \(axis 1 of data",
     lambda d, i: d[:, i.astype(int)]),
    ("gather_nd", lambda d, i: nd.gather_nd(d, i), (3, 4), "int64", [[0, -3, 2], [1, 3, -4]],
     [[0, 1, 2], [1, 4, 0]], r"gather_nd: indices\[1\] must be in \[-4, 3\] \(axis 1 of shape",
     lambda d, i: d[np.where(i[0] < 0, i[0] + 3, i[0]).astype(int),
                    np.where(i[1] < 0, i[1] + 4, i[1]).astype(int)]),
    ("scatter_nd", lambda d, i: nd.scatter_nd(d, i, (3, 4)), (3,), "int64",
     [[0, 1, 2], [3, 0, 1]], [[0, 3, 1], [0, 0, 1]],
     r"scatter_nd: indices\[0\] must be in \[0, 2\] \(axis 0 of shape \(3, 4\)\)", _scatter_ref),
    ("index_copy", lambda d, i: nd.contrib.index_copy(d, i, d[0:2] * 2.0), (4, 3), "int64",
     [3, 1], [4, 1], r"index_copy: index_vector must be in \[0, 3\] \(rows of old_tensor",
     _index_copy_ref),
    ("SequenceMask", lambda d, n: nd.SequenceMask(d, n, use_sequence_length=True), (T, N, 2),
     "float32", [2.5, 5.0, 0.0], [2.0, -1.0, 3.0],
     r"SequenceMask: sequence_length must be >= 0", _mask_ref),
    ("SequenceLast", lambda d, n: nd.SequenceLast(d, n, use_sequence_length=True), (T, N, 2),
     "float32", [1.0, 5.0, 3.9], [0.0, 2.0, 3.0],
     r"SequenceLast: sequence_length must be in \[1, 5\]",
     lambda d, n: np.stack([d[int(k) - 1, b] for b, k in enumerate(n)])),
    ("SequenceReverse", lambda d, n: nd.SequenceReverse(d, n, use_sequence_length=True),
     (T, N, 2), "float32", [2.0, 5.0, 0.0], [6.0, 1.0, np.nan],
     r"SequenceReverse: sequence_length must be in \[0, 5\]", _reverse_ref),
]
IDS = [c[0] for c in CASES]


def _data(shape, seed=0):
    return np.random.RandomState(seed).randn(*shape)


def _check_good(f, op, shape, dtype, good, ref, seed=1):
    """f on good values == eager op == the float64 numpy reference."""
    d = _data(shape, seed)
    got = f(nd.array(d), nd.array(good, dtype=dtype)).asnumpy()
    eager = op(nd.array(d), nd.array(good, dtype=dtype)).asnumpy()
    np.testing.assert_array_equal(got, eager)
    np.testing.assert_allclose(got, ref(d, np.array(good, dtype=np.float64)), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("spec", CASES, ids=IDS)
def test_eager_and_jit_raise_alike_then_recover(spec):
    name, op, shape, dtype, good, bad, msg, ref = spec
    with pytest.raises(MXNetError, match=msg):
        op(nd.array(_data(shape)), nd.array(bad, dtype=dtype))
    f = mx.jit(op)
    _check_good(f, op, shape, dtype, good, ref)              # traced and compiled
    calls = mx.stats()["native_calls"]
    with pytest.raises(MXNetError, match=msg + r".*checked in compiled code") as e:
        f(nd.array(_data(shape)), nd.array(bad, dtype=dtype))
    assert "traced at test_compiled_index_errors.py:" in str(e.value)
    _check_good(f, op, shape, dtype, good, ref, seed=2)      # flag cleared, no stale state
    assert mx.stats()["native_calls"] > calls                  # (the compiled path ran)


class _Block(gluon.HybridBlock):
    """out = op(w * x, index): a parameter in front of the op, so a step has gradients."""

    def __init__(self, op, shape):
        super().__init__()
        self.op = op
        self.w = self.params.get("w", shape=shape, init=mx.init.Constant(1.0))

    def hybrid_forward(self, F, x, index, w):
        return self.op(w * x, index)


@pytest.mark.parametrize("spec", CASES, ids=IDS)
def test_hybridized_block_raises_then_recovers(spec):
    name, op, shape, dtype, good, bad, msg, ref = spec
    net = _Block(op, shape)
    net.initialize()
    net.hybridize()
    _check_good(net, op, shape, dtype, good, ref)
    with pytest.raises(MXNetError, match=msg + r".*checked in compiled code"):
        net(nd.array(_data(shape)), nd.array(bad, dtype=dtype))
    _check_good(net, op, shape, dtype, good, ref, seed=3)


def _train(net, trainer, shape, dtype, index, seed):
    x = nd.array(_data(shape, seed))
    with autograd.record():
        loss = (net(x, nd.array(index, dtype=dtype)) * 1.5).sum()
    loss.backward()
    trainer.step(1)
    return loss


def _params(net):
    return {k: p.data().asnumpy().copy() for k, p in net.collect_params().items()}


@pytest.mark.parametrize("spec", CASES, ids=IDS)
def test_captured_step_raises_and_leaves_nothing_partial(spec, fresh_capture):
    name, op, shape, dtype, good, bad, msg, ref = spec
    nets = []
    for hybridize in (True, False):
        net = _Block(op, shape)
        net.initialize()
        if hybridize:
            net.hybridize()
        nets.append((net, gluon.Trainer(net.collect_params(), "sgd",
                                        {"learning_rate": 0.1, "momentum": 0.5})))
    (net, trainer), (ref_net, ref_trainer) = nets
    for s in range(6):
        _train(net, trainer, shape, dtype, good, s)
    assert COUNTERS["captured_steps"] >= 2, mx.capture.explain()
    before, grads = _params(net), {k: p.grad().asnumpy().copy()
                                   for k, p in net.collect_params().items()}
    count, drops = trainer._optimizer.num_update, COUNTERS["capture_drops"]
    with pytest.raises(MXNetError, match=msg + r".*checked in compiled code"):
        _train(net, trainer, shape, dtype, bad, 6)
    assert COUNTERS["capture_drops"] == drops        # raised by the captured native call
    after = _params(net)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
        np.testing.assert_array_equal(net.collect_params()[k].grad().asnumpy(), grads[k])
    assert trainer._optimizer.num_update == count
    captured = COUNTERS["captured_steps"]
    _train(net, trainer, shape, dtype, good, 7)
    assert COUNTERS["captured_steps"] == captured + 1
    with mx.capture.paused():    # the same good steps, eagerly: the same parameters
        for s in list(range(6)) + [7]:
            _train(ref_net, ref_trainer, shape, dtype, good, s)
        with pytest.raises(MXNetError, match=msg):
            _train(ref_net, ref_trainer, shape, dtype, bad, 6)
    for k, v in _params(ref_net).items():
        np.testing.assert_allclose(_params(net)[k.replace(ref_net.prefix, net.prefix)], v,
                                   rtol=1e-5, atol=1e-6)


def test_deferred_result_of_a_failed_step_raises_when_read(fresh_capture):
    name, op, shape, dtype, good, bad, msg, ref = CASES[0]
    net = _Block(op, shape)
    net.initialize()
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for s in range(5):
        _train(net, trainer, shape, dtype, good, s)
    x = nd.array(_data(shape))
    with pytest.raises(MXNetError, match=msg):
        with autograd.record():
            loss = net(x, nd.array(bad, dtype=dtype)).sum()
        loss.backward()
    with pytest.raises(MXNetError, match="captured step that raised: " + msg):
        loss.asnumpy()
    _train(net, trainer, shape, dtype, good, 9)


def test_branching_jit_raises_in_either_path():
    """A jit function with a data-dependent branch (guard segments, maybe one chained
    native call): the check in a guarded path raises too."""
    def f(d, i):
        if d.sum() > 0:
            return nd.take(d, i, mode="raise") + 1.0
        return nd.take(d, i, mode="raise") - 1.0
    g = mx.jit(f)
    pos, neg = np.abs(_data((5, 3))), -np.abs(_data((5, 3)))
    for d in (pos, neg, pos, neg, pos):
        np.testing.assert_array_equal(g(nd.array(d), nd.array([1, 4])).asnumpy(),
                                      f(nd.array(d), nd.array([1, 4])).asnumpy())
    for d in (pos, neg):
        with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 4\]"):
            g(nd.array(d), nd.array([1, 9]))
        np.testing.assert_array_equal(g(nd.array(d), nd.array([0, 3])).asnumpy(),
                                      f(nd.array(d), nd.array([0, 3])).asnumpy())


def _check_fn(lo, hi, dtype="f32", shape=(3,)):
    b = Builder(name="chk")
    x = b.param(TensorType(dtype, shape), "x")
    return b.ret(b.check_index(x, of="take", what="indices", why="axis 0", lo=lo, hi=hi,
                               truncate=True))


def test_interpreter_raises_as_eager():
    fn = _check_fn((0,), (4,))
    good = np.array([0.0, 4.9, 2.0], np.float32)
    np.testing.assert_array_equal(interpret(fn, [good])[0], good)
    bad = np.array([0.0, 5.0, np.inf], np.float32)
    with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 4\] \(axis 0\), "
                                         r"got 5.0, inf"):
        interpret(fn, [bad])
    run = Interpreted(fn)        # (the interpreter fallback of runtime/segments.py)
    with pytest.raises(MXNetError, match="take: indices"):
        run(bad)
    np.testing.assert_array_equal(run(good)[0], good)


@pytest.mark.parametrize("values,dtype,ok", [
    ([0, 4], "int64", True), ([-1, 0], "int64", False), ([0, 5], "int32", False),
    ([np.nan, 0], "float32", False), ([-0.9, 4.99], "float64", True),
    ([np.inf, 0], "float64", False), ([-np.inf, 0], "float32", False),
])
def test_native_check_compares_as_the_impl(values, dtype, ok):
    """The compiled compare agrees with the numpy impl on edge values (truncation toward
    zero, NaN and infinities never in range, int32 widened)."""
    from tracegrad.runtime.native import NativeFunction
    code = {"int64": "i64", "int32": "i32", "float32": "f32", "float64": "f64"}[dtype]
    fn = _check_fn((0,), (4,), code, (2,))
    native = NativeFunction(fn)
    x = np.array(values, dtype=dtype)
    if ok:
        np.testing.assert_array_equal(native(x)[0], x)
        np.testing.assert_array_equal(interpret(fn, [x])[0], x)
    else:
        with pytest.raises(MXNetError, match="checked in compiled code"):
            native(x)
        with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 4\]"):
            interpret(fn, [x])


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_clip_and_wrap_modes_still_clamp_silently(mode):
    """Where MXNet's semantics are clip or wrap (take, pick, Embedding), compiled code
    clamps or wraps as eager does and raises nothing."""
    d = _data((4, 3))
    idx = np.array([-5.0, 1.0, 7.0, 3.0], np.float32)
    for op in (lambda a, i: nd.take(a, i, mode=mode),
               lambda a, i: nd.pick(a, i, axis=1, mode=mode),
               lambda a, i: nd.Embedding(i, a, input_dim=4, output_dim=3)):
        f = mx.jit(op)
        f(nd.array(d), nd.array([0.0, 1.0, 2.0, 3.0]))
        np.testing.assert_array_equal(f(nd.array(d), nd.array(idx)).asnumpy(),
                                      op(nd.array(d), nd.array(idx)).asnumpy())


def test_donated_parameter_is_not_written_before_a_check():
    """An in-place (donated) update computed before a check in program order is staged to
    the end of the call: a call that raises leaves the parameter as it was."""
    from tracegrad.runtime.native import NativeFunction
    b = Builder(name="upd")
    p = b.param(TensorType("f32", (4,)), "p")
    table = b.param(TensorType("f32", (4,)), "table")
    i = b.param(TensorType("i64", (2,)), "i")
    new_p = b.mul(p, 0.5)
    checked = b.check_index(i, of="take", what="indices", why="axis 0", lo=(0,), hi=(3,))
    fn = b.ret(new_p, b.take(table, checked, axis=0))
    native = NativeFunction(fn, donate={0: 0})
    assert native.memory_plan()["donated"][0][1] == "copied"
    param, rows = np.arange(4, dtype=np.float32), np.arange(4, dtype=np.float32) + 10
    with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 3\]"):
        native(param, rows, np.array([0, 4]))
    np.testing.assert_array_equal(param, np.arange(4))
    out, = native(param, rows, np.array([3, 1]))
    np.testing.assert_array_equal(out, [13.0, 11.0])
    np.testing.assert_array_equal(param, np.arange(4) * 0.5)


def test_check_inside_a_native_loop_raises():
    """A check in a foreach body (a while_loop region compiled into the same native call)
    stops the call after the loop step."""
    def body(i, states):
        s = states[0]
        return nd.take(s, i, mode="raise"), [s * 1.5]

    def f(data, idxs):
        return nd.contrib.foreach(body, idxs, [data])[0]
    x = nd.array(_data((4, 3)))
    good, bad = nd.array([[0, 3], [1, 2], [3, 3]]), nd.array([[0, 3], [1, 9], [3, 3]])
    g = mx.jit(f)
    np.testing.assert_array_equal(g(x, good).asnumpy(), f(x, good).asnumpy())
    with pytest.raises(MXNetError, match=r"take: indices must be in \[0, 3\].*compiled code"):
        g(x, bad)
    np.testing.assert_array_equal(g(x, good).asnumpy(), f(x, good).asnumpy())
    ref = np.stack([_data((4, 3)) * 1.5 ** t for t in range(3)])
    np.testing.assert_allclose(g(x, good).asnumpy(),
                               np.stack([ref[t][[[0, 3], [1, 2], [3, 3]][t]] for t in range(3)]),
                               rtol=1e-6)


def test_a_value_check_raises_a_value_error_interpreted_and_compiled():
    """kind='value' (npx.constraint_check's): the same check, a ValueError every way it runs;
    an unknown kind is refused when the op is built (an attribute read from a file too)."""
    from tracegrad.runtime.native import NativeFunction
    b = Builder(name="chk")
    x = b.param(TensorType("i32", (3,)), "x")
    fn = b.ret(b.check_index(x, of="constraint", what="x", why="ok", lo=(1,), hi=(1,),
                             kind="value"))
    bad = np.array([1, 0, 1], np.int32)
    for run in (lambda a: interpret(fn, [a]), NativeFunction(fn)):
        np.testing.assert_array_equal(run(np.ones(3, np.int32))[0], 1)
        with pytest.raises(ValueError, match=r"constraint: x must be in \[1, 1\]") as info:
            run(bad)
        assert isinstance(info.value, MXNetError) and not isinstance(info.value, IndexError)
    b = Builder(name="chk")
    x = b.param(TensorType("i32", (3,)), "x")
    with pytest.raises(Exception, match="kind must be one of"):
        b.check_index(x, of="t", what="x", why="w", lo=(0,), hi=(1,), kind="bogus")
