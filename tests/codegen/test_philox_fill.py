"""Eager random draws fill their Philox words in native code (codegen/philox_fill.py) from 64
elements, on Python ints up to 8: the words, and every eager random op built on them, are
bit for bit those of the numpy rounds that define them, and those of compiled code."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.codegen import philox_fill
from tracegrad.ir.ops import random as random_ops


def _key(rs):
    """A seed or counter with its high bit set half the time."""
    return int(rs.randint(0, 2 ** 63, dtype=np.int64)) | int(rs.randint(0, 2)) << 63


def _rounds(seed, counter, n, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(random_ops, "NATIVE_WORDS", None)
        m.setattr(random_ops, "_FEW", 0)
        return random_ops.philox(seed, counter, n)


def test_the_hook_is_installed_with_codegen():
    assert random_ops.NATIVE_WORDS is philox_fill.words


@pytest.mark.parametrize("n", [1, 5, 8, 63, 64, 65, 1000, 4099, 70001])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_words_equal_the_numpy_rounds(n, count, monkeypatch):
    rs = np.random.RandomState(n * 7 + count)
    for _ in range(3):
        seed, counter = _key(rs), _key(rs)
        want = _rounds(seed, counter, n, monkeypatch)
        got = random_ops.philox(seed, counter, n, count)
        assert len(got) >= count
        for g, w in zip(got[:count], want):
            assert np.array_equal(np.asarray(g, dtype=np.uint64), w)


@pytest.mark.parametrize("start", [0, 1, 65536, 2 ** 32 - 3, 5 * 2 ** 32 + 7])
def test_words_from_a_start_element(start, monkeypatch):
    """philox(start=) (a chunk of a large eager draw): element start + i's words, natively,
    on numpy rounds, and on Python ints, as philox_at gives those elements."""
    rs = np.random.RandomState(start % 1000)
    seed, counter = _key(rs), _key(rs)
    at = np.arange(start, start + 100, dtype=np.int64)
    with monkeypatch.context() as m:
        m.setattr(random_ops, "NATIVE_WORDS_AT", None)
        want = random_ops.philox_at(seed, counter, at)
    for n, native in ((100, True), (100, False), (5, False)):
        with monkeypatch.context() as m:
            if not native:
                m.setattr(random_ops, "NATIVE_WORDS", None)
            got = random_ops.philox(seed, counter, n, 4, start)
        for g, w in zip(got, want):
            assert np.array_equal(np.asarray(g, dtype=np.uint64), w[:n])


def test_native_words_of_nothing_and_of_every_count():
    assert [w.shape for w in philox_fill.words(1, 2, 0, 2)] == [(0,), (0,)]
    for count, rows in ((1, 1), (2, 2), (3, 4), (4, 4)):
        assert len(philox_fill.words(5, 6, 100, count)) == rows


@pytest.mark.parametrize("make", [
    lambda: nd.random.uniform(-2, 3, shape=(37, 11)),
    lambda: nd.random.normal(1.5, 2.0, shape=(300,)),
    lambda: nd.random.normal(shape=(9, 9), dtype="float64"),
    lambda: nd.random.uniform(shape=(5,)),
    lambda: nd.Dropout(nd.ones((16, 40)), p=0.3, mode="always"),
], ids=["uniform", "normal", "normal-f64", "uniform-few", "dropout"])
def test_eager_random_ops_equal_the_numpy_rounds(make, monkeypatch):
    mx.random.seed(11)
    native = make().asnumpy()
    mx.random.seed(11)
    with monkeypatch.context() as m:
        m.setattr(random_ops, "NATIVE_WORDS", None)
        m.setattr(random_ops, "_FEW", 0)
        rounds = make().asnumpy()
    assert native.dtype == rounds.dtype and np.array_equal(native, rounds)


def test_eager_draws_equal_compiled_draws():
    """The same key in a jit-compiled function draws the same numbers as eagerly."""
    @mx.jit
    def draw(x):
        return x + nd.random.uniform(shape=(50, 30)) + nd.random.normal(shape=(50, 30))

    zeros = nd.zeros((50, 30))
    draw(zeros)
    mx.random.seed(4)
    compiled = draw(zeros).asnumpy()
    mx.random.seed(4)
    eager = (zeros + nd.random.uniform(shape=(50, 30)) + nd.random.normal(shape=(50, 30)))
    np.testing.assert_array_equal(compiled, eager.asnumpy())


def test_a_loop_that_cannot_be_built_leaves_eager_draws_on_numpy(monkeypatch):
    """If LLVM cannot build the loop here, the hook removes itself and draws still work."""
    def broken():
        raise RuntimeError("no native target")
    monkeypatch.setattr(philox_fill, "_compiled", broken)
    monkeypatch.setattr(random_ops, "NATIVE_WORDS", philox_fill.words)
    mx.random.seed(2)
    drawn = nd.random.uniform(shape=(300,)).asnumpy()
    assert random_ops.NATIVE_WORDS is None
    monkeypatch.undo()
    mx.random.seed(2)
    assert np.array_equal(drawn, nd.random.uniform(shape=(300,)).asnumpy())
