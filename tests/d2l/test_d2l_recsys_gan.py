"""d2l.ai chapters 20-21 (generative adversarial networks, recommender systems), MXNet edition,
on synthetic data: matrix factorization (Embedding biases, L2Loss, Adam with wd, split_and_load
and the RMSE metric of the evaluator), AutoRec (the sign mask while training), factorization
machines (the pairwise-interaction identity), NeuMF with the BPR and hinge ranking losses, and
the GAN chapters: the 2-d GAN of Dense layers and a shrunk DCGAN (G_block with
Conv2DTranspose + BatchNorm, D_block with LeakyReLU, two Adam Trainers, update_D on
fake_X.detach() leaves the generator untouched, update_G leaves the discriminator's weights)."""
import numpy as onp

import tracegrad as mx
from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn


def f64(a):
    return a.asnumpy().astype('f8')


def params_of(net):
    return [f64(p.data()) for p in net.collect_params().values()]


# ------------------------------------------------------------------ matrix factorization
class MF(nn.Block):
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super(MF, self).__init__(**kwargs)
        self.P = nn.Embedding(input_dim=num_users, output_dim=num_factors)
        self.Q = nn.Embedding(input_dim=num_items, output_dim=num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)

    def forward(self, user_id, item_id):
        P_u = self.P(user_id)
        Q_i = self.Q(item_id)
        b_u = self.user_bias(user_id)
        b_i = self.item_bias(item_id)
        outputs = (P_u * Q_i).sum(axis=1) + np.squeeze(b_u) + np.squeeze(b_i)
        return outputs.flatten()


def ratings(num_users=12, num_items=10, n=96, seed=0):
    """Low-rank ratings around 3 for random (user, item) pairs."""
    rs = onp.random.RandomState(seed)
    U, V = rs.randn(num_users, 2), rs.randn(num_items, 2)
    users, items = rs.randint(0, num_users, n), rs.randint(0, num_items, n)
    r = 3 + (U[users] * V[items]).sum(1)
    return (np.array(users, dtype='int32'), np.array(items, dtype='int32'),
            np.array(r, dtype='float32'), num_users, num_items)


def evaluator(net, test_iter, devices):
    rmse = mx.metric.RMSE()
    rmse_list = []
    for idx, (users, items, ratings) in enumerate(test_iter):
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r_ui = gluon.utils.split_and_load(ratings, devices, even_split=False)
        r_hat = [net(u, i) for u, i in zip(u, i)]
        rmse.update(labels=r_ui, preds=r_hat)
        rmse_list.append(rmse.get()[1])
    return float(onp.mean(onp.array(rmse_list)))


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs, devices,
                        evaluator):
    results = []
    for epoch in range(num_epochs):
        total = 0.0
        for i, values in enumerate(train_iter):
            input_data = []
            values = values if isinstance(values, list) else [values]
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            train_feat = input_data[:-1] if len(values) > 1 else input_data
            train_label = input_data[-1]
            with autograd.record():
                preds = [net(*t) for t in zip(*train_feat)]
                ls = [loss(p, s) for p, s in zip(preds, train_label)]
            [l.backward() for l in ls]
            total += sum([l.asnumpy() for l in ls]).mean() / len(devices)
            trainer.step(values[0].shape[0])
        results.append((total / (i + 1), evaluator(net, test_iter, devices)))
    return results


def test_matrix_factorization_trains_and_the_rmse_evaluator():
    mx.random.seed(0)
    users, items, r, num_users, num_items = ratings()
    devices = [mx.cpu()]
    train_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(users, items, r), 16,
                                       shuffle=True, last_batch='rollover')
    test_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(users, items, r), 32)
    net = MF(4, num_users, num_items)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    assert net(users[:5], items[:5]).shape == (5,)
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'adam', {"learning_rate": 0.05, 'wd': 1e-5})
    start = evaluator(net, test_iter, devices)
    results = train_recsys_rating(net, train_iter, test_iter, loss, trainer, 3, devices,
                                  evaluator)
    assert results[-1][1] < 0.8 * start, (start, results)
    # the evaluator's metric is MXNet's running RMSE over batches
    pred = f64(net(users, items))
    rmse = mx.metric.RMSE()
    rmse.update(labels=[r], preds=[net(users, items)])
    onp.testing.assert_allclose(rmse.get()[1], onp.sqrt(((pred - f64(r)) ** 2).mean()),
                                rtol=1e-5)
    # biases are per user / item: the prediction is P_u . Q_i + b_u + b_i
    u, i = 3, 7
    want = (f64(net.P.weight.data())[u] * f64(net.Q.weight.data())[i]).sum() + \
        f64(net.user_bias.weight.data())[u, 0] + f64(net.item_bias.weight.data())[i, 0]
    onp.testing.assert_allclose(f64(net(np.array([u]), np.array([i])))[0], want, rtol=1e-5)


class AutoRec(nn.Block):
    def __init__(self, num_hidden, num_users, dropout=0.05):
        super(AutoRec, self).__init__()
        self.encoder = nn.Dense(num_hidden, activation='sigmoid', use_bias=True)
        self.decoder = nn.Dense(num_users, use_bias=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input):
        hidden = self.dropout(self.encoder(input))
        pred = self.decoder(hidden)
        if autograd.is_training():  # mask the gradient during training
            return pred * np.sign(input)
        else:
            return pred


def test_autorec_masks_unobserved_ratings_while_training():
    mx.random.seed(1)
    rs = onp.random.RandomState(1)
    M = onp.where(rs.rand(10, 8) < 0.5, rs.randint(1, 6, (10, 8)), 0).astype('float32')
    inter = np.array(M)   # items x users, 0 = unobserved
    net = AutoRec(6, 8)
    net.initialize(ctx=[mx.cpu()], force_reinit=True, init=mx.init.Normal(0.01))
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'adam', {"learning_rate": 0.05, 'wd': 1e-5})
    losses = []
    for _ in range(4):
        with autograd.record():
            pred = net(inter)
            l = loss(pred, inter)
        l.backward()
        trainer.step(inter.shape[0])
        losses.append(float(l.mean()))
    onp.testing.assert_array_equal(f64(pred)[M == 0], 0)   # masked while training
    assert losses[-1] < losses[0], losses
    assert onp.abs(f64(net(inter))[M == 0]).sum() > 0      # predictions everywhere after


class FM(nn.Block):
    def __init__(self, field_dims, num_factors):
        super(FM, self).__init__()
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Dense(1, use_bias=True)

    def forward(self, x):
        square_of_sum = np.sum(self.embedding(x), axis=1) ** 2
        sum_of_square = np.sum(self.embedding(x) ** 2, axis=1)
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdims=True)
        x = npx.sigmoid(x)
        return x


def test_factorization_machine_pairwise_identity_and_training():
    mx.random.seed(2)
    rs = onp.random.RandomState(2)
    field_dims = [3, 4, 5]
    offsets = onp.concatenate([[0], onp.cumsum(field_dims)[:-1]])
    raw = onp.stack([rs.randint(0, d, 64) for d in field_dims], 1)
    x = np.array(raw + offsets, dtype='int32')
    y = np.array(((raw[:, 0] == raw[:, 1] % 3) | (raw[:, 2] > 2)).astype('float32'))
    net = FM(field_dims, 4)
    net.initialize(init.Xavier())
    out = net(x[:2])
    assert out.shape == (2, 1)
    V, w = f64(net.embedding.weight.data()), f64(net.fc.weight.data())[:, 0]
    lin = net.linear_layer
    row = raw[0] + offsets
    pairs = sum(V[row[i]] @ V[row[j]] for i in range(3) for j in range(i + 1, 3))
    z = f64(lin.weight.data())[0, 0] * w[row].sum() + f64(lin.bias.data())[0] + pairs
    onp.testing.assert_allclose(f64(out)[0, 0], 1 / (1 + onp.exp(-z)), rtol=1e-5)
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.05})
    losses = []
    for _ in range(4):
        with autograd.record():
            l = loss(net(x), y)   # (the model already applied the sigmoid, as the book)
        l.backward()
        trainer.step(x.shape[0])
        losses.append(float(l.mean()))
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ NeuMF ranking
class NeuMF(nn.Block):
    def __init__(self, num_factors, num_users, num_items, nums_hiddens, **kwargs):
        super(NeuMF, self).__init__(**kwargs)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu', use_bias=True))
        self.prediction_layer = nn.Dense(1, activation='sigmoid', use_bias=False)

    def forward(self, user_id, item_id):
        p_mf = self.P(user_id)
        q_mf = self.Q(item_id)
        gmf = p_mf * q_mf
        p_mlp = self.U(user_id)
        q_mlp = self.V(item_id)
        mlp = self.mlp(np.concatenate([p_mlp, q_mlp], axis=1))
        con_res = np.concatenate([gmf, mlp], axis=1)
        return self.prediction_layer(con_res)


class BPRLoss(gluon.loss.Loss):
    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super(BPRLoss, self).__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, positive, negative):
        distances = positive - negative
        loss = - np.sum(np.log(npx.sigmoid(distances)), 0, keepdims=True)
        return loss


class HingeLossbRec(gluon.loss.Loss):
    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super(HingeLossbRec, self).__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, positive, negative, margin=1):
        distances = positive - negative
        loss = np.sum(np.maximum(- distances + margin, 0))
        return loss


def test_neumf_with_bpr_and_hinge_losses():
    rs = onp.random.RandomState(3)
    num_users, num_items = 8, 12
    # each user likes the items of its parity
    users = rs.randint(0, num_users, 64)
    pos = (rs.randint(0, num_items // 2, 64) * 2 + users % 2) % num_items
    neg = (rs.randint(0, num_items // 2, 64) * 2 + 1 - users % 2) % num_items
    u, i, j = (np.array(a, dtype='int32') for a in (users, pos, neg))
    for loss, lr in [(BPRLoss(), 0.02), (HingeLossbRec(), 0.02)]:
        mx.random.seed(3)
        net = NeuMF(4, num_users, num_items, nums_hiddens=[8, 8])
        net.initialize(ctx=[mx.cpu()], force_reinit=True, init=mx.init.Normal(0.01))
        trainer = gluon.Trainer(net.collect_params(), 'adam', {"learning_rate": lr, 'wd': 1e-5})
        assert net(u[:3], i[:3]).shape == (3, 1)
        ls_hist = []
        for _ in range(5):
            with autograd.record():
                p_pos = [net(u, i)]
                p_neg = [net(u, j)]
                ls = [loss(p, n) for p, n in zip(p_pos, p_neg)]
            [l.backward(retain_graph=False) for l in ls]
            trainer.step(u.shape[0])
            ls_hist.append(float(ls[0].sum()))
        assert ls_hist[-1] < ls_hist[0], (type(loss).__name__, ls_hist)
        margin = float((net(u, i) - net(u, j)).mean())
        assert margin > 0, (type(loss).__name__, margin)


# ------------------------------------------------------------------ GANs
def update_D(X, Z, net_D, net_G, loss, trainer_D):
    batch_size = X.shape[0]
    ones = np.ones((batch_size,), ctx=X.ctx)
    zeros = np.zeros((batch_size,), ctx=X.ctx)
    with autograd.record():
        real_Y = net_D(X)
        fake_X = net_G(Z)
        # net_G needs no gradient here: detach it
        fake_Y = net_D(fake_X.detach())
        loss_D = (loss(real_Y, ones) + loss(fake_Y, zeros)) / 2
    loss_D.backward()
    trainer_D.step(batch_size)
    return float(loss_D.sum())


def update_G(Z, net_D, net_G, loss, trainer_G):
    batch_size = Z.shape[0]
    ones = np.ones((batch_size,), ctx=Z.ctx)
    with autograd.record():
        fake_X = net_G(Z)
        fake_Y = net_D(fake_X)
        loss_G = loss(fake_Y, ones)
    loss_G.backward()
    trainer_G.step(batch_size)
    return float(loss_G.sum())


def _check_one_round(X, Z, net_D, net_G, loss, trainer_D, trainer_G):
    """update_D moves only D (G gets no gradient through the detached fakes); update_G moves
    only G. Returns the two losses."""
    d0, g0 = params_of(net_D), params_of(net_G)
    for p in net_G.collect_params().values():
        p.zero_grad()
    loss_D = update_D(X, Z, net_D, net_G, loss, trainer_D)
    for name, a, b in zip(net_G.collect_params().keys(), g0, params_of(net_G)):
        if 'running' not in name:   # (net_G ran in training mode: its running statistics)
            onp.testing.assert_array_equal(a, b, err_msg=name)
    for p in net_G.collect_params().values():
        if p.grad_req != 'null':
            onp.testing.assert_array_equal(f64(p.grad()), 0)
    d1 = params_of(net_D)
    assert any(onp.abs(a - b).max() > 0 for a, b in zip(d0, d1))
    loss_G = update_G(Z, net_D, net_G, loss, trainer_G)
    d2 = params_of(net_D)
    for name, a, b in zip(net_D.collect_params().keys(), d1, d2):
        if 'running' not in name:   # (batch norm's running statistics do move)
            onp.testing.assert_array_equal(a, b, err_msg=name)
    assert any(onp.abs(a - b).max() > 0 for a, b in zip(g0, params_of(net_G)))
    return loss_D, loss_G


def test_gan_on_a_gaussian():
    mx.random.seed(4)
    X = np.random.normal(0.0, 1, (64, 2))
    A = np.array([[1, 2], [-0.1, 0.5]])
    b = np.array([1, 2])
    data = np.dot(X, A) + b
    net_G = nn.Sequential()
    net_G.add(nn.Dense(2))
    net_D = nn.Sequential()
    net_D.add(nn.Dense(5, activation='tanh'), nn.Dense(3, activation='tanh'), nn.Dense(1))
    loss = gluon.loss.SigmoidBCELoss()
    net_D.initialize(init=init.Normal(0.02), force_reinit=True)
    net_G.initialize(init=init.Normal(0.02), force_reinit=True)
    trainer_D = gluon.Trainer(net_D.collect_params(), 'adam', {'learning_rate': 0.05})
    trainer_G = gluon.Trainer(net_G.collect_params(), 'adam', {'learning_rate': 0.005})
    latent_dim = 2
    net_D(net_G(np.zeros((1, latent_dim))))   # deferred shapes
    for _ in range(3):
        Z = np.random.normal(0, 1, size=(64, latent_dim))
        loss_D, loss_G = _check_one_round(data, Z, net_D, net_G, loss, trainer_D, trainer_G)
        assert onp.isfinite(loss_D) and onp.isfinite(loss_G)


class G_block(nn.Block):
    def __init__(self, channels, kernel_size=4, strides=2, padding=1, **kwargs):
        super(G_block, self).__init__(**kwargs)
        self.conv2d_trans = nn.Conv2DTranspose(channels, kernel_size, strides, padding,
                                               use_bias=False)
        self.batch_norm = nn.BatchNorm()
        self.activation = nn.Activation('relu')

    def forward(self, X):
        return self.activation(self.batch_norm(self.conv2d_trans(X)))


class D_block(nn.Block):
    def __init__(self, channels, kernel_size=4, strides=2, padding=1, alpha=0.2, **kwargs):
        super(D_block, self).__init__(**kwargs)
        self.conv2d = nn.Conv2D(channels, kernel_size, strides, padding, use_bias=False)
        self.batch_norm = nn.BatchNorm()
        self.activation = nn.LeakyReLU(alpha)

    def forward(self, X):
        return self.activation(self.batch_norm(self.conv2d(X)))


def test_dcgan_blocks_and_training_steps():
    x = np.zeros((2, 3, 16, 16))
    g_blk = G_block(20)
    g_blk.initialize()
    assert g_blk(x).shape == (2, 20, 32, 32)
    x = np.zeros((2, 3, 1, 1))
    g_blk = G_block(20, strides=1, padding=0)
    g_blk.initialize()
    assert g_blk(x).shape == (2, 20, 4, 4)
    x = np.zeros((2, 3, 16, 16))
    d_blk = D_block(20)
    d_blk.initialize()
    assert d_blk(x).shape == (2, 20, 8, 8)
    alphas = [0, .2, .4, .6, .8, 1]
    x = np.arange(-2, 1, 0.1)
    for alpha in alphas:
        onp.testing.assert_allclose(nn.LeakyReLU(alpha)(x).asnumpy(),
                                    onp.where(x.asnumpy() > 0, x.asnumpy(),
                                              alpha * x.asnumpy()), rtol=1e-6)

    mx.random.seed(5)
    n_G, n_D, latent_dim, batch_size = 4, 4, 8, 6
    net_G = nn.Sequential()
    net_G.add(G_block(n_G * 4, strides=1, padding=0),   # (16, 4, 4)
              G_block(n_G * 2),                         # (8, 8, 8)
              nn.Conv2DTranspose(3, kernel_size=4, strides=2, padding=1, use_bias=False,
                                 activation='tanh'))    # (3, 16, 16)
    net_D = nn.Sequential()
    net_D.add(D_block(n_D),       # (4, 8, 8)
              D_block(n_D * 2),   # (8, 4, 4)
              nn.Conv2D(1, kernel_size=4, use_bias=False))   # (1, 1, 1)
    loss = gluon.loss.SigmoidBCELoss()
    net_D.initialize(init=init.Normal(0.02), force_reinit=True)
    net_G.initialize(init=init.Normal(0.02), force_reinit=True)
    Z = np.random.normal(0, 1, size=(batch_size, latent_dim, 1, 1))
    fake = net_G(Z)
    assert fake.shape == (batch_size, 3, 16, 16)
    assert float(np.abs(fake).max()) <= 1   # tanh
    assert net_D(fake).shape == (batch_size, 1, 1, 1)
    rs = onp.random.RandomState(5)
    X = np.array(onp.tanh(rs.randn(batch_size, 3, 16, 16) + 1), dtype='float32')
    trainer_hp = {'learning_rate': 0.005, 'beta1': 0.5}
    trainer_D = gluon.Trainer(net_D.collect_params(), 'adam', trainer_hp)
    trainer_G = gluon.Trainer(net_G.collect_params(), 'adam', trainer_hp)
    losses = []
    for _ in range(2):
        Z = np.random.normal(0, 1, size=(batch_size, latent_dim, 1, 1))
        losses.append(_check_one_round(X, Z, net_D, net_G, loss, trainer_D, trainer_G))
    assert all(onp.isfinite(v) for pair in losses for v in pair)
    # prediction mode (running statistics): the discriminator's scores are probabilities
    real_score = float(npx.sigmoid(net_D(X)).mean())
    assert 0 < real_score < 1
