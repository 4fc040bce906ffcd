"""A sampler's or creation's legacy shape () is "unknown" (MXNet's InitShape outside numpy
shape semantics): the op that consumes it gives its shape (`mx.sym.random.normal() + x`
draws x's shape, as MXNet's test_random builds it); a sampler nothing sizes draws one number
(nd.random.normal()'s default); a creation nothing sizes is refused naming it. An input-less
op ignores Symbol keywords, as NNVM's compose matches keywords to missing inputs only."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad.symbol import ops as sym_ops


def _run(sym, **values):
    ex = sym.bind(mx.cpu(), {k: mx.nd.array(v) for k, v in values.items()})
    ex.forward(is_train=True)
    return ex.outputs[0].asnumpy()


def test_sampler_takes_its_consumers_shape():
    x = mx.sym.Variable("x")
    y = mx.sym.random.normal(loc=10.0, scale=0.5) + x
    assert y.infer_shape(x=(30, 40)) == ([(30, 40)], [(30, 40)], [])
    out = _run(y, x=np.zeros((30, 40)))
    assert out.shape == (30, 40)
    assert abs(out.mean() - 10.0) < 0.1 and abs(out.std() - 0.5) < 0.1
    assert len(np.unique(out)) > 1000       # (each element drawn, not one number broadcast)


def test_uniform_and_randint_samplers_too():
    x = mx.sym.Variable("x")
    out = _run(mx.sym.random.uniform(2.0, 3.0) * x, x=np.ones((5, 6)))
    assert out.shape == (5, 6) and out.min() >= 2.0 and out.max() < 3.0


def test_randn_ignores_a_symbol_keyword_as_mxnet():
    x = mx.sym.Variable("x")
    y = mx.sym.random.randn(loc=5.0, scale=1e-6, data=mx.sym.ones((3, 4))) + x
    assert y.list_arguments() == ["x"]
    np.testing.assert_allclose(_run(y, x=np.zeros((3, 4))), np.full((3, 4), 5.0), atol=1e-4)


def test_unsized_sampler_alone_draws_one_number():
    out = _run(mx.sym.random.normal(loc=1.0, scale=1e-6))
    assert out.shape == (1,)
    np.testing.assert_allclose(out, [1.0], atol=1e-4)


def test_unsized_creation_alone_is_refused_naming_it():
    with pytest.raises(mx.base.MXNetError, match="_zeros"):
        _run(mx.sym.zeros(()))


def test_numpy_shape_semantics_keep_a_scalar():
    (node, _), = mx.sym.random.normal(loc=0.0, shape=())._outputs
    assert sym_ops.unsized(node)
    with mx.util.np_shape(True):
        assert not sym_ops.unsized(node)
