"""Flat communication buffers: many arrays travel as a few large messages.

Arrays are assigned, in the order given (the Trainer passes parameters in the order backward
produces their gradients: last layer first), to buckets of one dtype each, a bucket closing
once it holds `limit` bytes. One MPI message per bucket instead of one per array: the
per-message latency is paid a few times a step, not once per parameter. Packing and unpacking
are numpy copies between each array and its slice of the bucket (no Python objects between).
"""
import numpy as np

DEFAULT_LIMIT = 25 * 2 ** 20  # bytes; large enough that latency is negligible


class Buckets:
    """The layout for arrays of these (shape, dtype) specs, with its buffers."""

    def __init__(self, specs, limit=DEFAULT_LIMIT, parts=1):
        self.specs = tuple((tuple(s), np.dtype(d)) for s, d in specs)
        self.buffers = []          # flat numpy arrays, one dtype each
        self.slots = [None] * len(self.specs)   # array index -> (bucket, start, stop)
        open_bucket = {}           # dtype -> (bucket index, bytes so far)
        sizes = []
        for i, (shape, dtype) in enumerate(self.specs):
            n = int(np.prod(shape, dtype=np.int64))
            b, used = open_bucket.get(dtype, (None, 0))
            if b is None or used >= limit:
                b, used = len(sizes), 0
                sizes.append([dtype, 0])
            start = sizes[b][1]
            sizes[b][1] += n
            self.slots[i] = (b, start, start + n)
            open_bucket[dtype] = (b, used + n * dtype.itemsize)
        # each buffer's length is a multiple of `parts` (zero padding at the end), so it
        # splits into equal chunks, one per worker, for a reduce-scatter
        self.buffers = [np.zeros(-(-n // parts) * parts, dtype) for dtype, n in sizes]
        self.chunks = [np.empty(len(buf) // parts, buf.dtype) for buf in self.buffers]
        # members[b]: the array indices in bucket b, so a bucket can go once it is packed
        self.members = [[] for _ in self.buffers]
        for i, (b, _, _) in enumerate(self.slots):
            self.members[b].append(i)
        self.nbytes = sum(buf.nbytes for buf in self.buffers)

    def view(self, i):
        b, lo, hi = self.slots[i]
        return self.buffers[b][lo:hi].reshape(self.specs[i][0])

    def pack(self, b, arrays):
        """Copy the arrays of bucket b into it (None: zeros, an absent contribution)."""
        for i in self.members[b]:
            a = arrays[i]
            if a is None:
                self.view(i)[...] = 0
            else:
                np.copyto(self.view(i), a, casting="unsafe")

    def unpack(self, arrays, skip=()):
        for i, a in enumerate(arrays):
            if a is not None and i not in skip:
                np.copyto(a, self.view(i), casting="unsafe")
