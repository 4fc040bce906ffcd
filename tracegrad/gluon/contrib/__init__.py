"""`gluon.contrib`: the containers MXNet 1.x keeps outside gluon.nn (model zoo models use them)."""
from . import nn, rnn

__all__ = ["nn", "rnn"]
