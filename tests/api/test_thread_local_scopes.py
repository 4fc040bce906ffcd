"""MXNet's per-thread scopes: the default context (`with ctx:`, Context.default_ctx),
AttrScope.current and NameManager.current (class properties code may also set), each a
thread's own; np_array's scope is util._NumpyArrayScope, as MXNet names it."""
import threading
import warnings

import tracegrad as mx
from tracegrad.attribute import AttrScope
from tracegrad.context import Context
from tracegrad.name import NameManager
from tracegrad.util import _NumpyArrayScope


def in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_with_context_is_this_threads_default_inside_the_block():
    assert mx.current_context() == mx.cpu(0)
    with mx.cpu(2):
        assert mx.current_context() == mx.cpu(2)
        with mx.cpu():                  # (one shared object: the stack is the thread's)
            assert mx.current_context() == mx.cpu(0)
            assert in_thread(mx.current_context) == mx.cpu(0)
        assert mx.current_context() == mx.cpu(2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert Context.default_ctx == mx.cpu(2)
    assert mx.current_context() == mx.cpu(0)
    assert (mx.cpu(1).device_typeid, mx.gpu(3).device_typeid) == (1, 2)
    assert Context.devtype2str[mx.cpu_pinned().device_typeid] == "cpu"


def test_attrscope_current_is_a_settable_per_thread_property():
    saved = AttrScope.current
    try:
        AttrScope.current = AttrScope(y="hi")
        assert AttrScope.current._attr == {"y": "hi"}
        assert in_thread(lambda: AttrScope.current._attr) == {}
        with mx.AttrScope(x="hello"):
            assert AttrScope.current._attr == {"y": "hi", "x": "hello"}
            assert mx.sym.var("v").list_attr() == {"y": "hi", "x": "hello"}
        assert AttrScope.current._attr == {"y": "hi"}
    finally:
        AttrScope.current = saved


def test_name_manager_current_is_a_settable_per_thread_property():
    saved = NameManager.current
    try:
        NameManager.current = NameManager()
        assert NameManager.current.get(None, "main") == "main0"
        assert mx.sym.FullyConnected(mx.sym.var("x"), num_hidden=2).name == \
            "fullyconnected0"
        assert in_thread(lambda: NameManager.current.get(None, "main")) == "main0"
        assert NameManager.current.get(None, "main") == "main1"
        assert mx.name.current() is NameManager.current
    finally:
        NameManager.current = saved


def test_np_array_scope_is_numpy_array_scope():
    scope = mx.util.np_array(True)
    assert isinstance(scope, _NumpyArrayScope) and scope._is_np_array
    assert not _NumpyArrayScope(False)._is_np_array
    with _NumpyArrayScope(True):
        assert mx.util.is_np_array()
    assert not mx.util.is_np_array()


def test_a_block_scope_prefixes_names_in_its_own_thread_only():
    """gluon.block._BlockScope (what name_scope() enters, as MXNet's): symbols named inside
    take the block's prefix, in the thread that entered it; create() names a new block in
    the calling thread's scope."""
    from tracegrad.gluon import block, nn

    class Dummy:
        prefix, _empty_prefix = "spawned_", False
    seen, entered, release = [], threading.Event(), threading.Event()

    def spawned():
        with block._BlockScope(Dummy()):
            seen.append(NameManager.current.get(None, "hello"))
            entered.set()
            release.wait(10)
    t = threading.Thread(target=spawned)
    t.start()
    entered.wait(10)
    prefix, params = block._BlockScope.create(None, None, "hi")
    release.set()
    t.join()
    assert seen == ["spawned_hello0"]
    assert prefix.startswith("hi") and prefix.endswith("_") and params.prefix == prefix
    net = nn.HybridSequential(prefix="model_")
    with net.name_scope():
        fc = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=3)
        dense = nn.Dense(2)
    assert fc.name == "model_fullyconnected0" and dense.weight.name == "model_dense0_weight"
    assert mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=3).name.startswith("fully")
