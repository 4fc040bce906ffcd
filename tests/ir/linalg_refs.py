"""Float64 references of LAPACK factorizations, written by hand (no LAPACK call), shared by
the op registry tests and the nd-level tests."""
import math

import numpy as np


def householder_lq(a):
    """LAPACK's gelqf by hand in float64, one matrix at a time: row i's reflector makes
    beta = -sign(alpha) ||row tail|| (alpha its diagonal entry; no reflection when the rest
    of the row is 0) the diagonal of L; then Q = L^-1 A. Returns (Q, L)."""
    qs, ls = [], []
    m, n = a.shape[-2:]
    for w in a.reshape(-1, m, n).astype(np.float64):
        w = w.copy()
        for i in range(m):
            x = w[i, i:].copy()
            alpha, rest = x[0], np.linalg.norm(x[1:])
            if rest == 0:
                continue
            beta = -math.copysign(math.hypot(alpha, rest), alpha)
            v = x / (alpha - beta)
            v[0] = 1.0
            tau = (beta - alpha) / beta
            w[i:, i:] -= tau * np.outer(w[i:, i:] @ v, v)
        low = np.tril(w[:, :m])
        ls.append(low)
        qs.append(np.linalg.solve(low, a.reshape(-1, m, n)[len(qs)].astype(np.float64)))
    return np.reshape(qs, a.shape), np.reshape(ls, a.shape[:-1] + (m,))
