"""Compiled matrix products call BLAS exactly as numpy's matmul does on the same arrays: the
column-major gemm that numpy's row-major cblas_sgemm/dgemm call becomes inside OpenBLAS
(operands swapped, transposes and leading dimensions kept), reading the operands where they are
(a transposed view or a column slice of a parameter is no copy) and writing the caller's output
array. Same arguments, same OpenBLAS kernel: bench/bench_gemm_calls.py times the two. Every
transpose flag, plain / transposed-view / column-slice operands, both dtypes; results against
float64 numpy.

The BLAS symbols are bound once per process (codegen/target.py), so a child process binds them
to a recording wrapper of the real routines."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent(r"""
    import ctypes, itertools
    import numpy as np
    from tracegrad.codegen import target

    name, bits = target.blas()
    integer = ctypes.c_int64 if bits == 64 else ctypes.c_int32
    addresses = target._find_blas()[1]
    calls, keep = [], []
    for routine in ("sgemm", "dgemm"):
        real = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(addresses[routine])

        def record(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, real=real,
                   routine=routine):
            char = lambda p: ctypes.c_char.from_address(p).value.decode()
            num = lambda p: integer.from_address(p).value
            calls.append((routine, char(ta), char(tb), num(m), num(n), num(k), a, num(lda), b,
                          num(ldb), c, num(ldc)))
            real(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        wrapper = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(record)
        keep.append(wrapper)
        addresses[routine] = ctypes.cast(wrapper, ctypes.c_void_p).value

    from tracegrad.ir import Builder, TensorType
    from tracegrad.runtime.native import NativeFunction

    def numpy_call(routine, a, b, c):
        # numpy's matmul: cblas row-major (N with the row stride as leading dimension for a
        # row-major operand, T with the column stride for a column-major one); OpenBLAS turns
        # it into the column-major call on (b, a)
        def operand(v):
            s0, s1 = (s // v.itemsize for s in v.strides)
            if s1 == 1 and s0 >= v.shape[1]:
                return "N", s0
            assert s0 == 1 and s1 >= v.shape[0], v.strides
            return "T", s1
        (ta, lda), (tb, ldb) = operand(a), operand(b)
        m, k = a.shape
        n = b.shape[1]
        return (routine, tb, ta, n, m, k, b.ctypes.data, ldb, a.ctypes.data, lda,
                c.ctypes.data, n)

    rng = np.random.default_rng(0)
    m, k, n = 5, 7, 3
    for dtype, code, routine in ((np.float32, "f32", "sgemm"), (np.float64, "f64", "dgemm")):
        bld, arrays, views, flags = Builder(name="products"), [], [], []
        outs = []
        for (ta, tb), form in itertools.product(itertools.product([False, True], repeat=2),
                                                ["plain", "transposed", "slice"]):
            xs, ys = (k, m) if ta else (m, k), (n, k) if tb else (k, n)
            operands, used = [], []
            for j, shape in enumerate((xs, ys)):
                if form == "transposed":      # a parameter stored the other way round
                    arr = rng.normal(size=shape[::-1]).astype(dtype)
                    p = bld.param(TensorType(code, arr.shape), f"p{len(arrays)}")
                    operands.append(bld.transpose(p, perm=(1, 0)))
                    used.append(arr.T)
                elif form == "slice" and j == 0:  # the first columns of a wider parameter
                    arr = rng.normal(size=(shape[0], shape[1] + 4)).astype(dtype)
                    p = bld.param(TensorType(code, arr.shape), f"p{len(arrays)}")
                    operands.append(bld.slice(p, begin=(0, 0), end=shape, step=(1, 1)))
                    used.append(arr[:, :shape[1]])
                else:
                    arr = rng.normal(size=shape).astype(dtype)
                    operands.append(bld.param(TensorType(code, arr.shape), f"p{len(arrays)}"))
                    used.append(arr)
                arrays.append(arr)
            outs.append(bld.matmul(*operands, transpose_a=ta, transpose_b=tb))
            views.append(used)
            flags.append((ta, tb))
        f = NativeFunction(bld.ret(*outs))
        del calls[:]
        got = f(*arrays)
        want_calls = []
        for (x, y), (ta, tb), c in zip(views, flags, got):
            a, b = (x.T if ta else x), (y.T if tb else y)
            np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5 if code == "f32"
                                       else 1e-12, atol=1e-5 if code == "f32" else 1e-12)
            want_calls.append(numpy_call(routine, a, b, c))
        assert sorted(calls) == sorted(want_calls), (code, calls, want_calls)
    print("ok", len(want_calls))
""")


def test_products_call_blas_as_numpy_does():
    env = dict(os.environ, PYTHONPATH=ROOT, TRACEGRAD_CACHE="0")
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ok", "12"], r.stdout
