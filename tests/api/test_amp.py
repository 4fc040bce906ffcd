"""mx.contrib.amp (MXNet 1.9.1's automatic mixed precision, float16): amp.init's operator
wrappers on Gluon layers eager / hybridized / on Symbols, init_trainer with the dynamic loss
scaler (skip and halve on overflow, double after clean steps), scale_loss, unscale, and the
graph conversions.

amp.init wraps operator functions for the rest of its process, so everything that calls it
runs in a subprocess (a script per fixture, its findings printed as JSON); the conversions
and the op lists change no function and run here.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.base import MXNetError
from tracegrad.contrib import amp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PRELUDE = """
import json
import warnings
import numpy as np
import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError
from tracegrad.contrib import amp
result = {}

def dt(a):
    return np.dtype(a.dtype).name

def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:
        return [type(e).__name__, str(e)]
    return None
"""


def run_script(directory, body):
    """Run PRELUDE + body in a fresh interpreter; the `result` dict it fills."""
    path = directory / "amp_script.py"
    path.write_text(PRELUDE + textwrap.dedent(body) +
                    '\nprint("RESULT " + json.dumps(result))\n')
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# ------------------------------------------------------------------ amp.init on operators
LAYERS = """
amp.init()
net = gluon.nn.HybridSequential()
net.add(gluon.nn.Conv2D(4, 3, activation="relu"), gluon.nn.Flatten(),
        gluon.nn.Dense(16, activation="relu"), gluon.nn.Dense(3))
net.initialize(mx.init.Xavier())
seen = {}
for name, block in zip(("conv", "flatten", "dense1", "dense2"), net._children.values()):
    block.register_forward_hook(
        lambda b, i, o, name=name: isinstance(o, mx.nd.NDArray) and seen.__setitem__(name, dt(o)))
x = nd.random.uniform(shape=(2, 1, 6, 6))
y = nd.array([0, 2])
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
out = net(x)
result["eager"] = dict(seen, out=dt(out), softmax=dt(nd.softmax(out)),
                       method_softmax=dt(out.softmax()), loss=dt(loss_fn(out, y)),
                       log_softmax=dt(nd.log_softmax(out)))
result["params"] = sorted({dt(p.data()) for p in net.collect_params().values()})
eager_out = out.asnumpy()
net.hybridize()
out = net(x)
result["hybrid"] = dict(out=dt(out), loss=dt(loss_fn(out, y)), softmax=dt(nd.softmax(out)),
                        max_diff=float(np.abs(out.asnumpy() - eager_out).max()))

class Head(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.fc = gluon.nn.Dense(3)

    def hybrid_forward(self, F, x):
        hidden = self.fc(x)
        return F.FullyConnected(hidden, F.ones((2, 3)), no_bias=True, num_hidden=2), \\
            F.log_softmax(hidden)

head = Head()
head.initialize()
head.hybridize()
fc_out, log_probs = head(nd.ones((4, 5)))
result["head"] = [dt(fc_out), dt(log_probs)]

class Deferred(gluon.HybridBlock):       # MXNet's custom layer tutorial: shape (4, 0)
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(4, 0), allow_deferred_init=True)

    def hybrid_forward(self, F, x, weight):
        return F.FullyConnected(x, weight, num_hidden=4, no_bias=True)

deferred = Deferred()
deferred.initialize()
result["deferred"] = [dt(deferred(nd.ones((2, 3)))), list(deferred.weight.shape)]

data = mx.sym.var("data")
sm = mx.sym.softmax(mx.sym.FullyConnected(data, num_hidden=3, name="fc"), name="sm")
result["sym_ops"] = [n.op for n in sm._order() if n.op is not None]
internals = sm.get_internals()
args = {"data": nd.ones((2, 4)), "fc_weight": nd.ones((3, 4)), "fc_bias": nd.zeros((3,))}
result["sym_dtypes"] = [dt(internals["fc_output"].bind(mx.cpu(), args).forward()[0]),
                        dt(sm.bind(mx.cpu(), args).forward()[0])]
block_sym = net(mx.sym.var("data"))
result["block_sym_ops"] = [n.op for n in block_sym._order() if n.op is not None]

h16, h32 = nd.ones((2, 3), dtype="float16"), nd.ones((2, 3))
result["widest"] = [dt(nd.concat(h16, h32, dim=0)), dt(nd.broadcast_add(h16, h16)),
                    dt(nd.elemwise_mul(h16, h32))]
result["conditional"] = [dt(nd.Activation(h16, act_type="softrelu")),
                         dt(nd.Activation(h16, act_type="relu"))]
result["untouched"] = [dt(nd.relu(h16)), dt(nd.exp(nd.ones((2,), dtype="float64")))]

d = nd.array([[1.0, 2.0, 3.0]])
d.attach_grad()
with autograd.record():
    o = nd.SoftmaxOutput(d, nd.array([1]))
o.backward()
plain = o.asnumpy() - np.array([[0.0, 1.0, 0.0]])
result["softmax_output_grad_ratio"] = (d.grad.asnumpy() / plain).ravel().tolist()
result["softmax_output_float16_in"] = dt(nd.SoftmaxOutput(h16, nd.array([0, 1])))
result["softmax_output_sym_ops"] = [
    n.op for n in mx.sym.SoftmaxOutput(data, mx.sym.var("label"))._order() if n.op]

lstm = gluon.rnn.LSTM(8)
lstm.initialize()
seq = nd.random.uniform(shape=(5, 2, 4))
rnn_out, rnn_states = lstm(seq, lstm.begin_state(2))
result["lstm"] = [dt(rnn_out)] + [dt(s) for s in rnn_states]

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    amp.init(target_precision_ops=[])
result["second_init_warnings"] = [str(w.message) for w in caught]
result["fc_after_second_init"] = dt(nd.FullyConnected(nd.ones((2, 4)), nd.ones((3, 4)),
                                                      nd.zeros((3,)), num_hidden=3))
"""


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    return run_script(tmp_path_factory.mktemp("amp_layers"), LAYERS)


def test_gluon_layers_compute_in_float16_and_losses_in_float32_eagerly(layers):
    eager = layers["eager"]
    assert eager["conv"] == eager["dense1"] == eager["dense2"] == eager["out"] == "float16"
    assert eager["flatten"] == "float16"     # dtype-neutral: stays what it was given
    assert eager["softmax"] == eager["loss"] == eager["log_softmax"] == "float32"
    assert eager["method_softmax"] == "float32"     # x.softmax(): MXNet's fluent method too
    assert layers["params"] == ["float32"]          # the model itself stays float32


def test_hybridized_blocks_trace_the_same_casts(layers):
    hybrid = layers["hybrid"]
    assert hybrid["out"] == "float16"
    assert hybrid["loss"] == hybrid["softmax"] == "float32"
    assert hybrid["max_diff"] < 1e-2       # the same float16 computation as eager
    assert layers["head"] == ["float16", "float32"]  # F.FullyConnected / F.log_softmax inside
    # its weight's unknown dim found from its graph on Symbols, then float16 as any
    assert layers["deferred"] == ["float16", [4, 3]]


def test_symbols_and_blocks_called_on_symbols_get_amp_cast_nodes(layers):
    # data, weight and bias cast to float16 for the FullyConnected, its output back to
    # float32 for the softmax
    assert layers["sym_ops"] == ["amp_cast", "amp_cast", "amp_cast", "FullyConnected",
                                 "amp_cast", "softmax"]
    assert layers["sym_dtypes"] == ["float16", "float32"]
    ops = layers["block_sym_ops"]
    assert ops.index("amp_cast") < ops.index("Convolution")
    # the 3 inputs of the Convolution and of each FullyConnected (a Symbol's type is not
    # known, so the second Dense's float16 input is cast too, as MXNet's wrapper does)
    assert ops.count("amp_cast") == 9


def test_widest_and_conditional_ops(layers):
    assert layers["widest"] == ["float32", "float16", "float32"]
    assert layers["conditional"] == ["float32", "float16"]
    assert layers["untouched"] == ["float16", "float64"]


def test_loss_output_ops_scale_their_gradient_by_the_loss_scale(layers):
    np.testing.assert_allclose(layers["softmax_output_grad_ratio"], 2.0 ** 16, rtol=1e-5)
    # the scaling sits over SoftmaxOutput's float32 cast, which still applies
    assert layers["softmax_output_float16_in"] == "float32"
    assert layers["softmax_output_sym_ops"] == ["amp_cast", "amp_cast", "SoftmaxOutput"]


def test_gluon_recurrent_layers_run_in_float16(layers):
    assert layers["lstm"] == ["float16", "float16", "float16"]   # MXNet's fused RNN op


def test_init_twice_warns_and_keeps_the_first_lists(layers):
    assert any("already initialized" in w for w in layers["second_init_warnings"])
    assert layers["fc_after_second_init"] == "float16"


# ------------------------------------------------------------------ training
TRAINING = """
amp.init()
rng = np.random.RandomState(0)
X = rng.randn(64, 10).astype("float32")
Y = (X @ rng.randn(10, 4)).argmax(axis=1)
x, y = nd.array(X), nd.array(Y)
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

def model(hybridize):
    mx.random.seed(1)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(4))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.1, "momentum": 0.9})
    return net, trainer

for hybridize in (False, True):
    net, trainer = model(hybridize)
    amp.init_trainer(trainer)
    losses = []
    for _ in range(40):
        with autograd.record():
            loss = loss_fn(net(x), y).mean()
            with amp.scale_loss(loss, trainer) as scaled:
                autograd.backward(scaled)
        trainer.step(1)
        losses.append(float(loss.asscalar()))
    result["hybrid" if hybridize else "eager"] = dict(
        first=losses[0], last=losses[-1],
        params=sorted({dt(p.data()) for p in net.collect_params().values()}),
        grads=sorted({dt(p.grad()) for p in net.collect_params().values()}),
        scale=trainer._amp_loss_scaler.loss_scale)

# unscale: the scaled backward's gradients divided by the scale are the plain ones
net, trainer = model(False)
amp.init_trainer(trainer)
with autograd.record():
    loss = loss_fn(net(x), y).mean()
loss.backward()
plain = net[0].weight.grad().asnumpy().copy()
with autograd.record():
    loss = loss_fn(net(x), y).mean()
    with amp.scale_loss(loss, trainer) as scaled:
        scaled.backward()
scale = trainer._amp_loss_scaler.loss_scale
result["scale_and_trainer_scale"] = [scale, trainer._scale]
scaled_grad = net[0].weight.grad().asnumpy().copy()
amp.unscale(trainer)
unscaled = net[0].weight.grad().asnumpy().copy()
result["unscale"] = dict(
    scaled_ratio=float(np.abs(scaled_grad).sum() / np.abs(plain).sum()),
    max_err=float(np.abs(unscaled - plain).max()), plain_max=float(np.abs(plain).max()),
    trainer_scale=trainer._scale)
w = net[0].weight.data().asnumpy().copy()
trainer.step(1)
step = net[0].weight.data().asnumpy() - w
result["unscale"]["step_err"] = float(np.abs(step + 0.1 * unscaled).max())

with autograd.record():
    l1, l2 = loss_fn(net(x), y).mean(), 2 * loss_fn(net(x), y).mean()
    with amp.scale_loss([l1, l2], trainer) as scaled:
        result["list"] = [type(scaled).__name__, len(scaled),
                          float(scaled[1].asscalar() / l2.asscalar())]
        autograd.backward(scaled)
other = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
result["scale_loss_without_init_trainer"] = error_of(
    lambda: amp.scale_loss(loss, other).__enter__())
result["init_trainer_optimizer"] = error_of(amp.init_trainer, mx.optimizer.SGD())
"""


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    return run_script(tmp_path_factory.mktemp("amp_training"), TRAINING)


@pytest.mark.parametrize("mode", ["eager", "hybrid"])
def test_training_with_loss_scaling_lowers_the_loss(training, mode):
    run = training[mode]
    assert run["last"] < 0.5 * run["first"]
    assert run["params"] == run["grads"] == ["float32"]   # float32 master weights
    assert run["scale"] <= 2.0 ** 16


def test_unscale_divides_the_gradients_by_the_loss_scale(training):
    scale, trainer_scale = training["scale_and_trainer_scale"]
    assert trainer_scale == pytest.approx(1.0 / scale)   # scale_loss set trainer._scale
    u = training["unscale"]
    assert u["scaled_ratio"] == pytest.approx(scale, rel=1e-2)
    assert u["max_err"] <= 1e-2 * u["plain_max"]
    assert u["trainer_scale"] == 1.0
    assert u["step_err"] < 1e-6        # the following step rescaled by 1 / batch_size only


def test_scale_loss_takes_a_list_and_needs_init_trainer(training):
    kind, n, ratio = training["list"]
    assert (kind, n) == ("list", 2)
    assert ratio == pytest.approx(training["scale_and_trainer_scale"][0], rel=1e-6)
    kind, msg = training["scale_loss_without_init_trainer"]
    assert kind == "MXNetError" and "init_trainer" in msg
    kind, msg = training["init_trainer_optimizer"]
    assert kind == "TypeError" and "Trainer" in msg


# ------------------------------------------------------------------ the dynamic loss scaler
SCALER = """
amp.init()
rng = np.random.RandomState(0)
x, y = nd.array(rng.randn(8, 5)), nd.array(np.arange(8) % 3)
net = gluon.nn.HybridSequential()
net.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(3))
net.initialize(mx.init.Xavier())
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
net(x)
amp.init_trainer(trainer)
scaler = trainer._amp_loss_scaler
scaler._loss_scale = scaler._next_loss_scale = 1024.0   # small enough for clean steps
scaler._scale_seq_len = 3
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
steps = []
for k in range(7):
    factor = 1e30 if k == 2 else 1.0      # step 2: its float16 gradients overflow
    weights = [p.data().asnumpy().copy() for p in net.collect_params().values()]
    states = {i: s.copy() for i, s in trainer._states.items()}
    updates = trainer.optimizer.num_update
    with autograd.record():
        loss = loss_fn(net(x), y).mean() * factor
        with amp.scale_loss(loss, trainer) as scaled:
            scaled.backward()
    used = scaler.loss_scale
    trainer.step(1)
    after = [p.data().asnumpy() for p in net.collect_params().values()]
    steps.append(dict(
        used=used, scale=scaler.loss_scale, next=scaler._next_loss_scale,
        weights_kept=all(np.array_equal(a, b) for a, b in zip(weights, after)),
        states_kept=bool(states) and all(np.array_equal(s, trainer._states[i])
                                         for i, s in states.items()),
        counted=trainer.optimizer.num_update - updates,
        finite=all(np.isfinite(p.grad().asnumpy()).all()
                   for p in net.collect_params().values())))
result["steps"] = steps
"""


def test_overflow_skips_the_update_and_halves_then_clean_steps_double(tmp_path):
    steps = run_script(tmp_path, SCALER)["steps"]
    s = 1024.0
    # MXNet's order: a check adopts the scale the previous one decided, then decides
    assert [st["used"] for st in steps] == [s, s, s, s, s / 2, s / 2, s / 2]
    assert [st["scale"] for st in steps] == [s, s, s, s / 2, s / 2, s / 2, s]
    assert [st["next"] for st in steps] == [s, s, s / 2, s / 2, s / 2, s, s]
    skipped = steps[2]
    assert not skipped["finite"]
    assert skipped["weights_kept"] and skipped["states_kept"] and skipped["counted"] == 0
    for st in steps[:2] + steps[3:]:
        assert st["finite"] and not st["weights_kept"] and st["counted"] == 1


HELD = """
from tracegrad.tracing import update_fusion
update_fusion.SLOW_BUILD = float("inf")      # learn the fusion after LEARN steps, always
amp.init(target_precision_ops=[], fp32_ops=[], conditional_fp32_ops=[])   # float32 model
rng = np.random.RandomState(0)
X = rng.randn(16, 5).astype("float32")
y = nd.array(np.arange(16) % 3)
net = gluon.nn.HybridSequential()
net.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(3))
net.initialize(mx.init.Xavier())
net.hybridize()
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05, "momentum": 0.9})
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

def step(data, scaled_by_amp):
    with autograd.record():
        loss = loss_fn(net(nd.array(data)), y)
        if scaled_by_amp:
            with amp.scale_loss(loss, trainer) as scaled:
                scaled.backward()
        else:
            (65536.0 * loss).backward()        # the very graph scale_loss records
    trainer.step(16)

trainer._scale = 1.0 / 65536
for _ in range(10):         # captured, then fused with the update: backward holds the step
    step(X, False)
result["fused_before"] = mx.stats()["fused_update_steps"]
trainer._scale = 1.0
amp.init_trainer(trainer)
step(X, True)
misses = mx.stats()["update_fusion_misses"]
weights = [p.data().asnumpy().copy() for p in net.collect_params().values()]
states = {i: s.copy() for i, s in trainer._states.items()}
bad = X.copy()
bad[0, 0] = np.inf
step(bad, True)
result["held_finished"] = mx.stats()["update_fusion_misses"] - misses
result["finite"] = all(np.isfinite(p.grad().asnumpy()).all()
                       for p in net.collect_params().values())
result["weights_kept"] = all(np.array_equal(w, p.data().asnumpy())
                             for w, p in zip(weights, net.collect_params().values()))
result["states_kept"] = all(np.array_equal(s, trainer._states[i]) for i, s in states.items())
result["next_scale"] = trainer._amp_loss_scaler._next_loss_scale
step(X, True)
result["recovered"] = all(np.isfinite(p.data().asnumpy()).all()
                          for p in net.collect_params().values())
"""


def test_a_step_held_for_the_fused_update_is_checked_before_its_update(tmp_path):
    got = run_script(tmp_path, HELD)
    assert got["fused_before"] >= 1           # the held-step path was live
    assert got["held_finished"] == 1          # trainer.step finished the held backward
    assert not got["finite"]
    assert got["weights_kept"] and got["states_kept"]
    assert got["next_scale"] == 2.0 ** 15
    assert got["recovered"]


# ------------------------------------------------------------------ init's checks, _reset
RESET = """
from tracegrad import recurrent
from tracegrad.contrib_amp import wrapping
from tracegrad.gluon import symbolic_shapes
originals = dict(nd_fc=nd.FullyConnected, nd_softmax=nd.softmax, nd_concat=nd.concat,
                 method=nd._METHODS["softmax"], run_layers=recurrent.run_layers,
                 nd_softmax_output=nd.SoftmaxOutput,
                 shapes=symbolic_shapes.infer_shapes_symbolically)
sym_dict = {k for k in ("FullyConnected", "softmax", "SoftmaxOutput") if k in vars(mx.sym)}
result["bfloat16"] = error_of(amp.init, target_dtype="bfloat16")
result["unknown_op"] = error_of(amp.init, target_precision_ops=["FullyConnected", "Nope"])
result["patched_after_errors"] = len(wrapping._STATE.patches)
result["init_trainer_first"] = error_of(
    amp.init_trainer, gluon.Trainer(gluon.nn.Dense(2).collect_params(), "sgd"))
result["mxnet_only_op_skipped"] = error_of(
    amp.init, target_precision_ops=["FullyConnected", "_contrib_DeformableConvolution"])
fc = lambda: dt(nd.FullyConnected(nd.ones((2, 4)), nd.ones((3, 4)), nd.zeros((3,)),
                                  num_hidden=3))
result["fc_on"] = fc()
result["changed"] = [nd.FullyConnected is not originals["nd_fc"],
                     recurrent.run_layers is not originals["run_layers"]]   # (no RNN listed)
amp._reset()
result["restored"] = [nd.FullyConnected is originals["nd_fc"], nd.softmax is originals["nd_softmax"],
                      nd.concat is originals["nd_concat"],
                      nd._METHODS["softmax"] is originals["method"],
                      recurrent.run_layers is originals["run_layers"],
                      nd.SoftmaxOutput is originals["nd_softmax_output"],
                      symbolic_shapes.infer_shapes_symbolically is originals["shapes"],
                      {k for k in ("FullyConnected", "softmax", "SoftmaxOutput")
                       if k in vars(mx.sym)} == sym_dict]
result["fc_off"] = fc()
amp.init()
result["fc_again"] = fc()
result["rnn_wrapped"] = recurrent.run_layers is not originals["run_layers"]
amp._reset()
result["rnn_restored"] = recurrent.run_layers is originals["run_layers"]
"""


def test_init_refuses_bfloat16_and_unknown_ops_and_reset_restores_every_function(tmp_path):
    got = run_script(tmp_path, RESET)
    kind, msg = got["bfloat16"]
    assert kind == "MXNetError" and "bfloat16" in msg and "float16" in msg
    kind, msg = got["unknown_op"]
    assert kind == "MXNetError" and "'Nope'" in msg
    assert got["patched_after_errors"] == 0       # a refused init wraps nothing
    kind, msg = got["init_trainer_first"]
    assert kind == "MXNetError" and "amp.init()" in msg
    assert got["mxnet_only_op_skipped"] is None   # an MXNet op tracegrad lacks is skipped
    assert got["fc_on"] == "float16" and got["changed"] == [True, False]
    assert got["restored"] == [True] * 8
    assert got["fc_off"] == "float32"
    assert got["fc_again"] == "float16"
    assert got["rnn_wrapped"] and got["rnn_restored"]


# ------------------------------------------------------------------ in this process
def test_importing_amp_wraps_nothing():
    import tracegrad.contrib.amp as by_path
    assert by_path is amp is mx.contrib.amp
    assert nd.FullyConnected.__code__.co_name != "amp_wrapper"
    assert "FullyConnected" not in vars(mx.sym) or \
        vars(mx.sym)["FullyConnected"].__code__.co_name != "amp_wrapper"


def test_op_lists_are_mxnets_and_bfloat16_is_refused():
    assert amp.list_fp16_ops("float16") == amp.list_lp16_ops(np.float16) == [
        "Convolution", "Deconvolution", "FullyConnected", "RNN"]
    assert {"softmax", "log_softmax", "exp", "SoftmaxOutput"} <= set(amp.list_fp32_ops("float16"))
    assert {"BatchNorm", "relu", "Pooling"} <= set(amp.list_fp16_fp32_ops("float16"))
    assert ("Activation", "act_type", ["softrelu"]) in amp.list_conditional_fp32_ops("float16")
    assert {"concat", "broadcast_add", "where"} <= set(amp.list_widest_type_cast("float16"))
    assert amp.list_loss_output_functions("float16") == [
        "SoftmaxOutput", "LinearRegressionOutput", "LogisticRegressionOutput",
        "MAERegressionOutput"]
    assert amp.list_lp16_use_fp32_params("float16") is None
    with pytest.raises(MXNetError, match="bfloat16.*float16"):
        amp.list_lp16_ops("bfloat16")
    with pytest.raises(MXNetError, match="float16"):
        amp.list_fp32_ops("int8")


def test_loss_scaler_defaults_and_cap():
    from tracegrad.contrib_amp.loss_scaler import LossScaler
    s = LossScaler()
    assert (s.loss_scale, s._max_loss_scale, s._scale_seq_len) == (2.0 ** 16, 2.0 ** 24, 2000)
    p = gluon.Parameter("w", shape=(2,))
    p.initialize()
    s._loss_scale = s._next_loss_scale = 2.0 ** 24
    s._scale_seq_len = 1
    assert not s.has_overflow([p])              # zero gradients: clean
    assert s._next_loss_scale == 2.0 ** 24      # doubling stops at the maximum
    p.grad()[:] = np.array([1.0, np.nan])
    assert s.has_overflow([p]) and s._next_loss_scale == 2.0 ** 23


def _mlp_symbol():
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=4, name="fc2")
    add = mx.sym.broadcast_add(fc2, mx.sym.var("b"), name="add")
    return mx.sym.softmax(add, name="sm")


def _mlp_args():
    rng = np.random.RandomState(0)
    return {"data": nd.array(rng.randn(3, 8)), "fc1_weight": nd.array(rng.randn(16, 8) * 0.3),
            "fc1_bias": nd.array(rng.randn(16) * 0.1),
            "fc2_weight": nd.array(rng.randn(4, 16) * 0.3),
            "fc2_bias": nd.zeros((4,)), "b": nd.array(rng.randn(1, 4))}


def test_convert_symbol_inserts_casts_and_computes_close_to_float32():
    sym, args = _mlp_symbol(), _mlp_args()
    conv = amp.convert_symbol(sym)
    nodes = {n.name: n for n in conv._order()}
    for name in ("data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
        assert nodes[f"{name}_amp_cast_float16"].op == "amp_cast"
    assert nodes["fc2_output_amp_multicast"].op == "amp_multicast"   # b's type is unknown
    assert nodes["add_0_amp_cast_float32"].op == "amp_cast"          # into the softmax
    assert conv.list_arguments() == sym.list_arguments()
    ref = sym.bind(mx.cpu(), args).forward()[0]
    got = conv.bind(mx.cpu(), args).forward()[0]
    fc1 = conv.get_internals()["fc1_output"]
    fc1 = fc1.bind(mx.cpu(), {k: args[k] for k in fc1.list_arguments()}).forward()[0]
    assert fc1.dtype == np.float16 and got.dtype == np.float32
    np.testing.assert_allclose(got.asnumpy(), ref.asnumpy(), rtol=1e-2, atol=1e-3)
    # the JSON round trip keeps amp_multicast's two outputs
    again = mx.sym.load_json(conv.tojson(remove_amp_cast=False))
    np.testing.assert_array_equal(again.bind(mx.cpu(), args).forward()[0].asnumpy(),
                                  got.asnumpy())
    # by default (MXNet's), tojson / save drop the casts: the float32 graph
    plain = mx.sym.load_json(conv.tojson())
    assert "amp_cast" not in {n.op for n in plain._order()}
    np.testing.assert_array_equal(plain.bind(mx.cpu(), args).forward()[0].asnumpy(),
                                  ref.asnumpy())
    # shape inference passes the FullyConnected rules through the casts to the weights
    shapes = {k: tuple(v.shape) for k, v in args.items()}
    arg_shapes, _, _ = conv.infer_shape(data=shapes["data"], b=shapes["b"])
    assert dict(zip(conv.list_arguments(), arg_shapes)) == shapes


def test_convert_symbol_lists_exclusions_and_checks():
    sym = _mlp_symbol()
    ops = [n.op for n in amp.convert_symbol(sym, excluded_sym_names=["fc2"])._order()]
    # fc1's three inputs; fc2 (float32) reads relu1's float16 output through a cast, its
    # weights as they are; the softmax reads the multicast add through one
    assert ops.count("amp_cast") == 5 and "amp_multicast" in ops
    kept = amp.convert_symbol(sym, target_dtype_ops=[], fp32_ops=[],
                              conditional_fp32_ops=[])
    assert "amp_cast" not in [n.op for n in kept._order()][:-1]   # the output cast only
    with pytest.raises(MXNetError, match="two or more lists"):
        amp.convert_symbol(sym, target_dtype_ops=["FullyConnected"],
                           fp32_ops=["FullyConnected"])
    with pytest.raises(MXNetError, match="Nope"):
        amp.convert_symbol(sym, fp32_ops=["Nope"])
    with pytest.raises(MXNetError, match="bfloat16"):
        amp.convert_symbol(sym, target_dtype="bfloat16")
    with pytest.raises(MXNetError, match="Symbol"):
        amp.convert_symbol(nd.ones((1,)))


def test_convert_model_casts_the_parameters_its_graph_reads_in_float16():
    sym, args = _mlp_symbol(), _mlp_args()
    params = {k: v for k, v in args.items() if k != "data"}
    ref = sym.bind(mx.cpu(), args).forward()[0].asnumpy()
    conv, arg_params, aux_params = amp.convert_model(sym, dict(params), {},
                                                     cast_optional_params=True)
    attrs = conv.attr_dict()
    assert attrs["fc1_weight"]["__dtype__"] == "2" and attrs["b"]["__dtype__"] == "0"
    assert arg_params["fc1_weight"].dtype == np.float16 and arg_params["b"].dtype == np.float32
    assert "fc1_weight_amp_cast_float16" not in {n.name for n in conv._order()}
    got = conv.bind(mx.cpu(), dict(arg_params, data=args["data"])).forward()[0]
    np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-2, atol=1e-3)
    conv, arg_params, _ = amp.convert_model(sym, dict(params), {})
    assert arg_params["fc1_weight"].dtype == np.float32       # cast in the graph instead
    assert conv.attr_dict()["fc1_weight"]["__dtype__"] == "0"


def test_convert_hybrid_block_gives_a_symbol_block_close_to_float32():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, activation="relu"), gluon.nn.BatchNorm(),
            gluon.nn.Flatten(), gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    x = nd.random.uniform(shape=(2, 1, 6, 6))
    with pytest.raises(MXNetError, match="hybridize"):
        amp.convert_hybrid_block(net)
    net.hybridize()
    ref = net(x).asnumpy()
    for cast_params in (False, True):
        block = amp.convert_hybrid_block(net, cast_optional_params=cast_params)
        assert isinstance(block, gluon.SymbolBlock)
        ops = [n.op for n in block._sym._order() if n.op is not None]
        assert "amp_cast" in ops and ops.index("amp_cast") < ops.index("Convolution")
        dtypes = {k: np.dtype(p.dtype).name for k, p in block.collect_params().items()}
        weights = "float16" if cast_params else "float32"
        assert dtypes[net[0].weight.name] == dtypes[net[4].weight.name] == weights
        assert dtypes[net[1].gamma.name] == dtypes[net[1].running_var.name] == "float32"
        out = block(x)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.asnumpy(), ref, rtol=1e-2, atol=1e-2)


def test_convert_symbol_default_data_names_are_the_inputs_without_a_dtype():
    """MXNet's convert_symbol (data_names=None): every input without a __dtype__ attribute is
    data (float32, left without __dtype__); the others are the model's parameters, whose
    __dtype__ is set from the converted graph (c_api_symbolic.cc _UpdateSymDTypeAttrs)."""
    def mlp(data):
        fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
        return mx.sym.softmax(mx.sym.FullyConnected(mx.sym.relu(fc), num_hidden=3, name="fc2"))
    weights = ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"]
    plain = amp.convert_symbol(mlp(mx.sym.var("data")))
    assert not any("__dtype__" in a for a in plain.attr_dict().values())
    exe = plain.simple_bind(mx.cpu(), data=(2, 5))    # (untyped inputs bind as float32)
    assert all(a.dtype == np.float32 for a in exe.arg_dict.values())
    assert exe.forward()[0].dtype == np.float32
    # a typed input is a model parameter: the weights are the data, and get no __dtype__
    typed = amp.convert_symbol(mlp(mx.sym.var("data", dtype="float32")))
    attrs = typed.attr_dict()
    assert attrs["data"]["__dtype__"] == "0"
    assert not any("__dtype__" in attrs.get(w, {}) for w in weights)
    # naming the data: the rest are parameters, each given its float32 code
    named = amp.convert_symbol(mlp(mx.sym.var("data")), data_names=["data"])
    attrs = named.attr_dict()
    assert [attrs[w]["__dtype__"] for w in weights] == ["0"] * 4
    assert "__dtype__" not in attrs.get("data", {})
