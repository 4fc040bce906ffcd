"""`mx.kv`: MXNet's KVStore API. `create('local')` / `create('device')` for one process,
`create('dist_sync')` / `create('dist_device_sync')` for data-parallel training across the
processes started by `mpiexec -n N python train.py` (MPI through mpi4py, see mpi.py).

    kv = mx.kv.create('dist_sync')
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {...}, kvstore=kv)
    trainer.step(kv.num_workers * per_worker_batch)   # the global batch: see docs/distributed.md
"""
from .base import KVStore, KVStoreBase
from .local import LocalKVStore
from .teststore import TestStore  # registered as 'teststore', as in MXNet 1.9

__all__ = ["create", "KVStore", "KVStoreBase", "LocalKVStore", "TestStore"]

LOCAL_TYPES = ("local", "device", "local_update_cpu", "local_allreduce_cpu",
               "local_allreduce_device")
# MXNet's 'dist' (and 'dist_device') is synchronous too: only a name containing '_async' puts the
# servers in async mode (src/kvstore/kvstore.cc, KVStore::Create).
DIST_TYPES = ("dist_sync", "dist_device_sync", "dist_sync_device", "dist", "dist_device")


def create(name="local"):
    """A KVStore by MXNet's type name."""
    if isinstance(name, KVStoreBase):
        return name
    if not isinstance(name, str):
        raise TypeError(f"kvstore.create: name must be a string, got {type(name).__name__}")
    name = name.lower()                  # as MXNet's create: 'Local', 'DIST_SYNC' are accepted
    if name in KVStoreBase.kv_registry:  # registered stores first, as MXNet's create
        return KVStoreBase.kv_registry[name]()
    if name in LOCAL_TYPES:
        return LocalKVStore(name)
    if name in DIST_TYPES:
        from .mpi import MPIKVStore
        return MPIKVStore(name)
    if name.startswith("dist"):
        raise ValueError(f"kvstore type {name!r} is not supported: tracegrad's distributed "
                         f"stores are synchronous ({', '.join(DIST_TYPES[:2])})")
    raise ValueError(f"unknown kvstore type {name!r}; known: "
                     f"{', '.join(LOCAL_TYPES[:2] + DIST_TYPES[:2])}")
