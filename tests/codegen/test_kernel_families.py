"""Kernel ops are found through traits: gathers are INDEXED (they fuse), scatters are SCATTER
(one generic kernel driven by the op's `scatter` rule), the rest name their family. A new
scatter op compiles from its class block alone; compiled values equal the numpy impls."""
import numpy as np
import pytest

from tracegrad.codegen import entry, kernels
from tracegrad.ir import Builder, TensorType
from tracegrad.ir.ops import (KERNEL_FAMILIES, REDUCTION, REGISTRY, SCATTER, VIEW, OpDef)
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction
from test_op_traits import temporary_ops

RNG = np.random.default_rng(2)


def _steps(fn):
    return [s.kind for s, _ in entry.make_plan(fn).steps]


def _check(fn, args):
    got, want = NativeFunction(fn)(*args), interpret(fn, args)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(w))


def test_every_op_has_at_most_one_lowering_kind():
    for name, op in REGISTRY.items():
        kinds = ([op.fusible()] + [VIEW in op.traits, REDUCTION in op.traits]
                 + [f in op.traits for f in KERNEL_FAMILIES])
        assert sum(kinds) <= 1, (name, op.traits)
        if op.traits & KERNEL_FAMILIES:
            assert kernels.kernel_for(op) is not None, name


def test_gathers_fuse_with_their_consumers():
    b = Builder(name="gathers")
    x = b.param(TensorType("f32", (5, 7)), "x")
    ia = b.param(TensorType("i64", (5, 3)), "ia")
    ind = b.param(TensorType("i32", (2, 4)), "ind")
    t = b.mul(b.take_along_axis(x, ia, axis=1), 2.0)
    g = b.add(b.gather_nd(x, ind), 1.0)
    pads = [b.exp(b.pad(x, pad_width=(1, 2, 3, 1), mode=m, constant_value=-1.5))
            for m in ("constant", "edge", "reflect")]
    fn = b.ret(t, g, *pads)
    assert "kernel" not in _steps(fn)
    args = [RNG.normal(size=(5, 7)).astype(np.float32),
            RNG.integers(-3, 10, (5, 3)).astype(np.int64),        # clipped into range
            np.array([[0, -1, 4, -5], [6, 2, -7, 3]], np.int32)]    # wrap once, then clip
    got, want = NativeFunction(fn)(*args), interpret(fn, args)
    for gv, w in zip(got, want):
        np.testing.assert_allclose(gv, w, rtol=1e-6)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_scatters_equal_their_impls(mode):
    b = Builder(name=f"scatters_{mode}")
    x = b.param(TensorType("f64", (4, 6)), "x")
    g = b.param(TensorType("f64", (7, 9)), "g")
    idx = b.param(TensorType("i64", (4, 6)), "idx")
    i1 = b.param(TensorType("i64", (6,)), "i1")
    ind = b.param(TensorType("i64", (1, 4)), "ind")
    outs = [b.scatter_add_along_axis(x, idx, axis=1, size=5),
            b.scatter_add(x, i1, axis=1, size=3),
            b.scatter_nd_add(x, ind, shape=(3, 6)),
            b.pad_adjoint(g, pad_width=(1, 2, 3, 0), mode=mode, shape=(4, 6)),
            b.slice_scatter(x, shape=(9, 13), begin=(1, 0), end=(9, 12), step=(2, 2))]
    fn = b.ret(*outs)
    assert _steps(fn).count("kernel") == 5
    xv = RNG.normal(size=(4, 6))
    xv[0, 0] = -0.0                                   # slice_scatter stores: -0.0 stays
    args = [xv, RNG.normal(size=(7, 9)), RNG.integers(-2, 7, (4, 6)),
            np.array([0, 2, 2, -1, 5, 1]), np.array([[0, -1, 2, 2]])]
    _check(fn, args) if mode != "constant" else _check_close(fn, args)


def _check_close(fn, args):
    got, want = NativeFunction(fn)(*args), interpret(fn, args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14, atol=0)


def test_a_new_scatter_op_is_one_class_block():
    with temporary_ops():
        class ReverseRowsAdd(OpDef):
            """Row i of x added into row n-1-i (a test scatter)."""
            name = "test_reverse_rows_add"
            traits = frozenset({SCATTER})

            def infer(x):
                return x

            def impl(x):
                return np.array(x[::-1])

            def scatter(ctx, x):
                e = ctx.e
                row = e.sub(e.const(x.shape[0] - 1, dtype="i64"), ctx.index(0))
                return (row, ctx.index(1)), None

        b = Builder(name="rev")
        x = b.param(TensorType("f32", (3, 4)), "x")
        fn = b.ret(b.mul(b.test_reverse_rows_add(x), 3.0))
        assert _steps(fn) == ["kernel", "fused"]
        xv = RNG.normal(size=(3, 4)).astype(np.float32)
        np.testing.assert_array_equal(NativeFunction(fn)(xv)[0], xv[::-1] * 3)
