"""The CTC loss the example-program tests check against: -log p(label | x) by the forward
(alpha) recursion over the label with blanks between and around, in float64."""
import numpy as np


def ctc_nll(logp, label, blank):
    """logp: (T, C) log-probabilities; label: the class ids (no padding); blank: its id."""
    ext = [blank]
    for c in label:
        ext += [c, blank]
    T, S = logp.shape[0], len(ext)
    alpha = np.full((T, S), -np.inf)
    alpha[0, 0] = logp[0, blank]
    if S > 1:
        alpha[0, 1] = logp[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            terms = [alpha[t - 1, s]]
            if s > 0:
                terms.append(alpha[t - 1, s - 1])
            if s > 1 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[t - 1, s - 2])
            alpha[t, s] = np.logaddexp.reduce(terms) + logp[t, ext[s]]
    return -np.logaddexp(alpha[-1, -1], alpha[-1, -2] if S > 1 else -np.inf)


def log_softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))
