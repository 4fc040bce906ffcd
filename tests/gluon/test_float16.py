"""float16 training as MXNet 1.9.1 does it: gradients in float16, `net.cast('float16')`
(BatchNorm keeping float32 parameters), an SGD step against a float32 reference, optimizers'
multi_precision float32 master copies, parameter files, uint8 vision data; hybridized code
equals eager (its float16 ops run through numpy) and step capture says why it stays eager."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

RS = np.random.RandomState(11)


def _fd_grad(fn, x64, eps=1e-6):
    """Central differences of sum(fn(x)) in float64, one element at a time."""
    g = np.zeros_like(x64)
    for i in np.ndindex(x64.shape):
        hi, lo = x64.copy(), x64.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (nd.sum(fn(nd.array(hi, dtype="float64"))).asscalar()
                - nd.sum(fn(nd.array(lo, dtype="float64"))).asscalar()) / (2 * eps)
    return g


W = RS.uniform(-1, 1, (3, 4))
FUNCTIONS = {
    "tanh * x": lambda x: nd.tanh(x) * x,
    "sigmoid, exp": lambda x: nd.sigmoid(x) + nd.exp(x * 0.5),
    "dot": lambda x: nd.dot(x, nd.array(W, dtype=x.dtype), transpose_b=True) ** 2,
    "softmax": lambda x: nd.log_softmax(x, axis=-1) * nd.array(W[:2], dtype=x.dtype),
    "mean, sqrt": lambda x: nd.sqrt(x * x + 1.0) - nd.mean(x, axis=1, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_float16_gradients_match_float64_finite_differences(name):
    fn = FUNCTIONS[name]
    x16 = RS.uniform(-2, 2, (2, 4)).astype(np.float16)
    x = nd.array(x16, dtype="float16")
    x.attach_grad()
    with autograd.record():
        y = fn(x)
    y.backward()
    assert y.dtype == np.float16 and x.grad.dtype == np.float16
    want = _fd_grad(fn, x16.astype(np.float64))
    np.testing.assert_allclose(x.grad.asnumpy().astype(np.float64), want, rtol=2e-2,
                               atol=2e-2 * max(1.0, np.abs(want).max()))


def _net(conv):
    net = gluon.nn.HybridSequential()
    if conv:
        net.add(gluon.nn.Conv2D(3, 3, in_channels=2, activation="relu"), gluon.nn.Flatten())
    net.add(gluon.nn.Dense(8, activation="tanh"), gluon.nn.Dense(3))
    return net


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
def test_float16_training_step_matches_float32_within_float16_rounding(conv):
    shape = (4, 2, 5, 5) if conv else (4, 6)
    x = RS.uniform(-1, 1, shape)
    y = np.array([0, 2, 1, 2])
    nets, start = {}, None
    for dtype in ("float32", "float16"):
        mx.random.seed(5)
        net = _net(conv)
        net.initialize(mx.init.Xavier())
        net(nd.array(x[:1]))                 # (deferred shapes, in float32 for both)
        if start is None:
            start = [p.data().asnumpy() for p in net.collect_params().values()]
        else:                    # the float32 net's first weights, rounded to float16
            for p, value in zip(net.collect_params().values(), start):
                p.set_data(value)
            net.cast("float16")
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        data, label = nd.array(x, dtype=dtype), nd.array(y, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # (MXNet's advice to use multi_precision)
            with autograd.record():
                loss = loss_fn(net(data), label)
            loss.backward()
            trainer.step(len(y))
        nets[dtype] = (net, loss)
    (net32, loss32), (net16, loss16) = nets["float32"], nets["float16"]
    assert loss16.dtype == np.float16
    np.testing.assert_allclose(loss16.asnumpy(), loss32.asnumpy(), rtol=1e-2, atol=1e-2)
    for p16, p32 in zip(net16.collect_params().values(), net32.collect_params().values()):
        assert p16.data().dtype == np.float16 and p16.grad().dtype == np.float16
        np.testing.assert_allclose(p16.grad().asnumpy(), p32.grad().asnumpy(), rtol=2e-2,
                                   atol=2e-3)
        np.testing.assert_allclose(p16.data().asnumpy(), p32.data().asnumpy(), rtol=2e-3,
                                   atol=2e-3)


def _tiny_steps(multi_precision, steps=10, lr=1e-4):
    """A float16 weight of 1 with gradient 1: each SGD step is lr, below half of float16's
    spacing at 1 (2**-10), so only a float32 master copy accumulates them."""
    p = gluon.Parameter("w", shape=(1,), dtype="float16")
    p.initialize(mx.init.One())
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": lr,
                                         "multi_precision": multi_precision})
    for _ in range(steps):
        with autograd.record():
            loss = nd.sum(p.data() * 1.0)
        loss.backward()
        trainer.step(1)
    return p, trainer


def test_multi_precision_sgd_keeps_a_float32_master_copy():
    with pytest.warns(UserWarning, match="multi_precision=True"):
        plain, _ = _tiny_steps(False)
    assert plain.data().asnumpy()[0] == 1.0     # every step rounded away in float16
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # (no float16 warning with a master copy)
        mp, trainer = _tiny_steps(True)
    state = trainer._states[0]
    master = state[1]            # (MXNet's SGD: (momentum, master copy); no momentum: None)
    assert state[0] is None and master is state.master and master.dtype == np.float32
    np.testing.assert_allclose(master, 1.0 - 10 * np.float32(1e-4), rtol=1e-6)
    assert mp.data().dtype == np.float16
    np.testing.assert_array_equal(mp.data().asnumpy(), master.astype(np.float16))
    assert mp.data().asnumpy()[0] < 1.0


@pytest.mark.parametrize("name,kwargs", [("sgd", {"momentum": 0.9, "wd": 1e-3}),
                                         ("adam", {"learning_rate": 1e-3})])
def test_multi_precision_update_is_the_float32_update_of_the_master_copy(name, kwargs):
    """MXNet's update_multi_precision: the optimizer's float32 update on the master copy
    with the gradient in float32; the float16 weight is the master copy rounded."""
    w0 = RS.uniform(-1, 1, 6).astype(np.float16)
    mp = mx.optimizer.create(name, multi_precision=True, **kwargs)
    ref = mx.optimizer.create(name, **kwargs)
    w16, w32 = w0.copy(), w0.astype(np.float32)
    s16, s32 = mp.create_state(0, w16), ref.create_state(0, w32)
    for _ in range(4):
        g = RS.uniform(-1, 1, 6).astype(np.float16)
        mp.update(0, w16, g, s16)
        ref.update(0, w32, g.astype(np.float32), s32)
        np.testing.assert_array_equal(s16.master, w32)
        np.testing.assert_array_equal(w16, w32.astype(np.float16))
    assert w16.dtype == np.float16
    # MXNet's layouts: SGD's (state, master copy), the others' (master copy, state)
    master_at = 1 if name == "sgd" else 0
    assert s16[master_at] is s16.master and s16[1 - master_at] is s16.inner


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_a_float16_update_without_master_copy_is_computed_in_float32_and_rounded(name):
    """As MXNet's update kernels (float32 arithmetic, float16 stores): Adam's epsilon is not
    rounded to 0, so a zero gradient leaves the weight as it is instead of 0/0 = nan."""
    w0 = RS.uniform(-1, 1, 6).astype(np.float16)
    opt, ref = mx.optimizer.create(name), mx.optimizer.create(name)
    w16 = w0.copy()
    with pytest.warns(UserWarning, match="multi_precision"):
        s16 = opt.create_state(0, w16)
    w32 = w0.astype(np.float32)
    s32 = ref.create_state(0, w32)
    for g in (RS.uniform(-1, 1, 6), np.zeros(6)):
        g = g.astype(np.float16)
        w32 = w16.astype(np.float32)
        s32 = None if s16 is None else tuple(a.astype(np.float32) for a in (
            s16 if isinstance(s16, tuple) else (s16,)))
        s32 = s32 if s32 is None or isinstance(s16, tuple) else s32[0]
        opt.update(0, w16, g, s16)
        ref.update(0, w32, g.astype(np.float32), s32)
        assert w16.dtype == np.float16 and np.isfinite(w16).all()
        np.testing.assert_array_equal(w16, w32.astype(np.float16))


def test_a_user_optimizer_gets_mxnets_update_multi_precision():
    class HalfStep(mx.optimizer.Optimizer):
        def create_state(self, index, weight):
            return None

        def update(self, index, weight, grad, state):
            weight[:] -= self.learning_rate * grad

    p = gluon.Parameter("w", shape=(1,), dtype="float16")
    p.initialize(mx.init.One())
    trainer = gluon.Trainer([p], HalfStep(learning_rate=1e-4, multi_precision=True))
    for _ in range(10):
        with autograd.record():
            loss = nd.sum(p.data() * 1.0)
        loss.backward()
        trainer.step(1)
    master, inner = trainer._states[0]
    assert master.dtype == np.float32 and inner is None
    np.testing.assert_allclose(master.asnumpy(), [1 - 1e-3], rtol=1e-5)
    np.testing.assert_array_equal(p.data().asnumpy(), master.asnumpy().astype(np.float16))


def test_batchnorm_keeps_float32_parameters_in_a_float16_network():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(2, 3, in_channels=1), gluon.nn.BatchNorm(in_channels=2),
            gluon.nn.Dense(2, in_units=18))
    net.initialize()
    net.cast("float16")
    dtypes = {k.split("_", 1)[1]: v.dtype for k, v in net.collect_params().items()}
    assert dtypes["weight"] == np.float16
    for k in ("gamma", "beta", "running_mean", "running_var"):
        assert dtypes[k] == np.float32, k
    x = nd.array(RS.uniform(0, 1, (2, 1, 5, 5)), dtype="float16")
    with autograd.record():
        out = net(x)
    out.backward()
    bn = net[1]
    assert out.dtype == np.float16 and bn.gamma.grad().dtype == np.float32
    conv = net[0](x).asnumpy().astype(np.float32)
    want_mean = 0.1 * conv.mean(axis=(0, 2, 3))     # momentum 0.9 from zeros
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), want_mean, rtol=1e-2,
                               atol=1e-3)


def test_parameter_files_keep_float16_and_cast_dtype_is_honoured(tmp_path):
    net = gluon.nn.Dense(3, in_units=2)
    net.initialize()
    net.cast("float16")
    path = str(tmp_path / "half.params")
    net.save_parameters(path)
    again = gluon.nn.Dense(3, in_units=2)
    again.cast("float16")
    again.load_parameters(path)
    assert again.weight.data().dtype == np.float16
    np.testing.assert_array_equal(again.weight.data().asnumpy(), net.weight.data().asnumpy())
    params = gluon.ParameterDict()
    params.get("weight", shape=(3, 2))        # float32
    params.get("bias", shape=(3,))
    with pytest.raises(AssertionError, match="expected float32 vs saved float16"):
        params.load(path, cast_dtype=False)
    params.load(path, cast_dtype=True, dtype_source="current")
    assert params.get("weight").data().dtype == np.float32
    params.load(path, cast_dtype=True, dtype_source="saved")
    assert params.get("weight").data().dtype == np.float16
    # Block.load_parameters passes them on, as MXNet's does
    wide = gluon.nn.Dense(3, in_units=2)
    with pytest.raises(AssertionError, match="expected float32 vs saved float16"):
        wide.load_parameters(path)
    wide.load_parameters(path, cast_dtype=True)
    assert wide.weight.data().dtype == np.float32
    np.testing.assert_array_equal(wide.weight.data().asnumpy(),
                                  net.weight.data().asnumpy().astype(np.float32))
    wide.load_parameters(path, cast_dtype=True, dtype_source="saved")
    assert wide.weight.data().dtype == np.float16


def test_an_exported_float16_block_imports_and_gives_the_same_values(tmp_path):
    net = _net(conv=False)
    net.initialize()
    net.cast("float16")
    net.hybridize()
    x = nd.array(RS.uniform(-1, 1, (2, 6)), dtype="float16")
    want = net(x)
    net.export(str(tmp_path / "half"))
    block = gluon.SymbolBlock.imports(str(tmp_path / "half-symbol.json"), ["data"],
                                      str(tmp_path / "half-0000.params"))
    for _ in range(3):      # (the third call takes the inference fast path)
        got = block(x)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


def test_hybridized_float16_training_equals_eager(fresh_capture):
    losses = {}
    for hybrid in (False, True):
        mx.random.seed(2)
        net = _net(conv=False)
        net.initialize(mx.init.Xavier())
        net.cast("float16")
        if hybrid:
            net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "multi_precision": True})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        data = nd.array(np.linspace(-1, 1, 24).reshape(4, 6), dtype="float16")
        label = nd.array([0, 1, 2, 1], dtype="float16")
        seen = []
        for _ in range(6):
            with autograd.record():
                loss = loss_fn(net(data), label)
            loss.backward()
            trainer.step(4)
            seen.append(loss.asnumpy())
        losses[hybrid] = (np.array(seen), [p.data().asnumpy()
                                           for p in net.collect_params().values()])
    np.testing.assert_array_equal(losses[True][0], losses[False][0])
    for a, b in zip(losses[True][1], losses[False][1]):
        np.testing.assert_array_equal(a, b)
    assert losses[True][0].dtype == np.float16
    assert "float16 has no native lowering" in net.explain()
    # step capture (a native call per training step) declines, saying why
    assert "float16 has no native lowering" in mx.explain()


def test_vision_data_stays_uint8_until_to_tensor():
    T = gluon.data.vision.transforms
    images = RS.randint(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    labels = np.arange(6, dtype=np.int32)
    resized = T.Resize(4)(images[0])
    assert resized.dtype == np.uint8 and resized.shape == (4, 4, 3)
    ds = gluon.data.ArrayDataset(images, labels)
    loader = gluon.data.DataLoader(ds, batch_size=3)
    batch, _ = next(iter(loader))
    assert batch.dtype == np.uint8
    np.testing.assert_array_equal(batch.asnumpy(), images[:3])
    tensors = gluon.data.DataLoader(ds.transform_first(T.ToTensor()), batch_size=3)
    chw, _ = next(iter(tensors))
    assert chw.dtype == np.float32 and chw.shape == (3, 3, 8, 8)
    np.testing.assert_allclose(chw.asnumpy(),
                               images[:3].transpose(0, 3, 1, 2).astype(np.float32) / 255,
                               rtol=1e-6)


def test_block_cast_calls_each_childs_cast():
    """MXNet's Block.cast casts through the children's own cast (a layer may override it)."""
    calls = []

    class KeepsFloat32(gluon.nn.Dense):
        def cast(self, dtype):
            calls.append(dtype)
            super().cast("float32")

    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(4, in_units=3), KeepsFloat32(2, in_units=4))
    net.initialize()
    net.cast("float16")
    assert calls == ["float16"]
    assert net[0].weight.data().dtype == np.float16
    assert net[1].weight.data().dtype == np.float32


@pytest.mark.parametrize("name,kwargs", [("sgd", {"momentum": 0.9}), ("sgd", {}),
                                         ("adam", {}), ("rmsprop", {"centered": True})])
def test_multi_precision_states_survive_save_and_load(name, kwargs, tmp_path):
    """A float16 weight's (master copy, state) saved by Trainer.save_states and by the
    Updater's get_states, loaded back in MXNet's layout: the next steps are the ones an
    uninterrupted run takes."""
    def run(steps, load=None, save=None, start=0):
        p = gluon.Parameter("w", shape=(5,), dtype="float16")
        p.initialize(mx.init.Constant(0.5))
        trainer = gluon.Trainer([p], name, {"learning_rate": 0.01, "multi_precision": True,
                                            **kwargs})
        if load is not None:
            trainer.load_states(load)
        for k in range(start, start + steps):
            with autograd.record():
                loss = nd.sum(p.data().astype("float32") * nd.arange(5) * (k + 1))
            loss.backward()
            trainer.step(1)
        if save is not None:
            trainer.save_states(save)
        return p, trainer

    path = str(tmp_path / "t.states")
    whole, _ = run(6)
    first, trainer = run(3, save=path)
    state = trainer._states[0]
    assert state.master.dtype == np.float32
    master_at = 1 if name == "sgd" else 0
    assert state[master_at] is state.master
    rest, _ = run(3, load=path, start=3)
    # (the restarted run's weight starts at 0.5 again; its master copy comes from the file)
    np.testing.assert_array_equal(rest._data._data, whole._data._data)

    updater = mx.optimizer.get_updater(mx.optimizer.create(name, multi_precision=True,
                                                           learning_rate=0.01, **kwargs))
    w = nd.array([0.5, 0.25, -1.0], dtype="float16")
    updater(0, nd.array([1.0, 2.0, 3.0], dtype="float16"), w)
    blob = updater.get_states(dump_optimizer=True)    # (with its update counts: Adam)
    again = mx.optimizer.get_updater(mx.optimizer.create(name, multi_precision=True,
                                                         learning_rate=0.01, **kwargs))
    again.set_states(blob)
    a, b = updater.states[0], again.states[0]
    assert type(b) is type(a) and b.master_last == a.master_last
    np.testing.assert_array_equal(np.asarray(b.master), np.asarray(a.master))
    w2 = w.copy()
    updater(0, nd.array([0.5, 0.5, 0.5], dtype="float16"), w)
    again(0, nd.array([0.5, 0.5, 0.5], dtype="float16"), w2)
    np.testing.assert_array_equal(w.asnumpy(), w2.asnumpy())
