"""`nd.contrib.hawkesll`: MXNet 1.9's log-likelihood of K independent marked Hawkes processes
with exponential kernels, observed on (0, max_time] (src/operator/contrib/hawkes_ll*).

Mark k's intensity is lda_k + alpha_k * beta_k * s_k(t), where the memory s_k(t) is the
input state decayed since time 0 plus exp(-beta_k (t - t_i)) for each earlier event t_i of
mark k. MXNet walks every sequence event by event; here the same quantities are closed forms
over whole arrays, so the op is a composite of primitives that records, compiles and
differentiates like any other:
- the memory at each event is a masked sum over the earlier events of its mark (an (N, T, T)
  array: memory grows as T squared);
- the compensator (the intensity's integral) telescopes to lda_k max_time +
  alpha_k (state_k + n_k - s_k(max_time)), n_k being the number of mark-k events.

As MXNet's backward, gradients reach lda, alpha and beta from the log-likelihood only: none
reaches state, lags, marks, valid_length or max_time, and none leaves through out_state.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["hawkesll"]

_NAMES = ("lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time")


def _checked(args):
    """(N, T, K) after MXNet's shape and type rules (HawkesLLOpShape / HawkesLLOpType)."""
    for name, x in zip(_NAMES, args):
        if not isinstance(x, NDArray):
            raise MXNetError(f"hawkesll: {name} must be an NDArray, got {type(x).__name__}")
    shapes = {name: tuple(x.shape) for name, x in zip(_NAMES, args)}
    lda, lags = shapes["lda"], shapes["lags"]
    ranks = dict(lda=2, alpha=1, beta=1, state=2, lags=2, marks=2, valid_length=1, max_time=1)
    if any(len(shapes[n]) != r for n, r in ranks.items()):
        raise MXNetError(f"hawkesll: expects lda (N, K), alpha (K,), beta (K,), state (N, K), "
                         f"lags (N, T), marks (N, T), valid_length (N,), max_time (N,); got "
                         f"{shapes}")
    (N, T), K = lags, lda[1]
    want = dict(lda=(N, K), alpha=(K,), beta=(K,), state=(N, K), lags=(N, T), marks=(N, T),
                valid_length=(N,), max_time=(N,))
    if any(shapes[n] != s for n, s in want.items()):
        raise MXNetError(f"hawkesll: with lags (N, T) = {lags} and lda (N, K) = {lda} the "
                         f"shapes must be {want}; got {shapes}")
    dtype = np.dtype(args[0].dtype)
    dtypes = {name: np.dtype(x.dtype).name for name, x in zip(_NAMES, args)}
    if dtype.kind != "f" or np.dtype(args[5].dtype).kind not in "iu" or any(
            np.dtype(x.dtype) != dtype for n, x in zip(_NAMES, args) if n != "marks"):
        raise MXNetError(f"hawkesll: marks must be integers and every other input of lda's "
                         f"floating dtype; got {dtypes}")
    return N, T, K, dtype


def _const(values, dtype):
    from .nd import array
    return array(np.ascontiguousarray(values), dtype=dtype)


def hawkesll(lda, alpha, beta, state, lags, marks, valid_length, max_time, **kwargs):
    """(log-likelihood (N,), out_state (N, K)) of N sequences of marked events: lags (N, T)
    are the times between events, marks (N, T) their processes in [0, K), and only the
    first valid_length[i] events of sequence i count. lda (N, K) is each process's
    background intensity, alpha (K,) its branching ratio, beta (K,) its decay rate, state
    (N, K) its memory at time 0; out_state is the memory at max_time (N,), to pass on as
    the next window's state. (A mark outside [0, K) adds no event: MXNet reads out of
    bounds there.)"""
    if kwargs:
        return _redo(hawkesll, locals())
    N, T, K, dtype = _checked((lda, alpha, beta, state, lags, marks, valid_length, max_time))
    dt = dtype_name(dtype)
    held = [F.stop_gradient(x) for x in (state, lags, valid_length, max_time)]
    state, lags, valid_length, max_time = held
    hot = F.one_hot(marks, depth=K, dtype=dt)                                  # (N, T, K)
    positions = _const(np.arange(T).reshape(1, T), dtype)
    valid = F.cast(F.lt(positions, F.reshape(valid_length, shape=(N, 1))), dtype=dt)
    times = F.cumsum(lags, axis=1)                                             # (N, T)

    def at_events(x):    # x (N, K) or (K,): the value of each event's mark, (N, T)
        return F.sum(F.mul(hot, F.reshape(x, shape=(x.size // K, 1, K))), axes=(2,))
    b = at_events(beta)
    # earlier valid events of the same mark: mask[n, j, i], i < j
    earlier = _const(np.tril(np.ones((T, T)), -1).reshape(1, T, T), dtype)
    same = F.cast(F.eq(F.reshape(marks, shape=(N, T, 1)), F.reshape(marks, shape=(N, 1, T))),
                  dtype=dt)
    mask = F.ne(F.mul(F.mul(same, earlier), F.reshape(valid, shape=(N, 1, T))), 0)
    gaps = F.where(mask, F.sub(F.reshape(times, shape=(N, T, 1)),
                               F.reshape(times, shape=(N, 1, T))), 0.0)
    kicks = F.where(mask, F.exp(F.mul(F.neg(F.reshape(b, shape=(N, T, 1))), gaps)), 0.0)
    memory = F.add(F.mul(at_events(state), F.exp(F.mul(F.neg(b), times))),
                   F.sum(kicks, axes=(2,)))                                    # (N, T)
    rate = F.add(at_events(lda), F.mul(F.mul(at_events(alpha), b), memory))
    counted = F.ne(valid, 0)
    log_rates = F.sum(F.where(counted, F.log(F.where(counted, rate, 1.0)), 0.0), axes=(1,))
    # memory at max_time and the compensator, per mark
    end = F.reshape(max_time, shape=(N, 1))
    events = F.mul(hot, F.reshape(valid, shape=(N, T, 1)))                     # (N, T, K)
    left = F.where(F.ne(events, 0), F.reshape(F.sub(end, times), shape=(N, T, 1)), 0.0)
    decays = F.exp(F.mul(F.neg(F.reshape(beta, shape=(1, 1, K))), left))
    final = F.add(F.mul(state, F.exp(F.mul(F.neg(F.reshape(beta, shape=(1, K))), end))),
                  F.sum(F.mul(events, decays), axes=(1,)))                     # (N, K)
    n_events = F.sum(events, axes=(1,))
    compensator = F.add(F.mul(lda, end),
                        F.mul(alpha, F.sub(F.add(state, n_events), final)))
    loglike = F.sub(log_rates, F.sum(compensator, axes=(1,)))
    return loglike, F.stop_gradient(final)
