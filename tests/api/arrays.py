"""Test helper: nd.array that keeps the source's dtype. MXNet's nd.array (and ours) makes numpy
data float32; tests comparing against float64 references say so with this."""
import numpy as np

from tracegrad import nd


def keep_dtype(a, dtype=None):
    return nd.array(a, dtype=dtype if dtype is not None else np.asarray(a).dtype)
