"""nd.slice / nd.crop (its old name) take a lone number for a 1-tuple, as MXNet's tuple
parser reads `begin=2`; a csr sliced by rows with either name stays csr."""
import numpy as np

from tracegrad import nd

V = np.arange(20, dtype=np.float32).reshape(5, 4) * (np.arange(20).reshape(5, 4) % 3 == 0)


def test_number_bounds_are_one_tuples():
    for f in (nd.slice, nd.crop):
        np.testing.assert_array_equal(f(nd.array(V), begin=1, end=3).asnumpy(), V[1:3])
        np.testing.assert_array_equal(f(nd.arange(6), begin=1, end=6, step=2).asnumpy(),
                                      np.arange(6)[1:6:2])


def test_crop_of_csr_rows_is_csr():
    x = nd.array(V).tostype("csr")
    for out in (nd.crop(x, begin=1, end=4), nd.slice(x, begin=(1,), end=(4,)),
                nd.crop(x, begin=(1, 0), end=(4, 4))):
        assert out.stype == "csr"
        np.testing.assert_array_equal(out.asnumpy(), V[1:4])
        assert out.indices.asnumpy().tolist() == np.nonzero(V[1:4])[1].tolist()
    assert nd.crop(x, begin=(0, 0), end=(2, 2), step=(1, 1)).stype == "default"
