"""Splitting a large step's outer loop across cores, inside the generated code.

Each module that has a threaded step gets `tg_parallel_for(task, argv, n)`: it cuts the task
range [0, n) into `tg_num_threads` contiguous pieces, starts one POSIX thread per piece but the
first (pthread_create / pthread_join from the C library the process already has), runs the
first piece itself and joins. A task function is `void task(ptr argv, i64 lo, i64 hi)`; argv
is the array of buffer pointers of the step. The thread count is read by tg_entry from the
runtime context (TRACEGRAD_NUM_THREADS, default all cores), so changing it never recompiles.

Determinism: what a task computes depends only on its index, never on which thread runs it,
and partial results are combined in task order by the caller (reduction.py), so results are
bitwise identical for every thread count. Whether a step is threaded depends on its size only
(`THRESHOLD` elements), never on the thread count.
"""
from llvmlite import ir

from .loops import I64, for_range, i64

THRESHOLD = 1 << 20          # elements before a step is split: starting a thread costs ~20 us
PTR = ir.PointerType()
I32 = ir.IntType(32)
NUM_THREADS = "tg_num_threads"
PARALLEL_FOR = "tg_parallel_for"
MAX_THREADS = 256
TASK = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
TASK_PTR = TASK.as_pointer()
I8 = ir.IntType(8)
# a thread's closure: four i64 words (task fn, argv, lo, hi)


def _slot(b, base, k):
    """Word k of a closure (pointers are stored as i64)."""
    return b.gep(base, [i64(k)], source_etype=I64)


def num_threads_global(module):
    if NUM_THREADS in module.globals:
        return module.globals[NUM_THREADS]
    g = ir.GlobalVariable(module, I64, NUM_THREADS)
    g.linkage = "internal"
    g.initializer = ir.Constant(I64, 1)
    return g


def parallel_for(module):
    """The module's `void tg_parallel_for(ptr task, ptr argv, i64 n)` (emitted once)."""
    if PARALLEL_FOR in module.globals:
        return module.globals[PARALLEL_FOR]
    nthreads = num_threads_global(module)
    create = ir.Function(module, ir.FunctionType(I32, [PTR, PTR, PTR, PTR]), "pthread_create")
    join = ir.Function(module, ir.FunctionType(I32, [I64, PTR]), "pthread_join")
    worker = _worker(module)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [TASK_PTR, PTR, I64]), PARALLEL_FOR)
    fn.linkage = "internal"
    task, argv, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    t = b.load(nthreads, typ=I64)
    t = b.select(b.icmp_signed("<", t, i64(1)), i64(1), t)
    t = b.select(b.icmp_signed(">", t, i64(MAX_THREADS)), i64(MAX_THREADS), t)
    t = b.select(b.icmp_signed(">", t, n), n, t)
    single = b.icmp_signed("<=", t, i64(1))
    with b.if_else(single) as (then, otherwise):
        with then:
            b.call(task, [argv, i64(0), n])
        with otherwise:
            closures = b.alloca(I64, MAX_THREADS * 4)
            tids = b.alloca(I64, MAX_THREADS)
            started = b.alloca(ir.IntType(8), MAX_THREADS)

            def bound(k):   # k * n / t without overflow for realistic n
                return b.sdiv(b.mul(k, n), t)
            with for_range(b, b.sub(t, i64(1)), "spawn") as k:
                k1 = b.add(k, i64(1))
                c = b.gep(closures, [b.mul(k1, i64(4))], source_etype=I64)
                b.store(b.ptrtoint(task, I64), _slot(b, c, 0))
                b.store(b.ptrtoint(argv, I64), _slot(b, c, 1))
                b.store(bound(k1), _slot(b, c, 2))
                b.store(bound(b.add(k1, i64(1))), _slot(b, c, 3))
                rc = b.call(create, [b.gep(tids, [k1], source_etype=I64),
                                     ir.Constant(PTR, None), worker, c])
                ok = b.icmp_signed("==", rc, ir.Constant(I32, 0))
                b.store(b.zext(ok, ir.IntType(8)), b.gep(started, [k1], source_etype=ir.IntType(8)))
                with b.if_then(b.not_(ok)):
                    # no thread available: run that piece here, in order (same results)
                    b.call(worker, [c])
            b.call(task, [argv, i64(0), bound(i64(1))])
            with for_range(b, b.sub(t, i64(1)), "join") as k:
                k1 = b.add(k, i64(1))
                was = b.load(b.gep(started, [k1], source_etype=ir.IntType(8)), typ=ir.IntType(8))
                with b.if_then(b.icmp_unsigned("!=", was, ir.Constant(ir.IntType(8), 0))):
                    tid = b.load(b.gep(tids, [k1], source_etype=I64), typ=I64)
                    b.call(join, [tid, ir.Constant(PTR, None)])
    b.ret_void()
    return fn


def _worker(module):
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR]), "tg_worker")
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    c = fn.args[0]
    task = b.inttoptr(b.load(_slot(b, c, 0), typ=I64), TASK_PTR)
    argv = b.inttoptr(b.load(_slot(b, c, 1), typ=I64), PTR)
    lo = b.load(_slot(b, c, 2), typ=I64)
    hi = b.load(_slot(b, c, 3), typ=I64)
    b.call(task, [argv, lo, hi])
    b.ret(ir.Constant(PTR, None))
    return fn


def default_num_threads() -> int:
    import os
    env = os.environ.get("TRACEGRAD_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"TRACEGRAD_NUM_THREADS must be a positive integer, got {env!r}")
    return os.cpu_count() or 1
