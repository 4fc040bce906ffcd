"""The process's persistent worker threads for threaded steps (codegen/threads.py).

One small LLVM module, compiled once per process, holds the pool: a mutex, two condition
variables and the current job (task, argv, n, pieces, next piece, pieces done) as globals.
`tg_pool_run(task, argv, n, t)` cuts [0, n) into t contiguous pieces exactly as before
(piece k is [k*n/t, (k+1)*n/t)), publishes the job, wakes the workers and takes pieces itself;
it returns when all t pieces are done. Workers are started on first need (t - 1 of them, up to
threads.MAX_THREADS - 1) and then sleep on the condition variable between jobs: a call costs
a wake-up (~5 us) instead of creating and joining threads (~20 us each).

Every claim of a piece reads the job under the mutex, so a late worker can only ever take a
piece of the job that is current. Which thread runs a piece never matters: what a piece
computes depends on its index only, and callers combine partials in piece order, so results
are bitwise identical for any thread count (as with the spawning version). One job at a time:
a second concurrent caller (another Python thread) runs its pieces serially itself.

Generated modules reach the pool through the runtime context (word CTX_POOL, runtime/
buffers.Context), never by symbol, so objects in the disk cache stay position-independent.
Exit: workers block in pthread_cond_wait and are not Python threads; nothing joins them, the
process exit ends them (the JIT object that holds their code is never freed). Fork: a child
has the memory but not the threads; os.register_at_fork resets the pool in the child (it
starts its own workers on first need).
"""

from llvmlite import ir

from .loops import I64, for_range, i64
from .target import process_once

PTR = ir.PointerType()
I32 = ir.IntType(32)
I8 = ir.IntType(8)
RUN = "tg_pool_run"
RESET = "tg_pool_reset"
SYNC_BYTES = 64             # >= sizeof(pthread_mutex_t) (40) and pthread_cond_t (48), glibc
MAX_THREADS = 256
THREAD_NAME = "tg-worker"
TASK = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
TASK_PTR = TASK.as_pointer()


def _global(m, name, ty, align=None):
    g = ir.GlobalVariable(m, ty, name)
    g.linkage = "internal"
    g.initializer = ir.Constant(ty, None)
    if align:
        g.align = align
    return g


def emit_pool() -> str:
    """LLVM IR text of the pool module."""
    m = ir.Module(name="tg_thread_pool")
    sync = ir.ArrayType(I8, SYNC_BYTES)
    mutex, work_cv, done_cv = (_global(m, n, sync, 16) for n in ("mutex", "work_cv", "done_cv"))
    g = {n: _global(m, n, I64) for n in ("gen", "n", "t", "next", "done", "workers")}
    task_g, argv_g = _global(m, "task", TASK_PTR), _global(m, "argv", PTR)
    busy = _global(m, "busy", I32)
    fn = lambda name, ret, *args: ir.Function(m, ir.FunctionType(ret, list(args)), name)  # noqa
    lock, unlock = fn("pthread_mutex_lock", I32, PTR), fn("pthread_mutex_unlock", I32, PTR)
    wait = fn("pthread_cond_wait", I32, PTR, PTR)
    broadcast, signal = fn("pthread_cond_broadcast", I32, PTR), fn("pthread_cond_signal", I32, PTR)
    create = fn("pthread_create", I32, PTR, PTR, PTR, PTR)
    detach = fn("pthread_detach", I32, I64)
    setname = fn("pthread_setname_np", I32, I64, PTR)
    label = ir.GlobalVariable(m, ir.ArrayType(I8, len(THREAD_NAME) + 1), "thread_name")
    label.linkage, label.global_constant = "internal", True
    label.initializer = ir.Constant(ir.ArrayType(I8, len(THREAD_NAME) + 1),
                                    bytearray(THREAD_NAME.encode() + b"\0"))

    # drain(): take pieces of the current job until none is left; called without the mutex
    drain = ir.Function(m, ir.FunctionType(ir.VoidType(), []), "tg_pool_drain")
    drain.linkage = "internal"
    b = ir.IRBuilder(drain.append_basic_block("entry"))
    claim, run, out = (drain.append_basic_block(x) for x in ("claim", "run", "out"))
    b.branch(claim)
    b.position_at_end(claim)
    b.call(lock, [mutex])
    k, t = b.load(g["next"], typ=I64), b.load(g["t"], typ=I64)
    b.cbranch(b.icmp_signed("<", k, t), run, out)
    b.position_at_end(run)
    b.store(b.add(k, i64(1)), g["next"])
    task, argv, n = b.load(task_g, typ=TASK_PTR), b.load(argv_g, typ=PTR), b.load(g["n"], typ=I64)
    b.call(unlock, [mutex])
    lo = b.sdiv(b.mul(k, n), t)
    hi = b.sdiv(b.mul(b.add(k, i64(1)), n), t)
    b.call(task, [argv, lo, hi])
    b.call(lock, [mutex])
    done = b.add(b.load(g["done"], typ=I64), i64(1))
    b.store(done, g["done"])
    with b.if_then(b.icmp_signed("==", done, t)):
        b.call(signal, [done_cv])
    b.call(unlock, [mutex])
    b.branch(claim)
    b.position_at_end(out)
    b.call(unlock, [mutex])
    b.ret_void()

    # worker(seen): sleep until the job generation moves past `seen`, drain, repeat
    worker = ir.Function(m, ir.FunctionType(PTR, [PTR]), "tg_pool_worker")
    worker.linkage = "internal"
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    seen = b.alloca(I64)
    b.store(b.ptrtoint(worker.args[0], I64), seen)
    top, sleep, woke = (worker.append_basic_block(x) for x in ("top", "sleep", "woke"))
    b.branch(top)
    b.position_at_end(top)
    b.call(lock, [mutex])
    check = worker.append_basic_block("check")
    b.branch(check)
    b.position_at_end(check)
    gen = b.load(g["gen"], typ=I64)
    b.cbranch(b.icmp_signed("==", gen, b.load(seen, typ=I64)), sleep, woke)
    b.position_at_end(sleep)
    b.call(wait, [work_cv, mutex])
    b.branch(check)
    b.position_at_end(woke)
    b.store(gen, seen)
    b.call(unlock, [mutex])
    b.call(drain, [])
    b.branch(top)

    # run(task, argv, n, t)
    run_fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [TASK_PTR, PTR, I64, I64]), RUN)
    task, argv, n, t = run_fn.args
    b = ir.IRBuilder(run_fn.append_basic_block("entry"))
    tid = b.alloca(I64)
    pair = b.cmpxchg(busy, ir.Constant(I32, 0), ir.Constant(I32, 1), "acquire", "monotonic")
    with b.if_else(b.extract_value(pair, 1)) as (pooled, serial):
        with pooled:
            b.call(lock, [mutex])
            gen = b.load(g["gen"], typ=I64)
            with for_range(b, b.sub(t, i64(1)), "spawn") as j:   # workers up to t - 1
                have = b.load(g["workers"], typ=I64)
                with b.if_then(b.icmp_signed("<=", have, j)):
                    rc = b.call(create, [tid, ir.Constant(PTR, None), worker,
                                         b.inttoptr(gen, PTR)])
                    with b.if_then(b.icmp_signed("==", rc, ir.Constant(I32, 0))):
                        # named by its creator (shows in top -H, /proc/<pid>/task/*/comm)
                        b.call(setname, [b.load(tid, typ=I64), label])
                        b.call(detach, [b.load(tid, typ=I64)])
                        b.store(b.add(have, i64(1)), g["workers"])
            b.store(task, task_g)
            b.store(argv, argv_g)
            b.store(n, g["n"])
            b.store(t, g["t"])
            b.store(i64(0), g["next"])
            b.store(i64(0), g["done"])
            b.store(b.add(gen, i64(1)), g["gen"])
            b.call(broadcast, [work_cv])
            b.call(unlock, [mutex])
            b.call(drain, [])
            b.call(lock, [mutex])
            wait_bb, waiting, finished = (b.append_basic_block(x) for x in
                                          ("wait", "waiting", "finished"))
            b.branch(wait_bb)
            b.position_at_end(wait_bb)
            b.cbranch(b.icmp_signed("<", b.load(g["done"], typ=I64), t), waiting, finished)
            b.position_at_end(waiting)
            b.call(wait, [done_cv, mutex])
            b.branch(wait_bb)
            b.position_at_end(finished)
            b.call(unlock, [mutex])
            b.store_atomic(ir.Constant(I32, 0), busy, "release", 4)
        with serial:            # the pool is busy with another caller's job: same pieces here
            with for_range(b, t, "piece") as k:
                lo = b.sdiv(b.mul(k, n), t)
                hi = b.sdiv(b.mul(b.add(k, i64(1)), n), t)
                b.call(task, [argv, lo, hi])
    b.ret_void()

    # reset(): in a forked child, where no worker exists and the locks may be held
    reset = ir.Function(m, ir.FunctionType(ir.VoidType(), []), RESET)
    b = ir.IRBuilder(reset.append_basic_block("entry"))
    for v in (mutex, work_cv, done_cv):
        b.store(ir.Constant(sync, None), v)
    b.store(i64(0), g["workers"])
    b.store(ir.Constant(I32, 0), busy)
    b.ret_void()
    return str(m)


@process_once
def pool_address() -> int:
    """Address of tg_pool_run in this process (compiled on first use, kept forever)."""
    import ctypes
    import os

    from .linked import library_object
    from .target import JitObject
    jit = JitObject(library_object("thread_pool", emit_pool))
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(jit))   # never freed: workers sleep in it
    reset = ctypes.CFUNCTYPE(None)(jit.address(RESET))
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset)
    _KEEP.append((jit, reset))
    return jit.address(RUN)


_KEEP = []
