"""Python values a jitted function reads through containers, objects passed as arguments,
class attributes and default arguments; and Python state that changes as it is read.

Eager code reads them again at every call. Compiled code must never return the value its
trace computed from an old one: a change traces again, a side effect on them while it runs
makes the function run eagerly, and a random generator or an iterator (no watch can see those
change) makes it run eagerly from the start. Each case is checked against the same function
run eagerly (`fn`) and against numpy in float64."""
import random
import types
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.tracing import scope as _scope

pytestmark = pytest.mark.usefixtures("fresh_capture")

X64 = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7]])


def _check(jf, x, want):
    """The jitted call, the same function run eagerly, and the float64 reference agree."""
    got = jf(nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jf.fn(nd.array(x)).asnumpy(), want, rtol=1e-6, atol=1e-6)


def test_a_number_in_a_list_changed_in_place():
    scales = [0.5, 2.0]
    jf = mx.jit(lambda x: x * scales[0] + scales[1])
    for a, b in ((0.5, 2.0), (0.5, 2.0), (3.0, 2.0), (3.0, -1.0)):
        scales[0], scales[1] = a, b
        _check(jf, X64, X64 * a + b)
    assert jf.counts["traces"] == 3     # one per contents seen, none for a repeat
    assert jf.counts["native"] == 4


def test_an_int_replaced_by_an_equal_float_traces_again():
    """1 and 1.0 are equal, but the trace's literal dtype differs (a float32 multiply either
    way here; an integer power would not be): the contents compare by type too."""
    k = [2]
    jf = mx.jit(lambda x: x ** k[0])
    _check(jf, X64, X64 ** 2)
    k[0] = 2.0
    _check(jf, X64, X64 ** 2)
    assert jf.counts["traces"] == 2


def test_a_dict_item_under_a_key_the_code_computes():
    table = {"a": 1.0, "b": -3.0}
    which = ["a"]
    jf = mx.jit(lambda x: x * table[which[0]])
    _check(jf, X64, X64)
    which[0] = "b"
    _check(jf, X64, X64 * -3.0)
    table["b"] = 0.25
    _check(jf, X64, X64 * 0.25)
    del table["a"]       # (another key removed: the contents changed, the value did not)
    _check(jf, X64, X64 * 0.25)
    assert jf.counts["native"] == 4


def test_an_object_held_in_a_list_and_a_tuple_replaced_in_a_list():
    objs = [types.SimpleNamespace(s=1.0)]
    pairs = [(1.0, 2.0)]
    jf = mx.jit(lambda x: x * objs[0].s + pairs[0][1])
    _check(jf, X64, X64 + 2.0)
    objs[0].s = 4.0
    _check(jf, X64, X64 * 4.0 + 2.0)
    pairs[0] = (1.0, 9.0)
    _check(jf, X64, X64 * 4.0 + 9.0)
    objs[0] = types.SimpleNamespace(s=-1.0)
    _check(jf, X64, -X64 + 9.0)


def test_a_number_read_from_a_small_numpy_array_changed_in_place():
    scale = np.array(2.0)
    offsets = np.array([0.5, -0.5])
    jf = mx.jit(lambda x: x * float(scale) + offsets[1].item())
    _check(jf, X64, X64 * 2.0 - 0.5)
    scale[...] = 5.0
    _check(jf, X64, X64 * 5.0 - 0.5)
    offsets[1] = 3.0
    _check(jf, X64, X64 * 5.0 + 3.0)


def test_getattr_with_a_constant_name_and_a_class_attribute():
    class Config:
        lr = 0.5

    ns = types.SimpleNamespace(k=1.0)
    cfg = Config()
    jf = mx.jit(lambda x: x * getattr(ns, "k") * cfg.lr)
    _check(jf, X64, X64 * 0.5)
    ns.k = 2.5
    _check(jf, X64, X64 * 1.25)
    Config.lr = 2.0       # (the instance has none of its own: read on its class)
    _check(jf, X64, X64 * 5.0)
    cfg.lr = -1.0         # (now its own)
    _check(jf, X64, X64 * -2.5)


def test_a_mutable_default_argument():
    def f(x, weights=[1.0, 2.0]):   # noqa: B006 - the point of the test
        return x * weights[1]

    jf = mx.jit(f)
    _check(jf, X64, X64 * 2.0)
    f.__defaults__[0][1] = 7.0
    _check(jf, X64, X64 * 7.0)


def test_an_object_passed_as_an_argument_keys_the_call_by_its_attributes():
    cfg = types.SimpleNamespace(lr=1.0, opt=types.SimpleNamespace(momentum=0.5), name="a")
    jf = mx.jit(lambda x, c: x * c.lr + c.opt.momentum)
    x = nd.array(X64)
    np.testing.assert_allclose(jf(x, cfg).asnumpy(), X64 + 0.5, rtol=1e-6)
    cfg.lr = 3.0
    np.testing.assert_allclose(jf(x, cfg).asnumpy(), X64 * 3 + 0.5, rtol=1e-6)
    cfg.opt.momentum = -2.0
    np.testing.assert_allclose(jf(x, cfg).asnumpy(), X64 * 3 - 2.0, rtol=1e-6)
    cfg.lr, cfg.opt.momentum = 1.0, 0.5      # (back to the first: its compiled variant)
    np.testing.assert_allclose(jf(x, cfg).asnumpy(), X64 + 0.5, rtol=1e-6)
    assert jf.counts["traces"] == 3 and jf.counts["native"] == 4


def test_a_container_changed_while_the_function_runs_makes_it_eager_and_counts_once():
    counter = [0]

    def f(x):
        counter[0] += 1
        return x * counter[0]

    jf = mx.jit(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in (1, 2, 3):
            np.testing.assert_allclose(jf(nd.array(X64)).asnumpy(), X64 * n, rtol=1e-6)
    assert counter[0] == 3      # (the trace's increment was put back before the eager run)
    assert any("the items of counter" in str(w.message) for w in caught)


def test_an_array_appended_to_a_global_list_is_appended_at_every_call():
    outputs = []

    def f(x):
        y = x * 2
        outputs.append(y)
        return y + 1

    jf = mx.jit(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            _check_one = jf(nd.array(X64)).asnumpy()
            np.testing.assert_allclose(_check_one, X64 * 2 + 1, rtol=1e-6)
    assert len(outputs) == 3
    for y in outputs:
        np.testing.assert_allclose(y.asnumpy(), X64 * 2, rtol=1e-6)


@pytest.mark.parametrize("source", ["random", "np.random", "RandomState", "bound", "iterator"])
def test_python_state_that_changes_as_it_is_read_runs_eagerly(source):
    rs = np.random.RandomState(0)
    it = iter(range(100))
    draw = {
        "random": lambda: random.random(),
        "np.random": lambda: float(np.random.rand()),
        "RandomState": lambda: float(rs.rand()),
        "bound": random.random,
        "iterator": lambda: next(it),
    }[source]
    jf = mx.jit(lambda x: x * draw())

    def run(fn, seed):
        random.seed(seed)
        np.random.seed(seed)
        nonlocal rs, it
        rs, it = np.random.RandomState(seed), iter(range(100))
        return [fn(nd.array(X64)).asnumpy() for _ in range(3)]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = run(jf, 3)
    eager = run(jf.fn, 3)
    for a, b in zip(compiled, eager):
        np.testing.assert_array_equal(a, b)     # (the same draws, none spent on a trace)
    assert not np.array_equal(compiled[0], compiled[1])
    assert jf.counts["traces"] == 0
    assert any("changes as it is read" in str(w.message) for w in caught)


def test_tracegrads_own_random_and_numpy_constants_still_compile():
    jf = mx.jit(lambda x: x * np.float32(2) + nd.random.uniform(shape=(2, 3)))
    a, b = jf(nd.array(X64)).asnumpy(), jf(nd.array(X64)).asnumpy()
    assert not np.array_equal(a, b)
    assert jf.counts["traces"] == 1 and jf.counts["native"] == 2


def test_a_large_list_is_watched_by_identity_and_length():
    big = [1.0] * (_scope.MAX_ITEMS + 1)
    jf = mx.jit(lambda x: x * big[0])
    _check(jf, X64, X64)
    assert "the length of big" in jf.explain()
    big.append(2.0)       # (its length changed: traced again)
    _check(jf, X64, X64)
    assert jf.counts["traces"] == 2


def test_a_watched_number_in_a_list_gives_the_gradient_of_its_value_now():
    k = [2.0]
    jf = mx.jit(lambda x: nd.sum(nd.tanh(x * k[0])))
    for value in (2.0, -0.5):
        k[0] = value
        x = nd.array(X64)
        x.attach_grad()
        with autograd.record():
            y = jf(x)
        y.backward()
        want = value * (1 - np.tanh(X64 * value) ** 2)
        np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-5, atol=1e-6)
        # and against finite differences of the float64 function
        eps, i = 1e-6, (1, 2)
        up, down = X64.copy(), X64.copy()
        up[i] += eps
        down[i] -= eps
        fd = (np.tanh(up * value).sum() - np.tanh(down * value).sum()) / (2 * eps)
        np.testing.assert_allclose(x.grad.asnumpy()[i], fd, rtol=1e-4)


def test_a_callable_object_and_a_partial():
    import functools

    class Scaler:
        def __init__(self):
            self.k = 1.0

        def __call__(self, x):
            return x * self.k

    s = Scaler()
    jf = mx.jit(s)
    _check(jf, X64, X64)
    s.k = 5.0
    _check(jf, X64, X64 * 5.0)

    def f(x, weights):
        return x * weights[0]
    w = [2.0]
    jp = mx.jit(functools.partial(f, weights=w))
    _check(jp, X64, X64 * 2.0)
    w[0] = -3.0
    _check(jp, X64, X64 * -3.0)


def test_a_function_that_changes_its_arguments_runs_eagerly_and_changes_them_once():
    """A list it appends to, a dict it sets, an array it stores in a list, an object's
    counter: what eager code does to the caller's objects, once per call (the trace works on
    copies of the containers, and an object's attributes are put back before the eager run)."""
    def f(x, log, table, slots, state):
        log.append(float(x.sum().asscalar()))
        table["last"] = len(log)
        slots[0] = x * 2
        state.calls += 1
        return x * 3

    jf = mx.jit(f)
    log, table, slots, state = [], {}, [None], types.SimpleNamespace(calls=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in (1, 2, 3):
            x = nd.array(X64 * n)
            np.testing.assert_allclose(jf(x, log, table, slots, state).asnumpy(), X64 * n * 3,
                                       rtol=1e-6)
            np.testing.assert_allclose(slots[0].asnumpy(), X64 * n * 2, rtol=1e-6)
    np.testing.assert_allclose(log, [X64.sum() * n for n in (1, 2, 3)], rtol=1e-5)
    assert table == {"last": 3} and state.calls == 3
    assert any("changes an argument" in str(w.message) for w in caught)


def test_arguments_read_but_not_changed_still_compile():
    jf = mx.jit(lambda x, coeffs, opts: x * coeffs[0] + opts["shift"])
    for _ in range(3):
        _check_args = jf(nd.array(X64), [2.0, 1.0], {"shift": 0.5}).asnumpy()
        np.testing.assert_allclose(_check_args, X64 * 2 + 0.5, rtol=1e-6)
    assert jf.counts["traces"] == 1 and jf.counts["native"] == 3


def test_hostile_scope_values_are_walked_without_running_their_code():
    """A list holding itself, a 0-d object array, an object whose attribute look-up and
    comparison raise, tuple keys, a set of objects, a bounded deque: the walk neither loops
    nor raises, and what the function reads is still watched."""
    class Raising:
        def __getattr__(self, name):
            raise RuntimeError("no attributes here")

        def __eq__(self, other):
            raise RuntimeError("no comparisons here")

        __hash__ = object.__hash__

    import collections
    loop = [1.0]
    loop.append(loop)
    odd = (np.array(object()), Raising(), {(1, 2): 3.0}, {Raising(), Raising()},
           collections.deque([1.0, 2.0], maxlen=3))
    jf = mx.jit(lambda x: x * loop[0] + odd[2][(1, 2)] + odd[4][-1] + len(odd[3]))
    _check(jf, X64, X64 + 3.0 + 2.0 + 2)
    loop[0] = 2.0
    odd[4].append(7.0)
    _check(jf, X64, X64 * 2 + 3.0 + 7.0 + 2)


def test_an_object_arguments_array_rebound_while_the_old_one_lives():
    """The old array kept alive elsewhere: its weak reference does not die, so the object's
    attribute itself keys the call (by the array's identity)."""
    h = types.SimpleNamespace(w=nd.array(np.ones(3)))
    jf = mx.jit(lambda x, holder: x * holder.w)
    x = nd.array(X64)
    np.testing.assert_allclose(jf(x, h).asnumpy(), X64, rtol=1e-6)
    old = h.w
    h.w = nd.array(np.arange(3.0))
    np.testing.assert_allclose(jf(x, h).asnumpy(), X64 * np.arange(3.0), rtol=1e-6)
    assert old is not None


def test_a_jitted_method_gets_self_and_watches_the_attributes_it_reads():
    class Model:
        def __init__(self, k):
            self.k, self.w = k, nd.array(np.ones(3))
            self.unread = 0

        @mx.jit
        def apply(self, x):
            return x * self.k + self.w

    m = Model(2.0)
    x = nd.array(X64)
    np.testing.assert_allclose(m.apply(x).asnumpy(), X64 * 2 + 1, rtol=1e-6)
    m.unread += 1        # (an attribute the code does not read: no new trace)
    np.testing.assert_allclose(m.apply(x).asnumpy(), X64 * 2 + 1, rtol=1e-6)
    assert Model.apply.counts["traces"] == 1
    m.k = -1.0
    np.testing.assert_allclose(m.apply(x).asnumpy(), -X64 + 1, rtol=1e-6)
    other = Model(3.0)
    np.testing.assert_allclose(other.apply(x).asnumpy(), X64 * 3 + 1, rtol=1e-6)
    m.w = nd.array(np.arange(3.0))
    np.testing.assert_allclose(m.apply(x).asnumpy(), -X64 + np.arange(3.0), rtol=1e-6)


def test_a_generator_seeded_inside_the_function_compiles():
    """`np.random.default_rng(seed)` and `random.Random(seed)` made at every call draw the
    same numbers every call: nothing there changes as it is read."""
    def f(x):
        w = np.random.default_rng(3).normal(size=3)
        return x * nd.array(w) + random.Random(4).random()
    jf = mx.jit(f)
    want = X64 * np.random.default_rng(3).normal(size=3) + random.Random(4).random()
    _check(jf, X64, want)
    _check(jf, X64, want)
    assert jf.counts["traces"] == 1 and jf.counts["eager_fallbacks"] == 0


def test_dicts_and_keyword_arguments_keep_their_order():
    """`for k in kwargs` sees the call's order, and a returned dict (or OrderedDict) has the
    order the function gave it (both were sorted by key before: values in the wrong places)."""
    from collections import OrderedDict
    x = nd.array(X64)
    by_keywords = mx.jit(lambda x, **kw: [kw[k] * x for k in kw])
    for _ in range(2):
        got = by_keywords(x, b=2.0, a=1.0)
        np.testing.assert_allclose(got[0].asnumpy(), X64 * 2.0, rtol=1e-6)
        np.testing.assert_allclose(got[1].asnumpy(), X64, rtol=1e-6)
    got = by_keywords(x, a=1.0, b=2.0)          # (another order: another signature)
    np.testing.assert_allclose(got[0].asnumpy(), X64, rtol=1e-6)
    returns = mx.jit(lambda x: ({"b": x, "a": x * 2, 3: x}, OrderedDict([("z", x), ("a", x)])))
    for _ in range(2):
        plain, ordered = returns(x)
        assert list(plain) == ["b", "a", 3] and type(ordered) is OrderedDict
        assert list(ordered) == ["z", "a"]
        np.testing.assert_allclose(plain["a"].asnumpy(), X64 * 2, rtol=1e-6)


def test_attributes_read_by_computed_names():
    """getattr(obj, name) with a name the code computes: every attribute of the objects it
    reaches is watched (and keys an object argument)."""
    cfg = types.SimpleNamespace(a0=2.0, a1=-1.0)
    names = ["a0"]
    jf = mx.jit(lambda x: x * getattr(cfg, names[0]))
    _check(jf, X64, X64 * 2.0)
    cfg.a0 = 7.0
    _check(jf, X64, X64 * 7.0)
    names[0] = "a1"
    _check(jf, X64, -X64)
    by_argument = mx.jit(lambda x, c: x * getattr(c, "a" + "1"))
    np.testing.assert_allclose(by_argument(nd.array(X64), cfg).asnumpy(), -X64, rtol=1e-6)
    cfg.a1 = 0.5
    np.testing.assert_allclose(by_argument(nd.array(X64), cfg).asnumpy(), X64 * 0.5, rtol=1e-6)


def test_backward_and_trainer_step_inside_a_jitted_step_run_eagerly_once_per_call():
    """A whole training step jitted: backward() writes gradients and trainer.step() writes
    weights, which compiled code would not repeat (it returned the first step's loss at every
    call before). The trace stops at backward() before anything is written, so each call
    updates the weights exactly once, as the eager step does."""
    from tracegrad import gluon

    def make():
        mx.random.seed(0)
        net = gluon.nn.Dense(2, in_units=3)
        net.initialize()
        return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    x = nd.array(np.random.RandomState(0).randn(4, 3))
    y = nd.array(np.random.RandomState(1).randn(4, 2))
    losses, weights = [], []
    for jitted in (False, True):
        net, trainer = make()

        def step(x, y):
            with autograd.record():
                loss = gluon.loss.L2Loss()(net(x), y)
            loss.backward()
            trainer.step(4)
            return loss.mean()
        f = mx.jit(step) if jitted else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            losses.append([float(f(x, y).asscalar()) for _ in range(4)])
        weights.append(net.weight.data().asnumpy())
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
    assert losses[0][0] > losses[0][-1]
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-6)
    # (the trace stops at its record() scope already: the step is called outside record())
    assert any("autograd.record()" in str(w.message) or "backward()" in str(w.message)
               for w in caught)


def test_a_scope_array_written_in_place_is_written_once_per_call():
    total = nd.zeros(3)

    def accumulate(x):
        total[:] = total + x
        return total * 2

    jf = mx.jit(accumulate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in (1, 2, 3):
            np.testing.assert_allclose(jf(nd.array(np.ones(3))).asnumpy(), [2.0 * n] * 3)
    np.testing.assert_allclose(total.asnumpy(), [3.0] * 3)    # (not 4: the trace's write
    assert any("in place" in str(w.message) for w in caught)  # was put back)

    counts = nd.zeros(2)

    def constant_write(x):      # (a write of a constant goes straight into the buffer)
        counts[0] = 7.0
        return x + 1

    jc = mx.jit(constant_write)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jc(nd.array(np.ones(2)))
        counts[0] = 0.0
        jc(nd.array(np.ones(2)))
    assert counts.asnumpy()[0] == 7.0


def test_an_array_argument_written_in_place_is_refused_with_a_clear_error():
    """Writing into an input of a compiled function is refused, naming the write and the
    line (eager code allows it): never a silent difference."""
    from tracegrad.base import MXNetError

    def clip_in_place(x):
        x[:] = nd.clip(x, 0, 1)
        return x * 2

    x = nd.array(X64)
    with pytest.raises(MXNetError, match="input of a compiled function"):
        mx.jit(clip_in_place)(x)
    np.testing.assert_array_equal(x.asnumpy(), X64.astype(np.float32))


def test_a_pending_steps_array_read_by_a_jitted_function_is_left_as_it_is():
    """A captured step's deferred output read by a jitted function is materialized by the
    read (not a write of the function): it stays the array eager made, with its value."""
    from tracegrad import gluon
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    x = nd.array(np.random.RandomState(0).randn(4, 3))
    holder = {}
    reader = mx.jit(lambda y: y * 2 + holder["out"])
    for _ in range(6):
        with autograd.record():
            out = net(x)
            loss = (out * out).sum()
        holder["out"] = out
        got = reader(nd.ones((4, 2)))
        np.testing.assert_allclose(got.asnumpy(), 2 + out.asnumpy(), rtol=1e-6)
        loss.backward()
        trainer.step(4)


def test_a_function_that_records_its_own_graph_called_outside_record():
    """`with autograd.record():` inside the function, called outside record(): eager returns
    a recorded result (backward() works on it); compiled code compiled for an unrecorded call
    would return an untracked one, so that call runs eagerly. Inside record() it compiles."""
    def f(x):
        with autograd.record():
            y = x * x
        return y

    jf = mx.jit(f)
    for _ in range(2):
        x = nd.array(X64)
        x.attach_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = jf(x)
        y.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), 2 * X64, rtol=1e-6)
    inside = mx.jit(f)
    for _ in range(2):
        x = nd.array(X64)
        x.attach_grad()
        with autograd.record():
            y = inside(x)
        y.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), 2 * X64, rtol=1e-6)
    assert inside.counts["native"] == 2
