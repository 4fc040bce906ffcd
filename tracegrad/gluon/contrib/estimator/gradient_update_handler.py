"""GradientUpdateHandler: the trainer step after each batch's backward."""
from .events import BatchEnd


class GradientUpdateHandler(BatchEnd):
    """trainer.step(batch size) at batch end, the batch size being the number of loss rows over
    all devices. Priority -2000: the update runs before any handler reads the batch."""

    def __init__(self, priority=-2000):
        self.priority = priority

    def batch_end(self, estimator, *args, **kwargs):
        loss = kwargs["loss"]
        losses = loss if isinstance(loss, list) else [loss]
        estimator.trainer.step(sum(l.shape[0] for l in losses))
