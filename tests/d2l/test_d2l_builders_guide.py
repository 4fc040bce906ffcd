"""d2l.ai chapter 5 (deep-learning computation / builders' guide), MXNet edition: Blocks written
by hand (an MLP, a Sequential over `_children`, constant parameters, nesting), parameter access
(`net[0].params`, collect_params, nested blocks), initialization (force_reinit, Normal,
Constant, Xavier, a custom Initializer's _init_weight), tied parameters, deferred
initialization (unknown dims shown as -1 under set_np), custom layers, and file I/O (npx.save /
npx.load, save_parameters / load_parameters)."""
import numpy as onp
import pytest

from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn


def f64(a):
    return a.asnumpy().astype('f8')


class MLP(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = nn.Dense(256, activation='relu')
        self.output = nn.Dense(10)

    def forward(self, X):
        return self.output(self.hidden(X))


class MySequential(nn.Block):
    def add(self, block):
        self._children[block.name] = block

    def forward(self, X):
        for block in self._children.values():
            X = block(X)
        return X


class FixedHiddenMLP(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rand_weight = self.params.get_constant('rand_weight',
                                                    np.random.uniform(size=(20, 20)))
        self.dense = nn.Dense(20, activation='relu')

    def forward(self, X):
        X = self.dense(X)
        X = npx.relu(np.dot(X, self.rand_weight.data()) + 1)
        X = self.dense(X)  # the same layer twice: its parameters are shared
        while np.abs(X).sum() > 1:
            X /= 2
        return X.sum()


def test_mlp_block_matches_numpy():
    net = MLP()
    net.initialize()
    X = np.random.uniform(size=(2, 20))
    out = net(X)
    assert isinstance(out, np.ndarray) and out.shape == (2, 10)
    W1, b1 = f64(net.hidden.weight.data()), f64(net.hidden.bias.data())
    W2, b2 = f64(net.output.weight.data()), f64(net.output.bias.data())
    ref = onp.maximum(f64(X) @ W1.T + b1, 0) @ W2.T + b2
    onp.testing.assert_allclose(f64(out), ref, rtol=1e-5, atol=1e-7)


def test_my_sequential_registers_children():
    net = MySequential()
    net.add(nn.Dense(256, activation='relu'))
    net.add(nn.Dense(10))
    net.initialize()
    X = np.random.uniform(size=(2, 20))
    assert net(X).shape == (2, 10)
    assert len(net.collect_params()) == 4
    blocks = list(net._children.values())
    ref = blocks[1](blocks[0](X))
    onp.testing.assert_array_equal(net(X).asnumpy(), ref.asnumpy())


def test_fixed_hidden_mlp_and_nesting():
    net = FixedHiddenMLP()
    net.initialize()
    X = np.random.uniform(size=(2, 20))
    y = net(X)
    assert y.shape == () and 0 < abs(float(y)) <= 1 * 20 * 2
    assert net.rand_weight.grad_req == 'null'
    assert len(net.collect_params()) == 3  # the dense layer's two, the constant

    class NestMLP(nn.Block):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.net = nn.Sequential()
            self.net.add(nn.Dense(64, activation='relu'), nn.Dense(32, activation='relu'))
            self.dense = nn.Dense(16, activation='relu')

        def forward(self, X):
            return self.dense(self.net(X))

    chimera = nn.Sequential()
    chimera.add(NestMLP(), nn.Dense(20), FixedHiddenMLP())
    chimera.initialize()
    assert chimera(X).shape == ()
    assert len(chimera.collect_params()) == 6 + 2 + 3


def _two_layer_net():
    net = nn.Sequential()
    net.add(nn.Dense(8, activation='relu'))
    net.add(nn.Dense(1))
    net.initialize()
    net(np.random.uniform(size=(2, 4)))
    return net


def test_parameter_access():
    net = _two_layer_net()
    params = net[1].params
    names = list(params.keys())
    assert len(names) == 2 and names[0].endswith('weight') and names[1].endswith('bias')
    assert type(net[1].bias) is gluon.Parameter
    assert 'shape=(1,)' in repr(net[1].bias)
    b = net[1].bias.data()
    assert isinstance(b, np.ndarray) and float(b) == 0
    g = net[1].weight.grad()
    assert isinstance(g, np.ndarray) and g.shape == (1, 8) and float(np.abs(g).sum()) == 0
    all_params = net.collect_params()
    assert len(all_params) == 4
    assert all_params[net[1].bias.name] is net[1].bias
    assert set(net[0].collect_params().keys()) == {net[0].weight.name, net[0].bias.name}


def test_nested_block_access():
    def block1():
        net = nn.Sequential()
        net.add(nn.Dense(32, activation='relu'))
        net.add(nn.Dense(16, activation='relu'))
        return net

    def block2():
        net = nn.Sequential()
        for _ in range(4):
            net.add(block1())
        return net

    rgnet = nn.Sequential()
    rgnet.add(block2())
    rgnet.add(nn.Dense(10))
    rgnet.initialize()
    assert rgnet(np.random.uniform(size=(2, 4))).shape == (2, 10)
    assert len(rgnet.collect_params()) == 4 * 2 * 2 + 2
    assert rgnet[0][1][0].bias.data().shape == (32,)
    assert rgnet[0][3][1].weight.data().shape == (16, 32)


def test_initialization_variants():
    net = _two_layer_net()
    net.initialize(init=init.Normal(sigma=0.01), force_reinit=True)
    w = net[0].weight.data()
    assert w.shape == (8, 4) and float(np.abs(w).max()) < 0.06 and float(np.abs(w).max()) > 0
    net.initialize(init=init.Constant(1), force_reinit=True)
    onp.testing.assert_array_equal(net[0].weight.data().asnumpy(), onp.ones((8, 4)))
    net[0].weight.initialize(init=init.Xavier(), force_reinit=True)
    net[1].initialize(init=init.Constant(42), force_reinit=True)
    w = net[0].weight.data().asnumpy()
    bound = onp.sqrt(3.0 / ((4 + 8) / 2))  # uniform, factor 'avg', magnitude 3
    assert onp.abs(w).max() <= bound and onp.abs(w).max() > 0.5 * bound
    onp.testing.assert_array_equal(net[1].weight.data().asnumpy(), onp.full((1, 8), 42.0))
    # a Dense bias has its own initializer (zeros): a net-wide init does not reach it
    onp.testing.assert_array_equal(net[0].bias.data().asnumpy(), onp.zeros(8))


def test_xavier_statistics():
    layer = nn.Dense(300, in_units=200)
    layer.initialize(init.Xavier())
    w = layer.weight.data().asnumpy()
    bound = onp.sqrt(3.0 / 250)
    assert onp.abs(w).max() <= bound
    assert abs(w.std() - bound / onp.sqrt(3)) < 0.05 * bound


def test_custom_initializer():
    seen = []

    class MyInit(init.Initializer):
        def _init_weight(self, name, data):
            seen.append((name, data.shape, type(data)))
            data[:] = np.random.uniform(-10, 10, data.shape)
            data *= np.abs(data) >= 5

    net = _two_layer_net()
    net.initialize(MyInit(), force_reinit=True)
    assert [(n.split('_')[-1], s) for n, s, _ in seen] == [('weight', (8, 4)), ('weight', (1, 8))]
    assert all(t is np.ndarray for _, _, t in seen)  # MXNet hands it an mx.np array
    w = net[0].weight.data().asnumpy()
    assert onp.all((w == 0) | ((onp.abs(w) >= 5) & (onp.abs(w) <= 10)))
    assert (w != 0).any()
    onp.testing.assert_array_equal(net[0].bias.data().asnumpy(), onp.zeros(8))
    net[0].weight.data()[:] += 1
    net[0].weight.data()[0, 0] = 42
    got = net[0].weight.data().asnumpy()
    assert got[0, 0] == 42
    onp.testing.assert_array_equal(got[1:], w[1:] + 1)


def test_tied_parameters_share_data_and_sum_gradients():
    net = nn.Sequential()
    shared = nn.Dense(8, activation='relu')
    net.add(nn.Dense(8, activation='relu'), shared,
            nn.Dense(8, activation='relu', params=shared.params), nn.Dense(10))
    net.initialize()
    X = np.random.uniform(size=(2, 20))
    net(X)
    assert net[1].weight is net[2].weight
    net[1].weight.data()[0, 0] = 100
    assert float(net[2].weight.data()[0, 0]) == 100
    assert len(net.collect_params()) == 6
    with autograd.record():
        out = net(X).sum()
    out.backward()
    # the gradient of the tied weight is the sum over both uses: compare with two copies
    W = [f64(net[i].weight.data()) for i in range(4)]
    b = [f64(net[i].bias.data()) for i in range(4)]
    h0 = onp.maximum(f64(X) @ W[0].T + b[0], 0)
    h1 = onp.maximum(h0 @ W[1].T + b[1], 0)
    h2 = onp.maximum(h1 @ W[1].T + b[1], 0)
    g_out = onp.ones((2, 10))
    g_h2 = (g_out @ W[3]) * (h2 > 0)
    g_W_second = g_h2.T @ h1
    g_h1 = (g_h2 @ W[1]) * (h1 > 0)
    g_W_first = g_h1.T @ h0
    onp.testing.assert_allclose(f64(net[1].weight.grad()), g_W_first + g_W_second,
                                rtol=1e-4, atol=1e-5)


def test_deferred_initialization():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation='relu'))
    net.add(nn.Dense(10))
    assert net[0].weight.shape == (256, -1)  # unknown dims are -1 under set_np
    assert 'shape=(256, -1)' in repr(net[0].weight)
    net.initialize()
    assert net[0].weight.shape == (256, -1)
    with pytest.raises(gluon.DeferredInitializationError):
        net[0].weight.data()
    net(np.random.uniform(size=(2, 20)))
    assert net[0].weight.shape == (256, 20) and net[1].weight.shape == (10, 256)
    npx.reset_np()
    try:
        assert nn.Dense(3).weight.shape == (3, 0)  # 0 with the legacy shape semantics
    finally:
        npx.set_np()
    eager = nn.Dense(256, in_units=20)
    eager.initialize()
    assert eager.weight.data().shape == (256, 20)


def test_custom_layers():
    class CenteredLayer(nn.Block):
        def forward(self, X):
            return X - X.mean()

    layer = CenteredLayer()
    onp.testing.assert_array_equal(layer(np.array([1, 2, 3, 4, 5])).asnumpy(), [-2, -1, 0, 1, 2])
    net = nn.Sequential()
    net.add(nn.Dense(128), CenteredLayer())
    net.initialize()
    Y = net(np.random.uniform(size=(4, 8)))
    assert abs(float(Y.mean())) < 1e-6

    class MyDense(nn.Block):
        def __init__(self, units, in_units, **kwargs):
            super().__init__(**kwargs)
            self.weight = self.params.get('weight', shape=(in_units, units))
            self.bias = self.params.get('bias', shape=(units,))

        def forward(self, x):
            linear = np.dot(x, self.weight.data(ctx=x.ctx)) + self.bias.data(ctx=x.ctx)
            return npx.relu(linear)

    dense = MyDense(units=3, in_units=5)
    assert [k.split('_')[-1] for k in dense.params.keys()] == ['weight', 'bias']
    dense.initialize()
    X = np.random.uniform(size=(2, 5))
    ref = onp.maximum(f64(X) @ f64(dense.weight.data()) + f64(dense.bias.data()), 0)
    onp.testing.assert_allclose(f64(dense(X)), ref, rtol=1e-5, atol=1e-7)  # (float32 dot)
    net = nn.Sequential()
    net.add(MyDense(8, in_units=64), MyDense(1, in_units=8))
    net.initialize()
    assert net(np.random.uniform(size=(2, 64))).shape == (2, 1)


def test_npx_save_and_load(tmp_path):
    x, y = np.arange(4), np.zeros(4)
    npx.save(str(tmp_path / 'x-file'), x)
    x2 = npx.load(str(tmp_path / 'x-file'))
    assert isinstance(x2, list) and len(x2) == 1 and isinstance(x2[0], np.ndarray)
    onp.testing.assert_array_equal(x2[0].asnumpy(), x.asnumpy())
    npx.save(str(tmp_path / 'x-files'), [x, y])
    x2, y2 = npx.load(str(tmp_path / 'x-files'))
    onp.testing.assert_array_equal(y2.asnumpy(), onp.zeros(4))
    npx.save(str(tmp_path / 'mydict'), {'x': x, 'y': y})
    d = npx.load(str(tmp_path / 'mydict'))
    assert sorted(d) == ['x', 'y'] and isinstance(d['x'], np.ndarray)
    onp.testing.assert_array_equal(d['x'].asnumpy(), x.asnumpy())


def test_save_and_load_parameters(tmp_path):
    net = MLP()
    net.initialize()
    X = np.random.uniform(size=(2, 20))
    Y = net(X)
    path = str(tmp_path / 'mlp.params')
    net.save_parameters(path)
    clone = MLP()
    clone.load_parameters(path)
    Y_clone = clone(X)
    assert (Y_clone == Y).all()
