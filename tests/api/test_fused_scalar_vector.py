"""Optimizer.fused_scalar_vector: the numbers every parameter's fused update reads, computed
once per step when every index would get the same ones (update counts, learning rate and
weight decay alike), must equal fused_scalars called index by index, and count updates
exactly as update() does, whatever breaks the sameness between steps."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon
from tracegrad.optimizer import _per_count

OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.5}),
    ("nag", {"learning_rate": 0.1, "momentum": 0.9}),
    ("adam", {"learning_rate": 0.01, "wd": 0.01, "beta1": 0.8}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True}),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.1}),
    ("adadelta", {"wd": 0.1}),
    ("signum", {"learning_rate": 0.1, "momentum": 0.9}),
    ("ftrl", {"learning_rate": 0.1}),
    ("lamb", {"learning_rate": 0.01}),
    ("dcasgd", {"learning_rate": 0.1}),
]


def _pair(name, settings, n=6, schedule=False):
    """The optimizer under test and a twin whose numbers come from fused_scalars alone."""
    params = [gluon.Parameter(f"p{i}", shape=(2,)) for i in range(n)]
    made = []
    for _ in range(2):
        kw = dict(settings)
        if schedule:
            kw["lr_scheduler"] = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5)
        made.append(mx.optimizer.create(name, param_dict=dict(enumerate(params)), **kw))
    return params, made[0], made[1]


def _by_index(opt, indices):
    return np.array([x for i in indices for x in opt.fused_scalars(i)], dtype=np.float64)


def _same_state(a, b):
    assert a._index_update_count == b._index_update_count
    assert a.num_update == b.num_update


@pytest.mark.parametrize("name,settings", OPTIMIZERS)
@pytest.mark.parametrize("schedule", [False, True])
def test_each_step_equals_fused_scalars_index_by_index(name, settings, schedule):
    params, opt, twin = _pair(name, settings, schedule=schedule)
    indices = tuple(range(len(params)))
    calls = []
    own = opt.fused_scalars
    opt.fused_scalars = lambda i: calls.append(i) or own(i)
    for step in range(12):
        if step == 4:       # one parameter's learning rate differs for two steps
            params[3].lr_mult = 0.5
        if step == 6:
            params[3].lr_mult = 1.0
        if step == 8:       # one index counted once more (updated on its own)
            opt.fused_scalars(2)
            twin.fused_scalars(2)
        del calls[:]
        got = opt.fused_scalar_vector(indices)
        want = _by_index(twin, indices)
        np.testing.assert_array_equal(got, want)
        _same_state(opt, twin)
        if step in (2, 3, 6, 7):    # (every index alike: the numbers computed once)
            assert len(calls) <= 1, (step, calls)
        if step in (4, 5, 8, 11):   # (not alike, index 2 counted once more: index by index)
            assert name in ("sgd", "nag") and not schedule or len(calls) == len(indices), \
                (step, calls)     # (plain SGD and NAG count without fused_scalars)


@pytest.mark.parametrize("name,settings", [OPTIMIZERS[0], OPTIMIZERS[3]])
def test_uncount_and_a_subset_of_indices(name, settings):
    params, opt, twin = _pair(name, settings)
    every, some = tuple(range(len(params))), (0, 2, 4)
    for step in range(8):
        indices = some if step in (3, 4) else every
        before = opt.num_update
        got = opt.fused_scalar_vector(indices)
        np.testing.assert_array_equal(got, _by_index(twin, indices))
        if step == 5:      # the call did not run: its counting is undone
            opt.uncount(indices, before)
            twin.uncount(indices, before)
        _same_state(opt, twin)


def test_only_optimizers_declaring_per_count_numbers_compute_them_once():
    class Mine(mx.optimizer.Adam):
        def _get_lr(self, index):       # an index-dependent learning rate of the user's
            return super()._get_lr(index) * (1 + index)

    assert _per_count(mx.optimizer.Adam)
    assert not _per_count(Mine)
    params = [gluon.Parameter(f"p{i}", shape=(2,)) for i in range(3)]
    opt = Mine(learning_rate=0.1, param_dict=dict(enumerate(params)))
    twin = Mine(learning_rate=0.1, param_dict=dict(enumerate(params)))
    for _ in range(3):
        got = opt.fused_scalar_vector((0, 1, 2))
        np.testing.assert_array_equal(got, _by_index(twin, (0, 1, 2)))
    assert got[0] != got[9]      # (the learning rates do differ)


def test_sgd_straight_line_numbers_follow_every_change():
    """SGD's straight-line code (fused_scalar_code, which Trainer.step calls) against
    fused_scalars, while every number it reads changes between steps, an index has no
    parameter, and name-keyed multipliers send it to the general loop."""
    params, opt, twin = _pair("sgd", {"learning_rate": 0.1, "momentum": 0.9})
    del opt.param_dict[5], twin.param_dict[5]
    indices = tuple(range(len(params)))
    code = opt.fused_scalar_code(indices)
    assert code is not None and code is opt.fused_scalar_code(list(indices))
    changes = {1: ("lr", 0.05), 2: ("wd", 0.01), 3: ("rescale_grad", 0.25),
               4: ("clip_gradient", 2.0), 5: ("momentum", 0.5), 7: ("clip_gradient", -1.0)}
    for step in range(10):
        if step in changes:
            for o in (opt, twin):
                setattr(o, *changes[step])
        if step == 6:
            params[1].wd_mult = 3.0
        if step == 8:
            for o in (opt, twin):
                o.set_lr_mult({0: 2.0})
        np.testing.assert_array_equal(code(opt), _by_index(twin, indices))
        _same_state(opt, twin)


def test_a_subclass_wrapping_the_vector_gets_no_straight_line_code():
    class Logged(mx.optimizer.SGD):
        def fused_scalar_vector(self, indices):
            self.seen = indices
            return super().fused_scalar_vector(indices)

    opt = Logged(learning_rate=0.1)
    assert opt.fused_scalar_code((0, 1)) is None
    assert mx.optimizer.SGD(learning_rate=0.1).fused_scalar_code((0, 1)) is not None
