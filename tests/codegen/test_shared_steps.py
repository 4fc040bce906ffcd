"""Step functions compiled once per process and called from later modules (shared_steps.py),
and the helpers every module calls compiled once per process (linked.py): the numbers are the
same, the code called lives as long as its callers, and the disk cache loads either alone."""
import gc
import os
import struct
import subprocess
import sys
import weakref

import numpy as np
import pytest

from tracegrad.codegen import cache, compile_function, linked, shared_steps
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction


def _product(scale, n=6, dtype="f64"):
    """x @ w, scaled by `scale` when given: the matmul step is the same in every variant."""
    b = Builder(name=f"product{scale}")
    x = b.param(TensorType(dtype, (n, 5)), "x")
    w = b.param(TensorType(dtype, (5, 7)), "w")
    y = b.matmul(x, w)
    return b.ret(y if scale is None else b.tanh(b.mul(y, scale)))


def _args(fn, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(p.type.shape).astype(p.type.np_dtype) for p in fn.params]


def _check(fn, native=None):
    args = _args(fn)
    got = (native or NativeFunction(fn))(*args)
    for g, w in zip(got, interpret(fn, args)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)


@pytest.fixture
def fresh(monkeypatch):
    """No exporter left over from earlier tests; nothing written to disk."""
    monkeypatch.setenv("TRACEGRAD_CACHE", "0")
    shared_steps.reset_for_tests()
    yield
    shared_steps.reset_for_tests()


def test_a_later_module_calls_the_step_an_earlier_one_compiled(fresh):
    before = dict(shared_steps.COUNTERS)
    first = compile_function(_product(None))
    assert shared_steps.COUNTERS["steps_exported"] > before["steps_exported"]
    second = compile_function(_product(2.0))
    assert shared_steps.COUNTERS["steps_imported"] == before["steps_imported"] + 1
    assert second.jit.providers == [first.jit]
    _check(_product(2.0), NativeFunction(second))
    _check(_product(None), NativeFunction(first))
    # inspection shows the module as if compiled alone: its own matmul step, no import
    assert "tg_import" not in second.llvm_ir and "matmul" in second.llvm_ir


def test_the_exporter_lives_as_long_as_a_module_calling_it(fresh, monkeypatch):
    monkeypatch.setattr(cache, "MEMORY", {})
    first = compile_function(_product(None))
    exporter = weakref.ref(first.jit)
    second = NativeFunction(compile_function(_product(3.0)))
    cache.MEMORY.clear()
    del first
    gc.collect()
    assert exporter() is not None            # the importer holds it
    _check(_product(3.0), second)
    del second
    gc.collect()
    assert exporter() is None                # and nothing else does
    assert shared_steps.exporters() == 0     # its signatures left the registry with it


def test_a_dead_exporter_is_not_imported(fresh, monkeypatch):
    monkeypatch.setattr(cache, "MEMORY", {})
    first = compile_function(_product(None))
    del first
    cache.MEMORY.clear()
    gc.collect()
    before = shared_steps.COUNTERS["steps_imported"]
    second = compile_function(_product(4.0))
    assert shared_steps.COUNTERS["steps_imported"] == before
    _check(_product(4.0), NativeFunction(second))


def test_a_threaded_step_is_shared_and_still_threaded(fresh):
    """A threaded step reads the thread count and pool pointer every entry stores in the
    process-wide globals (threads.py, linked.py): it is exported like any other step, and
    the importer's results are the exporter's, bit for bit."""
    from tracegrad.codegen import threads

    def big(scale):
        b = Builder(name=f"big{scale}")
        x = b.param(TensorType("f32", (threads.THRESHOLD + 8,)), "x")
        y = b.param(TensorType("f32", (8,)), "y")
        return b.ret(b.exp(b.mul(x, 0.5)), b.mul(y, scale))

    first = compile_function(big(1.0))
    assert threads.PARALLEL_FOR in first.llvm_ir
    before = shared_steps.COUNTERS["steps_imported"]
    second = compile_function(big(2.0))
    assert shared_steps.COUNTERS["steps_imported"] == before + 1
    x = np.linspace(-3, 3, threads.THRESHOLD + 8, dtype=np.float32)
    y = np.ones(8, np.float32)
    a = NativeFunction(first)(x, y)
    b = NativeFunction(second)(x, y)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[0], np.exp(x.astype(np.float64) * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(b[1], 2 * y)


def test_a_step_naming_a_variable_its_module_owns_is_not_exported():
    """(an out-of-memory flag: the importer's entry would never read the exporter's)"""
    from llvmlite import ir
    module = ir.Module()
    flag = ir.GlobalVariable(module, ir.IntType(32), "tg_oom")
    flag.initializer = ir.Constant(ir.IntType(32), 0)
    table = ir.GlobalVariable(module, ir.IntType(32), "im2col_args.0")
    table.initializer, table.global_constant = ir.Constant(ir.IntType(32), 0), True
    ir.GlobalVariable(module, ir.IntType(64), "tg_num_threads")        # declared: linked
    ir.Function(module, ir.FunctionType(ir.VoidType(), []), "tracegrad_sgemm")
    assert shared_steps._self_contained(module, 'load i32, ptr @"im2col_args.0"\n'
                                        'load i64, ptr @"tg_num_threads"\n'
                                        'call void @"tracegrad_sgemm"() @"step_body"')
    assert not shared_steps._self_contained(module, 'store i32 1, ptr @"tg_oom"')


SCRIPT = r"""
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_shared_steps import _product, _check
from tracegrad.codegen import COUNTERS, compile_function, shared_steps
from tracegrad.runtime.native import NativeFunction
which = sys.argv[1:]
for scale in which:
    fn = _product(None if scale == "none" else float(scale))
    _check(fn, NativeFunction(compile_function(fn)))
print(COUNTERS["compiles"], COUNTERS["disk_cache_hits"], shared_steps.COUNTERS["steps_imported"])
if len(which) == 2 and which[0] == "2.0":
    from tracegrad.codegen import cache
    importer, exporter = (cache.MEMORY[k] for k in list(cache.MEMORY)[-2:])
    assert importer.jit.providers == [exporter.jit], "the exporter was loaded twice"
"""


def _process(cache_dir, *scales):
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(cache_dir), TRACEGRAD_CACHE="1")
    script = SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script, *scales], env=env, text=True,
                         capture_output=True, check=True)
    return tuple(int(v) for v in out.stdout.split())


def test_a_module_with_imports_loads_from_disk_in_another_process(tmp_path):
    assert _process(tmp_path, "none", "2.0") == (2, 0, 1)
    # a fresh process that needs only the importer loads its exporter from disk as well
    assert _process(tmp_path, "2.0") == (0, 1, 0)
    # ... and then the exporter itself: the object already loaded serves it
    assert _process(tmp_path, "2.0", "none") == (0, 2, 0)
    # the exporter's file gone: the importer is compiled afresh, whole
    exporter = [p for p in tmp_path.rglob("*.o") if b"TGLINK" not in p.read_bytes()]
    assert len(exporter) == 1
    exporter[0].unlink()
    assert _process(tmp_path, "2.0") == (1, 0, 0)


def _table(*rows, count=None):
    def field(s):
        s = s if isinstance(s, bytes) else s.encode()
        return struct.pack("<H", len(s)) + s
    body = b"".join(field(v) for row in rows for v in row)
    return (shared_steps._MAGIC + struct.pack("<I", len(rows) if count is None else count)
            + body + b"\x7fELF...")


@pytest.mark.parametrize("payload", [
    _table(("tg_import.0", "a" * 64, "step0_matmul"), count=2),        # rows missing
    _table(("tg_import.0", "A" * 64, "step0_matmul")),                 # key not hex
    _table(("tg_import.0", "a" * 63, "step0_matmul")),                 # key too short
    _table(("tg_global", "a" * 64, "step0_matmul")),                   # not an import slot
    _table(("tg_import.0", "a" * 64, "step0 matmul")),                 # not a symbol
    _table(("tg_import.0", "a" * 64, "step0_" + "x" * 300)),           # too long
    _table(("tg_import.0", "a" * 64, "tg_entry")),                     # not a step
    _table(count=1 << 20),                                             # absurd count
    shared_steps._MAGIC + b"\x01",                                     # truncated
])
def test_a_malformed_import_table_is_refused_before_use(payload):
    assert shared_steps.unpack(payload) is None
    made = []
    assert shared_steps.load("b" * 64, payload, lambda k: None, made.append) is None
    assert made == []


def test_loadable_asks_for_every_exporter():
    """(is_cached: a module whose exporter's file is gone would be compiled, not loaded)"""
    payload = _table(("tg_import.0", "c" * 64, "step0_x"), ("tg_import.1", "d" * 64, "step1_y"))
    assert shared_steps.loadable(payload, {"c" * 64: b"o", "d" * 64: b"o"}.get)
    assert not shared_steps.loadable(payload, {"c" * 64: b"o"}.get)
    assert shared_steps.loadable(b"\x7fELF...", {}.get)         # no imports
    assert not shared_steps.loadable(_table(count=3), {}.get)     # malformed


def test_an_import_cycle_in_forged_files_is_refused():
    a, b = "a" * 64, "b" * 64
    files = {a: _table(("tg_import.0", b, "step0_x")), b: _table(("tg_import.0", a, "step0_x"))}
    made = []
    assert shared_steps.load(a, files[a], files.get, made.append) is None
    assert made == []


def test_helpers_are_declared_in_modules_and_loaded_once(fresh):
    b = Builder(name="checked")
    x = b.param(TensorType("f32", (3,)), "x")
    module = compile_function(b.ret(b.add(x, 1.0)))
    text = module.llvm_ir
    assert 'declare i32 @"tg_check_inputs"' in text
    assert 'define internal i32 @"tg_check_inputs"' not in text
    assert "tg_check_inputs" in linked.loaded()
    out = NativeFunction(module)(np.arange(3, dtype=np.float32))[0]
    np.testing.assert_array_equal(out, np.arange(3, dtype=np.float32) + 1)
    with pytest.raises(Exception):       # the shared check still guards the entry
        NativeFunction(module)(np.arange(4, dtype=np.float32))


def _train(monkeypatch, share):
    import tracegrad as mx
    from tracegrad import autograd, gluon, nd
    monkeypatch.setattr(shared_steps, "ENABLED", share)
    monkeypatch.setattr(cache, "MEMORY", {})
    shared_steps.reset_for_tests()
    mx.random.seed(3)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, in_channels=2, activation="relu"), gluon.nn.Flatten(),
            gluon.nn.Dense(3, in_units=4 * 4 * 4))
    net.initialize()
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x = nd.random.uniform(shape=(5, 2, 6, 6))
    y = nd.array([0, 1, 2, 1, 0])
    before = dict(shared_steps.COUNTERS)
    for _ in range(12):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(5)
    imported = shared_steps.COUNTERS["steps_imported"] - before["steps_imported"]
    return [p.data().asnumpy() for p in net.collect_params().values()], imported


def test_the_usual_step_trains_bitwise_alike_with_shared_steps(fresh, monkeypatch, fresh_capture):
    """The forward, the captured step and the step with the update fused in share kernels;
    a shared kernel is the same code, so the parameters are the same to the bit."""
    alone, none = _train(monkeypatch, False)
    shared, imported = _train(monkeypatch, True)
    assert none == 0 and imported > 0
    assert len(shared) == len(alone) == 4
    for a, b in zip(alone, shared):
        np.testing.assert_array_equal(b, a)


LINKED_SCRIPT = r"""
import numpy as np
from tracegrad.codegen import target
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction
compiled = []
real = target.compile_object
target.compile_object = lambda text: compiled.append(text) or real(text)
b = Builder(name="trig")
x = b.param(TensorType("f64", (3,)), "x")
f = NativeFunction(b.ret(b.add(b.sin(x), b.cos(x))))
v = np.array([1e6, 2.0, -3e9])
np.testing.assert_allclose(f(v)[0], np.sin(v) + np.cos(v), rtol=1e-13)
print(len(compiled))
"""


def test_a_linked_group_is_kept_in_the_disk_cache(tmp_path):
    """The large-argument sin and cos take LLVM 0.4 s each: a second process loads them."""
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(tmp_path), TRACEGRAD_CACHE="1")

    def run():
        out = subprocess.run([sys.executable, "-c", LINKED_SCRIPT], env=env, text=True,
                             capture_output=True, check=True)
        return int(out.stdout.split()[-1])
    assert run() >= 2                      # the trig groups, compiled
    assert len(list(tmp_path.rglob("*.lib"))) >= 2
    assert run() == 0                      # loaded, module and groups alike


def test_steps_inside_a_loop_region_are_shared(fresh):
    """A foreach too long to unroll compiles to a loop region; its body's steps are exported
    and imported like top-level ones (the captured step and the fused step repeat them)."""
    import tracegrad as mx
    from tracegrad import nd

    def body(x, states):
        h = nd.tanh(x * 2.0 + states[0])
        return h, [h]

    def plain(xs, h0):
        return nd.contrib.foreach(body, xs, [h0])[0]

    def scaled(xs, h0):
        return nd.contrib.foreach(body, xs, [h0])[0] * 3.0

    xs = nd.array(np.random.RandomState(0).randn(64, 4, 3))
    h0 = nd.zeros((4, 3))
    first = mx.jit(plain)(xs, h0).asnumpy()
    assert any(".body.step" in symbol for _, symbol, _, _ in shared_steps._BY_SIGNATURE.values())
    before = shared_steps.COUNTERS["steps_imported"]
    second = mx.jit(scaled)(xs, h0).asnumpy()
    assert shared_steps.COUNTERS["steps_imported"] > before
    h, want = np.zeros((4, 3)), []
    for x in xs.asnumpy():
        h = np.tanh(x * 2.0 + h)
        want.append(h)
    np.testing.assert_allclose(first, np.array(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second, 3 * np.array(want), rtol=1e-5, atol=1e-6)
    assert shared_steps.unpack(_table(("tg_import.0", "a" * 64, "loop.1.body.step3_fused")))
