"""Operator behaviours MXNet 1.9.1's test_operator.py relies on: linalg.gemm / gemm2 with
another row axis, a custom operator's Python error raised as MXNetError, a custom operator's
auxiliary state shaped by its infer_shape, gather_nd's out-of-bounds index as IndexError,
check_numeric_gradient's per-dtype default step, and Executor._ctx."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.test_utils import check_numeric_gradient, default_numeric_eps


@pytest.mark.parametrize("axis", [0, 1, -3])
def test_gemm_takes_the_matrix_rows_on_any_axis(axis):
    """The matrices' rows on `axis`, their columns on the last axis, every other axis a batch
    axis: the same numbers as matmul on the axes moved to the end, and back."""
    rs = np.random.RandomState(0)
    ax = axis % 3

    def to_end(x):
        return np.moveaxis(x, ax, -2)
    # operands whose rows are on `ax`: batch-first matrices with the row axis moved there
    A = np.moveaxis(rs.randn(4, 3, 2), 1, ax)       # rows 3, columns 2, batch 4
    B = np.moveaxis(rs.randn(4, 2, 5), 1, ax)
    C = np.moveaxis(rs.randn(4, 3, 5), 1, ax)
    want2 = np.moveaxis(2.0 * to_end(A) @ to_end(B), -2, ax)
    got2 = nd.linalg.gemm2(nd.array(A, dtype="float64"), nd.array(B, dtype="float64"),
                           alpha=2.0, axis=axis)
    np.testing.assert_allclose(got2.asnumpy(), want2, rtol=1e-12)
    got = nd.linalg.gemm(nd.array(A, dtype="float64"), nd.array(B, dtype="float64"),
                         nd.array(C, dtype="float64"), alpha=2.0, beta=0.5, axis=axis)
    np.testing.assert_allclose(got.asnumpy(), want2 + 0.5 * C, rtol=1e-12)
    sym = mx.sym.linalg.gemm2(mx.sym.var("a"), mx.sym.var("b"), alpha=2.0, axis=axis)
    check_numeric_gradient(sym, [A, B], numeric_eps=1e-6, rtol=1e-5, atol=1e-7,
                           dtype=np.float64)


def test_gemm_refuses_the_column_axis_as_row_axis():
    x = nd.ones((2, 3, 3))
    with pytest.raises(mx.MXNetError, match=r"linalg.gemm2: axis=2 must be a row axis"):
        nd.linalg.gemm2(x, x, axis=2)
    with pytest.raises(mx.MXNetError, match=r"one rank"):
        nd.linalg.gemm2(x, nd.ones((3, 3)), axis=0)


class _Raises(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        raise ZeroDivisionError("the forward's own error")

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        pass


@mx.operator.register("test_op_raises")
class _RaisesProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return _Raises()


def test_a_custom_operators_python_error_is_an_mxnet_error_naming_it():
    with pytest.raises(mx.MXNetError, match=r"Custom operator 'test_op_raises': its "
                                             r"forward\(\) raised ZeroDivisionError: the "
                                             r"forward's own error") as info:
        nd.Custom(nd.ones((2,)), op_type="test_op_raises")
    assert isinstance(info.value.__cause__, ZeroDivisionError)


class _Counted(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        aux[0][:] = aux[0] + 1
        self.assign(out_data[0], req[0], in_data[0] * 3)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] * 3)


@mx.operator.register("test_op_counted")
class _CountedProp(mx.operator.CustomOpProp):
    def list_auxiliary_states(self):
        return ["count"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], [in_shape[0]]

    def create_operator(self, ctx, shapes, dtypes):
        return _Counted()


def test_a_custom_operators_auxiliary_state_takes_its_infer_shape():
    """infer_shape receives the arguments' shapes only, and its third list shapes the
    auxiliary states (they were left unknown, and infer_shape gave nothing)."""
    op = mx.sym.Custom(data=mx.sym.var("data"), count=mx.sym.var("count"),
                       op_type="test_op_counted")
    args, outs, aux = op.infer_shape(data=(2, 5))
    assert args == [(2, 5)] and outs == [(2, 5)] and aux == [(2, 5)]
    check_numeric_gradient(op, [np.random.rand(2, 5)], [np.zeros((2, 5))])


def test_gather_nd_out_of_bounds_is_an_index_error_eager_and_compiled():
    data = nd.array([[0, 1, 2], [3, 4, 5]])
    bad = nd.array([[0, 1, 0], [0, 1, 3]])
    with pytest.raises(IndexError, match=r"gather_nd: indices\[1\] must be in \[-3, 2\]"):
        nd.gather_nd(data, bad)
    f = mx.jit(lambda d, i: nd.gather_nd(d, i) * 2)
    assert f(data, nd.array([[0, 1], [2, 0]])).asnumpy().tolist() == [4.0, 6.0]
    with pytest.raises(IndexError, match=r"gather_nd"):
        f(data, nd.array([[0, 1], [2, 9]]))
    with pytest.raises(mx.MXNetError):      # (an MXNetError too)
        nd.gather_nd(data, bad)


def test_check_numeric_gradient_steps_by_dtype_when_not_told():
    sym = mx.sym.square(mx.sym.var("x"))
    check_numeric_gradient(sym, [np.random.rand(3, 4) + 0.5], numeric_eps=None,
                           dtype=np.float64)
    assert default_numeric_eps()[np.dtype(np.float32)] == 2.0 ** -9


def test_an_executor_names_its_context():
    exe = mx.sym.exp(mx.sym.var("x")).bind(mx.cpu(), args={"x": nd.ones((2,))})
    assert exe._ctx == mx.cpu()
    exe.forward(is_train=True)
    exe.backward(out_grads=[nd.ones((2,), ctx=exe._ctx)])


def test_slice_axis_to_the_end_in_a_graph():
    """end=None is left out of the node's attributes: the op slices to the axis's end."""
    y = mx.sym.slice_axis(data=mx.sym.var("X"), axis=1, begin=-2, end=None)
    x = np.arange(10.0).reshape(2, 5)
    out = y.bind(mx.cpu(), args=[nd.array(x)]).forward()[0]
    np.testing.assert_array_equal(out.asnumpy(), x[:, -2:])
    assert y.infer_shape(X=(2, 5))[1] == [(2, 2)]


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "prod"])
def test_a_reduction_over_the_empty_axis_tuple_reduces_every_axis(op):
    """MXNet's reductions read axis=() (their default) as every axis, with or without
    `exclude`; excluding every axis reduces none. (mx.np's keep numpy's meaning.)"""
    x = np.random.rand(3, 4) + 0.5
    fn = getattr(nd, op)
    want = getattr(np, op)(x)
    for kw in ({}, {"exclude": True}):
        np.testing.assert_allclose(fn(nd.array(x), axis=(), **kw).asnumpy(), [want],
                                   rtol=1e-5)
    assert fn(nd.array(x), axis=(), keepdims=True).shape == (1, 1)
    assert fn(nd.array(x), axis=(0, 1), exclude=True).shape == (3, 4)
    sym = getattr(mx.sym, op)(mx.sym.var("a"), axis=(), keepdims=True)
    assert sym.infer_shape(a=(3, 4))[1] == [(1, 1)]
    assert mx.np.sum(mx.np.ones((2, 3)), axis=()).shape == (2, 3)


def test_shape_inference_runs_lapack_ops_on_zeros():
    """Inference runs each op on zeros, which potrf / trsm / inverse refuse as values: their
    shapes are inferred all the same (the values are checked when the graph runs)."""
    a = mx.sym.var("a")
    for sym in (mx.sym.linalg.potrf(a), mx.sym.linalg.inverse(a),
                mx.sym.linalg.trsm(a, mx.sym.var("b"))):
        shapes = {"a": (2, 3, 3), "b": (2, 3, 4)}
        want = (2, 3, 4) if "b" in sym.list_arguments() else (2, 3, 3)
        assert sym.infer_shape(**{k: shapes[k] for k in sym.list_arguments()})[1] == [want]
    with pytest.raises(mx.MXNetError, match="not positive definite"):
        nd.linalg.potrf(nd.zeros((3, 3)))
