"""Comparisons of a sparse array with a number keep its storage type where MXNet 1.9.1's
_<cmp>_scalar operators do (BinaryScalarLogicStorageType: comparing 0 with the number is
false), whichever way they are spelled: x > 0, 0 < x, nd.greater(x, 0), nd.lesser(0, x)."""
import operator

import numpy as np
import pytest

from tracegrad import nd

V = np.array([[0, 1.5, 0], [-2, 0, 0], [0, 0, 3]], np.float32)

# (python operator, number, MXNet's storage: 'keep' when cmp(0, number) is false)
CASES = [(operator.gt, 0, "keep"), (operator.gt, -1, "dense"), (operator.ge, 0, "dense"),
         (operator.ge, 1, "keep"), (operator.lt, 0, "keep"), (operator.lt, 1, "dense"),
         (operator.le, 0, "dense"), (operator.le, -1, "keep"), (operator.eq, 0, "dense"),
         (operator.eq, 1.5, "keep"), (operator.ne, 0, "keep"), (operator.ne, 2, "dense")]


@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
@pytest.mark.parametrize("cmp,number,kept", CASES)
def test_comparison_with_a_number(stype, cmp, number, kept):
    x = nd.array(V).tostype(stype)
    want = cmp(V, number).astype(np.float32)
    out = cmp(x, number)
    assert out.stype == (stype if kept == "keep" else "default")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.asnumpy(), want)


@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
def test_number_on_the_left_is_the_turned_comparison(stype):
    x = nd.array(V).tostype(stype)
    out = 0 > x                         # x < 0: 0 < 0 is false, sparse kept
    assert out.stype == stype
    np.testing.assert_array_equal(out.asnumpy(), (0 > V).astype(np.float32))
    out = nd.greater_equal(0, x)        # x <= 0: true at 0, dense
    assert out.stype == "default"
    np.testing.assert_array_equal(out.asnumpy(), (0 >= V).astype(np.float32))
    out = nd.lesser(0, x)               # x > 0
    assert out.stype == stype
    np.testing.assert_array_equal(out.asnumpy(), (0 < V).astype(np.float32))


def test_two_sparse_arrays_compare_densely():
    x = nd.array(V).tostype("csr")
    y = nd.ones(V.shape).tostype("csr")
    out = x == y
    assert out.stype == "default"
    np.testing.assert_array_equal(out.asnumpy(), (V == 1).astype(np.float32))
    assert hash(x) != hash(y)
