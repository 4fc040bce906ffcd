"""`gluon.contrib`: the containers MXNet 1.x keeps outside gluon.nn (model zoo models use them)."""
from . import estimator, nn, rnn

__all__ = ["estimator", "nn", "rnn"]
