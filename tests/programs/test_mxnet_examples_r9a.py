"""MXNet 1.9.1's example programs, shortened to a few synthetic steps and checked against
float64 numpy: sparse/ (factorization_machine: a csr batch, row_sparse weights,
_internal._square_sum, lazy Adam; linear_classification: a Custom weighted softmax loss under
MakeLoss; matrix_factorization: sparse Embedding lookups from a dict NDArrayIter of strings;
wide_deep: slice / split / Embedding of float indices / concat), gluon/ (house_prices' RMSE of
logs, lstm_crf's CRF against brute force, style_transfer's layers), numpy-ops/ (custom
softmax, a custom op keeping csr storage, a prop whose infer_shape gives two lists),
stochastic-depth/ (a BaseModule subclass inside a SequentialModule) and dsd/ (a pruning SGD
subclass). The programs' own code is copied as written there."""
import itertools
import logging
from math import ceil
from operator import itemgetter

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd

import example_custom_softmax


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# ------------------------------------------------------------------ sparse/factorization_machine
def factorization_machine_model(factor_size, num_features,
                                lr_mult_config, wd_mult_config, init_config):
    """factorization_machine/model.py, as written there."""
    x = mx.symbol.Variable("data", stype='csr')
    v = mx.symbol.Variable("v", shape=(num_features, factor_size), stype='row_sparse',
                           init=init_config['v'], lr_mult=lr_mult_config['v'],
                           wd_mult=wd_mult_config['v'])
    w = mx.symbol.Variable('w', shape=(num_features, 1), stype='row_sparse',
                           init=init_config['w'], lr_mult=lr_mult_config['w'],
                           wd_mult=wd_mult_config['w'])
    w0 = mx.symbol.Variable('w0', shape=(1,), init=init_config['w0'],
                            lr_mult=lr_mult_config['w0'], wd_mult=wd_mult_config['w0'])
    w1 = mx.symbol.broadcast_add(mx.symbol.dot(x, w), w0)
    v_s = mx.symbol._internal._square_sum(data=v, axis=1, keepdims=True)
    x_s = x.square()
    bd_sum = mx.sym.dot(x_s, v_s)
    w2 = mx.symbol.dot(x, v)
    w2_squared = 0.5 * mx.symbol.square(data=w2)
    w_all = mx.symbol.Concat(w1, w2_squared, dim=1)
    sum1 = w_all.sum(axis=1, keepdims=True)
    sum2 = -0.5 * bd_sum
    model = sum1 + sum2
    y = mx.symbol.Variable("softmax_label")
    model = mx.symbol.LogisticRegressionOutput(data=model, label=y)
    return model


@mx.metric.register
@mx.metric.alias('log_loss')
class LogLossMetric(mx.metric.EvalMetric):
    """factorization_machine/metric.py, as written there (docstrings cut)."""
    def __init__(self, eps=1e-12, name='log-loss',
                 output_names=None, label_names=None):
        super(LogLossMetric, self).__init__(
            name, eps=eps,
            output_names=output_names, label_names=label_names)
        self.eps = eps

    def update(self, labels, preds):
        mx.metric.check_label_shapes(labels, preds)
        for label, pred in zip(labels, preds):
            label = label.asnumpy()
            pred = pred.asnumpy()
            pred = np.column_stack((1 - pred, pred))
            label = label.ravel()
            num_examples = pred.shape[0]
            assert label.shape[0] == num_examples, (label.shape[0], num_examples)
            prob = pred[np.arange(num_examples, dtype=np.int64), np.int64(label)]
            self.sum_metric += (-np.log(prob + self.eps)).sum()
            self.num_inst += num_examples


@mx.metric.register
@mx.metric.alias('auc')
class AUCMetric(mx.metric.EvalMetric):
    def __init__(self, eps=1e-12):
        super(AUCMetric, self).__init__(
            'auc')
        self.eps = eps

    def update(self, labels, preds):
        mx.metric.check_label_shapes(labels, preds)
        label_weight = labels[0].asnumpy()
        preds = preds[0].asnumpy()
        tmp = []
        for i in range(preds.shape[0]):
            tmp.append((label_weight[i], preds[i]))
        tmp = sorted(tmp, key=itemgetter(1), reverse=True)
        label_sum = label_weight.sum()
        if label_sum == 0 or label_sum == label_weight.size:
            raise Exception("AUC with one class is undefined")
        label_one_num = np.count_nonzero(label_weight)
        label_zero_num = len(label_weight) - label_one_num
        total_area = label_zero_num * label_one_num
        height = 0
        width = 0
        area = 0
        for a, _ in tmp:
            if a == 1.0:
                height += 1.0
            else:
                width += 1.0
                area += height
        self.sum_metric += area / total_area
        self.num_inst += 1


def _write_libsvm(path, n, nf, per_row, rs, untouched=()):
    dense = np.zeros((n, nf))
    label = np.arange(n) % 2
    lines = []
    cols = [c for c in range(nf) if c not in untouched]
    for i in range(n):
        idx = sorted(rs.choice(cols, per_row, replace=False))
        vals = np.float32(rs.rand(per_row) + 0.1)
        dense[i, idx] = vals
        lines.append(f"{label[i]} " + " ".join(f"{j}:{float(a)!r}" for j, a in zip(idx, vals)))
    path.write_text("\n".join(lines) + "\n")
    return dense, label


def test_factorization_machine_forward_and_lazy_adam_match_numpy(tmp_path):
    rs = np.random.RandomState(0)
    nf, k, bs = 20, 3, 5
    _write_libsvm(tmp_path / "train.svm", 10, nf, 3, rs, untouched=(nf - 1,))
    lr_config = {'v': 0.01, 'w': 0.1, 'w0': 0.1}
    wd_config = {'v': 0.001, 'w': 0.001, 'w0': 0.01}
    init_config = {'v': mx.initializer.Normal(0.1), 'w': mx.initializer.Normal(0.1),
                   'w0': mx.initializer.Normal(0.1)}
    model = factorization_machine_model(k, nf, lr_config, wd_config, init_config)
    train = mx.io.LibSVMIter(data_libsvm=str(tmp_path / "train.svm"), data_shape=(nf,),
                             batch_size=bs)
    mod = mx.mod.Module(symbol=model)
    mod.bind(data_shapes=train.provide_data, label_shapes=train.provide_label)
    mod.init_params()
    mod.init_optimizer(optimizer='adam', kvstore=mx.kvstore.create('local'),
                       optimizer_params=(('learning_rate', 1), ('wd', 1), ('beta1', 0.9),
                                         ('beta2', 0.999), ('epsilon', 1e-8)))
    params = mod.get_params()[0]
    assert params['v'].stype == 'row_sparse' and params['w0'].stype == 'default'
    P = {n: a.asnumpy().astype(np.float64) for n, a in params.items()}
    untouched_row = P['v'][nf - 1].copy()
    M = {n: np.zeros_like(a) for n, a in P.items()}
    V = {n: np.zeros_like(a) for n, a in P.items()}
    metric = mx.metric.create(['log_loss', 'auc'])
    losses, aucs = [], []

    def batch_row_ids(data_batch):
        idx = data_batch.data[0].indices
        return {'w': idx, 'v': idx}

    for t, batch in enumerate(train, start=1):
        assert batch.data[0].stype == "csr"
        mod.prepare(batch, sparse_row_id_fn=batch_row_ids)
        mod.forward_backward(batch)
        xb = batch.data[0].asnumpy().astype(np.float64)
        yb = batch.label[0].asnumpy().reshape(-1, 1)
        w, w0, v = P['w'], P['w0'], P['v']
        w2 = xb @ v
        z = xb @ w + w0 + 0.5 * (w2 ** 2).sum(1, keepdims=True) \
            - 0.5 * (xb ** 2) @ (v ** 2).sum(1, keepdims=True)
        p = _sigmoid(z)
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), p, rtol=1e-5)
        mod.update()
        mod.update_metric(metric, batch.label)
        losses.append(-np.log(np.where(yb == 1, p, 1 - p) + 1e-12))
        order = np.argsort(-p.ravel(), kind="stable")
        ranked = yb.ravel()[order]
        aucs.append(sum(ranked[:i].sum() for i in range(len(ranked)) if ranked[i] == 0)
                    / ((ranked == 1).sum() * (ranked == 0).sum()))
        g = p - yb        # LogisticRegressionOutput's gradient; rescale_grad = 1 / batch
        grads = {'w': xb.T @ g, 'w0': g.sum(0), 'v': xb.T @ (g * w2) - ((xb ** 2).T @ g) * v}
        rows = np.flatnonzero(np.any(xb != 0, axis=0))    # Adam's lazy rows
        for name, gr in grads.items():
            sel = rows if name != 'w0' else slice(None)
            gg = gr[sel] / bs + wd_config[name] * P[name][sel]
            M[name][sel] = 0.9 * M[name][sel] + 0.1 * gg
            V[name][sel] = 0.999 * V[name][sel] + 0.001 * gg ** 2
            lr = lr_config[name] * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            P[name][sel] -= lr * M[name][sel] / (np.sqrt(V[name][sel]) + 1e-8)
        got = mod.get_params()[0]
        for name in P:
            np.testing.assert_allclose(got[name].asnumpy(), P[name], rtol=1e-4, atol=1e-6)
    assert t == 2
    np.testing.assert_array_equal(mod.get_params()[0]['v'].asnumpy()[nf - 1],
                                  untouched_row.astype(np.float32))
    names, values = metric.get()
    assert names == ['log-loss', 'auc']
    np.testing.assert_allclose(values, [np.mean(losses), np.mean(aucs)], rtol=1e-5)


# ------------------------------------------------------------------ sparse/linear_classification
class WeightedSoftmaxCrossEntropyLoss(mx.operator.CustomOp):
    """linear_classification/weighted_softmax_ce.py, as written there."""

    def __init__(self, positive_cls_weight):
        self.positive_cls_weight = float(positive_cls_weight)

    def forward(self, is_train, req, in_data, out_data, aux):
        data = in_data[0]
        label = in_data[1]
        pred = mx.nd.SoftmaxOutput(data, label)
        self.assign(out_data[0], req[0], pred)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        label = in_data[1]
        pred = out_data[0]
        dx = pred - mx.nd.one_hot(label, 2)
        pos_cls_weight = self.positive_cls_weight
        scale_factor = ((1 + label * pos_cls_weight) / pos_cls_weight).reshape((pred.shape[0], 1))
        rescaled_dx = scale_factor * dx
        self.assign(in_grad[0], req[0], rescaled_dx)


@mx.operator.register("weighted_softmax_ce_loss")
class WeightedSoftmaxCrossEntropyLossProp(mx.operator.CustomOpProp):
    def __init__(self, positive_cls_weight):
        super(WeightedSoftmaxCrossEntropyLossProp, self).__init__(True)
        self.positive_cls_weight = positive_cls_weight
        assert(float(positive_cls_weight) > 0)

    def list_arguments(self):
        return ['data', 'label']

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shapes):
        data_shape = in_shapes[0]
        label_shape = (in_shapes[0][0],)
        output_shape = in_shapes[0]
        return [data_shape, label_shape], [output_shape], []

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return WeightedSoftmaxCrossEntropyLoss(self.positive_cls_weight)


def linear_model(num_features, positive_cls_weight):
    """linear_classification/linear_model.py, as written there."""
    x = mx.symbol.Variable("data", stype='csr')
    norm_init = mx.initializer.Normal(sigma=0.01)
    weight = mx.symbol.Variable("weight", shape=(num_features, 2),
                                init=norm_init, stype='row_sparse')
    bias = mx.symbol.Variable("bias", shape=(2,))
    dot = mx.symbol.sparse.dot(x, weight)
    pred = mx.symbol.broadcast_add(dot, bias)
    y = mx.symbol.Variable("softmax_label")
    model = mx.sym.Custom(pred, y, op_type='weighted_softmax_ce_loss',
                          positive_cls_weight=positive_cls_weight, name='out')
    return mx.sym.MakeLoss(model)


def test_linear_classification_weighted_custom_loss_trains_as_numpy(tmp_path):
    rs = np.random.RandomState(1)
    nf, bs, lr = 30, 5, 0.5
    _write_libsvm(tmp_path / "avazu", 10, nf, 4, rs)
    train = mx.io.LibSVMIter(data_libsvm=str(tmp_path / "avazu"), data_shape=(nf,),
                             batch_size=bs, num_parts=1, part_index=0)
    mod = mx.mod.Module(symbol=linear_model(nf, 2), data_names=['data'],
                        label_names=['softmax_label'])
    mod.bind(data_shapes=train.provide_data, label_shapes=train.provide_label)
    mod.init_params()
    mod.init_optimizer(optimizer=mx.optimizer.create('sgd', learning_rate=lr,
                                                     rescale_grad=1.0 / bs), kvstore=None)
    P = {n: a.asnumpy().astype(np.float64) for n, a in mod.get_params()[0].items()}
    metric = mx.metric.create(['nll_loss'])
    nll = []
    for batch in train:
        mod.prepare(batch, sparse_row_id_fn=lambda b: {'weight': b.data[0].indices})
        mod.forward_backward(batch)
        mod.update()
        mod.update_metric(metric, batch.label)
        x = batch.data[0].asnumpy().astype(np.float64)
        y = batch.label[0].asnumpy().astype(int)
        p = _softmax(x @ P['weight'] + P['bias'])
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), p, rtol=1e-5)
        nll.append(-np.log(p[np.arange(bs), y]))
        g = (p - np.eye(2)[y]) * ((1 + y * 2.0) / 2.0)[:, None]
        P['weight'] -= lr * x.T @ g / bs
        P['bias'] -= lr * g.sum(0) / bs
        got = mod.get_params()[0]
        for name in P:
            np.testing.assert_allclose(got[name].asnumpy(), P[name], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(metric.get()[1][0], np.concatenate(nll).mean(), rtol=1e-5)


# ------------------------------------------------------------------ sparse/matrix_factorization
def matrix_fact_net(factor_size, num_hidden, max_user, max_item, dense):
    """matrix_factorization/model.py, as written there."""
    user = mx.sym.Variable('user')
    item = mx.sym.Variable('item')
    score = mx.sym.Variable('score')
    stype = 'default' if dense else 'row_sparse'
    sparse_grad = not dense
    user_weight = mx.sym.Variable('user_weight', stype=stype)
    item_weight = mx.sym.Variable('item_weight', stype=stype)
    user = mx.sym.Embedding(data=user, weight=user_weight, sparse_grad=sparse_grad,
                            input_dim=max_user, output_dim=factor_size)
    item = mx.sym.Embedding(data=item, weight=item_weight, sparse_grad=sparse_grad,
                            input_dim=max_item, output_dim=factor_size)
    user = mx.sym.Activation(data=user, act_type='relu')
    user_act = mx.sym.FullyConnected(data=user, num_hidden=num_hidden)
    item = mx.sym.Activation(data=item, act_type='relu')
    item_act = mx.sym.FullyConnected(data=item, num_hidden=num_hidden)
    pred = user_act * item_act
    pred = mx.sym.sum(data=pred, axis=1)
    pred = mx.sym.Flatten(data=pred)
    pred = mx.sym.LinearRegressionOutput(data=pred, label=score)
    return pred


def get_movielens_iter(filename, batch_size):
    """matrix_factorization/data.py's reader, as written there (strings to NDArrays)."""
    user = []
    item = []
    score = []
    with open(filename, 'r') as f:
        num_samples = 0
        for line in f:
            tks = line.strip().split('::')
            if len(tks) != 4:
                continue
            num_samples += 1
            user.append((tks[0]))
            item.append((tks[1]))
            score.append((tks[2]))
    user = mx.nd.array(user, dtype='int32')
    item = mx.nd.array(item)
    score = mx.nd.array(score)
    data_train = {'user': user, 'item': item}
    label_train = {'score': score}
    iter_train = mx.io.NDArrayIter(data=data_train, label=label_train,
                                   batch_size=batch_size, shuffle=True)
    return mx.io.PrefetchingIter(iter_train)


def test_matrix_factorization_reads_strings_and_updates_only_looked_up_rows(tmp_path):
    rs = np.random.RandomState(2)
    max_user, max_item, k, bs, lr = 12, 10, 4, 8, 0.1
    rows = [(rs.randint(1, 11), rs.randint(1, 9), rs.randint(1, 11) / 2) for _ in range(16)]
    (tmp_path / "r1.train").write_text(
        "".join(f"{u}::{i}::{s:g}::978300760\n" for u, i, s in rows) + "bad line\n")
    train_iter = get_movielens_iter(str(tmp_path / "r1.train"), bs)
    assert [d.name for d in train_iter.provide_data] == ['item', 'user']
    net = matrix_fact_net(k, k, max_user, max_item, dense=False)
    mod = mx.module.Module(net, context=[mx.cpu()], data_names=['user', 'item'],
                           label_names=['score'])
    mod.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    mod.init_params(initializer=mx.init.Xavier(factor_type="in", magnitude=2.34))
    mod.init_optimizer(optimizer=mx.optimizer.create('sgd', learning_rate=lr,
                                                     rescale_grad=1.0 / bs), kvstore='device')
    P = {n: a.asnumpy().astype(np.float64) for n, a in mod.get_params()[0].items()}
    fc = sorted(n for n in P if n.startswith('fullyconnected'))
    # the user's layer was made first (auto names count up across the process: compare
    # their numbers, not their text: fullyconnected10 < fullyconnected9 as strings)
    (uw, ub), (iw, ib) = [(n + "_weight", n + "_bias") for n in sorted(
        {n.rsplit('_', 1)[0] for n in fc}, key=lambda n: int(n[len("fullyconnected"):]))]
    seen_users = set()
    for batch in train_iter:
        item, user = (a.asnumpy().astype(int) for a in batch.data)
        # shuffling remade every array with nd.array(numpy): float32, as MXNet's does
        assert batch.data[1].dtype == np.float32
        score = batch.label[0].asnumpy().astype(np.float64)
        mod.prepare(batch, sparse_row_id_fn=lambda b: {
            'user_weight': b.data[1].astype(np.int64), 'item_weight': b.data[0].astype(np.int64)})
        mod.forward_backward(batch)
        mod.update()
        eu, ei = P['user_weight'][user], P['item_weight'][item]
        hu, hi = np.maximum(eu, 0), np.maximum(ei, 0)
        ua, ia = hu @ P[uw].T + P[ub], hi @ P[iw].T + P[ib]
        pred = (ua * ia).sum(1)
        # (atol: a prediction near 0 is a float32 sum that cancelled)
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy().ravel(), pred, rtol=1e-5,
                                   atol=1e-7)
        g = (pred - score)[:, None] / bs
        gua, gia = g * ia, g * ua
        ghu, ghi = (gua @ P[uw]) * (eu > 0), (gia @ P[iw]) * (ei > 0)
        P[uw] -= lr * gua.T @ hu
        P[ub] -= lr * gua.sum(0)
        P[iw] -= lr * gia.T @ hi
        P[ib] -= lr * gia.sum(0)
        np.subtract.at(P['user_weight'], user, lr * ghu)
        np.subtract.at(P['item_weight'], item, lr * ghi)
        seen_users |= set(user.tolist())
        got = mod.get_params()[0]
        for name in P:
            np.testing.assert_allclose(got[name].asnumpy(), P[name], rtol=1e-4, atol=1e-6)
    assert 0 not in seen_users      # (row 0 is never looked up, so it never moved)


# ------------------------------------------------------------------ sparse/wide_deep
def wide_deep_model(num_linear_features, num_embed_features, num_cont_features,
                    input_dims, hidden_units):
    """wide_deep/model.py, as written there."""
    csr_data = mx.symbol.Variable("csr_data", stype='csr')
    label = mx.symbol.Variable("softmax_label")
    norm_init = mx.initializer.Normal(sigma=0.01)
    weight = mx.symbol.Variable("linear_weight", shape=(num_linear_features, 2),
                                init=norm_init, stype='row_sparse')
    bias = mx.symbol.Variable("linear_bias", shape=(2,))
    dot = mx.symbol.sparse.dot(csr_data, weight)
    linear_out = mx.symbol.broadcast_add(dot, bias)
    dns_data = mx.symbol.Variable("dns_data")
    x = mx.symbol.slice(data=dns_data, begin=(0, 0),
                        end=(None, num_embed_features))
    embeds = mx.symbol.split(data=x, num_outputs=num_embed_features, squeeze_axis=1)
    x = mx.symbol.slice(data=dns_data, begin=(0, num_embed_features),
                        end=(None, num_embed_features + num_cont_features))
    features = [x]
    for i, embed in enumerate(embeds):
        embed_weight = mx.symbol.Variable('embed_%d_weight' % i, stype='row_sparse')
        features.append(mx.symbol.sparse.Embedding(data=embed, weight=embed_weight,
                        input_dim=input_dims[i], output_dim=hidden_units[0], sparse_grad=True))
    hidden = mx.symbol.concat(*features, dim=1)
    hidden = mx.symbol.FullyConnected(data=hidden, num_hidden=hidden_units[1])
    hidden = mx.symbol.Activation(data=hidden, act_type='relu')
    hidden = mx.symbol.FullyConnected(data=hidden, num_hidden=hidden_units[2])
    hidden = mx.symbol.Activation(data=hidden, act_type='relu')
    deep_out = mx.symbol.FullyConnected(data=hidden, num_hidden=2)
    out = mx.symbol.SoftmaxOutput(linear_out + deep_out, label, name='model')
    return out


def test_wide_deep_forward_is_numpys_and_a_checkpoint_predicts_the_same(tmp_path):
    rs = np.random.RandomState(3)
    n, n_lin, n_emb, n_cont, dims, hidden = 12, 40, 2, 3, [7, 9], [4, 6, 5]
    csr_dense = np.zeros((n, n_lin), np.float32)
    for r in range(n):
        csr_dense[r, rs.choice(n_lin, 3, replace=False)] = 1.0
    dns = np.concatenate([rs.randint(0, 7, (n, 1)), rs.randint(0, 9, (n, 1)),
                          rs.randn(n, n_cont)], axis=1)      # float64, as data.py makes it
    label = rs.randint(0, 2, n)
    model = wide_deep_model(n_lin, n_emb, n_cont, dims, hidden)
    it = mx.io.NDArrayIter({'csr_data': mx.nd.sparse.csr_matrix(csr_dense), 'dns_data': dns},
                           {'softmax_label': label}, 4, shuffle=True,
                           last_batch_handle='discard')
    mod = mx.mod.Module(symbol=model, context=mx.cpu(), data_names=['csr_data', 'dns_data'],
                        label_names=['softmax_label'])
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params()
    mod.init_optimizer(optimizer=mx.optimizer.create('adam', learning_rate=0.01,
                                                     rescale_grad=1.0 / 4))
    metric = mx.metric.create(['acc'])
    for batch in it:
        mod.forward_backward(batch)
        mod.update()
        mod.update_metric(metric, batch.label)
    P = {k: a.asnumpy().astype(np.float64) for k, a in mod.get_params()[0].items()}
    fcs = sorted({k.rsplit('_', 1)[0] for k in P if k.startswith('fullyconnected')},
                 key=lambda s: int(s[len('fullyconnected'):]))
    x = csr_dense.astype(np.float64)
    d = dns.astype(np.float32).astype(np.float64)
    h = np.concatenate([d[:, 2:], P['embed_0_weight'][d[:, 0].astype(int)],
                        P['embed_1_weight'][d[:, 1].astype(int)]], axis=1)
    for j, name in enumerate(fcs):
        h = h @ P[name + '_weight'].T + P[name + '_bias']
        if j < 2:
            h = np.maximum(h, 0)
    want = _softmax(x @ P['linear_weight'] + P['linear_bias'] + h)
    pred = mod.predict(mx.io.NDArrayIter({'csr_data': mx.nd.sparse.csr_matrix(csr_dense),
                                          'dns_data': dns}, None, 4,
                                         last_batch_handle='discard'))
    np.testing.assert_allclose(pred.asnumpy(), want, rtol=1e-4, atol=1e-6)

    mod.save_checkpoint(str(tmp_path / "checkpoint"), 0, save_optimizer_states=True)
    sym, arg_params, aux_params = mx.model.load_checkpoint(str(tmp_path / "checkpoint"), 0)
    mod2 = mx.mod.Module(symbol=sym, context=mx.cpu(), data_names=['csr_data', 'dns_data'],
                         label_names=['softmax_label'])
    mod2.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod2.set_params(arg_params=arg_params, aux_params=aux_params)
    it.reset()
    batch = next(iter(it))
    mod.forward(batch, is_train=False)
    mod2.forward(batch, is_train=False)
    np.testing.assert_allclose(mod2.get_outputs()[0].asnumpy(),
                               mod.get_outputs()[0].asnumpy(), rtol=1e-6)


# ------------------------------------------------------------------ gluon/house_prices
# kaggle_k_fold_cross_validation.py's loss, get_rmse_log and get_net as written there (its
# hidden layer's width a parameter)
square_loss = gluon.loss.L2Loss()


def get_rmse_log(net, X_train, y_train):
    num_train = X_train.shape[0]
    clipped_preds = nd.clip(net(X_train), 1, float('inf'))
    return np.sqrt(2 * nd.sum(square_loss(
        nd.log(clipped_preds), nd.log(y_train))).asscalar() / num_train)


def get_net(units=50):
    net = gluon.nn.Sequential()
    with net.name_scope():
        net.add(gluon.nn.Dense(units, activation="relu"))
        net.add(gluon.nn.Dense(1))
    net.initialize()
    return net


def test_house_prices_k_fold_training_and_rmse_of_logs():
    """kaggle_k_fold_cross_validation.py's get_net / train / get_rmse_log as written there,
    on synthetic features (its pandas preprocessing replaced by arrays)."""

    def train(net, X_train, y_train, epochs, verbose_epoch, learning_rate,
              weight_decay, batch_size):
        dataset_train = gluon.data.ArrayDataset(X_train, y_train)
        data_iter_train = gluon.data.DataLoader(dataset_train, batch_size, shuffle=True)
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {'learning_rate': learning_rate, 'wd': weight_decay})
        net.initialize(force_reinit=True)
        for epoch in range(epochs):
            for data, label in data_iter_train:
                with autograd.record():
                    output = net(data)
                    loss = square_loss(output, label)
                loss.backward()
                trainer.step(batch_size)
                avg_loss = get_rmse_log(net, X_train, y_train)
        return avg_loss

    rs = np.random.RandomState(4)
    X = rs.randn(16, 6)
    y = np.exp(rs.randn(16) * 0.3 + 3)
    X_train, y_train = nd.array(X), nd.array(y)
    assert X_train.dtype == np.float32          # nd.array of float64 numpy: float32
    k, fold = 2, 8
    test_losses = []
    for test_idx in range(k):
        parts = [i for i in range(k) if i != test_idx]
        X_val_train = nd.concat(*[X_train[i * fold:(i + 1) * fold, :] for i in parts], dim=0)
        y_val_train = nd.concat(*[y_train[i * fold:(i + 1) * fold] for i in parts], dim=0)
        net = get_net()
        train_loss = train(net, X_val_train, y_val_train, 2, 0, 0.3, 100, 3)
        assert np.isfinite(train_loss)
        X_val_test = X_train[test_idx * fold:(test_idx + 1) * fold, :]
        y_val_test = y_train[test_idx * fold:(test_idx + 1) * fold]
        pred = net(X_val_test).asnumpy().astype(np.float64)
        assert pred.shape == (fold, 1)
        want = np.sqrt(np.mean((np.log(np.maximum(pred[:, 0], 1))
                                - np.log(y[test_idx * fold:(test_idx + 1) * fold])) ** 2))
        got = get_rmse_log(net, X_val_test, y_val_test)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        test_losses.append(got)
    # L2Loss reshapes the (B,) label like the (B, 1) prediction: no broadcast to (B, B)
    out = square_loss(nd.array([[1.0], [2.0]]), nd.array([0.0, 4.0]))
    np.testing.assert_allclose(out.asnumpy(), [0.5, 2.0])


def test_house_prices_k_fold_with_l2_loss_and_adam_weight_decay():
    """The fold assembly of k_fold_cross_valid, L2Loss's label reshaped to the prediction's
    shape, train()'s Adam with weight decay (one step against its formula) after a
    force_reinit, and the training fold's log-rmse falling at a sane learning rate."""
    rs = np.random.RandomState(0)
    k, n, d = 3, 12, 5
    X_train = nd.array(rs.randn(n, d))
    y_train = nd.array(rs.rand(n) * 5 + 0.5)       # (n,) beside the net's (n, 1)
    fold_size = n // k
    # the fold assembly of k_fold_cross_valid for test_idx = 1
    X_val_test = X_train[fold_size: 2 * fold_size, :]
    X_val_train = nd.concat(X_train[0:fold_size, :], X_train[2 * fold_size:3 * fold_size, :],
                            dim=0)
    y_val_train = nd.concat(y_train[0:fold_size], y_train[2 * fold_size:3 * fold_size], dim=0)
    assert X_val_test.shape == (fold_size, d) and X_val_train.shape == (2 * fold_size, d)
    assert y_val_train.shape == (2 * fold_size,)

    net = get_net(8)
    pred = net(X_val_train)
    loss = square_loss(pred, y_val_train)          # the label is reshaped to (8, 1)
    np.testing.assert_allclose(loss.asnumpy(), 0.5 * (pred.asnumpy()[:, 0]
                                                      - y_val_train.asnumpy()) ** 2, rtol=1e-5)
    p = np.maximum(net(X_val_train).asnumpy()[:, 0], 1)
    np.testing.assert_allclose(get_rmse_log(net, X_val_train, y_val_train), np.sqrt(
        np.mean((np.log(p) - np.log(y_val_train.asnumpy())) ** 2)), rtol=1e-5)

    # train(): adam with wd, after a force_reinit; one step on the whole fold as a batch
    lr, wd, batch_size = 0.3, 100.0, 2 * fold_size
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': lr, 'wd': wd})
    net.initialize(force_reinit=True)
    dense_out = net[1]
    b0 = dense_out.bias.data().asnumpy().copy()
    with autograd.record():
        out = net(X_val_train)
        loss = square_loss(out, y_val_train)
    loss.backward()
    g = (out.asnumpy()[:, 0] - y_val_train.asnumpy()).sum() / batch_size + wd * b0
    trainer.step(batch_size)
    m, v = 0.1 * g, 0.001 * g * g
    lr_t = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(dense_out.bias.data().asnumpy(),
                               b0 - lr_t * m / (np.sqrt(v) + 1e-8), rtol=1e-5)
    # a sane learning rate: the training fold's log-rmse falls
    net = get_net(8)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.05, 'wd': 0})
    it = gluon.data.DataLoader(gluon.data.ArrayDataset(X_val_train, y_val_train), 4,
                               shuffle=True)
    before = get_rmse_log(net, X_val_train, y_val_train)
    for epoch in range(15):
        for data, label in it:
            with autograd.record():
                loss = square_loss(net(data), label)
            loss.backward()
            trainer.step(4)
    assert get_rmse_log(net, X_val_train, y_val_train) < before


# ------------------------------------------------------------------ gluon/lstm_crf
START_TAG = "<START>"
STOP_TAG = "<STOP>"


def to_scalar(x):
    return int(x.asscalar())


def argmax(vec):
    idx = nd.argmax(vec, axis=1)
    return to_scalar(idx)


def prepare_sequence(seq, word2Idx):
    return nd.array([word2Idx[w] for w in seq])


def log_sum_exp(vec):
    max_score = nd.max(vec).asscalar()
    return nd.log(nd.sum(nd.exp(vec - max_score))) + max_score


class BiLSTM_CRF(gluon.Block):
    """lstm_crf/lstm_crf.py's model, as written there."""

    def __init__(self, vocab_size, tag2Idx, embedding_dim, hidden_dim):
        super(BiLSTM_CRF, self).__init__()
        with self.name_scope():
            self.embedding_dim = embedding_dim
            self.hidden_dim = hidden_dim
            self.vocab_size = vocab_size
            self.tag2idx = tag2Idx
            self.tagset_size = len(tag2Idx)
            self.word_embeds = gluon.nn.Embedding(vocab_size, embedding_dim)
            self.lstm = gluon.rnn.LSTM(hidden_dim // 2, num_layers=1, bidirectional=True)
            self.hidden2tag = gluon.nn.Dense(self.tagset_size)
            self.transitions = self.params.get("crf_transition_matrix",
                                               shape=(self.tagset_size, self.tagset_size))
            self.hidden = self.init_hidden()

    def init_hidden(self):
        return [nd.random.normal(shape=(2, 1, self.hidden_dim // 2)),
                nd.random.normal(shape=(2, 1, self.hidden_dim // 2))]

    def _forward_alg(self, feats):
        alphas = [[-10000.] * self.tagset_size]
        alphas[0][self.tag2idx[START_TAG]] = 0.
        alphas = nd.array(alphas)
        for feat in feats:
            alphas_t = []
            for next_tag in range(self.tagset_size):
                emit_score = feat[next_tag].reshape((1, -1))
                trans_score = self.transitions.data()[next_tag].reshape((1, -1))
                next_tag_var = alphas + trans_score + emit_score
                alphas_t.append(log_sum_exp(next_tag_var))
            alphas = nd.concat(*alphas_t, dim=0).reshape((1, -1))
        terminal_var = alphas + self.transitions.data()[self.tag2idx[STOP_TAG]]
        alpha = log_sum_exp(terminal_var)
        return alpha

    def _get_lstm_features(self, sentences):
        self.hidden = self.init_hidden()
        length = sentences.shape[0]
        embeds = self.word_embeds(sentences).reshape((length, 1, -1))
        lstm_out, self.hidden = self.lstm(embeds, self.hidden)
        lstm_out = lstm_out.reshape((length, self.hidden_dim))
        lstm_feats = self.hidden2tag(lstm_out)
        return nd.split(lstm_feats, num_outputs=length, axis=0, squeeze_axis=True)

    def _score_sentence(self, feats, tags_array):
        score = nd.array([0])
        tags_array = nd.concat(nd.array([self.tag2idx[START_TAG]]), *tags_array, dim=0)
        for idx, feat in enumerate(feats):
            score = score + \
                self.transitions.data()[to_scalar(tags_array[idx + 1]),
                                        to_scalar(tags_array[idx])] + \
                feat[to_scalar(tags_array[idx + 1])]
        score = score + self.transitions.data()[self.tag2idx[STOP_TAG],
                                                to_scalar(tags_array[int(tags_array.shape[0] - 1)])]
        return score

    def _viterbi_decode(self, feats):
        backpointers = []
        vvars = nd.full((1, self.tagset_size), -10000.)
        vvars[0, self.tag2idx[START_TAG]] = 0
        for feat in feats:
            bptrs_t = []
            viterbivars_t = []
            for next_tag in range(self.tagset_size):
                next_tag_var = vvars + self.transitions.data()[next_tag]
                best_tag_id = argmax(next_tag_var)
                bptrs_t.append(best_tag_id)
                viterbivars_t.append(next_tag_var[0, best_tag_id])
            vvars = (nd.concat(*viterbivars_t, dim=0) + feat).reshape((1, -1))
            backpointers.append(bptrs_t)
        terminal_var = vvars + self.transitions.data()[self.tag2idx[STOP_TAG]]
        best_tag_id = argmax(terminal_var)
        path_score = terminal_var[0, best_tag_id]
        best_path = [best_tag_id]
        for bptrs_t in reversed(backpointers):
            best_tag_id = bptrs_t[best_tag_id]
            best_path.append(best_tag_id)
        start = best_path.pop()
        assert start == self.tag2idx[START_TAG]
        best_path.reverse()
        return path_score, best_path

    def neg_log_likelihood(self, sentences, tags_list):
        feats = self._get_lstm_features(sentences)
        forward_score = self._forward_alg(feats)
        gold_score = self._score_sentence(feats, tags_list)
        return forward_score - gold_score

    def forward(self, sentences):
        lstm_feats = self._get_lstm_features(sentences)
        score, tag_seq = self._viterbi_decode(lstm_feats)
        return score, tag_seq


def _path_scores(T, E, start, stop):
    """Every tag path's score by brute force: T[to, from] transitions, E[t, tag] emissions."""
    L, K = E.shape
    paths = list(itertools.product(range(K), repeat=L))
    scores = []
    for path in paths:
        prev, s = start, 0.0
        for t, tag in enumerate(path):
            s += T[tag, prev] + E[t, tag]
            prev = tag
        scores.append(s + T[stop, prev])
    return paths, np.array(scores)


def test_lstm_crf_partition_gold_score_viterbi_and_gradient_are_brute_forces():
    mx.random.seed(1)
    training_data = [("georgia tech is a university".split(), "B I O O O".split()),
                     ("the wall street".split(), "B I I".split())]
    word2idx = {}
    for sentence, tags in training_data:
        for word in sentence:
            word2idx.setdefault(word, len(word2idx))
    tag2idx = {"B": 0, "I": 1, "O": 2, START_TAG: 3, STOP_TAG: 4}
    model = BiLSTM_CRF(len(word2idx), tag2idx, 5, 4)
    model.initialize(mx.init.Xavier(magnitude=2.24), ctx=mx.cpu())
    sentence, tags = training_data[1]
    feats = model._get_lstm_features(prepare_sequence(sentence, word2idx))
    assert len(feats) == 3 and feats[0].shape == (5,)
    E = np.stack([f.asnumpy() for f in feats]).astype(np.float64)
    tags_nd = nd.array([tag2idx[t] for t in tags])
    with autograd.record():
        nll = model._forward_alg(feats) - model._score_sentence(feats, tags_nd)
    nll.backward()
    T = model.transitions.data().asnumpy().astype(np.float64)
    paths, scores = _path_scores(T, E, 3, 4)
    logz = np.log(np.exp(scores - scores.max()).sum()) + scores.max()
    gold = scores[paths.index(tuple(tag2idx[t] for t in tags))]
    np.testing.assert_allclose(nll.asnumpy(), [logz - gold], rtol=1e-5)
    # d nll / d T = expected transition counts under the CRF minus the gold path's counts
    want = np.zeros_like(T)
    weights = np.exp(scores - logz)
    gold_path = tuple(tag2idx[t] for t in tags)
    for path, w in zip(paths, weights):
        for to, frm in zip(path + (4,), (3,) + path):
            want[to, frm] += w - (path == gold_path)
    np.testing.assert_allclose(model.transitions.grad().asnumpy(), want, rtol=1e-4, atol=1e-6)

    score, tag_seq = model._viterbi_decode(feats)
    best = int(np.argmax(scores))
    assert tag_seq == list(paths[best])
    assert score.shape == (1,)
    np.testing.assert_allclose(score.asnumpy(), [scores[best]], rtol=1e-5)

    # the program's training loop: one epoch of SGD steps on both sentences
    optimizer = gluon.Trainer(model.collect_params(), 'sgd', {'learning_rate': 0.01, 'wd': 1e-4})
    before = model.transitions.data().asnumpy().copy()
    for sentence, tags in training_data:
        with autograd.record():
            sentence_in = prepare_sequence(sentence, word2idx)
            targets = nd.array([tag2idx[t] for t in tags])
            neg_log_likelihood = model.neg_log_likelihood(sentence_in, targets)
            neg_log_likelihood.backward()
        optimizer.step(1)
        assert neg_log_likelihood.shape == (1,) and neg_log_likelihood.asscalar() > 0
    assert not np.allclose(model.transitions.data().asnumpy(), before)


# ------------------------------------------------------------------ gluon/style_transfer
class InstanceNorm(gluon.HybridBlock):
    """style_transfer/net.py's layers, as written there (__repr__ cut)."""

    def __init__(self, axis=1, momentum=0.9, epsilon=1e-5, center=True, scale=False,
                 beta_initializer='zeros', gamma_initializer='ones',
                 in_channels=0, **kwargs):
        super(InstanceNorm, self).__init__(**kwargs)
        self._kwargs = {'eps': epsilon}
        if in_channels != 0:
            self.in_channels = in_channels
        self.gamma = self.params.get('gamma', grad_req='write' if scale else 'null',
                                     shape=(in_channels,), init=gamma_initializer,
                                     allow_deferred_init=True)
        self.beta = self.params.get('beta', grad_req='write' if center else 'null',
                                    shape=(in_channels,), init=beta_initializer,
                                    allow_deferred_init=True)

    def hybrid_forward(self, F, x, gamma, beta):
        return F.InstanceNorm(x, gamma, beta,
                              name='fwd', **self._kwargs)


class ReflectancePadding(gluon.HybridBlock):
    def __init__(self, pad_width=None, **kwargs):
        super(ReflectancePadding, self).__init__(**kwargs)
        self.pad_width = pad_width

    def forward(self, x):
        return nd.pad(x, mode='reflect', pad_width=self.pad_width)


class ConvLayer(gluon.Block):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super(ConvLayer, self).__init__()
        padding = int(np.floor(kernel_size / 2))
        self.pad = ReflectancePadding(pad_width=(0, 0, 0, 0, padding, padding, padding, padding))
        self.conv2d = gluon.nn.Conv2D(in_channels=in_channels, channels=out_channels,
                                      kernel_size=kernel_size, strides=(stride, stride),
                                      padding=0)

    def forward(self, x):
        x = self.pad(x)
        out = self.conv2d(x)
        return out


class UpsampleConvLayer(gluon.Block):
    def __init__(self, in_channels, out_channels, kernel_size,
                 stride, upsample=None):
        super(UpsampleConvLayer, self).__init__()
        self.upsample = upsample
        self.reflection_padding = int(np.floor(kernel_size / 2))
        self.conv2d = gluon.nn.Conv2D(in_channels=in_channels,
                                      channels=out_channels,
                                      kernel_size=kernel_size, strides=(stride, stride),
                                      padding=self.reflection_padding)

    def forward(self, x):
        if self.upsample:
            x = nd.UpSampling(x, scale=self.upsample, sample_type='nearest')
        out = self.conv2d(x)
        return out


def gram_matrix(y):
    (b, ch, h, w) = y.shape
    features = y.reshape((b, ch, w * h))
    gram = nd.batch_dot(features, features, transpose_b=True) / (ch * h * w)
    return gram


class Inspiration(gluon.Block):
    def __init__(self, C, B=1):
        super(Inspiration, self).__init__()
        self.C = C
        self.weight = self.params.get('weight', shape=(1, C, C),
                                      init=mx.initializer.Uniform(),
                                      allow_deferred_init=True)
        self.gram = nd.random.uniform(shape=(B, C, C))

    def set_target(self, target):
        self.gram = target

    def forward(self, X):
        self.P = nd.batch_dot(nd.broadcast_to(self.weight.data(), shape=(self.gram.shape)),
                              self.gram)
        return nd.batch_dot(nd.SwapAxis(self.P, 1, 2).broadcast_to((X.shape[0], self.C, self.C)),
                            X.reshape((0, 0, X.shape[2] * X.shape[3]))).reshape(X.shape)


def _conv2d(x, w, b):
    """A stride-1 'valid' 2-d convolution in float64 (NCHW, OIHW)."""
    k = w.shape[2]
    n, _, h, wd = x.shape
    out = np.zeros((n, w.shape[0], h - k + 1, wd - k + 1))
    for i in range(k):
        for j in range(k):
            out += np.einsum("nchw,oc->nohw", x[:, :, i:i + h - k + 1, j:j + wd - k + 1],
                             w[:, :, i, j])
    return out + b.reshape(1, -1, 1, 1)


def test_style_transfer_layers_are_numpys_and_a_style_step_trains():
    rs = np.random.RandomState(5)
    x = rs.uniform(0, 255, (2, 3, 5, 5))
    X = nd.array(x)
    conv = ConvLayer(3, 4, kernel_size=3, stride=1)
    norm = InstanceNorm(in_channels=4)
    up = UpsampleConvLayer(4, 4, kernel_size=3, stride=1, upsample=2)
    ins = Inspiration(4)
    for blk in (conv, norm, up, ins):
        blk.initialize(mx.initializer.MSRAPrelu())
    assert norm.gamma.grad_req == 'null' and norm.beta.grad_req == 'write'
    c = conv(X)
    padded = np.pad(x.astype(np.float32).astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)),
                    mode='reflect')
    cw, cb = (p.data().asnumpy().astype(np.float64) for p in
              (conv.conv2d.weight, conv.conv2d.bias))
    c_np = _conv2d(padded, cw, cb)
    np.testing.assert_allclose(c.asnumpy(), c_np, rtol=1e-4, atol=1e-3)
    n = norm(c)
    mean, var = c_np.mean((2, 3), keepdims=True), c_np.var((2, 3), keepdims=True)
    n_np = (c_np - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(n.asnumpy(), n_np, rtol=1e-4, atol=1e-4)
    hybrid = InstanceNorm(in_channels=4)
    hybrid.initialize()
    hybrid.hybridize()
    np.testing.assert_allclose(hybrid(c).asnumpy(), n.asnumpy(), rtol=1e-5, atol=1e-5)
    u = up(n)
    uw, ub = (p.data().asnumpy().astype(np.float64) for p in (up.conv2d.weight, up.conv2d.bias))
    u_np = _conv2d(np.pad(n_np.repeat(2, 2).repeat(2, 3), ((0, 0), (0, 0), (1, 1), (1, 1))),
                   uw, ub)
    np.testing.assert_allclose(u.asnumpy(), u_np, rtol=1e-4, atol=1e-4)
    g = gram_matrix(u)
    f = u_np.reshape(2, 4, -1)
    g_np = np.einsum("bcx,bdx->bcd", f, f) / (4 * 10 * 10)
    np.testing.assert_allclose(g.asnumpy(), g_np, rtol=1e-4, atol=1e-6)

    ins.set_target(g[:1])
    cw_out = rs.randn(2, 4, 10, 10)
    with autograd.record():
        out = ins(u)
        total = (out * nd.array(cw_out)).sum()
    total.backward()
    W = ins.weight.data().asnumpy().astype(np.float64)[0]
    P = W @ g_np[0]
    np.testing.assert_allclose(out.asnumpy(), np.einsum("dc,bdx->bcx", P, f).reshape(u.shape),
                               rtol=1e-4, atol=1e-4)
    dP = sum(f[b] @ cw_out[b].reshape(4, -1).T for b in range(2))    # d total / d P
    np.testing.assert_allclose(ins.weight.grad().asnumpy()[0], dP @ g_np[0].T, rtol=1e-4,
                               atol=1e-5)

    # main.py's style loss (2 * style_weight * L2Loss of grams) trains the blocks with Adam
    params = gluon.ParameterDict()
    for blk in (conv, norm, up, ins):
        params.update(blk.collect_params())
    trainer = gluon.Trainer(params, 'adam', {'learning_rate': 0.05})
    mse_loss = gluon.loss.L2Loss()
    target = nd.array(g_np[1:].repeat(2, 0) * 0.5)
    losses = []
    for _ in range(3):
        with autograd.record():
            ins.set_target(gram_matrix(up(norm(conv(X))))[:1])
            y = ins(up(norm(conv(X))))
            style_loss = 2 * 5.0 * mse_loss(gram_matrix(y), target)
            style_loss.backward()
        trainer.step(2)
        losses.append(style_loss.sum().asscalar())
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------ numpy-ops
example_custom_softmax.register("softmax")


def _mlp(head):
    data = mx.symbol.Variable('data')
    fc1 = mx.symbol.FullyConnected(data=data, name='fc1', num_hidden=16)
    act1 = mx.symbol.Activation(data=fc1, name='relu1', act_type="relu")
    fc3 = mx.symbol.FullyConnected(data=act1, name='fc3', num_hidden=10)
    return head(fc3)


def test_custom_softmax_module_fits_as_softmax_output():
    rs = np.random.RandomState(6)
    X, Y = rs.rand(30, 12).astype(np.float32), rs.randint(0, 10, 30)
    results = []
    for head in (lambda s: mx.symbol.Custom(data=s, name='softmax', op_type='softmax'),
                 lambda s: mx.symbol.SoftmaxOutput(data=s, name='softmax')):
        mx.random.seed(0)
        train = mx.io.NDArrayIter(X, Y, 10, label_name='softmax_label')
        mod = mx.mod.Module(_mlp(head), context=mx.cpu())
        mod.fit(train_data=train, optimizer='sgd',
                optimizer_params={'learning_rate': 0.1, 'momentum': 0.9, 'wd': 0.00001},
                initializer=mx.init.Xavier(), num_epoch=1)
        results.append(mod.get_params()[0])
        assert mod.output_shapes == [('softmax_output', (10, 10))]
    for name in results[1]:
        np.testing.assert_allclose(results[0][name].asnumpy(), results[1][name].asnumpy(),
                                   rtol=1e-5, atol=1e-6)


class Sqr(mx.operator.CustomOp):
    """numpy-ops/custom_sparse_sqr.py, as written there."""

    def forward(self, is_train, req, in_data, out_data, aux):
        inp = in_data[0]
        if inp.stype == 'csr':
            csr_m = inp.data
            out = mx.nd.sparse.csr_matrix((csr_m * csr_m, inp.indices, inp.indptr),
                                          shape=inp.shape)
        else:
            out = inp * inp
        self.assign(out_data[0], req[0], out)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], 2 * mx.nd.sparse.elemwise_mul(in_data[0], out_grad[0]))


@mx.operator.register("sqr")
class SqrProp(mx.operator.CustomOpProp):
    def __init__(self):
        super(SqrProp, self).__init__(need_top_grad=True)

    def list_arguments(self):
        return ['data']

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], []

    def infer_type(self, in_type):
        return in_type, [in_type[0]], []

    def infer_storage_type(self, in_stype):
        if in_stype[0] == 'default':
            return ['default'], ['default'], []
        return ['csr'], ['csr'], []

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        if in_stype[0] == 'default':
            return ['default'], ['default'], ['default'], ['default'], []
        return ['csr'], ['csr'], ['csr'], ['default'], []

    def create_operator(self, ctx, shapes, dtypes):
        return Sqr()


def test_custom_sparse_sqr_keeps_csr_storage_through_its_storage_inference():
    rs = np.random.RandomState(7)
    for to_csr in (False, True):
        dense = rs.uniform(1, 10, size=(4, 10)) * (rs.rand(4, 10) < 0.5)
        x = mx.nd.array(dense)
        z = mx.nd.ones((4, 10))
        if to_csr:
            x, z = x.tostype('csr'), z.tostype('csr')
        x.attach_grad(stype='default')
        with mx.autograd.record():
            y = mx.nd.Custom(x, op_type='sqr')
            y.backward(out_grad=z)
        assert y.stype == ('csr' if to_csr else 'default') and x.grad.stype == 'default'
        d32 = dense.astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(y.asnumpy(), d32 ** 2, rtol=1e-6)
        np.testing.assert_allclose(x.grad.asnumpy(), 2 * d32, rtol=1e-6)
        if to_csr:
            np.testing.assert_array_equal(y.indptr.asnumpy(), x.indptr.asnumpy())


class WeightedLogisticRegression(mx.operator.CustomOp):
    """numpy-ops/weighted_logistic_regression.py, as written there."""

    def __init__(self, pos_grad_scale, neg_grad_scale):
        self.pos_grad_scale = float(pos_grad_scale)
        self.neg_grad_scale = float(neg_grad_scale)

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], mx.nd.divide(1, (1 + mx.nd.exp(- in_data[0]))))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        in_grad[0][:] = ((out_data[0] - 1) * in_data[1] * self.pos_grad_scale
                         + out_data[0] * (1 - in_data[1]) * self.neg_grad_scale) / \
            out_data[0].shape[1]


@mx.operator.register("weighted_logistic_regression")
class WeightedLogisticRegressionProp(mx.operator.CustomOpProp):
    def __init__(self, pos_grad_scale, neg_grad_scale):
        self.pos_grad_scale = pos_grad_scale
        self.neg_grad_scale = neg_grad_scale
        super(WeightedLogisticRegressionProp, self).__init__(False)

    def list_arguments(self):
        return ['data', 'label']

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shape):
        shape = in_shape[0]
        return [shape, shape], [shape]

    def create_operator(self, ctx, shapes, dtypes):
        return WeightedLogisticRegression(self.pos_grad_scale, self.neg_grad_scale)


def test_weighted_logistic_regression_prop_with_two_shape_lists_binds_and_scales():
    m, n = 2, 5
    pos, neg = 1, 0.1
    data = mx.sym.Variable('data')
    wlr = mx.sym.Custom(data, pos_grad_scale=pos, neg_grad_scale=neg, name='wlr',
                        op_type='weighted_logistic_regression')
    lr = mx.sym.LogisticRegressionOutput(data, name='lr')
    exe1 = wlr.simple_bind(ctx=mx.cpu(), data=(2 * m, n))
    exe2 = lr.simple_bind(ctx=mx.cpu(), data=(2 * m, n))
    assert exe1.arg_dict['wlr_label'].shape == (2 * m, n)
    x = np.random.RandomState(8).randn(2 * m, n)
    label = np.vstack([np.ones([m, n]), np.zeros([m, n])])
    for exe, name in ((exe1, 'wlr_label'), (exe2, 'lr_label')):
        exe.arg_dict['data'][:] = x
        exe.arg_dict[name][:] = label
        exe.forward(is_train=True)
        exe.backward()
    p = _sigmoid(x.astype(np.float32).astype(np.float64))
    for exe in (exe1, exe2):
        np.testing.assert_allclose(exe.outputs[0].asnumpy(), p, rtol=1e-6)
    np.testing.assert_allclose(exe1.grad_dict['data'].asnumpy(),
                               ((p - 1) * label * pos + p * (1 - label) * neg) / n, rtol=1e-5)
    np.testing.assert_allclose(exe2.grad_dict['data'].asnumpy(), (p - label) / n, rtol=1e-5)


# ------------------------------------------------------------------ stochastic-depth
class RandomNumberQueue(object):
    """stochastic-depth/sd_module.py, as written there."""

    def __init__(self, pool_size=1000):
        self._pool = np.random.rand(pool_size)
        self._index = 0

    def get_sample(self):
        if self._index >= len(self._pool):
            self._pool = np.random.rand(len(self._pool))
            self._index = 0
        self._index += 1
        return self._pool[self._index-1]


class StochasticDepthModule(mx.module.BaseModule):
    """stochastic-depth/sd_module.py, as written there. Stochastic depth module is a two branch computation: one is actual computing and the
    other is the skip computing (usually an identity map). This is similar to a Residual block,
    except that a random variable is used to randomly turn off the computing branch, in order
    to save computation during training.

    Parameters
    ----------
    symbol_compute: Symbol
        The computation branch.
    symbol_skip: Symbol
        The skip branch. Could be None, in which case an identity map will be automatically
        used. Note the two branch should produce exactly the same output shapes.
    data_names: list of str
        Default is `['data']`. Indicating the input names. Note if `symbol_skip` is not None,
        it should have the same input names as `symbol_compute`.
    label_names: list of str
        Default is None, indicating that this module does not take labels.
    death_rate: float
        Default 0. The probability of turning off the computing branch.
    """
    def __init__(self, symbol_compute, symbol_skip=None,
                 data_names=('data',), label_names=None,
                 logger=logging, context=mx.context.cpu(),
                 work_load_list=None, fixed_param_names=None,
                 death_rate=0):
        super(StochasticDepthModule, self).__init__(logger=logger)

        self._module_compute = mx.module.Module(
            symbol_compute, data_names=data_names,
            label_names=label_names, logger=logger,
            context=context, work_load_list=work_load_list,
            fixed_param_names=fixed_param_names)

        if symbol_skip is not None:
            self._module_skip = mx.module.Module(
                symbol_skip, data_names=data_names,
                label_names=label_names, logger=logger,
                context=context, work_load_list=work_load_list,
                fixed_param_names=fixed_param_names)
        else:
            self._module_skip = None

        self._open_rate = 1 - death_rate
        self._gate_open = True
        self._outputs = None
        self._input_grads = None
        self._rnd_queue = RandomNumberQueue()

    @property
    def data_names(self):
        return self._module_compute.data_names

    @property
    def output_names(self):
        return self._module_compute.output_names

    @property
    def data_shapes(self):
        return self._module_compute.data_shapes

    @property
    def label_shapes(self):
        return self._module_compute.label_shapes

    @property
    def output_shapes(self):
        return self._module_compute.output_shapes

    def get_params(self):
        params = self._module_compute.get_params()
        if self._module_skip:
            params = [x.copy() for x in params]
            skip_params = self._module_skip.get_params()
            for a, b in zip(params, skip_params):
                # make sure they do not contain duplicated param names
                assert len(set(a.keys()) & set(b.keys())) == 0
                a.update(b)
        return params

    def init_params(self, *args, **kwargs):
        self._module_compute.init_params(*args, **kwargs)
        if self._module_skip:
            self._module_skip.init_params(*args, **kwargs)

    def bind(self, *args, **kwargs):
        self._module_compute.bind(*args, **kwargs)
        if self._module_skip:
            self._module_skip.bind(*args, **kwargs)

    def init_optimizer(self, *args, **kwargs):
        self._module_compute.init_optimizer(*args, **kwargs)
        if self._module_skip:
            self._module_skip.init_optimizer(*args, **kwargs)

    def borrow_optimizer(self, shared_module):
        self._module_compute.borrow_optimizer(shared_module._module_compute)
        if self._module_skip:
            self._module_skip.borrow_optimizer(shared_module._module_skip)

    def forward(self, data_batch, is_train=None):
        if is_train is None:
            is_train = self._module_compute.for_training

        if self._module_skip:
            self._module_skip.forward(data_batch, is_train=True)
            self._outputs = self._module_skip.get_outputs()
        else:
            self._outputs = data_batch.data

        if is_train:
            self._gate_open = self._rnd_queue.get_sample() < self._open_rate
            if self._gate_open:
                self._module_compute.forward(data_batch, is_train=True)
                computed_outputs = self._module_compute.get_outputs()
                for i in range(len(self._outputs)):
                    self._outputs[i] += computed_outputs[i]

        else:  # do expectation for prediction
            self._module_compute.forward(data_batch, is_train=False)
            computed_outputs = self._module_compute.get_outputs()
            for i in range(len(self._outputs)):
                self._outputs[i] += self._open_rate * computed_outputs[i]

    def backward(self, out_grads=None):
        if self._module_skip:
            self._module_skip.backward(out_grads=out_grads)
            self._input_grads = self._module_skip.get_input_grads()
        else:
            self._input_grads = out_grads

        if self._gate_open:
            self._module_compute.backward(out_grads=out_grads)
            computed_input_grads = self._module_compute.get_input_grads()
            for i in range(len(self._input_grads)):
                self._input_grads[i] += computed_input_grads[i]

    def update(self):
        self._module_compute.update()
        if self._module_skip:
            self._module_skip.update()

    def update_metric(self, eval_metric, labels):
        self._module_compute.update_metric(eval_metric, labels)
        if self._module_skip:
            self._module_skip.update_metric(eval_metric, labels)

    def get_outputs(self, merge_multi_context=True):
        assert merge_multi_context, "Force merging for now"
        return self._outputs

    def get_input_grads(self, merge_multi_context=True):
        assert merge_multi_context, "Force merging for now"
        return self._input_grads


def get_conv(name, data, num_filter, kernel, stride, pad, with_relu, bn_momentum):
    """stochastic-depth/sd_mnist.py, as written there."""
    conv = mx.symbol.Convolution(name=name, data=data, num_filter=num_filter, kernel=kernel,
                                 stride=stride, pad=pad, no_bias=True)
    bn = mx.symbol.BatchNorm(name=name + '_bn', data=conv, fix_gamma=False,
                             momentum=bn_momentum, eps=2e-5)
    return (mx.symbol.Activation(name=name + '_relu', data=bn, act_type='relu')
            if with_relu else bn)


def _sd_branch(data, i):
    conv = get_conv(name='conv0_%d' % i, data=data, num_filter=2, kernel=(3, 3),
                    stride=(1, 1), pad=(1, 1), with_relu=True, bn_momentum=0.9)
    return get_conv(name='conv1_%d' % i, data=conv, num_filter=2, kernel=(3, 3),
                    stride=(1, 1), pad=(1, 1), with_relu=False, bn_momentum=0.9)


def _sd_head(data):
    act = mx.sym.Activation(data, act_type='relu')
    pred = mx.sym.FullyConnected(mx.sym.Flatten(act), num_hidden=3, name='head_fc')
    return mx.sym.SoftmaxOutput(pred, name='softmax')


def test_stochastic_depth_module_is_a_residual_block_and_a_closed_gate_keeps_updating():
    """sd_mnist.py's network as a SequentialModule: with the gate open the three modules
    compute (and train) as one residual Module; with it closed the block is the identity,
    yet its module still updates from its last gradients, as MXNet's Module.update does."""
    rs = np.random.RandomState(9)
    X, Y = rs.rand(4, 1, 4, 4).astype(np.float32), np.array([0, 1, 2, 1])
    it = mx.io.NDArrayIter(X, Y, 4, label_name='softmax_label')
    conv = get_conv(name='conv0', data=mx.symbol.Variable('data'), num_filter=2,
                    kernel=(3, 3), stride=(1, 1), pad=(1, 1), with_relu=True, bn_momentum=0.9)
    mod_seq = mx.mod.SequentialModule()
    mod_seq.add(mx.mod.Module(conv, label_names=None))
    sd = StochasticDepthModule(_sd_branch(mx.sym.Variable('data_0'), 0),
                               data_names=['data_0'], death_rate=0.5)
    sd._rnd_queue._pool = np.array([0.1, 0.9])     # the gate: open, then closed
    mod_seq.add(sd, auto_wiring=True)
    mod_seq.add(mx.mod.Module(_sd_head(mx.sym.Variable('data_final')),
                              data_names=['data_final']), auto_wiring=True, take_labels=True)
    mod_seq.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod_seq.init_params(initializer=mx.init.Xavier(magnitude=2.0))
    opt = {'learning_rate': 0.1, 'momentum': 0.9}
    mod_seq.init_optimizer(optimizer='sgd', optimizer_params=opt)

    single = mx.mod.Module(_sd_head(conv + _sd_branch(conv, 0)))
    single.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    arg, aux = mod_seq.get_params()
    single.init_params(arg_params=arg, aux_params=aux)
    single.init_optimizer(optimizer='sgd', optimizer_params=opt)
    batch = next(iter(it))

    mod_seq.forward(batch, is_train=True)
    single.forward(batch, is_train=True)
    np.testing.assert_allclose(mod_seq.get_outputs()[0].asnumpy(),
                               single.get_outputs()[0].asnumpy(), rtol=1e-5, atol=1e-7)
    mod_seq.backward()
    single.backward()
    mod_seq.update()
    single.update()
    got, want = mod_seq.get_params()[0], single.get_params()[0]
    for name in want:
        np.testing.assert_allclose(got[name].asnumpy(), want[name].asnumpy(), rtol=1e-5,
                                   atol=1e-6)

    # gate closed: the block passes its input through; conv0_0's weight moves on with the
    # stale gradient and momentum: w2 = w1 + 0.9 * m1 - lr * g1 = w1 + 1.9 * (w1 - w0)
    w0 = arg['conv0_0_weight'].asnumpy().astype(np.float64)
    w1 = got['conv0_0_weight'].asnumpy().astype(np.float64)
    batch = next(iter(mx.io.NDArrayIter(X, Y, 4, label_name='softmax_label')))
    mod_seq.forward(batch, is_train=True)
    assert not sd._gate_open
    base = mod_seq._modules[0].get_outputs()[0].asnumpy()
    head = mod_seq._modules[2]
    np.testing.assert_allclose(head._exec.arg_dict['data_final'].asnumpy(), base, rtol=1e-6)
    mod_seq.backward()
    mod_seq.update()
    w2 = mod_seq.get_params()[0]['conv0_0_weight'].asnumpy()
    np.testing.assert_allclose(w2, w1 + 1.9 * (w1 - w0), rtol=1e-4, atol=1e-6)

    # prediction: the expectation, input + open_rate * branch
    mod_seq.forward(batch, is_train=False)
    assert np.isfinite(mod_seq.get_outputs()[0].asnumpy()).all()


# ------------------------------------------------------------------ dsd
from tracegrad.ndarray import NDArray, topk, abs as NDabs   # noqa: E402  (dsd's imports)
from tracegrad.optimizer import SGD   # noqa: E402

log = 'Sparsity Update:\t'


@mx.optimizer.register
class SparseSGD(SGD):
    """dsd/sparse_sgd.py, as written there. The SGD optimizer with weight pruning.

    This class implements the optimizer described in the paper *DSD: Dense-Sparse-Dense Training for
    Deep Neural Networks*, available at https://arxiv.org/pdf/1607.04381.pdf

    The optimizer updates the weights the same way as done in SGD, but does the following
    preprocessing::

        if threshold given, all weights below the threshold in absolute value are pruned,
            mask    =   abs(weight) >= threshold
        if sparsity level given, the smallest (sparsity)% weights in absolute value are pruned
        (or the largest (100-sparsity)% weights in absolute value are used)
            mask    =   topk(abs(weight), ret_typ='mask', k=weight.size*(100-sparsity)/100)

        => mask[i,j]    =   {0 if weight[i,j] is pruned, 1 otherwise} (for a matrix representation)

        weight  =   weight  *   mask
        grad    =   grad    *   mask
        state   =   state   *   mask

    This optimizer accepts the following parameters in addition to those accepted
    by :class:`.SGD`.

    Parameters
    ----------
    pruning_switch_epoch : list of ints, optional
        The epochs at which there is a change in sparsity level (should be in ascending order).

    weight_sparsity : list of floats, optional
        The sparsity on the weights required on each iteration of sparse training.

    bias_sparsity : list of floats, optional
        The sparsity on the biases required on each iteration of sparse training.

    weight_threshold : list of floats, optional
        The absolute value threshold on the weights required on each iteration of sparse training.

    bias_threshold : list of floats, optional
        The absolute value threshold on the biases required on each iteration of sparse training.

    batches_per_epoch : int, optional
        The number of batches in each epoch.
        (The ceiling integer value of number_of_examples / batch_size)
    """
    def __init__(self, pruning_switch_epoch, batches_per_epoch,
                 weight_sparsity=None, bias_sparsity=None,
                 weight_threshold=None, bias_threshold=None, **kwargs):
        super(SparseSGD, self).__init__(**kwargs)

        self.masks = []
        self.masks_updated = False
        self.epoch = 0
        self.pruning_switch_epoch = pruning_switch_epoch
        self.batches_per_epoch = batches_per_epoch

        # get weight and bias sparsity percentages
        self.weight_sparsity = weight_sparsity
        self.bias_sparsity = bias_sparsity
        if weight_sparsity is not None:
            assert len(weight_sparsity) == len(bias_sparsity), \
                'weight_sparsity and bias_sparsity should have same length'
            assert len(weight_sparsity) == len(pruning_switch_epoch), \
                'pruning_switch_epoch and weight_sparsity should have same length'

        # get weight and bias sparsity thresholds
        self.weight_threshold = weight_threshold
        self.bias_threshold = bias_threshold
        if weight_threshold is not None:
            assert len(weight_threshold) == len(bias_threshold), \
                'weight_threshold and bias_threshold should have same length'
            assert len(weight_threshold) == len(pruning_switch_epoch), \
                'pruning_switch_epoch and weight_sparsity_threshold should have same length'

        # either percentages or thresholds must be given
        assert weight_sparsity is not None or weight_threshold is not None,\
            'weight_sparsity or weight_sparsity_threshold should be given'

    def update_masks(self, index, weight):
        """Updates the masks for sparse training.

        Parameters
        ----------
        index : int
            The index for weight.
        weight : NDArray
            The weight matrix.

        Returns
        -------
        boolean
            If the masks were changed
        """
        # determine number of updates without actually updating the count
        if index not in self._index_update_count:
            num_update = self.begin_num_update
        else:
            num_update = self._index_update_count[index]
        num_update += 1
        num_update = max(num_update, self.num_update)

        # calculate epoch
        epoch = int((num_update - 1) / self.batches_per_epoch) + 1

        # determine if masks need to be updated, and get corresponding parameters
        if index == 0:
            self.masks_updated = True
        if self.epoch != epoch:
            self.epoch = epoch
            if epoch == 1:
                self.masks_updated = False
                if self.weight_sparsity is not None:
                    logging.info(log + 'bias-sparsity={}, weight-sparsity={}'.format(self.bias_sparsity[0], self.weight_sparsity[0]))
                else:
                    logging.info(log + 'bias-threshold={}, weight-threshold={}'.format(self.bias_threshold[0], self.weight_threshold[0]))
            if self.pruning_switch_epoch[0] + 1 == epoch:
                self.masks_updated = False
                self.pruning_switch_epoch.pop(0)
                if self.weight_sparsity is not None:
                    self.weight_sparsity.pop(0)
                    self.bias_sparsity.pop(0)
                    logging.info(log + 'bias-sparsity={}, weight-sparsity={}'.format(self.bias_sparsity[0], self.weight_sparsity[0]))
                else:
                    self.weight_threshold.pop(0)
                    self.bias_threshold.pop(0)
                    logging.info(log + 'bias-threshold={}, weight-threshold={}'.format(self.bias_threshold[0], self.weight_threshold[0]))

        # update masks if needed
        if not self.masks_updated:
            # initialize masks
            if epoch == 1:
                self.masks.append(None)
            # if percentages are given
            if self.weight_sparsity is not None:
                if len(weight.shape) == 1:
                    sparsity = self.bias_sparsity[0]
                else:
                    sparsity = self.weight_sparsity[0]
                number_unpruned = int((100.0 - sparsity) * weight.size / 100.0)
                self.masks[index] = topk(NDabs(weight), axis=None, ret_typ='mask',
                                         k=number_unpruned)
            # if thresholds are given
            else:
                if len(weight.shape) == 1:
                    threshold = self.bias_threshold[0]
                else:
                    threshold = self.weight_threshold[0]
                self.masks[index] = NDabs(weight) >= threshold

        return not self.masks_updated

    def update(self, index, weight, grad, state):
        assert(isinstance(weight, NDArray))
        assert(isinstance(grad, NDArray))

        # preprocessing for pruning
        if self.update_masks(index, weight):
            weight[:] = weight * self.masks[index]
        grad[:] = grad * self.masks[index]
        if state is not None:
            state[:] = state * self.masks[index]

        super(SparseSGD, self).update(index, weight, grad, state)


def test_dsd_sparse_sgd_prunes_to_the_scheduled_sparsity(caplog):
    """dsd/mlp.py's fit with optimizer='sparsesgd': each epoch's masks keep the largest
    (100 - sparsity)% weights; pruned weights, their gradients and momenta stay zero."""
    data = mx.symbol.Variable('data')
    fc1 = mx.symbol.FullyConnected(data, name='fc1', num_hidden=16)
    act1 = mx.symbol.Activation(fc1, name='relu1', act_type="relu")
    fc3 = mx.symbol.FullyConnected(act1, name='fc3', num_hidden=4)
    sym = mx.symbol.SoftmaxOutput(fc3, name='sm')
    rs = np.random.RandomState(10)
    X, Y = rs.rand(20, 10).astype(np.float32), rs.randint(0, 4, 20)
    batch_size = 10
    train = mx.io.NDArrayIter(X, Y, batch_size, shuffle=True, label_name='sm_label')
    model = mx.mod.Module(sym, context=[mx.cpu()], data_names=['data'],
                          label_names=['sm_label'])
    seen = []

    def epoch_end(epoch, symbol, arg, aux):
        seen.append({k: (v.asnumpy() == 0).mean() for k, v in arg.items()})

    optimizer_params = {
        'learning_rate': 0.1, 'wd': 0.004, 'momentum': 0.9,
        'pruning_switch_epoch': [1, 2, 3], 'batches_per_epoch': ceil(20.0 / batch_size),
        'weight_sparsity': [0, 50, 75], 'bias_sparsity': [0, 0, 50],
        'weight_threshold': None, 'bias_threshold': None}
    with caplog.at_level(logging.INFO):
        model.fit(train, eval_metric='acc', epoch_end_callback=epoch_end, num_epoch=3,
                  optimizer='sparsesgd', optimizer_params=optimizer_params)
    assert [s['fc1_weight'] for s in seen] == [0.0, 0.5, 0.75]
    assert [s['fc3_weight'] for s in seen] == [0.0, 0.5, 0.75]
    # (a bias starts at 0: a dead unit's stays 0 unpruned; pruning makes half of them 0)
    assert seen[2]['fc1_bias'] >= 0.5 and seen[2]['fc3_bias'] >= 0.5
    assert "bias-sparsity=50, weight-sparsity=75" in caplog.text
