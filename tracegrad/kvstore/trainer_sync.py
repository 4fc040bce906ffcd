"""What a gluon.Trainer with a distributed kvstore does around each update.

At the first step (and again whenever a deferred parameter has appeared) the parameters are
broadcast from rank 0, so every worker starts from rank 0's weights. Each step, the gradients
are summed across workers in a few buckets, in backward order (the last layer's gradients
first). A parameter's "fresh" flag (backward wrote its gradient since the last step) is summed
too: a worker that left a gradient stale contributes zeros, the parameter counts as fresh if
any worker wrote it, and so every worker skips or updates the same parameters and the
parameters stay bitwise identical.
"""
import numpy as np


class GradientSync:
    """The Trainer-side half of a distributed kvstore."""

    def __init__(self, kv, params):
        self.kv, self.params = kv, params
        self.synced = set()  # ids of parameters broadcast from rank 0 so far
        self.broadcast_params()

    def broadcast_params(self):
        """rank 0's values for every initialized parameter not yet broadcast."""
        todo = [p for p in self.params if p._data is not None and id(p) not in self.synced]
        if not todo:
            return
        arrays = [p._data._data for p in todo]
        self.kv.bcast_buckets(self.kv.layout([(a.shape, a.dtype) for a in arrays]), arrays)
        self.synced.update(id(p) for p in todo)

    def allreduce_grads(self):
        self.broadcast_params()
        live = [p for p in reversed(self.params)
                if p.grad_req != "null" and p._data is not None and p._data._var is not None]
        if not live:
            return
        vars_ = [p._data._var for p in live]
        fresh = np.fromiter((getattr(v, "fresh", True) for v in vars_), np.int32, len(vars_))
        grads = [v.grad if f else None for v, f in zip(vars_, fresh)]
        buckets = self.kv.layout([(p._data._data.shape, v.grad.dtype)
                                  for p, v in zip(live, vars_)])
        self.kv.reduce_buckets(buckets, grads, extra=fresh)
        for i, (v, f) in enumerate(zip(vars_, fresh)):
            if f:
                v.fresh = True
                np.copyto(v.grad, buckets.view(i), casting="unsafe")
