"""Every nd function's jit row (tests/fuzz/test_every_function_jit.py) re-run in the dtypes and
values the row itself never draws: float64, float16, inputs with NaN / inf / -0.0, and
random draws of the same shapes. Eager and jit (second call) must agree on values, and for
float inputs eager and jit gradients (a random head) must agree too; float64 values are also
checked against float32 ones (a float64 op silently computed in float32 shows up as ~1e-7).

    PYTHONPATH=. python scripts/fuzz_dtype_rows.py [seed] [-k NAME]   (prints problems)
"""
import os
import sys
import traceback
import warnings

import collections

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "fuzz"))
import test_every_function_jit as rows  # noqa: E402

import tracegrad as mx  # noqa: E402
from tracegrad import autograd, nd  # noqa: E402

COUNTS = collections.Counter()
DTYPES = (np.float64, np.float16, np.float32, np.int32, np.int64, np.uint8, np.bool_)
TOL = {np.float64: (1e-10, 1e-12), np.float32: (2e-6, 1e-6), np.float16: (2e-3, 2e-3),
       np.int32: (2e-6, 1e-6), np.int64: (1e-10, 1e-12), np.uint8: (2e-6, 1e-6),
       np.bool_: (2e-6, 1e-6)}


def cast(arrays, dtype, rng, special):
    out = []
    for a in arrays:
        if isinstance(a, list):
            out.append(cast(a, dtype, rng, special))
            continue
        if a.dtype.kind == "f" and np.dtype(dtype).kind in "iub":
            hi = 2 if dtype == np.bool_ else 4
            lo = 0 if np.dtype(dtype).kind in "ub" else -3
            a = rng.integers(lo, hi, a.shape).astype(dtype)
        elif a.dtype.kind == "f":
            a = a.astype(dtype)
            if special and a.size:
                a = a.copy()
                flat = a.reshape(-1)
                k = rng.integers(0, flat.size)
                flat[k] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0])
        out.append(a)
    return out


def is_float(a):
    return not isinstance(a, list) and a.dtype.kind == "f"


def flat(out):
    return [o.asnumpy() for o in out] if isinstance(out, (list, tuple)) else [out.asnumpy()]


def grads(fn, arrays, kwargs, heads_seed):
    xs = [rows._nd(a) for a in arrays]
    fl = [x for x, a in zip(xs, arrays) if is_float(a)]
    for x in fl:
        x.attach_grad()
    with autograd.record():
        out = fn(*xs, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        r = np.random.default_rng(heads_seed)
        total = None
        for o in outs:
            if np.dtype(o.dtype).kind != "f" or o.size == 0:
                continue
            c = nd.array(r.standard_normal(o.shape), dtype=o.dtype)
            t = nd.sum(o * c)
            total = t if total is None else total + t
    if total is None:
        return None
    total.backward()
    return [x.grad.asnumpy() for x in fl]


def close(g, w, dtype):
    rtol, atol = TOL[dtype]
    if g.dtype.kind == "f" and np.dtype(dtype).kind != "f":   # (a float result of ints)
        rtol, atol = TOL[g.dtype.type]
    if g.shape != w.shape or g.dtype != w.dtype:
        return f"shape/dtype {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
    if g.dtype.kind not in "fc":
        return None if np.array_equal(g, w) else "integer values differ"
    gg, ww = g.astype(np.float64), w.astype(np.float64)
    if not np.array_equal(np.isnan(gg), np.isnan(ww)):
        return "NaN pattern differs"
    m = ~np.isnan(ww)
    if not np.array_equal(np.isinf(gg[m]), np.isinf(ww[m])):
        return "inf pattern differs"
    ok = np.isclose(gg[m], ww[m], rtol=rtol, atol=atol) | (gg[m] == ww[m])
    if not ok.all():
        d = np.abs(gg[m] - ww[m])[~ok]
        return f"max abs diff {d.max():.3g} ({(~ok).sum()} of {ok.size})"
    return None


def run_case(name, fn, make, kwargs, dtype, special, seed):
    rng = np.random.default_rng(seed)
    first = cast(make(), dtype, rng, False)
    second = cast(make(), dtype, rng, special)
    call = lambda *xs: fn(*xs, **kwargs)   # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = flat(call(*[rows._nd(a) for a in second]))
        except Exception as e:   # noqa: BLE001 - eager refuses: jit must refuse too
            want = e
        compiled = mx.jit(call)
        try:
            compiled(*[rows._nd(a) for a in first])
        except Exception:   # noqa: BLE001 - the first draw may be outside the domain
            pass
        try:
            got = flat(compiled(*[rows._nd(a) for a in second]))
        except Exception as e:   # noqa: BLE001
            got = e
    if isinstance(want, Exception) or isinstance(got, Exception):
        COUNTS["refused"] += 1
        if isinstance(want, Exception) != isinstance(got, Exception):
            return [f"eager {type(want).__name__ if isinstance(want, Exception) else 'ok'} / "
                    f"jit {type(got).__name__ if isinstance(got, Exception) else 'ok'}: "
                    f"{str(got if isinstance(got, Exception) else want)[:200]}"]
        return []
    problems = []
    if len(got) != len(want):
        return [f"{len(got)} outputs vs {len(want)}"]
    for i, (g, w) in enumerate(zip(got, want)):
        p = close(g, w, dtype)
        if p:
            problems.append(f"value[{i}]: {p}")
    if dtype == np.float64 and not special and not problems:   # computed in float64?
        lo = flat(call(*[rows._nd(a.astype(np.float32) if is_float(a) else a)
                         for a in second]))
        for i, (w, w32) in enumerate(zip(want, lo)):
            if w.dtype == np.float64 and w32.dtype == np.float32 and w.size:
                if np.array_equal(w, w32.astype(np.float64)) and not np.array_equal(
                        w, np.round(w)) and np.any(w != w.astype(np.float32)):
                    problems.append(f"value[{i}]: float64 result equals the float32 one")
    if any(is_float(a) for a in second) and not problems:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ge = grads(call, second, {}, seed)
                gj = jit_grads(call, first, second, seed)
        except NotImplementedError:
            return problems
        except Exception as e:   # noqa: BLE001
            msg = str(e)[:150]
            if ("not differentiable" in msg or "no gradient" in msg or "integer" in msg
                    or "recorded graph" in msg or "in training" in msg):
                return problems
            return problems + [f"grad raised {type(e).__name__}: {msg}"]
        if ge is not None and gj is not None:
            COUNTS["gradients compared"] += 1
            for i, (g, w) in enumerate(zip(gj, ge)):
                p = close(g, w, dtype)
                if p:
                    problems.append(f"grad[{i}]: {p}")
    return problems


def jit_grads(call, first, second, seed):
    """Gradients through a jitted forward (its backward is the compiled vjp)."""
    compiled = mx.jit(call)
    compiled(*[rows._nd(a) for a in first])
    return grads(compiled, second, {}, seed)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    seed = int(args[0]) if args else 27
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    names = [n for n in rows.public_functions() if not rows._elsewhere(n)]
    variants = {f"{n}": (n,) + rows.call_spec(n)[:2] for n in names}
    variants.update({f"{label}": v for label, v in rows.VARIANTS.items()})
    count = bad = 0
    for label, (name, make, kwargs) in sorted(variants.items()):
        if only and only not in label:
            continue
        if name == "Dropout":
            continue
        fn = getattr(nd, name)
        for dtype in DTYPES:
            for special in (False, True):
                if (dtype == np.float32 and not special) or (
                        special and np.dtype(dtype).kind != "f"):
                    continue   # the row's own case
                count += 1
                try:
                    problems = run_case(label, fn, make, kwargs, dtype, special,
                                        seed + count)
                except Exception:   # noqa: BLE001
                    problems = ["harness: " + traceback.format_exc(limit=3)[-300:]]
                for p in problems:
                    bad += 1
                    print(f"{label} {np.dtype(dtype).name} special={special}: {p}",
                          flush=True)
    print(f"{count} cases, {bad} problems (seed {seed}); {dict(COUNTS)}")


if __name__ == "__main__":
    main()
