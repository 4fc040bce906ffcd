"""Contenders that run in a process of their own (PyTorch, JAX, set_np), timed in the SAME
interleaved rounds as the main process's (common.compare).

A peer's library cannot share the main process (its thread pools, set_np being process-wide),
so each runs in a child that stays up for the whole benchmark and times one batch of its step
whenever compare's round reaches it. Its figures then meet the same drift of this shared
machine as numpy by hand's in the neighbouring batch, and report() gives them per-round
ratios like every other row (a child timed once, before or after the main process, could
land in a quiet or a busy minute: 2x swings were seen).

    peer = Peer("bench_step", "peer_step", "torch")      # the child imports bench_step
    rows = compare([("numpy by hand", fn), ("pytorch eager", peer.contender("tiny"))], ...)

The child calls `module.factory(peer_name, case)` for a case's step function the first time
the case is asked for (an ImportError: the peer is unavailable, its rows are left out). Its
own stdout carries the replies only: whatever the libraries print goes to stderr, which is
kept in a temporary file and shown when the child fails.
"""
import gc
import importlib
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Peer:
    """One child process serving the step functions `module.factory(name, case)` makes."""

    def __init__(self, module, factory, name, env=None, preexec_fn=None):
        self.name = name
        self.err = tempfile.TemporaryFile(mode="w+")
        code = (f"import sys; sys.path.insert(0, {HERE!r}); import remote; "
                f"remote.serve({module!r}, {factory!r}, {name!r})")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.err, text=True, env=dict(os.environ, **(env or {})),
            cwd=os.path.dirname(HERE), preexec_fn=preexec_fn)
        self.failed = None

    def ask(self, line):
        """The child's one-line reply to `line`, or None once it has failed."""
        if self.failed is not None:
            return None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline().strip()
        except (BrokenPipeError, OSError) as e:
            reply = f"error {e}"
        if not reply or reply.startswith("error"):
            self.err.seek(0)
            last = (reply[6:] or "") + " " + " ".join(self.err.read().strip().splitlines()[-1:])
            self.failed = last.strip() or "the child exited"
            print(f"({self.name}: failed: {self.failed})")
            return None
        return reply

    def contender(self, case):
        """A compare() contender for `case`, or None when the peer does not have it."""
        reply = self.ask(f"make {case}")
        if reply != "ok":
            return None
        return _Contender(self, case)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.err.close()


def peer_rows(peers, case):
    """compare() rows [(label, contender)] for `case` of `peers` [(label, Peer)]; a peer that
    lacks the case, or failed, has no row."""
    return [(label, c) for label, peer in peers for c in (peer.contender(case),)
            if c is not None]


def close_all(peers):
    for _, peer in peers:
        peer.close()


class _Contender:
    """compare() times it through its two methods (the timing runs in the child)."""

    def __init__(self, peer, case):
        self.peer, self.case = peer, case

    def batch_size(self, min_time):
        return int(self.peer.ask(f"size {self.case} {min_time!r}") or 1)

    def time_batch(self, number):
        reply = self.peer.ask(f"time {self.case} {number}")
        return float(reply) if reply is not None else float("nan")


def _warmed(fn, seconds=0.2):
    """`fn` after a few calls: a peer's first calls compile (jax.jit traces again when its
    state's container changes), and a batch size measured on them would be 1."""
    if fn is not None:
        t0 = time.perf_counter()
        for k in range(1000):
            fn()
            if k >= 3 and time.perf_counter() - t0 > seconds:
                break
    return fn


def serve(module, factory, name):
    """The child's loop: one reply line per request line, on a private copy of stdout."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                 # (the libraries' prints go to stderr)
    sys.stdout = sys.stderr
    from common import _batch_size, _time_batch
    make = getattr(importlib.import_module(module), factory)
    fns = {}
    for line in sys.stdin:
        cmd, *rest = line.split()
        try:
            if cmd == "quit":
                break
            if cmd == "make":
                if rest[0] not in fns:
                    fns[rest[0]] = _warmed(make(name, rest[0]))
                reply = "ok" if fns[rest[0]] is not None else "absent"
            elif cmd == "size":
                reply = str(_batch_size(fns[rest[0]], float(rest[1])))
            elif cmd == "time":
                gc.disable()
                try:
                    reply = repr(_time_batch(fns[rest[0]], int(rest[1])))
                finally:
                    gc.enable()
            else:
                reply = f"error unknown request {cmd!r}"
        except ImportError:
            reply = "absent"
        except Exception as e:  # noqa: BLE001 - reported by the parent, which goes on
            reply = f"error {type(e).__name__}: {e}".replace("\n", " ")
        out.write(reply + "\n")
        out.flush()
