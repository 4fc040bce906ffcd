"""Inline vector math over the whole float range: ulp error bounds (docs/kernels.md) against a
float64 reference (f32) or numpy's libm (f64), exact special values (NaN, +-inf, -0.0,
subnormals) like numpy, and a vectorised f32 pow with numpy's special cases."""
import re

import numpy as np
import pytest

from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

FUNCS = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "sin", "cos"]
# documented bounds, in ulps of the result (measured maxima in docs/kernels.md)
BOUND = {"f32": {"exp": 2, "log": 3, "log1p": 4, "expm1": 5, "tanh": 4, "sigmoid": 3,
                 "sin": 1, "cos": 1},
         "f64": {"exp": 2, "log": 3, "log1p": 4, "expm1": 5, "tanh": 4, "sigmoid": 3,
                 "sin": 3, "cos": 3}}
NP = {"f32": np.float32, "f64": np.float64}


def reference(name, x):
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
        return getattr(np, name)(x)


def specials(dt):
    fi = np.finfo(dt)
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, fi.tiny, -fi.tiny,
                     fi.smallest_subnormal, -fi.smallest_subnormal, fi.max, -fi.max, 88.7,
                     -103.9, 709.7, -745.0, 1e6, 1e7, 1e10, 1e20, 1e30, np.pi / 2, np.pi],
                    dtype=dt)


def samples(dt, n=1 << 15):
    """Random bit patterns (every exponent, subnormals included) and moderate values."""
    rng = np.random.default_rng(7)
    it = np.uint32 if dt == np.float32 else np.uint64
    x = rng.integers(0, np.iinfo(it).max, size=n, dtype=it, endpoint=True).view(dt)
    x = x[np.isfinite(x)]
    return np.concatenate([x, rng.uniform(-30, 30, n).astype(dt)])


def compile_all(dtype, size):
    b = Builder(name=f"math_{dtype}_{size}")
    p = b.param(TensorType(dtype, (size,)), "x")
    return NativeFunction(b.ret(*[b.emit(n, p) for n in FUNCS]))


def ulp_error(got, want, dt):
    with np.errstate(all="ignore"):
        exact = want.astype(dt)
        err = np.abs(got.astype(np.float64) - want) / np.spacing(np.abs(exact)).astype(np.float64)
    same = (np.isnan(got) & np.isnan(exact)) | (np.isinf(got) & (got == exact))
    err[same] = 0
    err[np.isnan(err)] = np.inf
    return err


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_ulp_bounds_over_the_whole_range(dtype):
    dt = NP[dtype]
    x = samples(dt)
    outs = compile_all(dtype, x.size)(x)
    for name, got in zip(FUNCS, outs):
        want = reference(name, x.astype(np.float64)) if dtype == "f32" else reference(name, x)
        err = ulp_error(got, want, dt)
        k = int(np.argmax(err))
        assert err[k] <= BOUND[dtype][name], \
            f"{name} {dtype}: {err[k]:.2f} ulp at x={x[k]!r} (got {got[k]!r}, want {want[k]!r})"


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_special_values_like_numpy(dtype):
    dt = NP[dtype]
    x = specials(dt)
    outs = compile_all(dtype, x.size)(x)
    for name, got in zip(FUNCS, outs):
        want = reference(name, x).astype(dt)
        for xi, g, w in zip(x, got, want):
            if np.isnan(w) or np.isinf(w) or w == 0 or np.abs(w) < np.finfo(dt).tiny:
                if np.isnan(w):
                    assert np.isnan(g), f"{name}({xi!r}) = {g!r}, numpy {w!r}"
                elif w == 0 and xi == 0:
                    assert g == 0 and np.signbit(g) == np.signbit(w), \
                        f"{name}({xi!r}) = {g!r}, numpy {w!r}"                # -0.0 kept
                elif w == 0:
                    assert abs(g) <= 2 * np.finfo(dt).smallest_subnormal, \
                        f"{name}({xi!r}) = {g!r}, numpy {w!r}"
                else:
                    assert g == w or abs(float(g) - float(w)) <= \
                        4 * float(np.finfo(dt).smallest_subnormal), \
                        f"{name}({xi!r}) = {g!r}, numpy {w!r}"


def test_f32_pow_vectorised_with_numpy_special_cases():
    sp = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, np.inf, -np.inf,
                   np.nan, 1e-40, -1e-40, 1e30, -1e30, 2.5, -2.5], np.float32)
    xs, ys = (a.ravel() for a in np.meshgrid(sp, sp))
    rng = np.random.default_rng(0)
    n = 1 << 14
    xr = (np.abs(rng.normal(size=n)) * rng.choice([1e-3, 1, 10, 1e3], n)).astype(np.float32)
    yr = (rng.normal(size=n) * 8).astype(np.float32)
    x, y = np.concatenate([xs, xr]), np.concatenate([ys, yr])
    b = Builder(name="pow32")
    px, py = b.param(TensorType("f32", x.shape), "x"), b.param(TensorType("f32", y.shape), "y")
    f = NativeFunction(b.ret(b.pow(px, py)))
    assert "llvm.pow" not in f.llvm_ir                  # no libm call per element
    got = f(x, y)[0]
    with np.errstate(all="ignore"):
        want = np.power(x, y)
        w64 = np.power(x.astype(np.float64), y.astype(np.float64))
    m = xs.size
    # the special grid bit for bit against the correctly rounded result (numpy's own float32
    # power is 1 ulp off it for some, sqrt(3) = 3 ** 0.5 among them, where numpy runs its
    # AVX-512 loops); the special cases (NaN, infinities, signed zeros) are numpy's
    exact = w64[:m].astype(np.float32)
    np.testing.assert_array_equal(got[:m], exact)
    assert np.array_equal(np.isnan(exact), np.isnan(want[:m]))
    assert np.array_equal(np.isinf(exact), np.isinf(want[:m]))
    assert np.array_equal(exact == 0, want[:m] == 0)
    num = ~np.isnan(want[:m])
    assert np.array_equal(np.signbit(got[:m][num]), np.signbit(want[:m][num]))
    assert ulp_error(want[:m][num], exact[num], np.float32).max() <= 1     # (numpy's, at most)
    ok = np.isfinite(w64[m:]) & (np.abs(w64[m:]) < 3e38) & (np.abs(w64[m:]) > 1.2e-38)
    err = ulp_error(got[m:][ok], w64[m:][ok], np.float32)
    assert err.max() <= 1.0


@pytest.mark.parametrize("dtype,bound", [("f64", 2.0), ("f32", 0.5)])
def test_erf_emitter_against_math_erf(dtype, bound):
    """ScalarEmitter.erf (for an erf op's scalar rule): vectorised, <= 2 ulp f64, 0.5 ulp f32."""
    import ctypes
    import math

    from llvmlite import ir

    from tracegrad.codegen import target
    from tracegrad.codegen.emitter import LLTYPES, ScalarEmitter, SVal
    from tracegrad.codegen.loops import for_range
    ty = LLTYPES[dtype]
    m = ir.Module(name=f"erf_{dtype}")
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [ir.PointerType(), ir.PointerType(),
                                                        ir.IntType(64)]), "erfv")
    b = ir.IRBuilder(fn.append_basic_block())
    with for_range(b, fn.args[2]) as i:
        v = b.load(b.gep(fn.args[0], [i], source_etype=ty), typ=ty)
        b.store(ScalarEmitter(b).erf(SVal(v, dtype)).v, b.gep(fn.args[1], [i], source_etype=ty))
    b.ret_void()
    optimized, obj = target.compile_object(str(m))
    assert re.search(r"<\d+ x double>", optimized)    # vectorised (f32 computes in f64 too;
    # the width is the machine's: 4 with AVX2, 8 with AVX-512)
    jit = target.JitObject(obj, optimized)
    run = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(
        jit.address("erfv"))
    rng = np.random.default_rng(3)
    dt = NP[dtype]
    x = np.concatenate([rng.uniform(-7, 7, 1 << 15), rng.normal(size=1 << 12) * 1e-3,
                        specials(dt)]).astype(dt)
    y = np.empty_like(x)
    run(x.ctypes.data, y.ctypes.data, x.size)
    want = np.array([math.erf(float(v)) if not math.isnan(v) else math.nan for v in x])
    err = ulp_error(y, want, dt)
    assert err.max() <= bound, (err.max(), x[np.argmax(err)])
    for xi, yi in zip(x[-len(specials(dt)):], y[-len(specials(dt)):]):
        if xi == 0:
            assert yi == 0 and np.signbit(yi) == np.signbit(xi)
        if np.isnan(xi):
            assert np.isnan(yi)
        if np.isinf(xi):
            assert yi == np.sign(xi)


def _pow64(x, y):
    b = Builder(name="pow64")
    px, py = b.param(TensorType("f64", x.shape), "x"), b.param(TensorType("f64", y.shape), "y")
    f = NativeFunction(b.ret(b.pow(px, py)))
    return f, f(x, y)[0]


def _same_specials(got, want):
    """NaN where numpy has NaN; +-0 / +-inf exactly (sign included) where either has one."""
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    edge = ~nan & ((want == 0) | np.isinf(want) | (got == 0) | np.isinf(got))
    assert np.array_equal(got[edge], want[edge])
    assert np.array_equal(np.signbit(got[edge]), np.signbit(want[edge]))
    return ~nan & ~edge


def test_f64_pow_no_libm_call_and_special_cases_exact():
    """Every C99 / numpy special case (all pairs of special x and y), bit for bit."""
    fi = np.finfo(np.float64)
    sp = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, np.inf, -np.inf,
                   np.nan, -np.nan, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny,
                   -fi.tiny, fi.max, -fi.max, 2.5, -2.5, 2.0 ** 53, 2.0 ** 53 - 1,
                   -(2.0 ** 53 - 1), 1e300, -1e300, 1 - 2 ** -53, 1 + 2 ** -52, 1e-310,
                   -1e-310, 1075.0, -1075.0, 1024.0, -1023.0])
    x, y = (a.ravel() for a in np.meshgrid(sp, sp))
    f, got = _pow64(x, y)
    assert "llvm.pow" not in f.llvm_ir and "@pow" not in f.llvm_ir    # no libm call
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    rest = _same_specials(got, want)
    err = ulp_error(got[rest], want[rest], np.float64)
    assert err.max() <= 1, (x[rest][np.argmax(err)], y[rest][np.argmax(err)])


def test_f64_pow_exact_integer_powers():
    """Representable results of integer powers come out exact, subnormal powers of two too."""
    k = np.arange(-1074, 1024, dtype=np.float64)
    x = np.concatenate([np.full(k.size, 2.0), np.full(23, 10.0), np.full(34, 3.0),
                        np.full(34, -3.0), np.full(k.size, 0.5)])
    y = np.concatenate([k, np.arange(23.0), np.arange(34.0), np.arange(34.0), -k])
    got = _pow64(x, y)[1]
    np.testing.assert_array_equal(got, np.power(x, y))


def test_f64_pow_ulp_against_numpy_over_random_bits():
    """Random bit patterns for x and y (every binade, subnormals, both signs), plus y chosen so
    y log|x| spans the whole finite range [-745, 709] where the extra-precision log matters."""
    rng = np.random.default_rng(11)
    n = 1 << 14

    def bits(size):
        return rng.integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64,
                            endpoint=True).view(np.float64)
    xb, yb = bits(n), bits(n)
    xr = np.abs(bits(n))
    xr = np.where(np.isfinite(xr) & (xr != 1), xr, 3.0)
    yr = rng.uniform(-745, 709, n) / np.log(xr)
    x1 = rng.uniform(0.99, 1.01, n)
    y1 = rng.uniform(-745, 709, n) / np.log(x1)
    xi = np.abs(bits(n))                                   # negative bases, integer exponents
    xi = -np.where(np.isfinite(xi) & (xi != 1), xi, 3.0)
    yi = np.trunc(rng.uniform(-745, 709, n) / np.log(np.abs(xi)))
    x = np.concatenate([xb, xr, x1, xi, rng.uniform(0, 10, n)])
    y = np.concatenate([yb, yr, y1, yi, rng.normal(size=n) * 30])
    got = _pow64(x, y)[1]
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    rest = _same_specials(got, want)
    assert rest.sum() > 3 * n
    err = ulp_error(got[rest], want[rest], np.float64)
    k = int(np.argmax(err))
    assert err[k] <= 1, f"{err[k]} ulp at x={x[rest][k]!r} y={y[rest][k]!r}"


def test_f64_pow_loop_vectorises_without_calls():
    """The optimised LLVM IR of a pow loop with a non-constant f64 exponent: vector lanes, and
    every call an llvm intrinsic (no libm pow, exp or log per element)."""
    import re

    from llvmlite import ir

    from tracegrad.codegen import target
    from tracegrad.codegen.emitter import LLTYPES, ScalarEmitter, SVal
    from tracegrad.codegen.loops import for_range
    ty = LLTYPES["f64"]
    m = ir.Module(name="pow64_vec")
    ptr = ir.PointerType()
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [ptr, ptr, ptr, ir.IntType(64)]), "powv")
    b = ir.IRBuilder(fn.append_basic_block())
    with for_range(b, fn.args[3]) as i:
        x, y = (b.load(b.gep(fn.args[k], [i], source_etype=ty), typ=ty) for k in (0, 1))
        r = ScalarEmitter(b).pow(SVal(x, "f64"), SVal(y, "f64")).v
        b.store(r, b.gep(fn.args[2], [i], source_etype=ty))
    b.ret_void()
    optimized, _ = target.compile_object(str(m))
    assert re.search(r"<\d+ x double>", optimized)    # (4 lanes with AVX2, 8 with AVX-512)
    callees = set(re.findall(r"call [^@\n]*@\"?([\w.]+)", optimized))
    assert callees and all(c.startswith("llvm.") for c in callees), callees
    assert not any(c.startswith("llvm.pow") for c in callees)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_f64_pow_compiled_gradient_matches_interpreter():
    """pow's vjp (itself a pow with a non-constant exponent, and a log) compiled with the inline
    f64 pow agrees with the numpy interpreter to a few ulp, zero bases and exponents included."""
    from tracegrad.ir import vjp
    from tracegrad.runtime.interpret import interpret
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0.1, 5, 64), [0.0, 0.0, 2.0, 1.0]])
    y = np.concatenate([rng.uniform(-4, 4, 64), [2.0, 0.0, 0.0, 1e5]])
    b = Builder(name="pow64_vjp")
    px, py = b.param(TensorType("f64", x.shape), "x"), b.param(TensorType("f64", y.shape), "y")
    g = vjp(b.ret(b.pow(px, py)), recompute=True)
    g_ct = rng.uniform(-1, 1, x.size)
    got = NativeFunction(g)(x, y, g_ct)
    want = interpret(g, [x, y, g_ct])
    for a, w in zip(got, want):
        np.testing.assert_allclose(a, w, rtol=4e-16 * 8, atol=0)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_tanh_dense_near_its_seams(dtype):
    """tanh = t/(t+2), t = 2^n expm1(r) + (2^n - 1), |x| clamped where tanh rounds to 1:
    dense grids across the reduction's n = 0/1/2 seams and the clamp, odd bit for bit, exactly
    +-1 past the clamp, and within the documented bound against a float64/libm reference."""
    dt = NP[dtype]
    seams = [np.log(2) / 4 * k for k in (1, 3, 5)] + [9.0, 9.5, 19.0, 19.5]
    x = np.concatenate([np.linspace(s * (1 - 1e-3), s * (1 + 1e-3), 4001) for s in seams] +
                       [np.geomspace(1e-30, 40, 20001)]).astype(dt)
    x = np.concatenate([x, -x])
    b = Builder(name=f"tanh_seams_{dtype}")
    p = b.param(TensorType(dtype, x.shape), "x")
    got = NativeFunction(b.ret(b.emit("tanh", p)))(x)[0]
    want = np.tanh(x.astype(np.float64))
    err = ulp_error(got, want, dt)
    k = int(np.argmax(err))
    assert err[k] <= BOUND[dtype]["tanh"], f"tanh {dtype}: {err[k]:.2f} ulp at x={x[k]!r}"
    h = x.size // 2
    assert np.array_equal(got[h:].view(np.uint8), (-got[:h]).view(np.uint8))
    big = np.abs(x) >= (9.5 if dtype == "f32" else 19.5)
    assert np.all(got[big] == np.sign(x[big]))
    assert np.all(np.abs(got) <= 1)
