"""mx.np.linalg's functions that are numpy.linalg's own (MXNet 1.9's fallback_linalg.py):
on mx.np arrays they run numpy's code on the data and give mx.np arrays (dispatch.py)."""
from numpy.linalg import cond, lstsq, matrix_power, matrix_rank, multi_dot, qr

__all__ = ["cond", "lstsq", "matrix_power", "matrix_rank", "multi_dot", "qr"]
