"""mx.np operators under set_np on mixed dtypes (float16/32/64, int8/32/64, uint8, bool),
Python scalars, and broadcasting shapes with 0- and 1-size axes: eager and jit (a first call
on other values, then the checked one) must both answer with the same dtype, shape and
values, or both raise. Found an int to a negative int power answered 0 by compiled code.

    PYTHONPATH=. python scripts/fuzz_np_dtypes.py [seed] [rounds]   (prints mismatches)
"""
import sys
import warnings

import numpy as onp

import tracegrad as mx
from tracegrad import np, npx

DT = ["float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool"]
BIN = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "floordiv": lambda a, b: a // b,
    "mod": lambda a, b: a % b, "pow": lambda a, b: a ** b, "maximum": np.maximum,
    "minimum": np.minimum, "lt": lambda a, b: a < b, "eq": lambda a, b: a == b,
    "hypot": np.hypot, "arctan2": np.arctan2, "copysign": np.copysign, "ldexp": np.ldexp,
    "lcm": np.lcm, "bitand": lambda a, b: a & b, "bitor": lambda a, b: a | b,
    "bitxor": lambda a, b: a ^ b, "where": lambda a, b: np.where(a > b, a, b),
    "scal_add": lambda a, b: a + 2, "scal_fadd": lambda a, b: a + 2.5,
    "scal_rsub": lambda a, b: 3 - a, "scal_div": lambda a, b: a / 2,
    "scal_fdiv": lambda a, b: a // 2, "scal_pow": lambda a, b: a ** 2,
    "scal_rpow": lambda a, b: 2 ** a, "scal_mod": lambda a, b: a % 3,
    "scal_rmod": lambda a, b: 7 % a, "scal_true": lambda a, b: a * True,
    "scal_lt": lambda a, b: a < 1.5,
}
UN = {
    "abs": np.abs, "neg": np.negative, "sqrt": np.sqrt, "exp": np.exp, "sign": np.sign,
    "floor": np.floor, "rint": np.rint, "square": np.square, "sum": np.sum, "mean": np.mean,
    "prod": np.prod, "max": np.max, "argmax": np.argmax, "cumsum": np.cumsum, "std": np.std,
    "var": np.var, "invert": np.invert, "logical_not": np.logical_not,
    "clip": lambda a: np.clip(a, 0, 2), "around": np.around, "trunc": np.trunc,
    "reciprocal": np.reciprocal, "cbrt": np.cbrt, "log1p": np.log1p, "isnan": np.isnan,
    "all": np.all, "any": np.any, "average": np.average,
    "sum_f32": lambda a: np.sum(a, dtype="float32"), "cumsum_ax": lambda a: np.cumsum(a, -1),
    "astype16": lambda a: a.astype("float16") * 3,
}
SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((0, 4), (1, 4)), ((1,), (3, 1)),
          ((), (2, 3)), ((2, 0), (2, 1)), ((1, 1), ())]


def draw(rs, shape, dt):
    if dt == "bool":
        return onp.array(rs.randint(0, 2, shape), dtype=dt)
    if dt == "uint8":
        return onp.array(rs.randint(0, 5, shape), dtype=dt)
    if dt.startswith("int"):
        return onp.array(rs.randint(-4, 5, shape), dtype=dt)
    return onp.array(rs.randn(*shape) * 2, dtype=dt)


def outcome(f, *xs):
    try:
        with onp.errstate(all="ignore"):
            r = f(*[np.array(x, dtype=x.dtype) for x in xs])
        return "ok", (r.asnumpy() if hasattr(r, "asnumpy") else onp.asarray(r))
    except Exception as e:   # noqa: BLE001 - a refusal: the other mode must refuse too
        return "err", f"{type(e).__name__}: {str(e)[:120]}"


def compare(label, f, first, second):
    """None, or what differs between eager and jit on `second` (jit traced on `first`)."""
    e = outcome(f, *second)
    g = mx.jit(f)
    outcome(g, *first)
    j = outcome(g, *second)
    if e[0] != j[0]:
        return f"{label}: eager {e[0] if e[0] == 'ok' else e[1]} | jit " \
               f"{j[0] if j[0] == 'ok' else j[1]}"
    if e[0] == "err":
        return None
    u, v = e[1], j[1]
    tol = 1e-2 if onp.float16 in (u.dtype, v.dtype) else 1e-5
    if u.dtype != v.dtype or u.shape != v.shape or not onp.allclose(
            u.astype(float), v.astype(float), rtol=tol, atol=tol, equal_nan=True):
        return (f"{label}: {u.dtype}{u.shape} vs {v.dtype}{v.shape}\n  inputs "
                f"{[x.tolist() for x in second]}\n  eager {u.tolist()}\n  jit   {v.tolist()}")
    return None


def main():
    warnings.simplefilter("ignore")
    npx.set_np()
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rs = onp.random.RandomState(seed)
    cases = bad = 0
    for _ in range(rounds):
        for name, f in BIN.items():
            for _ in range(4):
                da, db = rs.choice(DT), rs.choice(DT)
                sa, sb = SHAPES[rs.randint(len(SHAPES))]
                first = [draw(rs, sa, da), draw(rs, sb, db)]
                second = [draw(rs, sa, da), draw(rs, sb, db)]
                cases += 1
                p = compare(f"{name} {da}{sa} {db}{sb}", f, first, second)
                if p:
                    bad += 1
                    print(p, flush=True)
        for name, f in UN.items():
            for da in DT:
                sa = SHAPES[rs.randint(len(SHAPES))][0]
                cases += 1
                p = compare(f"{name} {da}{sa}", f, [draw(rs, sa, da)], [draw(rs, sa, da)])
                if p:
                    bad += 1
                    print(p, flush=True)
    print(f"{cases} cases, {bad} mismatch(es) (seed {seed})")


if __name__ == "__main__":
    main()
