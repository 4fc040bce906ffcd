"""MXNet 1.9.1's statistical checks of random generators (`mx.test_utils`): a sample mean or
variance within three standard errors, and a chi-square test of bucket frequencies repeated
`nrepeat` times (`verify_generator`, which MXNet's own sampler tests and many users' call).
The p value comes from scipy.stats (a test dependency): without scipy these raise
ImportError, as MXNet's do."""
import numpy as np


def gen_buckets_probs_with_ppf(ppf, nbuckets):
    """`nbuckets` equally likely (lo, hi) buckets from a quantile function, and their
    probabilities."""
    if nbuckets <= 0:
        raise ValueError(f"gen_buckets_probs_with_ppf: nbuckets must be positive, got "
                         f"{nbuckets}")
    probs = [1.0 / nbuckets] * nbuckets
    buckets = [(ppf(i / float(nbuckets)), ppf((i + 1) / float(nbuckets)))
               for i in range(nbuckets)]
    return buckets, probs


def _samples(generator, n):
    s = generator(n)
    return np.asarray(s.asnumpy() if hasattr(s, "asnumpy") else s).reshape(-1)


def mean_check(generator, mu, sigma, nsamples=1000000):
    """Whether the mean of `generator(nsamples)` is within mu +- 3 sigma / sqrt(n)."""
    mean = _samples(generator, nsamples).mean()
    bound = 3 * sigma / np.sqrt(nsamples)
    return bool(mu - bound < mean < mu + bound)


def var_check(generator, sigma, nsamples=1000000):
    """Whether the sample variance is within sigma^2 +- 3 sqrt(2 sigma^4 / (n - 1))."""
    var = _samples(generator, nsamples).var(ddof=1)
    bound = 3 * np.sqrt(2 * sigma ** 4 / (nsamples - 1))
    return bool(sigma ** 2 - bound < var < sigma ** 2 + bound)


def chi_square_check(generator, buckets, probs, nsamples=1000000):
    """(p value, observed counts, expected counts) of a chi-square test of
    `generator(nsamples)` against `probs`. Buckets are (lo, hi) ranges in ascending order
    for a continuous distribution, or the values themselves for a discrete one."""
    from scipy import stats
    if not isinstance(buckets, list) or len(buckets) != len(probs):
        raise ValueError(f"chi_square_check: buckets must be a list as long as probs "
                         f"({len(probs)}), got {buckets!r}")
    samples = _samples(generator, nsamples)
    if isinstance(buckets[0], (list, tuple)):
        edges = np.array([e for lo_hi in buckets for e in lo_hi], dtype=np.float64)
        if np.any(np.diff(edges) < 0):
            raise ValueError("chi_square_check: buckets must be ascending and disjoint")
        ids = np.searchsorted(edges, samples, side="right")
        inside = ids % 2 == 1                # (between a bucket's lo and hi)
        observed = np.bincount(ids[inside] // 2, minlength=len(buckets))[:len(buckets)]
    else:
        observed = np.array([(samples == b).sum() for b in buckets])
    expected = nsamples * np.asarray(probs, dtype=np.float64)
    # (scipy wants equal totals: samples outside every bucket are not counted)
    expected = expected * observed.sum() / expected.sum()
    _, p = stats.chisquare(f_obs=observed, f_exp=expected)
    return p, observed, expected


def verify_generator(generator, buckets, probs, nsamples=1000000, nrepeat=5,
                     success_rate=0.2, alpha=0.05):
    """Run chi_square_check `nrepeat` times; raise AssertionError unless at least
    `success_rate` of them have p > alpha. Returns the p values."""
    results = [chi_square_check(generator, buckets, probs, nsamples) for _ in range(nrepeat)]
    ps = [r[0] for r in results]
    if sum(p > alpha for p in ps) < nrepeat * success_rate:
        raise AssertionError(f"Generator test fails, Chi-square p={ps}, obs_freq="
                             f"{[r[1].tolist() for r in results]}, expected_freq="
                             f"{[r[2].tolist() for r in results]}.\nbuckets={buckets}, "
                             f"probs={probs}")
    return ps
