"""csr / row_sparse arrays in MXNet's binary NDArray format (src/ndarray/ndarray.cc
NDArray::Save / Load, V2 magic): nd.save / nd.load and gluon save_parameters /
load_parameters write and read them as MXNet does, byte for byte, and a malformed sparse
record raises a clean MXNetError naming the file, changing nothing."""
import struct

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, mxnet_format, nd
from tracegrad.base import MXNetError
from tracegrad.gluon import nn

V2 = 0xF993FAC9
F32, F64, I32, I64 = 0, 1, 4, 6


# ------------------------------------------------------------------ MXNet's layout, by hand
def shape(dims):
    """TShape::Save: i32 ndim, then i64 dims."""
    return struct.pack("<i", len(dims)) + b"".join(struct.pack("<q", d) for d in dims)


def dense_record(a, code):
    return (struct.pack("<Ii", V2, 0) + shape(a.shape) + struct.pack("<iii", 1, 0, code) +
            a.tobytes())


def sparse_record(stype, full_shape, values, aux, code=F32, aux_codes=None, sshape=None):
    """NDArray::Save of a sparse array: magic, stype, storage shape, shape, context
    (dev_type 1 = cpu, dev_id 0), dtype code, per aux array (code, shape), the stored
    values, the aux arrays' bytes."""
    aux_codes = aux_codes or [I64] * len(aux)
    out = struct.pack("<Ii", V2, {"row_sparse": 1, "csr": 2}[stype])
    out += shape(values.shape if sshape is None else sshape) + shape(full_shape)
    out += struct.pack("<iii", 1, 0, code)
    for c, a in zip(aux_codes, aux):
        out += struct.pack("<i", c) + shape(a.shape)
    return out + values.tobytes() + b"".join(a.tobytes() for a in aux)


def file_bytes(records, names=()):
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    out += struct.pack("<Q", len(names))
    for n in names:
        out += struct.pack("<Q", len(n)) + n
    return out


# csr (3, 4): row 0 -> (0: 1.5), (2: -2); row 1 empty; row 2 -> (1: 0 explicit), (3: 4)
CSR_VALUES = np.float32([1.5, -2.0, 0.0, 4.0])
CSR_INDICES = np.int64([0, 2, 1, 3])
CSR_INDPTR = np.int64([0, 2, 2, 4])
CSR_DENSE = np.float32([[1.5, 0, -2, 0], [0, 0, 0, 0], [0, 0, 0, 4]])
# row_sparse (5, 2): rows 1 and 4 stored (row 4 all zeros, still listed)
RSP_VALUES = np.float32([[1.0, -1.0], [0.0, 0.0]])
RSP_INDICES = np.int64([1, 4])
RSP_DENSE = np.zeros((5, 2), np.float32)
RSP_DENSE[1] = [1.0, -1.0]


def csr_array():
    return nd.sparse.csr_matrix((CSR_VALUES, CSR_INDICES, CSR_INDPTR), shape=(3, 4))


def rsp_array():
    return nd.sparse.row_sparse_array((RSP_VALUES, RSP_INDICES), shape=(5, 2))


def csr_bytes():
    return sparse_record("csr", (3, 4), CSR_VALUES, [CSR_INDPTR, CSR_INDICES])


def rsp_bytes():
    return sparse_record("row_sparse", (5, 2), RSP_VALUES, [RSP_INDICES])


def test_nd_save_writes_mxnet_layout_byte_for_byte(tmp_path):
    dense = np.arange(3, dtype=np.float32)
    nd.save(str(tmp_path / "s.nd"), {"c": csr_array(), "r": rsp_array(), "d": nd.array(dense)})
    want = file_bytes([csr_bytes(), rsp_bytes(), dense_record(dense, F32)], [b"c", b"r", b"d"])
    assert (tmp_path / "s.nd").read_bytes() == want
    nd.save(str(tmp_path / "l.nd"), [rsp_array()])
    assert (tmp_path / "l.nd").read_bytes() == file_bytes([rsp_bytes()])


def check_csr(a):
    assert a.stype == "csr" and a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a.asnumpy(), CSR_DENSE)
    assert a.indptr.asnumpy().tolist() == CSR_INDPTR.tolist()
    assert a.indices.asnumpy().tolist() == CSR_INDICES.tolist()     # the explicit 0 too
    np.testing.assert_array_equal(a.data.asnumpy(), CSR_VALUES)


def check_rsp(a):
    assert a.stype == "row_sparse" and a.shape == (5, 2)
    np.testing.assert_array_equal(a.asnumpy(), RSP_DENSE)
    assert a.indices.asnumpy().tolist() == [1, 4]
    np.testing.assert_array_equal(a.data.asnumpy(), RSP_VALUES)


def test_nd_load_reads_hand_built_mxnet_records(tmp_path):
    path = tmp_path / "m.nd"
    path.write_bytes(file_bytes([csr_bytes(), rsp_bytes()], [b"x", b"y"]))
    got = nd.load(str(path))
    check_csr(got["x"])
    check_rsp(got["y"])


def test_int32_index_arrays_and_float64_values_load(tmp_path):
    path = tmp_path / "i.nd"
    path.write_bytes(file_bytes([sparse_record(
        "csr", (3, 4), CSR_VALUES.astype(np.float64),
        [CSR_INDPTR.astype(np.int32), CSR_INDICES.astype(np.int32)], code=F64,
        aux_codes=[I32, I32])]))
    (a,) = nd.load(str(path))
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a.asnumpy(), CSR_DENSE)


def test_round_trip_keeps_pattern_and_empty_arrays(tmp_path):
    empty_csr = nd.sparse.zeros("csr", (2, 3))
    empty_rsp = nd.sparse.zeros("row_sparse", (4, 3))
    nd.save(str(tmp_path / "r.nd"), [csr_array(), rsp_array(), empty_csr, empty_rsp])
    a, b, c, d = nd.load(str(tmp_path / "r.nd"))
    check_csr(a)
    check_rsp(b)
    assert c.stype == "csr" and c.indptr.asnumpy().tolist() == [0, 0, 0]
    assert d.stype == "row_sparse" and d.indices.asnumpy().tolist() == []
    np.testing.assert_array_equal(d.asnumpy(), np.zeros((4, 3)))
    # an empty csr is MXNet's: indptr of rows + 1 zeros, no indices, no values
    assert (tmp_path / "r.nd").read_bytes().count(shape((0,))) >= 3


def test_a_dtype_mxnet_cannot_hold_keeps_the_npz(tmp_path):
    scalar = nd.array(np.float32(2.0))
    assert scalar.ndim == 0
    nd.save(str(tmp_path / "z"), {"c": csr_array(), "s": scalar})
    assert not mxnet_format.is_mxnet_file(tmp_path / "z")      # (a 0-d array: no MXNet form)
    got = nd.load(str(tmp_path / "z"))
    assert got["c"].stype == "csr"
    np.testing.assert_array_equal(got["c"].asnumpy(), CSR_DENSE)


# ------------------------------------------------------------------ gluon parameters
class SparseNet(gluon.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.emb = self.params.get("emb", shape=(5, 2), stype="row_sparse",
                                       grad_stype="row_sparse")
            self.out = nn.Dense(1, in_units=2)


def test_save_parameters_stores_a_row_sparse_parameter_with_every_row(tmp_path):
    net = SparseNet()
    net.initialize()
    gluon.Trainer(net.collect_params(), "sgd")
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    net.emb._data._data[...] = values
    net.save_parameters(str(tmp_path / "p.params"))
    raw = (tmp_path / "p.params").read_bytes()
    # MXNet's _reduce pulls all rows of a row_sparse parameter: indices 0..4
    assert sparse_record("row_sparse", (5, 2), values, [np.arange(5, dtype=np.int64)]) in raw
    loaded = nd.load(str(tmp_path / "p.params"))
    assert loaded["emb"].stype == "row_sparse" and loaded["out.weight"].stype == "default"
    other = SparseNet()
    other.initialize()
    gluon.Trainer(other.collect_params(), "sgd")
    other.load_parameters(str(tmp_path / "p.params"))
    np.testing.assert_array_equal(other.emb._reduce(), values)
    np.testing.assert_array_equal(other.out.weight.data().asnumpy(),
                                  net.out.weight.data().asnumpy())


def test_a_sparse_record_loads_into_a_dense_parameter_as_its_values(tmp_path):
    """MXNet's Parameter._load_init casts to the parameter's stype: dense values."""
    path = tmp_path / "w.params"
    w = np.zeros((4, 3), np.float32)
    w[[0, 2]] = [[1, 2, 3], [4, 5, 6]]
    path.write_bytes(file_bytes([
        sparse_record("row_sparse", (4, 3), w[[0, 2]], [np.int64([0, 2])]),
        dense_record(np.float32([0.5, 0, 0, -1]), F32)], [b"weight", b"bias"]))
    net = nn.Dense(4, in_units=3)
    net.initialize()
    net.load_parameters(str(path))
    assert net.weight.data().stype == "default"
    np.testing.assert_array_equal(net.weight.data().asnumpy(), w)
    y = net(nd.array([[1.0, 1.0, 1.0]])).asnumpy()
    np.testing.assert_allclose(y, [[6.5, 0, 15, -1]])


# ------------------------------------------------------------------ malformed sparse records
def csr_with(**kw):
    args = dict(stype="csr", full_shape=(3, 4), values=CSR_VALUES,
                aux=[CSR_INDPTR, CSR_INDICES])
    args.update(kw)
    return sparse_record(**args)


def rsp_with(**kw):
    args = dict(stype="row_sparse", full_shape=(5, 2), values=RSP_VALUES, aux=[RSP_INDICES])
    args.update(kw)
    return sparse_record(**args)


HOSTILE = {
    "indptr not from 0": csr_with(aux=[np.int64([1, 2, 2, 4]), CSR_INDICES]),
    "indptr decreasing": csr_with(aux=[np.int64([0, 3, 2, 4]), CSR_INDICES]),
    "indptr past nnz": csr_with(aux=[np.int64([0, 2, 2, 9]), CSR_INDICES]),
    "indptr of wrong length": csr_with(aux=[np.int64([0, 2, 4]), CSR_INDICES]),
    "column out of range": csr_with(aux=[CSR_INDPTR, np.int64([0, 2, 1, 4])]),
    "negative column": csr_with(aux=[CSR_INDPTR, np.int64([0, 2, -1, 3])]),
    "columns not ascending": csr_with(aux=[CSR_INDPTR, np.int64([2, 0, 1, 3])]),
    "csr of 3 dims": csr_with(full_shape=(3, 4, 1)),
    "csr values of 2 dims": csr_with(values=CSR_VALUES.reshape(2, 2)),
    "more values than indices": csr_with(values=np.float32([1, 2, 3, 4, 5])),
    "csr index dtype float": csr_with(aux_codes=[F32, I64]),
    "huge dense extent": csr_with(full_shape=(2 ** 20, 2 ** 20),
                                  aux=[np.zeros(2 ** 20 + 1, np.int64)[:0], CSR_INDICES]),
    "huge storage shape": csr_with(sshape=(2 ** 40,)),
    "row out of range": rsp_with(aux=[np.int64([1, 5])]),
    "rows repeated": rsp_with(aux=[np.int64([1, 1])]),
    "rows descending": rsp_with(aux=[np.int64([4, 1])]),
    "row width differs": rsp_with(values=np.float32([[1, 2, 3], [4, 5, 6]])),
    "fewer rows than values": rsp_with(aux=[np.int64([1])]),
    "unknown storage type": struct.pack("<Ii", V2, 3) + dense_record(CSR_VALUES, F32)[8:],
}


def _hostile_file(tmp_path, kind):
    path = tmp_path / "bad.params"
    path.write_bytes(file_bytes([HOSTILE[kind]], [b"w"]))
    return str(path)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_malformed_sparse_record_raises_clean_error(tmp_path, kind):
    path = _hostile_file(tmp_path, kind)
    with pytest.raises(MXNetError, match="bad.params"):
        nd.load(path)


@pytest.mark.parametrize("cut", [1, 8, 40, 100])
def test_truncated_sparse_file_raises(tmp_path, cut):
    raw = file_bytes([csr_bytes(), rsp_bytes()], [b"a", b"b"])
    path = tmp_path / "cut.params"
    path.write_bytes(raw[:-cut])
    with pytest.raises(MXNetError, match="cut.params"):
        nd.load(str(path))


def test_load_parameters_with_a_bad_sparse_record_changes_nothing(tmp_path):
    net = nn.Dense(2, in_units=3)
    net.initialize()
    before = net.weight.data().asnumpy().copy(), net.bias.data().asnumpy().copy()
    path = tmp_path / "half.params"
    path.write_bytes(file_bytes([
        dense_record(np.ones((2, 3), np.float32), F32),
        sparse_record("row_sparse", (2,), np.float32([1.0]), [np.int64([7])])],
        [b"weight", b"bias"]))
    with pytest.raises(MXNetError, match="half.params"):
        net.load_parameters(str(path))
    np.testing.assert_array_equal(net.weight.data().asnumpy(), before[0])
    np.testing.assert_array_equal(net.bias.data().asnumpy(), before[1])
