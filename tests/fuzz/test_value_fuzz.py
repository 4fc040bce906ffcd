"""Random value scenarios (value_scenarios.py) in CI: numbers read through nested lists,
tuples, dicts and objects, by constant and by computed keys and attribute names, changed
between jitted calls, against the same calls run eagerly. Before tracing/scope.py watched
containers, 106 of the first 300 seeds returned an old value; `python scripts/fuzz_values.py`
runs many."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from value_scenarios import check  # noqa: E402


@pytest.mark.parametrize("seed", range(40))
def test_value_scenario_jitted_matches_eager(seed):
    check(seed)
