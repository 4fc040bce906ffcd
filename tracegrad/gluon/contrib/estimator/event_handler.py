"""`gluon.contrib.estimator.event_handler`: MXNet's module of event handlers (each lives in its
own file here)."""
from .checkpoint_handler import CheckpointHandler
from .early_stopping_handler import EarlyStoppingHandler
from .events import (BatchBegin, BatchEnd, EpochBegin, EpochEnd, EventHandler,  # noqa: F401
                     TrainBegin, TrainEnd, _check_event_handlers)
from .gradient_update_handler import GradientUpdateHandler
from .logging_handler import LoggingHandler
from .metric_handler import MetricHandler
from .stopping_handler import StoppingHandler
from .validation_handler import ValidationHandler

__all__ = ["TrainBegin", "TrainEnd", "EpochBegin", "EpochEnd", "BatchBegin", "BatchEnd",
           "StoppingHandler", "MetricHandler", "ValidationHandler", "LoggingHandler",
           "CheckpointHandler", "EarlyStoppingHandler", "GradientUpdateHandler"]
