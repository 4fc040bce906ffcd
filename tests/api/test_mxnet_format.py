"""MXNet's binary NDArray format: files written by MXNet 1.9.1 load (nd.load, load_parameters),
and malformed or hostile files raise a clean MXNetError naming the file, never a partial
result, a huge allocation or another exception."""
import pathlib
import struct

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, mxnet_format, nd
from tracegrad.base import MXNetError
from tracegrad.gluon import nn

DATA = pathlib.Path(__file__).parent.parent / "data" / "mxnet"


def test_nd_load_dict_written_by_mxnet():
    d = nd.load(str(DATA / "dict.nd"))
    assert isinstance(d, dict) and list(d) == ["a", "b", "c"]
    np.testing.assert_array_equal(d["a"].asnumpy(), [[1, 2], [3, 4]])
    assert d["a"].dtype == np.float32
    np.testing.assert_array_equal(d["b"].asnumpy(), np.arange(5))
    assert d["b"].dtype == np.int32
    np.testing.assert_array_equal(d["c"].asnumpy(), np.ones(2))
    assert d["c"].dtype == np.float64


def test_params_files_have_mxnet_keys_and_shapes():
    lstm = nd.load(str(DATA / "lstm_lm.params"))
    assert lstm["lstm._unfused.1.i2h_weight"].shape == (64, 16)
    assert lstm["emb.weight"].shape == (50, 8)
    gru = nd.load(str(DATA / "gru_bi.params"))
    assert sorted(gru) == sorted(f"_unfused.0.{d}_cell.{g}_{t}" for d in "lr"
                                 for g in ("i2h", "h2h") for t in ("weight", "bias"))


def test_unnamed_list_roundtrip_and_dict(tmp_path):
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([True, False]),
              np.arange(3, dtype=np.int64), np.float64([[2.5]])]
    mxnet_format.write(tmp_path / "l.nd", arrays)
    got = nd.load(str(tmp_path / "l.nd"))
    assert isinstance(got, list) and len(got) == 4
    for a, g in zip(arrays, got):
        assert g.dtype == a.dtype
        np.testing.assert_array_equal(g.asnumpy(), a)
    mxnet_format.write(tmp_path / "d.nd", arrays[:2], ["x", "y"])
    assert list(nd.load(str(tmp_path / "d.nd"))) == ["x", "y"]


def test_mxnet_narrow_dtypes_load_as_themselves(tmp_path):
    f16 = np.float16([0.5, -2.0, 65504.0])
    u8 = np.uint8([0, 200, 255])
    i8 = np.int8([-128, 0, 127])
    mxnet_format.write(tmp_path / "n.nd", [f16, u8, i8], ["h", "u", "i"])
    got = nd.load(str(tmp_path / "n.nd"))
    for key, want in (("h", f16), ("u", u8), ("i", i8)):
        assert got[key].dtype == want.dtype
        np.testing.assert_array_equal(got[key].asnumpy(), want)


def test_our_saves_stay_npz(tmp_path):
    nd.save(str(tmp_path / "ours"), {"a": nd.ones((2,))})
    assert (tmp_path / "ours").read_bytes()[:2] == b"PK"
    assert not mxnet_format.is_mxnet_file(tmp_path / "ours")
    assert nd.load(str(tmp_path / "ours"))["a"].shape == (2,)


# ------------------------------------------------------------------ hostile files
def _header(n):
    return struct.pack("<QQQ", 0x112, 0, n)


def _array(shape, code=0, data=None, magic=0xF993FAC9, stype=0, ndim=None):
    ndim = len(shape) if ndim is None else ndim
    head = struct.pack("<IiI", magic, stype, ndim & 0xFFFFFFFF)
    head += b"".join(struct.pack("<q", d) for d in shape) + struct.pack("<iii", 1, 0, code)
    return head + (data if data is not None else bytes(4 * int(np.prod(shape))))


def _names(*names):
    out = struct.pack("<Q", len(names))
    for n in names:
        out += struct.pack("<Q", len(n)) + n
    return out


def _write(tmp_path, raw):
    path = tmp_path / "bad.params"
    path.write_bytes(raw)
    return str(path)


HOSTILE = {
    "wrong magic": struct.pack("<QQQ", 0x113, 0, 0) + _names(),
    "empty": b"",
    "header only": struct.pack("<Q", 0x112),
    "huge array count": _header(2 ** 60),
    "huge shape": _header(1) + _array((2 ** 40, 2 ** 20), data=b"") + _names(b"w"),
    "huge empty shape": _header(1) + _array((0, 2 ** 62, 2 ** 62), data=b"") + _names(b"w"),
    "negative dim": _header(1) + _array((-4, 2), data=b"") + _names(b"w"),
    "negative rank": _header(1) + _array((3,), ndim=-7) + _names(b"w"),
    "rank 1000": _header(1) + _array((3,), ndim=1000) + _names(b"w"),
    "bad dtype code": _header(1) + _array((2,), code=99) + _names(b"w"),
    "negative dtype code": _header(1) + _array((2,), code=-1) + _names(b"w"),
    "sparse storage": _header(1) + _array((2,), stype=1) + _names(b"w"),
    "names count mismatch": _header(1) + _array((2,)) + _names(b"w", b"v"),
    "huge name length": _header(1) + _array((2,)) + struct.pack("<QQ", 1, 2 ** 62) + b"w",
    "name not utf-8": _header(1) + _array((2,)) + _names(b"\xff\xfe"),
    "duplicate names": _header(2) + _array((2,)) + _array((2,)) + _names(b"w", b"w"),
    "trailing bytes": _header(1) + _array((2,)) + _names(b"w") + b"junk",
    "data cut short": _header(1) + _array((4,), data=bytes(8)),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_file_raises_clean_error(tmp_path, kind):
    path = _write(tmp_path, HOSTILE[kind])
    with pytest.raises(MXNetError, match="bad.params"):
        mxnet_format.read(path)


def test_every_truncation_of_a_real_file_raises(tmp_path):
    raw = (DATA / "dict.nd").read_bytes()
    for n in range(len(raw)):
        path = _write(tmp_path, raw[:n])
        with pytest.raises(MXNetError, match="bad.params"):
            mxnet_format.read(path)


def test_random_corruption_loads_or_raises_cleanly(tmp_path):
    raw = bytearray((DATA / "gru_bi.params").read_bytes())
    rng = np.random.default_rng(0)
    for _ in range(300):
        bad = bytearray(raw)
        for i in rng.integers(0, len(bad), size=3):
            bad[i] = int(rng.integers(0, 256))
        path = _write(tmp_path, bytes(bad))
        try:
            arrays, names = mxnet_format.read(path)
        except MXNetError:
            continue
        assert len(arrays) == len(names) == 8


def test_load_parameters_from_a_bad_file_changes_nothing(tmp_path):
    net = nn.Dense(2, in_units=3)
    net.initialize()
    before = net.weight.data().asnumpy().copy()
    path = _write(tmp_path, _header(2) + _array((2, 3), data=bytes(24)) +
                  _array((5,), data=bytes(20)) + _names(b"weight", b"bias"))
    with pytest.raises(MXNetError, match="bias"):
        net.load_parameters(path)  # right weight, mis-shaped bias: nothing is written
    np.testing.assert_array_equal(net.weight.data().asnumpy(), before)


def test_load_parameters_mxnet_file_into_dense(tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.float32([1, -1])
    mxnet_format.write(tmp_path / "d.params", [w, b], ["weight", "bias"])
    net = nn.Dense(2)
    net.initialize()
    net.load_parameters(str(tmp_path / "d.params"))  # deferred shape comes from the file
    np.testing.assert_array_equal(net.weight.data().asnumpy(), w)
    y = net(nd.array([[1.0, 0.0, 2.0]])).asnumpy()
    np.testing.assert_allclose(y, [[1 + 4, -1 + 3 + 10]])


def test_legacy_module_checkpoint_names(tmp_path):
    """MXNet Module checkpoints prefix names with 'arg:' / 'aux:'."""
    net = nn.Dense(2, in_units=3, prefix="fc_")
    net.initialize()
    mxnet_format.write(tmp_path / "m.params", [np.ones((2, 3), np.float32),
                                              np.zeros(2, np.float32)],
                       ["arg:fc_weight", "arg:fc_bias"])
    net.collect_params().load(str(tmp_path / "m.params"))
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.ones((2, 3)))


def test_unnamed_list_is_refused_by_load_parameters(tmp_path):
    mxnet_format.write(tmp_path / "l.nd", [np.zeros(2, np.float32)])
    net = gluon.nn.Dense(2, in_units=1)
    with pytest.raises(MXNetError, match="unnamed"):
        net.load_parameters(str(tmp_path / "l.nd"))


def test_mx_namespace_reads_mxnet_files():
    assert mx.nd.load is nd.load
