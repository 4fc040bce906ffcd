"""Random primitives driven by an explicit key, on a counter-based generator (Philox-4x32-10).

Element i of a draw with key (seed, counter) is a pure function of (seed, counter, i), so the
numpy implementation here and native code give bit-identical results, and a draw needs no state.
The key is an i64[2] operand: [seed, counter]; eager mode advances the counter per call.
"""
import math

import numpy as np

from ..types import DTYPES, FLOATS, TensorType
from . import INDEXED, NONDIFF, RANDOM, OpDef, fail

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
PHILOX_ROUNDS = 10
MASK32 = 0xFFFFFFFF


def philox_block(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64 arrays holding 32-bit words: counter (c0..c3), key (k0, k1).
    The key is bumped after every round; the bump after the last round is unused."""
    u64, k0, k1 = np.uint64, int(k0), int(k1)
    for _ in range(PHILOX_ROUNDS):
        p0 = c0 * u64(PHILOX_M0)
        p1 = c2 * u64(PHILOX_M1)
        c0, c1, c2, c3 = ((p1 >> u64(32)) ^ c1 ^ u64(k0), p1 & u64(MASK32),
                          (p0 >> u64(32)) ^ c3 ^ u64(k1), p0 & u64(MASK32))
        k0, k1 = (k0 + PHILOX_W0) & MASK32, (k1 + PHILOX_W1) & MASK32
    return c0, c1, c2, c3


_CHUNK = 1 << 13  # elements per pass: the ~40 temporaries of a block stay in cache
_FEW = 8          # up to this many elements, Python ints: the array rounds cost ~80 us flat
_VALUES_CHUNK = 1 << 16     # elements per chunk of drawn_values
_NATIVE_FROM = 64  # from this many, codegen/philox_fill.py's compiled loop when installed
NATIVE_WORDS = None  # (seed, counter, n, count, start) -> uint32 word arrays, set by codegen
NATIVE_WORDS_AT = None  # (seed, counter, indices) -> the same of those elements, by codegen


def philox_ints(c0, c1, c2, c3, k0, k1):
    """philox_block on one counter of Python ints (the same words, exactly)."""
    for _ in range(PHILOX_ROUNDS):
        p0, p1 = c0 * PHILOX_M0, c2 * PHILOX_M1
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
        k0, k1 = (k0 + PHILOX_W0) & MASK32, (k1 + PHILOX_W1) & MASK32
    return c0, c1, c2, c3


def philox(seed: int, counter: int, n: int, count: int = 4, start: int = 0):
    """Four uint32 words per element index start..start+n-1: counter (i, counter), key seed
    (at least the first `count` of them). A draw of a few elements (a random flip's coin, a
    crop's offsets) runs on Python ints, a large one in native code (NATIVE_WORDS: the same
    words, as uint32) once codegen is loaded."""
    if n >= _NATIVE_FROM and NATIVE_WORDS is not None:
        words = NATIVE_WORDS(seed, counter, n, count, start)
        if words is not None:   # (None: the native loop could not be built here)
            return words
    if n <= _FEW:
        k0, k1 = seed & MASK32, (seed >> 32) & MASK32
        c2, c3 = counter & MASK32, (counter >> 32) & MASK32
        rows = [philox_ints(i & MASK32, i >> 32, c2, c3, k0, k1)
                for i in range(start, start + n)]
        return tuple(np.array(rows, dtype=np.uint64).reshape(n, 4).T)
    return _numpy_words(seed, counter, np.arange(start, start + n, dtype=np.uint64))


def _numpy_words(seed, counter, idx):
    """philox_block's four words of the elements `idx` (uint64), in chunks of _CHUNK."""
    u64 = np.uint64
    words = [np.empty(idx.size, dtype=np.uint64) for _ in range(4)]
    k0, k1 = seed & MASK32, (seed >> 32) & MASK32
    for lo in range(0, idx.size, _CHUNK):
        part = idx[lo:lo + _CHUNK]
        c2 = np.full(part.size, counter & MASK32, dtype=np.uint64)
        c3 = np.full(part.size, (counter >> 32) & MASK32, dtype=np.uint64)
        block = philox_block(part & u64(MASK32), part >> u64(32), c2, c3, k0, k1)
        for w, b in zip(words, block):
            w[lo:lo + part.size] = b
    return tuple(words)


def philox_at(seed: int, counter: int, at, count: int = 4):
    """philox()'s words of the element indices `at` (a 1-d int64 array, each >= 0) only: a
    rejection sampler's later rounds draw for the elements still rejected."""
    at = np.asarray(at, dtype=np.int64).reshape(-1)
    if at.size >= _NATIVE_FROM and NATIVE_WORDS_AT is not None:
        words = NATIVE_WORDS_AT(seed, counter, at, count)
        if words is not None:
            return words
    return _numpy_words(seed, counter, at.astype(np.uint64))


def drawn_values(key, n, count, values, dtype):
    """`values(words)` (elementwise) of elements 0..n-1 of philox's draw under `key`, a chunk
    of _VALUES_CHUNK elements at a time: the numbers one call over all n gives, without its
    n-sized temporaries (a float64 Box-Muller over 2^27 elements made ten 1 GB arrays: 13 s,
    9x numpy's generator; in chunks they stay in cache)."""
    seed, counter = _key(key)
    if n <= _VALUES_CHUNK:
        return values(philox(seed, counter, n, count))
    out = np.empty(n, dtype=DTYPES[dtype])
    for lo in range(0, n, _VALUES_CHUNK):
        hi = min(n, lo + _VALUES_CHUNK)
        out[lo:hi] = values(philox(seed, counter, hi - lo, count, lo))
    return out


def unit_float(word, dtype):
    """A uint32 word to a float in [0, 1): 24 random bits for f32, 32 for f64 (exact)."""
    if dtype == np.float32:   # (word: uint64 or uint32; the shift keeps its dtype)
        return ((word >> word.dtype.type(8)).astype(np.float32) * np.float32(2.0 ** -24))
    return word.astype(np.float64) * 2.0 ** -32


def uniform_from_words(words, dtype="f32", low=0.0, high=1.0):
    """random_uniform's values from its Philox words (1-d)."""
    dt = DTYPES[dtype]
    u = unit_float(words[0], dt)
    return (u * dt.type(high - low) + dt.type(low)).astype(dt)


def normal_from_words(words, dtype="f32", loc=0.0, scale=1.0):
    """random_normal's values from its Philox words (1-d): Box-Muller in f64."""
    u1 = 1.0 - unit_float(words[0], np.float64)  # in (0, 1]: log is finite
    u2 = unit_float(words[1], np.float64)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return (z * scale + loc).astype(DTYPES[dtype])


def _key(key):
    key = np.asarray(key).reshape(-1)
    return int(key[0]) & 0xFFFFFFFFFFFFFFFF, int(key[1]) & 0xFFFFFFFFFFFFFFFF


class _RandomOp(OpDef):
    """Shared type rule: an i64[2] key in, a float tensor of `shape` out."""
    traits = frozenset({NONDIFF, RANDOM, INDEXED})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.infer = staticmethod(_random_infer(cls.name))


def _random_infer(opname):
    def infer(key, *, shape, dtype="f32", **params):
        if key.dtype != "i64" or key.shape != (2,):
            fail(opname, f"key must be i64[2] (seed, counter), got {key}")
        if dtype not in FLOATS:
            fail(opname, f"dtype must be floating point, got {dtype!r}")
        return TensorType(dtype, shape)
    return infer


class RandomUniform(_RandomOp):
    """Uniform in [low, high)."""
    name = "random_uniform"
    attr_names = frozenset({"shape"})
    defaults = {"dtype": "f32", "low": 0.0, "high": 1.0}

    def element(ctx, key, *, shape, dtype="f32", low=0.0, high=1.0):
        e = ctx.e
        u = ctx.uniform(0, 0, dtype)
        return e.add(e.mul(u, e.const(high - low, dtype=dtype)), e.const(low, dtype=dtype))

    def impl(key, *, shape, dtype="f32", low=0.0, high=1.0):
        return drawn_values(key, math.prod(shape), 1,
                            lambda w: uniform_from_words(w, dtype, low, high),
                            dtype).reshape(shape)


class RandomNormal(_RandomOp):
    """Normal(loc, scale) by Box-Muller on two words of one Philox block."""
    name = "random_normal"
    attr_names = frozenset({"shape"})
    defaults = {"dtype": "f32", "loc": 0.0, "scale": 1.0}

    def element(ctx, key, *, shape, dtype="f32", loc=0.0, scale=1.0):
        e = ctx.e
        f64 = lambda v: e.const(v, dtype="f64")  # noqa: E731
        u1 = e.sub(f64(1.0), ctx.uniform(0, 0, "f64"))
        u2 = ctx.uniform(0, 1, "f64")
        radius = e.sqrt(e.mul(f64(-2.0), e.log(u1)))
        z = e.mul(radius, e.cos(e.mul(f64(2.0 * np.pi), u2), bounded=True))  # angle < 2 pi
        return e.cast(e.add(e.mul(z, f64(scale)), f64(loc)), dtype)

    def impl(key, *, shape, dtype="f32", loc=0.0, scale=1.0):
        return drawn_values(key, math.prod(shape), 2,
                            lambda w: normal_from_words(w, dtype, loc, scale),
                            dtype).reshape(shape)


class Bernoulli(_RandomOp):
    """1 with probability p, else 0 (the Dropout mask): uniform(f32) < p."""
    name = "bernoulli"
    attr_names = frozenset({"shape", "p"})
    defaults = {"dtype": "f32"}

    def element(ctx, key, *, shape, p, dtype="f32"):
        e = ctx.e
        return e.cast(e.lt(ctx.uniform(0, 0, "f32"), e.const(p, dtype="f32")), dtype)

    def impl(key, *, shape, p, dtype="f32"):
        return drawn_values(key, math.prod(shape), 1,
                            lambda w: (unit_float(w[0], np.float32) < np.float32(p)
                                       ).astype(DTYPES[dtype]),
                            dtype).reshape(shape)
