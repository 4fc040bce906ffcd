"""mx.mon.Monitor: the statistics it reports are the numpy norms of the arrays it names
(operator outputs, arguments, with monitor_all the inputs), only on the batches its interval
selects and for names its pattern matches; Module / BucketingModule / SequentialModule
install it, fit(monitor=...) logs it, and watching changes nothing of the training."""
import logging
import re

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError


def _rms(a):
    a = np.asarray(a, np.float64)
    return np.linalg.norm(a.ravel()) / np.sqrt(a.size)


def _small_exe(seed=0):
    """data -> fc -> relu -> SoftmaxOutput, bound with random values."""
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    out = mx.sym.SoftmaxOutput(mx.sym.Activation(fc, act_type="relu", name="relu"), name="sm")
    exe = out.simple_bind(data=(4, 5))
    rng = np.random.default_rng(seed)
    for k, v in exe.arg_dict.items():
        v[:] = rng.standard_normal(v.shape).astype(np.float32)
    exe.arg_dict["sm_label"][:] = np.array([0, 1, 2, 1], np.float32)
    return exe


def _forward_np(exe):
    a = {k: v.asnumpy().astype(np.float64) for k, v in exe.arg_dict.items()}
    fc = a["data"] @ a["fc_weight"].T + a["fc_bias"]
    relu = np.maximum(fc, 0)
    e = np.exp(relu - relu.max(1, keepdims=True))
    return a, {"fc_output": fc, "relu_output": relu,
               "sm_output": e / e.sum(1, keepdims=True)}


def _as_dict(res):
    out = {}
    for _, name, text in res:
        out.setdefault(name, []).append(float(text.strip()))
    return out


def test_default_stat_is_the_norm_over_sqrt_size_of_each_named_array():
    exe = _small_exe()
    mon = mx.mon.Monitor(1)
    mon.install(exe)
    mon.tic()
    exe.forward(is_train=False)
    res = mon.toc()
    args, outs = _forward_np(exe)
    # forward's operator outputs in graph order, then the arguments (toc)
    assert [name for _, name, _ in res] == ["fc_output", "relu_output", "sm_output", "data",
                                            "fc_weight", "fc_bias", "sm_label"]
    assert all(step == 1 for step, _, _ in res)
    assert all(text.endswith("\t") for _, _, text in res)
    got = _as_dict(res)
    for name, arr in list(outs.items()) + list(args.items()):
        np.testing.assert_allclose(got[name], [_rms(arr)], rtol=1e-5, err_msg=name)
    assert mon.toc() == []          # inactive until the next tic()


def test_monitor_all_also_reports_each_nodes_inputs():
    exe = _small_exe(1)
    mon = mx.mon.Monitor(1, monitor_all=True, pattern="fc_|relu_|data")
    mon.install(exe)
    mon.tic()
    exe.forward()
    args, outs = _forward_np(exe)
    got = _as_dict(mon.toc())
    # MXNet: a variable input under its own name, then <node>_<input>, then the outputs
    # (Activation registers no input names: its input is relu_input0)
    assert set(got) == {"data", "fc_data", "fc_weight", "fc_bias", "fc_output", "relu_input0",
                        "relu_output"}
    np.testing.assert_allclose(got["fc_data"], [_rms(args["data"])], rtol=1e-5)
    # the variable 'fc_weight', fc's input 'fc_weight' (the same name, as in MXNet), and toc's
    np.testing.assert_allclose(got["fc_weight"], [_rms(args["fc_weight"])] * 3, rtol=1e-5)
    np.testing.assert_allclose(got["relu_input0"], [_rms(outs["fc_output"])], rtol=1e-5)
    np.testing.assert_allclose(got["relu_output"], [_rms(outs["relu_output"])], rtol=1e-5)
    assert len(got["data"]) == 2     # the variable input and toc's argument


def test_the_pattern_matches_from_the_start_and_sort_orders_by_name():
    exe = _small_exe()
    mon = mx.mon.Monitor(1, pattern=".*weight|.*output", sort=True)
    mon.install(exe)
    mon.tic()
    exe.forward()
    names = [name for _, name, _ in mon.toc()]
    assert names == sorted(names) == ["fc_output", "fc_weight", "relu_output", "sm_output"]
    only = mx.mon.Monitor(1, pattern="output")      # re.match: 'fc_output' does not start so
    only.install(exe)
    only.tic()
    exe.forward()
    assert only.toc() == []


def test_only_every_interval_th_batch_is_collected():
    exe = _small_exe()
    mon = mx.mon.Monitor(3, pattern="sm_output")
    mon.install(exe)
    steps = []
    for _ in range(8):
        mon.tic()
        exe.forward()
        res = mon.toc()
        steps.extend(step for step, _, _ in res)
        assert len(res) in (0, 1)
    assert steps == [1, 4, 7]


def test_a_custom_stat_func_and_its_text():
    exe = _small_exe()
    mon = mx.mon.Monitor(1, stat_func=lambda x: [nd.max(x), x[0:2]], pattern="fc_bias")
    mon.install(exe)
    mon.tic()
    exe.forward()
    (step, name, text), = mon.toc()
    bias = exe.arg_dict["fc_bias"].asnumpy()
    first, second = text.split("\t")[:2]
    assert name == "fc_bias" and text.count("\t") == 2
    np.testing.assert_allclose(float(first), bias.max(), rtol=1e-6)
    assert second == str(bias[0:2])                    # a non-(1,) stat prints as an array
    bad = mx.mon.Monitor(1, stat_func=lambda x: 1.0, pattern="fc_bias")
    bad.install(exe)
    bad.tic()
    with pytest.raises(MXNetError, match="stat_func must return an NDArray"):
        bad.toc()


def test_watching_does_not_change_the_gradients():
    plain, watched = _small_exe(3), _small_exe(3)
    mon = mx.mon.Monitor(1, monitor_all=True)
    mon.install(watched)
    mon.tic()
    for exe in (plain, watched):
        exe.forward(is_train=True)
        exe.backward()
    assert len(mon.toc()) > 0
    for k in ("fc_weight", "fc_bias", "data"):
        np.testing.assert_array_equal(watched.grad_dict[k].asnumpy(),
                                      plain.grad_dict[k].asnumpy())


def test_executor_callback_names_and_reshape_keeps_it():
    exe = _small_exe()
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append((name, tuple(arr.shape))))
    exe.forward(is_train=True)
    assert seen == [("fc_output", (4, 3)), ("relu_output", (4, 3)), ("sm_output", (4, 3))]
    exe.backward()               # then MXNet's backward nodes (symbol/monitor_backward.py)
    assert seen[3:] == [("sm_backward_output0", (4, 3)), ("sm_backward_output1", (4,)),
                        ("relu_backward_output", (4, 3)), ("fc_backward_output0", (4, 5)),
                        ("fc_backward_output1", (3, 5)), ("fc_backward_output2", (3,))]
    seen.clear()
    bigger = exe.reshape(allow_up_sizing=True, data=(6, 5), sm_label=(6,))
    bigger.forward()
    assert seen == [("fc_output", (6, 3)), ("relu_output", (6, 3)), ("sm_output", (6, 3))]
    with pytest.raises(MXNetError, match="callable"):
        exe.set_monitor_callback("not a function")


def test_bad_arguments():
    with pytest.raises(MXNetError, match="interval"):
        mx.mon.Monitor(0)
    with pytest.raises(MXNetError, match="regular expression"):
        mx.mon.Monitor(1, pattern="(")
    with pytest.raises(MXNetError, match="Executor"):
        mx.mon.Monitor(1).install(object())
    mod = mx.mod.Module(_mlp_sym())
    with pytest.raises(MXNetError, match="bind"):
        mod.install_monitor(mx.mon.Monitor(1))
    assert mx.monitor.Monitor is mx.mon.Monitor


# ---------------------------------------------------------------------------- modules
def _mlp_sym():
    data = mx.sym.var("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=8, name="fc1"),
                          act_type="tanh", name="act1")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=2, name="fc2"),
                                name="softmax")


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.float32)


def _init(seed=1):
    rng = np.random.default_rng(seed)
    return {"fc1_weight": rng.standard_normal((8, 6)).astype(np.float32) * 0.5,
            "fc1_bias": rng.standard_normal(8).astype(np.float32) * 0.1,
            "fc2_weight": rng.standard_normal((2, 8)).astype(np.float32) * 0.5,
            "fc2_bias": np.zeros(2, np.float32)}


def _fit(monitor, num_epoch=2):
    X, y = _data()
    mod = mx.mod.Module(_mlp_sym())
    mod.fit(mx.io.NDArrayIter(X, y, batch_size=8), num_epoch=num_epoch,
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            arg_params={k: nd.array(v) for k, v in _init().items()}, monitor=monitor)
    return mod


_LINE = re.compile(r"Batch:\s+(\d+) (\S+)\s+(\S+)\t$")


def test_fit_with_a_monitor_logs_every_interval_and_trains_the_same(caplog):
    mon = mx.mon.Monitor(2, pattern="fc1_.*")
    with caplog.at_level(logging.INFO):
        watched = _fit(mon)
    lines = [_LINE.match(r.getMessage()) for r in caplog.records
             if r.getMessage().startswith("Batch:")]
    assert lines and all(lines)
    # 2 epochs x 5 batches: collected on batches 1, 3, 5, 7, 9; each the forward's fc1_output,
    # the backward's fc1 node (data, weight and bias gradients), then fc1_weight and fc1_bias
    # after the update
    assert sorted({int(m.group(1)) for m in lines}) == [1, 3, 5, 7, 9]
    assert [m.group(2) for m in lines[:6]] == [
        "fc1_output", "fc1_backward_output0", "fc1_backward_output1", "fc1_backward_output2",
        "fc1_weight", "fc1_bias"]
    plain = _fit(None)
    got, want = watched.get_params()[0], plain.get_params()[0]
    for k in want:   # (a watched step runs eagerly, an unwatched one natively: rounding)
        np.testing.assert_allclose(got[k].asnumpy(), want[k].asnumpy(), rtol=1e-6, atol=1e-7,
                                   err_msg=k)


def test_fit_monitor_values_are_those_of_the_step():
    """Interval 1, one epoch: each batch's fc1_output is fc1 on that batch with the parameters
    before its update, and fc1_weight (toc, after the update) the parameters after it."""
    seen = []
    mon = mx.mon.Monitor(1, stat_func=lambda x: seen.append(x.asnumpy().copy()) or nd.norm(x),
                         pattern="fc1_weight|fc1_output")
    X, y = _data()
    mod = mx.mod.Module(_mlp_sym())
    params = []

    def remember(param):
        params.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    mod.fit(mx.io.NDArrayIter(X, y, batch_size=8), num_epoch=1,
            optimizer_params={"learning_rate": 0.1},
            arg_params={k: nd.array(v) for k, v in _init().items()}, monitor=mon,
            batch_end_callback=remember)
    assert len(seen) == 10 and len(params) == 5
    starts = [_init()] + params[:-1]
    for i in range(5):
        out, weight = seen[2 * i], seen[2 * i + 1]
        w = starts[i]
        np.testing.assert_allclose(out, X[8 * i:8 * i + 8] @ w["fc1_weight"].T + w["fc1_bias"],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(weight, params[i]["fc1_weight"])
    assert not np.array_equal(params[0]["fc1_weight"], _init()["fc1_weight"])


def test_module_rebind_keeps_one_executor_installed():
    X, y = _data()
    mod = mx.mod.Module(_mlp_sym())
    mod.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    mod.init_params(arg_params={k: nd.array(v) for k, v in _init().items()})
    mon = mx.mon.Monitor(1, pattern="fc2_output|fc1_weight")
    mod.install_monitor(mon)
    mon.tic()
    mod.forward(mx.io.DataBatch([nd.array(X[:3])], [nd.array(y[:3])]), is_train=False)
    res = mon.toc()
    assert len(mon.exes) == 1 and mon.exes[0] is mod._exec
    assert [name for _, name, _ in res] == ["fc2_output", "fc1_weight"]
    w = _init()
    h = np.tanh(X[:3] @ w["fc1_weight"].T + w["fc1_bias"])
    np.testing.assert_allclose(float(res[0][2]), _rms(h @ w["fc2_weight"].T + w["fc2_bias"]),
                               rtol=1e-5)


def test_bucketing_module_monitors_buckets_bound_later():
    def sym_gen(seq_len):
        data = mx.sym.var("data")
        emb = mx.sym.Embedding(data, input_dim=10, output_dim=4, name="embed")
        out = mx.sym.FullyConnected(mx.sym.sum(emb, axis=1), num_hidden=3, name="fc")
        return mx.sym.SoftmaxOutput(out, name="softmax"), ("data",), ("softmax_label",)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=6)
    mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])
    mod.init_params()
    shapes = []
    mon = mx.mon.Monitor(1, stat_func=lambda x: shapes.append(tuple(x.shape)) or nd.norm(x),
                         pattern="embed_output")
    mod.install_monitor(mon)
    rng = np.random.default_rng(0)
    for key in (6, 3):
        mon.tic()
        mod.forward(mx.io.DataBatch([nd.array(rng.integers(0, 10, (4, key)))],
                                    [nd.array([0, 1, 2, 0])], bucket_key=key))
        assert [name for _, name, _ in mon.toc()] == ["embed_output"]
    assert shapes == [(4, 6, 4), (4, 3, 4)]
    assert len(mon.exes) == 2


def test_sequential_module_installs_on_every_module():
    d1 = mx.sym.var("data")
    s1 = mx.sym.Activation(mx.sym.FullyConnected(d1, num_hidden=8, name="fc1"),
                           act_type="tanh", name="act1")
    d2 = mx.sym.var("act1_output")
    s2 = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(d2, num_hidden=2, name="fc2"),
                              name="softmax")
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(s1, label_names=None))
    seq.add(mx.mod.Module(s2, data_names=["act1_output"]), take_labels=True)
    X, y = _data()
    seq.bind(data_shapes=[("data", (8, 6))], label_shapes=[("softmax_label", (8,))])
    seq.init_params(arg_params={k: nd.array(v) for k, v in _init().items()})
    mon = mx.mon.Monitor(1, pattern=".*_output")
    seq.install_monitor(mon)
    mon.tic()
    seq.forward(mx.io.DataBatch([nd.array(X[:8])], [nd.array(y[:8])]), is_train=False)
    got = _as_dict(mon.toc())
    # module 1's data argument 'act1_output' is reported by toc, as MXNet lists arguments
    assert set(got) == {"fc1_output", "act1_output", "fc2_output", "softmax_output"}
    w = _init()
    h = np.tanh(X[:8] @ w["fc1_weight"].T + w["fc1_bias"])
    np.testing.assert_allclose(got["act1_output"], [_rms(h)] * 2, rtol=1e-5)
    np.testing.assert_allclose(got["fc2_output"], [_rms(h @ w["fc2_weight"].T)], rtol=1e-5)
