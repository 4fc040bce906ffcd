"""Native argsort (a heap sort on (key, index): packed integers, or indices in place for rows
past PACKED_MAX) equals numpy's stable argsort exactly: long rows with many ties, both
directions, NaNs of either sign, signed zeros, extreme integers, and a non-last axis."""
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
             ("argsort", [R.standard_normal((2, 1))], {"axis": 0}),
             ("argsort", [np.array([[0.0, -0.0, 1.0, -0.0, np.inf, -np.inf, np.nan, -np.nan,
                                     0.0]])], {"axis": 1}),
             ("argsort", [np.array([[0.0, -0.0, 1.0, -0.0, np.inf, -np.inf, np.nan, -np.nan,
                                     0.0]], dtype=np.float32)], {"axis": 1, "is_ascend": False}),
             ("argsort", [np.array([[np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max,
                                     -1]])], {"axis": 1}),
             # rows longer than PACKED_MAX sort their indices in place
             ("argsort", [R.integers(0, 50, (2, 33000)).astype(np.float32)], {"axis": 1}),
             ("argsort", [R.integers(0, 50, (33000, 1)).astype(np.int32)],
              {"axis": 0, "is_ascend": False})]
    check_cases(cases, exact_ops=("argsort",))
