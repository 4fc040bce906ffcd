"""Data-parallel training over MPI: `mpiexec -n 2` workers against one process, the KVStore
API across workers, and a failing or hanging worker ending the job with its error."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "worker.py")
CONFIGS = ["sgd_eager", "adam_eager", "sgd_hybrid", "adam_hybrid", "sgd_add",
           "adam_stale_mixed", "module_sgd"]


def mpiexec():
    """The mpiexec installed beside this Python (the mpich wheel's), else the one on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = local if os.path.exists(local) else shutil.which("mpiexec")
    assert found, "mpiexec not found: pip install -e '.[dist]' installs it (mpich)"
    return found


def run(args, n=None, timeout=120, script=WORKER, **env):
    environ = dict(os.environ, PYTHONPATH=ROOT, **env)
    cmd = [sys.executable, script, *args]
    if n is not None:
        cmd = [mpiexec(), "-n", str(n), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environ,
                          cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def two_worker_job(tmp_path_factory):
    """The single-process reference, then one 2-worker job that trains every configuration
    and then checks the KVStore API (each mpiexec job costs seconds of start-up)."""
    out = str(tmp_path_factory.mktemp("dist"))
    single = run(["train", out], KVSTORE="local")
    assert single.returncode == 0, single.stderr
    double = run(["train+kv", out], n=2)
    assert double.returncode == 0, double.stderr
    return out, double


@pytest.fixture(scope="module")
def trained(two_worker_job):
    return two_worker_job[0]


def _load(out, name, rank, workers):
    with np.load(os.path.join(out, f"{name}_rank{rank}_of{workers}.npz")) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", CONFIGS)
def test_two_workers_at_32_match_one_process_at_64(trained, name):
    ref = _load(trained, name, 0, 1)
    for rank in (0, 1):
        got = _load(trained, name, rank, 2)
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k].dtype == ref[k].dtype
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=2e-6,
                                       err_msg=f"{name} parameter {k} rank {rank}")


@pytest.mark.parametrize("name", CONFIGS)
def test_workers_end_bitwise_identical(trained, name):
    a, b = _load(trained, name, 0, 2), _load(trained, name, 1, 2)
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{name} parameter {k} differs between workers"


def test_training_moved_every_parameter_including_the_rarely_used_one(trained):
    """The comparison above means something: parameters left their initial values, and the
    aux layer only worker 1 uses was updated on every worker."""
    sys.path.insert(0, HERE)
    try:
        import worker
    finally:
        sys.path.remove(HERE)
    start = [p.data().asnumpy() for p in worker.mlp(False, 100).collect_params().values()]
    end = _load(trained, "sgd_eager", 0, 2)
    for k, s in enumerate(start):
        assert np.abs(end[str(k)] - s).max() > 1e-3
    mixed = _load(trained, "adam_stale_mixed", 0, 2)
    assert {str(v.dtype) for v in mixed.values()} == {"float32", "float64"}


@pytest.mark.parametrize("n", [2, 3])
def test_kvstore_api_across_workers(n, request):
    # two workers: checked in the training job (after training, on a new store)
    res = request.getfixturevalue("two_worker_job")[1] if n == 2 else run(["kv", "-"], n=n)
    assert res.returncode == 0, res.stderr
    for rank in range(n):
        assert f"KV OK rank {rank} of {n}" in res.stdout


def test_four_workers_reduce_scatter_then_allgather(trained):
    """More than two workers take the reduce-scatter + allgather path (padded buckets)."""
    names = ["sgd_eager", "adam_stale_mixed"]
    res = run(["train", trained], n=4, WORKER_CONFIGS=",".join(names))
    assert res.returncode == 0, res.stderr
    for name in names:
        ref = _load(trained, name, 0, 1)
        got = [_load(trained, name, rank, 4) for rank in range(4)]
        for k in ref:
            np.testing.assert_allclose(got[0][k], ref[k], rtol=1e-5, atol=2e-6)
            assert all(np.array_equal(got[0][k], g[k]) for g in got[1:]), (name, k)


def test_a_worker_raising_ends_the_job_with_its_error():
    t0 = time.monotonic()
    res = run(["raise", "-"], n=2, timeout=60, TRACEGRAD_DIST_TIMEOUT="20")
    assert res.returncode != 0
    assert "RuntimeError: worker 1 exploded at step 3" in res.stderr
    assert time.monotonic() - t0 < 20


def test_a_hung_worker_makes_the_others_time_out_with_a_clear_error():
    t0 = time.monotonic()
    res = run(["hang", "-"], n=2, timeout=60, TRACEGRAD_DIST_TIMEOUT="2")
    assert res.returncode != 0
    assert "DistTimeoutError" in res.stderr and "worker 0 of 2 waited 2 s" in res.stderr
    assert time.monotonic() - t0 < 30


def test_dist_without_mpi4py_says_how_to_install():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import tracegrad as mx\n"
            "try:\n    mx.kv.create('dist_sync')\n"
            "except mx.MXNetError as e:\n    print('ERR', e)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert "ERR kvstore 'dist_sync' needs mpi4py" in res.stdout, res.stderr
    assert "pip install -e '.[dist]'" in res.stdout and "mpiexec -n N" in res.stdout


def test_the_distributed_example_reports_each_worker():
    import re
    res = run(["--epochs", "1"], n=2, script=os.path.join(ROOT, "examples",
                                                          "train_distributed.py"))
    assert res.returncode == 0, res.stderr
    for rank in (0, 1):
        assert re.search(rf"worker {rank} of 2: [\d,]+ samples/s, [\d.]+ ms a step, "
                         rf"[\d.]+% of it communicating", res.stdout), res.stdout
    acc = re.search(r"test accuracy ([\d.]+) after 1 epochs on 2 worker\(s\), global batch 64",
                    res.stdout)
    assert acc and float(acc.group(1)) > 0.6, res.stdout
