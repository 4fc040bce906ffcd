"""gluon.rnn: every cell and layer against a float64 numpy reference written out below, forward
and gradients (central differences of the reference), eager and hybridized agreeing, second
order on the step functions, and MXNet 1.9.1 parameter files reproducing MXNet's outputs."""
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn, rnn
from tracegrad.gluon.rnn.rnn_cell import gru_step, lstm_step, rnn_step
from arrays import keep_dtype as array
from numeric import central_differences as fd_grads

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402  (tests/grad/check.py, the gradient oracle)


DATA = pathlib.Path(__file__).parent.parent / "data" / "mxnet"


# ------------------------------------------------------------------ the float64 reference
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def ref_step(mode, x, states, wi, wh, bi, bh):
    """One step in numpy; gate rows as MXNet orders them."""
    h = states[0]
    gi, gh = x @ wi.T + bi, h @ wh.T + bh
    if mode == "rnn_tanh":
        h = np.tanh(gi + gh)
        return h, [h]
    if mode == "rnn_relu":
        h = np.maximum(gi + gh, 0)
        return h, [h]
    H = h.shape[1]
    if mode == "lstm":
        g = gi + gh
        i, f = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H])
        c_new, o = np.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
        c = f * states[1] + i * c_new
        h = o * np.tanh(c)
        return h, [h, c]
    r = sigmoid(gi[:, :H] + gh[:, :H])
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    h = (1 - z) * n + z * h
    return h, [h]


def ref_layer(mode, x, states, P, layers, dirs):
    """x (T, N, C); states [(L*D, N, H)]; P: numpy parameters by MXNet name."""
    T = x.shape[0]
    seq = list(x)
    finals = [[] for _ in states]
    for layer in range(layers):
        outs = []
        for d, j in enumerate("lr"[:dirs]):
            st = [s[layer * dirs + d] for s in states]
            w = [P[f"{j}{layer}_{n}"] for n in ("i2h_weight", "h2h_weight", "i2h_bias",
                                                 "h2h_bias")]
            o = [None] * T
            for t in (range(T) if j == "l" else reversed(range(T))):
                o[t], st = ref_step(mode, seq[t], st, *w)
            outs.append(o)
            for f, s in zip(finals, st):
                f.append(s)
        seq = [np.concatenate([o[t] for o in outs], axis=1) for t in range(T)]
    return np.stack(seq), [np.stack(f) for f in finals]


def randomize(block, rng, scale=0.5):
    """Float64 parameters with random values (biases too), returned as numpy by name."""
    block.cast("float64")
    for p in block.collect_params().values():
        p.set_data(rng.uniform(-scale, scale, p.shape))
    return {k: p.data().asnumpy().copy() for k, p in block.collect_params().items()}


# ------------------------------------------------------------------ layers
LAYERS = {"rnn_relu": lambda **kw: rnn.RNN(3, activation="relu", **kw),
          "rnn_tanh": lambda **kw: rnn.RNN(3, activation="tanh", **kw),
          "lstm": lambda **kw: rnn.LSTM(3, **kw), "gru": lambda **kw: rnn.GRU(3, **kw)}
SHAPES = [dict(num_layers=1, bidirectional=False, layout="TNC"),
          dict(num_layers=2, bidirectional=True, layout="NTC")]


def _layer_case(mode, shape, rng, T=4):
    layer = LAYERS[mode](input_size=2, prefix="L_", **shape)
    layer.initialize()
    P = {k[2:]: v for k, v in randomize(layer, rng).items()}
    N = 2
    x = rng.standard_normal((T, N, 2) if shape["layout"] == "TNC" else (N, T, 2))
    LD = shape["num_layers"] * (2 if shape["bidirectional"] else 1)
    states = [rng.standard_normal((LD, N, 3)) for _ in range(2 if mode == "lstm" else 1)]
    cots = [rng.standard_normal(s) for s in [(T, N, 3 * LD // shape["num_layers"])] +
            [st.shape for st in states]]
    if shape["layout"] == "NTC":
        cots[0] = cots[0].transpose(1, 0, 2)
    return layer, P, x, states, cots


def _ref_loss(mode, shape, P, x, states, cots):
    tnc = x if shape["layout"] == "TNC" else x.transpose(1, 0, 2)
    out, fin = ref_layer(mode, tnc, states, P, shape["num_layers"],
                         2 if shape["bidirectional"] else 1)
    if shape["layout"] == "NTC":
        out = out.transpose(1, 0, 2)
    return out, fin, float(sum(np.sum(a * c) for a, c in zip([out] + fin, cots)))


def _our_grads(layer, x, states, cots):
    xs = [array(a) for a in [x] + states]
    for a in xs:
        a.attach_grad()
    with autograd.record():
        out, fin = layer(xs[0], xs[1:])
        head = sum((a * array(c)).sum() for a, c in zip([out] + fin, cots))
    head.backward()
    params = {k[2:]: p.grad().asnumpy() for k, p in layer.collect_params().items()}
    return out.asnumpy(), [f.asnumpy() for f in fin], [a.grad.asnumpy() for a in xs], params


@pytest.mark.parametrize("shape", range(len(SHAPES)))
@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_layer_matches_numpy_forward_and_gradients(mode, shape):
    shape = SHAPES[shape]
    rng = np.random.default_rng(1)
    layer, P, x, states, cots = _layer_case(mode, shape, rng)
    out, fin, inputs_grad, params_grad = _our_grads(layer, x, states, cots)
    ref_out, ref_fin, _ = _ref_loss(mode, shape, P, x, states, cots)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for a, b in zip(fin, ref_fin):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    names = sorted(P)
    arrays = [x] + states + [P[k] for k in names]
    fd = fd_grads(lambda: _ref_loss(mode, shape, P, x, states, cots)[2], arrays)
    for got, want in zip(inputs_grad + [params_grad[k] for k in names], fd):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


# compiling an unrolled sequence costs LLVM time per step: short sequences here
@pytest.mark.parametrize("mode,shape", [("lstm", 0), ("rnn_relu", 0), ("gru", 1)])
def test_layer_hybridized_matches_eager(mode, shape):
    shape = SHAPES[shape]
    rng = np.random.default_rng(1)
    layer, P, x, states, cots = _layer_case(mode, shape, rng, T=2)
    out, fin, inputs_grad, params_grad = _our_grads(layer, x, states, cots)
    layer.hybridize()
    fallbacks = mx.stats()["eager_fallbacks"]
    h_out, h_fin, h_inputs, h_params = _our_grads(layer, x, states, cots)
    assert mx.stats()["eager_fallbacks"] == fallbacks
    np.testing.assert_allclose(h_out, out, rtol=1e-10, atol=1e-12)
    for a, b in zip(h_fin + h_inputs, fin + inputs_grad):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for k in params_grad:
        np.testing.assert_allclose(h_params[k], params_grad[k], rtol=1e-10, atol=1e-12)


def test_layer_without_states_returns_output_only_and_infers_input_size():
    layer = rnn.GRU(5, num_layers=2)
    layer.initialize()
    out = layer(nd.ones((3, 2, 7)))
    assert isinstance(out, nd.NDArray) and out.shape == (3, 2, 5)
    assert layer.l0_i2h_weight.shape == (15, 7) and layer.l1_i2h_weight.shape == (15, 5)
    out, states = layer(nd.ones((3, 2, 7)), layer.begin_state(2))
    assert len(states) == 1 and states[0].shape == (2, 2, 5)


def test_layer_rejects_bad_states_and_inputs():
    layer = rnn.LSTM(4, input_size=3)
    layer.initialize()
    with pytest.raises(ValueError, match="Invalid recurrent state shape"):
        layer(nd.ones((2, 1, 3)), [nd.zeros((1, 2, 4)), nd.zeros((1, 1, 4))])
    with pytest.raises(mx.base.MXNetError, match="input_size=3"):
        layer(nd.ones((2, 1, 5)))
    with pytest.raises(mx.base.MXNetError, match="layout"):
        rnn.GRU(2, layout="NCT")


def test_layer_dropout_between_layers_only_while_training():
    rng = np.random.default_rng(2)
    layer = rnn.LSTM(3, num_layers=2, dropout=0.5, input_size=2)
    layer.initialize()
    P = {k[len(layer.prefix):]: v for k, v in randomize(layer, rng).items()}
    x = rng.standard_normal((5, 2, 2))
    zeros = [np.zeros((2, 2, 3))] * 2
    ref, _ = ref_layer("lstm", x, zeros, P, 2, 1)
    np.testing.assert_allclose(layer(array(x)).asnumpy(), ref, rtol=1e-12)
    with autograd.record():
        trained = layer(array(x)).asnumpy()
    assert np.abs(trained - ref).max() > 1e-3
    single = rnn.LSTM(3, num_layers=1, dropout=0.5, input_size=2)
    single.initialize()
    with autograd.record():  # one layer: nothing between layers, nothing dropped
        a = single(array(x)).asnumpy()
    np.testing.assert_array_equal(a, single(array(x)).asnumpy())


def test_layer_use_sequence_length():
    rng = np.random.default_rng(3)
    layer = rnn.GRU(3, bidirectional=True, input_size=2, use_sequence_length=True)
    layer.initialize()
    P = {k[len(layer.prefix):]: v for k, v in randomize(layer, rng).items()}
    x = rng.standard_normal((4, 2, 2))
    h0 = rng.standard_normal((2, 2, 3))
    lengths = [4, 2]
    out, (hn,) = layer(array(x), [array(h0)], sequence_length=array(lengths))
    out, hn = out.asnumpy(), hn.asnumpy()
    for n, n_len in enumerate(lengths):  # each sequence alone, cut to its length
        ref, (ref_h,) = ref_layer("gru", x[:n_len, n:n + 1], [h0[:, n:n + 1]], P, 1, 2)
        np.testing.assert_allclose(out[:n_len, n:n + 1], ref, rtol=1e-12)
        np.testing.assert_array_equal(out[n_len:, n], 0)
        np.testing.assert_allclose(hn[:, n:n + 1], ref_h, rtol=1e-12)
    layer.hybridize()  # the lengths are an input of the compiled graph, not a constant
    for lengths in ([4, 2], [1, 3]):
        args = (nd.array(x, dtype="float64"), [nd.array(h0, dtype="float64")])
        want = _eager_call(layer, args, lengths)
        got = layer(*args, sequence_length=nd.array(lengths))
        np.testing.assert_allclose(got[0].asnumpy(), want[0], rtol=1e-10)
        np.testing.assert_allclose(got[1][0].asnumpy(), want[1], rtol=1e-10)


def _eager_call(layer, args, lengths):
    active, layer._active = layer._active, False
    try:
        out, (hn,) = layer(*args, sequence_length=nd.array(lengths))
    finally:
        layer._active = active
    return out.asnumpy(), hn.asnumpy()


def test_layer_parameter_names_and_saved_keys(tmp_path):
    layer = rnn.LSTM(4, num_layers=2, bidirectional=True, input_size=3, prefix="lstm0_")
    names = list(layer.collect_params().keys())
    assert names[:4] == ["lstm0_l0_i2h_weight", "lstm0_l0_h2h_weight", "lstm0_l0_i2h_bias",
                         "lstm0_l0_h2h_bias"]
    assert layer.collect_params()["lstm0_r1_i2h_weight"].shape == (16, 8)
    keys = sorted(layer._collect_params_with_prefix())
    assert "_unfused.1.r_cell.h2h_bias" in keys and len(keys) == 16
    layer.initialize()
    layer.save_parameters(str(tmp_path / "p"))
    again = rnn.LSTM(4, num_layers=2, bidirectional=True, input_size=3)
    again.load_parameters(str(tmp_path / "p"))
    np.testing.assert_array_equal(again.r1_h2h_weight.data().asnumpy(),
                                  layer.r1_h2h_weight.data().asnumpy())


# ------------------------------------------------------------------ cells
CELLS = {"rnn_tanh": lambda: rnn.RNNCell(3, input_size=2),
         "rnn_relu": lambda: rnn.RNNCell(3, activation="relu", input_size=2),
         "lstm": lambda: rnn.LSTMCell(3, input_size=2), "gru": lambda: rnn.GRUCell(3, input_size=2)}


def _cell_weights(cell, rng):
    P = randomize(cell, rng)
    return [P[cell.prefix + n] for n in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")]


def _unroll_grads(cell, x, begin, cot, **kw):
    xs = [array(a) for a in [x] + begin]
    for a in xs:
        a.attach_grad()
    with autograd.record():
        out, states = cell.unroll(x.shape[1], xs[0], xs[1:], layout="NTC",
                                  merge_outputs=True, **kw)
        head = (out * array(cot)).sum()
    head.backward()
    grads = [p.grad().asnumpy() for p in cell.collect_params().values()]
    return out.asnumpy(), [s.asnumpy() for s in states], [a.grad.asnumpy() for a in xs], grads


@pytest.mark.parametrize("mode", sorted(CELLS))
def test_cell_unroll_matches_numpy_and_hybridized(mode):
    rng = np.random.default_rng(4)
    cell = CELLS[mode]()
    cell.initialize()
    w = _cell_weights(cell, rng)
    x = rng.standard_normal((2, 3, 2))  # NTC
    begin = [rng.standard_normal((2, 3)) for _ in cell.state_info()]
    cot = rng.standard_normal((2, 3, 3))

    def ref():
        st, outs = begin, []
        for t in range(3):
            o, st = ref_step(mode, x[:, t], st, *w)
            outs.append(o)
        return np.stack(outs, axis=1), st

    out, states, in_grads, p_grads = _unroll_grads(cell, x, begin, cot)
    ref_out, ref_states = ref()
    np.testing.assert_allclose(out, ref_out, rtol=1e-12)
    for a, b in zip(states, ref_states):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    fd = fd_grads(lambda: float(np.sum(ref()[0] * cot)), [x] + begin + w)
    for got, want in zip(in_grads + p_grads, fd):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    cell.hybridize()
    h = _unroll_grads(cell, x, begin, cot)
    for a, b in zip([h[0]] + h[1] + h[2] + h[3], [out] + states + in_grads + p_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("step,n_states,gates", [(rnn_step, 1, 1), (lstm_step, 2, 4),
                                                 (gru_step, 1, 3)])
def test_step_second_order(step, n_states, gates):
    rng = np.random.default_rng(5)
    N, C, H = 2, 2, 2
    args = [rng.standard_normal((N, C))] + [rng.standard_normal((N, H))
                                            for _ in range(n_states)]
    args += [rng.standard_normal((gates * H, C)), rng.standard_normal((gates * H, H)),
             rng.standard_normal(gates * H), rng.standard_normal(gates * H)]

    def f(x, *rest):
        out, states = step(nd, x, list(rest[:n_states]), *rest[n_states:], hidden=H)
        return tuple([out] + states[1:])
    fn = mx.make_ir(f)(*[array(a) for a in args])
    check_grads(fn, args, order=2, rtol=1e-5)


def test_cell_names_and_state_info():
    cell = rnn.LSTMCell(4)
    assert cell.prefix.startswith("lstm") and cell.state_info(2)[1]["shape"] == (2, 4)
    assert rnn.GRUCell(3).prefix.startswith("gru") and rnn.RNNCell(3).prefix.startswith("rnn")
    assert len(cell.begin_state(batch_size=2)) == 2
    with pytest.raises(NotImplementedError, match="unroll"):
        rnn.BidirectionalCell(rnn.GRUCell(2), rnn.GRUCell(2))(nd.ones((1, 2)), [])


def test_sequential_residual_and_list_inputs():
    rng = np.random.default_rng(6)
    seq = rnn.SequentialRNNCell()
    with seq.name_scope():
        seq.add(rnn.LSTMCell(3, input_size=2))
        seq.add(rnn.ResidualCell(rnn.GRUCell(3, input_size=3)))
    seq.initialize()
    randomize(seq, rng)
    cells = list(seq._children.values())
    w1 = [p.data().asnumpy() for p in cells[0].collect_params().values()]
    w2 = [p.data().asnumpy() for p in cells[1].collect_params().values()]
    x = rng.standard_normal((4, 2, 2))  # TNC, given as a list of steps
    out, states = seq.unroll(4, [array(s) for s in x], layout="TNC", merge_outputs=False)
    st1, st2 = [np.zeros((2, 3))] * 2, [np.zeros((2, 3))]
    for t in range(4):
        h1, st1 = ref_step("lstm", x[t], st1, *w1)
        h2, st2 = ref_step("gru", h1, st2, *w2)
        np.testing.assert_allclose(out[t].asnumpy(), h2 + h1, rtol=1e-12)
    assert len(states) == 3
    np.testing.assert_allclose(states[2].asnumpy(), st2[0], rtol=1e-12)
    # stepping the stack by hand gives the same
    st = seq.begin_state(batch_size=2, dtype=np.float64)
    for t in range(4):
        o, st = seq(array(x[t]), st)
    np.testing.assert_allclose(o.asnumpy(), out[3].asnumpy(), rtol=1e-12)


def test_bidirectional_cell_with_valid_length():
    rng = np.random.default_rng(7)
    bi = rnn.BidirectionalCell(rnn.LSTMCell(3, input_size=2), rnn.GRUCell(3, input_size=2))
    bi.initialize()
    randomize(bi, rng)
    wl = [p.data().asnumpy() for p in bi._children["l_cell"].collect_params().values()]
    wr = [p.data().asnumpy() for p in bi._children["r_cell"].collect_params().values()]
    x = rng.standard_normal((2, 4, 2))  # NTC
    lengths = [4, 3]
    out, states = bi.unroll(4, array(x), valid_length=array(lengths))
    out = out.asnumpy()
    assert out.shape == (2, 4, 6) and len(states) == 3
    for n, n_len in enumerate(lengths):
        st_l, st_r = [np.zeros((1, 3))] * 2, [np.zeros((1, 3))]
        fwd, bwd = [], [None] * n_len
        for t in range(n_len):
            h, st_l = ref_step("lstm", x[n:n + 1, t], st_l, *wl)
            fwd.append(h)
        for t in reversed(range(n_len)):
            bwd[t], st_r = ref_step("gru", x[n:n + 1, t], st_r, *wr)
        ref = np.concatenate([np.concatenate(fwd), np.concatenate(bwd)], axis=1)
        np.testing.assert_allclose(out[n, :n_len], ref, rtol=1e-12)
        np.testing.assert_array_equal(out[n, n_len:], 0)
        np.testing.assert_allclose(states[0].asnumpy()[n], st_l[0][0], rtol=1e-12)
        np.testing.assert_allclose(states[2].asnumpy()[n], st_r[0][0], rtol=1e-12)


def test_dropout_and_zoneout_cells():
    x = array(np.random.default_rng(8).uniform(1, 2, (3, 5, 4)))
    drop = rnn.DropoutCell(0.5)
    np.testing.assert_array_equal(drop.unroll(5, x)[0].asnumpy(), x.asnumpy())
    with autograd.record():
        y = drop.unroll(5, x)[0].asnumpy()
    kept = y != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(y[kept], 2 * x.asnumpy()[kept], rtol=1e-6)

    base = rnn.GRUCell(4, input_size=4)
    zone = rnn.ZoneoutCell(base, zoneout_outputs=0.5)
    zone.initialize()
    base._modified = False
    ref, _ = base.unroll(5, x, merge_outputs=False)
    base._modified = True
    out, _ = zone.unroll(5, x, merge_outputs=False)  # inference: the base cell unchanged
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)
    with pytest.raises(mx.base.MXNetError, match="modifier"):
        base.begin_state(batch_size=3)
    with autograd.record():
        outs, _ = zone.unroll(5, x, merge_outputs=False)
    prev, kept = np.zeros((3, 4)), []
    for o, r in zip(outs, ref):  # each unit: the fresh GRU output or the previous output
        o, r = o.asnumpy(), r.asnumpy()
        fresh, old = np.isclose(o, r, rtol=1e-6), o == prev
        assert np.all(fresh | old)
        kept.append(np.mean(old & ~fresh))
        prev = o
    assert 0 < np.mean(kept) < 1


def test_zoneout_hybridized_step_reads_the_current_previous_output():
    base = rnn.RNNCell(3, input_size=3)
    zone = rnn.ZoneoutCell(base, zoneout_outputs=0.999999)
    zone.initialize()
    zone.hybridize()
    x = nd.ones((1, 3))
    with autograd.record():
        first, st = zone(x, zone.begin_state(1))
        second, st = zone(x, st)
    # outputs almost surely keep the previous output: zeros both times (not a stale constant)
    np.testing.assert_array_equal(second.asnumpy(), first.asnumpy())
    zone.reset()
    zone._prev_output = nd.full((1, 3), 7.0)
    with autograd.record():
        third, _ = zone(x, st)
    np.testing.assert_array_equal(third.asnumpy(), np.full((1, 3), 7.0))


# ------------------------------------------------------------------ MXNet-trained files
class WordLM(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.emb = nn.Embedding(50, 8)
            self.lstm = rnn.LSTM(16, num_layers=2, layout="TNC", input_size=8)
            self.out = nn.Dense(50, flatten=False, in_units=16)

    def hybrid_forward(self, F, x):
        return self.out(self.lstm(self.emb(x)))


@pytest.mark.parametrize("hybridize", [False, True])
def test_mxnet_lstm_lm_params_reproduce_mxnet(hybridize):
    net = WordLM()
    net.load_parameters(str(DATA / "lstm_lm.params"))
    if hybridize:
        net.hybridize()
    io = np.load(DATA / "lstm_lm_io.npz")
    np.testing.assert_allclose(net(array(io["tokens"])).asnumpy(), io["y"], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_mxnet_bidirectional_gru_params_reproduce_mxnet(hybridize):
    layer = rnn.GRU(6, layout="NTC", input_size=4, bidirectional=True)
    layer.load_parameters(str(DATA / "gru_bi.params"))
    if hybridize:
        layer.hybridize()
    io = np.load(DATA / "gru_bi_io.npz")
    np.testing.assert_allclose(layer(array(io["x"])).asnumpy(), io["y"], rtol=1e-5,
                               atol=1e-6)


# ------------------------------------------------------------------ training
def _train_lm(hybridize, steps=5):
    mx.random.seed(11)
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Embedding(30, 8), rnn.LSTM(8, num_layers=2, input_size=8),
                nn.Dense(30, flatten=False, in_units=8))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rng = np.random.default_rng(12)
    tokens = rng.integers(0, 30, (4, 4))  # 3 steps: compile time grows with the length
    x, y = array(tokens[:-1]), array(tokens[1:])
    losses = []
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y).mean()
        loss.backward()
        trainer.step(1)
        losses.append(float(loss.asscalar()))
    return losses


def test_two_layer_lstm_lm_trains_eager_and_hybridized_agree():
    eager = _train_lm(False)
    hybrid = _train_lm(True)
    assert eager[-1] < eager[0] - 0.05
    np.testing.assert_allclose(hybrid, eager, rtol=1e-4)


# ------------------------------------------------------------------ compiled structure
@pytest.mark.parametrize("make,n_act", [(lambda: rnn.LSTMCell(8, input_size=4), 5),
                                        (lambda: rnn.GRUCell(8, input_size=4), 3)])
def test_compiled_step_gates_fuse_into_one_loop_and_adjoint_concats(make, n_act):
    from tracegrad.ir.passes.fuse import fusion_groups
    cell = make()
    cell.initialize()
    cell.hybridize()
    x = nd.ones((2, 4))
    x.attach_grad()
    with autograd.record():
        out, _ = cell(x, cell.begin_state(2))
    out.backward()
    groups = fusion_groups(cell.ir("optimized"))
    gate_loops = [g for g in groups if g.kind == "fused" and list(g.shape) == [2, 8]]
    assert len(gate_loops) == 1, groups
    assert sum(op.name in ("sigmoid", "tanh") for op in gate_loops[0].ops) == n_act
    assert sum(g.kind == "kernel" for g in groups) == 2  # the two GEMMs, nothing else
    adjoint = [op.name for op in cell.ir("adjoint").ops]
    assert "slice_scatter" not in adjoint and "concat" in adjoint


# ------------------------------------------------------------------ nd.RNN (the fused operator)
def _packed(P, layers, dirs):
    """MXNet's packing: every weight, then every bias; layer, direction l/r, i2h then h2h."""
    return np.concatenate([P[f"{j}{layer}_{g}_{t}"].reshape(-1) for t in ("weight", "bias")
                           for layer in range(layers) for j in "lr"[:dirs]
                           for g in ("i2h", "h2h")])


@pytest.mark.parametrize("mode,layers,bidirectional", [("lstm", 2, True), ("gru", 1, False),
                                                       ("rnn_tanh", 2, False)])
def test_nd_rnn_operator_matches_numpy(mode, layers, bidirectional):
    rng = np.random.default_rng(9)
    D, H, C, T, N = 2 if bidirectional else 1, 3, 2, 4, 2
    G = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[mode]
    P = {}
    for layer in range(layers):
        for j in "lr"[:D]:
            ni = C if layer == 0 else H * D
            P[f"{j}{layer}_i2h_weight"] = rng.uniform(-0.5, 0.5, (G * H, ni))
            P[f"{j}{layer}_h2h_weight"] = rng.uniform(-0.5, 0.5, (G * H, H))
            P[f"{j}{layer}_i2h_bias"] = rng.uniform(-0.5, 0.5, G * H)
            P[f"{j}{layer}_h2h_bias"] = rng.uniform(-0.5, 0.5, G * H)
    x = rng.standard_normal((T, N, C))
    states = [rng.standard_normal((layers * D, N, H)) for _ in range(2 if mode == "lstm" else 1)]
    f64 = [nd.array(a, dtype="float64") for a in [x, _packed(P, layers, D)] + states]
    outs = nd.RNN(*f64, state_size=H, num_layers=layers, bidirectional=bidirectional,
                  mode=mode, state_outputs=True)
    ref_out, ref_states = ref_layer(mode, x, states, P, layers, D)
    for got, want in zip(outs, [ref_out] + ref_states):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-12)
    only = nd.RNN(*f64, state_size=H, num_layers=layers, bidirectional=bidirectional,
                  mode=mode)
    np.testing.assert_allclose(only.asnumpy(), ref_out, rtol=1e-12)
    compiled = mx.jit(lambda *a: nd.RNN(*a, state_size=H, num_layers=layers,
                                        bidirectional=bidirectional, mode=mode,
                                        state_outputs=True))(*f64)
    for got, want in zip(compiled, [ref_out] + ref_states):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10)


def test_nd_rnn_operator_checks_its_parameter_vector():
    with pytest.raises(mx.base.MXNetError, match=r"needs parameters of shape \(32,\)"):
        nd.RNN(nd.ones((2, 1, 2)), nd.ones((33,)), nd.zeros((1, 1, 4)), state_size=4,
               mode="rnn_relu")
    with pytest.raises(mx.base.MXNetError, match="state_cell"):
        nd.RNN(nd.ones((2, 1, 2)), nd.ones((128,)), nd.zeros((1, 1, 4)), state_size=4)


class _Unrolled(gluon.HybridBlock):
    """A block unrolling a cell stack over its input: hybridize traces the whole sequence."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.stack = rnn.HybridSequentialRNNCell()
            with self.stack.name_scope():
                self.stack.add(rnn.ResidualCell(rnn.GRUCell(2, input_size=2)))
                self.stack.add(rnn.LSTMCell(3, input_size=2))
            self.bi = rnn.BidirectionalCell(rnn.RNNCell(2, input_size=3),
                                            rnn.LSTMCell(2, input_size=3))

    def hybrid_forward(self, F, x):
        out, _ = self.stack.unroll(3, x, layout="NTC", merge_outputs=True)
        out, states = self.bi.unroll(3, out, layout="NTC", merge_outputs=True)
        return out + states[-1].sum()


def test_cell_containers_hybridized_match_eager():
    rng = np.random.default_rng(10)
    net = _Unrolled()
    net.initialize()
    randomize(net, rng)
    x = nd.array(rng.standard_normal((2, 3, 2)), dtype="float64")

    def run():
        xs = nd.array(x, dtype="float64")
        xs.attach_grad()
        with autograd.record():
            y = net(xs)
            (y * y).sum().backward()
        return [y.asnumpy(), xs.grad.asnumpy()] + [
            p.grad().asnumpy() for p in net.collect_params().values()]
    eager = run()
    net.hybridize()
    before = mx.stats()
    compiled = run()
    after = mx.stats()
    assert after["traces"] > before["traces"]
    assert after["eager_fallbacks"] == before["eager_fallbacks"]
    for a, b in zip(compiled, eager):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode,bidirectional", [("lstm", False), ("gru", True)])
def test_long_sequence_compiles_one_loop_and_matches_eager(mode, bidirectional):
    """Past contrib.FOREACH_UNROLL steps a hybridized layer's time loop is one while_loop op
    (its step compiled once), with values and every gradient equal to the eager layer's."""
    T = 12
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, 3, 4))

    def run(hybridize):
        layer = {"lstm": rnn.LSTM, "gru": rnn.GRU}[mode](5, num_layers=2, input_size=4,
                                                         bidirectional=bidirectional)
        layer.initialize(mx.init.Xavier(rnd_type="uniform"))
        for i, p in enumerate(layer.collect_params().values()):
            p.set_data(nd.array(np.random.default_rng(i).uniform(-0.5, 0.5, p.shape)))
        if hybridize:
            layer.hybridize()
        xs = nd.array(x)
        xs.attach_grad()
        with autograd.record():
            y = layer(xs)
            head = (y * y).sum()
        head.backward()
        grads = [p.grad().asnumpy() for p in layer.collect_params().values()]
        return layer, y.asnumpy(), xs.grad.asnumpy(), grads

    _, y0, gx0, g0 = run(False)
    layer, y1, gx1, g1 = run(True)
    assert "while_loop" in str(layer.ir("traced"))
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-4, atol=1e-5)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
