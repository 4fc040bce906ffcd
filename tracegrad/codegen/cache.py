"""Compiled-object caches: in memory (per process) and on disk (across processes), plus counters.

The key is a SHA-256 over everything that decides the machine code: the printed tracegrad IR,
a hash of the codegen sources, the host CPU name and features, the optimisation level and the
tracegrad / llvmlite / numpy versions. Disk files are `MAGIC | payload length | sha256(payload) |
payload`; a file whose header, length or checksum disagrees is ignored and overwritten, never
trusted. Writes go to a temporary file and are renamed into place (atomic on POSIX). Only raw
object bytes are stored: no pickle. TRACEGRAD_CACHE=0 disables the disk cache;
TRACEGRAD_CACHE_DIR moves it (default ~/.cache/tracegrad).
"""
import functools
import hashlib
import os
import struct
import tempfile

COUNTERS = {"compiles": 0, "memory_cache_hits": 0, "disk_cache_hits": 0,
            "disk_cache_rejects": 0, "native_calls": 0,
            "planned_peak_bytes": 0}   # of the most recently compiled graph (memory_plan())
MEMORY: dict = {}
MAGIC = b"TGOBJ\x01\x00\x00"
_HEADER = struct.Struct("<8sQ32s")


@functools.lru_cache(maxsize=None)
@functools.lru_cache(maxsize=None)
def _source_hash() -> str:
    """Hash of this package's codegen sources: editing codegen invalidates old objects."""
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _environment() -> str:
    """Everything besides the IR that decides what the object code is (fixed per process)."""
    import llvmlite
    import numpy

    from . import target
    try:
        from importlib.metadata import version
        tg_version = version("tracegrad")
    except Exception:  # noqa: BLE001 - metadata missing in odd installs; the source hash covers it
        tg_version = "unknown"
    cpu, features = target.host()
    blas_name, blas_bits = target.blas()
    return "\0".join([_source_hash(), cpu, features, f"O{target.OPT_LEVEL}", tg_version,
                      llvmlite.__version__, numpy.__version__, blas_name, str(blas_bits)])


def cache_key(ir_text: str, flags: str = "") -> str:
    """Content hash deciding object identity (see module docstring)."""
    return hashlib.sha256("\0".join([ir_text, flags, _environment()]).encode()).hexdigest()


def disk_enabled() -> bool:
    return os.environ.get("TRACEGRAD_CACHE", "1") != "0"


def cache_dir() -> str:
    return os.environ.get("TRACEGRAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "tracegrad")


def _path(key: str) -> str:
    return os.path.join(cache_dir(), key[:2], key + ".o")


def load(key: str):
    """Object bytes for `key` from disk, or None (missing, disabled, or failed validation)."""
    if not disk_enabled():
        return None
    try:
        with open(_path(key), "rb") as f:
            blob = f.read()
    except OSError:
        return None
    if len(blob) < _HEADER.size:
        COUNTERS["disk_cache_rejects"] += 1
        return None
    magic, length, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    if magic != MAGIC or length != len(payload) or hashlib.sha256(payload).digest() != digest:
        COUNTERS["disk_cache_rejects"] += 1
        return None
    return payload


def store(key: str, payload: bytes) -> None:
    """Write atomically; a failure to write (read-only home, full disk) is not an error."""
    if not disk_enabled():
        return
    path = _path(key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        header = _HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest())
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(header + payload)
        os.replace(tmp, path)
    except OSError:
        pass
