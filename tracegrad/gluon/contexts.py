"""Parameters on several contexts, as MXNet's multi-device data parallelism uses them.

`net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])` gives each Parameter one copy per context, each
with its own gradient; `split_and_load` places each slice on its context (array.on_context),
and a Block called on an array placed on context c reads its Parameters' copies for c (the
call context below, inherited by the blocks it calls, since op results carry no place). So

    with autograd.record():
        losses = [loss_fn(net(x), y) for x, y in zip(xs, ys)]
    for l in losses:
        l.backward()
    trainer.step(batch_size)

leaves shard k's gradient in copy k, and Trainer.step sums them (MXNet's 'device' kvstore),
updates once and writes the new weights into every copy. Every context is the CPU: the copies
only keep the per-device gradients apart, as MXNet's do.

While no array lives on a context other than cpu(0) (context.PLACED: placed arrays, copies
included), none of this costs anything: blocks check one counter.
"""
import threading

import numpy as np

from ..context import PLACED

ACTIVE = PLACED     # what blocks, parameters and the trainer check


class _CallContext(threading.local):
    ctx = None  # the context of the innermost Block call given a placed array


CALL = _CallContext()


def placed_context(args):
    """The context of the first array among a Block call's arguments that was placed on one
    (lists and tuples of arrays included), else None."""
    for a in args:
        ctx = getattr(a, "_ctx", None) if not isinstance(a, (list, tuple)) else \
            placed_context(a)
        if ctx is not None:
            return ctx
    return None


def call_on_context(args, call):
    """Run call() with the Block call's context set from its arguments (kept from the caller
    when none is placed)."""
    ctx = placed_context(args)
    if ctx is None:
        return call()
    prev, CALL.ctx = CALL.ctx, ctx
    try:
        return call()
    finally:
        CALL.ctx = prev


def sum_gradients(params):
    """MXNet's allreduce over devices: every copy's gradient becomes the sum of all copies'
    (for the parameters with copies and a gradient)."""
    for p in params:
        if p._copies and p._grad_req != "null" and p._data is not None:
            grads = [a._var.grad for a in p._every_copy()]
            total = sum(grads[1:], grads[0])     # (a new array: grads[0] is read, not added to)
            for g in grads:
                np.copyto(g, total, casting="unsafe")


def broadcast_data(params):
    """After the update of the first copy: every other copy takes its new values (MXNet's
    pull of the updated weights to each device)."""
    for p in params:
        if p._copies and p._grad_req != "null" and p._data is not None:
            for copy in p._copies.values():
                np.copyto(copy._data, p._data._data)


def all_fresh(p):
    """Whether every copy's gradient was written since the last step (MXNet checks each)."""
    return all(getattr(a._var, "fresh", True) for a in p._copies.values())


def mark_used(p):
    for a in p._copies.values():
        if a._var is not None:
            a._var.fresh = False
