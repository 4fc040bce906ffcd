"""mx.profiler: MXNet 1.x's profiler API. While it runs it times every eager op and every
native call of compiled code; stopped, it records nothing and leaves no hook installed."""
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import array, autograd, gluon, nd, profiler
from tracegrad.runtime import native


@pytest.fixture
def fresh_profiler(tmp_path):
    profiler.set_state("stop")
    profiler.dumps(reset=True)
    profiler.set_config(filename=str(tmp_path / "profile.json"), profile_all=True,
                        aggregate_stats=True)
    profiler.dump()          # (takes the events earlier tests left)
    yield tmp_path / "profile.json"
    profiler.set_state("stop")
    profiler.dumps(reset=True)


def _stats():
    return json.loads(profiler.dumps(format="json"))["Time"]


def test_eager_ops_and_native_calls_are_timed_while_running(fresh_profiler):
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    net.hybridize()
    x = nd.ones((2, 4))
    net(x)                                   # compiled before the profiler starts
    nd.exp(x)                                # not recorded: stopped
    profiler.set_state("run")
    y = nd.exp(x) + 1
    out = net(x)
    profiler.set_state("stop")
    nd.log(x)                                # not recorded: stopped again
    stats = _stats()
    assert stats["operator"]["exp"]["Count"] == 1
    assert "log" not in stats["operator"]
    native_names = list(stats["native"])
    assert len(native_names) == 1 and native_names[0].startswith("native:@")
    assert stats["native"][native_names[0]]["Count"] == 1
    np.testing.assert_allclose(y.asnumpy(), np.e + 1, rtol=1e-6)   # results unchanged
    assert out.shape == (2, 3)
    table = profiler.dumps()
    assert "operator" in table and "Total Count" in table and "exp" in table


def test_stopped_profiler_leaves_no_hook(fresh_profiler):
    profiler.set_state("run")
    profiler.set_state("stop")
    assert array._PROFILE is None and native._ENTRY_WRAPPER[0] is None
    net = gluon.nn.Dense(2, in_units=2)
    net.initialize()
    net.hybridize()
    net(nd.ones((1, 2)))
    for f in list(native._LIVE):
        assert f._entry is f._plain_entry


def test_pause_resume_scope_and_user_events(fresh_profiler):
    profiler.set_state("run")
    nd.sqrt(nd.ones(3))
    profiler.pause()
    nd.sqrt(nd.ones(3))
    profiler.resume()
    with profiler.scope("train:"):
        nd.sqrt(nd.ones(3))
    domain = profiler.Domain("mine")
    task = domain.new_task("load")
    task.start()
    task.stop()
    with profiler.Event("epoch"):
        pass
    counter = domain.new_counter("seen", 0)
    counter += 5
    domain.new_marker("here").mark()
    profiler.set_state("stop")
    stats = _stats()
    assert stats["operator"]["sqrt"]["Count"] == 1
    assert stats["operator"]["train:sqrt"]["Count"] == 1
    assert stats["mine"]["load"]["Count"] == 1
    assert stats["event"]["epoch"]["Count"] == 1
    profiler.dump()
    trace = json.loads(fresh_profiler.read_text())
    phases = {e["ph"] for e in trace["traceEvents"]}
    assert {"X", "C", "i", "M"} <= phases
    assert [e["args"]["seen"] for e in trace["traceEvents"] if e["ph"] == "C"] == [0, 5]


def test_a_profiled_training_loop_trains_as_without_it(fresh_profiler):
    def train(profile):
        mx.random.seed(0)
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(8, activation="relu", in_units=4), gluon.nn.Dense(2, in_units=8))
        net.initialize()
        net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        x = nd.array(np.random.RandomState(1).randn(6, 4))
        y = nd.array([0, 1, 0, 1, 1, 0])
        if profile:
            profiler.set_state("run")
        for _ in range(8):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(6)
        profiler.set_state("stop")
        return [p.data().asnumpy() for p in net.collect_params().values()]
    for a, b in zip(train(True), train(False)):
        np.testing.assert_array_equal(a, b)
    assert sum(s["Count"] for s in _stats()["native"].values()) >= 8


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['profile_everything'\]"):
        profiler.set_config(profile_everything=True)
    with pytest.raises(ValueError, match="state must be 'run' or 'stop'"):
        profiler.set_state("start")
    with pytest.raises(ValueError, match="sort_by"):
        profiler.dumps(sort_by="name")


def test_dumps_reset_clears_the_statistics_and_dump_takes_the_events(fresh_profiler):
    """MXNet: dumps(reset=True) clears the aggregate statistics only; dump() writes the events
    recorded since the last dump (its DumpProfile dequeues them)."""
    x = nd.ones((2, 2))
    profiler.set_state("run")
    nd.exp(x)
    profiler.set_state("stop")
    assert _stats()["operator"]["exp"]["Count"] == 1
    profiler.dumps(reset=True)
    assert "operator" not in _stats()
    profiler.dump()
    names = [e["name"] for e in json.loads(fresh_profiler.read_text())["traceEvents"]]
    assert "exp" in names
    profiler.dump()
    names = [e["name"] for e in json.loads(fresh_profiler.read_text())["traceEvents"]]
    assert "exp" not in names


def test_a_run_never_dumped_is_written_at_exit_once(fresh_profiler):
    """MXNet's Profiler writes the trace at exit when profiling ran and no dump() took the
    output (example/profiler's scripts only call set_state('stop'))."""
    fresh_profiler.unlink()
    profiler.set_state("run")
    nd.ones((2, 2)).sum().wait_to_read()
    profiler.set_state("stop")
    profiler._dump_at_exit()           # what atexit runs
    events = json.loads(fresh_profiler.read_text())["traceEvents"]
    assert any(e["name"] == "sum" for e in events)
    fresh_profiler.unlink()
    profiler._dump_at_exit()           # the output was taken: nothing more is written
    assert not fresh_profiler.exists()
    profiler.set_state("run")
    profiler.set_state("stop")
    profiler.dump()                    # an explicit dump takes it too
    fresh_profiler.unlink()
    profiler._dump_at_exit()
    assert not fresh_profiler.exists()


def test_set_config_removes_the_file_it_names_and_resets_what_it_leaves_out(tmp_path,
                                                                          monkeypatch):
    """MXNet's Profiler::SetConfig unlinks the output file; each set_config call sets every
    option (ProfileConfigParam.Init): a call without filename names 'profile.json' again."""
    profiler.set_state("stop")
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "mine.json"
    old.write_text("an older trace")
    default = tmp_path / "profile.json"
    default.write_text("another")
    profiler.set_config(filename=str(old), profile_all=True)
    assert not old.exists() and default.exists()
    profiler.set_state("run")
    nd.ones((2, 2)).sum().wait_to_read()
    profiler.set_state("stop")
    profiler.dump()
    assert any(e["name"] == "sum" for e in json.loads(old.read_text())["traceEvents"])
    profiler.set_config(profile_all=True)       # filename: the default again
    assert not default.exists() and old.exists()
    profiler.set_state("run")
    nd.ones((2, 2)).exp().wait_to_read()
    profiler.set_state("stop")
    profiler.dump()
    assert any(e["name"] == "exp" for e in json.loads(default.read_text())["traceEvents"])
    assert not any(e["name"] == "exp" for e in json.loads(old.read_text())["traceEvents"])
    profiler.dumps(reset=True)
    profiler.set_config(filename=str(tmp_path / "later.json"))   # (not the cwd's file)


@pytest.mark.parametrize("sort_by", ["total", "avg", "min", "max", "count"])
@pytest.mark.parametrize("ascending", [False, True])
def test_json_statistics_have_mxnets_keys_and_order(fresh_profiler, sort_by, ascending):
    """MXNet's dumps(format='json'): Time / Memory / Unit sections, each name's Count, Total,
    Min, Max and Avg, in the order sort_by and ascending ask for."""
    profiler.set_state("run")
    x = nd.ones((50, 50))
    for _ in range(3):
        nd.exp(x)
    nd.sqrt(x)
    nd.log(x + 1)
    profiler.set_state("stop")
    doc = json.loads(profiler.dumps(format="json", sort_by=sort_by, ascending=ascending))
    assert doc["Memory"] == {} and doc["Unit"] == {"Time": "ms", "Memory": "kB"}
    ops = doc["Time"]["operator"]
    assert ops["exp"]["Count"] == 3 and ops["sqrt"]["Count"] == 1
    for s in ops.values():
        assert set(s) == {"Count", "Total", "Min", "Max", "Avg"}
        assert s["Min"] <= s["Avg"] <= s["Max"] and abs(s["Avg"] * s["Count"] - s["Total"]) \
            <= 1e-9 + 1e-6 * s["Total"]
    key = {"total": "Total", "avg": "Avg", "min": "Min", "max": "Max", "count": "Count"}
    column = [s[key[sort_by]] for s in ops.values()]
    assert column == sorted(column, reverse=not ascending)


def test_eager_ops_take_the_names_of_mxnets_operators(fresh_profiler):
    """MXNet's profiler names an op after the operator its NDArray API runs: x + 1 is
    _plus_scalar, 2 - x _rminus_scalar, x * y broadcast_mul, -x negative, nd.zeros _zeros."""
    x = nd.ones((2, 2))
    profiler.set_state("run")
    nd.sqrt(x)
    x + 1
    x + 1
    2 - x
    x * x
    -x
    nd.zeros((3,))
    nd.ones((3,))
    z = nd.full((2,), 7.0)
    profiler.set_state("stop")
    ops = _stats()["operator"]
    assert {k: ops[k]["Count"] for k in ("sqrt", "_plus_scalar", "_rminus_scalar",
                                         "broadcast_mul", "negative", "_zeros", "_ones",
                                         "_full")} == {
        "sqrt": 1, "_plus_scalar": 2, "_rminus_scalar": 1, "broadcast_mul": 1, "negative": 1,
        "_zeros": 1, "_ones": 1, "_full": 1}
    assert "add" not in ops and "sub" not in ops
    np.testing.assert_array_equal(z.asnumpy(), [7.0, 7.0])


def test_a_custom_operators_python_and_its_ops_are_in_custom_operator(fresh_profiler):
    """MXNet's CustomOpProfiler: forward is '<op>::pure_python', backward
    '_backward_<op>::pure_python', the ops they run '<op>::<name>', all in 'Custom Operator'."""
    class Twice(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            nd.zeros((2,))
            self.assign(out_data[0], req[0], in_data[0] * 2)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], out_grad[0] + out_grad[0])

    @mx.operator.register("ProfiledTwice")
    class TwiceProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Twice()

    x = nd.array([1.0, 2.0])
    x.attach_grad()
    profiler.set_state("run")
    with autograd.record():
        y = nd.Custom(x, op_type="ProfiledTwice")
    y.backward()
    profiler.set_state("stop")
    custom = _stats()["Custom Operator"]
    assert {k: v["Count"] for k, v in custom.items()} == {
        "ProfiledTwice::pure_python": 1, "ProfiledTwice::_zeros": 1,
        "ProfiledTwice::_mul_scalar": 1, "_backward_ProfiledTwice::pure_python": 1,
        "_backward_ProfiledTwice::broadcast_add": 1}
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 2.0])


def test_continuous_dump_appends_to_one_valid_trace(fresh_profiler):
    """MXNet's continuous_dump: each dump(finished=False) after the first appends its events
    to the file, which grows; here it is valid JSON after every dump. A finished dump ends
    the run: the next one starts a new file."""
    profiler.set_config(filename=str(fresh_profiler), continuous_dump=True,
                        aggregate_stats=True)
    x = nd.ones((2,))
    profiler.set_state("run")
    sizes = []
    for op in (nd.exp, nd.log, nd.sqrt):
        op(x)
        profiler.dump(False)
        sizes.append(fresh_profiler.stat().st_size)
    assert sizes[0] < sizes[1] < sizes[2]
    names = [e["name"] for e in json.loads(fresh_profiler.read_text())["traceEvents"]]
    assert [n for n in names if n in ("exp", "log", "sqrt")] == ["exp", "log", "sqrt"]
    nd.tanh(x)
    profiler.dump(True)                       # appends, then finishes the file
    names = [e["name"] for e in json.loads(fresh_profiler.read_text())["traceEvents"]]
    assert [n for n in names if n in ("exp", "tanh")] == ["exp", "tanh"]
    nd.sin(x)
    profiler.dump(False)                      # a new file
    names = [e["name"] for e in json.loads(fresh_profiler.read_text())["traceEvents"]]
    assert "sin" in names and "exp" not in names
    profiler.set_state("stop")
