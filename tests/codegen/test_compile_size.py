"""What keeps the first call of a deep network short: identical step functions emitted once,
input guards in one shared checker, modules built at O2 (codegen/entry.py, target.py)."""
import re

import numpy as np
import pytest

from tracegrad.codegen import compile_function
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction


def _defined_steps(text):
    return re.findall(r'define internal void @"?(step\d+_\w+)"?\(', text)


def test_identical_steps_are_emitted_once_and_compute_their_own_buffers():
    b = Builder(name="twins")
    xs = [b.param(TensorType("f32", (8, 16)), f"x{i}") for i in range(3)]
    z = b.param(TensorType("f32", (4, 16)), "z")
    outs = [b.relu(b.sub(b.mul(x, 2.0), 1.0)) for x in xs]   # the same loop three times
    outs.append(b.relu(b.sub(b.mul(z, 2.0), 1.0)))            # another shape: its own loop
    outs.append(b.matmul(outs[0], outs[1], transpose_b=True))
    outs.append(b.matmul(outs[1], outs[2], transpose_b=True))  # same GEMM shape again
    fn = b.ret(*outs)
    module = compile_function(fn, use_cache=False)
    steps = _defined_steps(module.llvm_ir)
    assert len([s for s in steps if s.endswith("fused")]) == 2, steps
    assert len([s for s in steps if s.endswith("matmul")]) == 1, steps
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((8, 16)).astype(np.float32) for _ in range(3)]
    args.append(rng.standard_normal((4, 16)).astype(np.float32))
    got = NativeFunction(module)(*args)
    relu = [np.maximum(a * 2 - 1, 0) for a in args]
    for g, want in zip(got, relu + [relu[0] @ relu[1].T, relu[1] @ relu[2].T]):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


def test_guards_of_many_inputs_name_the_one_that_differs():
    shapes = [(), (3,), (2, 3), (2, 3, 4), (1, 1, 1, 5)] * 6
    b = Builder(name="many")
    params = [b.param(TensorType("f32", s), f"p{i}") for i, s in enumerate(shapes)]
    fn = b.ret(*[b.add(p, float(i)) for i, p in enumerate(params)])
    f = NativeFunction(fn)
    args = [np.full(s, i, np.float32) for i, s in enumerate(shapes)]
    for i, out in enumerate(f(*args)):
        np.testing.assert_array_equal(out, np.full(shapes[i], 2.0 * i, np.float32))
    for k, bad in [(7, np.zeros((3, 2), np.float32)),        # same size, other shape
                   (8, np.zeros((2, 3, 4, 1), np.float32)),  # one more axis
                   (9, np.zeros((1, 1, 1), np.float32)),     # one axis fewer
                   (10, np.zeros((), np.float64)),           # dtype
                   (11, np.zeros((4,), np.float32))]:
        wrong = list(args)
        wrong[k] = bad
        with pytest.raises(TypeError, match=rf"parameter %p{k} .*expects"):
            f(*wrong)
