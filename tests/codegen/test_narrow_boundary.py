"""A compiled graph whose parameter or output has a dtype codegen has no lowering for
(float16, int8, uint8) while no op reads or makes it (an input returned as it is) runs through
native segments: the same values as eager, no KeyError from codegen, no interpreter warning."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.codegen.entry import check_lowerable
from tracegrad.ir.function import Function, Value
from tracegrad.ir.types import TensorType


class PassThrough(gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return x, y * 2


@pytest.mark.parametrize("dtype", ["int8", "uint8", "float16"])
@pytest.mark.parametrize("shape", [(2, 3), (0,), ()])
def test_narrow_input_returned_as_is(dtype, shape):
    x = nd.array(np.random.RandomState(0).uniform(0, 5, size=shape), dtype=dtype)
    y = nd.array(np.arange(6, dtype="float32").reshape(2, 3))
    block = PassThrough()
    block.hybridize()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            a, b = block(x, y)
            assert a.dtype == np.dtype(dtype) and a.shape == shape
            np.testing.assert_array_equal(a.asnumpy(), x.asnumpy())
            np.testing.assert_array_equal(b.asnumpy(), y.asnumpy() * 2)


def test_jit_narrow_identity():
    f = mx.jit(lambda x: x)
    x = nd.array([1, -2, 3], dtype="int8")
    np.testing.assert_array_equal(f(x).asnumpy(), [1, -2, 3])


def test_check_lowerable_names_a_narrow_boundary():
    v = Value(TensorType("i8", (3,)), "x")
    with pytest.raises(NotImplementedError, match="int8 has no native lowering"):
        check_lowerable(Function("ident", [v], [], [v]))
