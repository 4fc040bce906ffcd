"""Many random training loops (tests/fuzz/step_scenarios.py): the usual step with
user-level changes between steps, run with capture on and off; every loss and parameter
must agree.

    python scripts/fuzz_steps.py [first_seed] [count]
"""
import os
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fuzz"))
from step_scenarios import check  # noqa: E402


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
    print(f"{count} loops from seed {first}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
