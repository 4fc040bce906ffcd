"""Many random value scenarios (tests/fuzz/value_scenarios.py): numbers a jitted function
reads through lists, tuples, dicts and objects (a global, a closure, an argument), changed
between calls; jitted and eager must agree on every output.

    python scripts/fuzz_values.py [first_seed] [count]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fuzz"))
from value_scenarios import check  # noqa: E402
from seeds import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(check, "scenarios"))
