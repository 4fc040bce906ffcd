"""Every registry op, compiled natively == the numpy interpreter (impl), on a table of samples:
odd sizes, broadcasting, size-1 and zero-size dims, f32/f64/i32/i64/bool. Random ops must be
bit-identical (Philox words); random_normal goes through inline log/cos, so it is compared
with a tight tolerance instead."""
import numpy as np
import pytest

from tracegrad.ir import REGISTRY, Function, Operation, TensorType
from tracegrad.ir.ops import ELEMENTWISE
from tracegrad.codegen.entry import check_lowerable
from tracegrad.codegen.kernels import kernel_for
from tracegrad.runtime.handles import OutCall

from cgutil import check_cases

R = np.random.default_rng(1)


def f(*shape, dtype=np.float32, lo=-3.0, hi=3.0):
    return R.uniform(lo, hi, shape).astype(dtype)


def ints(*shape, dtype=np.int64, lo=-9, hi=10):
    return R.integers(lo, hi, shape).astype(dtype)


def bools(*shape):
    return R.integers(0, 2, shape).astype(bool)


POSITIVE = {"log": (0.01, 5.0), "sqrt": (0.0, 5.0), "log1p": (-0.99, 5.0),
            "arcsin": (-1.0, 1.0), "arccos": (-1.0, 1.0), "arctanh": (-0.99, 0.99),
            "erfinv": (-0.999, 0.999), "arccosh": (1.0, 5.0), "tan": (-1.5, 1.5)}
# ops that call out of the graph (custom, compiled_call, while_loop, ...): one family
PYTHON_CALLBACK_OPS = {n for n, o in REGISTRY.items() if issubclass(o, OutCall)}
# ...of which codegen lowers those with IR regions (while_loop, cond: codegen/control.py;
# tested in tests/api/test_native_control_flow.py); the others refuse clearly
REGION_OPS = {n for n in PYTHON_CALLBACK_OPS if kernel_for(REGISTRY[n]) is not None}
assert REGION_OPS == {"while_loop", "cond"}
# ops that run through their numpy impl between native segments (runtime/segments.py);
# tests/api/test_nd_ops.py checks jit == eager across them
NOT_NATIVE = {"potrf", "trsm", "inverse", "logabsdet", "detsign", "syevd_values",
              "syevd_vectors", "gelqf_q", "gelqf_l",
              # mx.np.linalg's svd / eig primitives (ir/ops/lapack_svd_eig.py; jit == eager in
              # tests/api/test_np_linalg_random_more.py)
              "gesvd_ut", "gesvd_l", "gesvd_v", "geev_values", "geev_vectors",
              # (Multi)Proposal's greedy selection (contrib_proposal.py; jit == eager in
              # tests/api/test_mxnet_r29_compat.py)
              "contrib_multi_proposal"}
CHECK = {"of": "take", "what": "indices", "why": "axis {k}"}


def unary_float(name):
    lo, hi = POSITIVE.get(name, (-4.0, 4.0))
    return [(name, [f(7, 13, lo=lo, hi=hi)], {}),
            (name, [f(5, dtype=np.float64, lo=lo, hi=hi)], {}),
            (name, [f(0, 3, lo=lo, hi=hi)], {}),
            (name, [f(1, 1, 4, lo=lo, hi=hi)], {}),
            (name, [np.array(f(1, lo=lo, hi=hi)[0])], {})]


def binary(name, int_ok=True):
    cases = [(name, [f(7, 13), f(13)], {}), (name, [f(7, 1), f(1, 13)], {}),
             (name, [f(3, 4, dtype=np.float64), f(3, 4, dtype=np.float64)], {}),
             (name, [f(7, 13), 2.0], {}), (name, [0.5, f(4, dtype=np.float64)], {}),
             (name, [f(0, 4), f(4)], {})]
    if int_ok:
        y = ints(6, 5, dtype=np.int32)
        cases += [(name, [ints(6, 5, dtype=np.int32), y], {}),
                  (name, [ints(6, 5), ints(5)], {}), (name, [ints(6, 5), f(5)], {})]
    return cases


WIN1 = {"kernel": (3,), "stride": (1,), "dilate": (1,), "pad_lo": (0,), "pad_hi": (0,)}
WIN2 = {"kernel": (3, 2), "stride": (2, 1), "dilate": (1, 2), "pad_lo": (0, 0), "pad_hi": (0, 0)}
SAMPLES = {
    "pow": [("pow", [f(7, 13, lo=0.1), f(7, 13)], {}), ("pow", [f(7, 13), 2.0], {}),
            ("pow", [f(5, dtype=np.float64, lo=0.1), 0.5], {}),
            ("pow", [ints(5, 4, lo=-3, hi=4), ints(5, 4, lo=0, hi=5)], {})],
    "div": binary("div") + [("div", [ints(50, lo=-20, hi=20), ints(50, lo=-4, hi=5)], {})],
    "mod": binary("mod") + [
        ("mod", [ints(60, lo=-20, hi=20), ints(60, lo=-4, hi=5)], {}),
        ("mod", [ints(60, lo=-20, hi=20, dtype=np.int32), ints(60, lo=-4, hi=5, dtype=np.int32)],
         {}),
        ("mod", [np.array([7.5, -7.5, 7.5, -7.5, 0.0, -0.0, 3.0, np.inf, 1.0, 2.0]),
                 np.array([3.0, 3.0, -3.0, -3.0, 3.0, -3.0, 3.0, 3.0, 0.0, np.inf])], {}),
        ("mod", [np.array([np.iinfo(np.int64).min, 5, -5], dtype=np.int64),
                 np.array([-1, 0, 0], dtype=np.int64)], {})],
    "where": [("where", [bools(7, 1), f(7, 13), f(13)], {}),
              ("where", [bools(4), ints(4), 1.5], {})],
    "cast": [("cast", [f(7, 13) * 10], {"dtype": "i32"}), ("cast", [f(5)], {"dtype": "f64"}),
             ("cast", [ints(5)], {"dtype": "f32"}), ("cast", [f(6).round()], {"dtype": "bool"}),
             ("cast", [bools(6)], {"dtype": "f32"}),
             ("cast", [ints(6, dtype=np.int32)], {"dtype": "i64"}),
             ("cast", [f(4, dtype=np.float64)], {"dtype": "f32"})],
    "constant": [("constant", [], {"value": 2.5, "shape": (3, 4), "dtype": "f32"}),
                 ("constant", [], {"value": 7, "shape": (2,), "dtype": "i64"}),
                 ("constant", [], {"value": 1.0, "shape": (0, 2), "dtype": "f64"})],
    "logical_not": [("logical_not", [bools(7, 13)], {}), ("logical_not", [f(5).round()], {})],
    "neg": unary_float("neg") + [("neg", [ints(5)], {})],
    "abs": unary_float("abs") + [("abs", [ints(5, dtype=np.int32)], {})],
    "relu": unary_float("relu") + [("relu", [ints(5)], {})],
    "sign": unary_float("sign") + [("sign", [ints(5)], {})],
    "matmul": [("matmul", [f(7, 13), f(13, 5)], {}),
               ("matmul", [f(13, 7), f(13, 5)], {"transpose_a": True}),
               ("matmul", [f(7, 13), f(5, 13)], {"transpose_b": True}),
               ("matmul", [f(13, 7), f(5, 13)], {"transpose_a": True, "transpose_b": True}),
               ("matmul", [f(2, 3, 4), f(2, 4, 5)], {}),
               ("matmul", [f(2, 1, 3, 4), f(5, 4, 6)], {}),
               ("matmul", [f(3, 4, dtype=np.float64), f(4, 2, dtype=np.float64)], {}),
               ("matmul", [f(3, 0), f(0, 4)], {}), ("matmul", [f(0, 3), f(3, 4)], {}),
               ("matmul", [f(1, 2), f(1, 2)], {"transpose_b": True})],
    "sum": [("sum", [f(7, 13)], {"axes": (1,)}), ("sum", [f(7, 13)], {"axes": (0,)}),
            ("sum", [f(7, 13)], {"axes": (0, 1)}), ("sum", [f(7, 13)], {"axes": (1,), "keepdims": True}),
            ("sum", [f(2, 3, 4, dtype=np.float64)], {"axes": (0, 2)}),
            ("sum", [ints(5, 6, dtype=np.int32)], {"axes": (1,)}),
            ("sum", [f(0, 3)], {"axes": (0,)}), ("sum", [f(4, 1)], {"axes": (1,)})],
    "argmax": [("argmax", [f(7, 13)], {"axis": 1}), ("argmax", [f(7, 13)], {"axis": 0}),
               ("argmax", [ints(4, 6, lo=0, hi=3)], {"axis": 1, "keepdims": True}),
               ("argmax", [f(2, 3, 4, dtype=np.float64)], {"axis": 1})],
    "broadcast_to": [("broadcast_to", [f(1, 13)], {"shape": (7, 13)}),
                     ("broadcast_to", [f(13)], {"shape": (2, 7, 13)}),
                     ("broadcast_to", [bools(3, 1)], {"shape": (3, 4)})],
    "reshape": [("reshape", [f(7, 13)], {"shape": (13, 7)}), ("reshape", [f(7, 13)], {"shape": (91,)}),
                ("reshape", [ints(0, 3)], {"shape": (3, 0)})],
    "transpose": [("transpose", [f(2, 3, 4)], {"perm": (2, 0, 1)}),
                  ("transpose", [f(7, 13, dtype=np.float64)], {"perm": (1, 0)})],
    "expand_dims": [("expand_dims", [f(7, 13)], {"axis": 1}), ("expand_dims", [f(3)], {"axis": 0})],
    "slice": [("slice", [f(7, 13)], {"begin": (1, 2), "end": (6, 13), "step": (2, 3)}),
              ("slice", [f(7, 13)], {"begin": (3, 0), "end": (3, 13), "step": (1, 1)})],
    "slice_scatter": [("slice_scatter", [f(3, 4)], {"shape": (7, 13), "begin": (1, 2),
                                                  "end": (6, 13), "step": (2, 3)})],
    "concat": [("concat", [f(2, 5), f(3, 5), f(1, 5)], {"axis": 0}),
               ("concat", [f(2, 5), f(2, 1), f(2, 0)], {"axis": 1})],
    "take": [("take", [f(7, 13), np.array([0, 6, 9, -2], dtype=np.int64)], {"axis": 0}),
             ("take", [f(7, 13), f(2, 3, lo=0, hi=12)], {"axis": 1}),
             ("take", [f(5, dtype=np.float64), np.array(3, dtype=np.int32)], {"axis": 0})],
    "scatter_add": [("scatter_add", [f(5, 13), np.array([0, 2, 2, 9, -1])], {"axis": 0, "size": 7}),
                    ("scatter_add", [f(3, 2, 4), ints(2, 4, lo=0, hi=3)], {"axis": 1, "size": 3})],
    "one_hot": [("one_hot", [np.array([0, 3, -1, 4, 2])], {"depth": 4}),
                ("one_hot", [f(2, 3, lo=0, hi=4)], {"depth": 4, "dtype": "f64",
                                                    "on_value": 2.0, "off_value": -1.0})],
    "iota": [("iota", [], {"shape": (3, 4), "axis": 1}),
             ("iota", [], {"shape": (3, 4), "axis": 0, "dtype": "f32"})],
    "max": [("max", [f(7, 13)], {"axes": (1,)}), ("max", [f(7, 13)], {"axes": (0,), "keepdims": True}),
            ("max", [ints(4, 5)], {"axes": (0, 1)})],
    "min": [("min", [f(7, 13)], {"axes": (1,)}), ("min", [f(2, 3, 4, dtype=np.float64)], {"axes": (0, 2)}),
            ("min", [ints(4, 5, dtype=np.int32)], {"axes": (1,)})],
    "take_along_axis": [("take_along_axis", [f(7, 13), ints(7, 4, lo=-2, hi=15)], {"axis": 1}),
                        ("take_along_axis", [f(5, 3, dtype=np.float64), f(2, 3, lo=0, hi=5)],
                         {"axis": 0})],
    "pick": [("pick", [f(7, 13), ints(7, lo=-2, hi=15)], {"axis": 1}),
             ("pick", [f(5, 3, 2, dtype=np.float64), f(3, 2, lo=-1, hi=6)], {"axis": 0})],
    "scatter_add_along_axis": [("scatter_add_along_axis", [f(7, 4), ints(7, 4, lo=-1, hi=6)],
                                {"axis": 1, "size": 5})],
    "cumsum": [("cumsum", [f(7, 13)], {"axis": 1}), ("cumsum", [f(4, 5, 3)], {"axis": 1,
                                                                           "reverse": True}),
               ("cumsum", [ints(6, dtype=np.int32)], {"axis": 0}), ("cumsum", [f(0, 3)],
                                                                   {"axis": 1})],
    "prod": [("prod", [f(7, 13, lo=0.5, hi=1.5)], {"axes": (1,)}),
             ("prod", [f(2, 3, 4, dtype=np.float64)], {"axes": (0, 2), "keepdims": True}),
             ("prod", [ints(4, 5, lo=-3, hi=3)], {"axes": (0, 1)}), ("prod", [f(0, 3)],
                                                                    {"axes": (0,)})],
    "gather_nd": [("gather_nd", [f(4, 3, 2), ints(2, 5, lo=-4, hi=5)], {}),
                  ("gather_nd", [f(3, 4, dtype=np.float64), f(1, 2, 2, lo=0, hi=3)], {})],
    "scatter_nd_add": [("scatter_nd_add", [f(5, 2), ints(2, 5, lo=-3, hi=4)],
                        {"shape": (3, 3, 2)})],
    # values in range (the raising side: tests/trust/test_compiled_index_errors.py)
    "check_index": [("check_index", [f(7, 13)], dict(CHECK, lo=(-3,), hi=(3,))),
                    ("check_index", [f(2, 5, lo=-2.9, hi=4.9)],
                     dict(CHECK, lo=(-2, -3), hi=(4, 5), truncate=True)),
                    ("check_index", [ints(3, 4, lo=0, hi=9, dtype=np.int32)],
                     dict(CHECK, lo=(0,), hi=(0,), upper=False)),
                    ("check_index", [ints(2, 6, lo=-4, hi=4)], dict(CHECK, lo=(-4, -5),
                                                                      hi=(3, 4))),
                    ("check_index", [bools(5)], dict(CHECK, lo=(0,), hi=(1,))),
                    ("check_index", [f(0, 3)], dict(CHECK, lo=(0,), hi=(1,))),
                    ("check_index", [2.0], dict(CHECK, lo=(0,), hi=(3,), truncate=True))],
    "pad": [("pad", [f(2, 3, 4)], {"pad_width": (0, 0, 1, 2, 2, 1), "mode": m,
                                   "constant_value": 1.5}) for m in ("constant", "edge",
                                                                     "reflect")]
    + [("pad", [f(2, 0)], {"pad_width": (1, 0, 1, 1), "mode": "constant"})],
    "argsort": [("argsort", [f(7, 13)], {"axis": 1}),
                ("argsort", [f(6, 5, dtype=np.float64)], {"axis": 0, "is_ascend": False}),
                ("argsort", [ints(4, 9, lo=0, hi=3)], {"axis": 1}),
                ("argsort", [ints(3, 8, lo=0, hi=3, dtype=np.int32)], {"axis": 1,
                                                                       "is_ascend": False}),
                ("argsort", [np.array([[2.0, np.nan, 1.0, np.nan, 2.0, -np.inf, 0.5]])],
                 {"axis": 1}),
                ("argsort", [np.array([[2.0, np.nan, 1.0, np.nan, 2.0, -np.inf, 0.5]],
                                      dtype=np.float32)], {"axis": 1, "is_ascend": False}),
                ("argsort", [f(1, 1)], {"axis": 1}), ("argsort", [f(0, 4)], {"axis": 1})],
    "pad_adjoint": [("pad_adjoint", [f(2, 6, 7, dtype=np.float64)],
                     {"pad_width": (0, 0, 1, 2, 2, 1), "shape": (2, 3, 4), "mode": m})
                    for m in ("constant", "edge", "reflect")],
    "im2col": [("im2col", [f(2, 3, 7, 6)], {**WIN2, "pad_lo": (1, 0), "pad_hi": (1, 2)}),
               ("im2col", [f(2, 1, 5, dtype=np.float64)], {**WIN1, "dilate": (2,), "stride": (2,)}),
               ("im2col", [f(1, 2, 4, 5)], {**WIN2, "pad_hi": (2, -1), "pad_value": -np.inf}),
               ("im2col", [f(1, 1, 3, 4, 5)], {"kernel": (2, 1, 3), "stride": (1, 2, 1),
                                               "dilate": (1, 1, 2), "pad_lo": (0, 1, 1),
                                               "pad_hi": (0, 1, 1)})],
    "col2im": [("col2im", [f(3, 3, 2, 2, 4, 6)], {**WIN2, "shape": (2, 3, 7, 6), "pad_lo": (1, 0),
                                                  "pad_hi": (1, 2)}),
               ("col2im", [f(1, 3, 2, 1, dtype=np.float64)], {**WIN1, "shape": (2, 1, 5),
                                                              "dilate": (2,), "stride": (2,)}),
               ("col2im", [f(2, 3, 2, 1, 2, 2)], {**WIN2, "shape": (1, 2, 4, 5),
                                                  "pad_hi": (2, -1)})],
}
KEY = np.array([0x123456789AB, (7 << 32) + 5], dtype=np.int64)
RANDOM = [("random_uniform", [KEY], {"shape": (7, 13)}),
          ("random_uniform", [KEY], {"shape": (5, 3), "dtype": "f64", "low": -2.0, "high": 3.0}),
          ("bernoulli", [KEY], {"shape": (7, 13), "p": 0.3}),
          ("bernoulli", [KEY], {"shape": (4,), "p": 0.5, "dtype": "f64"}),
          ("random_normal", [KEY], {"shape": (7, 13)}),
          ("random_normal", [KEY], {"shape": (6,), "dtype": "f64", "loc": 1.0, "scale": 2.0})]


def samples_for(name):
    if name in SAMPLES:
        return SAMPLES[name]
    opdef = REGISTRY[name]
    if ELEMENTWISE in opdef.traits and name in ("add", "sub", "mul", "maximum", "minimum",
                                                "lt", "le", "gt", "ge", "eq", "ne"):
        return binary(name)
    if ELEMENTWISE in opdef.traits:
        return unary_float(name)
    raise AssertionError(f"no codegen samples for op {name!r}: add a row to SAMPLES")


COMPILED = sorted(n for n in REGISTRY if n not in PYTHON_CALLBACK_OPS | NOT_NATIVE | REGION_OPS
                  and not n.startswith("random_") and n != "bernoulli")


def test_every_op_has_samples():
    for name in COMPILED:
        assert samples_for(name)


def test_all_ops_f32_f64_int_bool():
    cases = [c for name in COMPILED for c in samples_for(name)]
    check_cases(cases)


def test_random_ops_bit_identical():
    cases = [c for c in RANDOM if c[0] != "random_normal"]
    check_cases(cases, exact_ops=("random_uniform", "bernoulli"))


def test_random_normal_close():
    check_cases([c for c in RANDOM if c[0] == "random_normal"])


def test_special_values_transcendentals():
    special = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 1e-310, 88.0,
               89.0, -103.0, 709.0, 710.0, -745.0, 1e6, -1e6, 0.5, 3.0, 20.0, -20.0]
    names = ["exp", "log", "log1p", "expm1", "tanh", "sin", "cos", "sqrt", "sigmoid"]
    cases = []
    for name in names:
        cases.append((name, [np.array(special, dtype=np.float64)], {}))
        cases.append((name, [np.array(special, dtype=np.float32)], {}))
    check_cases(cases)


def test_dense_sweep_accuracy():
    """Transcendentals over a dense sweep of their ranges, f32 and f64."""
    sweeps = {"exp": (-80, 80), "log": (1e-6, 1e6), "log1p": (-0.999, 100), "expm1": (-5, 5),
              "tanh": (-12, 12), "sin": (-200, 200), "cos": (-200, 200)}
    cases = []
    for name, (lo, hi) in sweeps.items():
        for dt in (np.float32, np.float64):
            cases.append((name, [np.linspace(lo, hi, 4099).astype(dt)], {}))
    check_cases(cases)


@pytest.mark.parametrize("name", sorted((PYTHON_CALLBACK_OPS - REGION_OPS) | NOT_NATIVE))
def test_python_callback_ops_refuse_clearly(name):
    t = TensorType("f32", (2,))
    from tracegrad.ir.function import Value
    x = Value(t, None, 0, "x")
    op = Operation(REGISTRY[name], [x], {}, [t])
    fn = Function("cb", [x], [op], [op.results[0]])
    with pytest.raises(NotImplementedError, match=f"'{name}' has no native lowering"):
        check_lowerable(fn)


def test_random_draws_across_eager_chunks():
    """Eager draws larger than one chunk (ir/ops/random.drawn_values) give the compiled
    kernel's numbers: uniform and bernoulli bit for bit, normal to rounding, and each chunked
    draw equals its transform of the whole draw's words at once."""
    from tracegrad.ir.ops import random as R
    n = R._VALUES_CHUNK * 2 + 17
    cases = [("random_uniform", [KEY], {"shape": (n,), "low": -2.0, "high": 3.0}),
             ("bernoulli", [KEY], {"shape": (3, n // 3), "p": 0.3, "dtype": "f64"}),
             ("random_normal", [KEY], {"shape": (n,), "dtype": "f64", "scale": 2.0})]
    check_cases(cases, exact_ops=("random_uniform", "bernoulli"))
    seed, counter = R._key(KEY)
    whole = R.uniform_from_words(R.philox(seed, counter, n, 1), "f32", -2.0, 3.0)
    np.testing.assert_array_equal(R.RandomUniform.impl(KEY, **cases[0][2]), whole)
    whole = R.normal_from_words(R.philox(seed, counter, n, 2), "f64", 0.0, 2.0)
    np.testing.assert_array_equal(R.RandomNormal.impl(KEY, **cases[2][2]), whole)
