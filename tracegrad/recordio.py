"""`mx.recordio`: MXNet's RecordIO files (what im2rec writes and ImageRecordIter reads).

A record is the magic word 0xced7230a, a 32-bit word holding a continuation flag (top 3 bits)
and a length (low 29 bits), then the bytes, zero-padded to a multiple of 4. A record whose
bytes contain the magic word at a 4-byte boundary is written in parts split there (flags 1
start, 2 middle, 3 end; the magic word is put back between parts when read), as dmlc's
RecordIOWriter does, so files interoperate with MXNet's both ways. An indexed file keeps
"key<TAB>offset" lines beside it (.idx).

Reading validates every header against the file: a wrong magic word, a flag out of sequence
or a length past the end raises MXNetError naming the file and the offset; nothing is read
past what the header promises. pack / unpack handle MXNet's IRHeader (flag, label, id, id2):
a label array is stored after the header when flag > 0. pack_img / unpack_img encode and
decode the image with Pillow (image_codec.py) where MXNet uses OpenCV, in OpenCV's BGR order.
"""
import numbers
import os
import struct
from collections import namedtuple

import numpy as np

from . import image_codec
from .base import MXNetError

__all__ = ["MXRecordIO", "MXIndexedRecordIO", "IRHeader", "pack", "unpack", "pack_img",
           "unpack_img"]

_MAGIC = 0xced7230a
_MAGIC_BYTES = struct.pack("<I", _MAGIC)
_LENGTH_MASK = (1 << 29) - 1
_HEADER = struct.Struct("<IfQQ")


class MXRecordIO:
    """Sequential reading ('r') or writing ('w') of a RecordIO file."""

    def __init__(self, uri, flag):
        if flag not in ("r", "w"):
            raise ValueError(f"MXRecordIO: flag must be 'r' or 'w', got {flag!r}")
        self.uri, self.flag = str(uri), flag
        self.handle = None
        self.is_open = False
        self.open()

    def open(self):
        self.handle = open(self.uri, "rb" if self.flag == "r" else "wb")
        self.is_open = True
        self.writable = self.flag == "w"

    def close(self):
        if self.is_open:
            self.handle.close()
            self.is_open = False

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def reset(self):
        """Back to the start of the file (reopened)."""
        self.close()
        self.open()

    def _check(self, writing):
        if not self.is_open:
            raise MXNetError(f"MXRecordIO {self.uri}: the file is closed")
        if writing != self.writable:
            raise MXNetError(f"MXRecordIO {self.uri}: opened with flag {self.flag!r}")

    def tell(self):
        self._check(self.writable)
        return self.handle.tell()

    def write(self, buf):
        """Append one record (bytes)."""
        self._check(True)
        data = bytes(buf)
        if len(data) >= 1 << 29:
            raise MXNetError(f"MXRecordIO {self.uri}: a record must be shorter than 2**29 "
                             f"bytes, got {len(data)}")
        out, start = [], 0
        for i in range(0, len(data) - len(data) % 4, 4):
            if data[i:i + 4] == _MAGIC_BYTES:          # split where the magic word sits
                out.append(_part(1 if start == 0 else 2, data[start:i], pad=False))
                start = i + 4
        out.append(_part(3 if start else 0, data[start:], pad=True))
        self.handle.write(b"".join(out))

    def read(self):
        """The next record's bytes, or None at the end of the file."""
        self._check(False)
        parts = []
        while True:
            offset = self.handle.tell()
            head = self.handle.read(8)
            if not head and not parts:
                return None
            if len(head) != 8:
                raise MXNetError(f"MXRecordIO {self.uri}: truncated record header at byte "
                                 f"{offset}")
            magic, lrec = struct.unpack("<II", head)
            if magic != _MAGIC:
                raise MXNetError(f"MXRecordIO {self.uri}: not a RecordIO record at byte "
                                 f"{offset} (magic {magic:#010x})")
            cflag, length = lrec >> 29, lrec & _LENGTH_MASK
            if cflag > 3 or (cflag in (0, 1)) != (not parts):
                raise MXNetError(f"MXRecordIO {self.uri}: record part flag {cflag} out of "
                                 f"sequence at byte {offset}")
            padded = (length + 3) & ~3
            body = self.handle.read(padded)
            if len(body) != padded:
                raise MXNetError(f"MXRecordIO {self.uri}: the record at byte {offset} "
                                 f"claims {length} bytes past the end of the file")
            parts.append(body[:length])
            if cflag in (0, 3):
                return _MAGIC_BYTES.join(parts)


def _part(cflag, data, pad):
    head = struct.pack("<II", _MAGIC, (cflag << 29) | len(data))
    return head + data + (b"\0" * (-len(data) % 4) if pad else b"")


class MXIndexedRecordIO(MXRecordIO):
    """A RecordIO file with an index of record offsets by key, for random access."""

    def __init__(self, idx_path, uri, flag, key_type=int):
        self.idx_path, self.key_type = str(idx_path), key_type
        self.idx, self.keys = {}, []
        super().__init__(uri, flag)

    def open(self):
        super().open()
        self.idx, self.keys = {}, []
        if self.flag == "r":
            self._size = os.path.getsize(self.uri)
            with open(self.idx_path) as f:
                for n, line in enumerate(f, 1):
                    fields = line.strip().split("\t")
                    if not line.strip():
                        continue
                    if len(fields) != 2:
                        raise MXNetError(f"MXIndexedRecordIO {self.idx_path}: line {n} is "
                                         f"not 'key<TAB>offset': {line.strip()!r}")
                    try:
                        key, pos = self.key_type(fields[0]), int(fields[1])
                    except ValueError as e:
                        raise MXNetError(f"MXIndexedRecordIO {self.idx_path}: line {n}: "
                                         f"{e}") from None
                    if pos < 0:
                        raise MXNetError(f"MXIndexedRecordIO {self.idx_path}: line {n}: "
                                         f"negative offset {pos}")
                    self.idx[key] = pos
                    self.keys.append(key)
        else:
            self._idx_file = open(self.idx_path, "w")

    def close(self):
        if self.is_open and self.flag == "w":
            self._idx_file.close()
        super().close()

    def seek(self, idx):
        """Move to the record with key `idx`."""
        self._check(False)
        if idx not in self.idx:
            raise KeyError(f"MXIndexedRecordIO {self.uri}: no record with key {idx!r}")
        pos = self.idx[idx]
        if pos > self._size:
            raise MXNetError(f"MXIndexedRecordIO {self.idx_path}: key {idx!r} points past the "
                             f"end of {self.uri}")
        self.handle.seek(pos)

    def read_idx(self, idx):
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf):
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self._idx_file.write(f"{key}\t{pos}\n")
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])


def pack(header, s):
    """An IRHeader (flag, label, id, id2) and bytes as one record's bytes; a label array is
    stored after the header (flag = its size)."""
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32)
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + s
    return _HEADER.pack(*header) + s


def unpack(s):
    """(IRHeader, payload bytes) of a packed record."""
    if len(s) < _HEADER.size:
        raise MXNetError(f"recordio.unpack: a record of {len(s)} bytes has no header "
                         f"({_HEADER.size} bytes)")
    header = IRHeader(*_HEADER.unpack(s[:_HEADER.size]))
    s = s[_HEADER.size:]
    if header.flag > 0:
        if len(s) < 4 * header.flag:
            raise MXNetError(f"recordio.unpack: the header promises a label of "
                             f"{header.flag} floats, the record holds {len(s) // 4}")
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag).copy())
        s = s[4 * header.flag:]
    return header, s


def pack_img(header, img, quality=95, img_fmt=".jpg"):
    """pack() of an image (HWC in OpenCV's BGR order, or HW greyscale, uint8) encoded as
    img_fmt '.jpg' (quality 1-100) or '.png' (quality = compression 0-9), with Pillow where
    MXNet uses OpenCV."""
    return pack(header, image_codec.encode(img, img_fmt, quality, "recordio.pack_img"))


def unpack_img(s, iscolor=-1):
    """(IRHeader, numpy image) of a pack_img record, as cv2.imdecode(buf, iscolor) gives it:
    iscolor 1 (H, W, 3) BGR, 0 (H, W) greyscale, -1 as stored (HW grey, BGR or BGRA)."""
    header, s = unpack(s)
    if iscolor not in (-1, 0, 1):
        raise MXNetError(f"recordio.unpack_img: iscolor must be -1 (as stored), 0 (greyscale) "
                         f"or 1 (colour), got {iscolor!r}")
    mode = {-1: "unchanged", 0: "gray", 1: "color"}[iscolor]
    img = image_codec.decode(s, mode, f"the image of record id {header.id}",
                             "recordio.unpack_img")
    if img.ndim == 3:
        img = np.ascontiguousarray(img[:, :, [2, 1, 0, 3][:img.shape[2]]])   # RGB(A) -> BGR(A)
    return header, img
