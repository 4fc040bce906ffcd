"""Running IR: the numpy interpreter, the eager tape, and compiled modules; and, as
`mx.runtime`, MXNet's feature list (features.py)."""
from .features import Feature, Features, feature_list  # noqa: F401
