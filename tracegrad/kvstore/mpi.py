"""'dist_sync' / 'dist_device_sync': data-parallel workers started by `mpiexec -n N`, summing
through MPI (mpi4py over the MPICH wheel: `pip install -e '.[dist]'`).

Every collective is non-blocking and waited for with a deadline (TRACEGRAD_DIST_TIMEOUT
seconds, default 120): a worker that died or hangs makes the others raise DistTimeoutError
instead of waiting forever. An uncaught exception in any worker prints its traceback and aborts
the whole job (MPI_Abort), so `mpiexec` exits with that error at once.
"""
import os
import sys
import time

import numpy as np

from ..base import MXNetError
from .base import KVStore
from .buckets import Buckets

INSTALL_HINT = ("kvstore 'dist_sync' needs mpi4py and an MPI library: pip install -e "
                "'.[dist]' (or: pip install mpi4py mpich), then start the workers with "
                "mpiexec -n N python train.py")


class DistTimeoutError(MXNetError):
    """A collective call did not finish within the timeout: a worker is dead or stuck."""


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MXNetError(f"{INSTALL_HINT} ({e})") from None
    return MPI


def timeout_seconds():
    raw = os.environ.get("TRACEGRAD_DIST_TIMEOUT", "120")
    try:
        value = float(raw)
    except ValueError:
        raise MXNetError(f"TRACEGRAD_DIST_TIMEOUT must be a number of seconds, got {raw!r}") \
            from None
    if value <= 0:
        raise MXNetError(f"TRACEGRAD_DIST_TIMEOUT must be positive, got {raw!r}")
    return value


_ABORT_HOOK = {"installed": False}


def _install_abort_on_error(comm):
    """Uncaught exception -> print it, then MPI_Abort, so the other workers stop too."""
    if _ABORT_HOOK["installed"]:
        return
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"tracegrad: worker {comm.Get_rank()} of {comm.Get_size()} failed; "
                         f"aborting the job\n")
        sys.stderr.flush()
        sys.stdout.flush()
        comm.Abort(1)
    sys.excepthook = hook
    _ABORT_HOOK["installed"] = True


class MPIKVStore(KVStore):
    """Synchronous data parallelism over MPI_COMM_WORLD."""

    def __init__(self, name):
        super().__init__(name)
        MPI = self._MPI = _mpi()
        self._comm = MPI.COMM_WORLD.Dup()
        self._rank, self._size = self._comm.Get_rank(), self._comm.Get_size()
        self.timeout = timeout_seconds()
        self._layouts = {}
        self.comm_seconds = 0.0  # time spent inside collectives (the Trainer's comm share)
        self.bytes_reduced = 0
        if self._size > 1:
            _install_abort_on_error(self._comm)

    @property
    def rank(self):
        return self._rank

    @property
    def num_workers(self):
        return self._size

    # ------------------------------------------------------------------ collectives
    def layout(self, specs):
        """Buckets for arrays of these (shape, dtype) specs (cached: same layout each step)."""
        key = tuple(specs)
        b = self._layouts.get(key)
        if b is None:
            for _, dtype in key:
                self._check_dtype(dtype)
            b = self._layouts[key] = Buckets(specs, parts=self._size)
        return b

    def _check_dtype(self, dtype):
        from mpi4py.util.dtlib import from_numpy_dtype
        try:
            from_numpy_dtype(dtype)
        except (ValueError, KeyError, TypeError):
            raise MXNetError(f"kvstore {self._type!r}: MPI cannot reduce arrays of dtype "
                             f"{np.dtype(dtype).name}") from None

    def reduce_buckets(self, buckets, arrays, extra=None):
        """Sum `arrays` across workers in place through `buckets`.

        Every worker must end with the same bits, which MPI_Allreduce only advises. With two
        workers it is guaranteed (each sum has two terms, and a + b == b + a exactly), so a
        bucket is one allreduce. With more, a bucket is a reduce-scatter (worker r sums chunk r
        of every worker's bucket) then an allgather (every worker receives every chunk): each
        sum is computed once, by one worker, and copied to all; together they are the ring
        allreduce of the cost model. A bucket's collective starts as soon as it is packed;
        `extra` (a small int array, exact in any order) travels in its own allreduce."""
        t0 = time.perf_counter()
        MPI, comm, reqs = self._MPI, self._comm, []
        if extra is not None:
            reqs.append(comm.Iallreduce(MPI.IN_PLACE, extra, op=MPI.SUM))
        two = self._size <= 2
        for b, (buf, chunk) in enumerate(zip(buckets.buffers, buckets.chunks)):
            buckets.pack(b, arrays)
            reqs.append(comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM) if two else
                        comm.Ireduce_scatter_block(buf, chunk, op=MPI.SUM))
        self._wait(reqs, "an allreduce" if two else "a reduce-scatter", buckets.nbytes)
        if not two:
            reqs = [comm.Iallgather(chunk, buf)
                    for buf, chunk in zip(buckets.buffers, buckets.chunks)]
            self._wait(reqs, "an allgather", buckets.nbytes)
        self.bytes_reduced += buckets.nbytes
        self.comm_seconds += time.perf_counter() - t0

    def bcast_buckets(self, buckets, arrays):
        t0 = time.perf_counter()
        reqs = []
        for b, buf in enumerate(buckets.buffers):
            if self._rank == 0:
                buckets.pack(b, arrays)
            reqs.append(self._comm.Ibcast(buf, root=0))
        self._wait(reqs, "a broadcast", buckets.nbytes)
        if self._rank != 0:
            buckets.unpack(arrays)
        self.comm_seconds += time.perf_counter() - t0

    def _reduce(self, arrays):
        if not arrays:
            return
        b = self.layout([(a.shape, a.dtype) for a in arrays])
        self.reduce_buckets(b, arrays)
        b.unpack(arrays)

    def _bcast(self, arrays):
        if arrays:
            self.bcast_buckets(self.layout([(a.shape, a.dtype) for a in arrays]), arrays)

    def _barrier(self):
        self._wait([self._comm.Ibarrier()], "a barrier", 0)

    def _wait(self, reqs, what, nbytes):
        """Wait for the requests, polling, until the deadline."""
        Testall = self._MPI.Request.Testall
        deadline = None
        spins = 0
        while not Testall(reqs):
            spins += 1
            if spins % 256 == 0:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.timeout
                elif now > deadline:
                    raise DistTimeoutError(
                        f"kvstore {self._type!r}: worker {self._rank} of {self._size} waited "
                        f"{self.timeout:g} s for {what} of {nbytes / 1e6:.3g} MB that did not "
                        f"complete: another worker has died, hangs, or stopped stepping in "
                        f"lockstep (set TRACEGRAD_DIST_TIMEOUT, in seconds, to wait longer)")
                if spins % 4096 == 0:
                    time.sleep(0)  # let other threads of this process run

