"""mx.rnn's symbolic cells (MXNet 1.x's legacy RNN API): unrolled graphs against numpy
recurrences, the fused cell against its unfused stack, gradients against finite differences,
begin states sized by shape inference, and training through Module."""
import functools

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError
from tracegrad.symbol_checks import check_numeric_gradient


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _bind(sym, rng, **shapes):
    ex = sym.simple_bind(mx.cpu(), **shapes)
    for k, v in ex.arg_dict.items():
        if k not in shapes:
            v[:] = rng.uniform(-0.4, 0.4, v.shape)
    return ex


def _lstm_ref(x, a, p, h, c):
    outs = []
    for t in range(x.shape[1]):
        g = x[:, t] @ a[p + "i2h_weight"].T + a[p + "i2h_bias"] + \
            h @ a[p + "h2h_weight"].T + a[p + "h2h_bias"]
        i, f, cc, o = np.split(g, 4, axis=1)
        c = _sig(f) * c + _sig(i) * np.tanh(cc)
        h = _sig(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def _gru_ref(x, a, p, h):
    outs = []
    for t in range(x.shape[1]):
        gi = x[:, t] @ a[p + "i2h_weight"].T + a[p + "i2h_bias"]
        gh = h @ a[p + "h2h_weight"].T + a[p + "h2h_bias"]
        ir, iz, in_ = np.split(gi, 3, axis=1)
        hr, hz, hn = np.split(gh, 3, axis=1)
        r, z = _sig(ir + hr), _sig(iz + hz)
        n = np.tanh(in_ + r * hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs, 1), h


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_lstm_cell_unroll_matches_the_recurrence_in_numpy(layout):
    rng = np.random.default_rng(0)
    cell = mx.rnn.LSTMCell(num_hidden=8, prefix="lstm_")
    data = mx.sym.var("data")
    outputs, states = cell.unroll(5, inputs=data, layout=layout, merge_outputs=True)
    assert outputs.list_arguments() == ["data", "lstm_i2h_weight", "lstm_i2h_bias",
                                        "lstm_h2h_weight", "lstm_h2h_bias"]
    shape = (2, 5, 3) if layout == "NTC" else (5, 2, 3)
    sym = mx.sym.Group([outputs] + states)
    ex = _bind(sym, rng, data=shape)
    x = rng.standard_normal(shape).astype(np.float32)
    out, h, c = [o.asnumpy() for o in ex.forward(is_train=False, data=nd.array(x))]
    a = {k: v.asnumpy().astype(np.float64) for k, v in ex.arg_dict.items()}
    xn = x if layout == "NTC" else x.transpose(1, 0, 2)
    ref, rh, rc = _lstm_ref(xn.astype(np.float64), a, "lstm_", np.zeros((2, 8)),
                            np.zeros((2, 8)))
    if layout == "TNC":
        ref = ref.transpose(1, 0, 2)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, rh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, rc, rtol=1e-5, atol=1e-6)


def test_gru_and_rnn_cells_per_step_outputs_match_numpy():
    rng = np.random.default_rng(1)
    data = mx.sym.var("data")
    gru = mx.rnn.GRUCell(6, prefix="g_")
    outs, _ = gru.unroll(4, data, merge_outputs=False)
    assert isinstance(outs, list) and len(outs) == 4
    ex = _bind(mx.sym.Group(outs), rng, data=(3, 4, 5))
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    got = np.stack([o.asnumpy() for o in ex.forward(is_train=False, data=nd.array(x))], 1)
    a = {k: v.asnumpy().astype(np.float64) for k, v in ex.arg_dict.items()}
    ref, _ = _gru_ref(x.astype(np.float64), a, "g_", np.zeros((3, 6)))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)

    rnn = mx.rnn.RNNCell(6, activation="relu", prefix="r_")
    out, _ = rnn.unroll(4, data, merge_outputs=True)
    ex = _bind(out, rng, data=(3, 4, 5))
    got = ex.forward(is_train=False, data=nd.array(x))[0].asnumpy()
    a = {k: v.asnumpy().astype(np.float64) for k, v in ex.arg_dict.items()}
    h = np.zeros((3, 6))
    for t in range(4):
        h = np.maximum(x[:, t] @ a["r_i2h_weight"].T + a["r_i2h_bias"]
                       + h @ a["r_h2h_weight"].T + a["r_h2h_bias"], 0)
        np.testing.assert_allclose(got[:, t], h, rtol=1e-5, atol=1e-6)


def test_sequential_stack_names_states_and_feeds_layers_in_turn():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(7, prefix="l0_"))
    stack.add(mx.rnn.DropoutCell(0.0))
    stack.add(mx.rnn.GRUCell(5, prefix="l1_"))
    begin = stack.begin_state()
    assert [s.name for s in begin] == ["l0_begin_state_0", "l0_begin_state_1",
                                       "l1_begin_state_0"]
    out, states = stack.unroll(3, mx.sym.var("data"), merge_outputs=True)
    arg, outs, _ = mx.sym.Group([out] + states).infer_shape(data=(4, 3, 2))
    assert outs == [(4, 3, 5), (4, 7), (4, 7), (4, 5)]
    assert set(stack.params._params) == {f"l{i}_{g}_{k}" for i in (0, 1)
                                         for g in ("i2h", "h2h") for k in ("weight", "bias")}


def test_bidirectional_cell_concatenates_a_forward_and_a_reversed_pass():
    rng = np.random.default_rng(2)
    bi = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(4, prefix="l_"),
                                  mx.rnn.LSTMCell(4, prefix="r_"))
    out, _ = bi.unroll(3, mx.sym.var("data"), merge_outputs=True)
    ex = _bind(out, rng, data=(2, 3, 5))
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    got = ex.forward(is_train=False, data=nd.array(x))[0].asnumpy()
    a = {k: v.asnumpy().astype(np.float64) for k, v in ex.arg_dict.items()}
    z = np.zeros((2, 4))
    left, _, _ = _lstm_ref(x.astype(np.float64), a, "l_", z, z)
    right, _, _ = _lstm_ref(x[:, ::-1].astype(np.float64), a, "r_", z, z)
    np.testing.assert_allclose(got, np.concatenate([left, right[:, ::-1]], 2),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_relu"])
def test_fused_cell_equals_its_unfused_stack_and_weights_round_trip(mode):
    rng = np.random.default_rng(3)
    fused = mx.rnn.FusedRNNCell(5, num_layers=2, mode=mode, bidirectional=True,
                                get_next_state=True, prefix="f_")
    data = mx.sym.var("data")
    with pytest.warns(UserWarning, match="TNC"):
        fo, fs = fused.unroll(3, data, layout="NTC", merge_outputs=True)
    ex = _bind(mx.sym.Group([fo] + fs), rng, data=(2, 3, 4))
    x = nd.array(rng.standard_normal((2, 3, 4)))
    got = [o.asnumpy() for o in ex.forward(is_train=False, data=x)]
    assert got[1].shape == (4, 2, 5)
    packed = ex.arg_dict["f_parameters"]
    unpacked = fused.unpack_weights({"f_parameters": packed})
    assert f"f_l1_h2h{fused._gate_names[0]}_weight" in unpacked
    again = fused.pack_weights(unpacked)["f_parameters"]
    np.testing.assert_array_equal(again.asnumpy(), packed.asnumpy())
    stack = fused.unfuse()
    uo, _ = stack.unroll(3, data, layout="NTC", merge_outputs=True)
    uex = uo.simple_bind(mx.cpu(), data=(2, 3, 4))
    per_cell = stack.pack_weights(unpacked)
    for k, v in uex.arg_dict.items():
        if k != "data":
            v[:] = per_cell[k]
    np.testing.assert_allclose(uex.forward(is_train=False, data=x)[0].asnumpy(), got[0],
                               rtol=1e-5, atol=1e-6)


def test_unrolled_lstm_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    cell = mx.rnn.LSTMCell(3, prefix="c_")
    out, _ = cell.unroll(3, mx.sym.var("data"), merge_outputs=True)
    loss = mx.sym.sum(out * out)
    loc = {"data": rng.standard_normal((2, 3, 2)),
           "c_i2h_weight": rng.uniform(-0.5, 0.5, (12, 2)), "c_i2h_bias": rng.uniform(-.5, .5, 12),
           "c_h2h_weight": rng.uniform(-0.5, 0.5, (12, 3)), "c_h2h_bias": rng.uniform(-.5, .5, 12)}
    check_numeric_gradient(loss, loc, numeric_eps=1e-3, rtol=1e-2, atol=1e-3,
                           dtype=np.float64)


def test_modifier_cells_residual_zoneout_and_dropout():
    rng = np.random.default_rng(5)
    data = mx.sym.var("data")
    base = mx.rnn.RNNCell(4, prefix="b_")
    res = mx.rnn.ResidualCell(base)
    with pytest.raises(MXNetError, match="modifier"):
        base.begin_state()
    out, _ = res.unroll(3, data, merge_outputs=True)
    plain, _ = mx.rnn.RNNCell(4, prefix="b_").unroll(3, data, merge_outputs=True)
    ex = _bind(out, rng, data=(2, 3, 4))
    pex = plain.simple_bind(mx.cpu(), data=(2, 3, 4))
    for k in pex.arg_dict:
        if k != "data":
            pex.arg_dict[k][:] = ex.arg_dict[k]
    x = nd.array(rng.standard_normal((2, 3, 4)))
    np.testing.assert_allclose(ex.forward(data=x)[0].asnumpy(),
                               pex.forward(data=x)[0].asnumpy() + x.asnumpy(), rtol=1e-6)
    # zoneout with probability 0 is the base cell; in inference mode always the base cell
    zo = mx.rnn.ZoneoutCell(mx.rnn.RNNCell(4, prefix="b_"), zoneout_outputs=0.5,
                            zoneout_states=0.5)
    zout, _ = zo.unroll(3, data, merge_outputs=True)
    zex = zout.simple_bind(mx.cpu(), data=(2, 3, 4))
    for k in pex.arg_dict:
        if k != "data":
            zex.arg_dict[k][:] = pex.arg_dict[k]
    np.testing.assert_allclose(zex.forward(is_train=False, data=x)[0].asnumpy(),
                               pex.forward(data=x)[0].asnumpy(), rtol=1e-6)
    with pytest.raises(MXNetError, match="cannot be stepped"):
        mx.rnn.ZoneoutCell(mx.rnn.FusedRNNCell(4))
    with pytest.raises(MXNetError, match="number"):
        mx.rnn.DropoutCell("half")


def test_begin_state_batch_is_inferred_and_an_uninferable_one_is_refused():
    cell = mx.rnn.LSTMCell(4, prefix="s_")
    out, _ = cell.unroll(2, mx.sym.var("data"), merge_outputs=True)
    for batch in (1, 3, 7):
        _, outs, _ = out.infer_shape(data=(batch, 2, 5))
        assert outs == [(batch, 2, 4)]
    # a zeros state nothing else meets: no row count to take (MXNet cannot infer it either)
    lone = mx.sym.FullyConnected(mx.sym.zeros(shape=(0, 3)), num_hidden=2, name="lone")
    both = mx.sym.Group([lone, mx.sym.var("data") * 2])
    with pytest.raises(MXNetError, match=r"cannot infer the unknown dims \(the 0s\) of '_zeros"):
        both.simple_bind(mx.cpu(), data=(2, 5))


def test_a_stacked_lstm_language_model_trains_under_module():
    rng = np.random.default_rng(6)
    vocab, seq, batch = 11, 6, 8
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=16, prefix=f"lstm_l{i}_"))
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    embed = mx.sym.Embedding(data=data, input_dim=vocab, output_dim=8, name="embed")
    stack.reset()
    outputs, _ = stack.unroll(seq, inputs=embed, merge_outputs=True)
    pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 16)), num_hidden=vocab,
                                 name="pred")
    net = mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(label, shape=(-1,)), name="softmax")
    # a learnable sequence: each token is the previous one plus one
    start = rng.integers(0, vocab, (64, 1))
    tokens = (start + np.arange(seq + 1)) % vocab
    it = mx.io.NDArrayIter(tokens[:, :-1].astype(np.float32),
                           tokens[:, 1:].astype(np.float32), batch_size=batch)
    mod = mx.mod.Module(net, data_names=("data",), label_names=("softmax_label",))
    metric = mx.metric.Perplexity(None)
    mod.fit(it, eval_metric=metric, optimizer="adam",
            optimizer_params={"learning_rate": 0.02},
            initializer=mx.init.Xavier(factor_type="in", magnitude=2.34), num_epoch=8)
    score = dict(mod.score(it, mx.metric.Perplexity(None)))["perplexity"]
    assert score < 2.0, score   # a uniform guess is 11
    # the LSTM bias initializer put the forget gate's bias at 1
    i2h_bias = mod.get_params()[0]["lstm_l0_i2h_bias"]
    assert i2h_bias.shape == (64,)


def test_fused_initializer_sets_forget_bias_and_uses_the_modules_initializer():
    fused = mx.rnn.FusedRNNCell(4, num_layers=1, mode="lstm", forget_bias=2.0, prefix="f_")
    out, _ = fused.unroll(2, mx.sym.var("data"), layout="TNC", merge_outputs=True)
    mod = mx.mod.Module(mx.sym.MakeLoss(mx.sym.sum(out)), data_names=("data",),
                        label_names=None)
    mod.bind(data_shapes=[("data", (2, 3, 5))])
    mod.init_params(initializer=mx.init.Uniform(0.1))
    params = mod.get_params()[0]["f_parameters"]
    pieces = fused.unpack_weights({"f_parameters": params})
    # MXNet's FusedRNN initializer sets both forget-gate biases (i2h and h2h); others 0
    np.testing.assert_array_equal(pieces["f_l0_i2h_f_bias"].asnumpy(), 2.0)
    np.testing.assert_array_equal(pieces["f_l0_h2h_f_bias"].asnumpy(), 2.0)
    np.testing.assert_array_equal(pieces["f_l0_h2h_i_bias"].asnumpy(), 0.0)
    w = pieces["f_l0_i2h_i_weight"].asnumpy()
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0


def test_conv_lstm_cell_keeps_the_spatial_state_shape():
    cell = mx.rnn.ConvLSTMCell(input_shape=(2, 3, 6, 6), num_hidden=4, prefix="cl_")
    out, states = cell.unroll(3, mx.sym.var("data"), merge_outputs=True)
    _, outs, _ = mx.sym.Group([out] + states).infer_shape(data=(2, 3, 3, 6, 6))
    assert outs == [(2, 3, 4, 6, 6), (2, 4, 6, 6), (2, 4, 6, 6)]


@pytest.mark.parametrize("mode,bidirectional", [("lstm", False), ("lstm", True),
                                                ("gru", True), ("rnn_tanh", False)])
def test_unfused_stack_equals_gluons_recurrent_layer_with_the_same_weights(mode, bidirectional):
    """mx.rnn's unrolled cells against gluon.rnn's layer (checked against numpy elsewhere),
    weights moved by name: `<prefix>l0_i2h_weight` is the layer's layer 0 left i2h weight."""
    rng = np.random.default_rng(7)
    fused = mx.rnn.FusedRNNCell(5, num_layers=2, mode=mode, bidirectional=bidirectional,
                                prefix="m_")
    stack = fused.unfuse()
    out, _ = stack.unroll(4, mx.sym.var("data"), layout="NTC", merge_outputs=True)
    ex = _bind(out, rng, data=(3, 4, 6))
    x = nd.array(rng.standard_normal((3, 4, 6)))
    got = ex.forward(is_train=False, data=x)[0].asnumpy()
    kind = {"lstm": mx.gluon.rnn.LSTM, "gru": mx.gluon.rnn.GRU,
            "rnn_tanh": functools.partial(mx.gluon.rnn.RNN, activation="tanh")}[mode]
    layer = kind(5, num_layers=2, layout="NTC", bidirectional=bidirectional, input_size=6)
    layer.initialize()
    for name, p in layer._collect_params_with_prefix().items():
        # MXNet's own names: '_unfused.<layer>[.l_cell|.r_cell].i2h_weight'
        parts = name.split(".")
        side = "r" if "r_cell" in parts else "l"
        p.set_data(ex.arg_dict[f"m_{side}{parts[1]}_{parts[-1]}"].asnumpy())
    np.testing.assert_allclose(layer(x).asnumpy(), got, rtol=1e-5, atol=1e-6)
