"""Timing helpers shared by the benchmarks: medians of repeated runs, printed as a table."""
import gc
import os
import statistics
import time

# BENCH_CLOCK=cpu times with the process's CPU time (all its threads) instead of the wall
# clock: on a machine
# shared with other jobs, time spent waiting for a core is then not counted
CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def _batch_size(fn, min_time):
    """Calls per timed batch so that a batch lasts at least `min_time` seconds."""
    fn()
    number = 1
    while True:
        t0 = CLOCK()
        for _ in range(number):
            fn()
        if CLOCK() - t0 >= min_time:
            return number
        number *= 2


def _time_batch(fn, number):
    t0 = CLOCK()
    for _ in range(number):
        fn()
    return (CLOCK() - t0) / number


def warmed(step, calls=None, most=2000):
    """`step` after enough calls that step capture has learned everything it will (the plan,
    then the update fused into it, which a plan that compiled slowly learns only after
    update_fusion.LEARN_SLOW steps): its compiles then never fall inside timed rounds, nor in
    compare's calibration (a compile there makes every batch of that contender one call).
    After `calls`, it runs on in batches of 8 until two batches in a row compile nothing
    (at most `most` calls)."""
    import tracegrad as mx
    if calls is None:
        from tracegrad.tracing import update_fusion
        calls = update_fusion.LEARN_SLOW + 8
    for _ in range(calls):
        step()
    quiet, done = 0, calls
    while quiet < 2 and done < most:
        before = mx.stats()["compiles"]
        for _ in range(8):
            step()
        done += 8
        quiet = quiet + 1 if mx.stats()["compiles"] == before else 0
    return step


class Timings(list):
    """[(name, median seconds)], and `per_round` {name: seconds per call in each round}: the
    rows report() reads its ratios from (extending it with rows timed elsewhere keeps both)."""
    per_round: dict


def compare(named_fns, rounds=15, min_time=0.02, settle=0.0):
    """Median seconds per call of each fn, timed in interleaved rounds (garbage collection
    off) so that drift on a noisy machine hits every contender alike. A contender with
    `batch_size(min_time)` and `time_batch(number)` times itself (remote.py: a step in a
    process of its own). `settle`: seconds of sleep before each batch, so that the thread
    pools of the contender timed before it (its BLAS's, PyTorch's, XLA's) have stopped
    spinning and left the cores to this one. named_fns: [(name, fn)] -> Timings
    [(name, seconds)]."""
    numbers = [fn.batch_size(min_time) if hasattr(fn, "batch_size") else _batch_size(fn, min_time)
               for _, fn in named_fns]
    samples = [[] for _ in named_fns]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for (_, fn), number, out in zip(named_fns, numbers, samples):
                if settle:
                    time.sleep(settle)
                out.append(fn.time_batch(number) if hasattr(fn, "time_batch")
                           else _time_batch(fn, number))
    finally:
        if gc_was:
            gc.enable()
    out = Timings((name, statistics.median(s)) for (name, _), s in zip(named_fns, samples))
    out.per_round = {name: s for (name, _), s in zip(named_fns, samples)}
    return out


def median_time(fn, repeat=7, min_time=0.05):
    """Median seconds per call of one fn over `repeat` batches."""
    return compare([("fn", fn)], rounds=repeat, min_time=min_time)[0][1]


def fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    return f"{seconds * 1e3:8.2f} ms"


def report(title, rows, baseline=None):
    """rows: [(name, seconds)]; ratios are against the row named `baseline`: for rows timed in
    the same rounds as it (compare), the median of the per-round ratios (a drift of the
    machine's speed between rounds cancels), else the ratio of the medians."""
    print(f"\n== {title}")
    base = dict(rows).get(baseline)
    per_round = getattr(rows, "per_round", {})
    for name, t in rows:
        if not base:
            ratio = ""
        elif name in per_round and baseline in per_round:
            r = statistics.median(a / b for a, b in zip(per_round[name], per_round[baseline]))
            ratio = f"  {r:6.2f}x {baseline}"
        else:
            ratio = f"  {t / base:6.2f}x {baseline}"
        print(f"  {name:38s} {fmt(t)}{ratio}")
