"""`gluon.model_zoo`: the vision models of MXNet 1.9.1 (`model_zoo.vision.get_model`)."""
from . import model_store, vision

__all__ = ["model_store", "vision"]
