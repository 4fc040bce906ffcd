"""The d2l.ai (MXNet edition) programs run with `npx.set_np()` on: every test here does too,
and the switch is put back afterwards so the other test directories see the nd interface."""
import pytest

from tracegrad import npx


@pytest.fixture(autouse=True)
def np_mode():
    npx.set_np()
    yield
    npx.reset_np()
