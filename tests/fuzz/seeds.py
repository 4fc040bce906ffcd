"""The command line of the scenario fuzzers (scripts/fuzz_scope.py, scripts/fuzz_steps.py):
run `check(seed)` over a range of seeds, print every failure, then a count."""
import sys
import traceback


def main(check, what, argv=None):
    """`argv`: [first_seed] [count]. Returns the exit status (1 when any seed failed)."""
    argv = sys.argv[1:] if argv is None else argv
    first = int(argv[0]) if len(argv) > 0 else 0
    count = int(argv[1]) if len(argv) > 1 else 500
    failures = 0
    for seed in range(first, first + count):
        try:
            check(seed)
        except AssertionError as e:
            failures += 1
            print(f"FAIL {e}\n")
        except Exception:   # noqa: BLE001 - an error is a finding too: report it, go on
            failures += 1
            print(f"ERROR seed {seed}:\n{traceback.format_exc()}")
    print(f"{count} {what} from seed {first}: {failures} failure(s)")
    return 1 if failures else 0
