"""`gluon.contrib`: the containers MXNet 1.x keeps outside gluon.nn (model zoo models use them)."""
from . import data, estimator, nn, rnn

__all__ = ["data", "estimator", "nn", "rnn"]
