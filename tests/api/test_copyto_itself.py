"""`x.copyto(x)`: MXNet 1.9.1 warns and returns False (ndarray.py copyto), writing nothing."""
import warnings

import numpy as np
import pytest

from tracegrad import autograd, nd


def test_copying_an_array_into_itself_warns_and_returns_false():
    x = nd.array([1.0, 2.0])
    with pytest.warns(RuntimeWarning, match="copy an array to itself"):
        assert x.copyto(x) is False
    np.testing.assert_array_equal(x.asnumpy(), [1.0, 2.0])


def test_into_itself_under_record_is_the_same_warning_not_an_in_place_error():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * 2
        with pytest.warns(RuntimeWarning):
            assert y.copyto(y) is False
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 2.0])


def test_into_another_array_still_copies_without_a_warning():
    x, z = nd.array([1.0, 2.0]), nd.zeros((2,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.copyto(z) is z
    np.testing.assert_array_equal(z.asnumpy(), [1.0, 2.0])
