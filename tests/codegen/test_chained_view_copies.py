"""A view with no strided form is materialised by a copy scheduled before its first reader;
when that copy's source is itself such a view (a transpose of a transposed, reshaped value),
the source's copy must run first: the arena holds garbage until then."""
import numpy as np

from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction


def _flip(b, v):
    """v.T with a reshape round trip that no strides express: a materialised copy."""
    rows, cols = v.type.shape
    flat = b.reshape(b.transpose(v, perm=(1, 0)), shape=(rows * cols,))
    return b.reshape(flat, shape=(cols, rows))


def test_a_copy_of_a_copied_view_reads_its_source_after_it_is_written():
    b = Builder(name="chained_copies")
    p = b.param(TensorType("f32", (5, 4)), "p")
    once = _flip(b, p)
    twice = _flip(b, once)
    fn = b.ret(b.mul(twice, 2.0), once)
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    f = NativeFunction(fn)
    f._arena.array[:] = 0xFF          # NaNs wherever a step reads scratch not yet written
    got = f(x)
    np.testing.assert_array_equal(got[1], x.T.reshape(4, 5))
    np.testing.assert_array_equal(got[0], 2.0 * x.T.reshape(4, 5).T.reshape(5, 4))
