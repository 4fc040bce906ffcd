"""The d2l.ai (MXNet edition) programs run with `npx.set_np()` on: every test here does too,
and the switch is put back afterwards so the other test directories see the nd interface.
numpy's global RNG (DataLoader's shuffle) is seeded, so each test sees one data order."""
import numpy
import pytest

from tracegrad import npx


@pytest.fixture(autouse=True)
def np_mode():
    numpy.random.seed(0)    # (DataLoader's shuffle draws from numpy's global RNG, as MXNet's)
    npx.set_np()
    yield
    npx.reset_np()
