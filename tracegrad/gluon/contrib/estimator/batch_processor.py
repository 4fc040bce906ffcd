"""BatchProcessor: what the Estimator does with one batch (override to customise)."""
from .... import autograd
from ...utils import split_and_load

__all__ = ["BatchProcessor"]


class BatchProcessor:
    """fit_batch / evaluate_batch on one (data, label) batch; both return (data, label, pred,
    loss), each a list with one entry per context. fit_batch is the ordinary training step
    (forward and loss under record, then backward; the trainer step follows in
    GradientUpdateHandler), so tracegrad's step capture applies to it."""

    def __init__(self):
        pass

    def _get_data_and_label(self, batch, ctx, batch_axis=0):
        data = split_and_load(batch[0], ctx_list=ctx, batch_axis=batch_axis)
        label = split_and_load(batch[1], ctx_list=ctx, batch_axis=batch_axis)
        return data, label

    def evaluate_batch(self, estimator, val_batch, batch_axis=0):
        """Predictions and losses of estimator.val_net / val_loss on a validation batch."""
        data, label = self._get_data_and_label(val_batch, estimator.context, batch_axis)
        pred = [estimator.val_net(x) for x in data]
        loss = [estimator.val_loss(y_hat, y) for y_hat, y in zip(pred, label)]
        return data, label, pred, loss

    def fit_batch(self, estimator, train_batch, batch_axis=0):
        """Forward, loss and backward of estimator.net / loss on a training batch."""
        data, label = self._get_data_and_label(train_batch, estimator.context, batch_axis)
        with autograd.record():
            pred = [estimator.net(x) for x in data]
            loss = [estimator.loss(y_hat, y) for y_hat, y in zip(pred, label)]
        for l in loss:     # (one gradient per context's copy; the trainer sums them)
            l.backward()
        return data, label, pred, loss
