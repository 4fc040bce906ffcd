"""TRACEGRAD_LOG: one `logging` line per compile, recompile, guard failure and fallback."""
import logging
import os
import subprocess
import sys
import warnings

import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, log, nd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append((record.event, record.fn, record.getMessage()))


@pytest.fixture
def events():
    h = Collect()
    log.configure("all")
    log.LOGGER.addHandler(h)
    try:
        yield h.lines
    finally:
        log.LOGGER.removeHandler(h)
        log.configure("")


def test_compile_guard_recompile_lines_name_the_block_and_the_reason(events):
    net = gluon.nn.Dense(4, in_units=8)
    net.initialize()
    net.hybridize()
    net(nd.ones((64, 8)))
    net(nd.ones((64, 8)))  # a cache hit: no line
    net(nd.ones((32, 8)))
    with autograd.record():
        net(nd.ones((32, 8)))
    kinds = [e[0] for e in events]
    assert kinds == ["compiles", "guards", "recompiles", "guards", "recompiles"]
    assert all(e[1] == "dense" for e in events)
    assert "first call, f32[64,8], f32[4,8], f32[4] (traced and compiled in" in events[0][2]
    assert "input 0: f32[32,8], compiled for f32[64,8]" in events[1][2]
    assert "variant 2, f32[32,8]" in events[2][2]
    assert "training=True, compiled for training=False" in events[3][2]


def test_guard_outcomes_and_the_bound_log_with_the_users_line(events):
    f = mx.jit(lambda x: x * 2 if x.sum().asscalar() > 0 else x, max_guard_outcomes=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f(nd.ones(3))        # compiled, guard sees True
        f(-nd.ones(3))       # a new outcome past the bound: logged, then eager
    kinds = [e[0] for e in events]
    assert kinds == ["compiles", "guards", "fallbacks"], events
    assert all(e[1] == "<lambda>" for e in events)
    assert "test_log.py" in events[1][2] and "test_log.py" in events[2][2]
    assert "<lambda> runs eagerly: guard" in events[2][2]


def test_nothing_is_logged_when_off():
    h = Collect()
    log.LOGGER.addHandler(h)
    try:
        f = mx.jit(lambda x: x + 1)
        f(nd.ones(2))
        f(nd.ones(3))
    finally:
        log.LOGGER.removeHandler(h)
    assert h.lines == []


def test_unknown_event_names_are_refused():
    with pytest.raises(ValueError, match="unknown event.*'compile'.*known: compiles"):
        log.configure("compile")


def test_the_environment_variable_switches_events_on():
    code = ("import tracegrad as mx\nfrom tracegrad import nd\n"
            "f = mx.jit(lambda x: x + 1)\nf(nd.ones(2))\nf(nd.ones(3))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=ROOT,
                                              TRACEGRAD_LOG="recompiles"))
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "tracegrad recompiles: <lambda> variant 2, f32[3]" in lines[0]
