"""The LSTM cell by hand in numpy, shared by the numpy-by-hand steps of bench_rnn.py and
bench_dynamic.py: gates i, f, g, o from one 4H-wide projection (MXNet's order), and the
cache one step keeps for its backward."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def cell_forward(P, xt, h, c):
    """(h, c, cache) after one step on input xt; P holds wi, wh, bi, bh."""
    H = h.shape[1]
    g = xt @ P["wi"].T + P["bi"] + h @ P["wh"].T + P["bh"]
    i, f = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H])
    gg, o = np.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
    c_next = f * c + i * gg
    tc = np.tanh(c_next)
    return o * tc, c_next, (i, f, gg, o, c, h, tc)


def cell_backward(dh, dc, cache):
    """(the gates' gradient (N, 4H), the cell state's gradient for the step before) from the
    gradients of this step's h and c; the caller adds dg.T @ x, dg.T @ h_prev (cache[5]) and
    dg.sum(0) to the weights' gradients and carries dg @ wh back as h's."""
    i, f, gg, o, c_prev, _, tc = cache
    dc = dc + dh * o * (1 - tc * tc)
    dg = np.concatenate([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f),
                         dc * i * (1 - gg * gg), dh * tc * o * (1 - o)], axis=1)
    return dg, dc * f
