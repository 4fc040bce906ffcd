"""matmul: batched matrix product with optional transposes (lowered to BLAS by codegen)."""
import numpy as np

from ..types import FLOATS, TensorType, broadcast_shapes, promote
from . import CALL, OpDef, fail
from .checks import SHAPES_ONLY


def _mt(x):
    return np.swapaxes(x, -1, -2)


# OpenBLAS (numpy's) computes C = X . W^T, a Dense layer's forward with the weight stored as
# (units, inputs), at about half speed for a small batch when C is written row-major, and at
# full speed laid out the other way (C column-major, then transposed): batch 8, 256 -> 256
# units 43 -> 22 us; batch 64, 784 -> 256 units 335 -> 288 us with the transpose; batch 128
# and up no gain (bench/bench_gemm_layouts.py, docs/kernels.md). The eager product (impl) and
# the compiled one (codegen/kernels.py) take that layout inside these bounds.
COLUMN_MAJOR_MAX_BATCH = 64
COLUMN_MAJOR_MIN_SIZE = 256


def column_major_is_faster(m, n, k):
    """Whether C (m x n) = X (m x k) . W^T (W: n x k, both row-major) is faster computed
    column-major and transposed."""
    return (2 <= m <= COLUMN_MAJOR_MAX_BATCH and n >= COLUMN_MAJOR_MIN_SIZE
            and k >= COLUMN_MAJOR_MIN_SIZE)


class MatMul(OpDef):
    """x @ y on the last two axes; leading (batch) axes broadcast. Operands are at least 2-d."""
    name = "matmul"
    traits = frozenset({CALL})
    defaults = {"transpose_a": False, "transpose_b": False}

    def infer(x, y, *, transpose_a=False, transpose_b=False):
        if x.ndim < 2 or y.ndim < 2:
            fail("matmul", f"operands must be at least 2-d, got {x} and {y}")
        if x.dtype not in FLOATS or y.dtype not in FLOATS:
            fail("matmul", f"operands must be floating point, got {x} and {y}")
        m, k = x.shape[-1:-3:-1] if transpose_a else x.shape[-2:]
        k2, n = y.shape[-1:-3:-1] if transpose_b else y.shape[-2:]
        if k != k2:
            fail("matmul", f"inner dimensions differ: {x}{' (transposed)' * transpose_a} @ "
                           f"{y}{' (transposed)' * transpose_b}")
        try:
            batch = broadcast_shapes(x.shape[:-2], y.shape[:-2])
        except ValueError:
            fail("matmul", f"batch dimensions of {x} and {y} do not broadcast")
        return TensorType(promote(x.dtype, y.dtype), batch + (m, n))

    def impl(x, y, *, transpose_a=False, transpose_b=False):
        if x.dtype.kind != "f" or y.dtype.kind != "f":  # numpy would multiply integers: the
            raise TypeError("matmul: operands must be floating point")  # rule refuses them
        a, b = (_mt(x) if transpose_a else x), (_mt(y) if transpose_b else y)
        if SHAPES_ONLY.on and a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == b.shape[-2]:
            # mx.sym's shape inference runs ops on zeros (checks.SHAPES_ONLY): the product
            # of zeros is zeros of its shape, without the multiplication (a large RNN's
            # bind spent half its time multiplying zeros); a mismatch still raises below
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            return np.zeros(batch + (a.shape[-2], b.shape[-1]), np.result_type(x, y))
        if x.dtype == np.float16 and y.dtype == np.float16:
            # numpy multiplies half floats in a plain loop (no BLAS), ~70x slower than float32
            # (a float16 resnet step took minutes); it accumulates in float32 too, so the
            # float32 product rounded once to half gives the same numbers
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        if transpose_b and not transpose_a and x.ndim == 2 and y.ndim == 2 and \
                x.flags.c_contiguous and y.flags.c_contiguous and x.dtype == y.dtype and \
                x.dtype.kind == "f" and x.dtype.itemsize >= 4 and \
                column_major_is_faster(x.shape[0], y.shape[0], x.shape[1]):
            return np.ascontiguousarray(np.matmul(y, x.T).T)
        return np.matmul(a, b)

    def vjp(b, g, out, x, y, *, transpose_a=False, transpose_b=False):
        # C = A B with A = op(x), B = op(y): dA = g B^T, dB = A^T g, then undo op()
        if transpose_a:
            gx = b.matmul(y, g, transpose_a=transpose_b, transpose_b=True)
        else:
            gx = b.matmul(g, y, transpose_b=not transpose_b)
        if transpose_b:
            gy = b.matmul(g, x, transpose_a=True, transpose_b=transpose_a)
        else:
            gy = b.matmul(x, g, transpose_a=not transpose_a)
        return gx, gy
