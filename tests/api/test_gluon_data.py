"""gluon.data: datasets, batching and the DataLoader's last_batch modes in a training loop."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon.data import ArrayDataset, DataLoader, SimpleDataset


def test_array_dataset_and_loader_batches():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ds = ArrayDataset(nd.array(x), y)
    assert len(ds) == 10 and ds[3][1] == 3
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert batches[0][1].dtype == np.int64 and batches[2][1].asnumpy().tolist() == [8, 9]
    assert len(DataLoader(ds, batch_size=4, last_batch="discard")) == 2
    roll = DataLoader(ds, batch_size=4, last_batch="rollover")
    first, second = list(roll), list(roll)
    assert len(first) == 2 and len(second) == 3 and second[0][1].asnumpy().tolist()[:2] == [8, 9]
    np.random.seed(0)
    shuffled = np.concatenate([b[1].asnumpy() for b in DataLoader(ds, 3, shuffle=True)])
    assert sorted(shuffled.tolist()) == list(range(10)) and shuffled.tolist() != list(range(10))
    with pytest.raises(ValueError, match="last_batch"):
        DataLoader(ds, 2, last_batch="sometimes")


def test_transforms_and_a_training_loop():
    rs = np.random.RandomState(0)
    x = rs.randn(64, 3).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) > 0).astype(np.float32)
    ds = ArrayDataset(x, y).transform_first(lambda a: a * 2)
    assert np.allclose(ds[0][0], 2 * x[0])
    assert SimpleDataset([1, 2, 3]).transform(lambda v: v * 10)[2] == 30
    mx.random.seed(0)
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    metric = mx.metric.Accuracy()
    for _ in range(15):
        metric.reset()
        for data, label in DataLoader(ds, batch_size=16, shuffle=True):
            with autograd.record():
                out = net(data)
                loss = loss_fn(out, label)
            loss.backward()
            trainer.step(data.shape[0])
            metric.update([label], [out])
    assert metric.get()[1] > 0.9
