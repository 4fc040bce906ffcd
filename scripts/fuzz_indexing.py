"""Differential fuzz of array indexing (x[key] and x[key] = v) against numpy.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python -u scripts/fuzz_indexing.py SEED COUNT [-v]

Each case draws an array (rank 1-4, dims 0-4, float32/float64/int32/int64/uint8/bool) of
one family, `mx.nd.NDArray` (MXNet 1.9.1's legacy indexing is the spec) or `mx.np.ndarray`
(numpy's indexing is the spec), and a key: integers (negative too, numpy integers), slices
(any start/stop/step, negative steps, bounds past the axis, None), Ellipsis, None, integer
index arrays (numpy arrays, lists, nd / mx.np arrays; negative and repeated entries, 0-d to
2-d, broadcast against each other, nd float32 arrays as MXNet allows), boolean masks, and
mixtures (advanced indices split by a slice move their dimensions to the front). Some keys
are wrong on purpose: an index out of range, too many indices, a value that does not
broadcast. Checked against numpy on the same data:

- getitem: value, shape (legacy nd gives (1,) where numpy gives 0-d), dtype;
- setitem with a scalar, an array of the indexed shape, a broadcastable array (numpy, list,
  nd / np array), repeated indices last-write-wins as numpy;
- errors: numpy's IndexError must be an IndexError / MXNetError here (never a value);
- gradients (float): y = x[key]; (y * c).sum().backward() gives np.add.at's scatter of c;
  setitem under autograd.record() (eagerly MXNet refuses it: a clear refusal is counted);
- the same getitem / setitem (and their gradients; setitem's to the target and the value,
  last write wins) compiled: mx.jit with the key's arrays as constants and as arguments, and
  a hybridized gluon HybridBlock (index arrays passed as inputs), each called twice on new
  data of the same shape (then new index values), and once on a larger input (it must
  retrace, not return a stale result); out-of-range keys must raise there too;
- legacy nd basic indexing: writing into x[key] reaches x exactly when MXNet 1.9.1 returns
  a view (its contiguity rule).

-v prints every case; --avoid-known generates none of the triggers of the bugs listed in
KNOWN below (all fixed, tests/trust/test_indexing_regressions.py; the flag is for running
this against a tree from before the fix, so that the checks those bugs stop still run).
Known limitation of the reference: an empty list beside other advanced indices (x[[], 0,
..., 1]) is given a shape other than numpy's in a few cases (seeds 4 and 5 show 4 in 6000).

MXNet 1.9.1 differences documented in docs/mxnet_compat.md are expected: boolean masks on
legacy nd arrays are refused (MXNet reads a numpy bool array as 0/1 positions). A failure
is one line with a reproduction; an exception that names the operation and says it is not
supported is a refusal, counted by kind at the end. Last line: `N of COUNT cases failed`.
"""
import collections
import re
import sys
import traceback
import warnings

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

warnings.simplefilter("ignore")
DTYPES = ["float32", "float64", "int32", "int64", "uint8", "bool"]
FLOATS = ("float32", "float64")
REFUSAL = re.compile(r"not supported|unsupported|refuse|not implemented|cannot (be )?(compile|"
                     r"trace|record|differentiate)|Assigning to NDArrays|Inplace operations",
                     re.I)
VERBOSE = "-v" in sys.argv
# --avoid-known: generate none of the triggers of the bugs this fuzzer found (KNOWN), so that
# the checks behind them run: see the comments marked KNOWN
AVOID_KNOWN = "--avoid-known" in sys.argv
KNOWN = """
1. nd x[index array] (a bare key, not a tuple) clips: negative entries read row 0, entries
   past the axis the last row, no IndexError (nd._getitem -> take(mode='clip')).
2. nd x[key] = v with an nd float32 index array (MXNet's default dtype) raises IndexError.
3. nd setitem in jit / hybridize with an nd index array input: its values at trace time are
   baked in (later calls write at the old positions).
4. setitem (nd and np) accepts a value of another shape of the same size (reshaped), where
   numpy and MXNet raise (a (1,) value into a 0-d advanced target too, for mx.np).
5. compiled setitem (jit / hybridize / record) cannot broadcast a value with leading 1 axes
   more than the target has, which numpy (and eager) strip.
6. nd setitem with a boolean mask writes through the mask (getitem refuses it, as documented).
7. mx.np x[[]] / x[[[], []]] (an empty list index) raises IndexError (numpy: an empty integer
   index).
8. nd x[2:0:-2] (a negative step selecting one element) is a copy; MXNet's is a view.
9. under autograd.record(), x[..., None] = numpy value (a whole-array write) broadcasts the
   value against x's shape without the None axes: a ValueError, or silently transposed.
"""
STAGES = collections.Counter()      # stages passed, by name
REC_ON = "r = autograd.record(); r.__enter__()"         # (a reproduction is one line)
REC_OFF = "r.__exit__(None, None, None)"
SET_COPY = "[b := a.copy(), b.__setitem__(np.s_[{}], {}), b][-1]"    # b = a.copy(); b[k] = v


class Refused(Exception):
    """A clear refusal by tracegrad: the stage is skipped and counted."""


class Failed(Exception):
    """A mismatch: the message is the failure line (without the reproduction)."""


# ------------------------------------------------------------------ data
def data(shape, dtype, variant=0):
    """Deterministic data (so a reproduction needs no random state): arange, or a scramble."""
    n = int(np.prod(shape))
    a = np.arange(n) if variant == 0 else (np.arange(n) * 7 + 3) % 101
    if dtype == "bool":
        a = a % 2 if variant == 0 else a % 3
    return a.reshape(shape).astype(dtype)


def data_src(shape, dtype, variant=0):
    n = int(np.prod(shape))
    a = f"np.arange({n})" if variant == 0 else f"((np.arange({n}) * 7 + 3) % 101)"
    if dtype == "bool":
        a = f"({a} % {2 if variant == 0 else 3})"
    return f"{a}.reshape({shape}).astype('{dtype}')"


def make(fam, a, dtype=None):
    dtype = dtype or a.dtype
    return nd.array(a, dtype=dtype) if fam == "nd" else mx.np.array(a, dtype=dtype)


def make_src(fam, src, dtype):
    return f"{'nd' if fam == 'nd' else 'mx.np'}.array({src}, dtype='{dtype}')"


def cotangent(shape, dtype):
    return (np.arange(int(np.prod(shape))) % 7 + 1).reshape(shape).astype(dtype)


def cot_src(fam, shape, dtype):
    n = int(np.prod(shape))
    return make_src(fam, f"(np.arange({n}) % 7 + 1).reshape({shape})", dtype)


# ------------------------------------------------------------------ keys
# A key is a list of components (tuples): ('int', v, numpy_int?), ('slice', a, b, c),
# ('ell',), ('none',), ('arr', int64 values, container, dtype), ('mask', bool values,
# container, first axis). Containers: numpy, list, nd, ndf (nd float32), np (mx.np).
# `bare`: the key is the single component, not a tuple.

class Key:
    def __init__(self, comps, bare=False, note=""):
        self.comps, self.bare, self.note = comps, bare, note

    def build(self, fam, arrays=None):
        """The key as passed to x[...]; `arrays`: the nd / np index arrays to use instead
        (those passed as inputs of a compiled function)."""
        out, it = [], iter(arrays) if arrays is not None else None
        for c in self.comps:
            if c[0] in ("arr", "mask") and c[2] in ("nd", "ndf", "np") and it is not None:
                out.append(next(it))
            else:
                out.append(component(c, fam))
        return out[0] if self.bare else tuple(out)

    def ref(self):
        """The key for numpy (index arrays as int64 / bool numpy arrays)."""
        out = [c[1] if c[0] in ("arr", "mask") else component(c, "numpy")
               for c in self.comps]
        return out[0] if self.bare else tuple(out)

    def family_arrays(self, fam):
        return [component(c, fam) for c in self.comps
                if c[0] in ("arr", "mask") and c[2] in ("nd", "ndf", "np")]

    def src(self, fam, args=False):
        """Source text of the key; `args`: its nd / np arrays written k[0], k[1], ..."""
        parts, n = [], 0
        for c in self.comps:
            if args and c[0] in ("arr", "mask") and c[2] in ("nd", "ndf", "np"):
                parts.append(f"k[{n}]")
                n += 1
            else:
                parts.append(component_src(c, fam))
        if self.bare:
            return parts[0]
        if not parts:
            return "()"
        return ", ".join(parts) + ("," if len(parts) == 1 else "")

    def args_src(self, fam):
        """Source text of the list of its nd / np arrays (see src)."""
        return "[" + ", ".join(component_src(c, fam) for c in self.comps if c[0] in (
            "arr", "mask") and c[2] in ("nd", "ndf", "np")) + "]"

    def masks(self):
        return [c for c in self.comps if c[0] == "mask"]


def component(c, fam):
    kind = c[0]
    if kind == "int":
        return np.int64(c[1]) if c[2] else c[1]
    if kind == "slice":
        return slice(*c[1:])
    if kind == "ell":
        return Ellipsis
    if kind == "none":
        return None
    vals, cont = c[1], c[2]
    dtype = bool if kind == "mask" else c[3]
    if cont == "numpy":
        return vals.astype(dtype)
    if cont == "list":
        return vals.tolist()
    if cont == "ndf":
        return nd.array(vals, dtype="float32")
    if cont == "nd":
        return nd.array(vals, dtype=dtype)
    return mx.np.array(vals, dtype=dtype)


def component_src(c, fam):
    kind = c[0]
    if kind == "int":
        return f"np.int64({c[1]})" if c[2] else str(c[1])
    if kind == "slice":
        a, b, s = ("" if v is None else str(v) for v in c[1:])
        return f"{a}:{b}" + (f":{s}" if s else "")
    if kind == "ell":
        return "..."
    if kind == "none":
        return "None"
    vals, cont = c[1], c[2]
    lst = repr(vals.tolist())
    dtype = "bool" if kind == "mask" else c[3]
    if cont == "list":
        return lst
    mod = {"numpy": "np", "nd": "nd", "ndf": "nd", "np": "mx.np"}[cont]
    if cont == "ndf":
        dtype = "float32"
    return f"{mod}.array({lst}, dtype='{dtype}')"


def rand_slice(rng, n):
    def bound():
        return None if rng.random() < 0.35 else int(rng.integers(-n - 2, n + 3))
    step = [None, 1, 2, 3, -1, -2, -3][rng.integers(7)]
    return ("slice", bound(), bound(), step)


def sub_shape(rng, bshape, min_ndim):
    """A shape that broadcasts to bshape: a suffix of it with some dims set to 1."""
    k = int(rng.integers(min(min_ndim, len(bshape)), len(bshape) + 1))
    shp = list(bshape[len(bshape) - k:])
    return tuple(1 if rng.random() < 0.25 else d for d in shp)


def gen_key(rng, shape, fam, op):
    """A valid random key for an array of `shape` (errors are injected by corrupt_key)."""
    avoid = AVOID_KNOWN and fam == "nd"
    ndim = len(shape)
    if ndim == 0:
        choices = [[], [("ell",)], [("none",)], [("none",), ("ell",)]]
        return Key(choices[rng.integers(len(choices))], bare=False)
    style = rng.choice(["basic", "adv", "mask", "mixed"], p=[0.3, 0.3, 0.15, 0.25])
    if fam == "nd" and style == "mask" and (rng.random() < 0.7 or (avoid and op == "set")):
        style = "adv"       # (documented refusal: seen, but not too often; KNOWN 6)
    m = ndim if rng.random() < 0.6 else int(rng.integers(0, ndim + 1))
    # kinds of the consumers and the number of axes each takes
    kinds, used = [], 0
    have_mask = False
    while used < m:
        r = rng.random()
        if style == "basic":
            k = "int" if r < 0.4 else "slice"
        elif style == "adv":
            k = "arr" if r < 0.6 else ("int" if r < 0.8 else "slice")
        elif style == "mask":
            k = "mask" if not have_mask and r < 0.7 else ("slice" if r < 0.85 else "int")
        else:
            k = ["arr", "int", "slice", "mask"][rng.integers(4)]
            if k == "mask" and (have_mask or rng.random() < 0.5 or (avoid and op == "set")):
                k = "arr"
        width = 1
        if k == "mask":
            have_mask = True
            width = int(rng.integers(1, min(2, m - used) + 1))
        kinds.append((k, width))
        used += width
    if style in ("mask",) and not have_mask and m:
        kinds[0] = ("mask", 1)
    ell = int(rng.integers(0, len(kinds) + 1)) if rng.random() < 0.3 else None
    # axes of each consumer
    axes, ax = [], 0
    for i, (k, w) in enumerate(kinds):
        if ell is not None and i == ell:
            ax = ndim - sum(w2 for _, w2 in kinds[i:])
        axes.append(ax)
        ax += w
    # advanced indices: one broadcast shape
    brank = int(rng.integers(0 if fam == "np" else 1, 3))
    bshape = tuple(int(d) for d in rng.choice([1, 2, 3, 3, 4, 0] if rng.random() < 0.05
                                                else [1, 2, 3, 4], brank))
    comps = []
    for (k, w), a in zip(kinds, axes):
        n = shape[a]
        if k == "int":
            comps.append(("int", int(rng.integers(-n, n)) if n else 0, rng.random() < 0.15))
        elif k == "slice":
            comps.append(rand_slice(rng, n))
        elif k == "arr":
            shp = sub_shape(rng, bshape, 1 if fam == "nd" else 0)
            hi = n if rng.random() < 0.8 else max(1, min(n, 2))   # (narrow: repeats)
            vals = rng.integers(-n, hi, shp) if n else np.zeros(shp, np.int64)
            conts = ["numpy", "list", fam] + (["ndf"] if fam == "nd" else [])
            if avoid and op == "set":
                conts = conts[:3]                                   # KNOWN 2
            cont = conts[rng.integers(len(conts))]
            if cont == "list" and (len(shp) == 0 or (AVOID_KNOWN and 0 in shp)):
                cont = "numpy"                                      # (KNOWN 7)
            dt = ["int32", "int64"][rng.integers(2)]
            comps.append(("arr", vals.astype(np.int64), cont, dt))
        else:
            mshape = shape[a:a + w]
            vals = rng.random(mshape) < 0.5
            conts = ["numpy", "list", fam]
            cont = conts[rng.integers(3)]
            if cont == "list" and AVOID_KNOWN and vals.size == 0:
                cont = "numpy"                                      # (KNOWN 7)
            comps.append(("mask", vals, cont, a))
    if ell is not None:
        comps.insert(ell, ("ell",))
    for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.3 else 0):
        comps.insert(int(rng.integers(0, len(comps) + 1)), ("none",))
    bare = len(comps) == 1 and rng.random() < 0.5 and not (avoid and comps[0][0] == "arr")
    return Key(comps, bare)                                         # (KNOWN 1)


def revalue(rng, key, shape):
    """The same key with new in-range values in its nd / np index arrays (same shapes)."""
    comps = []
    for i, c in enumerate(key.comps):
        if c[0] in ("arr", "mask") and c[2] not in ("nd", "ndf", "np"):
            comps.append(c)     # (a constant of the compiled code: kept)
        elif c[0] == "arr":
            n = shape[axis_of(key.comps, i, len(shape))]
            vals = rng.integers(-n, n, c[1].shape) if n else c[1]
            comps.append(("arr", vals.astype(np.int64), c[2], c[3]))
        elif c[0] == "mask" and any(c2[0] == "arr" for c2 in key.comps):
            # (its count must still broadcast with the index arrays: the same count)
            comps.append(("mask", rng.permutation(c[1].ravel()).reshape(c[1].shape), c[2],
                          c[3]))
        elif c[0] == "mask":
            comps.append(("mask", rng.random(c[1].shape) < 0.5, c[2], c[3]))
        else:
            comps.append(c)
    return Key(comps, key.bare, key.note)


def corrupt_key(rng, key, shape):
    """An invalid twin of `key`: an integer or index array out of range, or too many
    indices. None when there is nothing to corrupt."""
    comps = list(key.comps)
    ndim = len(shape)
    pos = [i for i, c in enumerate(comps) if c[0] in ("int", "arr")]
    if pos and rng.random() < 0.7:
        i = pos[rng.integers(len(pos))]
        axis = axis_of(comps, i, ndim)
        n = shape[axis]
        bad = int(n + rng.integers(0, 3)) if rng.random() < 0.5 else int(-n - 1 - rng.integers(3))
        c = comps[i]
        if c[0] == "int":
            comps[i] = ("int", bad, c[2])
        else:
            if c[1].size == 0:
                return None
            vals = c[1].copy()
            vals.flat[int(rng.integers(vals.size))] = bad
            comps[i] = ("arr", vals, c[2], c[3])
        return Key(comps, key.bare, f"index out of range on axis {axis}")
    if any(c[0] == "ell" for c in comps) or not ndim:
        comps = [("int", 0, False)] * (ndim + 1)
    else:
        used = sum(c[1].ndim if c[0] == "mask" else 1 for c in comps
                   if c[0] not in ("none",))
        comps = comps + [("int", 0, False)] * (ndim + 1 - used)
    return Key(comps, False, "too many indices")


def axis_of(comps, i, ndim):
    """The array axis component i indexes."""
    widths = [0 if c[0] in ("none", "ell") else (c[1].ndim if c[0] == "mask" else 1)
              for c in comps]
    ell = next((j for j, c in enumerate(comps) if c[0] == "ell"), None)
    if ell is not None and i > ell:
        return ndim - sum(widths[i:])
    return sum(widths[:i])


def larger_shape(shape, key):
    """A shape the key still fits: each axis one longer, except those a mask covers."""
    fixed = set()
    for c in key.comps:
        if c[0] == "mask":
            fixed.update(range(c[3], c[3] + c[1].ndim))
    if len(fixed) == len(shape):
        return None
    return tuple(d if i in fixed else d + 1 for i, d in enumerate(shape))


# ------------------------------------------------------------------ numpy references
def np_get(a, key):
    return a[key.ref()]


def positions(shape, key):
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[key.ref()]


def grad_get_ref(shape, key, c, dtype):
    g = np.zeros(int(np.prod(shape)), np.float64)
    np.add.at(g, positions(shape, key).ravel(), np.asarray(c, np.float64).ravel())
    return g.reshape(shape).astype(dtype)


def grad_set_ref(shape, key, c, vshape, dtype):
    """Gradients of b = x.copy(); b[key] = v; (b * c).sum() w.r.t. x and v."""
    pos = positions(shape, key)
    gx = np.asarray(c, np.float64).copy()
    gx.flat[pos.ravel()] = 0
    vidx = np.arange(int(np.prod(vshape)), dtype=np.int64).reshape(vshape)
    while vidx.ndim > pos.ndim and vidx.shape[0] == 1:
        vidx = vidx[0]
    vb = np.broadcast_to(vidx, pos.shape)
    winner = {}
    for p, i in zip(pos.ravel(), vb.ravel()):
        winner[int(p)] = int(i)
    gv = np.zeros(int(np.prod(vshape)), np.float64)
    for p, i in winner.items():
        gv[i] += c.flat[p]
    return gx.astype(dtype), gv.reshape(vshape).astype(dtype)


def mxnet_returns_view(key, shape):
    """Whether MXNet 1.9.1's NDArray.__getitem__ returns a view for the basic key (its fast
    paths: x[()], x[i], x[a:b], all-integer tuples; else _basic_indexing_slice_is_contiguous
    on the key with integers as one-element slices)."""
    k = key.build("nd")
    if (isinstance(k, tuple) and not k) or isinstance(k, (int, np.integer)):
        return True
    if isinstance(k, slice) and k.step in (None, 1):
        return True
    if not isinstance(k, tuple):
        k = (k,)
    if len(k) == len(shape) and all(isinstance(i, (int, np.integer)) for i in k):
        return True
    k = [i for i in k if i is not None]
    if Ellipsis in k:
        e = k.index(Ellipsis)
        k = k[:e] + [slice(None)] * (len(shape) - len(k) + 1) + k[e + 1:]
    k = k + [slice(None)] * (len(shape) - len(k))
    k = [i if isinstance(i, slice) else slice(int(i), int(i) + 1 or None) for i in k]
    sizes = [len(range(*i.indices(n))) for i, n in zip(k, shape)]
    if np.prod(sizes) in (0, 1):
        return True
    subset = False
    for i, n, size in zip(reversed(k), reversed(shape), reversed(sizes)):
        step = i.indices(n)[2]
        if size == 0:
            return True
        if size > 1 and step != 1:
            return False
        if subset and size > 1:
            return False
        if size < n:
            subset = True
    return True


def expected_shape(fam, shape):
    return (1,) if fam == "nd" and shape == () else shape


# ------------------------------------------------------------------ checks
def asnp(y):
    return y.asnumpy() if hasattr(y, "asnumpy") else np.asarray(y)


def compare(what, got, want, fam, dtype, tol=False):
    g = asnp(got)
    exp = expected_shape(fam, want.shape)
    if g.shape != exp:
        raise Failed(f"{what}: shape {g.shape}, expected {exp}")
    if np.dtype(got.dtype) != np.dtype(dtype):
        raise Failed(f"{what}: dtype {np.dtype(got.dtype)}, expected {dtype}")
    w = want.reshape(exp)
    ok = np.allclose(g, w, rtol=1e-5, atol=1e-6) if tol else np.array_equal(g, w)
    if not ok:
        raise Failed(f"{what}: value {short(g)}, expected {short(w)}")


def short(a):
    s = np.array2string(np.asarray(a), threshold=12, max_line_width=10000).replace("\n", "")
    return s if len(s) < 160 else s[:157] + "..."


def guarded(what, fn):
    """Run fn; a refusal raises Refused, any other exception Failed."""
    try:
        return fn()
    except (Failed, Refused):
        raise
    except Exception as e:  # noqa: BLE001 - any other exception is a finding
        if is_refusal(e):
            raise Refused(refusal_kind(what, e)) from None
        raise Failed(f"{what}: {type(e).__name__}: {first_line(e)}") from None


def expect_error(what, fn, also=()):
    """fn must raise IndexError / MXNetError (and the `also` types)."""
    try:
        out = fn()
    except (IndexError, MXNetError) + tuple(also):
        return
    except Exception as e:  # noqa: BLE001
        raise Failed(f"{what}: expected IndexError/MXNetError, got {type(e).__name__}: "
                     f"{first_line(e)}") from None
    raise Failed(f"{what}: no error (numpy raises), returned "
                 f"{short(asnp(out)) if out is not None else None}")


def is_refusal(e):
    return not isinstance(e, IndexError) and bool(REFUSAL.search(str(e)))


def first_line(e):
    return (str(e).strip().split("\n")[0] or repr(e))[:200]


def refusal_kind(what, e):
    msg = re.sub(r"\d+", "N", first_line(e))[:90]
    return f"{what.split(' ')[0]}: {type(e).__name__}: {msg}"


def grad_of(x):
    g = x.grad
    return g.asnumpy() if g is not None else None


class GetBlock(gluon.HybridBlock):
    """x[key] with the key's nd / np index arrays as inputs."""

    def __init__(self, key, fam, **kw):
        super().__init__(**kw)
        self._key, self._fam = key, fam

    def hybrid_forward(self, F, x, *ks):
        return x[self._key.build(self._fam, ks)]


class SetBlock(gluon.HybridBlock):
    """b = x.copy(); b[key] = v (v an input, or a constant scalar)."""

    def __init__(self, key, fam, scalar, **kw):
        super().__init__(**kw)
        self._key, self._fam, self._scalar = key, fam, scalar

    def hybrid_forward(self, F, x, *rest):
        return set_copy(x, self._key.build(self._fam, rest[1:] if self._scalar is None
                                           else rest), rest[0] if self._scalar is None
                        else self._scalar)


NpGetBlock = mx.util.use_np(type("NpGetBlock", (GetBlock,), {}))
NpSetBlock = mx.util.use_np(type("NpSetBlock", (SetBlock,), {}))


def set_copy(x, key, v):
    b = x.copy()
    b[key] = v
    return b


class Case:
    def __init__(self, rng, idx):
        self.rng, self.idx = rng, idx
        self.fam = "nd" if rng.random() < 0.5 else "np"
        self.dtype = DTYPES[rng.integers(len(DTYPES))]
        if self.fam == "np" and rng.random() < 0.04:
            self.shape = ()
        else:
            rank = int(rng.integers(1, 5))
            dims = [1, 2, 3, 4] + ([0] if self.fam == "np" and rng.random() < 0.15 else [])
            self.shape = tuple(int(rng.choice(dims)) for _ in range(rank))
        self.op = "get" if rng.random() < 0.55 else "set"
        self.key = gen_key(rng, self.shape, self.fam, self.op)
        self.bad = corrupt_key(rng, self.key, self.shape) if rng.random() < 0.12 else None
        try:
            np_get(data(self.shape, self.dtype), self.key)
        except IndexError as e:   # (a mask's count and an index array that do not broadcast)
            self.bad = Key(self.key.comps, self.key.bare, f"numpy: {e}")
        self.floats = self.dtype in FLOATS

    # -------------------------------------------------------------- reproduction text
    def x_src(self, variant=0, shape=None):
        return make_src(self.fam, data_src(shape or self.shape, self.dtype, variant),
                        self.dtype)

    def prelude(self):
        return ("import numpy as np, tracegrad as mx; from tracegrad import nd, autograd; "
                f"x = {self.x_src()}; ")

    # -------------------------------------------------------------- the run
    def run(self):
        """Failure lines (a list), refusal kinds (a list)."""
        fails, refusals = [], []
        try:
            stages = self.stages()
        except Exception:  # noqa: BLE001 - a fuzzer bug: show it
            return [f"FUZZER ERROR making the stages: {traceback.format_exc()}"], []
        for name, fn, repro in stages:
            try:
                fn()
                STAGES[name] += 1
            except Refused as r:
                refusals.append(str(r))
                if name == "eager":
                    break
            except Failed as f:
                fails.append(f"{self.fam} {self.op} {self.dtype}{self.shape} {f} | "
                             f"{self.prelude()}{repro}")
                if name == "eager":
                    break
            except Exception:  # noqa: BLE001 - a fuzzer bug: show it
                fails.append(f"FUZZER ERROR in {name}: {traceback.format_exc()}")
        return fails, refusals

    def stages(self):
        fam, key = self.fam, self.key
        ks = key.src(fam)
        if self.bad is not None:
            return self.error_stages()
        nd_mask = fam == "nd" and key.masks()
        if self.op == "get":
            out = [("eager", self.eager_get, f"x[{ks}]")]
            if nd_mask:
                return out
            if self.floats:
                yshape = expected_shape(fam, np_get(data(self.shape, self.dtype), key).shape)
                out.append(("grad", self.grad_get,
                            f"x.attach_grad(); {REC_ON}; y = x[{ks}]; "
                            f"L = (y * {cot_src(fam, yshape, self.dtype)}).sum(); {REC_OFF}; "
                            f"L.backward(); x.grad"))
            if fam == "nd" and all(c[0] in ("int", "slice", "ell", "none") for c in key.comps) \
                    and not (AVOID_KNOWN and any(c[0] == "slice" and (c[3] or 1) < 0
                                                 for c in key.comps)):      # (KNOWN 8)
                out.append(("view", self.view_get, f"y = x[{ks}]; y[:] = y + 1; x  # a view "
                            f"in MXNet: {mxnet_returns_view(key, self.shape)}"))
            out.append(("jit", lambda: self.compiled_get("jit-const"),
                        f"f = mx.jit(lambda a: a[{ks}]); f(x); f({self.x_src(1)})"))
            if key.family_arrays(fam):
                out.append(("jit-args", lambda: self.compiled_get("jit-args"),
                            f"f = mx.jit(lambda a, *k: a[{key.src(fam, True)}]); "
                            f"k = {key.args_src(fam)}; f(x, *k); f({self.x_src(1)}, *k)"))
            out.append(("hybrid", lambda: self.compiled_get("hybrid"),
                        f"HybridBlock hybrid_forward(F, x, *idx): x[{ks}] (index arrays as "
                        "inputs), hybridized, called twice"))
            return out
        value, vsrc, vkind = self.gen_value()
        self.value, self.vkind = value, vkind
        out = [("eager", self.eager_set, f"x[{ks}] = {vsrc}; x")]
        if nd_mask:
            return out
        if self.floats and self.rng.random() < 0.3 and not (
                AVOID_KNOWN and any(c[0] == "none" for c in key.comps)):   # (KNOWN 9)
            out.append(("record", self.record_set,
                        f"x.attach_grad(); {REC_ON}; y = x * 1; y[{ks}] = {vsrc}"))
        kk = key.src(fam, True)
        k = f"k = {key.args_src(fam)}; "
        if isinstance(value, (bool, int, float)):
            jit_src = (f"f = mx.jit(lambda a, *k: {SET_COPY.format(kk, vsrc)}); {k}"
                       f"f(x, *k); f({self.x_src(1)}, *k)")
        else:
            vlist = np.asarray(asnp(value)).astype(self.dtype).tolist()
            jit_src = (f"f = mx.jit(lambda a, v, *k: {SET_COPY.format(kk, 'v')}); {k}"
                       f"v = {make_src(fam, repr(vlist), self.dtype)}; "
                       f"f(x, v, *k); f({self.x_src(1)}, v, *k)")
        out.append(("jit-set", lambda: self.compiled_set("jit"), jit_src))
        out.append(("hybrid-set", lambda: self.compiled_set("hybrid"),
                    f"HybridBlock: b = x.copy(); b[{ks}] = v, hybridized; v = {vsrc}"))
        return out

    # -------------------------------------------------------------- getitem
    def eager_get(self):
        a = data(self.shape, self.dtype)
        want = np_get(a, self.key)
        x = make(self.fam, a)
        got = guarded("eager getitem", lambda: x[self.key.build(self.fam)])
        if self.fam == "nd" and self.key.masks():
            raise Failed("a boolean mask on a legacy nd array was accepted (docs: refused; "
                         "MXNet 1.9.1 reads a numpy bool array as 0/1 positions)")
        compare("eager getitem", got, want, self.fam, self.dtype)

    def view_get(self):
        """A basic key of legacy nd: x[key] is a view exactly when MXNet's is (docs)."""
        a = data(self.shape, self.dtype)
        x = make(self.fam, a)
        y = x[self.key.build(self.fam)]
        if y.size == 0:
            return
        y[:] = y.asnumpy() == 0 if self.dtype == "bool" else y.asnumpy() + 1
        view, want = not np.array_equal(x.asnumpy(), a), mxnet_returns_view(self.key,
                                                                              self.shape)
        if view != want:
            raise Failed(f"writing into x[key] {'changed' if view else 'left'} x: a "
                         f"{'view' if view else 'copy'}, MXNet 1.9.1 returns a "
                         f"{'view' if want else 'copy'}")

    def grad_get(self):
        a = data(self.shape, self.dtype)
        want_y = np_get(a, self.key)
        c = cotangent(expected_shape(self.fam, want_y.shape), self.dtype)
        x = make(self.fam, a)
        x.attach_grad()

        def go():
            with autograd.record():
                y = x[self.key.build(self.fam)]
                (y * make(self.fam, c)).sum().backward()
        guarded("eager grad", go)
        g = grad_of(x)
        want = grad_get_ref(self.shape, self.key, c, self.dtype)
        if g is None or g.shape != want.shape or not np.allclose(g, want):
            raise Failed(f"eager grad: {short(g)}, expected {short(want)}")

    def compiled_get(self, mode):
        fam, key, dt = self.fam, self.key, self.dtype
        karrs = key.family_arrays(fam)
        if mode == "jit-const":
            kconst = key.build(fam)
            f = mx.jit(lambda a: a[kconst])
            call = lambda x, k: f(x)                          # noqa: E731
        elif mode == "jit-args":
            f = mx.jit(lambda a, *k: a[key.build(fam, k)])
            call = lambda x, k: f(x, *k.family_arrays(fam))   # noqa: E731
        else:
            blk = (GetBlock if fam == "nd" else NpGetBlock)(key, fam)
            blk.hybridize()
            call = lambda x, k: blk(x, *k.family_arrays(fam))  # noqa: E731
        const = mode == "jit-const"
        for variant in (0, 1):
            a = data(self.shape, dt, variant)
            got = guarded(f"{mode} getitem (call {variant + 1})", lambda: call(make(fam, a), key))
            compare(f"{mode} call {variant + 1}", got, np_get(a, key), fam, dt)
        runs = [(0, key), (1, key)]     # (data variant, key) of the recorded calls
        if karrs and not const:      # new index values, same shapes
            key2 = revalue(self.rng, key, self.shape)
            a = data(self.shape, dt, 1)
            got = guarded(f"{mode} new-index-values", lambda: call(make(fam, a), key2))
            compare(f"{mode} new index values {key2.src(fam)}", got, np_get(a, key2), fam, dt)
            runs.append((1, key2))
        if self.floats:
            for variant, k in runs:
                a = data(self.shape, dt, variant)
                want_y = np_get(a, k)
                c = cotangent(expected_shape(fam, want_y.shape), dt)
                x = make(fam, a)
                x.attach_grad()

                def go():
                    with autograd.record():
                        y = call(x, k)
                        (y * make(fam, c)).sum().backward()
                guarded(f"{mode} grad", go)
                g, want = grad_of(x), grad_get_ref(self.shape, k, c, dt)
                if g is None or g.shape != want.shape or not np.allclose(g, want):
                    raise Failed(f"{mode} grad (recorded call on data {variant + 1}, key "
                                 f"{k.src(fam)}): {short(g)}, expected {short(want)}")
        shape2 = larger_shape(self.shape, key)
        if shape2 is not None:
            a = data(shape2, dt, 0)
            got = guarded(f"{mode} getitem (larger input)", lambda: call(make(fam, a), key))
            compare(f"{mode} on a larger input {shape2}", got, np_get(a, key), fam, dt)

    # -------------------------------------------------------------- setitem
    def scalar(self):
        r = self.rng
        if self.dtype == "bool":
            return bool(r.random() < 0.5)
        if self.dtype == "uint8":
            return int(r.integers(0, 200))
        if self.dtype.startswith("int"):
            return int(r.integers(-50, 50))
        return float(r.integers(-20, 20)) + 0.5

    def gen_value(self, target_shape=None):
        """(value, source text, kind): a scalar, an array of the indexed shape, one that
        broadcasts to it, or (rarely) one that does not."""
        r, fam, dt = self.rng, self.fam, self.dtype
        P = np_get(data(self.shape, dt), self.key).shape if target_shape is None \
            else target_shape
        kind = r.choice(["scalar", "full", "bcast", "bad"], p=[0.3, 0.35, 0.3, 0.05])
        if AVOID_KNOWN and kind == "bad":
            kind = "full"                                           # KNOWN 4
        if kind == "scalar":
            v = self.scalar()
            return v, repr(v), kind
        if kind == "full":
            shp = P
        elif kind == "bcast":
            shp = sub_shape(r, P, 0)
            if r.random() < 0.2 and not AVOID_KNOWN:               # KNOWN 5
                shp = (1,) + shp
        else:       # one longer on every axis, or (same size) the axes reversed
            shp = P[::-1] if r.random() < 0.5 and P[::-1] != P else tuple(d + 1 for d in P)
            if not P or not all(P):
                return self.gen_value(target_shape)
        if fam == "nd" and shp == ():
            shp = (1,)      # (legacy nd has no 0-d arrays: MXNet's one-element value)
        vals = np.array([self.scalar() for _ in range(int(np.prod(shp)))], dtype=dt)
        vals = vals.reshape(shp)
        if r.random() < 0.15 and dt != "bool":    # another dtype: cast on assignment
            vals = vals.astype({"float32": "float64", "float64": "float32", "int32": "int64",
                                "int64": "int32", "uint8": "int32"}[dt])
            dt = str(vals.dtype)
        conts = ["numpy", "list", fam]
        cont = conts[r.integers(3)] if shp != () else ["numpy", fam][r.integers(2)]
        if cont == "list" and vals.size == 0:
            cont = "numpy"          # (tolist() of a (0, 2) array is [], of shape (0,))
        if cont == "list":
            return vals.tolist(), repr(vals.tolist()), kind
        if cont == "numpy":
            return vals, f"np.array({vals.tolist()!r}, dtype='{dt}')", kind
        return make(fam, vals, dt), make_src(fam, repr(vals.tolist()), dt), kind

    def np_set(self, a, key, value):
        a = a.copy()
        # (a list is an array of the target's dtype first, as MXNet makes it: numpy assigns
        # a list into a strided view element by element, with its own limits)
        v = asnp(value) if hasattr(value, "asnumpy") else \
            np.asarray(value, a.dtype) if isinstance(value, list) else value
        target = a[key.ref()].shape
        if np.size(v) == 1 and target == ():
            v = np.asarray(v).reshape(())    # (MXNet: a one-element array fills one element)
        if self.fam == "nd" and np.size(v) == 0 and np.prod(target) == 0:
            v = np.asarray(v).reshape(target)    # (MXNet reshapes an empty value)
        a[key.ref()] = v
        return a

    def eager_set(self):
        a = data(self.shape, self.dtype)
        try:
            want = self.np_set(a, self.key, self.value)
        except (ValueError, IndexError, TypeError):  # (numpy refuses the value)
            if AVOID_KNOWN:
                return                                              # KNOWN 4
            x = make(self.fam, a)
            expect_error(f"eager setitem ({self.vkind} value)",
                         lambda: x.__setitem__(self.key.build(self.fam), self.value),
                         also=(ValueError, TypeError))
            return
        x = make(self.fam, a)
        guarded("eager setitem", lambda: x.__setitem__(self.key.build(self.fam), self.value))
        if self.fam == "nd" and self.key.masks():
            raise Failed("a boolean mask on a legacy nd array was accepted by setitem (docs: "
                         "refused; MXNet 1.9.1 reads a numpy bool array as 0/1 positions)")
        compare(f"eager setitem ({self.vkind} value)", x, want, self.fam, self.dtype)

    def record_set(self):
        a = data(self.shape, self.dtype)
        try:
            want = self.np_set(a, self.key, self.value)
        except (ValueError, IndexError, TypeError):  # (numpy refuses the value)
            return
        x = make(self.fam, a)
        x.attach_grad()

        def go():
            with autograd.record():
                y = x * 1
                y[self.key.build(self.fam)] = self.value
            return y
        y = guarded("record setitem", go)
        compare("record setitem", y, want, self.fam, self.dtype)

    def compiled_set(self, mode):
        fam, key, dt = self.fam, self.key, self.dtype
        try:
            self.np_set(data(self.shape, dt), key, self.value)
        except (ValueError, IndexError, TypeError):  # (numpy refuses the value)
            return                    # (a bad value: checked eagerly only)
        value = self.value
        scalar = value if not hasattr(value, "shape") and not isinstance(value, list) \
            else None
        varr = None if scalar is not None else make(fam, np.asarray(asnp(value), dt), dt)
        if mode == "jit":
            if scalar is not None:
                f = mx.jit(lambda a, *k: set_copy(a, key.build(fam, k), scalar))
                call = lambda x, v, k: f(x, *k.family_arrays(fam))        # noqa: E731
            else:
                f = mx.jit(lambda a, v, *k: set_copy(a, key.build(fam, k), v))
                call = lambda x, v, k: f(x, v, *k.family_arrays(fam))     # noqa: E731
        else:
            blk = (SetBlock if fam == "nd" else NpSetBlock)(key, fam, scalar)
            blk.hybridize()
            if scalar is not None:
                call = lambda x, v, k: blk(x, *k.family_arrays(fam))      # noqa: E731
            else:
                call = lambda x, v, k: blk(x, v, *k.family_arrays(fam))   # noqa: E731
        for variant in (0, 1):
            a = data(self.shape, dt, variant)
            got = guarded(f"{mode}-set setitem (call {variant + 1})",
                          lambda: call(make(fam, a), varr, key))
            compare(f"{mode}-set call {variant + 1}", got, self.np_set(a, key, value), fam, dt)
        runs = [(0, key), (1, key)]     # (data variant, key) of the recorded calls
        if key.family_arrays(fam) and not key.masks() and not (AVOID_KNOWN and fam == "nd"):
            # new index values (KNOWN 3)
            key2 = revalue(self.rng, key, self.shape)
            a = data(self.shape, dt, 1)
            got = guarded(f"{mode}-set new-index-values", lambda: call(make(fam, a), varr, key2))
            compare(f"{mode}-set new index values {key2.src(fam)}", got,
                    self.np_set(a, key2, value), fam, dt)
            runs.append((1, key2))
        if self.floats:
            for variant, k in runs:
                a = data(self.shape, dt, variant)
                c = cotangent(self.shape, dt)
                x = make(fam, a)
                x.attach_grad()
                v = None if varr is None else make(fam, varr.asnumpy(), dt)
                if v is not None:
                    v.attach_grad()

                def go():
                    with autograd.record():
                        y = call(x, v, k)
                        (y * make(fam, c)).sum().backward()
                guarded(f"{mode}-set grad", go)
                gx, gv = grad_set_ref(self.shape, k, c, v.shape if v is not None else (), dt)
                where = f"recorded call on data {variant + 1}, key {k.src(fam)}"
                g = grad_of(x)
                if g is None or not np.allclose(g, gx):
                    raise Failed(f"{mode}-set grad of x ({where}): {short(g)}, "
                                 f"expected {short(gx)}")
                if v is not None:
                    g = grad_of(v)
                    if g is None or g.shape != gv.shape or not np.allclose(g, gv):
                        raise Failed(f"{mode}-set grad of v ({where}): {short(g)}, "
                                     f"expected {short(gv)}")
        shape2 = larger_shape(self.shape, key)
        if shape2 is not None and scalar is not None:
            a = data(shape2, dt, 0)
            got = guarded(f"{mode}-set (larger input)", lambda: call(make(fam, a), varr, key))
            compare(f"{mode}-set on a larger input {shape2}", got,
                    self.np_set(a, key, value), fam, dt)

    # -------------------------------------------------------------- errors
    def error_stages(self):
        fam, bad = self.fam, self.bad
        bs = bad.src(fam)
        a = data(self.shape, self.dtype)
        try:
            np_get(a, bad)
            return []       # (numpy takes it: e.g. an index into a longer axis)
        except IndexError:
            pass
        if fam == "nd" and bad.masks():
            return []
        note = bad.note
        out = [("eager", lambda: expect_error(f"eager getitem, {note}",
                                              lambda: make(fam, a)[bad.build(fam)]),
                f"x[{bs}]  # numpy: IndexError")]
        v = self.scalar()
        out.append(("eager-set", lambda: expect_error(
            f"eager setitem, {note}", lambda: make(fam, a).__setitem__(bad.build(fam), v)),
            f"x[{bs}] = {v!r}  # numpy: IndexError"))
        out.append(("jit-err", lambda: expect_error(
            f"jit getitem, {note}", lambda: mx.jit(lambda t: t[bad.build(fam)])(make(fam, a))),
            f"mx.jit(lambda t: t[{bs}])(x)  # numpy: IndexError"))
        out.append(("jit-set-err", lambda: expect_error(
            f"jit setitem, {note}", lambda: mx.jit(
                lambda t: set_copy(t, bad.build(fam), v))(make(fam, a))),
            f"mx.jit(lambda a: {SET_COPY.format(bs, repr(v))})(x)  # numpy: IndexError"))
        changed = [c for c, c0 in zip(bad.comps, self.key.comps) if c is not c0]
        if len(bad.comps) == len(self.key.comps) and changed and all(
                c[0] == "arr" and c[2] in ("nd", "ndf", "np") for c in changed):
            def compiled_then_bad():
                f = mx.jit(lambda t, *k: t[self.key.build(fam, k)])
                guarded("jit-args getitem (valid key first)",
                        lambda: f(make(fam, a), *self.key.family_arrays(fam)))
                expect_error(f"jit-args getitem, 2nd call, {note}",
                             lambda: f(make(fam, a), *bad.family_arrays(fam)))
            out.append(("jit-args-err", compiled_then_bad,
                        f"f = mx.jit(lambda t, *k: t[key from k]); "
                        f"f(x, valid {self.key.src(fam)}); f(x, bad {bs})  # numpy: IndexError"))
        return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    seed = int(args[0]) if args else 0
    count = int(args[1]) if len(args) > 1 else 200
    rng = np.random.default_rng(seed)
    failed, refusals, kinds = 0, collections.Counter(), collections.Counter()
    for i in range(count):
        case = Case(rng, i)
        kinds[f"{case.fam} {case.op}{' error' if case.bad is not None else ''}"] += 1
        fails, refs = case.run()
        refusals.update(refs)
        if VERBOSE:
            print(f"[{seed}:{i}] {case.fam} {case.op} {case.dtype}{case.shape} "
                  f"x[{case.key.src(case.fam)}] {'FAIL' if fails else 'ok'}")
        if fails:
            failed += 1
            for f in fails:
                print(f"FAIL [{seed}:{i}] {f}")
    print("cases:", dict(sorted(kinds.items())))
    print("stages passed:", dict(sorted(STAGES.items())))
    print("refusals:")
    for k, n in refusals.most_common():
        print(f"  {n:5d}  {k}")
    print(f"{failed} of {count} cases failed")


if __name__ == "__main__":
    main()
