"""Many random scope scenarios (tests/fuzz/scope_scenarios.py): arrays and numbers a compiled
function reads from its scope (a closure, a block, an object, a helper it calls), changed
between calls the ways user code changes them; compiled and eager must agree on every output
and gradient.

    python scripts/fuzz_scope.py [first_seed] [count]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fuzz"))
from scope_scenarios import check  # noqa: E402
from seeds import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(check, "scenarios"))
