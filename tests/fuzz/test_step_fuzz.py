"""Random training loops (step_scenarios.py) in CI: the usual step with user-level changes
between steps — learning rates, multipliers, grad_req, weights written, set, loaded or
initialized again, batch sizes, losses, regularizers, reads, metrics, a new Trainer — with
capture on against capture off. `python scripts/fuzz_steps.py` runs many."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from step_scenarios import check  # noqa: E402


@pytest.mark.parametrize("seed", range(10))
def test_training_loop_with_capture_matches_capture_off(seed):
    check(seed)
