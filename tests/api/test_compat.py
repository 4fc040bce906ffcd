"""MXNet 1.x behaviours ported code relies on: nd.array's dtype rule, which indexing results
are views and which are copies, and initializers that receive NDArrays."""
import numpy as np

import tracegrad as mx
from tracegrad import gluon, nd


def test_nd_array_of_numpy_is_float32_unless_dtype_given():
    assert nd.array(np.ones((2, 2))).dtype == np.float32
    assert nd.array(np.arange(4)).dtype == np.float32
    assert nd.array(np.ones(2), dtype=np.float64).dtype == np.float64
    assert nd.array(nd.array([1.0], dtype="float64")).dtype == np.float64
    np.testing.assert_array_equal(nd.array(np.array([1.5, -2.0])).asnumpy(), [1.5, -2.0])


def test_hybridized_dense_on_float64_numpy_input_stays_compiled():
    net = gluon.nn.Dense(3)
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.default_rng(0).standard_normal((4, 5)))
    mx.stats(reset=True)
    net(x)
    net(x)
    assert mx.stats()["eager_fallbacks"] == 0


def test_non_first_axis_slice_is_a_copy():
    x = nd.arange(20).reshape((4, 5))
    before = x.asnumpy()
    y = x[:, 1:3]
    y[:] = -1
    np.testing.assert_array_equal(x.asnumpy(), before)
    s = nd.slice_axis(x, axis=0, begin=1, end=3)
    s[:] = -5
    np.testing.assert_array_equal(x.asnumpy(), before)
    z = x[::2]
    z[:] = -3
    np.testing.assert_array_equal(x.asnumpy(), before)


def test_contiguous_basic_indexing_is_a_view_as_in_mxnet():
    x = nd.arange(20).reshape((4, 5))
    row = x[1:3]
    row[:] = -1
    part = x[3, 1:4]
    part[:] = -2
    expect = np.arange(20, dtype=np.float32).reshape(4, 5)
    expect[1:3] = -1
    expect[3, 1:4] = -2
    np.testing.assert_array_equal(x.asnumpy(), expect)


def test_custom_initializer_receives_an_ndarray():
    seen = []

    class Fill(mx.init.Initializer):
        def _init_weight(self, name, arr):
            seen.append(type(arr))
            arr[:] = nd.arange(arr.size).reshape(arr.shape)

    net = gluon.nn.Dense(2, in_units=3)
    net.initialize(Fill())
    assert seen == [nd.NDArray]
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(net.bias.data().asnumpy(), [0, 0])
    p = gluon.Parameter("w", shape=(2, 2), init=Fill())
    p.initialize()
    np.testing.assert_array_equal(p.data().asnumpy(), [[0, 1], [2, 3]])


def test_copying_slices_still_differentiate_and_compile():
    x = nd.array(np.arange(12.0).reshape(3, 4))
    x.attach_grad()
    with mx.autograd.record():
        y = (x[:, 1:3] * 2).sum() + (nd.slice_axis(x, axis=1, begin=0, end=1) ** 2).sum()
    y.backward()
    want = np.zeros((3, 4))
    want[:, 1:3] = 2
    want[:, 0] = 2 * np.arange(12.0).reshape(3, 4)[:, 0]
    np.testing.assert_allclose(x.grad.asnumpy(), want)
    f = mx.jit(lambda a: a[:, 1:3] * 2 + nd.slice_axis(a, axis=1, begin=0, end=2))
    np.testing.assert_allclose(f(x).asnumpy(), x.asnumpy()[:, 1:3] * 2 + x.asnumpy()[:, :2])


def test_eager_ops_compute_inf_and_nan_silently_as_mxnet_does():
    """log(0), 0/0, sqrt(-1), exp(1000) eagerly and in a backward pass give inf / NaN without
    numpy's RuntimeWarnings (MXNet prints nothing); a user's own numpy code still warns."""
    import subprocess
    import sys
    code = (
        "import numpy as np, tracegrad as mx\n"
        "z = mx.nd.array([0.0, -1.0])\n"
        "outs = [mx.nd.log(z), z / 0, mx.nd.sqrt(z), mx.nd.exp(z + 1000)]\n"
        "z.attach_grad()\n"
        "with mx.autograd.record():\n"
        "    y = mx.nd.log(z * 0)\n"
        "y.backward()\n"
        "print([o.asnumpy().tolist() for o in outs], z.grad.asnumpy().tolist())\n"
        "np.log(np.zeros(1))\n")
    run = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ("[[-inf, nan], [nan, -inf], [0.0, nan], [inf, inf]] "
                                  "[nan, nan]"), run.stdout
    warned = [line for line in run.stderr.splitlines() if "encountered" in line]
    assert len(warned) == 1 and warned[0].startswith("<string>:"), run.stderr
