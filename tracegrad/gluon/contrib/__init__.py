"""`gluon.contrib`: the containers MXNet 1.x keeps outside gluon.nn (model zoo models use them)."""
from . import cnn, data, estimator, nn, rnn

__all__ = ["cnn", "data", "estimator", "nn", "rnn"]
