"""gluon.contrib.estimator (MXNet 1.9.1): fit and evaluate against the hand-written loop they
stand for, the handlers' order and effects (metrics, stopping, logging, checkpoints, early
stopping), MXNet's argument errors and warnings, and step capture of the fit loop."""
import io
import logging
import os
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError
from tracegrad.gluon.contrib.estimator import (
    BatchBegin, BatchEnd, BatchProcessor, CheckpointHandler, EarlyStoppingHandler, EpochBegin,
    EpochEnd, Estimator, GradientUpdateHandler, LoggingHandler, MetricHandler, StoppingHandler,
    TrainBegin, TrainEnd, ValidationHandler)
from tracegrad.gluon.contrib.estimator import event_handler

RNG = np.random.default_rng(11)
X = RNG.standard_normal((32, 5)).astype(np.float32)
W_TRUE = RNG.standard_normal((5, 3)).astype(np.float32)
Y_CLASS = np.argmax(X @ W_TRUE, axis=1).astype(np.float32)
Y_REG = (X @ W_TRUE[:, :1] + 0.5).astype(np.float32)


def loader(x, y, batch_size=8):
    """32 samples in 4 batches, in order."""
    return gluon.data.DataLoader(gluon.data.ArrayDataset(nd.array(x), nd.array(y)),
                                 batch_size=batch_size)


def make_net(outputs, hybrid=False, like=None, ctx=None):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(6, activation="tanh"), gluon.nn.Dense(outputs))
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net(nd.array(X[:2]))
    if like is not None:
        for mine, theirs in zip(net.collect_params().values(), like.collect_params().values()):
            mine.set_data(theirs.data().copy())
    if hybrid:
        net.hybridize()
    return net


def params_of(net):
    return [p.data().asnumpy().copy() for p in net.collect_params().values()]


def quiet(est):
    """The estimator's log lines into a string buffer instead of stdout."""
    buf = io.StringIO()
    est.logger.handlers = [logging.StreamHandler(buf)]
    return buf


def estimator(net, loss, lr=0.1, momentum=0.0, **kwargs):
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": lr, "momentum": momentum})
    est = Estimator(net, loss, trainer=trainer, **kwargs)
    quiet(est)
    return est


# ---------------------------------------------------------------- defaults and metric names
def test_default_trainer_metrics_and_names():
    net = make_net(3)
    with pytest.warns(UserWarning, match="No trainer specified, default SGD optimizer with "
                                         "learning rate 0.001"):
        est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss())
    assert type(est.trainer.optimizer).__name__ == "SGD"
    assert est.trainer.learning_rate == pytest.approx(0.001)
    assert [m.name for m in est.train_metrics] == ["training accuracy",
                                                   "training softmaxcrossentropyloss"]
    assert [m.name for m in est.val_metrics] == ["validation accuracy",
                                                 "validation softmaxcrossentropyloss"]
    assert isinstance(est.train_metrics[0], mx.metric.Accuracy)
    assert isinstance(est.train_metrics[1], mx.metric.Loss)
    assert est.val_metrics[0] is not est.train_metrics[0]
    assert est.val_net is net and est.val_loss is est.loss
    assert est.context == [mx.cpu()]
    # a loss with no suggested metric gets only the loss metric; user metrics are prefixed
    est = estimator(make_net(1), gluon.loss.L2Loss())
    assert [m.name for m in est.train_metrics] == ["training l2loss"]
    rmse = mx.metric.RMSE()
    est = estimator(make_net(1), gluon.loss.L2Loss(), train_metrics=rmse,
                    val_metrics=[mx.metric.MAE(), mx.metric.RMSE("training rmse")])
    assert est.train_metrics == [rmse] and rmse.name == "training rmse"
    assert [m.name for m in est.val_metrics] == ["validation mae", "validation rmse"]
    comp = mx.metric.CompositeEvalMetric([mx.metric.MAE(), mx.metric.MSE()])
    est = estimator(make_net(1), gluon.loss.L2Loss(), train_metrics=comp)
    assert [m.name for m in est.train_metrics] == ["training mae", "training mse"]


def test_initializes_an_uninitialized_net_and_warns_for_an_initialized_one():
    net = gluon.nn.Dense(2, in_units=5)
    with pytest.raises(RuntimeError, match="has not been initialized"):
        net.weight.list_ctx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = Estimator(net, gluon.loss.L2Loss(), initializer=mx.init.Constant(0.25))
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.full((2, 5), 0.25))
    with pytest.warns(UserWarning, match="Network already fully initialized"):
        Estimator(net, gluon.loss.L2Loss(), initializer=mx.init.Zero(),
                  trainer=est.trainer)
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.full((2, 5), 0.25))


def test_bad_arguments_raise_as_mxnet(tmp_path):
    net = make_net(1)
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    l2 = gluon.loss.L2Loss()
    with pytest.raises(ValueError, match="loss must be a Loss"):
        Estimator(net, "mse", trainer=trainer)
    with pytest.raises(ValueError, match="metrics must be a Metric or a list of Metric"):
        Estimator(net, l2, train_metrics="acc", trainer=trainer)
    with pytest.raises(ValueError, match="Trainer must be a Gluon Trainer instance"):
        Estimator(net, l2, trainer="sgd")
    with pytest.raises(ValueError, match="context must be a Context or a list of Context"):
        Estimator(net, l2, trainer=trainer, context="cpu")
    with pytest.raises(ValueError, match="must contain fit_batch"):
        Estimator(net, l2, trainer=trainer, batch_processor=object())
    est = estimator(net, l2)
    data = loader(X, Y_REG)
    with pytest.raises(ValueError, match="only support input as Gluon DataLoader"):
        est.fit(mx.io.NDArrayIter(X, Y_REG, batch_size=8), epochs=1)
    with pytest.raises(ValueError, match="only support input as Gluon DataLoader"):
        est.evaluate([nd.array(X)])
    with pytest.raises(ValueError, match="exactly one type of iteration"):
        est.fit(data)
    with pytest.raises(ValueError, match="exactly one type of iteration"):
        est.fit(data, epochs=1, batches=2)
    with pytest.raises(ValueError, match="handlers must be an EventHandler"):
        est.fit(data, epochs=1, event_handlers=["log"])
    # a user handler reporting a metric the estimator does not own
    with pytest.raises(ValueError, match="LoggingHandler refers to a metric instance"):
        est.fit(data, epochs=1, event_handlers=[LoggingHandler(metrics=[mx.metric.MAE()])])
    with pytest.raises(ValueError, match="log_interval must be either an integer or string"):
        LoggingHandler(log_interval="batch")
    with pytest.raises(ValueError, match="To save best model only"):
        CheckpointHandler(str(tmp_path), save_best=True)
    with pytest.raises(ValueError, match="Please provide one of the metric objects"):
        EarlyStoppingHandler(monitor=None)
    with pytest.raises(ValueError, match="CompositeEvalMetric is not supported"):
        EarlyStoppingHandler(monitor=mx.metric.CompositeEvalMetric([mx.metric.MAE()]))


# ---------------------------------------------------------------- fit == the hand-written loop
@pytest.mark.parametrize("hybrid", [False, True])
def test_fit_is_the_hand_written_training_loop(hybrid):
    ref = make_net(3)
    net, hand = make_net(3, hybrid, like=ref), make_net(3, hybrid, like=ref)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    est = estimator(net, loss_fn, lr=0.2, momentum=0.5)
    data = loader(X, Y_CLASS)
    before = float(loss_fn(net(nd.array(X)), nd.array(Y_CLASS)).mean().asscalar())
    est.fit(data, epochs=3)
    after = float(loss_fn(net(nd.array(X)), nd.array(Y_CLASS)).mean().asscalar())
    assert after < 0.8 * before

    trainer = gluon.Trainer(hand.collect_params(), "sgd", {"learning_rate": 0.2,
                                                           "momentum": 0.5})
    acc, mean_loss = mx.metric.Accuracy(), mx.metric.Loss()
    for _ in range(3):
        acc.reset()
        mean_loss.reset()
        for x, y in data:
            with autograd.record():
                out = hand(x)
                loss = loss_fn(out, y)
            loss.backward()
            trainer.step(x.shape[0])
            acc.update([y], [out])
            mean_loss.update(0, [loss])
    for got, want in zip(params_of(net), params_of(hand)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    (acc_name, acc_value), (loss_name, loss_value) = [m.get() for m in est.train_metrics]
    assert (acc_name, loss_name) == ("training accuracy", "training softmaxcrossentropyloss")
    assert acc_value == pytest.approx(acc.get()[1])
    assert loss_value == pytest.approx(mean_loss.get()[1], rel=1e-5)


def test_evaluate_is_the_hand_written_validation_loop():
    net = make_net(3)
    est = estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(),
                    val_loss=gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=True))
    est.evaluate(loader(X, Y_CLASS, batch_size=12))     # 12 + 12 + 8 samples
    out = net(nd.array(X)).asnumpy().astype(np.float64)
    logp = out - out.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    want_loss = -logp[np.arange(32), Y_CLASS.astype(int)].mean()
    want_acc = np.mean(out.argmax(1) == Y_CLASS)
    (acc_name, acc), (loss_name, loss) = [m.get() for m in est.val_metrics]
    assert (acc_name, loss_name) == ("validation accuracy", "validation softmaxcrossentropyloss")
    assert acc == pytest.approx(want_acc)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    # the training metrics are not touched by evaluate
    assert np.isnan(est.train_metrics[0].get()[1])


def test_val_net_and_val_loss_are_used_for_validation():
    net = make_net(1)
    other = make_net(1)
    est = estimator(net, gluon.loss.L2Loss(), val_net=other, val_loss=gluon.loss.L1Loss())
    est.evaluate(loader(X, Y_REG))
    want = np.abs(other(nd.array(X)).asnumpy() - Y_REG).mean()
    assert est.val_metrics[0].get()[1] == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- handler order and stopping
class Recorder(TrainBegin, TrainEnd, EpochBegin, EpochEnd, BatchBegin, BatchEnd):
    """Logs (tag, event) and what the step had done when its batch_end ran."""

    def __init__(self, tag, log, priority, est=None):
        self.tag, self.log, self.priority, self.est = tag, log, priority, est
        self.seen = []

    def train_begin(self, estimator, *args, **kwargs):
        self.log.append((self.tag, "train_begin"))

    def train_end(self, estimator, *args, **kwargs):
        self.log.append((self.tag, "train_end"))

    def epoch_begin(self, estimator, *args, **kwargs):
        self.log.append((self.tag, "epoch_begin"))

    def epoch_end(self, estimator, *args, **kwargs):
        self.log.append((self.tag, "epoch_end"))

    def batch_begin(self, estimator, *args, **kwargs):
        self.log.append((self.tag, "batch_begin"))
        self.weight = estimator.net[0].weight.data().asnumpy().copy()

    def batch_end(self, estimator, *args, **kwargs):
        self.log.append((self.tag, "batch_end"))
        stepped = not np.array_equal(self.weight, estimator.net[0].weight.data().asnumpy())
        self.seen.append((stepped, estimator.train_metrics[0].num_inst))


def test_handlers_run_in_priority_order_around_the_update_and_metrics():
    log = []
    first, middle, last = (Recorder("first", log, -3000), Recorder("middle", log, -1500),
                           Recorder("last", log, 10))
    est = estimator(make_net(1), gluon.loss.L2Loss())
    est.fit(loader(X, Y_REG), epochs=2, event_handlers=[last, middle, first])
    # before GradientUpdateHandler (-2000): no step yet, metric not updated for this batch
    assert first.seen[:4] == [(False, 0), (False, 8), (False, 16), (False, 24)]
    # between the update and MetricHandler (-1000): stepped, metric still not updated
    assert middle.seen[:4] == [(True, 0), (True, 8), (True, 16), (True, 24)]
    # after: both
    assert last.seen[:4] == [(True, 8), (True, 16), (True, 24), (True, 32)]
    assert last.seen[4] == (True, 8)      # MetricHandler resets at epoch begin
    events = [e for t, e in log if t == "first"]
    per_epoch = ["epoch_begin"] + ["batch_begin", "batch_end"] * 4 + ["epoch_end"]
    assert events == ["train_begin"] + per_epoch * 2 + ["train_end"]
    assert [t for t, e in log if e == "batch_end"][:3] == ["first", "middle", "last"]
    assert [t for t, e in log if e == "batch_begin"][:3] == ["first", "middle", "last"]


def test_default_handlers_are_added_and_sorted():
    # MXNet's module path for the handlers
    assert event_handler.LoggingHandler is LoggingHandler
    assert issubclass(event_handler.CheckpointHandler, event_handler.EpochEnd)
    est = estimator(make_net(1), gluon.loss.L2Loss())
    est.max_epoch, est.max_batch = 1, None
    early = EarlyStoppingHandler(monitor=est.val_metrics[0], mode="min")
    handlers = est._prepare_default_handlers(None, [early])
    assert [type(h) for h in handlers] == [GradientUpdateHandler, MetricHandler,
                                           EarlyStoppingHandler, StoppingHandler,
                                           LoggingHandler]
    handlers = est._prepare_default_handlers(loader(X, Y_REG), [])
    assert ValidationHandler in [type(h) for h in handlers]
    begin, epoch_begin, batch_begin, batch_end, epoch_end, end = \
        est._categorize_handlers(handlers)
    assert [type(h) for h in batch_end] == [GradientUpdateHandler, MetricHandler,
                                            ValidationHandler, StoppingHandler, LoggingHandler]
    assert [type(h) for h in end] == [LoggingHandler]


def test_stopping_by_batches_and_by_a_handler():
    log = []
    rec = Recorder("r", log, 0)
    est = estimator(make_net(1), gluon.loss.L2Loss())
    est.fit(loader(X, Y_REG), batches=6, event_handlers=[rec])
    assert len(rec.seen) == 6
    assert [e for _, e in log].count("epoch_end") == 2   # the cut epoch still ends

    class StopAt(BatchEnd, EpochEnd):
        """True from batch_end ends the epoch; only True from epoch_end ends training."""
        def __init__(self, sticky):
            self.batches = self.epochs = 0
            self.sticky, self.stop = sticky, False

        def batch_end(self, estimator, *args, **kwargs):
            self.batches += 1
            self.stop = self.stop or self.batches == 3
            return self.stop if self.sticky else self.batches == 3

        def epoch_end(self, estimator, *args, **kwargs):
            self.epochs += 1
            return self.stop and self.sticky

    stop = StopAt(sticky=True)
    est.fit(loader(X, Y_REG), epochs=5, event_handlers=[stop])
    assert (stop.batches, stop.epochs) == (3, 1)
    stop = StopAt(sticky=False)
    est.fit(loader(X, Y_REG), epochs=5, event_handlers=[stop])
    assert (stop.batches, stop.epochs) == (3 + 4 * 4, 5)


def test_validation_handler_runs_evaluate_with_its_handlers():
    est = estimator(make_net(1), gluon.loss.L2Loss())
    calls = []

    class Seen(EpochEnd):
        def epoch_end(self, estimator, *args, **kwargs):
            calls.append(estimator.val_metrics[0].get()[1])

    data = loader(X, Y_REG)
    handler = ValidationHandler(data, est.evaluate, epoch_period=2, batch_period=3,
                                event_handlers=[Seen()])
    est.fit(data, epochs=4, event_handlers=[handler])
    # 16 batches: validation after batches 3, 6, 9, 12, 15 and after epochs 2 and 4
    assert len(calls) == 7 and all(np.isfinite(calls))


def test_logging_every_k_batches_and_every_epoch():
    est = estimator(make_net(3), gluon.loss.SoftmaxCrossEntropyLoss())
    buf = quiet(est)
    handler = LoggingHandler(log_interval=3, metrics=est.train_metrics)
    est.fit(loader(X, Y_CLASS), epochs=2, event_handlers=[handler])
    lines = buf.getvalue().splitlines()
    batch_lines = [l for l in lines if "][Batch " in l]
    # batches 0 and 3 of each epoch; samples count on over the epochs
    assert [l.split("]")[1] for l in batch_lines] == ["[Batch 0", "[Batch 3"] * 2
    assert "[Samples 8]" in batch_lines[0] and "[Samples 64]" in batch_lines[-1]
    assert "training accuracy: " in batch_lines[0]
    assert lines[0].startswith("Training begin: using optimizer SGD with current learning "
                               "rate 0.1000")
    assert lines[1] == "Train for 2 epochs."
    assert "[Epoch 1] Begin, current learning rate: 0.1000" in lines
    end = [l for l in lines if l.startswith("Train finished using total")]
    assert len(end) == 1 and "with 2 epochs. training accuracy: " in end[0]
    assert handler.current_epoch == 2 and handler.batch_index == 0
    # evaluate logs its own lines with the validation metrics
    est.evaluate(loader(X, Y_CLASS))
    lines = buf.getvalue().splitlines()
    assert lines[-2] == "Validation Begin"
    assert lines[-1].startswith("[Epoch 0] Finished in ") and "validation accuracy" in lines[-1]


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_files_names_and_max_checkpoints(tmp_path):
    est = estimator(make_net(3), gluon.loss.SoftmaxCrossEntropyLoss())
    acc = est.train_metrics[0]
    handler = CheckpointHandler(str(tmp_path), model_prefix="m", monitor=acc, save_best=True,
                                mode="max", max_checkpoints=2)
    est.fit(loader(X, Y_CLASS), epochs=3, event_handlers=[handler])
    names = sorted(os.listdir(tmp_path))
    assert names == ["m-best.params", "m-best.states", "m-epoch1batch8.params",
                     "m-epoch1batch8.states", "m-epoch2batch12.params",
                     "m-epoch2batch12.states"]
    assert (handler.current_epoch, handler.current_batch) == (3, 12)
    fresh = make_net(3)
    fresh.load_parameters(str(tmp_path / "m-epoch2batch12.params"))
    for got, want in zip(params_of(fresh), params_of(est.net)):
        np.testing.assert_array_equal(got, want)

    # by batches, hybridized: the symbol file after the first batch
    net = make_net(3, hybrid=True)
    est = estimator(net, gluon.loss.SoftmaxCrossEntropyLoss())
    handler = CheckpointHandler(str(tmp_path / "b"), model_prefix="h", epoch_period=None,
                                batch_period=2, max_checkpoints=2)
    est.fit(loader(X, Y_CLASS), batches=10, event_handlers=[handler])
    names = sorted(os.listdir(tmp_path / "b"))
    assert names == ["h-epoch1batch7.params", "h-epoch1batch7.states",
                     "h-epoch2batch9.params", "h-epoch2batch9.states", "h-symbol.json"]
    # the symbol file is the net's forward (its .params use structural names, as in MXNet)
    imported = gluon.SymbolBlock.imports(str(tmp_path / "b" / "h-symbol.json"), ["data"])
    shapes = sorted(p.shape for p in imported.collect_params().values())
    assert shapes == sorted(p.shape for p in net.collect_params().values())


def test_save_best_keeps_the_best_monitored_value(tmp_path):
    est = estimator(make_net(1), gluon.loss.L2Loss(), lr=0.05)
    saved = []

    class Watch(EpochEnd):
        priority = 5   # after the checkpoint handler (priority 0) has saved

        def epoch_end(self, estimator, *args, **kwargs):
            saved.append((estimator.train_metrics[0].get()[1], params_of(estimator.net)))

    handler = CheckpointHandler(str(tmp_path), monitor=est.train_metrics[0], save_best=True,
                                mode="min", max_checkpoints=1)
    est.fit(loader(X, Y_REG), epochs=3, event_handlers=[handler, Watch()])
    best_loss, best_params = min(saved, key=lambda s: s[0])
    assert handler.best == pytest.approx(best_loss)
    net = make_net(1)
    net.load_parameters(str(tmp_path / "model-best.params"))
    for got, want in zip(params_of(net), best_params):
        np.testing.assert_array_equal(got, want)


def test_resume_from_checkpoint_continues_the_same_training(tmp_path):
    ref = make_net(3)
    data = loader(X, Y_CLASS)
    straight = estimator(make_net(3, like=ref), gluon.loss.SoftmaxCrossEntropyLoss(),
                         momentum=0.9)
    straight.fit(data, epochs=4)

    first = estimator(make_net(3, like=ref), gluon.loss.SoftmaxCrossEntropyLoss(),
                      momentum=0.9)
    first.fit(data, epochs=2, event_handlers=[CheckpointHandler(str(tmp_path))])
    assert sorted(os.listdir(tmp_path))[-2:] == ["model-epoch1batch8.params",
                                                 "model-epoch1batch8.states"]
    second = estimator(make_net(3), gluon.loss.SoftmaxCrossEntropyLoss(), momentum=0.9)
    buf = quiet(second)
    second.fit(data, epochs=4,
               event_handlers=[CheckpointHandler(str(tmp_path), resume_from_checkpoint=True)])
    assert second.max_epoch == 2
    assert "Checkpoint resumed from epoch 1 batch 8, continue to train for 2 epochs" \
        in buf.getvalue()
    assert os.path.isfile(tmp_path / "model-epoch3batch16.params")
    assert os.path.isfile(tmp_path / "model-epoch2batch12.states")
    # parameters and momentum were restored: the result is the uninterrupted run's
    for got, want in zip(params_of(second.net), params_of(straight.net)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # nothing left to train
    third = estimator(make_net(3), gluon.loss.SoftmaxCrossEntropyLoss())
    with pytest.raises(ValueError, match="maximum number of epoch 4 reached"):
        third.fit(data, epochs=4, event_handlers=[
            CheckpointHandler(str(tmp_path), resume_from_checkpoint=True)])
    with pytest.raises(AssertionError, match="same type of period"):
        third.fit(data, batches=4, event_handlers=[
            CheckpointHandler(str(tmp_path), resume_from_checkpoint=True)])


# ---------------------------------------------------------------- early stopping
class Scripted(mx.metric.EvalMetric):
    """A metric whose value at the k-th epoch end is values[k] (k counts get() calls)."""

    def __init__(self, name, values):
        super().__init__(name)
        self.values, self.calls = values, 0

    def update(self, labels, preds):
        pass

    def get(self):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return self.name, value


@pytest.mark.parametrize("mode,values,patience,min_delta,stopped", [
    ("min", [5.0, 4.0, 4.5, 4.2, 3.0, 2.0], 2, 0, 3),
    ("min", [5.0, 4.95, 4.92, 1.0], 2, 0.1, 2),
    ("max", [0.1, 0.2, 0.3, 0.3, 0.9], 0, 0, 3),
    ("min", [1.0, 0.5, 0.25, 0.1, 0.05, 0.01], 0, 0, None),
])
def test_early_stopping_stops_at_the_right_epoch(mode, values, patience, min_delta, stopped):
    est = estimator(make_net(1), gluon.loss.L2Loss())
    monitor = Scripted("validation loss", values)
    handler = EarlyStoppingHandler(monitor, mode=mode, patience=patience, min_delta=min_delta)
    log = []
    est.fit(loader(X, Y_REG), epochs=6, event_handlers=[handler, Recorder("r", log, 0)])
    epochs = [e for _, e in log].count("epoch_end")
    if stopped is None:
        assert epochs == 6 and not handler.stop_training
    else:
        assert handler.stopped_epoch == stopped and epochs == stopped + 1


def test_early_stopping_auto_mode_and_baseline():
    with pytest.warns(UserWarning, match="`greater` operator will be used"):
        handler = EarlyStoppingHandler(Scripted("validation accuracy", [0.0]))
    assert handler.monitor_op is np.greater
    with pytest.warns(UserWarning, match="`less` operator will be used"):
        handler = EarlyStoppingHandler(Scripted("validation l2loss", [0.0]))
    assert handler.monitor_op is np.less
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EarlyStoppingHandler(Scripted("validation l2loss", [0.0]), mode="bogus")
    assert [w.category for w in caught] == [RuntimeWarning, UserWarning]
    assert "mode bogus is unknown" in str(caught[0].message)
    # nothing beats the baseline: stop after `patience` epochs
    est = estimator(make_net(1), gluon.loss.L2Loss())
    handler = EarlyStoppingHandler(Scripted("loss", [3.0, 2.0, 1.5]), mode="min",
                                   baseline=1.0, patience=2)
    est.fit(loader(X, Y_REG), epochs=5, event_handlers=[handler])
    assert handler.stopped_epoch == 1 and handler.current_epoch == 2


# ---------------------------------------------------------------- batch processor, capture
def test_custom_batch_processor_replaces_fit_and_evaluate_batch():
    class Counting(BatchProcessor):
        def __init__(self):
            super().__init__()
            self.fits = self.evals = 0

        def fit_batch(self, estimator, train_batch, batch_axis=0):
            self.fits += 1
            return super().fit_batch(estimator, train_batch, batch_axis)

        def evaluate_batch(self, estimator, val_batch, batch_axis=0):
            self.evals += 1
            return super().evaluate_batch(estimator, val_batch, batch_axis)

    proc = Counting()
    est = estimator(make_net(1), gluon.loss.L2Loss(), batch_processor=proc)
    est.fit(loader(X, Y_REG), val_data=loader(X, Y_REG, batch_size=16), epochs=2)
    assert (proc.fits, proc.evals) == (8, 4)


def test_several_contexts_train_as_one():
    """Batches split over [cpu(0), cpu(1)] along batch_axis train the same parameters as whole
    batches: each shard's backward fills its context's copy, and the trainer sums them as
    MXNet's sums per-device gradients."""
    ref = make_net(3)
    one = estimator(make_net(3, like=ref), gluon.loss.SoftmaxCrossEntropyLoss())
    two = estimator(make_net(3, like=ref, ctx=[mx.cpu(0), mx.cpu(1)]),
                    gluon.loss.SoftmaxCrossEntropyLoss(), context=[mx.cpu(0), mx.cpu(1)])
    one.fit(loader(X, Y_CLASS), epochs=2)
    two.fit(loader(X, Y_CLASS), epochs=2, batch_axis=0)
    for got, want in zip(params_of(two.net), params_of(one.net)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for p in two.net.collect_params().values():    # every context's copy took the update
        np.testing.assert_array_equal(p.data(mx.cpu(1)).asnumpy(), p.data(mx.cpu(0)).asnumpy())
    # a net initialized on cpu(0) only fails on cpu(1)'s shard, as in MXNet
    lone = estimator(make_net(3), gluon.loss.SoftmaxCrossEntropyLoss(),
                     context=[mx.cpu(0), mx.cpu(1)])
    with pytest.raises(MXNetError, match="not initialized on context cpu\\(1\\)"):
        lone.fit(loader(X, Y_CLASS), epochs=1)
    for a, b in zip(two.train_metrics, one.train_metrics):
        assert a.get()[1] == pytest.approx(b.get()[1], rel=1e-5)


def test_fit_steps_are_captured_when_hybridized(fresh_capture):
    net = make_net(3, hybrid=True)
    est = estimator(net, gluon.loss.SoftmaxCrossEntropyLoss())
    before = mx.stats()["captured_steps"]
    est.fit(loader(X, Y_CLASS), val_data=loader(X, Y_CLASS), epochs=4)
    captured = mx.stats()["captured_steps"] - before
    # 16 steps: the first few learn the plan, the rest run as one native call each
    assert captured >= 10, mx.explain()


def test_symbol_file_is_skipped_not_fatal_for_python_control_flow(tmp_path):
    class Branchy(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(1)

        def hybrid_forward(self, F, x):
            y = self.dense(x)
            return y * 2.0 if float(y.sum().asscalar()) > 0 else y

    net = Branchy()
    net.initialize()
    net.hybridize()
    est = estimator(net, gluon.loss.L2Loss())
    buf = quiet(est)
    est.fit(loader(X, Y_REG), epochs=1, event_handlers=[CheckpointHandler(str(tmp_path))])
    assert sorted(os.listdir(tmp_path)) == ["model-epoch0batch4.params",
                                            "model-epoch0batch4.states"]
    assert "symbol file) is not saved: " in buf.getvalue()
