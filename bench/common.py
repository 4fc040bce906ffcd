"""Timing helpers shared by the benchmarks: medians of repeated runs, printed as a table."""
import gc
import statistics
import time


def median_time(fn, repeat=7, number=None, min_time=0.05):
    """Median seconds per call of fn() over `repeat` batches of `number` calls."""
    fn()
    if number is None:
        number, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            t = time.perf_counter() - t0
            if t >= min_time:
                break
            number *= 2
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times)


def fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    return f"{seconds * 1e3:8.2f} ms"


def report(title, rows, baseline=None):
    """rows: [(name, seconds)]; ratios are against the row named `baseline`."""
    print(f"\n== {title}")
    base = dict(rows).get(baseline)
    for name, t in rows:
        ratio = f"  {t / base:6.2f}x {baseline}" if base else ""
        print(f"  {name:38s} {fmt(t)}{ratio}")


def compare(named_fns, rounds=15, min_time=0.02):
    """Median seconds per call of each fn, timed in interleaved rounds so that drift on a noisy
    machine hits every contender alike. named_fns: [(name, fn)] -> [(name, seconds)]."""
    numbers = []
    for _, fn in named_fns:
        fn()
        number, t = 1, 0.0
        while t < min_time:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            t = time.perf_counter() - t0
            number *= 2
        numbers.append(max(1, number // 2))
    samples = [[] for _ in named_fns]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for (_, fn), number, out in zip(named_fns, numbers, samples):
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                out.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return [(name, statistics.median(s)) for (name, _), s in zip(named_fns, samples)]
