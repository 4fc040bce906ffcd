"""What a jitted function reads through code it calls or objects it reaches: a helper
function's globals and closure, an object's attributes (`cfg.lr`), a method's `self.k`, a
user module's attributes. Eager code reads them again at every call; so must compiled code
(a changed number traces again, a rebound array is read at the call). Installed libraries'
and tracegrad's own code is not walked. Each case is checked against the same code run
eagerly and against a float64 reference."""
import importlib
import sys
import types
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.tracing import jit as _jit, scope as _scope

pytestmark = pytest.mark.usefixtures("fresh_capture")

X64 = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7]])
RATE = 0.5


def _scaled(x):
    return x * RATE


def test_a_number_a_helper_reads_from_its_globals():
    global RATE
    f = mx.jit(lambda x: nd.tanh(_scaled(x)) + 1)
    x = nd.array(X64)
    try:
        for rate in (0.5, 2.0, 2.0, -1.0):
            RATE = rate
            np.testing.assert_allclose(f(x).asnumpy(), np.tanh(X64 * rate) + 1, rtol=1e-5,
                                       atol=1e-6)
        assert f.counts["traces"] == 3      # one per value seen, none for a repeat
    finally:
        RATE = 0.5


def test_a_number_of_a_helpers_closure():
    k = 3.0

    def helper(x):
        return x * k

    f = mx.jit(lambda x: nd.sum(helper(x)))
    x = nd.array(X64)
    for value in (3.0, -0.25, 7.0):
        k = value
        np.testing.assert_allclose(f(x).asscalar(), X64.sum() * value, rtol=1e-5)


def test_an_objects_number_and_an_array_rebound_while_the_old_one_lives():
    cfg = types.SimpleNamespace(lr=0.5, w=nd.array(np.ones((3, 2))))
    f = mx.jit(lambda x: nd.dot(x, cfg.w) * cfg.lr)
    x = nd.array(X64)
    np.testing.assert_allclose(f(x).asnumpy(), X64 @ np.ones((3, 2)) * 0.5, rtol=1e-6)
    cfg.lr = 3.0
    np.testing.assert_allclose(f(x).asnumpy(), X64 @ np.ones((3, 2)) * 3.0, rtol=1e-6)
    old = cfg.w                                     # still alive: no weak reference dies
    w64 = np.arange(6.0).reshape(3, 2)
    cfg.w = nd.array(w64)
    np.testing.assert_allclose(f(x).asnumpy(), X64 @ w64 * 3.0, rtol=1e-6)
    assert old.shape == (3, 2)


class _Scaler:
    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return self._inner(x) + self.k

    def _inner(self, x):
        return x * self.k


def test_a_method_of_an_object_in_the_closure_reads_its_attributes():
    m = _Scaler(2.0)
    f = mx.jit(lambda x: m.apply(x))
    x = nd.array(X64)
    for k in (2.0, 7.0, -1.5):
        m.k = k
        np.testing.assert_allclose(f(x).asnumpy(), X64 * k + k, rtol=1e-6)


def test_a_jitted_method_reads_what_the_methods_it_calls_read():
    class Model:
        def __init__(self):
            self.k, self.w = 2.0, nd.array(np.ones((3, 2)))
            self.f = mx.jit(self.forward)

        def forward(self, x):
            return self._project(x) * self.k

        def _project(self, x):
            return nd.dot(x, self.w)

    m = Model()
    x = nd.array(X64)
    np.testing.assert_allclose(m.f(x).asnumpy(), X64 @ np.ones((3, 2)) * 2.0, rtol=1e-6)
    w64 = np.arange(6.0).reshape(3, 2)
    kept, m.w, m.k = m.w, nd.array(w64), 0.5    # (the old array kept alive)
    np.testing.assert_allclose(m.f(x).asnumpy(), X64 @ w64 * 0.5, rtol=1e-6)
    assert kept.shape == (3, 2)


def test_manual_sgd_through_a_helper_matches_eager_and_float64(tmp_path):
    """The tutorial's manual SGD with the prediction in a helper of a user module: the
    module's W is rebound by every update; compiled, eager and float64 agree each step."""
    (tmp_path / "helper_scope_model.py").write_text(
        "from tracegrad import nd\n"
        "W = None\n"
        "def predict(x):\n"
        "    return nd.dot(x, W)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        model = importlib.import_module("helper_scope_model")
        y64 = np.array([[1.0], [-0.5]])

        def loss(x, y):
            return nd.sum((model.predict(x) - y) ** 2)

        results = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # (rebinding every step: jit says it runs eagerly)
            for compiled in (False, True):
                model.W = nd.array(np.full((3, 1), 0.1))
                f = mx.jit(loss) if compiled else loss
                x, y = nd.array(X64), nd.array(y64)
                seen = []
                for _ in range(6):
                    model.W.attach_grad()
                    with autograd.record():
                        out = f(x, y)
                    out.backward()
                    seen.append(out.asscalar())
                    model.W = model.W - 0.05 * model.W.grad
                results[compiled] = (seen, model.W.asnumpy())
        w = np.full((3, 1), 0.1)
        ref = []
        for _ in range(6):
            r = X64 @ w - y64
            ref.append((r ** 2).sum())
            w = w - 0.05 * (2 * X64.T @ r)
        for compiled in (False, True):
            np.testing.assert_allclose(results[compiled][0], ref, rtol=1e-5)
            np.testing.assert_allclose(results[compiled][1], w, rtol=1e-5)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("helper_scope_model", None)


def test_a_user_modules_number():
    mod = types.ModuleType("cfg_mod")
    mod.__file__ = __file__            # (a user module: its file is not an installed one)
    mod.scale = 2.0
    f = mx.jit(lambda x: x * mod.scale)
    x = nd.array(X64)
    for s in (2.0, 4.0):
        mod.scale = s
        np.testing.assert_allclose(f(x).asnumpy(), X64 * s, rtol=1e-6)


def test_the_gradient_follows_a_helpers_number():
    k = 2.0

    def helper(x):
        return nd.sin(x) * k

    f = mx.jit(lambda x: nd.sum(helper(x)))
    x = nd.array(X64)
    x.attach_grad()
    for value in (2.0, -3.0):
        k = value
        with autograd.record():
            y = f(x)
        y.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), np.cos(X64) * value, rtol=1e-5)
        # finite differences on the compiled function
        e = np.zeros_like(X64)
        e[0, 1] = 1e-3
        fd = (f(nd.array(X64 + e)).asscalar() - f(nd.array(X64 - e)).asscalar()) / 2e-3
        assert abs(fd - np.cos(X64[0, 1]) * value) < 1e-2


def test_library_code_is_not_walked():
    def body(x):
        return nd.relu(x) + np.float32(1.0) * float(np.pi)

    names = [name for name, *_ in _scope.walk(body)]
    assert "nd" in names and "np" in names
    assert all(" (in " not in name for name in names), names   # numpy's and tracegrad's code
    assert all(not name.startswith(("nd.", "np.")) for name in names), names


def test_a_value_that_changes_at_every_call_makes_jit_run_eagerly_with_a_warning():
    counter = [0]
    state = types.SimpleNamespace(step=0)

    def helper(x):
        return x * (state.step % 3)

    f = mx.jit(lambda x: helper(x))
    x = nd.array(X64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(8):
            state.step = i
            counter[0] += 1
            np.testing.assert_allclose(f(x).asnumpy(), X64 * (i % 3), rtol=1e-6)
    assert any("state.step" in str(w.message) for w in caught)


ACTIVATION = nd.relu
TABLE = np.array([1.0, 10.0, 100.0], np.float32)


def test_a_global_function_rebound_traces_again():
    global ACTIVATION
    f = mx.jit(lambda x: ACTIVATION(x) * 2)
    x = nd.array(X64)
    try:
        np.testing.assert_allclose(f(x).asnumpy(), np.maximum(X64, 0) * 2, rtol=1e-6)
        ACTIVATION = nd.tanh
        np.testing.assert_allclose(f(x).asnumpy(), np.tanh(X64) * 2, rtol=1e-6)
    finally:
        ACTIVATION = nd.relu


def test_a_numpy_array_of_the_scope_is_read_at_every_call():
    """As an operand and copied by nd.array inside the function: written in place, or the
    name bound to another numpy array, the next call uses what is there then."""
    global TABLE
    as_operand = mx.jit(lambda x: x * TABLE)
    copied = mx.jit(lambda x: x + nd.array(TABLE))
    x = nd.array(X64)
    try:
        for update in (None, "in place", "rebound"):
            if update == "in place":
                TABLE[:] = [3.0, -2.0, 0.5]
            elif update == "rebound":
                TABLE = np.array([7.0, 8.0, 9.0], np.float32)
            np.testing.assert_allclose(as_operand(x).asnumpy(), X64 * TABLE, rtol=1e-6)
            np.testing.assert_allclose(copied(x).asnumpy(), X64 + TABLE, rtol=1e-6)
        assert copied.counts["traces"] == 2    # (in place: the same code reads it again)
    finally:
        TABLE = np.array([1.0, 10.0, 100.0], np.float32)


def test_a_jitted_helper_inlined_in_another_reads_its_scope_again():
    k = 2.0
    inner = mx.jit(lambda x: x * k)
    outer = mx.jit(lambda x: inner(x) + 1)
    x = nd.array(X64)
    for value in (2.0, 5.0):
        k = value
        np.testing.assert_allclose(outer(x).asnumpy(), X64 * value + 1, rtol=1e-6)


def test_installed_modules_are_not_watched_but_a_global_function_is():
    """`nd` and `np` named by the code are not checked at every call (nobody binds those names
    to another module); a global function is, once, however many walked functions name it."""
    f = mx.jit(lambda x: nd.relu(_scaled(x)) + np.float32(1.0))
    f(nd.array(X64))
    assert [name for _, value, name in f.watched
            if not isinstance(value, _scope.VALUE_TYPES)] == ["_scaled"]


class _Resisting:
    """An object of the scope whose attribute look-ups raise (a proxy): not followed, and the
    function still compiles."""
    __slots__ = ()

    def __getattr__(self, name):
        raise RuntimeError(f"no attribute {name} here")


RESISTING = _Resisting()


def test_an_object_that_raises_on_attribute_access_is_not_followed():
    f = mx.jit(lambda x: x * 2 if RESISTING is not None else x)
    x = nd.array(X64)
    for _ in range(2):
        np.testing.assert_allclose(f(x).asnumpy(), X64 * 2, rtol=1e-6)
    assert f.counts["native"] == 2


def test_a_dicts_items_the_code_subscripts_are_watched_and_stored():
    """`config["lr"]` and `config["w"]` (keys the code has as constants) are read again at
    every call; an array stored in a dict item (`cache["last"] = ...`) is bound there by
    every compiled call."""
    config = {"lr": 0.5, "w": nd.array(np.ones(3))}
    cache = {}

    def f(x):
        cache["last"] = x * 10
        return x * config["lr"] * config["w"]

    jf = mx.jit(f)
    for lr, w in ((0.5, None), (2.0, None), (2.0, np.arange(3.0))):
        config["lr"] = lr
        if w is not None:
            config["w"] = nd.array(w)
        x = nd.array(X64)
        np.testing.assert_allclose(jf(x).asnumpy(), X64 * lr * config["w"].asnumpy(),
                                   rtol=1e-6)
        np.testing.assert_allclose(cache["last"].asnumpy(), X64 * 10, rtol=1e-6)
    assert jf.counts["native"] == 3
