"""Source locations: every traced op carries the user's line and, inside Gluon, the block
path; the printed IR shows them on request and keeps parsing; trace errors name the line;
uncaught errors print without tracegrad's frames unless TRACEGRAD_FULL_TRACEBACKS=1."""
import os
import subprocess
import sys
import textwrap

import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.ir import parse
from tracegrad.ir.printer import print_function

HERE = os.path.basename(__file__)


def _line_of(text):
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if text in line and "_line_of" not in line:
                return i
    raise AssertionError(text)


def model(x, w):
    h = nd.tanh(nd.dot(x, w))   # LOC-A
    return nd.sum(h * h)        # LOC-B


def test_jit_ops_carry_the_users_lines():
    f = mx.jit(model)
    f(nd.ones((2, 3)), nd.ones((3, 4)))
    fn = f.ir("traced")
    locs = [op.loc for op in fn.ops]
    a, b = _line_of("# LOC-A"), _line_of("# LOC-B")
    assert all(loc is not None for loc in locs)
    assert {loc for loc in locs} == {f"{HERE}:{a}", f"{HERE}:{b}"}
    text = print_function(fn, locations=True)
    assert f"// loc: {HERE}:{a}" in text
    assert "// loc:" not in str(fn)                       # only on request
    assert str(parse(text)) == str(fn)                     # the comments parse away


def test_gluon_ops_carry_the_block_path():
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(gluon.nn.Dense(4, in_units=3, activation="relu"))
        net.add(gluon.nn.Dense(2, in_units=4))
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 3)))                                   # LOC-NET
    root = net.name
    text = print_function(net.ir("traced"), locations=True)
    line = _line_of("# LOC-NET")
    assert f"{HERE}:{line} ({root}.0)" in text and f"{HERE}:{line} ({root}.1)" in text
    assert "relu" in [op.opdef.name for op in net.ir("traced").ops
                      if f"({root}.0" in op.loc]


def test_optimized_and_adjoint_ops_keep_locations():
    f = mx.jit(model)
    x, w = nd.ones((2, 3)), nd.ones((3, 4))
    w.attach_grad()
    with mx.autograd.record():
        y = f(x, w)
    y.backward()
    for stage in ("optimized", "adjoint"):
        ops = f.ir(stage).ops
        assert ops and sum(op.loc is not None for op in ops) >= len(ops) // 2, stage


def test_eager_recording_does_not_pay_for_locations():
    x = nd.ones(3)
    x.attach_grad()
    with mx.autograd.record():
        y = x * 2
    assert y._value.producer.loc is None


def test_errors_while_tracing_name_the_line_and_block():
    class Bad(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.dot(x, x)                             # LOC-BAD
    net = gluon.nn.HybridSequential()
    net.add(Bad())
    net.hybridize()
    with pytest.raises(mx.MXNetError) as e:
        net(nd.ones((2, 3)))
    msg = str(e.value)
    assert f"{HERE}:{_line_of('# LOC-BAD')}" in msg and "matmul" in msg
    assert "f32[2,3]" in msg and f"{net.name}.0" in msg


SCRIPT = textwrap.dedent("""
    import tracegrad as mx
    from tracegrad import nd, gluon
    net = gluon.nn.Dense(4, in_units=3)
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 5)))
""")


def _run(env_extra):
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(mx.__file__))
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True).stderr


def test_uncaught_errors_hide_internal_frames():
    pkg = os.path.dirname(mx.__file__)
    trimmed = _run({"TRACEGRAD_FULL_TRACEBACKS": "0"})
    assert "in_units=3" in trimmed and pkg not in trimmed
    assert "TRACEGRAD_FULL_TRACEBACKS=1 shows them" in trimmed
    full = _run({"TRACEGRAD_FULL_TRACEBACKS": "1"})
    assert "in_units=3" in full and pkg in full
