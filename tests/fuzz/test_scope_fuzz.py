"""Random scope scenarios (scope_scenarios.py) in CI: a closure's, a block's, an object's or
a helper's arrays and numbers written, attached, rebound and recomputed between compiled
calls, against the same calls run eagerly. Seeds 0-23 plus scenarios that failed while the
mechanism was built (an op on two scope arrays alone was computed once, at trace time; a
helper's closure read was not watched: seed 54); `python scripts/fuzz_scope.py` runs many."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from scope_scenarios import check  # noqa: E402


@pytest.mark.parametrize("seed", list(range(24)) + [54, 176, 177, 181, 182, 196])
def test_scope_scenario_compiled_matches_eager(seed):
    check(seed)
