"""Philox-4x32-10 in LLVM IR, bit-identical to `ir/ops/random.py` (its numpy definition).

Element i of a draw with key (seed, counter) uses counter block (lo32 i, hi32 i, lo32 counter,
hi32 counter) and key (lo32 seed, hi32 seed). The 32x32->64 products are written as i64
multiplies of zero-extended words, which vectorise (vpmuludq).
"""

from llvmlite import ir

from ..ir.ops.random import PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1

I32, I64, F32, F64 = ir.IntType(32), ir.IntType(64), ir.FloatType(), ir.DoubleType()


def _split(b, v):
    return b.trunc(v, I32), b.trunc(b.lshr(v, ir.Constant(I64, 32)), I32)


def philox(b: ir.IRBuilder, seed, counter, index):
    """Four i32 words for element `index` (i64) under key `seed`, `counter` (i64 values)."""
    c0, c1 = _split(b, index)
    c2, c3 = _split(b, counter)
    k0, k1 = _split(b, seed)
    m0, m1 = ir.Constant(I64, PHILOX_M0), ir.Constant(I64, PHILOX_M1)
    for _ in range(PHILOX_ROUNDS):
        p0 = b.mul(b.zext(c0, I64), m0)
        p1 = b.mul(b.zext(c2, I64), m1)
        lo0, hi0 = _split(b, p0)
        lo1, hi1 = _split(b, p1)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
        k0 = b.add(k0, ir.Constant(I32, PHILOX_W0))
        k1 = b.add(k1, ir.Constant(I32, PHILOX_W1))
    return c0, c1, c2, c3


def unit_float(b, word, dtype):
    """A word to [0, 1): 24 bits for f32, 32 for f64, exactly as random.unit_float."""
    if dtype == "f32":
        top = b.lshr(word, ir.Constant(I32, 8))
        return b.fmul(b.uitofp(top, F32), ir.Constant(F32, 2.0 ** -24))
    return b.fmul(b.uitofp(word, F64), ir.Constant(F64, 2.0 ** -32))
