"""Many random training loops (tests/fuzz/step_scenarios.py): the usual step with user-level
changes between steps, run with capture on and off; every loss and parameter must agree.

    python scripts/fuzz_steps.py [first_seed] [count]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fuzz"))
from seeds import main  # noqa: E402
from step_scenarios import check  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(check, "loops"))
