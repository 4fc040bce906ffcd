"""Native argsort (a heap sort on (key, index)) equals numpy's stable argsort exactly: long
rows with many ties, both directions, NaNs, and a non-last axis."""
import numpy as np

from cgutil import check_cases

R = np.random.default_rng(4)


def test_long_rows_with_ties_and_nans():
    ties = R.integers(0, 20, (5, 1000)).astype(np.float32)
    nans = R.standard_normal((3, 257))
    nans[R.random((3, 257)) < 0.1] = np.nan
    cases = [("argsort", [ties], {"axis": 1}), ("argsort", [ties], {"axis": 1,
                                                                     "is_ascend": False}),
             ("argsort", [nans], {"axis": 1}), ("argsort", [nans], {"axis": 1,
                                                                     "is_ascend": False}),
             ("argsort", [R.integers(-5, 5, (40, 3, 6))], {"axis": 0}),
             ("argsort", [R.standard_normal((2, 1))], {"axis": 0})]
    check_cases(cases, exact_ops=("argsort",))
