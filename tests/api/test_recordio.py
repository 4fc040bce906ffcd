"""mx.recordio: dmlc's RecordIO byte format (written by hand here from the writer's rules),
round trips with records that hold the magic word, the index file, IRHeader pack/unpack,
RecordFileDataset, and corrupt files refused with the offset named."""
import struct

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import recordio

MAGIC = struct.pack("<I", 0xced7230a)


def _head(cflag, length):
    return MAGIC + struct.pack("<I", (cflag << 29) | length)


def test_bytes_on_disk_follow_dmlc_recordio(tmp_path):
    path = str(tmp_path / "a.rec")
    payload = b"abcd" + MAGIC + b"xy"          # the magic word at a 4-byte boundary
    with recordio.MXRecordIO(path, "w") as w:
        w.write(b"hello")
        w.write(payload)
        w.write(b"")
    data = open(path, "rb").read()
    want = (_head(0, 5) + b"hello\0\0\0"
            + _head(1, 4) + b"abcd" + _head(3, 2) + b"xy\0\0"
            + _head(0, 0))
    assert data == want
    r = recordio.MXRecordIO(path, "r")
    assert [r.read(), r.read(), r.read(), r.read()] == [b"hello", payload, b"", None]
    r.reset()
    assert r.read() == b"hello"
    r.close()


def test_random_records_round_trip(tmp_path):
    rs = np.random.RandomState(0)
    records = []
    for n in range(40):
        chunks = [rs.bytes(int(rs.randint(0, 9))) for _ in range(3)]
        rec = b"".join(c + (MAGIC if rs.rand() < 0.4 else b"") for c in chunks)
        records.append(rec)
    path = str(tmp_path / "b.rec")
    with recordio.MXRecordIO(path, "w") as w:
        for rec in records:
            w.write(rec)
    with recordio.MXRecordIO(path, "r") as r:
        assert [r.read() for _ in records] == records
        assert r.read() is None


def test_indexed_files_and_the_dataset(tmp_path):
    rec, idx = str(tmp_path / "c.rec"), str(tmp_path / "c.idx")
    w = recordio.MXIndexedRecordIO(idx, rec, "w")
    for i in range(5):
        w.write_idx(i * 10, recordio.pack(recordio.IRHeader(0, float(i), i, 0),
                                          f"item{i}".encode()))
    w.close()
    lines = open(idx).read().splitlines()
    assert lines[0] == "0\t0" and lines[1].startswith("10\t")
    r = recordio.MXIndexedRecordIO(idx, rec, "r")
    assert r.keys == [0, 10, 20, 30, 40]
    header, body = recordio.unpack(r.read_idx(30))
    assert (header.label, header.id, body) == (3.0, 3, b"item3")
    with pytest.raises(KeyError, match="no record with key 7"):
        r.read_idx(7)
    r.close()
    ds = mx.gluon.data.RecordFileDataset(rec)
    assert len(ds) == 5 and recordio.unpack(ds[1])[1] == b"item1"


def test_pack_unpack_array_labels():
    s = recordio.pack(recordio.IRHeader(0, [1.5, 2.5, 3.5], 7, 9), b"payload")
    header, body = recordio.unpack(s)
    assert header.flag == 3 and header.id == 7 and header.id2 == 9 and body == b"payload"
    np.testing.assert_array_equal(header.label, [1.5, 2.5, 3.5])
    assert len(s) == 24 + 12 + 7
    with pytest.raises(mx.MXNetError, match="promises a label of 3 floats"):
        recordio.unpack(s[:30])


def test_corrupt_files_are_refused_naming_the_offset(tmp_path):
    good = _head(0, 3) + b"abc\0"
    cases = {
        "magic": (good + b"\x00" * 8, r"not a RecordIO record at byte 12"),
        "truncated": (good + _head(0, 100) + b"short", r"claims 100 bytes past the end"),
        "sequence": (good + _head(2, 4) + b"abcd", r"part flag 2 out of sequence at byte 12"),
        "header": (good + MAGIC, r"truncated record header at byte 12"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name}.rec"
        path.write_bytes(data)
        r = recordio.MXRecordIO(str(path), "r")
        assert r.read() == b"abc"
        with pytest.raises(mx.MXNetError, match=message):
            r.read()
        r.close()


def test_images_round_trip():
    img = (np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    s = recordio.pack_img(recordio.IRHeader(0, 1.0, 0, 0), img, img_fmt=".png")
    header, out = recordio.unpack_img(s)
    np.testing.assert_array_equal(out, img)
