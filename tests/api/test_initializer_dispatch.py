"""Initializer.__call__ dispatches on the parameter's name to methods a custom initializer
may override (_init_bias, _init_gamma, ...), as MXNet 1.9.1's does: with an InitDesc (what
Module.init_params passes) and with a plain name (MXNet's legacy order)."""
import logging

import numpy as np
import pytest

import tracegrad as mx


class _Marks(mx.init.Initializer):
    """Every method writes its own value, so the test sees which one ran."""

    def _init_weight(self, name, arr):
        arr[:] = 1.0

    def _init_bias(self, name, arr):
        arr[:] = 2.0

    def _init_gamma(self, name, arr):
        arr[:] = 3.0

    def _init_beta(self, name, arr):
        arr[:] = 4.0

    def _init_zero(self, name, arr):
        arr[:] = 5.0

    def _init_one(self, name, arr):
        arr[:] = 6.0


@pytest.mark.parametrize("name, value", [("fc_weight", 1.0), ("fc_bias", 2.0),
                                         ("bn_gamma", 3.0), ("bn_beta", 4.0),
                                         ("q_min", 5.0), ("q_max", 6.0)])
def test_suffix_picks_the_overridable_method(name, value):
    for desc in (mx.init.InitDesc(name), name):
        arr = mx.nd.zeros((3,))
        _Marks()(desc, arr)
        np.testing.assert_array_equal(arr.asnumpy(), np.full(3, value))


def test_an_own_init_attribute_wins_over_the_suffix():
    arr = mx.nd.zeros((2, 2))
    _Marks()(mx.init.InitDesc("fc_bias", {"__init__": "ones"}), arr)
    np.testing.assert_array_equal(arr.asnumpy(), np.ones((2, 2)))


def test_legacy_names_upsampling_is_bilinear_and_stn_loc_is_the_identity_transform():
    up = mx.nd.zeros((1, 1, 4, 4))
    mx.init.Uniform()("upsampling0_weight", up)
    expected = mx.nd.zeros((1, 1, 4, 4))
    mx.init.Bilinear()("w_weight", expected)
    np.testing.assert_array_equal(up.asnumpy(), expected.asnumpy())
    bias = mx.nd.zeros((6,))
    mx.init.Uniform()("stn_loc_bias", bias)
    np.testing.assert_array_equal(bias.asnumpy(), [1, 0, 0, 0, 1, 0])
    weight = mx.nd.ones((6, 4))
    mx.init.Uniform()("stn_loc_weight", weight)
    assert not weight.asnumpy().any()
    with pytest.raises(mx.MXNetError, match="unknown initialization pattern"):
        mx.init.Uniform()("fc_scale", mx.nd.zeros((2,)))


def test_module_init_params_calls_a_custom_init_bias():
    # example/cnn_chinese_text_classification: a registered initializer sets the highway
    # gate's bias to -2 through _init_bias
    @mx.init.register
    class BiasToMinusTwo(mx.init.Initializer):
        def _init_weight(self, name, arr):
            arr[:] = 0.5

        def _init_bias(self, name, arr):
            arr[:] = -2.0

    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    mod = mx.mod.Module(fc, label_names=None)
    mod.bind([("data", (2, 4))], for_training=False)
    mod.init_params(mx.init.create("biastominustwo"))
    args, _ = mod.get_params()
    np.testing.assert_array_equal(args["fc_bias"].asnumpy(), np.full(3, -2.0))
    np.testing.assert_array_equal(args["fc_weight"].asnumpy(), np.full((3, 4), 0.5))


def test_set_verbosity_logs_each_initialized_array(caplog):
    init = mx.init.Constant(3.0).set_verbosity(True)
    with caplog.at_level(logging.INFO):
        init(mx.init.InitDesc("fc_weight"), mx.nd.zeros((2, 2)))
    assert "Initialized fc_weight as weight: 3.0" in caplog.text
