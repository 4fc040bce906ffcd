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
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-6)

def test_context_default_ctx_is_the_current_context_deprecated():
    with pytest.warns(DeprecationWarning, match="default_ctx"):
        assert mx.Context.default_ctx == mx.current_context() == mx.cpu(0)
    assert mx.Context.current_context() == mx.cpu(0)
