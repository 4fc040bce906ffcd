"""Compiled-object caches: in memory (per process) and on disk (across processes), plus counters.

The key is a SHA-256 over everything that decides the machine code: the printed tracegrad IR,
a hash of the codegen sources, the host CPU name and features, the optimisation level and the
tracegrad / llvmlite / numpy versions. Disk files are `MAGIC | key | payload length |
sha256(key | payload) | payload`: a file is bound to the key it was written for, so a file
copied or renamed to another key's path is rejected (and recompiled), as is one whose header,
length or checksum disagrees. The checksum is not a signature: the cache directory holds code
this process will run, so it must be writable only by its user. Writes go to a temporary
file and are renamed into place (atomic on POSIX). Only raw object bytes are stored: no
pickle. TRACEGRAD_CACHE=0 disables the disk cache; TRACEGRAD_CACHE_DIR moves it (default
~/.cache/tracegrad).
"""
import functools
import hashlib
import os
import struct
import tempfile
import threading

COUNTERS = {"compiles": 0, "memory_cache_hits": 0, "disk_cache_hits": 0,
            "disk_cache_rejects": 0, "native_calls": 0, "eager_adjoints_compiled": 0,
            "planned_peak_bytes": 0}   # of the most recently compiled graph (memory_plan())
MEMORY: dict = {}        # key -> CompiledModule, least recently used first
MEMORY_LOCK = threading.Lock()   # (compiles may run in two threads: runtime/background.py)
MEMORY_LIMIT = 256       # modules kept for reuse beyond those still referenced elsewhere
MAGIC = b"TGOBJ\x02\x00\x00"
_HEADER = struct.Struct("<8s32sQ32s")


@functools.lru_cache(maxsize=None)
def _source_hash() -> str:
    """Hash of the sources that decide the machine code: codegen, and the whole IR package
    (the ops' scalar rules and kernels' attributes are read while lowering without showing in
    the printed IR; the fusion grouping decides the arena layout): editing any of them
    invalidates old objects, so a cache written by another version never serves a rule it no
    longer has."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for path in hashed_sources():
        with open(path, "rb") as f:
            h.update(os.path.relpath(path, root).encode() + b"\0" + f.read())
    return h.hexdigest()


def hashed_sources() -> list:
    """The files _source_hash reads: codegen/*.py and every .py under ir/, in a fixed order."""
    here = os.path.dirname(os.path.abspath(__file__))
    files = [os.path.join(here, n) for n in sorted(os.listdir(here)) if n.endswith(".py")]
    for folder, dirs, names in os.walk(os.path.join(os.path.dirname(here), "ir")):
        dirs.sort()
        files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")]
    return files


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


def _path(key: str, suffix: str = ".o") -> str:
    return os.path.join(cache_dir(), key[:2], key + suffix)


def _key_bytes(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _digest(key: str, payload: bytes) -> bytes:
    return hashlib.sha256(_key_bytes(key) + payload).digest()


def load(key: str, suffix: str = ".o"):
    """Object bytes for `key` from disk, or None (missing, disabled, or failed validation).
    `suffix`: the file's (".lib": a group of linked.py)."""
    if not disk_enabled():
        return None
    try:
        with open(_path(key, suffix), "rb") as f:
            blob = f.read()
    except OSError:
        return None
    if len(blob) < _HEADER.size:
        COUNTERS["disk_cache_rejects"] += 1
        return None
    magic, bound, length, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    if (magic != MAGIC or bound != _key_bytes(key) or length != len(payload)
            or _digest(key, payload) != digest):
        COUNTERS["disk_cache_rejects"] += 1
        return None
    return payload


def store(key: str, payload: bytes, suffix: str = ".o") -> None:
    """Write atomically; a failure to write (read-only home, full disk) is not an error."""
    if not disk_enabled():
        return
    path = _path(key, suffix)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        header = _HEADER.pack(MAGIC, _key_bytes(key), len(payload), _digest(key, payload))
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(header + payload)
        os.replace(tmp, path)
    except OSError:
        pass
