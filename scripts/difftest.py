"""Long differential-testing runs over random nd programs (the generator and checks are
tests/fuzz/programs.py; CI runs a few hundred of them in tests/fuzz/test_differential.py).

    python scripts/difftest.py --programs 5000 --compiled-every 10 --seed 1

Every program runs eagerly (float32/float64) against a float64 numpy reference and through
every pass pipeline (interpreted); every `--compiled-every`-th one also through tracegrad.jit
(native, first and second call, after a call passing one array as two same-typed inputs),
with gradients and second derivatives compared to eager and
to finite differences. A failure is shrunk by hypothesis and printed as a pytest function.
"""
import argparse
import collections
import os
import sys
import time
import warnings

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "fuzz"))
from programs import check_program, programs  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--programs", type=int, default=2000)
    ap.add_argument("--compiled-every", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=8)
    ap.add_argument("--no-special", action="store_true",
                    help="no NaN/inf/huge/tiny inputs (to look past a known special-value bug)")
    ap.add_argument("--exclude", default="", help="comma-separated unary ops not to generate")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    counts = collections.Counter()
    start = time.time()

    def run(prog):
        counts["programs"] += 1
        compiled = counts["programs"] % args.compiled_every == 0
        counts["compiled"] += compiled
        counts["special values"] += prog.special()
        counts["smooth (gradients checked)"] += (prog.smooth and not prog.special()
                                                 and not prog.near_kinks())
        counts["zero-size"] += any(x.size == 0 for x in prog.inputs)
        counts["0-d"] += any(x.ndim == 0 for x in prog.inputs)
        try:
            check_program(prog, compiled=compiled, aliased=compiled)
        except AssertionError as e:
            counts["failures seen (before shrinking)"] += 1
            checks = ", compiled=True, aliased=True" if compiled else ""
            raise AssertionError(f"{e}\n\nreproduce with:\n\n{prog.source(checks)}\n") \
                from None

    from hypothesis import seed as hypothesis_seed
    failures = {}
    base = args.seed if args.seed is not None else int(time.time())
    chunk = 100  # a failure stops its chunk only: later chunks go on looking
    strategy = programs(args.max_steps, not args.no_special,
                        tuple(filter(None, args.exclude.split(","))))
    for k in range((args.programs + chunk - 1) // chunk):
        runner = hypothesis_seed(base + k)(settings(
            max_examples=min(chunk, args.programs - k * chunk), deadline=None, database=None,
            suppress_health_check=list(HealthCheck))(given(strategy)(run)))
        try:
            runner()
        except BaseException as e:  # noqa: BLE001 - an assertion or a group of them
            if isinstance(e, KeyboardInterrupt):
                raise
            text = str(e) if not hasattr(e, "exceptions") else str(e.exceptions[0])
            failures.setdefault(text.split(":")[0] + text.split("\n")[0][-60:], text)
    print(f"{counts['programs']} program runs in {time.time() - start:.0f} s "
          f"(hypothesis counts shrinking runs too), seed {base}")
    for name, v in sorted(counts.items()):
        print(f"  {name}: {v}")
    for text in failures.values():
        print("\nFAILED:", text)
    print(f"{len(failures)} distinct failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
