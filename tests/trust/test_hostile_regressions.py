"""Regressions found by scripts/fuzz_hostile.py: hostile inputs that gave a wrong answer, a
silent success where MXNet refuses, or an unclear error; each runs eagerly and compiled."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7])
@pytest.mark.parametrize("key", [np.s_[::-2], np.s_[::-3, 1], np.s_[-2::-2], np.s_[3:0:-2],
                                 np.s_[::-4, ::-2]])
def test_negative_step_index_compiles_where_the_stop_passes_the_axis(n, key):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    want = x[key]
    eager = nd.array(x)[key]
    compiled = mx.jit(lambda a: a[key])(nd.array(x))
    np.testing.assert_array_equal(eager.asnumpy(), want.reshape(eager.shape))
    np.testing.assert_array_equal(compiled.asnumpy(), eager.asnumpy())
