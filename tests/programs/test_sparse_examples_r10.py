"""MXNet 1.9.1's example/sparse training programs run as their train.py (and wide_deep's
inference.py) main loops run them: two epochs over a few synthetic batches with the
iterator reset between, Speedometer, `mod.prepare(None, all_row_ids)` before `mod.score`,
and the checkpoints they write (row_sparse weights stored sparse, as MXNet's nd.save does),
each checked against a float64 numpy run of the same updates. The models are the programs'
own (test_mxnet_examples_r9a.py holds them as written there)."""
import logging

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import mxnet_format

from test_mxnet_examples_r9a import (_sigmoid, _softmax, _write_libsvm,  # noqa: F401
                                     factorization_machine_model, get_movielens_iter,
                                     linear_model, matrix_fact_net, wide_deep_model)


def _check_params(mod, P, rtol=1e-4, atol=1e-6):
    got = mod.get_params()[0]
    for name in P:
        np.testing.assert_allclose(got[name].asnumpy(), P[name], rtol=rtol, atol=atol,
                                   err_msg=name)


# ------------------------------------------------------------------ factorization_machine
def test_factorization_machine_train_py_two_epochs_and_eval_log_loss(tmp_path):
    rs = np.random.RandomState(10)
    nf, k, bs = 16, 3, 4
    _write_libsvm(tmp_path / "train.svm", 8, nf, 3, rs)
    ev_dense, ev_label = _write_libsvm(tmp_path / "test.svm", 8, nf, 3, rs)
    num_features = nf

    def batch_row_ids(data_batch):
        idx = data_batch.data[0].indices
        return {'w': idx, 'v': idx}

    def all_row_ids(data_batch):
        all_rows = mx.nd.arange(0, num_features, dtype='int64')
        return {'w': all_rows, 'v': all_rows}

    kv = mx.kvstore.create('local')
    train_data = mx.io.LibSVMIter(data_libsvm=str(tmp_path / "train.svm"),
                                  data_shape=(num_features,), batch_size=bs)
    eval_data = mx.io.LibSVMIter(data_libsvm=str(tmp_path / "test.svm"),
                                 data_shape=(num_features,), batch_size=bs)
    lr_config = {'v': 0.01, 'w': 0.05, 'w0': 0.1}
    wd_config = {'v': 0.001, 'w': 0.001, 'w0': 0.01}
    init_config = {'v': mx.initializer.Normal(0.1), 'w': mx.initializer.Normal(0.1),
                   'w0': mx.initializer.Normal(0.1)}
    model = factorization_machine_model(k, num_features, lr_config, wd_config, init_config)
    mod = mx.mod.Module(symbol=model)
    mod.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label)
    mod.init_params()
    optimizer_params = (('learning_rate', 1), ('wd', 1), ('beta1', 0.9),
                        ('beta2', 0.999), ('epsilon', 1e-8))
    mod.init_optimizer(optimizer='adam', kvstore=kv, optimizer_params=optimizer_params)
    P = {n: a.asnumpy().astype(np.float64) for n, a in mod.get_params()[0].items()}
    M = {n: np.zeros_like(a) for n, a in P.items()}
    V = {n: np.zeros_like(a) for n, a in P.items()}

    def predict(xb):
        w2 = xb @ P['v']
        z = xb @ P['w'] + P['w0'] + 0.5 * (w2 ** 2).sum(1, keepdims=True) \
            - 0.5 * (xb ** 2) @ (P['v'] ** 2).sum(1, keepdims=True)
        return _sigmoid(z), w2

    metric = mx.metric.create(['log_loss', 'auc'])
    speedometer = mx.callback.Speedometer(bs, 1)
    train_iter, eval_iter = iter(train_data), iter(eval_data)
    t, scores = 0, []
    for epoch in range(2):
        nbatch = 0
        metric.reset()
        for batch in train_iter:
            nbatch += 1
            mod.prepare(batch, sparse_row_id_fn=batch_row_ids)
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
            speedometer(mx.model.BatchEndParam(epoch=epoch, nbatch=nbatch,
                                               eval_metric=metric, locals=locals()))
            t += 1
            xb = batch.data[0].asnumpy().astype(np.float64)
            yb = batch.label[0].asnumpy().reshape(-1, 1)
            p, w2 = predict(xb)
            g = p - yb
            grads = {'w': xb.T @ g, 'w0': g.sum(0),
                     'v': xb.T @ (g * w2) - ((xb ** 2).T @ g) * P['v']}
            rows = np.flatnonzero(np.any(xb != 0, axis=0))      # lazy Adam's rows
            for name, gr in grads.items():
                sel = rows if name != 'w0' else slice(None)
                gg = gr[sel] / bs + wd_config[name] * P[name][sel]
                M[name][sel] = 0.9 * M[name][sel] + 0.1 * gg
                V[name][sel] = 0.999 * V[name][sel] + 0.001 * gg ** 2
                lr = lr_config[name] * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
                P[name][sel] -= lr * M[name][sel] / (np.sqrt(V[name][sel]) + 1e-8)
            _check_params(mod, P)
        assert nbatch == 2
        mod.prepare(None, all_row_ids)
        score = mod.score(eval_iter, ['log_loss'])
        p, _ = predict(ev_dense)
        want = -np.log(np.where(ev_label[:, None] == 1, p, 1 - p) + 1e-12).mean()
        assert score[0][0] == 'log-loss'
        np.testing.assert_allclose(score[0][1], want, rtol=1e-5)
        scores.append(score[0][1])
        train_iter.reset()
        eval_iter.reset()
    assert t == 4 and scores[0] != scores[1]


# ------------------------------------------------------------------ linear_classification
@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "adam"])
def test_linear_classification_train_py_score_and_sparse_checkpoint(tmp_path, optimizer,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    rs = np.random.RandomState(11)
    num_features, batch_size, lr = 24, 4, 0.3
    _write_libsvm(tmp_path / "avazu-app", 8, num_features, 3, rs)
    ev_dense, ev_label = _write_libsvm(tmp_path / "avazu-app.t", 8, num_features, 3, rs)

    def batch_row_ids(data_batch):
        return {'weight': data_batch.data[0].indices}

    def all_row_ids(data_batch):
        all_rows = mx.nd.arange(0, num_features, dtype='int64')
        return {'weight': all_rows}

    kv = None
    train_data = mx.io.LibSVMIter(data_libsvm="avazu-app", data_shape=(num_features,),
                                  batch_size=batch_size, num_parts=1, part_index=0)
    eval_data = mx.io.LibSVMIter(data_libsvm="avazu-app.t", data_shape=(num_features,),
                                 batch_size=batch_size)
    positive_class_weight = 2
    model = linear_model(num_features, positive_class_weight)
    mod = mx.mod.Module(symbol=model, data_names=['data'], label_names=['softmax_label'])
    mod.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label)
    mod.init_params()
    optim = mx.optimizer.create(optimizer, learning_rate=lr, rescale_grad=1.0 / batch_size)
    mod.init_optimizer(optimizer=optim, kvstore=kv)
    metric = mx.metric.create(['nll_loss'])
    speedometer = mx.callback.Speedometer(batch_size, 1)

    P = {n: a.asnumpy().astype(np.float64) for n, a in mod.get_params()[0].items()}
    S = {n: [np.zeros_like(a), np.zeros_like(a)] for n, a in P.items()}
    t = 0

    def update(name, g, rows):
        """MXNet 1.9.1's update of `name` (weight: row_sparse gradient, its rows only)."""
        w, (s0, s1) = P[name], S[name]
        if optimizer == "sgd":
            w[rows] -= lr * g[rows]
        elif optimizer == "adagrad":    # (the weight: sparse adagrad_update, its rows)
            s0[rows] += g[rows] ** 2
            w[rows] -= lr * g[rows] / np.sqrt(s0[rows] + 1e-7)
        else:
            s0[rows] = 0.9 * s0[rows] + 0.1 * g[rows]
            s1[rows] = 0.999 * s1[rows] + 0.001 * g[rows] ** 2
            step = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            w[rows] -= step * s0[rows] / (np.sqrt(s1[rows]) + 1e-8)

    for epoch in range(2):
        nbatch = 0
        metric.reset()
        for batch in train_data:
            nbatch += 1
            mod.prepare(batch, sparse_row_id_fn=batch_row_ids)
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
            speedometer(mx.model.BatchEndParam(epoch=epoch, nbatch=nbatch,
                                               eval_metric=metric, locals=locals()))
            t += 1
            x = batch.data[0].asnumpy().astype(np.float64)
            y = batch.label[0].asnumpy().astype(int)
            p = _softmax(x @ P['weight'] + P['bias'])
            g = (p - np.eye(2)[y]) * ((1 + y * 2.0) / 2.0)[:, None]
            update('weight', x.T @ g / batch_size, np.flatnonzero(np.any(x != 0, axis=0)))
            update('bias', g.sum(0) / batch_size, slice(None))
            _check_params(mod, P, rtol=1e-5, atol=1e-7)
        mod.prepare(None, all_row_ids)
        score = mod.score(eval_data, ['nll_loss'])
        p = _softmax(ev_dense @ P['weight'] + P['bias'])
        np.testing.assert_allclose(score[0][1], -np.log(p[np.arange(8), ev_label]).mean(),
                                   rtol=1e-5)
        mod.prepare(None, all_row_ids)
        mod.save_checkpoint("checkpoint", epoch)
        train_data.reset()
        eval_data.reset()

    # the checkpoint holds the row_sparse weight as MXNet writes it: a row_sparse record
    arrays, names = mxnet_format.read("checkpoint-0001.params", keep_sparse=True)
    records = dict(zip(names, arrays))
    assert type(records['arg:weight']) is mxnet_format.SparseArray
    assert records['arg:weight'].stype == 'row_sparse'
    assert type(records['arg:bias']) is np.ndarray
    sym, arg_params, aux_params = mx.model.load_checkpoint("checkpoint", 1)
    assert arg_params['weight'].stype == 'row_sparse'
    np.testing.assert_allclose(arg_params['weight'].asnumpy(), P['weight'], rtol=1e-5,
                               atol=1e-7)
    assert sym.list_arguments() == model.list_arguments()


# ------------------------------------------------------------------ matrix_factorization
def test_matrix_factorization_train_py_two_epochs_and_eval_mse(tmp_path):
    rs = np.random.RandomState(12)
    max_user, max_movies, factor_size, batch_size, learning_rate = 9, 8, 3, 4, 0.1

    def write(name, n):
        rows = [(rs.randint(1, 9), rs.randint(1, 8), rs.randint(1, 11) / 2) for _ in range(n)]
        (tmp_path / name).write_text("".join(f"{u}::{i}::{s:g}::978300760\n"
                                             for u, i, s in rows))

    write("r1.train", 8)
    write("r1.test", 8)

    def batch_row_ids(data_batch):
        item = data_batch.data[0]
        user = data_batch.data[1]
        return {'user_weight': user.astype(np.int64),
                'item_weight': item.astype(np.int64)}

    def all_row_ids(data_batch):
        all_users = mx.nd.arange(0, max_user, dtype='int64')
        all_movies = mx.nd.arange(0, max_movies, dtype='int64')
        return {'user_weight': all_users, 'item_weight': all_movies}

    mx.random.seed(0)
    np.random.seed(0)
    train_iter = get_movielens_iter(str(tmp_path / "r1.train"), batch_size)
    val_iter = get_movielens_iter(str(tmp_path / "r1.test"), batch_size)
    net = matrix_fact_net(factor_size, factor_size, max_user, max_movies, dense=False)
    mod = mx.module.Module(net, context=[mx.cpu()], data_names=['user', 'item'],
                           label_names=['score'])
    mod.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    mod.init_params(initializer=mx.init.Xavier(factor_type="in", magnitude=2.34))
    optim = mx.optimizer.create('sgd', learning_rate=learning_rate,
                                rescale_grad=1.0 / batch_size)
    mod.init_optimizer(optimizer=optim, kvstore='device')
    metric = mx.metric.create(['MSE'])
    speedometer = mx.callback.Speedometer(batch_size, 1)

    P = {n: a.asnumpy().astype(np.float64) for n, a in mod.get_params()[0].items()}
    (uw, ub), (iw, ib) = [(n + "_weight", n + "_bias") for n in sorted(
        {n.rsplit('_', 1)[0] for n in P if n.startswith('fullyconnected')},
        key=lambda n: int(n[len("fullyconnected"):]))]

    def forward(item, user):
        eu, ei = P['user_weight'][user], P['item_weight'][item]
        hu, hi = np.maximum(eu, 0), np.maximum(ei, 0)
        ua, ia = hu @ P[uw].T + P[ub], hi @ P[iw].T + P[ib]
        return (ua * ia).sum(1), (eu, ei, hu, hi, ua, ia)

    for epoch in range(2):
        nbatch = 0
        metric.reset()
        for batch in train_iter:
            nbatch += 1
            mod.prepare(batch, sparse_row_id_fn=batch_row_ids)
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
            speedometer(mx.model.BatchEndParam(epoch=epoch, nbatch=nbatch,
                                               eval_metric=metric, locals=locals()))
            item, user = (a.asnumpy().astype(int) for a in batch.data)
            score = batch.label[0].asnumpy().astype(np.float64)
            pred, (eu, ei, hu, hi, ua, ia) = forward(item, user)
            g = (pred - score)[:, None] / batch_size
            gua, gia = g * ia, g * ua
            ghu, ghi = (gua @ P[uw]) * (eu > 0), (gia @ P[iw]) * (ei > 0)
            P[uw] -= learning_rate * gua.T @ hu
            P[ub] -= learning_rate * gua.sum(0)
            P[iw] -= learning_rate * gia.T @ hi
            P[ib] -= learning_rate * gia.sum(0)
            np.subtract.at(P['user_weight'], user, learning_rate * ghu)
            np.subtract.at(P['item_weight'], item, learning_rate * ghi)
            _check_params(mod, P)
        assert nbatch == 2
        mod.prepare(None, sparse_row_id_fn=all_row_ids)
        # MSE over the validation batches, in the order this pass reads them
        sq, n = 0.0, 0
        for batch in val_iter:
            item, user = (a.asnumpy().astype(int) for a in batch.data)
            pred, _ = forward(item, user)
            sq += ((pred - batch.label[0].asnumpy()) ** 2).mean()
            n += 1
        val_iter.reset()
        score = mod.score(val_iter, ['MSE'])
        assert score[0][0] == 'mse'
        np.testing.assert_allclose(score[0][1], sq / n, rtol=1e-4)
        train_iter.reset()
        val_iter.reset()


# ------------------------------------------------------------------ wide_deep
def test_wide_deep_train_py_sgd_checkpoints_and_inference_py(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO)
    rs = np.random.RandomState(13)
    n, n_lin, n_emb, n_cont, dims, hidden = 8, 20, 2, 3, [5, 6], [3, 4, 4]
    batch_size, lr = 4, 0.2

    def data(m):
        csr = np.zeros((m, n_lin), np.float32)
        for r in range(m):
            csr[r, rs.choice(n_lin, 3, replace=False)] = 1.0
        dns = np.concatenate([rs.randint(0, dims[0], (m, 1)), rs.randint(0, dims[1], (m, 1)),
                              rs.randn(m, n_cont)], axis=1)
        return mx.nd.sparse.csr_matrix(csr), dns, rs.randint(0, 2, m)

    train_csr, train_dns, train_label = data(n)
    val_csr, val_dns, val_label = data(n)
    model = wide_deep_model(n_lin, n_emb, n_cont, dims, hidden)
    train_data = mx.io.NDArrayIter({'csr_data': train_csr, 'dns_data': train_dns},
                                   {'softmax_label': train_label}, batch_size,
                                   shuffle=True, last_batch_handle='discard')
    eval_data = mx.io.NDArrayIter({'csr_data': val_csr, 'dns_data': val_dns},
                                  {'softmax_label': val_label}, batch_size,
                                  shuffle=True, last_batch_handle='discard')
    mod = mx.mod.Module(symbol=model, context=mx.cpu(), data_names=['csr_data', 'dns_data'],
                        label_names=['softmax_label'])
    mod.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label)
    mod.init_params()
    optim = mx.optimizer.create('sgd', learning_rate=lr, rescale_grad=1.0 / batch_size)
    mod.init_optimizer(optimizer=optim)
    metric = mx.metric.create(['acc'])
    speedometer = mx.callback.Speedometer(batch_size, 1)

    P = {k: a.asnumpy().astype(np.float64) for k, a in mod.get_params()[0].items()}
    fcs = sorted({k.rsplit('_', 1)[0] for k in P if k.startswith('fullyconnected')},
                 key=lambda s: int(s[len('fullyconnected'):]))

    def forward(x, d):
        idx = [d[:, 0].astype(int), d[:, 1].astype(int)]
        hs = [np.concatenate([d[:, 2:], P['embed_0_weight'][idx[0]],
                              P['embed_1_weight'][idx[1]]], axis=1)]
        for j, name in enumerate(fcs):
            z = hs[-1] @ P[name + '_weight'].T + P[name + '_bias']
            hs.append(np.maximum(z, 0) if j < 2 else z)
        return _softmax(x @ P['linear_weight'] + P['linear_bias'] + hs[-1]), hs, idx

    def train_step(x, d, y):
        p, hs, idx = forward(x, d)
        g = (p - np.eye(2)[y]) / batch_size          # SoftmaxOutput, rescale_grad 1/batch
        grads = {'linear_weight': x.T @ g, 'linear_bias': g.sum(0)}
        for j in reversed(range(len(fcs))):
            name = fcs[j]
            grads[name + '_weight'] = g.T @ hs[j]
            grads[name + '_bias'] = g.sum(0)
            g = g @ P[name + '_weight']
            if j > 0:
                g = g * (hs[j] > 0)
        for e in range(2):
            ge = np.zeros_like(P[f'embed_{e}_weight'])
            np.add.at(ge, idx[e], g[:, n_cont + e * hidden[0]:n_cont + (e + 1) * hidden[0]])
            grads[f'embed_{e}_weight'] = ge
        for name, gr in grads.items():
            P[name] -= lr * gr

    data_iter = iter(train_data)
    for epoch in range(2):
        nbatch = 0
        metric.reset()
        for batch in data_iter:
            nbatch += 1
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
            speedometer(mx.model.BatchEndParam(epoch=epoch, nbatch=nbatch,
                                               eval_metric=metric, locals=locals()))
            x = batch.data[0].asnumpy().astype(np.float64)
            d = batch.data[1].asnumpy().astype(np.float64)
            train_step(x, d, batch.label[0].asnumpy().astype(int))
            _check_params(mod, P)
        score = mod.score(eval_data, ['acc'])
        p, _, _ = forward(val_csr.asnumpy().astype(np.float64),
                          val_dns.astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(score[0][1], (p.argmax(1) == val_label).mean())
        mod.save_checkpoint("checkpoint", epoch, save_optimizer_states=True)
        data_iter.reset()
    for epoch in (0, 1):
        assert f'Saved checkpoint to "checkpoint-{epoch:04d}.params"' in caplog.text
        assert (tmp_path / f"checkpoint-{epoch:04d}.states").exists()
    arrays, names = mxnet_format.read("checkpoint-0001.params", keep_sparse=True)
    stored = {k: type(v) is mxnet_format.SparseArray for k, v in zip(names, arrays)}
    assert stored['arg:linear_weight'] and stored['arg:embed_0_weight']
    assert not stored['arg:linear_bias']

    # inference.py
    sym, arg_params, aux_params = mx.model.load_checkpoint("checkpoint", 1)
    eval_data = mx.io.NDArrayIter({'csr_data': val_csr, 'dns_data': val_dns},
                                  {'softmax_label': val_label}, batch_size,
                                  shuffle=True, last_batch_handle='discard')
    mod = mx.mod.Module(symbol=sym, context=mx.cpu(), data_names=['csr_data', 'dns_data'],
                        label_names=['softmax_label'])
    mod.bind(data_shapes=eval_data.provide_data, label_shapes=eval_data.provide_label)
    mod.set_params(arg_params=arg_params, aux_params=aux_params)
    data_iter = iter(eval_data)
    nbatch = 0
    metric = mx.metric.create(['acc'])
    accuracy_avg, want = 0.0, 0.0
    for batch in data_iter:
        nbatch += 1
        metric.reset()
        mod.forward(batch, is_train=False)
        mod.update_metric(metric, batch.label)
        accuracy_avg += metric.get()[1][0]
        p, _, _ = forward(batch.data[0].asnumpy().astype(np.float64),
                          batch.data[1].asnumpy().astype(np.float64))
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), p, rtol=1e-4, atol=1e-6)
        want += (p.argmax(1) == batch.label[0].asnumpy()).mean()
    assert nbatch == 2
    np.testing.assert_allclose(accuracy_avg / nbatch, want / nbatch)
