"""mx.test_utils' statistical checks of random generators (test_utils_random.py): they accept
tracegrad's samplers for their own distributions and reject a sampler of another."""
import numpy as np
import pytest
from scipy import stats

import tracegrad as mx
from tracegrad import nd
from tracegrad.test_utils import (chi_square_check, gen_buckets_probs_with_ppf, mean_check,
                                  var_check, verify_generator)

N = 10000


def test_normal_and_uniform_samplers_pass_and_a_wrong_one_fails():
    mx.random.seed(3)
    buckets, probs = gen_buckets_probs_with_ppf(lambda q: stats.norm.ppf(q, 1.0, 2.0), 8)
    normal = lambda n: nd.random.normal(1.0, 2.0, shape=(n,))  # noqa: E731
    ps = verify_generator(normal, buckets, probs, nsamples=N, nrepeat=5)
    assert len(ps) == 5 and sum(p > 0.05 for p in ps) >= 1
    assert mean_check(normal, 1.0, 2.0, N) and var_check(normal, 2.0, N)
    shifted = lambda n: nd.random.normal(1.3, 2.0, shape=(n,))  # noqa: E731
    with pytest.raises(AssertionError, match="Generator test fails"):
        verify_generator(shifted, buckets, probs, nsamples=N, nrepeat=3)
    assert not mean_check(shifted, 1.0, 2.0, N)
    assert not var_check(lambda n: nd.random.normal(0, 2.5, shape=(n,)), 2.0, N)
    buckets, probs = gen_buckets_probs_with_ppf(lambda q: -1 + 3 * q, 5)
    verify_generator(lambda n: nd.random.uniform(-1, 2, shape=(n,)), buckets, probs,
                     nsamples=N)


def test_discrete_buckets():
    mx.random.seed(4)
    probs = [0.1, 0.2, 0.3, 0.4]
    draw = lambda n: nd.random.multinomial(nd.array([probs] * 1), shape=(n,))  # noqa: E731
    p, observed, expected = chi_square_check(lambda n: draw(n).asnumpy().reshape(-1),
                                             [0, 1, 2, 3], probs, nsamples=N)
    assert observed.sum() == N and np.allclose(expected, np.array(probs) * N)
    assert p > 1e-4
    p, _, _ = chi_square_check(lambda n: np.random.default_rng(0).integers(0, 4, n),
                               [0, 1, 2, 3], probs, nsamples=N)
    assert p < 1e-6


def test_bad_buckets_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        chi_square_check(lambda n: np.zeros(n), [(0, 1), (0.5, 2)], [0.5, 0.5], nsamples=10)
    with pytest.raises(ValueError, match="as long as probs"):
        chi_square_check(lambda n: np.zeros(n), [(0, 1)], [0.5, 0.5], nsamples=10)
    with pytest.raises(ValueError, match="positive"):
        gen_buckets_probs_with_ppf(lambda q: q, 0)
