"""Many random scope scenarios (tests/fuzz/scope_scenarios.py): arrays a compiled function
reads from its closure or a block's attributes, changed between calls the ways user code
changes them; compiled and eager must agree on every output and gradient.

    python scripts/fuzz_scope.py [first_seed] [count]
"""
import os
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fuzz"))
from scope_scenarios import check  # noqa: E402


def main():
    first = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
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
    print(f"{count} scenarios from seed {first}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
