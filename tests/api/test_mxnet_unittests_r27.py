"""Behaviours MXNet 1.9.1's own unit tests rely on (round 27): Module's optimizer multipliers
from the symbol, unique Zipfian sampling, float16 exponential draws, Symbol.astype / copy."""
import math

import numpy as np
import pytest

import tracegrad as mx


def _fc_module():
    data = mx.sym.var("data")
    frozen = mx.sym.FullyConnected(data, name="a", num_hidden=3, lr_mult=0)
    out = mx.sym.FullyConnected(frozen, name="b", num_hidden=2, wd_mult=0.25)
    mod = mx.mod.Module(out, label_names=None)
    mod.bind(data_shapes=[("data", (4, 5))])
    mod.init_params(initializer=mx.init.Uniform(1.0))
    return mod


def test_module_optimizer_by_name_takes_the_symbols_multipliers():
    mod = _fc_module()
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    assert mod._optimizer.lr_mult == {"a_weight": 0.0, "a_bias": 0.0}
    # biases without __wd_mult__ do not decay; b's variables carry 0.25
    assert mod._optimizer.wd_mult == {"a_bias": 0.0, "b_weight": 0.25, "b_bias": 0.25}
    assert mod._optimizer.idx2name == dict(enumerate(mod._param_names))
    before = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    batch = mx.io.DataBatch(data=[mx.nd.array(np.random.uniform(-1, 1, (4, 5)))])
    mod.forward(batch, is_train=True)
    mod.backward([mx.nd.ones((4, 2))])
    mod.update()
    after = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    np.testing.assert_array_equal(before["a_weight"], after["a_weight"])
    np.testing.assert_array_equal(before["a_bias"], after["a_bias"])
    assert not np.allclose(before["b_weight"], after["b_weight"])


def test_module_given_optimizer_gets_the_parameter_names():
    mod = _fc_module()
    opt = mx.optimizer.SGD(learning_rate=0.1, rescale_grad=0.25)
    mod.init_optimizer(optimizer=opt)
    assert opt.idx2name == dict(enumerate(mod._param_names))


def test_sample_unique_zipfian_rows_are_distinct_and_count_the_draws():
    mx.random.seed(3)
    classes, tries = mx.nd._internal._sample_unique_zipfian(1000, shape=(3, 50))
    assert classes.shape == (3, 50) and tries.shape == (3,)
    assert classes.dtype == np.int64 and tries.dtype == np.int64
    c = classes.asnumpy()
    for row, n in zip(c, tries.asnumpy()):
        assert np.unique(row).size == 50
        assert n >= 50
    assert c.min() >= 0 and c.max() < 1000
    # log-uniform: small classes dominate (P(c < 10) = log(11) / log(1000) ~ 0.35)
    mx.random.seed(4)
    many, _ = mx.nd._internal._sample_unique_zipfian(10 ** 6, shape=(1, 2000))
    frac = (many.asnumpy() < 10).mean()
    assert frac < 0.02     # (at most 10 distinct values below 10)
    with pytest.raises(mx.MXNetError):
        mx.nd._internal._sample_unique_zipfian(5, shape=(1, 6))


def test_sym_contrib_rand_zipfian_matches_the_expected_counts():
    true = mx.sym.var("true")
    outs = mx.sym.Group(list(mx.sym.contrib.rand_zipfian(true, 200, 20)))
    exe = outs.bind(mx.cpu(), {"true": mx.nd.array([0, 3, 19], dtype="int32")})
    sampled, exp_true, exp_sampled = exe.forward()
    assert sampled.dtype == np.int64 and exp_true.dtype == np.float64

    def expected(c):
        return np.log((c + 2.0) / (c + 1.0)) / math.log(21) * 200
    np.testing.assert_allclose(exp_true.asnumpy(), expected(np.array([0, 3, 19.0])))
    s = sampled.asnumpy()
    assert s.shape == (200,) and s.min() >= 0 and s.max() < 20
    np.testing.assert_allclose(exp_sampled.asnumpy(), expected(s.astype(np.float64)))


def test_float16_exponential_is_finite():
    mx.random.seed(0)
    x = mx.nd.random.exponential(0.25, shape=(400, 400), dtype="float16")
    assert x.dtype == np.float16
    v = x.asnumpy().astype(np.float64)
    assert np.isfinite(v).all()
    assert abs(v.mean() - 0.25) < 0.01


def test_symbol_astype_and_copy():
    x = mx.sym.var("x")
    y = (x * 2).astype("float16")
    out = y.bind(mx.cpu(), {"x": mx.nd.array([1.5, 3.0])}).forward()[0]
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out.asnumpy(), np.array([3.0, 6.0], np.float16))
    assert y.infer_type(x="float32")[1] == [np.float16]
    z = x * 3
    w = z.copy()
    w._set_attr(note="copied")
    assert z.attr("note") is None and w.attr("note") == "copied"
    assert w.list_arguments() == ["x"]


def test_symbol_integer_scalar_arithmetic_keeps_the_integer_dtype():
    x = mx.sym.var("x")
    xi = x.astype("int64")
    vals = np.array([5.0, 7.0, -4.0])
    for make, ref in ((lambda v: v % 3, lambda a: a % 3), (lambda v: v + 3, lambda a: a + 3),
                      (lambda v: 3 - v, lambda a: 3 - a), (lambda v: v * 3, lambda a: a * 3)):
        y = make(xi)
        got = y.bind(mx.cpu(), {"x": mx.nd.array(vals, dtype="float64")}).forward()[0]
        assert got.dtype == np.int64 == y.infer_type(x="float64")[1][0]
        np.testing.assert_array_equal(got.asnumpy(), ref(vals.astype(np.int64)))


def test_bilinear_upsampling_infers_its_weight_shape():
    data, weight = mx.sym.var("data"), mx.sym.var("weight")
    for scale in (2, 3):
        up = mx.sym.UpSampling(data, weight, sample_type="bilinear", scale=scale,
                               num_filter=4, num_args=2)
        args, outs, _ = up.infer_shape(data=(2, 4, 5, 5))
        k = 2 * scale - scale % 2
        assert args == [(2, 4, 5, 5), (4, 1, k, k)]
        assert outs == [(2, 4, 5 * scale, 5 * scale)]
    exe = up.simple_bind(mx.cpu(), data=(1, 4, 3, 3))
    assert exe.arg_dict["weight"].shape == (4, 1, 5, 5)     # (scale 3)


def test_sym_image_normalize_takes_per_channel_tuples():
    x = np.random.uniform(0, 1, (2, 3, 4, 5)).astype(np.float32)
    sym = mx.sym.image.normalize(data=mx.sym.var("data"), mean=(0.1, 0.2, 0.3),
                                 std=(0.5, 2.0, 4.0))
    got = sym.bind(mx.cpu(), {"data": mx.nd.array(x)}).forward()[0].asnumpy()
    ref = (x - np.array([0.1, 0.2, 0.3]).reshape(1, 3, 1, 1)) / \
        np.array([0.5, 2.0, 4.0]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    # one value for every channel, and the defaults (mean 0, std 1)
    np.testing.assert_allclose(mx.nd.image.normalize(mx.nd.array(x[0]), 0.5, 2.0).asnumpy(),
                               (x[0] - 0.5) / 2.0, rtol=1e-6)
    np.testing.assert_array_equal(mx.nd.image.normalize(mx.nd.array(x)).asnumpy(), x)
