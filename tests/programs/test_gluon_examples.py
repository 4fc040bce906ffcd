"""MXNet's example/gluon programs, shortened to a few synthetic steps: actor_critic (sampled
actions' log-probabilities as extra backward heads), dc_gan (two nets, detach, two trainers),
super_resolution (PixelShuffle2D, NDArrayIter batches split over two contexts)."""
import math

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn
from tracegrad.gluon.contrib import nn as contrib_nn


class Policy(gluon.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense = nn.Dense(16, in_units=4, activation="relu")
            self.action_pred = nn.Dense(2, in_units=16)
            self.value_pred = nn.Dense(1, in_units=16)

    def forward(self, x):
        x = self.dense(x)
        return nd.softmax(self.action_pred(x)), self.value_pred(x)


def test_actor_critic_policy_gradient_heads():
    mx.random.seed(5)
    net = Policy()
    net.initialize(mx.init.Uniform(0.02))
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 3e-2})
    l1 = gluon.loss.L1Loss()
    state = np.random.RandomState(0).randn(4)
    rewards, values, heads, probs, actions = [], [], [], [], []
    with autograd.record():
        for _ in range(6):
            prob, value = net(nd.array(np.expand_dims(state, 0)))
            action, logp = nd.sample_multinomial(prob, get_prob=True)
            a = int(action.asnumpy()[0])
            np.testing.assert_allclose(logp.asnumpy(), np.log(prob.asnumpy()[0, a]), rtol=1e-5)
            state = state + (0.1 if a else -0.1)
            rewards.append(1.0)
            values.append(value)
            heads.append(logp)
            probs.append(prob.asnumpy()[0])
            actions.append(a)
        R, returns = 0.0, []
        for r in reversed(rewards):
            R = r + 0.99 * R
            returns.insert(0, R)
        returns = np.array(returns)
        returns = (returns - returns.mean()) / (returns.std() + np.finfo(returns.dtype).eps)
        L = sum([l1(v, nd.array([r])) for r, v in zip(returns, values)])
        advantages = [r - v.asnumpy()[0, 0] for r, v in zip(returns, values)]
        final = [L] + [logp * (-adv) for logp, adv in zip(heads, advantages)]
    autograd.backward(final)
    # d log p[a] / d logits = onehot(a) - p, and the value head does not reach action_pred
    want = sum(-adv * (np.eye(2)[a] - p) for adv, a, p in zip(advantages, actions, probs))
    np.testing.assert_allclose(net.action_pred.bias.grad().asnumpy(), want, rtol=1e-4,
                               atol=1e-6)
    before = net.action_pred.bias.data().asnumpy().copy()
    trainer.step(6)
    assert not np.allclose(net.action_pred.bias.data().asnumpy(), before)


def test_dcgan_steps_train_discriminator_and_generator_separately():
    nz, ngf, ndf = 8, 4, 4
    netG = nn.Sequential()
    with netG.name_scope():
        netG.add(nn.Conv2DTranspose(ngf * 2, 4, 1, 0, use_bias=False), nn.BatchNorm(),
                 nn.Activation("relu"), nn.Conv2DTranspose(1, 4, 2, 1, use_bias=False),
                 nn.Activation("tanh"))
    netD = nn.Sequential()
    with netD.name_scope():
        netD.add(nn.Conv2D(ndf, 4, 2, 1, use_bias=False), nn.LeakyReLU(0.2),
                 nn.Conv2D(1, 4, 1, 0, use_bias=False))
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    netG.initialize(mx.init.Normal(0.02))
    netD.initialize(mx.init.Normal(0.02))
    trainerG = gluon.Trainer(netG.collect_params(), "adam", {"learning_rate": 2e-3, "beta1": 0.5})
    trainerD = gluon.Trainer(netD.collect_params(), "adam", {"learning_rate": 2e-3, "beta1": 0.5})
    real, fake_label = nd.ones((2,)), nd.zeros((2,))
    metric = mx.metric.CustomMetric(lambda label, pred: ((pred > 0.5) == label).mean())
    assert metric.get()[0] == "custom(<lambda>)"
    data = nd.random.uniform(-1, 1, shape=(2, 1, 8, 8))
    noise = nd.random.normal(0, 1, shape=(2, nz, 1, 1))
    for _ in range(2):
        with autograd.record():
            out_real = netD(data).reshape((-1, 1))
            fake = netG(noise)
            out_fake = netD(fake.detach()).reshape((-1, 1))
            errD = loss(out_real, real) + loss(out_fake, fake_label)
        errD.backward()
        assert fake.shape == (2, 1, 8, 8) and errD.shape == (2,)
        g_before = netG[0].weight.data().asnumpy().copy()
        trainerD.step(2)
        np.testing.assert_array_equal(netG[0].weight.data().asnumpy(), g_before)
        metric.update([real], [out_real])
        with autograd.record():
            errG = loss(netD(netG(noise)).reshape((-1, 1)), real)
        errG.backward()
        trainerG.step(2)
        assert not np.array_equal(netG[0].weight.data().asnumpy(), g_before)
    assert 0.0 <= metric.get()[1] <= 1.0


def test_super_resolution_pixel_shuffle_net_on_two_contexts():
    class SuperResolutionNet(gluon.HybridBlock):
        def __init__(self, upscale):
            super().__init__()
            with self.name_scope():
                self.conv1 = nn.Conv2D(8, (5, 5), padding=(2, 2), activation="relu")
                self.conv2 = nn.Conv2D(upscale ** 2, (3, 3), padding=(1, 1))
                self.pxshuf = contrib_nn.PixelShuffle2D(upscale)

        def hybrid_forward(self, F, x):
            return self.pxshuf(self.conv2(self.conv1(x)))

    mx.random.seed(2)
    net = SuperResolutionNet(2)
    ctx = [mx.cpu(0), mx.cpu(1)]
    net.initialize(mx.init.Orthogonal(), ctx=ctx)
    net.conv2.initialize(mx.init.Orthogonal(scale=1), force_reinit=True, ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss, metric = gluon.loss.L2Loss(), mx.metric.MSE()
    it = mx.io.NDArrayIter(nd.random.uniform(shape=(8, 1, 6, 6)),
                           nd.random.uniform(shape=(8, 1, 12, 12)), batch_size=4)
    psnr = []
    for _ in range(3):
        it.reset()
        for batch in it:
            data = gluon.utils.split_and_load(batch.data[0], ctx_list=ctx, batch_axis=0)
            label = gluon.utils.split_and_load(batch.label[0], ctx_list=ctx, batch_axis=0)
            outputs = []
            with autograd.record():
                for x, y in zip(data, label):
                    z = net(x)
                    loss(z, y).backward()
                    outputs.append(z)
            trainer.step(batch.data[0].shape[0])
            metric.update(label, outputs)
        psnr.append(10 * math.log10(1 / metric.get()[1]))
        metric.reset()
    assert psnr[-1] > psnr[0]
    x = nd.random.uniform(shape=(1, 1, 6, 6))
    eager = net(x).asnumpy()
    c = eager.shape
    assert c == (1, 1, 12, 12)
    # PixelShuffle2D: out[n, 0, 2i+a, 2j+b] = conv[n, 2a+b, i, j]
    conv = net.conv2(net.conv1(x)).asnumpy()
    want = conv.reshape(1, 1, 2, 2, 6, 6).transpose(0, 1, 4, 2, 5, 3).reshape(1, 1, 12, 12)
    np.testing.assert_allclose(eager, want, rtol=1e-6)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    assert nd.reshape(net(x), shape=(-3, -2)).shape == (1, 12, 12)
