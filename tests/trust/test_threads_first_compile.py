"""Threads that make a process's first compiled calls at the same time (a fresh process: the
race is in what a process makes once, codegen/target.process_once).

Four threads' first jit calls crashed the process (SIGSEGV): each built the builtin-entry
trampolines, one copy was kept, and the builtins made from a dropped copy pointed at freed
method definitions."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import threading
    import numpy as np
    import tracegrad as mx
    from tracegrad import nd
    errors = []
    start = threading.Barrier(4)

    def worker(seed):
        try:
            rng = np.random.RandomState(seed)
            def f(x, w):
                h = nd.tanh(nd.dot(x, w)) * 1.5
                if h.sum().asscalar() > 0:
                    return nd.relu(h) + x.sum()
                return nd.sigmoid(h)
            g = mx.jit(f)
            start.wait()
            for i in range(8):
                x = nd.array(rng.randn(16, 20).astype(np.float32))
                w = nd.array(rng.randn(20, 12).astype(np.float32) * 0.1)
                draw = nd.random.uniform(shape=(256,))      # (the native random fill)
                if not np.allclose(g(x, w).asnumpy(), f(x, w).asnumpy(), rtol=1e-5,
                                   atol=1e-5) or draw.shape != (256,):
                    errors.append((seed, i))
        except Exception as e:
            errors.append((seed, repr(e)))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("errors", errors)
""")


def test_four_threads_first_compiled_calls_in_a_fresh_process(tmp_path):
    for attempt in range(3):        # (a race: three fresh processes)
        env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(tmp_path / str(attempt)))
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                              timeout=300, env=env)
        assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
        assert done.stdout.strip().endswith("errors []"), done.stdout[-2000:]
