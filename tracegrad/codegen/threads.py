"""Splitting a large step's outer loop across cores, inside the generated code.

A threaded step calls `tg_parallel_for(task, argv, n)` (compiled once per process: linked.py):
it cuts the task range [0, n) into `tg_num_threads` contiguous pieces and hands them to the
process's persistent worker pool (thread_pool.py: workers sleep between jobs; the caller takes
pieces too). A task function is `void task(ptr argv, i64 lo, i64 hi)`; argv is the array of
buffer pointers of the step. Each tg_entry stores the thread count and the pool's address from
the runtime context (TRACEGRAD_NUM_THREADS, default all cores) in the two process-wide globals
tg_parallel_for reads, so changing the count never recompiles.

Determinism: what a task computes depends only on its index, never on which thread runs it,
and partial results are combined in task order by the caller (reduction.py), so results are
bitwise identical for every thread count. Whether a step is threaded depends on its size only
(`THRESHOLD` elements), never on the thread count.
"""
from llvmlite import ir

from . import linked, thread_pool
from .loops import I64, for_range, i64

THRESHOLD = 1 << 20          # elements before a step is split (a wake-up costs ~5-20 us)
PTR = ir.PointerType()
I32 = ir.IntType(32)
NUM_THREADS = "tg_num_threads"
POOL = "tg_pool"
PARALLEL_FOR = "tg_parallel_for"
MAX_THREADS = thread_pool.MAX_THREADS
TASK_PTR = thread_pool.TASK_PTR
RUN_PTR = ir.FunctionType(ir.VoidType(), [TASK_PTR, PTR, I64, I64]).as_pointer()  # tg_pool_run


def num_threads_global(module):
    """The process's thread count, declared in `module` (linked.py defines it once)."""
    return _declared(module, NUM_THREADS, I64)


def pool_global(module):
    """The process's copy of the pool's run function pointer, declared in `module`."""
    return _declared(module, POOL, RUN_PTR)


def _declared(module, name, typ):
    if name in module.globals:
        return module.globals[name]
    return ir.GlobalVariable(module, typ, name)     # (external: defined by linked.py)


def parallel_for(module):
    """`void tg_parallel_for(ptr task, ptr argv, i64 n)`, declared in `module`, with the two
    globals it reads (the module's entry stores the runtime context's values in them)."""
    num_threads_global(module)
    pool_global(module)
    if PARALLEL_FOR in module.globals:
        return module.globals[PARALLEL_FOR]
    fn = ir.Function(module, PARALLEL_FOR_TYPE, PARALLEL_FOR)
    fn.attributes.add("nounwind")
    return fn


PARALLEL_FOR_TYPE = ir.FunctionType(ir.VoidType(), [TASK_PTR, PTR, I64])


def _define_parallel_for() -> str:
    """The module linked.py compiles once per process: the thread count (initially 1), the
    pool's run pointer (initially null) and tg_parallel_for: the thread count clamped to
    [1, min(n, MAX_THREADS)] pieces, run by the process's worker pool (thread_pool.py), or
    here, piece by piece, when there is one piece or no pool. Shared by every module, so a
    threaded step reads nothing its own module owns (shared_steps.py may call it from
    another module)."""
    module = ir.Module(name=PARALLEL_FOR)
    nthreads = ir.GlobalVariable(module, I64, NUM_THREADS)
    nthreads.initializer = i64(1)
    pool = ir.GlobalVariable(module, RUN_PTR, POOL)
    pool.initializer = ir.Constant(RUN_PTR, None)
    fn = ir.Function(module, PARALLEL_FOR_TYPE, PARALLEL_FOR)
    fn.attributes.add("nounwind")
    task, argv, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    t = b.load(nthreads, typ=I64)
    t = b.select(b.icmp_signed("<", t, i64(1)), i64(1), t)
    t = b.select(b.icmp_signed(">", t, i64(MAX_THREADS)), i64(MAX_THREADS), t)
    t = b.select(b.icmp_signed(">", t, n), n, t)
    run = b.load(pool, typ=RUN_PTR)
    pooled = b.and_(b.icmp_signed(">", t, i64(1)),
                    b.icmp_unsigned("!=", b.ptrtoint(run, I64), i64(0)))
    with b.if_else(pooled) as (then, otherwise):
        with then:
            b.call(run, [task, argv, n, t])
        with otherwise:
            with for_range(b, t, "piece") as k:
                b.call(task, [argv, b.sdiv(b.mul(k, n), t),
                              b.sdiv(b.mul(b.add(k, i64(1)), n), t)])
    b.ret_void()
    return str(module)


linked.provide(PARALLEL_FOR, [PARALLEL_FOR, NUM_THREADS, POOL], _define_parallel_for)


def default_num_threads() -> int:
    import os
    env = os.environ.get("TRACEGRAD_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"TRACEGRAD_NUM_THREADS must be a positive integer, got {env!r}")
    return os.cpu_count() or 1
