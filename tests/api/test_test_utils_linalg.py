"""MXNet's test_utils helpers that its numpy-operator tests import: the random matrix
generators (real, well separated eigenvalues; symmetric ones), has_tvm_ops, and
numpy_op_signature._get_builtin_op."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import test_utils
from tracegrad.numpy_op_signature import _get_builtin_op


def test_matrices_with_real_eigenvalues():
    np.random.seed(3)
    a = test_utils.new_matrix_with_real_eigvals_nd((2, 3, 4, 4))
    assert a.shape == (2, 3, 4, 4)
    eig = np.linalg.eigvals(a.reshape(-1, 4, 4))
    assert np.abs(eig.imag).max() < 1e-8 and np.abs(eig.real).max() <= 10 + 1e-8
    s = test_utils.new_sym_matrix_with_real_eigvals_nd((5, 3, 3))
    np.testing.assert_allclose(s, np.swapaxes(s, -1, -2), atol=1e-12)
    assert np.abs(np.linalg.eigvalsh(s)).max() <= 10 + 1e-8
    q = test_utils.new_orthonormal_matrix_2d(4)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-10)
    assert test_utils.new_matrix_with_real_eigvals_nd((3, 3)).shape == (3, 3)


def test_builtin_op_names_find_the_np_functions():
    assert test_utils.has_tvm_ops() is False
    assert _get_builtin_op("_np_sum") is mx.np.sum
    assert _get_builtin_op("_np_linalg_svd") is mx.np.linalg.svd
    assert _get_builtin_op("_np_random_uniform") is mx.np.random.uniform
    assert _get_builtin_op("_npx_relu") is mx.npx.relu
    assert _get_builtin_op("FullyConnected") is None
    with pytest.raises(ValueError, match="no operator nosuch"):
        _get_builtin_op("_np_nosuch")
