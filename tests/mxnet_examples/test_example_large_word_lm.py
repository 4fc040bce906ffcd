"""example/rnn/large_word_lm/model.py's sampled softmax: `prob_target` is a variable with no
shape, sized only through `true_pred - S.log(prob_target)`. MXNet's shape inference runs
backwards through one-input elementwise ops (ElemwiseShape<1, 1>: log, exp, scalar
arithmetic, ...), so Module.bind infers it; Activation infers forwards only."""
import numpy as np
import pytest

import tracegrad as mx
import tracegrad.symbol as S


def cross_entropy_loss(inputs, labels, rescale_loss=1):
    """ cross entropy loss with a mask """
    criterion = mx.gluon.loss.SoftmaxCrossEntropyLoss(weight=rescale_loss)
    loss = criterion(inputs, labels)
    mask = S.var('mask')
    loss = loss * S.reshape(mask, shape=(-1,))
    return S.make_loss(loss.mean())


def sampled_softmax(num_classes, num_samples, in_dim, inputs, weight, bias,
                    sampled_values, remove_accidental_hits=True):
    """The example's importance-sampled softmax."""
    sample, prob_sample, prob_target = sampled_values
    sample = S.var('sample', shape=(num_samples,), dtype='float32')
    label = S.var('label')
    label = S.reshape(label, shape=(-1,), name="label_reshape")
    sample_label = S.concat(sample, label, dim=0)
    sample_target_w = S.sparse.Embedding(data=sample_label, weight=weight,
                                         input_dim=num_classes, output_dim=in_dim,
                                         sparse_grad=True)
    sample_target_b = S.sparse.Embedding(data=sample_label, weight=bias,
                                         input_dim=num_classes, output_dim=1,
                                         sparse_grad=True)
    sample_w = S.slice(sample_target_w, begin=(0, 0), end=(num_samples, None))
    target_w = S.slice(sample_target_w, begin=(num_samples, 0), end=(None, None))
    sample_b = S.slice(sample_target_b, begin=(0, 0), end=(num_samples, None))
    target_b = S.slice(sample_target_b, begin=(num_samples, 0), end=(None, None))
    true_pred = S.sum(target_w * inputs, axis=1, keepdims=True) + target_b
    sample_b = S.reshape(sample_b, (-1,))
    sample_pred = S.FullyConnected(inputs, weight=sample_w, bias=sample_b,
                                   num_hidden=num_samples)
    if remove_accidental_hits:
        label_v = S.reshape(label, (-1, 1))
        sample_v = S.reshape(sample, (1, -1))
        neg = S.broadcast_equal(label_v, sample_v) * -1e37
        sample_pred = sample_pred + neg
    prob_sample = S.reshape(prob_sample, shape=(1, num_samples))
    p_target = true_pred - S.log(prob_target)
    p_sample = S.broadcast_sub(sample_pred, S.log(prob_sample))
    logits = S.concat(p_target, p_sample, dim=1)
    new_targets = S.zeros_like(label)
    return logits, new_targets


def test_unary_elementwise_ops_infer_their_input_from_the_consumer():
    a, b = S.var('a'), S.var('b')
    fc = S.FullyConnected(a, num_hidden=2, name='fc')
    for expr in (fc - S.log(b), fc * S.exp(b * 2 + 1), S.sqrt(S.abs(b)) + fc,
                 fc + S.softmax(S.negative(b), axis=1)):
        args, outs, _ = expr.infer_shape(a=(6, 3))
        assert dict(zip(expr.list_arguments(), args))['b'] == (6, 2)
        assert outs == [(6, 2)]
    # MXNet's Activation (and Dropout) shape functions need their input: nothing inferred
    with pytest.warns(UserWarning, match="b"):
        assert (fc - S.Activation(b, act_type='relu')).infer_shape(a=(6, 3))[0] is None


def test_sampled_softmax_binds_and_matches_numpy():
    n, dim, k, classes = 6, 4, 3, 10
    inputs = S.var('rnn_out')
    decoder_w = S.var("decoder_weight", stype='row_sparse')
    decoder_b = S.var("decoder_bias", shape=(classes, 1), stype='row_sparse')
    sample = S.var('sample', shape=(k,))
    prob_sample = S.var("prob_sample", shape=(k,))
    prob_target = S.var("prob_target")
    logits, new_targets = sampled_softmax(classes, k, dim, inputs, decoder_w, decoder_b,
                                          [sample, prob_sample, prob_target])
    loss = cross_entropy_loss(logits, new_targets, rescale_loss=2)
    shapes = dict(zip(loss.list_arguments(), loss.infer_shape(
        rnn_out=(n, dim), label=(n,), mask=(n,), decoder_weight=(classes, dim))[0]))
    assert shapes['prob_target'] == (n, 1) and shapes['prob_sample'] == (k,)

    mod = mx.mod.Module(mx.sym.Group([logits, loss]), context=mx.cpu(),
                        data_names=['rnn_out', 'mask'], label_names=['label'],
                        state_names=['sample', 'prob_sample', 'prob_target'])
    mod.bind(data_shapes=[('rnn_out', (n, dim)), ('mask', (n,))],
             label_shapes=[('label', (n,))], for_training=False)
    rng = np.random.RandomState(0)
    w = rng.randn(classes, dim).astype(np.float32)
    bias = rng.randn(classes, 1).astype(np.float32)
    mod.init_params(arg_params={'decoder_weight': mx.nd.array(w),
                                'decoder_bias': mx.nd.array(bias)}, allow_missing=False)
    x = rng.randn(n, dim).astype(np.float32)
    label = np.array([1, 4, 4, 7, 0, 2], dtype=np.float32)
    samp = np.array([4, 9, 3], dtype=np.float32)
    p_s, p_t = np.array([0.2, 0.05, 0.3]), rng.uniform(0.1, 0.5, (n, 1))
    mask = np.array([1, 1, 1, 1, 0, 1], dtype=np.float32)
    mod.set_states(states=[[mx.nd.array(samp)], [mx.nd.array(p_s)], [mx.nd.array(p_t)]])
    mod.forward(mx.io.DataBatch([mx.nd.array(x), mx.nd.array(mask)], [mx.nd.array(label)]))
    got_logits, got_loss = [o.asnumpy() for o in mod.get_outputs()]

    li = label.astype(int)
    true = (w[li] * x).sum(1, keepdims=True) + bias[li] - np.log(p_t)
    samp_pred = x @ w[samp.astype(int)].T + bias[samp.astype(int), 0]
    samp_pred = samp_pred + (li[:, None] == samp.astype(int)[None, :]) * -1e37
    want = np.concatenate([true, samp_pred - np.log(p_s)[None, :]], axis=1)
    np.testing.assert_allclose(got_logits, want, rtol=1e-5, atol=1e-5)
    z = want - want.max(1, keepdims=True)
    ce = -(z[:, 0] - np.log(np.exp(z).sum(1))) * 2
    np.testing.assert_allclose(got_loss, [(ce * mask).mean()], rtol=1e-5)
