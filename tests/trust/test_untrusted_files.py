"""Untrusted files: parameter archives, symbol files and IR text that are truncated, corrupt or
malicious give one clean error naming the file; nothing is half-loaded or executed."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from tracegrad import gluon, nd
from tracegrad.base import MXNetError
from tracegrad.untrusted import FileFormatError

RAW_ERRORS = ("BadZipFile", "EOFError", "JSONDecodeError", "UnicodeDecodeError",
              "RecursionError", "4300", "unsafe", "allow_pickle", "Traceback")


def clean(excinfo, path):
    msg = str(excinfo.value)
    assert str(path) in msg, msg
    assert not any(bad in msg for bad in RAW_ERRORS), msg
    assert isinstance(excinfo.value, MXNetError)
    return msg


def npy_bytes(header: str, payload=b"", version=1):
    """A hand-made .npy member (so headers can lie)."""
    magic = b"\x93NUMPY" + bytes([version, 0])
    h = header.encode("latin1")
    pad = 64 - (len(magic) + 2 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return magic + len(h).to_bytes(2, "little") + h + payload


def npz(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def make_net():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(4, in_units=3), gluon.nn.Dense(2, in_units=4))
    net.initialize()
    return net


@pytest.fixture
def saved(tmp_path):
    net = make_net()
    path = tmp_path / "net.params"
    net.save_parameters(str(path))
    return net, path


BAD_NPZ = {
    "empty": b"",
    "random bytes": bytes(range(256)) * 4,
    "text": b"hello, I am not a zip file\n",
}


@pytest.mark.parametrize("name", sorted(BAD_NPZ))
def test_not_an_archive(tmp_path, name):
    path = tmp_path / "bad.params"
    path.write_bytes(BAD_NPZ[name])
    with pytest.raises(FileFormatError) as e:
        make_net().load_parameters(str(path))
    assert "not an .npz archive" in clean(e, path)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9, 0.99])
def test_truncated_archive(saved, tmp_path, cut):
    _, path = saved
    blob = path.read_bytes()
    bad = tmp_path / "cut.params"
    bad.write_bytes(blob[:int(len(blob) * cut)])
    with pytest.raises(FileFormatError) as e:
        make_net().load_parameters(str(bad))
    clean(e, bad)


def test_flipped_bytes_never_crash(saved, tmp_path):
    _, path = saved
    blob = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for i in range(40):
        bad = bytearray(blob)
        for j in rng.integers(0, len(bad), 3):
            bad[j] ^= int(rng.integers(1, 256))
        p = tmp_path / f"flip{i}.params"
        p.write_bytes(bytes(bad))
        net = make_net()
        try:
            net.load_parameters(str(p))
        except (FileFormatError, MXNetError) as e:
            assert str(p) in str(e) or "load from" in str(e)
            assert not any(bad in str(e) for bad in RAW_ERRORS), str(e)


HEADERS = {
    "object dtype": ("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "only plain"),
    "string dtype": ("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", "only plain"),
    "structured": ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                   "only plain"),
    "huge shape": ("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
                   "declares shape"),
    "negative dim": ("{'descr': '<f4', 'fortran_order': False, 'shape': (-5,), }", "header"),
    "long integer": ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",), }",
                    "header"),
    "deep nesting": ("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 3000 + ")" * 3000
                     + ", }", "header"),
    "code": ("__import__('os').system('echo pwned')", "header"),
    "not a dict": ("[1, 2, 3]", "header"),
}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_malicious_npy_headers(tmp_path, name):
    header, expect = HEADERS[name]
    path = npz(tmp_path / "evil.params", {"0.weight.npy": npy_bytes(header, b"\0" * 64)})
    with pytest.raises(FileFormatError) as e:
        make_net().load_parameters(str(path))
    msg = clean(e, path)
    assert expect in msg, msg


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    path = npz(tmp_path / "pickle.params", {"0.weight.npy": buf.getvalue()})
    with pytest.raises(FileFormatError) as e:
        nd.load(str(path))
    assert "never objects" in clean(e, path)


def test_declared_shape_larger_than_data_is_truncated(tmp_path):
    path = npz(tmp_path / "short.params", {"w.npy": npy_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", b"\0" * 40)})
    with pytest.raises(FileFormatError) as e:
        nd.load(str(path))
    assert "declares shape (1000,)" in clean(e, path)


def test_member_that_is_not_npy(tmp_path):
    path = npz(tmp_path / "odd.params", {"w.pkl": b"\x80\x04N."})
    with pytest.raises(FileFormatError) as e:
        nd.load(str(path))
    assert "unexpected member" in clean(e, path)


def test_fortran_order_and_byte_swapped_load_correctly(tmp_path):
    a = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    path = tmp_path / "ok.npz"
    with open(path, "wb") as f:
        np.savez(f, x=a)
    got = nd.load(str(path))["x"]
    np.testing.assert_array_equal(got.asnumpy(), np.arange(6).reshape(2, 3))


def test_load_parameters_is_all_or_nothing(saved, tmp_path):
    net, path = saved
    arrays = dict(np.load(path))
    names = sorted(arrays)
    arrays[names[2]] = np.zeros((7, 7), np.float32)  # the third parameter is wrong
    bad = tmp_path / "third.params"
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    other = make_net()
    before = {k: p.data().asnumpy().copy() for k, p in other.collect_params().items()}
    with pytest.raises(MXNetError, match="shape"):
        other.load_parameters(str(bad))
    after = {k: p.data().asnumpy() for k, p in other.collect_params().items()}
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_load_parameters_all_or_nothing_on_a_bad_dtype(saved, tmp_path):
    net, path = saved
    arrays = dict(np.load(path))
    names = sorted(arrays)
    arrays[names[-1]] = np.array(["ab", "cd"])  # the last one holds strings
    bad = tmp_path / "strings.params"
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    other = make_net()
    before = other.collect_params()[list(other.collect_params().keys())[0]].data().asnumpy()
    with pytest.raises(FileFormatError):
        other.load_parameters(str(bad))
    after = other.collect_params()[list(other.collect_params().keys())[0]].data().asnumpy()
    np.testing.assert_array_equal(before, after)


# ------------------------------------------------------------------ symbol files


@pytest.fixture
def exported(tmp_path):
    net = make_net()
    net.hybridize()
    x = nd.array(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32))
    want = net(x).asnumpy()
    from tracegrad.gluon.symbol_block import export   # tracegrad's IR format (MXNet JSON:
    sym, params = export(net, str(tmp_path / "m"), fmt="tracegrad")  # test_symbol_json_hostile)
    return sym, params, x, want


def _rewrite(sym, fn):
    meta = json.loads(open(sym).read())
    fn(meta)
    with open(sym, "w") as f:
        json.dump(meta, f)


def test_export_import_roundtrip(exported):
    sym, params, x, want = exported
    block = gluon.SymbolBlock.imports(sym, ["data"], params)
    np.testing.assert_allclose(block(x).asnumpy(), want, rtol=1e-6)
    block.hybridize()
    np.testing.assert_allclose(block(x).asnumpy(), want, rtol=1e-6)


def test_ill_typed_matmul_attribute_is_refused_before_codegen(exported):
    sym, params, x, want = exported
    for bad in ("1", '"false"', "[true]", "0.0"):
        _rewrite(sym, lambda m: m.update(ir=m["ir"].replace(
            "transpose_b = true", f"transpose_b = {bad}")))
        with pytest.raises(FileFormatError) as e:
            gluon.SymbolBlock.imports(sym, ["data"], params)
        msg = clean(e, sym)
        assert "matmul: attribute transpose_b" in msg and "true or false" in msg
        _rewrite(sym, lambda m: m.update(ir=m["ir"].replace(
            f"transpose_b = {bad}", "transpose_b = true")))
    gluon.SymbolBlock.imports(sym, ["data"], params)  # restored: loads


SYMBOL_CASES = {
    "not json": (b"{this is not json", "invalid JSON"),
    "not utf8": (b'{"format": "\xff\xfe"}', "not UTF-8"),
    "deep nesting": (b"[" * 100000 + b"]" * 100000, "nested"),
    "huge integer": (b'{"version": ' + b"9" * 5000 + b"}", "digits"),
    "wrong format": (b'{"format": "mxnet"}', "not a tracegrad symbol file"),
    "a list": (b"[1, 2]", "not a tracegrad symbol file"),
    "NaN literal": (b'{"format": NaN}', "invalid JSON"),
}


@pytest.mark.parametrize("name", sorted(SYMBOL_CASES))
def test_malformed_symbol_files(tmp_path, name):
    data, expect = SYMBOL_CASES[name]
    path = tmp_path / "m-symbol.json"
    path.write_bytes(data)
    with pytest.raises(FileFormatError) as e:
        gluon.SymbolBlock.imports(str(path), ["data"])
    msg = clean(e, path)
    assert expect in msg, msg


IR_EDITS = {
    "unknown op": (lambda t: t.replace("matmul", "launch_missiles", 1), "unknown op"),
    "python op": (lambda t: t.replace("matmul %", "compiled_call %", 1), "compiled_call"),
    "huge shape": (lambda t: t.replace("f32[5,3]", "f32[99999999999999,3]", 1), "too large"),
    "nested attr": (lambda t: t.replace("transpose_b = true", "transpose_b = " + "[" * 50
                                        + "]" * 50), "nested"),
    "long number": (lambda t: t.replace("transpose_b = true", "transpose_b = " + "7" * 5000),
                    "number literal"),
    "bad type": (lambda t: t.replace("f32[5,4]", "i16[5,4]", 1), "expected a type"),
    "truncated": (lambda t: t[:len(t) // 2], "invalid IR"),
    "wrong result type": (lambda t: t.replace(": f32[5,4]", ": f32[5,5]", 1), "declared"),
}


@pytest.mark.parametrize("name", sorted(IR_EDITS))
def test_malicious_ir_in_symbol_file(exported, name):
    sym, params, _, _ = exported
    edit, expect = IR_EDITS[name]
    _rewrite(sym, lambda m: m.update(ir=edit(m["ir"])))
    with pytest.raises(FileFormatError) as e:
        gluon.SymbolBlock.imports(sym, ["data"], params)
    msg = clean(e, sym)
    assert expect in msg, msg


def test_symbol_file_fields_are_checked(exported):
    sym, params, _, _ = exported
    _rewrite(sym, lambda m: m.update(params=[["x", "evil"]]))
    with pytest.raises(FileFormatError, match="'params' must be"):
        gluon.SymbolBlock.imports(sym, ["data"], params)
    _rewrite(sym, lambda m: m.update(params=[]))
    with pytest.raises(FileFormatError, match="the IR takes"):
        gluon.SymbolBlock.imports(sym, ["data"], params)


def test_missing_file_is_a_plain_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nd.load(str(tmp_path / "nope.params"))


# ------------------------------------------------------------------ disk cache


def test_swapped_disk_cache_files_are_rejected_and_recompiled(tmp_path, monkeypatch):
    from tracegrad.codegen import COUNTERS, cache, compile_function
    from tracegrad.ir import Builder, TensorType
    from tracegrad.runtime.native import NativeFunction
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRACEGRAD_CACHE", "1")

    def fn(op):
        b = Builder(name="swap")
        x = b.param(TensorType("f32", (4,)), "x")
        return b.ret(getattr(b, op)(b.mul(x, 1.5)))
    x = np.array([-2.0, -0.5, 0.5, 2.0], np.float32)
    keys = {}
    for op in ("tanh", "relu"):
        keys[op] = compile_function(fn(op)).key
    paths = {op: cache._path(k) for op, k in keys.items()}
    blobs = {op: open(p, "rb").read() for op, p in paths.items()}
    with open(paths["tanh"], "wb") as f:
        f.write(blobs["relu"])
    with open(paths["relu"], "wb") as f:
        f.write(blobs["tanh"])
    for k in keys.values():
        cache.MEMORY.pop(k, None)
    rejects = COUNTERS["disk_cache_rejects"]
    tanh = NativeFunction(fn("tanh"))(x)[0]
    relu = NativeFunction(fn("relu"))(x)[0]
    assert COUNTERS["disk_cache_rejects"] == rejects + 2
    np.testing.assert_allclose(tanh, np.tanh(1.5 * x), rtol=1e-6)
    np.testing.assert_allclose(relu, np.maximum(1.5 * x, 0))
    assert os.path.getsize(paths["tanh"]) > 0


def test_only_the_untrusted_reader_opens_data_files():
    """Every file tracegrad reads goes through tracegrad/untrusted.py (or the IR parser):
    no other module calls np.load, json.load(s) or pickle."""
    import pathlib
    import re
    import tracegrad
    root = pathlib.Path(tracegrad.__file__).parent
    pattern = re.compile(r"\bnp\.load\(|\bjson\.loads?\(|^\s*import pickle|\bpickle\.loads?\(",
                         re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "untrusted.py" and pattern.search(p.read_text())]
    assert not offenders, offenders


def test_the_disk_cache_key_covers_every_source_that_decides_machine_code():
    """The ops' scalar rules are read while lowering and never show in the printed IR: a
    cache written before an edit of one (another tracegrad version) must not be served."""
    import tracegrad
    from tracegrad.codegen import cache
    root = os.path.dirname(tracegrad.__file__)
    hashed = {os.path.relpath(p, root) for p in cache.hashed_sources()}
    for name in ("codegen/mathfuns.py", "codegen/fused.py", "ir/ops/unary.py",
                 "ir/ops/trig.py", "ir/ops/__init__.py", "ir/passes/fuse.py", "ir/types.py"):
        assert name in hashed
    ops = os.path.join(root, "ir", "ops")
    assert {f"ir/ops/{n}" for n in os.listdir(ops) if n.endswith(".py")} <= hashed
