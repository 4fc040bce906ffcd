"""Symbolic programs that draw random numbers (a symbolic VAE's noise, a GAN's latent input)
as MXNet 1.9.1 writes them: mx.sym.random.<dist>(...) with MXNet's positional order, the flat
mx.sym.random_<dist> operators with their number attributes (random_gamma's beta,
random_normal's loc, a float Pad constant; LRN / hard_sigmoid / gemm's beta and quadratic's
a, numbers though other ops take arrays by those names), and nd.random_exponential's rate
`lam`; sample means and spreads against the distributions' moments."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

N = 20000


def _draw(sym):
    return sym.bind(mx.cpu(), {}).forward()[0].asnumpy().astype(np.float64)


@pytest.mark.parametrize("build,mean,std", [
    (lambda: mx.sym.random.uniform(-1, 3, shape=(N,)), 1.0, 4 / np.sqrt(12)),
    (lambda: mx.sym.random.normal(2, 0.5, shape=(N,)), 2.0, 0.5),
    (lambda: mx.sym.random.gamma(2.0, 1.5, shape=(N,)), 3.0, np.sqrt(2) * 1.5),
    (lambda: mx.sym.random.exponential(2.0, shape=(N,)), 2.0, 2.0),      # scale
    (lambda: mx.sym.random.poisson(3.0, shape=(N,)), 3.0, np.sqrt(3.0)),
    (lambda: mx.sym.random.negative_binomial(3, 0.5, shape=(N,)), 3.0, np.sqrt(6.0)),
    (lambda: mx.sym.random.generalized_negative_binomial(2.0, 0.3, shape=(N,)), 2.0,
     np.sqrt(2.0 + 0.3 * 4.0)),
    (lambda: mx.sym.random_gamma(alpha=0.5, beta=2.0, shape=(N,)), 1.0, np.sqrt(0.5) * 2),
    (lambda: mx.sym.random_normal(loc=1, scale=2, shape=(N,)), 1.0, 2.0),
    (lambda: mx.sym.random_exponential(lam=4.0, shape=(N,)), 0.25, 0.25),   # rate
])
def test_symbolic_draws_have_the_distributions_moments(build, mean, std):
    mx.random.seed(0)
    v = _draw(build())
    assert v.shape == (N,)
    assert abs(v.mean() - mean) < 5 * std / np.sqrt(N)
    assert abs(v.std() - std) < 0.05 * std


def test_random_nodes_in_a_graph_and_integer_and_multinomial_draws():
    x = mx.sym.var("x")
    z = x + mx.sym.random.normal(0, 1, shape=(2, 3))
    assert z.infer_shape(x=(2, 3))[1] == [(2, 3)]
    ints = _draw(mx.sym.random.randint(0, 5, shape=(1000,)))
    assert set(np.unique(ints)) == {0, 1, 2, 3, 4}
    draws = mx.sym.random.multinomial(mx.sym.var("p"), shape=3).bind(
        mx.cpu(), {"p": nd.array([[0, 1, 0.0], [0, 0, 1.0]])}).forward()[0]
    assert draws.dtype == np.int32 and draws.asnumpy().tolist() == [[1] * 3, [2] * 3]
    with pytest.raises(mx.MXNetError, match="all Symbols or all numbers"):   # (MXNet too)
        mx.sym.random.normal(mx.sym.var("mu"), 1, shape=(2,))


def test_flat_exponential_takes_a_rate_and_pad_a_float_constant():
    mx.random.seed(1)
    e = nd.random_exponential(lam=4.0, shape=(N,)).asnumpy()
    assert abs(e.mean() - 0.25) < 0.01
    mx.random.seed(1)
    np.testing.assert_array_equal(nd.random.exponential(scale=0.25, shape=(N,)).asnumpy(), e)
    padded = mx.sym.Pad(mx.sym.var("x"), mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1),
                        constant_value=0.5)
    out = padded.bind(mx.cpu(), {"x": nd.ones((1, 1, 1, 1))}).forward()[0].asnumpy()
    want = np.full((1, 1, 3, 3), 0.5)
    want[0, 0, 1, 1] = 1
    np.testing.assert_array_equal(out, want)


def test_number_attributes_named_like_array_inputs():
    # beta / a / loc are array inputs of other ops (BatchNorm, ...); here they are numbers
    x = mx.sym.var("x")
    ones = {"x": nd.ones((1, 3, 2, 2))}
    quad = mx.sym.contrib.quadratic(x, a=1, b=2, c=3).bind(mx.cpu(), ones).forward()[0]
    np.testing.assert_allclose(quad.asnumpy(), 6.0)
    hard = mx.sym.hard_sigmoid(x, alpha=0.3, beta=0.4).bind(mx.cpu(), ones).forward()[0]
    np.testing.assert_allclose(hard.asnumpy(), 0.7, rtol=1e-6)
    lrn = mx.sym.LRN(x, nsize=3, beta=0.5).bind(mx.cpu(), ones).forward()[0].asnumpy()
    np.testing.assert_allclose(lrn, nd.LRN(nd.ones((1, 3, 2, 2)), nsize=3, beta=0.5).asnumpy())
    gemm = mx.sym.linalg.gemm(mx.sym.var("A"), mx.sym.var("B"), mx.sym.var("C"), alpha=2.0,
                              beta=0.5)
    out = gemm.bind(mx.cpu(), {k: nd.ones((2, 2)) for k in "ABC"}).forward()[0]
    np.testing.assert_allclose(out.asnumpy(), 2.0 * 2 + 0.5)


def test_a_file_with_mxnets_registered_random_op_names_loads():
    import json
    text = json.dumps({
        "nodes": [{"op": "null", "name": "x", "inputs": []},
                  {"op": "_random_normal", "name": "eps",
                   "attrs": {"loc": "0", "scale": "1", "shape": "(2, 3)"}, "inputs": []},
                  {"op": "elemwise_add", "name": "z", "inputs": [[0, 0, 0], [1, 0, 0]]},
                  {"op": "_random_exponential", "name": "e",
                   "attrs": {"lam": "4", "shape": "(20000,)"}, "inputs": []}],
        "arg_nodes": [0], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[2, 0, 0], [3, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]}})
    sym = mx.sym.load_json(text)
    assert sym.infer_shape(x=(2, 3))[1] == [(2, 3), (20000,)]
    mx.random.seed(2)
    z, e = sym.bind(mx.cpu(), {"x": nd.ones((2, 3))}).forward()
    assert z.shape == (2, 3) and abs(e.asnumpy().mean() - 0.25) < 0.01
