"""Differential testing on random nd programs (tests/fuzz/programs.py): eager vs a float64
numpy reference, the traced IR after every pass pipeline (including none) vs eager, compiled
(jit, first and second call) vs eager, gradients vs finite differences and compiled vs eager,
second derivatives compiled vs eager. Hypothesis shrinks a failure; the message carries a
pytest function that replays it. Derandomized, so CI sees the same programs every run; the
long runs are `python scripts/difftest.py`."""
import os
import sys

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, os.path.dirname(__file__))
from programs import check_program, programs  # noqa: E402

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
COMPILED = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _check(prog, **kw):
    try:
        check_program(prog, **kw)
    except AssertionError as e:
        raise AssertionError(f"{e}\n\nreproduce with:\n\n{prog.source()}\n") from None


@FAST
@given(programs())
def test_programs_eager_reference_and_every_pipeline(prog):
    _check(prog, compiled=False)


@COMPILED
@given(programs(max_steps=4))
def test_programs_compiled_and_their_derivatives(prog):
    _check(prog, compiled=True)
