"""MXNet 1.9.1's random sparse arrays for tests and tutorials (`mx.test_utils.rand_ndarray(...,
stype='csr' | 'row_sparse')`, `rand_sparse_ndarray`, `create_sparse_array`), drawn as MXNet
draws them: csr 'uniform' from scipy.sparse.rand (uniform values in [0, 1) at distinct random
positions; without scipy, a masked dense uniform array), csr 'powerlaw' with rows doubling
their nonzeros, row_sparse rows kept with probability `density`, values uniform in [0, 1).
"""
import numpy as np
import numpy.random as rnd

from .base import MXNetError

__all__ = ["rand_sparse_ndarray", "assign_each", "assign_each2", "create_sparse_array",
           "create_sparse_array_zd", "shuffle_csr_column_indices"]


def assign_each(the_input, function):
    """`function` applied to each element (a float64 array), or a copy without one."""
    if function is None:
        return np.array(the_input)
    return np.vectorize(function, otypes=[np.float64])(the_input).reshape(np.shape(the_input))


def assign_each2(input1, input2, function):
    """`function` applied to each pair of elements (a float64 array), or input1's copy."""
    if function is None:
        return np.array(input1)
    if np.shape(input1) != np.shape(input2):
        raise AssertionError(f"assign_each2: shapes {np.shape(input1)} and "
                             f"{np.shape(input2)} differ")
    return np.vectorize(function, otypes=[np.float64])(input1, input2).reshape(
        np.shape(input1))


def shuffle_csr_column_indices(csr):
    """Shuffle a scipy csr matrix's column indices within each row, in place."""
    for i in range(len(csr.indptr) - 1):
        np.random.shuffle(csr.indices[csr.indptr[i]:csr.indptr[i + 1]])


def _check_csr_inputs(num_rows, num_cols, density, distribution):
    total_nnz = int(num_rows * num_cols * density)
    if density < 0 or density > 1:
        raise ValueError(f"density has to be between 0 and 1, got {density}")
    if num_rows <= 0 or num_cols <= 0:
        raise ValueError("num_rows or num_cols should be greater than 0")
    if distribution == "powerlaw" and total_nnz < 2 * num_rows:
        raise ValueError(f"not supported for this density: {density} for this shape "
                         f"({num_rows}, {num_cols}): the powerlaw distribution needs at "
                         f"least 2 nonzeros per row")


def _uniform_csr(num_rows, num_cols, density, dtype, data_init, shuffle):
    from . import nd
    _check_csr_inputs(num_rows, num_cols, density, "uniform")
    try:
        from scipy import sparse as spsp
    except ImportError:
        if data_init is not None or shuffle:
            raise AssertionError("data_init and shuffle_csr_indices need scipy") from None
        dns = nd.random.uniform(shape=(num_rows, num_cols), dtype=dtype)
        return (dns * (dns < density)).tostype("csr")
    csr = spsp.rand(num_rows, num_cols, density, dtype=dtype, format="csr")
    if data_init is not None:
        csr.data.fill(data_init)
    if shuffle:
        shuffle_csr_column_indices(csr)
    return nd.sparse.csr_matrix((csr.data, csr.indices, csr.indptr),
                                shape=(num_rows, num_cols), dtype=dtype)


def _powerlaw_csr(num_rows, num_cols, density, dtype):
    """Row 0 gets 2 nonzeros, each next row twice its predecessor's (a row full at num_cols)
    until density * size nonzeros are placed; every row has one in column 0."""
    from . import nd
    _check_csr_inputs(num_rows, num_cols, density, "powerlaw")
    unused = int(num_rows * num_cols * density)
    out = np.zeros((num_rows, num_cols), dtype=dtype)
    for row in range(num_rows):
        out[row][0] = 1 + rnd.uniform(0.001, 2)
        unused -= 1
        if unused <= 0:
            return nd.array(out).tostype("csr")
    col_max = 2
    for row in range(num_rows):
        col_limit = min(num_cols, col_max)
        if col_limit == num_cols and unused > col_limit:
            out[row] = 1 + rnd.uniform(0.001, 2)
            unused = unused - col_limit + 1
            if unused <= 0:
                return nd.array(out).tostype("csr")
            continue
        for col in range(1, col_limit):
            out[row][col] = 1 + rnd.uniform(0.001, 2)
            unused -= 1
            if unused <= 0:
                return nd.array(out).tostype("csr")
        col_max *= 2
    if unused > 0:
        raise ValueError(f"not supported for this density: {density} for this shape "
                         f"({num_rows},{num_cols})")
    return nd.array(out).tostype("csr")


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
                        data_init=None, rsp_indices=None, modifier_func=None,
                        shuffle_csr_indices=False, ctx=None):
    """(a random CSRNDArray or RowSparseNDArray, its parts as MXNet returns them: csr
    (indptr, indices, data) NDArrays, row_sparse (values, row indices) numpy arrays)."""
    from . import nd
    density = rnd.rand() if density is None else density
    dtype = np.float32 if dtype is None else dtype
    distribution = "uniform" if distribution is None else distribution
    if stype == "row_sparse":
        if distribution != "uniform":
            raise AssertionError(f"Distribution {distribution} not supported for row_sparse")
        if rsp_indices is not None:
            indices = np.asarray(rsp_indices)
            if len(indices) > shape[0]:
                raise AssertionError(f"{len(indices)} row indices for {shape[0]} rows")
        else:
            indices = np.argwhere(rnd.rand(shape[0]) < density).flatten()
        if indices.shape[0] == 0:
            return (nd.sparse.zeros("row_sparse", shape, dtype=dtype),
                    (np.array([], dtype=dtype), np.array([])))
        val = rnd.rand(indices.shape[0], *shape[1:]).astype(dtype)
        if data_init is not None:
            val.fill(data_init)
        if modifier_func is not None:
            val = assign_each(val, modifier_func)
        arr = nd.sparse.row_sparse_array((val, indices), shape=shape, dtype=dtype)
        return arr, (val, indices)
    if stype == "csr":
        if len(shape) != 2:
            raise AssertionError(f"csr arrays are 2-d, got shape {shape}")
        if distribution == "uniform":
            csr = _uniform_csr(shape[0], shape[1], density, dtype, data_init,
                               shuffle_csr_indices)
        elif distribution == "powerlaw":
            csr = _powerlaw_csr(shape[0], shape[1], density, dtype)
        else:
            raise AssertionError(f"Distribution not supported: {distribution}")
        return csr, (csr.indptr, csr.indices, csr.data)
    raise MXNetError(f"rand_sparse_ndarray: unknown storage type {stype!r} (csr or "
                     f"row_sparse)")


def create_sparse_array(shape, stype, data_init=None, rsp_indices=None, dtype=None,
                        modifier_func=None, density=.5, shuffle_csr_indices=False):
    """A random sparse array (row_sparse rows at the sorted `rsp_indices` when given)."""
    if stype not in ("row_sparse", "csr"):
        raise AssertionError("Unknown storage type: " + stype)
    if stype == "row_sparse" and rsp_indices is not None:
        rsp_indices = np.sort(np.asarray(rsp_indices))
    return rand_sparse_ndarray(shape, stype, density=density, data_init=data_init,
                               rsp_indices=rsp_indices if stype == "row_sparse" else None,
                               dtype=dtype, modifier_func=modifier_func,
                               shuffle_csr_indices=shuffle_csr_indices)[0]


def create_sparse_array_zd(shape, stype, density, data_init=None, rsp_indices=None,
                           dtype=None, modifier_func=None, shuffle_csr_indices=False):
    """create_sparse_array whose row_sparse rows are exactly `rsp_indices` (density 0)."""
    if stype == "row_sparse":
        density = 0.0
        if rsp_indices is not None and len(rsp_indices) > shape[0]:
            raise AssertionError(f"{len(rsp_indices)} row indices for {shape[0]} rows")
    return create_sparse_array(shape, stype, data_init=data_init, rsp_indices=rsp_indices,
                               dtype=dtype, modifier_func=modifier_func, density=density,
                               shuffle_csr_indices=shuffle_csr_indices)
