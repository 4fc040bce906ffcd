"""gluon.data samplers and the DataLoader built on them, against MXNet 1.9.1's rules."""
import numpy as np
import pytest

from tracegrad import gluon
from tracegrad.gluon.data import (ArrayDataset, BatchSampler, DataLoader, FilterSampler,
                                  RandomSampler, Sampler, SequentialSampler)


def test_sequential_and_random_samplers():
    assert list(SequentialSampler(4)) == [0, 1, 2, 3]
    assert list(SequentialSampler(3, start=5)) == [5, 6, 7] and len(SequentialSampler(3, 5)) == 3
    np.random.seed(0)
    first, second = list(RandomSampler(20)), list(RandomSampler(20))
    assert sorted(first) == list(range(20)) and first != list(range(20)) and first != second
    np.random.seed(0)
    assert list(RandomSampler(20)) == first  # numpy's global generator fixes the order
    assert isinstance(RandomSampler(3), Sampler) and len(RandomSampler(7)) == 7
    assert list(FilterSampler(lambda v: v % 3 == 0, list(range(10)))) == [0, 3, 6, 9]


def test_batch_sampler_last_batch_modes():
    seq = SequentialSampler(10)
    assert list(BatchSampler(seq, 3, "keep")) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(seq, 3, "discard")) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(seq, 3)) == 4 and len(BatchSampler(seq, 3, "discard")) == 3
    roll = BatchSampler(seq, 4, "rollover")
    assert len(roll) == 2
    assert list(roll) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(roll) == 3  # 2 carried + 10
    assert list(roll)[0] == [8, 9, 0, 1]
    with pytest.raises(ValueError, match="last_batch must be one of"):
        BatchSampler(seq, 3, "sometimes")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        BatchSampler(seq, 0)


def test_dataloader_takes_sampler_and_batch_sampler():
    ds = ArrayDataset(np.arange(10, dtype=np.float32), np.arange(10, dtype=np.float32) * 2)
    by_sampler = DataLoader(ds, batch_size=4, sampler=SequentialSampler(6, start=2))
    batches = [b[0].asnumpy().tolist() for b in by_sampler]
    assert batches == [[2, 3, 4, 5], [6, 7]] and len(by_sampler) == 2
    bs = BatchSampler(SequentialSampler(10), 3, "discard")
    loader = DataLoader(ds, batch_sampler=bs)
    got = [(d.asnumpy().tolist(), l.asnumpy().tolist()) for d, l in loader]
    assert got == [([0, 1, 2], [0, 2, 4]), ([3, 4, 5], [6, 8, 10]), ([6, 7, 8], [12, 14, 16])]
    assert len(loader) == 3
    rolled = DataLoader(ds, batch_size=4, last_batch="rollover")
    assert [len(b[0]) for b in rolled] == [4, 4] and [len(b[0]) for b in rolled] == [4, 4, 4]
    with pytest.raises(ValueError, match="must not be specified if batch_sampler"):
        DataLoader(ds, batch_size=2, batch_sampler=bs)
    with pytest.raises(ValueError, match="must not be specified if batch_sampler"):
        DataLoader(ds, batch_sampler=bs, last_batch="keep")
    with pytest.raises(ValueError, match="shuffle must not be specified if sampler"):
        DataLoader(ds, batch_size=2, shuffle=True, sampler=SequentialSampler(10))
    with pytest.raises(ValueError, match="batch_size must be specified"):
        DataLoader(ds)


def test_names_reachable_as_mxnet_spells_them():
    assert gluon.data.sampler.BatchSampler is BatchSampler
    assert gluon.data.RandomSampler is RandomSampler


def test_dataset_filter_shard_take_sample_and_eager_transform():
    from tracegrad.gluon.data import SimpleDataset
    ds = SimpleDataset(list(range(10)))
    assert list(ds.filter(lambda v: v % 4 == 1)) == [1, 5, 9]
    shards = [list(ds.shard(3, i)) for i in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert list(ds.take(3)) == [0, 1, 2] and len(ds.take(None)) == 10 and len(ds.take(99)) == 10
    assert list(ds.sample(SequentialSampler(3, start=6))) == [6, 7, 8]
    with pytest.raises(TypeError, match="Expected gluon.data.Sampler"):
        ds.sample([1, 2])
    with pytest.raises(ValueError, match="shard"):
        ds.shard(3, 3)
    calls = []
    eager = ds.transform(lambda v: calls.append(v) or v * 2, lazy=False)
    assert len(calls) == 10 and eager[3] == 6 and len(calls) == 10
    pairs = ArrayDataset(np.arange(4.0), np.arange(4.0) + 10).transform_first(lambda a: -a,
                                                                              lazy=False)
    assert [tuple(map(float, pairs[i])) for i in range(4)][2] == (-2.0, 12.0)
