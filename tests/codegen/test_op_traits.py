"""A new op is one class block: passes and codegen read its traits and rules, not op names.
Defines a VIEW, an INDEXED and a REDUCTION op here (unregistered afterwards), compiles a graph
using them with elementwise consumers, and compares with the interpreter."""
import contextlib

import numpy as np

from tracegrad.ir import Builder, TensorType
from tracegrad.ir.function import Builder as FBuilder
from tracegrad.ir.ops import INDEXED, NONDIFF, REDUCTION, REGISTRY, VIEW, OpDef, Reduce
from tracegrad.ir.passes.fuse import fusion_groups
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction


@contextlib.contextmanager
def temporary_ops():
    before = set(REGISTRY)
    try:
        yield
    finally:
        for name in set(REGISTRY) - before:
            del REGISTRY[name]
            delattr(FBuilder, name)


def define_ops():
    class SwapLast(OpDef):
        """Swap the last two axes (a view)."""
        name = "test_swap_last"
        traits = frozenset({VIEW, NONDIFF})

        def infer(x):
            return x.with_shape(x.shape[:-2] + (x.shape[-1], x.shape[-2]))

        def impl(x):
            return np.swapaxes(x, -1, -2)

        def view(offset, strides, in_shape, *, out_shape):
            return offset, tuple(strides[:-2]) + (strides[-1], strides[-2])

    class LowerMask(OpDef):
        """1 on and below the diagonal of `shape`, else 0 (from the loop index)."""
        name = "test_lower_mask"
        traits = frozenset({INDEXED, NONDIFF})
        attr_names = frozenset({"shape"})

        def infer(*, shape):
            return TensorType("f32", shape)

        def impl(*, shape):
            return np.tril(np.ones(shape, np.float32))

        def element(ctx, *, shape):
            e = ctx.e
            return e.select(e.ge(ctx.index(0), ctx.index(1)), e.const(1.0, dtype="f32"),
                            e.const(0.0, dtype="f32"))

    class Prod(Reduce):
        """Product over axes."""
        name = "test_prod"
        traits = frozenset({REDUCTION, NONDIFF})
        accumulate = "mul"

        def impl(x, *, axes, keepdims=False):
            return np.prod(x, axis=axes, keepdims=keepdims)


def test_new_ops_compile_from_their_class_blocks():
    with temporary_ops():
        define_ops()
        b = Builder(name="traits")
        x = b.param(TensorType("f32", (6, 5)), "x")
        t = b.test_swap_last(x)                                   # (5, 6) view
        m = b.test_lower_mask(shape=(5, 6))
        y = b.mul(b.exp(t), m)
        p = b.test_prod(b.add(y, 1.0), axes=(1,))
        fn = b.ret(y, p)
        groups = fusion_groups(fn)
        assert [g.kind for g in groups] == ["fused"], groups      # one loop nest, view read
        xv = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32) * 0.3
        got = NativeFunction(fn)(xv)
        want = interpret(fn, [xv])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
    assert "test_prod" not in REGISTRY
