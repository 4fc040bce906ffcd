"""The eager autograd and Gluon layer tests again, with every eager adjoint compiled to native
code on its first use (TRACEGRAD_EAGER_NATIVE_AFTER=1): a differential test of the compiled
adjoint path on every graph those tests build, against the same numpy references and finite
differences."""
import pytest
from test_autograd import *  # noqa: F401,F403
from test_gluon_layers import *  # noqa: F401,F403

from tracegrad.runtime import tape


@pytest.fixture(autouse=True)
def _compile_adjoints_at_once(monkeypatch):
    monkeypatch.setattr(tape, "NATIVE_AFTER", 1)
    monkeypatch.setattr(tape, "_ADJOINTS", type(tape._ADJOINTS)())
    yield
