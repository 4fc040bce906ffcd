"""d2l.ai chapters 8-9 (recurrent networks), MXNet edition: the RNN from scratch (one-hot inputs,
parameters with attach_grad, gradient clipping), the concise model on rnn.RNN / LSTM / GRU with
begin_state, and the book's train_ch8 loop, which carries the state into the next batch with
`for s in state: s.detach()`: in MXNet that line does nothing (detach returns a new array), and
it is backward that cuts the state from the next batch's graph (it clears the graph it ran)."""
import math

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, init, nd, np, npx
from tracegrad.gluon import rnn

from d2l_book import RNNModel, grad_clipping
from numeric import central_differences

VOCAB, HIDDEN, STEPS, BATCH = 6, 5, 4, 3


def _scratch_params(seed=0):
    rs = onp.random.RandomState(seed)
    shapes = [(VOCAB, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN,), (HIDDEN, VOCAB), (VOCAB,)]
    params = [np.array(rs.normal(0, 0.5, s)) for s in shapes]
    for p in params:
        p.attach_grad()
    return params


def _rnn_scratch(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = np.tanh(np.dot(X, W_xh) + np.dot(H, W_hh) + b_h)
        outputs.append(np.dot(H, W_hq) + b_q)
    return np.concatenate(outputs, axis=0), (H,)


def _tokens(rs, n=BATCH):
    return rs.randint(0, VOCAB, (n, STEPS))


def _numpy_loss(params, tokens, targets, H0):
    """The same model and mean cross-entropy in float64 numpy."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, logits = H0, []
    for t in range(tokens.shape[1]):
        X = onp.eye(VOCAB)[tokens[:, t]]
        H = onp.tanh(X @ W_xh + H @ W_hh + b_h)
        logits.append(H @ W_hq + b_q)
    Z = onp.concatenate(logits)
    Z = Z - Z.max(axis=1, keepdims=True)
    logp = Z - onp.log(onp.exp(Z).sum(axis=1, keepdims=True))
    y = targets.T.reshape(-1)
    return -logp[onp.arange(len(y)), y].mean(), H


def _numeric_grads(params, tokens, targets, H0):
    """Central differences of the float64 reference loss in each parameter."""
    return central_differences(lambda: _numpy_loss(params, tokens, targets, H0)[0], params)


def test_one_hot_of_transposed_tokens():
    X = np.arange(10).reshape((2, 5))
    oh = npx.one_hot(X.T, 28)
    assert oh.shape == (5, 2, 28) and oh.dtype == onp.float32
    want = onp.eye(28, dtype='f4')[onp.arange(10).reshape(2, 5).T]
    onp.testing.assert_array_equal(oh.asnumpy(), want)


def test_scratch_rnn_gradients_match_finite_differences():
    params = _scratch_params()
    rs = onp.random.RandomState(1)
    tokens, targets = _tokens(rs), _tokens(rs)
    state = (np.zeros((BATCH, HIDDEN)),)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        y_hat, (H,) = _rnn_scratch(npx.one_hot(np.array(tokens).T, VOCAB), state, params)
        l = loss(y_hat, np.array(targets).T.reshape(-1)).mean()
    assert y_hat.shape == (STEPS * BATCH, VOCAB) and H.shape == (BATCH, HIDDEN)
    l.backward()
    ref_params = [p.asnumpy().astype('f8') for p in params]
    want, H_ref = _numpy_loss(ref_params, tokens, targets, onp.zeros((BATCH, HIDDEN)))
    assert float(l) == pytest.approx(want, rel=1e-5)
    onp.testing.assert_allclose(H.asnumpy(), H_ref, rtol=1e-5, atol=1e-6)
    for p, g in zip(params, _numeric_grads(ref_params, tokens, targets,
                                           onp.zeros((BATCH, HIDDEN)))):
        onp.testing.assert_allclose(p.grad.asnumpy(), g, rtol=1e-4, atol=1e-6)


def test_state_carried_into_the_next_batch_is_a_constant_there():
    """Sequential partitioning: batch 2 starts from batch 1's final state, which d2l
    'detaches' with a no-op. The gradient of batch 2 is that of a fresh graph starting at the
    state's value (truncated BPTT), not an error about a freed graph."""
    params = _scratch_params(2)
    rs = onp.random.RandomState(3)
    batches = [(_tokens(rs), _tokens(rs)) for _ in range(2)]
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    state = (np.zeros((BATCH, HIDDEN)),)
    for tokens, targets in batches:
        for s in state:
            s.detach()  # the book's line: returns a new array, changes nothing
        H0 = state[0].asnumpy().astype('f8')
        with autograd.record():
            y_hat, state = _rnn_scratch(npx.one_hot(np.array(tokens).T, VOCAB), state, params)
            l = loss(y_hat, np.array(targets).T.reshape(-1)).mean()
        l.backward()
    ref_params = [p.asnumpy().astype('f8') for p in params]
    assert float(l) == pytest.approx(_numpy_loss(ref_params, tokens, targets, H0)[0], rel=1e-5)
    for p, g in zip(params, _numeric_grads(ref_params, tokens, targets, H0)):
        onp.testing.assert_allclose(p.grad.asnumpy(), g, rtol=1e-4, atol=1e-6)
    # the head itself stays freed: differentiating it twice is still an error
    with pytest.raises(mx.MXNetError, match="retain_graph"):
        l.backward()


def test_a_graph_recorded_before_the_backward_that_freed_its_input_still_fails():
    """Only ops recorded after the free see a constant; one recorded before it (a second head
    of the same recording) would lose gradient paths silently, so it still raises."""
    x = np.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        h = x * x
        y1 = h.sum()
        y2 = (h * 3).sum()
    y1.backward()
    with pytest.raises(mx.MXNetError, match="retain_graph"):
        y2.backward()


def test_grad_clipping_rescales_to_the_global_norm():
    params = _scratch_params(4)
    grads = [onp.random.RandomState(i).randn(*p.shape).astype('f4') for i, p in enumerate(params)]
    for p, g in zip(params, grads):
        p.grad[:] = g
    norm = math.sqrt(sum(float((g.astype('f8') ** 2).sum()) for g in grads))

    class Net:
        pass
    net = Net()
    net.params = params
    grad_clipping(net, 1.0)
    for p, g in zip(params, grads):
        onp.testing.assert_allclose(p.grad.asnumpy(), g / norm, rtol=1e-5)
    grad_clipping(net, 10.0)  # already below theta: unchanged
    for p, g in zip(params, grads):
        onp.testing.assert_allclose(p.grad.asnumpy(), g / norm, rtol=1e-5)


@pytest.mark.parametrize("layer, n_states", [(rnn.RNN, 1), (rnn.GRU, 1), (rnn.LSTM, 2)])
def test_concise_layers_begin_state_and_shapes(layer, n_states):
    r = layer(HIDDEN, num_layers=2)
    r.initialize()
    state = r.begin_state(batch_size=BATCH)
    assert isinstance(state, list) and len(state) == n_states
    for s in state:
        assert isinstance(s, np.ndarray) and s.shape == (2, BATCH, HIDDEN)
        assert float(np.abs(s).sum()) == 0
    X = np.random.uniform(size=(STEPS, BATCH, VOCAB))
    Y, new_state = r(X, state)
    assert isinstance(Y, np.ndarray) and Y.shape == (STEPS, BATCH, HIDDEN)
    assert [s.shape for s in new_state] == [(2, BATCH, HIDDEN)] * n_states
    # the last layer's final hidden state is the output's last step
    onp.testing.assert_allclose(new_state[0].asnumpy()[-1], Y.asnumpy()[-1], rtol=1e-6)


def test_rnn_layer_default_activation_is_relu():
    """rnn.RNN(num_hiddens), as d2l builds it, is a ReLU RNN (MXNet's default)."""
    r = rnn.RNN(HIDDEN, input_size=VOCAB)
    r.initialize(init.Normal(0.5))
    X = np.random.normal(size=(STEPS, BATCH, VOCAB))
    Y = r(X)
    p = {k: v.data().asnumpy().astype('f8')
         for k, v in r._reg_params.items()}
    H = onp.zeros((BATCH, HIDDEN))
    for t in range(STEPS):
        x = X.asnumpy()[t].astype('f8')
        H = onp.maximum(0, x @ p['l0_i2h_weight'].T + p['l0_i2h_bias']
                        + H @ p['l0_h2h_weight'].T + p['l0_h2h_bias'])
    onp.testing.assert_allclose(Y.asnumpy()[-1], H, rtol=1e-5, atol=1e-6)


def _sequence_data(n_tokens, seed=0):
    """A periodic token stream (easy to learn) cut into (batch, steps) sequential batches."""
    rs = onp.random.RandomState(seed)
    period = rs.randint(0, VOCAB, 7)
    corpus = onp.tile(period, n_tokens // 7 + 2)
    batches = []
    width = (len(corpus) - 1) // BATCH
    Xs = corpus[:BATCH * width].reshape(BATCH, width)
    Ys = corpus[1:BATCH * width + 1].reshape(BATCH, width)
    for i in range(0, width - STEPS + 1, STEPS):
        batches.append((np.array(Xs[:, i:i + STEPS]), np.array(Ys[:, i:i + STEPS])))
    return batches


def _train_ch8(net, batches, lr, epochs):
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    net.initialize(force_reinit=True, init=init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr})
    ppl = []
    for _ in range(epochs):
        state, total, count = None, 0.0, 0
        for X, Y in batches:
            if state is None:
                state = net.begin_state(batch_size=X.shape[0])
            else:
                for s in state:
                    s.detach()
            y = Y.T.reshape(-1)
            with autograd.record():
                y_hat, state = net(X, state)
                l = loss(y_hat, y).mean()
            l.backward()
            grad_clipping(net, 1)
            trainer.step(1)
            total += float(l) * y.size
            count += y.size
        ppl.append(math.exp(total / count))
    return ppl


@pytest.mark.parametrize("layer", [rnn.RNN, rnn.GRU, rnn.LSTM])
def test_train_ch8_with_the_concise_model(layer):
    mx.random.seed(0)
    net = RNNModel(layer(16), VOCAB)
    # 3 batches x 2 epochs: fewer backward passes than make eager code compile its adjoint
    ppl = _train_ch8(net, _sequence_data(28), lr=4.0, epochs=2)
    assert all(math.isfinite(p) for p in ppl)
    assert ppl[-1] < ppl[0] - 0.05, ppl


def _lstm_steps(api, hybridize):
    """Two sequential batches through an LSTM layer, state carried with d2l's no-op detach;
    the gradients of the second batch."""
    mx.random.seed(5)
    layer = rnn.LSTM(HIDDEN, input_size=VOCAB)
    layer.initialize(init.Normal(0.3))
    if hybridize:
        layer.hybridize()
    rs = onp.random.RandomState(6)
    xs = [rs.randn(STEPS, BATCH, VOCAB).astype('f4') for _ in range(2)]
    make = np.array if api == 'np' else nd.array
    state = layer.begin_state(batch_size=BATCH)
    for x in xs:
        for s in state:
            s.detach()
        start = [s.asnumpy() for s in state]
        with autograd.record():
            Y, state = layer(make(x), state)
            l = (Y * Y).sum()
        l.backward()
    return start, x, [p.grad().asnumpy() for p in layer.collect_params().values()], layer


@pytest.mark.parametrize("api, hybridize", [('np', False), ('np', True), ('nd', False)])
def test_lstm_layer_state_from_the_last_batch_is_a_constant(api, hybridize):
    start, x, grads, layer = _lstm_steps(api, hybridize)
    fresh = [np.array(s) for s in start]
    with autograd.record():
        Y, _ = layer(np.array(x), fresh)
        l = (Y * Y).sum()
    l.backward()
    for g, p in zip(grads, layer.collect_params().values()):
        onp.testing.assert_allclose(g, p.grad().asnumpy(), rtol=1e-5, atol=1e-7)


def test_predict_ch8_style_warm_up_and_generation():
    """Prediction feeds one token at a time (batch 1), carrying the state, outside record."""
    mx.random.seed(1)
    net = RNNModel(rnn.GRU(8), VOCAB)
    net.initialize(init.Normal(0.1))
    state = net.begin_state(batch_size=1)
    outputs = [2]
    for y in [3, 1, 4]:
        _, state = net(np.array([outputs[-1]]).reshape((1, 1)), state)
        outputs.append(y)
    for _ in range(5):
        y, state = net(np.array([outputs[-1]]).reshape((1, 1)), state)
        assert y.shape == (1, VOCAB)
        outputs.append(int(y.argmax(axis=1).reshape(1)))
    assert len(outputs) == 9 and all(0 <= o < VOCAB for o in outputs)


def _carried_lstm_losses(capture_on, steps=8):
    """The nd-API word-LM loop with d2l's no-op detach, eager LSTM layer and a dense head."""
    mx.capture.set_enabled(capture_on)
    try:
        mx.random.seed(0)
        layer = rnn.LSTM(6, input_size=5)
        head = gluon.nn.Dense(3, in_units=6, flatten=False)
        for block in (layer, head):
            block.initialize(init.Xavier())
        params = list(layer.collect_params().values()) + list(head.collect_params().values())
        trainer = gluon.Trainer(params, 'sgd', {'learning_rate': 0.05})
        rs = onp.random.RandomState(0)
        state = layer.begin_state(batch_size=3)
        before, losses = mx.stats()["captured_steps"], []
        for _ in range(steps):
            X, Y = nd.array(rs.randn(4, 3, 5)), nd.array(rs.randn(4, 3, 3))
            for s in state:
                s.detach()
            with autograd.record():
                out, state = layer(X, state)
                l = gluon.loss.L2Loss()(head(out), Y)
            l.backward()
            trainer.step(3)
            losses.append(l.asnumpy())
        return losses, mx.stats()["captured_steps"] - before
    finally:
        mx.capture.set_enabled(True)


def test_carried_states_with_step_capture_match_eager(fresh_capture):
    npx.reset_np()
    try:
        (on, captured), (off, _) = _carried_lstm_losses(True), _carried_lstm_losses(False)
    finally:
        npx.set_np()
    assert captured >= 3
    for a, b in zip(on, off):
        onp.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
