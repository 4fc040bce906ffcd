"""Every `nd` function and NDArray method, called through `jit` on a second input after a first,
agrees with eager: an op that goes around the dispatcher (numpy on `_data`) is frozen into the
trace as a constant and fails here. A new public function needs a row in CALLS (or a reason
in NO_ARRAY_INPUT); the lists are checked against nd's namespace, so coverage can't shrink."""
import inspect
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

R = np.random.default_rng(5)


def f32(*shape, lo=0.5, hi=2.0):
    return R.uniform(lo, hi, shape).astype(np.float32)


def idx(*shape, high=3):
    return R.integers(0, high, shape).astype(np.int64)


def pair(make):
    """Two different draws of the same kind: the first call's and the second call's."""
    return make(), make()


# name -> (arrays maker, static kwargs, positional statics appended after the arrays)
X = lambda: [f32(3, 4)]                      # noqa: E731
XY = lambda: [f32(3, 4), f32(3, 4)]          # noqa: E731
XB = lambda: [f32(3, 4), f32(4)]             # noqa: E731
CALLS = {
    "unary": (X, {}, ()),
    "binary": (XY, {}, ()),
    "broadcast": (XB, {}, ()),
    "Activation": (X, {"act_type": "softrelu"}, ()),
    "Cast": (X, {"dtype": "float64"}, ()),
    "cast": (X, {"dtype": "int32"}, ()),
    "Dropout": (X, {"p": 0.5, "mode": "always"}, ()),
    "Embedding": (lambda: [idx(2, 3, high=4), f32(4, 5)], {}, ()),
    "FullyConnected": (lambda: [f32(2, 3), f32(5, 3), f32(5)], {"num_hidden": 5}, ()),
    "LeakyReLU": (lambda: [f32(3, 4, lo=-1, hi=1)], {"slope": 0.1}, ()),
    "SliceChannel": (X, {"num_outputs": 2}, ()),
    "split": (X, {"num_outputs": 2}, ()),
    "SwapAxis": (X, {"dim1": 0, "dim2": 1}, ()),
    "swapaxes": (X, {"dim1": 0, "dim2": 1}, ()),
    "argmax": (X, {"axis": 1}, ()),
    "argmin": (X, {"axis": 0}, ()),
    "batch_dot": (lambda: [f32(2, 3, 4), f32(2, 4, 5)], {}, ()),
    "dot": (lambda: [f32(3, 4), f32(4, 2)], {}, ()),
    "broadcast_axes": (lambda: [f32(3, 1)], {"axis": 1, "size": 4}, ()),
    "broadcast_axis": (lambda: [f32(3, 1)], {"axis": 1, "size": 4}, ()),
    "broadcast_like": (lambda: [f32(1, 4), f32(3, 4)], {}, ()),
    "broadcast_to": (lambda: [f32(1, 4)], {"shape": (3, 4)}, ()),
    "clip": (X, {"a_min": 0.8, "a_max": 1.5}, ()),
    "concat": (XY, {"dim": 0}, ()),
    "concatenate": (lambda: [[f32(3, 4), f32(2, 4)]], {}, ()),
    "stack": (XY, {"axis": 1}, ()),
    "expand_dims": (X, {"axis": 1}, ()),
    "flip": (X, {"axis": 1}, ()),
    "reverse": (X, {"axis": 0}, ()),
    "norm": (X, {"axis": 1}, ()),
    "one_hot": (lambda: [idx(5, high=4)], {"depth": 4}, ()),
    "pick": (lambda: [f32(3, 4), idx(3, high=4).astype(np.float32)], {"axis": 1}, ()),
    "repeat": (X, {"repeats": 2, "axis": 1}, ()),
    "reshape": (X, {"shape": (2, -1)}, ()),
    "reshape_like": (lambda: [f32(3, 4), f32(6, 2)], {}, ()),
    "slice": (X, {"begin": (1, 0), "end": (3, 4), "step": (1, 2)}, ()),
    "slice_axis": (X, {"axis": 1, "begin": 1, "end": 3}, ()),
    "softmax_cross_entropy": (lambda: [f32(3, 4), idx(3, high=4).astype(np.float32)], {}, ()),
    "squeeze": (lambda: [f32(3, 1, 4)], {}, ()),
    "take": (lambda: [f32(5, 4), idx(3, high=5)], {}, ()),
    "tile": (X, {"reps": (2, 1)}, ()),
    "transpose": (X, {"axes": (1, 0)}, ()),
    "where": (lambda: [(f32(3, 4) > 1.2).astype(np.float32), f32(3, 4), f32(3, 4)], {}, ()),
    "full_like": (X, {"fill_value": 3.0}, ()),
    "power": (lambda: [f32(3, 4), f32(3, 4, lo=-1, hi=2)], {}, ()),
}
UNARY = ("BlockGrad", "Flatten", "abs", "ceil", "cos", "exp", "expm1", "flatten", "floor",
         "log", "log10", "log1p", "log2", "log_softmax", "max", "mean", "min", "negative",
         "ones_like", "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "sin",
         "softmax", "softsign", "sqrt", "square", "stop_gradient", "sum", "tanh", "zeros_like")
BINARY = ("add", "divide", "elemwise_add", "elemwise_div", "elemwise_mul", "elemwise_sub",
          "equal", "greater", "greater_equal", "lesser", "lesser_equal", "maximum", "minimum",
          "modulo", "multiply", "not_equal", "subtract")
BROADCAST = tuple(n for n in dir(nd) if n.startswith("broadcast_") and n not in CALLS)
NO_ARRAY_INPUT = {  # creation, files and helpers: nothing a trace could freeze
    "arange", "array", "empty", "eye", "full", "linspace", "ones", "zeros", "load",
    "load_arrays", "save", "save_arrays", "waitall", "wrap", "dtype_name", "normalize_axes"}


def public_functions():
    return sorted(n for n in dir(nd) if not n.startswith("_")
                  and callable(getattr(nd, n)) and not inspect.isclass(getattr(nd, n))
                  and not inspect.ismodule(getattr(nd, n)))


def call_spec(name):
    if name in CALLS:
        return CALLS[name]
    if name in UNARY:
        return CALLS["unary"]
    if name in BINARY:
        return CALLS["binary"]
    if name in BROADCAST:
        return CALLS["broadcast"]
    raise AssertionError(f"no jit test row for nd.{name}: add it to CALLS")


def test_every_public_function_has_a_row():
    missing = [n for n in public_functions() if n not in NO_ARRAY_INPUT and n not in CALLS
               and n not in UNARY and n not in BINARY and n not in BROADCAST]
    assert not missing, f"add jit test rows for nd.{missing}"


def _nd(data):
    if isinstance(data, list):
        return [nd.array(d, dtype=d.dtype) for d in data]
    return nd.array(data, dtype=data.dtype)


def _flat(out):
    if isinstance(out, (list, tuple)):
        return [o.asnumpy() for o in out]
    return [out.asnumpy()]


def _run(fn, make, kwargs):
    first, second = make(), make()
    if fn is nd.Dropout:
        mx.random.seed(3)
    compiled = mx.jit(lambda *xs: fn(*xs, **kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a graph break would hide a frozen value
        compiled(*[_nd(a) for a in first])
        if fn is nd.Dropout:
            mx.random.seed(4)
        got = compiled(*[_nd(a) for a in second])
    if fn is nd.Dropout:
        mx.random.seed(4)
    want = fn(*[_nd(a) for a in second], **kwargs)
    for g, w in zip(_flat(got), _flat(want)):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in public_functions() if n not in NO_ARRAY_INPUT])
def test_function_through_jit_on_a_second_input(name):
    make, kwargs, _ = call_spec(name)
    _run(getattr(nd, name), make, kwargs)


@pytest.mark.parametrize("name", sorted(nd._METHODS))
def test_method_through_jit_on_a_second_input(name):
    fn = getattr(nd, name, None) if name != "as_np_ndarray" else None
    spec = CALLS.get(name) or (call_spec(name) if fn is not None else (X, {}, ()))
    make, kwargs, _ = spec
    method = lambda x, *rest, **kw: getattr(x, name)(*rest, **kw)  # noqa: E731
    _run(method, make, kwargs)


OPERATORS = {
    "add": lambda a, b: a + b, "radd": lambda a, b: 2.0 + b, "sub": lambda a, b: a - b,
    "rsub": lambda a, b: 2.0 - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "rdiv": lambda a, b: 2.0 / b, "mod": lambda a, b: a % b, "rmod": lambda a, b: 5.0 % b,
    "pow": lambda a, b: a ** b, "rpow": lambda a, b: 2.0 ** b, "neg": lambda a, b: -a,
    "abs": lambda a, b: abs(a), "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b, "getitem": lambda a, b: a[1:, ::2] + b[0, ::2],
    "T": lambda a, b: a.T, "copy": lambda a, b: a.copy(), "astype": lambda a, b: a.astype("f8"),
    "iadd": lambda a, b: _inplace(a, b, "__iadd__"),
    "isub": lambda a, b: _inplace(a, b, "__isub__"),
    "imul": lambda a, b: _inplace(a, b, "__imul__"),
    "idiv": lambda a, b: _inplace(a, b, "__itruediv__"),
    "imod": lambda a, b: _inplace(a, b, "__imod__"),
    "setitem": lambda a, b: _setitem(a, b),
}


def _inplace(a, b, method):
    y = a * 1.0
    getattr(y, method)(b)
    return y


def _setitem(a, b):
    y = nd.ones((3, 4))
    y[1] = b[0]
    y[:, 2] = a[:, 1]
    return y


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_through_jit_on_a_second_input(name):
    _run(OPERATORS[name], XY, {})
