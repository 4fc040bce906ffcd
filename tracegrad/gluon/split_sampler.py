"""SplitSampler: each data-parallel worker iterates its own shard of a dataset.

    sampler = gluon.data.SplitSampler(len(dataset), kv.num_workers, kv.rank)
    loader = gluon.data.DataLoader(dataset, batch_size=32, sampler=sampler)

The dataset is cut into num_parts contiguous parts of length // num_parts samples (the few left
over are dropped, so every worker runs the same number of steps and the collectives stay in
lockstep); part part_index is yielded, shuffled each epoch when shuffle=True.
"""
import numpy as np


class SplitSampler:
    """Indices of part `part_index` of `num_parts` equal parts of range(length)."""

    def __init__(self, length, num_parts=1, part_index=0, shuffle=True):
        if num_parts < 1 or not 0 <= part_index < num_parts:
            raise ValueError(f"SplitSampler: part_index must be in [0, num_parts), got "
                             f"part_index={part_index}, num_parts={num_parts}")
        if length < num_parts:
            raise ValueError(f"SplitSampler: {length} samples cannot be split into "
                             f"{num_parts} non-empty parts")
        self._len = length // num_parts
        self._start = self._len * part_index
        self._shuffle = shuffle

    def __iter__(self):
        indices = np.arange(self._start, self._start + self._len)
        if self._shuffle:
            np.random.shuffle(indices)
        return iter(indices.tolist())

    def __len__(self):
        return self._len
