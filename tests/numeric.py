"""Central differences for gradient tests against numpy references (one copy for the test
files that need them; at tests/, which conftest.py puts on the path for every test folder)."""
import numpy as np


def central_differences(f, arrays, eps=1e-6):
    """d f() / d a for each (float64) array a in `arrays`, element by element, f() a scalar
    computed from the arrays in place (each element is restored after its two evaluations)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            hi = f()
            a[idx] = old - eps
            lo = f()
            a[idx] = old
            g[idx] = (hi - lo) / (2 * eps)
        grads.append(g)
    return grads
