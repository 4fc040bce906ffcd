"""MXNet's `_sample_unique_zipfian` (nd._internal): per batch row, distinct classes drawn from
the log-uniform distribution over [0, range_max), and how many draws that took. Sampled
softmax (gluonnlp's candidate samplers) calls it; MXNet's kernel draws
lround(exp(u * log(range_max))) - 1 for uniform u until a row holds num_sampled classes."""
import math

import numpy as np

from .base import MXNetError


def _sample_unique_zipfian(range_max, shape=None, ctx=None, **kwargs):
    from . import nd, random
    if shape is None or len(tuple(shape)) != 2:
        raise MXNetError(f"_sample_unique_zipfian: shape must be 2-D (batch, num_sampled), "
                         f"got {shape}")
    batch, num_sampled = (int(s) for s in shape)
    range_max = int(range_max)
    if num_sampled > range_max:
        raise MXNetError("_sample_unique_zipfian: Number of samples cannot exceed the number "
                         "of possible classes")
    log_range = math.log(range_max)
    samples = np.zeros((batch, num_sampled), np.int64)
    tries = np.zeros((batch,), np.int64)
    chunk = max(2 * num_sampled, 64)
    for i in range(batch):
        drawn = np.zeros((0,), np.int64)
        while True:
            u = random.uniform(0, 1, shape=(chunk,), dtype="float64").asnumpy()
            # lround: half away from zero (the values are positive)
            drawn = np.concatenate([drawn, np.floor(np.exp(u * log_range) + 0.5)
                                    .astype(np.int64) - 1])
            _, first = np.unique(drawn, return_index=True)
            if first.size >= num_sampled:
                first = np.sort(first)[:num_sampled]
                samples[i], tries[i] = drawn[first], first[-1] + 1
                break
    return nd.array(samples, dtype="int64", ctx=ctx), nd.array(tries, dtype="int64", ctx=ctx)
