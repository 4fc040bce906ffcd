"""gluon.rnn cells on mx.sym Symbols, as MXNet 1.x builds them for Module code: a step and
`unroll` return the unrolled graph, named as MXNet names it, whose values equal the cells
run on NDArrays with the same parameters (stacks, modifiers, bidirectional, valid_length)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd

H, C, N, T = 6, 4, 3, 5


def _cells():
    return {
        "rnn": lambda: gluon.rnn.RNNCell(H, prefix="rnn_"),
        "lstm": lambda: gluon.rnn.LSTMCell(H, prefix="lstm_"),
        "gru": lambda: gluon.rnn.GRUCell(H, prefix="gru_"),
    }


def _run(symbol, params, **inputs):
    """The Symbol's outputs for these parameter and input values."""
    args = {name: nd.array(v) for name, v in inputs.items()}
    args.update({name: p.data() for name, p in params.items()})
    args = {k: v for k, v in args.items() if k in symbol.list_arguments()}
    exe = symbol.bind(mx.cpu(), args)
    return [o.asnumpy() for o in exe.forward()]


def _data(seed=0):
    return np.random.default_rng(seed).standard_normal((N, T, C)).astype(np.float32)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_unrolled_cell_names_shapes_and_values(kind):
    cell = _cells()[kind]()
    inputs = [mx.sym.Variable(f"{kind}_t{t}_data") for t in range(T)]
    outputs, states = cell.unroll(T, inputs)
    group = mx.sym.Group(outputs)
    assert group.list_outputs() == [f"{kind}_t{t}_out_output" for t in range(T)]
    if kind == "lstm":
        assert states[1].list_outputs() == [f"lstm_t{T - 1}_state_output"]
    _, outs, _ = group.infer_shape(**{f"{kind}_t{t}_data": (N, C) for t in range(T)})
    assert outs == [(N, H)] * T

    cell.initialize(mx.init.Xavier())
    x = _data()
    eager_out, eager_states = cell.unroll(T, nd.array(x), merge_outputs=False)
    got = _run(mx.sym.Group(outputs + states), cell.collect_params(),
               **{f"{kind}_t{t}_data": x[:, t] for t in range(T)})
    for g, want in zip(got, [o.asnumpy() for o in eager_out + eager_states]):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


def test_one_symbol_split_merged_and_valid_length_through_a_module():
    data = mx.sym.var("data", shape=(N, T, C))
    valid = mx.sym.var("valid_length", shape=(N,))
    cell = gluon.rnn.LSTMCell(H)
    outs, states = cell.unroll(T, data, valid_length=valid, merge_outputs=True, layout="NTC")
    mod = mx.mod.Module(mx.sym.Group([outs, states[0]]), data_names=("data", "valid_length"),
                        label_names=None, context=mx.cpu())
    mod.bind(data_shapes=[("data", (N, T, C)), ("valid_length", (N,))], label_shapes=None)
    mod.init_params()
    x, lengths = _data(1), np.array([2, 5, 3], dtype=np.float32)
    mod.forward(mx.io.DataBatch([nd.array(x), nd.array(lengths)]), is_train=False)
    got_out, got_h = [o.asnumpy() for o in mod.get_outputs()]
    arg_params, _ = mod.get_params()
    cell.initialize()
    for name, p in cell.collect_params().items():
        p.set_data(arg_params[name])
    want_out, want_states = cell.unroll(T, nd.array(x), valid_length=nd.array(lengths),
                                        merge_outputs=True, layout="NTC")
    np.testing.assert_allclose(got_out, want_out.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h, want_states[0].asnumpy(), rtol=1e-5, atol=1e-6)
    for n, length in enumerate(lengths.astype(int)):     # past each length: zeros
        assert not got_out[n, length:].any()


def test_stacked_residual_zoneout_and_bidirectional_cells():
    stack = gluon.rnn.HybridSequentialRNNCell(prefix="stack_")
    with stack.name_scope():
        stack.add(gluon.rnn.LSTMCell(H, prefix="l0_"))
        stack.add(gluon.rnn.ResidualCell(gluon.rnn.GRUCell(H, prefix="l1_")))
        stack.add(gluon.rnn.ZoneoutCell(gluon.rnn.RNNCell(H, prefix="l2_"), 0.5, 0.5))
    bi = gluon.rnn.BidirectionalCell(gluon.rnn.LSTMCell(H, prefix="bl_"),
                                     gluon.rnn.GRUCell(H, prefix="br_"))
    for cell in (stack, bi):
        inputs = [mx.sym.Variable(f"t{t}_data") for t in range(T)]
        outputs, states = cell.unroll(T, inputs)
        if cell is bi:
            assert mx.sym.Group(outputs).list_outputs() == [f"bi_t{t}_output" for t in range(T)]
        cell.initialize(mx.init.Xavier())
        x = _data(2)
        # zoneout only draws while training: outside it, the base cells' graph
        eager_out, eager_states = cell.unroll(T, nd.array(x), merge_outputs=False)
        got = _run(mx.sym.Group(outputs + states), cell.collect_params(),
                   **{f"t{t}_data": x[:, t] for t in range(T)})
        for g, want in zip(got, [o.asnumpy() for o in eager_out + eager_states]):
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


def test_shape_inference_runs_no_value_checks():
    """Inference runs the ops on zero arrays: a SequenceLast of zero lengths is refused on
    data, never while shapes are worked out."""
    data, length = mx.sym.var("data"), mx.sym.var("length")
    last = mx.sym.SequenceLast(data, sequence_length=length, use_sequence_length=True)
    _, outs, _ = last.infer_shape(data=(T, N, C), length=(N,))
    assert outs == [(N, C)]
    with pytest.raises(mx.MXNetError, match="sequence_length must be in"):
        nd.SequenceLast(nd.ones((T, N, C)), sequence_length=nd.zeros((N,)),
                        use_sequence_length=True)


class _Unrolled(gluon.HybridBlock):
    def __init__(self, make):
        super().__init__()
        with self.name_scope():
            self.cell = make()

    def hybrid_forward(self, F, seq):
        return self.cell.unroll(inputs=seq, length=2, merge_outputs=True)[0]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_block_unrolling_a_cell_exports_one_variable_per_parameter(tmp_path, kind):
    net = _Unrolled(lambda: getattr(gluon.rnn, {"rnn": "RNNCell", "lstm": "LSTMCell",
                                                "gru": "GRUCell"}[kind])(hidden_size=3))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = nd.array(_data(3)[:, :2])
    want = net(x).asnumpy()
    net.export(str(tmp_path / "model"), epoch=0)
    graph = mx.sym.load(str(tmp_path / "model-symbol.json"))
    args = graph.list_arguments()
    assert len(args) == len(set(args)) == 5      # data and the cell's four parameters
    with pytest.warns(DeprecationWarning, match="default_ctx"):     # (as in MXNet 1.9)
        ctx = mx.Context.default_ctx
    back = gluon.SymbolBlock.imports(str(tmp_path / "model-symbol.json"), ["data"],
                                     str(tmp_path / "model-0000.params"), ctx=ctx)
    # (want is the compiled call's; the imported block runs eagerly: rounding apart)
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-5, atol=1e-7)

def test_context_default_ctx_is_the_current_context_deprecated():
    with pytest.warns(DeprecationWarning, match="default_ctx"):
        assert mx.Context.default_ctx == mx.current_context() == mx.cpu(0)
    assert mx.Context.current_context() == mx.cpu(0)


# ------------------------------------------------------------------ contrib cells
def _contrib_cells():
    rnn = gluon.contrib.rnn
    return {
        "conv1d_rnn": (lambda: rnn.Conv1DRNNCell((C, 7), 5, 3, 3, prefix="c1_"), (C, 7)),
        "conv2d_lstm": (lambda: rnn.Conv2DLSTMCell((C, 5, 6), 3, (3, 3), (3, 3),
                                                   prefix="c2_"), (C, 5, 6)),
        "conv1d_gru": (lambda: rnn.Conv1DGRUCell((C, 7), 5, 3, 3, i2h_pad=1, prefix="g1_"),
                       (C, 7)),
        "lstmp": (lambda: rnn.LSTMPCell(H, 3, prefix="p_"), (C,)),
        "vardrop": (lambda: rnn.VariationalDropoutCell(gluon.rnn.GRUCell(H, prefix="v_"),
                                                       drop_inputs=0.3, drop_states=0.3,
                                                       drop_outputs=0.3), (C,)),
    }


@pytest.mark.parametrize("kind", sorted(_contrib_cells()))
def test_contrib_cells_unroll_on_symbols_as_on_arrays(kind):
    make, step_shape = _contrib_cells()[kind]
    cell = make()
    inputs = [mx.sym.Variable(f"x{t}") for t in range(3)]
    outputs, states = cell.unroll(3, inputs)
    if kind != "vardrop":       # (the modifier names what its base cell names)
        prefix = cell.prefix
        assert mx.sym.Group(outputs).list_outputs() == [f"{prefix}t{t}_out_output"
                                                        for t in range(3)]
    cell.initialize(mx.init.Xavier())
    x = np.random.default_rng(1).standard_normal((N, 3) + step_shape).astype(np.float32)
    cell.reset()
    eager_out, eager_states = cell.unroll(3, nd.array(x), merge_outputs=False)  # (no record:
    got = _run(mx.sym.Group(outputs + states), cell.collect_params(),       # no dropout)
               **{f"x{t}": x[:, t] for t in range(3)})
    for g, want in zip(got, [o.asnumpy() for o in eager_out + eager_states]):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


def test_conv_cell_input_channels_given_as_0_come_from_the_first_input():
    cell = gluon.contrib.rnn.Conv1DLSTMCell((0, 7), 4, (3,), (3,))
    cell.initialize()
    out, _ = cell.unroll(3, nd.ones((2, 3, 5, 7)), merge_outputs=True)
    assert cell.i2h_weight.shape == (16, 5, 3) and out.shape == (2, 3, 4, 5)
    with pytest.raises(mx.MXNetError, match=r"a step takes inputs \(batch, \*\(5, 7\)\)"):
        cell.unroll(3, nd.ones((2, 3, 6, 7)))


@pytest.mark.parametrize("layout", ["TNC", "NTC"])
def test_dynamic_unroll_equals_unroll_with_valid_length_and_gradients(layout):
    dynamic_unroll = gluon.contrib.rnn.rnn_cell.dynamic_unroll
    rng = np.random.default_rng(2)
    shape = (T, N, C) if layout == "TNC" else (N, T, C)
    x = nd.array(rng.standard_normal(shape))
    valid = nd.array([2, 5, 4])
    states = [nd.array(rng.standard_normal((N, H))) for _ in range(2)]

    class Unrolled(gluon.HybridBlock):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell

        def hybrid_forward(self, F, x, h, c, valid):
            return dynamic_unroll(self.cell, x, [h, c], layout=layout, valid_length=valid)
    cell = gluon.rnn.LSTMCell(H, input_size=C)
    cell.initialize(mx.init.Xavier())
    results = []
    for way in ("unroll", "dynamic", "hybridized"):
        net = Unrolled(cell)
        if way == "hybridized":
            net.hybridize()
        cell.collect_params().zero_grad()
        with mx.autograd.record():
            if way == "unroll":
                out, final = cell.unroll(T, x, states, layout=layout, merge_outputs=True,
                                         valid_length=valid)
            else:
                out, final = net(x, *states, valid)
            total = (out * out).sum() + (final[0] * final[1]).sum()
        total.backward()
        results.append([out.asnumpy(), final[0].asnumpy(), final[1].asnumpy(),
                        cell.i2h_weight.grad().asnumpy().copy()])
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
