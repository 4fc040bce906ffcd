"""MXNet's keywords common to every operator function (op_kwargs.py): out= writes the result
into the given array, name= and the performance hints are accepted, ctx= must be the CPU,
and anything a function does not implement raises instead of being silently dropped. Also
softmax / log_softmax with MXNet's `length` / `use_length`."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from numeric import central_differences


def test_out_receives_the_result_and_is_returned():
    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    for call, want in [
        (lambda out: nd.exp(x, out=out), np.exp(x.asnumpy())),
        (lambda out: nd.dot(x, x, out=out), x.asnumpy() @ x.asnumpy()),
        (lambda out: nd.arctan2(x, x, out=out), np.arctan2(x.asnumpy(), x.asnumpy())),
        (lambda out: nd.linalg.gemm2(x, x, out=out), x.asnumpy() @ x.asnumpy()),
        (lambda out: nd.softmax(x, axis=1, out=out), np.exp(x.asnumpy()) /
         np.exp(x.asnumpy()).sum(1, keepdims=True)),
    ]:
        out = nd.zeros((2, 2))
        got = call(out)
        assert got is out
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6)
    out = nd.zeros((2,))
    assert nd.sum(x, axis=0, out=out) is out
    np.testing.assert_allclose(out.asnumpy(), [4.0, 6.0])
    a, b = nd.zeros((2, 1)), nd.zeros((2, 1))
    got = nd.split(x, num_outputs=2, axis=1, out=[a, b])
    assert got[0] is a and got[1] is b
    np.testing.assert_allclose(b.asnumpy().ravel(), [2.0, 4.0])
    m = nd.zeros((2, 2))
    assert x.exp(out=m) is m          # the method form too


def test_out_of_another_shape_or_dtype_is_refused():
    x = nd.ones((2, 3))
    with pytest.raises(ValueError, match=r"nd.exp\(\): out is float32\[3, 2\] but the "
                                         r"result is float32\[2, 3\]"):
        nd.exp(x, out=nd.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"out is float64\[2, 3\]"):
        nd.exp(x, out=nd.zeros((2, 3), dtype="float64"))
    with pytest.raises(TypeError, match="out must be an NDArray"):
        nd.exp(x, out=np.zeros((2, 3)))


def test_unknown_keywords_raise_and_hints_pass():
    x = nd.ones((2, 3))
    with pytest.raises(TypeError, match=r"nd.sum\(\) got an unexpected keyword argument "
                                        r"'bogus'"):
        nd.sum(x, axis=0, bogus=1)
    with pytest.raises(mx.base.MXNetError, match="unexpected keyword argument 'bogus'"):
        nd.FullyConnected(x, nd.ones((2, 3)), no_bias=True, num_hidden=2, bogus=1)  # (MXNet's
        # error type for an argument the operator does not take; a TypeError as well)
    with pytest.raises(TypeError, match=r"nd.random.uniform\(\) got an unexpected"):
        nd.random.uniform(shape=(2,), seed=3)
    with pytest.raises(TypeError, match="dtype=float64 differs from the result's float32"):
        nd.relu(x, dtype="float64")
    np.testing.assert_array_equal(nd.relu(x, dtype="float32", name="r").asnumpy(), 1.0)
    w = nd.ones((4, 2))
    emb = nd.Embedding(nd.array([0, 3]), w, input_dim=4, output_dim=2, sparse_grad=True)
    assert emb.shape == (2, 2)
    nd.zeros((2,), ctx=mx.cpu())
    with pytest.raises(mx.MXNetError, match="CPU only"):
        nd.exp(x, ctx=mx.gpu(0))


def test_operators_mxnet_registers_without_parameters_ignore_other_keywords():
    """MXNet parses no attributes for its elementwise families, so a keyword it does not know
    changes nothing there (its test_cosine_loss passes axis=1 to broadcast_maximum); the
    Python-level nd.maximum(lhs, rhs) and every operator with parameters still refuse one."""
    a, b = nd.array([[1.0, -2.0]]), nd.array([[0.0]])
    np.testing.assert_array_equal(nd.broadcast_maximum(a, b, axis=1).asnumpy(), [[1, 0]])
    np.testing.assert_allclose(nd.exp(a, foo=3).asnumpy(), np.exp([[1.0, -2.0]]), rtol=1e-6)
    np.testing.assert_array_equal(nd.elemwise_add(a, a, axis=0).asnumpy(), [[2, -4]])
    out = nd.zeros((1, 2))
    assert nd.relu(a, foo=1, out=out) is out and out.asnumpy().tolist() == [[1, 0]]
    for call in (lambda: nd.maximum(a, b, axis=1), lambda: nd.sum(a, bogus=1),
                 lambda: nd.softmax(a, bogus=1)):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            call()


def test_out_inside_a_hybridized_block_and_under_record_stays_exact():
    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.softmax(x, axis=-1, name="prob") * 2
    net = Net()
    x = nd.array(np.random.RandomState(0).randn(3, 4))
    eager = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-6)


def _ref_softmax(x, lengths, log):
    out = np.zeros_like(x)
    for i, n in enumerate(lengths):
        n = int(np.clip(np.trunc(n), 0, x.shape[1]))
        if n:
            z = x[i, :n] - x[i, :n].max()
            p = np.exp(z) / np.exp(z).sum()
            out[i, :n] = np.log(p) if log else p
    return out


@pytest.mark.parametrize("log", [False, True])
def test_softmax_with_length_matches_mxnets_kernel_eager_compiled_and_in_gradient(log):
    rs = np.random.RandomState(1)
    x64 = rs.randn(4, 5)
    lengths = np.array([5, 2, 0, 3.7])
    op = nd.log_softmax if log else nd.softmax
    x, length = nd.array(x64, dtype="float64"), nd.array(lengths, dtype="float64")
    got = op(x, length=length, use_length=True, axis=-1)
    np.testing.assert_allclose(got.asnumpy(), _ref_softmax(x64, lengths, log), rtol=1e-12,
                               atol=1e-15)
    jitted = mx.jit(lambda a, n: op(a, length=n, use_length=True))(x, length)
    np.testing.assert_allclose(jitted.asnumpy(), got.asnumpy(), rtol=1e-12, atol=1e-15)
    w64 = rs.randn(4, 5)
    w = nd.array(w64, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.sum(op(x, length, use_length=True) * w)
    y.backward()
    assert np.all(np.isfinite(x.grad.asnumpy()))
    assert np.all(x.grad.asnumpy()[1, 2:] == 0) and np.all(x.grad.asnumpy()[2] == 0)
    (want,) = central_differences(
        lambda: float(np.sum(_ref_softmax(x64, lengths, log) * w64)), [x64])
    np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-6, atol=1e-8)


def test_softmax_length_along_another_axis_and_its_errors():
    x64 = np.random.RandomState(2).randn(5, 3)
    lengths = np.array([1, 5, 3])
    got = nd.softmax(nd.array(x64, dtype="float64"), nd.array(lengths), axis=0,
                     use_length=True).asnumpy()
    np.testing.assert_allclose(got, _ref_softmax(x64.T, lengths, False).T, rtol=1e-12)
    np.testing.assert_allclose(nd.softmax(nd.array(x64), 0).asnumpy().sum(0), 1.0, rtol=1e-6)
    with pytest.raises(mx.MXNetError, match=r"length must have shape \(3,\) .* got \(5,\)"):
        nd.softmax(nd.array(x64), nd.ones((5,)), axis=0, use_length=True)
    with pytest.raises(mx.MXNetError, match="use_length=True needs length"):
        nd.softmax(nd.array(x64), use_length=True)


def test_every_nd_function_taking_extra_keywords_hands_them_to_op_kwargs():
    """A new nd function declared with **kwargs must start with `if kwargs: return
    _redo(...)`, or it would swallow out= and every argument it does not implement."""
    import inspect
    from tracegrad import nd as nd_module
    missing = []
    for prefix, ns in [("nd", vars(nd_module)), ("nd.random", vars(nd_module.random)),
                       ("nd.linalg", vars(nd_module.linalg)),
                       ("nd.contrib", vars(nd_module.contrib))]:
        for name, f in ns.items():
            if name.startswith("_") or not inspect.isfunction(f) or name == "Custom":
                continue    # (nd.Custom hands its keywords to the operator's CustomOpProp)
            if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(f).parameters.values()) \
                    and "_redo" not in inspect.unwrap(f).__code__.co_names:
                missing.append(f"{prefix}.{name}")
    assert missing == []


def test_functions_made_by_one_factory_name_themselves():
    # (nd.abs and nd.exp share their code: the message once named the first one called)
    x = nd.ones((2, 3))
    for name in ("abs", "exp", "sqrt"):
        with pytest.raises(ValueError, match=rf"nd.{name}\(\): out is float32\[3, 2\]"):
            getattr(nd, name)(x, out=nd.zeros((3, 2)))
