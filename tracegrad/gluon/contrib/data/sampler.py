"""IntervalSampler: 0, k, 2k, ... then (with rollover) 1, 1 + k, ..., as MXNet 1.9.1's."""
from ...data.sampler import Sampler


class IntervalSampler(Sampler):
    """Indices of [0, length) taken `interval` apart: each start 0..interval-1 in turn with
    rollover, only start 0 without. len() is `length` either way, as in MXNet."""

    def __init__(self, length, interval, rollover=True):
        if not interval < length:
            raise ValueError(f"IntervalSampler: interval {interval} must be smaller than "
                             f"length {length}")
        self._length, self._interval, self._rollover = length, interval, rollover

    def __iter__(self):
        for start in range(self._interval if self._rollover else 1):
            yield from range(start, self._length, self._interval)

    def __len__(self):
        return self._length
