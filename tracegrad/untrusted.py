"""Reading files that may be hostile: parameter archives (.npz) and JSON symbol files.

Every failure is a FileFormatError naming the file and what is wrong with it, never a raw
BadZipFile / EOFError / JSONDecodeError / UnicodeDecodeError / RecursionError from a library,
and never numpy's advice to load a file "unsafely". Nothing is unpickled or evaluated: .npy
headers are read by numpy's header parser (a literal parser with a size cap), only plain
numeric dtypes are accepted, and data is read in chunks, so a declared shape larger than the
data actually present fails as a truncated file instead of allocating what it declares.
"""
import io
import json
import re
import tokenize
import zipfile
import zlib

import numpy as np

from .base import MXNetError

_CHUNK = 1 << 24
_MAX_JSON_DEPTH = 64
_MAX_INT_DIGITS = 30


class FileFormatError(MXNetError, ValueError):
    """An untrusted file that cannot be read; the message starts with the file name."""

    def __init__(self, filename, message):
        self.filename = str(filename)
        super().__init__(f"{filename}: {message}")


def read_npz(filename) -> dict:
    """{name: numpy array} from an .npz archive, read defensively (see module docstring)."""
    try:
        with open(filename, "rb") as f:
            try:
                archive = zipfile.ZipFile(f)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
                raise FileFormatError(filename, f"not an .npz archive (written by "
                                                f"save_parameters / nd.save): {e}") from None
            with archive:
                return _members(filename, archive)
    except FileNotFoundError:
        raise
    except FileFormatError:
        raise
    except MemoryError:
        raise FileFormatError(filename, "ran out of memory reading the arrays") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            ValueError, KeyError, NotImplementedError, RuntimeError) as e:
        raise FileFormatError(filename, f"corrupt archive ({str(e)[:200]})") from None


def read_npz_bytes(data, source) -> dict:
    """{name: numpy array} from an .npz archive held in memory (Updater.set_states), read as
    read_npz reads a file; errors name `source`."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _members(source, archive)
    except FileFormatError:
        raise
    except MemoryError:
        raise FileFormatError(source, "ran out of memory reading the arrays") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            ValueError, KeyError, NotImplementedError, RuntimeError) as e:
        raise FileFormatError(source, f"not an .npz archive ({str(e)[:200]})") from None


def _members(filename, archive):
    arrays = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise FileFormatError(filename, f"unexpected member {name[:80]!r} (an .npz holds "
                                            f".npy arrays only)")
        key = name[:-4]
        if key in arrays:
            raise FileFormatError(filename, f"array {key[:80]!r} appears twice")
        with archive.open(info) as member:
            arrays[key] = _read_npy(filename, key, member, info.file_size)
    return arrays


def _read_npy(filename, key, f, declared_size):
    where = f"array {key[:80]!r}"
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError, EOFError,
            tokenize.TokenError):    # (numpy tokenizes the header: 3.12+ refuses deep nesting so)
        raise FileFormatError(filename, f"{where}: bad .npy header (not the magic string and "
                                        f"a dict of descr, fortran_order and shape)") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or \
            dtype.kind not in "biuf":
        raise FileFormatError(filename, f"{where}: holds {dtype} data; only plain numbers "
                                        f"(float, int, bool) are loaded, never objects")
    if not all(type(d) is int and 0 <= d < (1 << 40) for d in shape) or len(shape) > 32:
        raise FileFormatError(filename, f"{where}: invalid shape {str(shape)[:80]}")
    count = 1
    for d in shape:
        count *= d
    nbytes = count * dtype.itemsize
    if nbytes > declared_size:
        raise FileFormatError(filename, f"{where}: declares shape {shape} ({nbytes} bytes) but "
                                        f"the archive holds {declared_size} bytes for it")
    buf = bytearray()
    while len(buf) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(buf)))
        if not chunk:
            raise FileFormatError(filename, f"{where}: truncated ({len(buf)} of {nbytes} "
                                            f"bytes)")
        buf += chunk
    data = np.frombuffer(buf, dtype=dtype, count=count) if count else np.empty(0, dtype)
    arr = data.reshape(shape, order="F" if fortran else "C")
    return np.array(arr, dtype=dtype.newbyteorder("="), order="C")


def read_json(filename):
    """A JSON document from an untrusted file: UTF-8, nesting at most 64 deep, no integer
    literal longer than 30 digits; errors give the file and line:col."""
    try:
        with open(filename, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise FileFormatError(filename, "is a directory, not a JSON file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileFormatError(filename, f"not UTF-8 text (bad byte at offset {e.start})") \
            from None
    return parse_json(text, filename)


def parse_json(text, source):
    """A JSON document from untrusted text (a file's, or a string such as mx.sym.load_json's),
    with read_json's limits; errors name `source`."""
    depth = _nesting(text)
    if depth > _MAX_JSON_DEPTH:
        raise FileFormatError(source, f"JSON nested {depth} deep (at most "
                                      f"{_MAX_JSON_DEPTH} is accepted)")
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise FileFormatError(source, f"{e.lineno}:{e.colno}: invalid JSON: {e.msg}") \
            from None
    except (ValueError, RecursionError) as e:
        raise FileFormatError(source, f"invalid JSON: {str(e)[:200]}") from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _nesting(text):
    """The deepest bracket nesting outside strings (checked before json recurses into it)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _parse_int(s):
    if len(s.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer literal of {len(s)} digits")
    return int(s)


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON")
