"""MXNet 1.x's deprecated Python operators: mx.operator.PythonOp, NumpyOp and NDArrayOp.

    class Loss(mx.operator.NumpyOp):
        def forward(self, in_data, out_data): out_data[0][:] = ...      # numpy arrays
        def backward(self, out_grad, in_data, out_data, in_grad): in_grad[0][:] = ...
    net = Loss(need_top_grad=False)(data=x, label=y, name='loss')       # a Symbol

Calling the operator (get_symbol) gives a symbol node whose arguments, outputs and shapes are
the operator's list_arguments / list_outputs / infer_shape (missing inputs become variables
named '<name>_<argument>', as MXNet names them). It runs as a registered custom operator
(mx.sym.Custom) whose forward and backward hand the arrays to the object's own methods, so
state the object keeps between them (DEC's mask) is kept: NumpyOp's as float32 numpy buffers
copied back after each call, NDArrayOp's as the NDArrays themselves.
"""
import warnings

import numpy as np

from .operator import CustomOp, CustomOpProp, register


class PythonOp:
    """The base: calling the object builds its symbol; forward / backward / infer_shape /
    list_outputs / list_arguments / need_top_grad are overridden."""
    _ref_holder = []

    def __init__(self, need_top_grad=True):
        self.info_ = None
        self.need_top_grad_ = need_top_grad
        warnings.warn("PythonOp has been deprecated. Please use CustomOp", stacklevel=2)

    def __call__(self, *args, **kwargs):
        return self.get_symbol(*args, **kwargs)

    def get_symbol(self, *args, **kwargs):
        raise NotImplementedError("Must override this")

    def forward(self, in_data, out_data):
        out_data[0][:] = in_data[0]

    def backward(self, out_grad, in_data, out_data, in_grad):
        in_grad[0][:] = 1.0

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]]

    def list_outputs(self):
        return ["output"]

    def list_arguments(self):
        return ["data"]

    def need_top_grad(self):
        return self.need_top_grad_


class NumpyOp(PythonOp):
    """forward / backward on numpy arrays (float32)."""

    def __init__(self, need_top_grad=True):
        super().__init__(need_top_grad)
        warnings.warn("NumpyOp has been deprecated. Please use CustomOp", stacklevel=2)

    def get_symbol(self, *args, **kwargs):
        return _symbol(self, True, args, kwargs)


class NDArrayOp(PythonOp):
    """forward / backward on NDArrays."""

    def __init__(self, need_top_grad=True):
        super().__init__(need_top_grad)
        warnings.warn("NDArrayOp has been deprecated. Please use CustomOp", stacklevel=2)

    def get_symbol(self, *args, **kwargs):
        return _symbol(self, False, args, kwargs)

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        deps = list(out_grad) if self.need_top_grad() else []
        return deps + list(in_data) + list(out_data)


def _symbol(pyop, as_numpy, args, kwargs):
    """The operator as a custom operator node of its own op_type."""
    from .symbol.custom_op import symbol_custom
    op_type = f"_python_op_{len(PythonOp._ref_holder)}"

    class _Prop(CustomOpProp):
        def __init__(self, **_):
            super().__init__(need_top_grad=pyop.need_top_grad())

        def list_arguments(self):
            return pyop.list_arguments()

        def list_outputs(self):
            return pyop.list_outputs()

        def infer_shape(self, in_shape):
            ishape, oshape = pyop.infer_shape([list(s) for s in in_shape])
            return ishape, oshape, []

        def create_operator(self, ctx, in_shapes, in_dtypes):
            return _Op(pyop, as_numpy)

    register(op_type)(_Prop)
    PythonOp._ref_holder.append(pyop)     # (MXNet keeps every such operator alive too)
    return symbol_custom(*args, op_type=op_type, **kwargs)


class _Op(CustomOp):
    def __init__(self, pyop, as_numpy):
        self.pyop, self.as_numpy = pyop, as_numpy

    def _arrays(self, arrays):
        if not self.as_numpy:
            return list(arrays)
        return [np.array(a.asnumpy(), dtype=np.float32) for a in arrays]

    def _write(self, dst, req, got):
        if self.as_numpy:
            for d, r, g in zip(dst, req, got):
                self.assign(d, r, g)

    def forward(self, is_train, req, in_data, out_data, aux):
        outs = self._arrays(out_data)
        self.pyop.forward(in_data=self._arrays(in_data), out_data=outs)
        self._write(out_data, req, outs)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        grads = self._arrays(in_grad)
        self.pyop.backward(out_grad=self._arrays(out_grad), in_data=self._arrays(in_data),
                           out_data=self._arrays(out_data), in_grad=grads)
        self._write(in_grad, req, grads)
