"""Eager random draws in native code: the Philox words of n elements, filled by one small
compiled loop instead of ~100 numpy passes over uint64 temporaries (a Dropout mask of 64x4096
took 21 ms that way, 10x numpy's own generator).

    void tg_philox_words<k>(i64 seed, i64 counter, i64 start, i64 n, i32* out)   (k = 1, 2, 4)
    void tg_philox_words_at<k>(i64 seed, i64 counter, i64 n, i64* at, i32* out)

write word w of element start + i (of element at[i]) at out[w * n + i], for the first k words (a
uniform draw reads one, a normal two): the words `ir/ops/random.philox` defines, computed by
the IR fused kernels use (`philox.philox`), so an eager draw, an interpreted one and a compiled
one agree bit for bit. The `_at` form serves rejection samplers that draw a later round only
for the elements still rejected (random_dists.py).
Compiled (or read from the disk cache) once per process, on the first draw large enough to
use it (~50 ms from the cache); `ir/ops/random.py` calls it through the hook `install()` sets.
"""
import ctypes

import numpy as np
from llvmlite import ir

from . import philox
from .target import process_once

NAME = "tg_philox_words"
I32, I64 = ir.IntType(32), ir.IntType(64)


COUNTS = (1, 2, 4)


def _module_ir() -> str:
    m = ir.Module(name="tg_philox_fill")
    for count in COUNTS:
        _emit(m, count)
        _emit(m, count, at=True)
    return str(m)


def _emit(m, count, at=False):
    args = [I64, I64, I64, ir.PointerType(), ir.PointerType()] if at else \
        [I64, I64, I64, I64, ir.PointerType()]
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), args),
                     f"{NAME}{'_at' if at else ''}{count}")
    if at:
        seed, counter, n, indices, out = fn.args
    else:
        seed, counter, start, n, out = fn.args
    out.add_attribute("noalias")
    entry, header, body, done = (fn.append_basic_block(k)
                                 for k in ("entry", "header", "body", "done"))
    b = ir.IRBuilder(entry)
    b.branch(header)
    b.position_at_end(header)
    i = b.phi(I64, "i")
    i.add_incoming(ir.Constant(I64, 0), entry)
    b.cbranch(b.icmp_signed("<", i, n), body, done)
    b.position_at_end(body)
    element = b.load(b.gep(indices, [i], inbounds=True, source_etype=I64), typ=I64) if at \
        else b.add(start, i)
    for w, word in enumerate(philox.philox(b, seed, counter, element)[:count]):
        at = b.add(b.mul(ir.Constant(I64, w), n), i)
        b.store(word, b.gep(out, [at], inbounds=True, source_etype=I32))
    nxt = b.add(i, ir.Constant(I64, 1), flags=("nuw", "nsw"))
    i.add_incoming(nxt, body)
    b.branch(header)
    b.position_at_end(done)
    b.ret_void()


@process_once
def _compiled():
    """(JitObject, the ctypes function) of this process, compiled on first use."""
    from .linked import library_object
    from .target import JitObject
    # (the disk cache skips ~0.2 s of LLVM)
    jit = JitObject(library_object("philox_fill", _module_ir), None, links_runtime=False)
    kind = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                            ctypes.c_int64, ctypes.c_void_p)
    kind_at = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                               ctypes.c_void_p, ctypes.c_void_p)
    fills = {count: kind(jit.address(f"{NAME}{count}")) for count in COUNTS}
    fills.update({("at", count): kind_at(jit.address(f"{NAME}_at{count}"))
                  for count in COUNTS})
    return jit, fills


def _fill(kind):
    """The compiled fill `kind` (count, or ("at", count)); None when the loop cannot be
    compiled here: both hooks are then removed for good (eager draws keep working on numpy,
    as they did before them)."""
    try:
        return _compiled()[1][kind]
    except Exception:  # noqa: BLE001 - any LLVM failure: fall back for good
        from ..ir.ops import random as random_ops
        random_ops.NATIVE_WORDS = random_ops.NATIVE_WORDS_AT = None
        return None


def words(seed: int, counter: int, n: int, count: int = 4, start: int = 0):
    """The first `count` uint32 words of elements start..start+n-1 (rows of one (count, n)
    array), or
    None when the loop cannot be compiled here (the hook is then removed: eager draws keep
    working on numpy, as they did before it)."""
    count = next(c for c in COUNTS if c >= count)
    fill = _fill(count)
    if fill is None:
        return None
    out = np.empty((count, n), dtype=np.uint32)
    if n:
        # (the key's halves as the signed i64 the native code reads: the same 64 bits)
        fill(ctypes.c_int64(seed).value, ctypes.c_int64(counter).value, int(start), int(n),
             out.ctypes.data)
    return tuple(out)


def words_at(seed: int, counter: int, at, count: int = 4):
    """words() of the elements `at` (an int64 array of element indices, each >= 0), or None
    as words() gives it."""
    count = next(c for c in COUNTS if c >= count)
    fill = _fill(("at", count))
    if fill is None:
        return None
    at = np.ascontiguousarray(at, dtype=np.int64)
    out = np.empty((count, at.size), dtype=np.uint32)
    if at.size:
        fill(ctypes.c_int64(seed).value, ctypes.c_int64(counter).value, int(at.size),
             at.ctypes.data, out.ctypes.data)
    return tuple(out)


def install():
    """Make `ir/ops/random.philox` / `philox_at` fill large draws here."""
    from ..ir.ops import random as random_ops
    random_ops.NATIVE_WORDS = words
    random_ops.NATIVE_WORDS_AT = words_at
