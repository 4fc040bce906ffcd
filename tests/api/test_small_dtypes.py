"""MXNet 1.9.1's narrow NDArray dtypes (float16, uint8, int8): creation, arithmetic result
dtypes, conversion, saving and loading, against numpy; and the compiled paths, which run the
ops on these dtypes through numpy (codegen has no lowering for them) and so equal eager."""
import struct

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError

NARROW = ["float16", "uint8", "int8"]


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize("dtype", NARROW)
def test_every_creator_gives_the_dtype_asked_for(dtype):
    want = np.dtype(dtype)
    made = {
        "array": nd.array([1, 2, 3], dtype=dtype),
        "zeros": nd.zeros((2, 3), dtype=dtype),
        "ones": nd.ones((2, 3), dtype=dtype),
        "full": nd.full((2,), 7, dtype=dtype),
        "empty": nd.empty((4,), dtype=dtype),
        "arange": nd.arange(0, 5, dtype=dtype),
        "eye": nd.eye(3, dtype=dtype),
        "astype": nd.array([1.0, 2.0]).astype(dtype),
        "cast": nd.cast(nd.array([1.0, 2.0]), dtype=dtype),
        "Cast": nd.Cast(nd.array([1.0, 2.0]), dtype=dtype),
        "from NDArray": nd.array(nd.ones((2,), dtype=dtype)),
        "numpy source with dtype": nd.array(np.arange(3), dtype=dtype),
    }
    for name, a in made.items():
        assert a.dtype == want.type, name
        assert a.asnumpy().dtype == want, name
    ref = {"array": [1, 2, 3], "zeros": np.zeros((2, 3)), "ones": np.ones((2, 3)),
           "full": [7, 7], "arange": np.arange(5), "eye": np.eye(3), "astype": [1, 2]}
    for name, values in ref.items():
        np.testing.assert_array_equal(made[name].asnumpy(), np.asarray(values, dtype=want))
    like = made["ones"]
    for a in (nd.zeros_like(like), nd.ones_like(like), like.copy(), like.reshape((3, 2))):
        assert a.dtype == want.type
    assert isinstance(made["array"][1].asscalar(), want.type)
    assert made["array"][1].asscalar() == 2


def test_nd_array_of_a_numpy_array_is_float32_unless_dtype_says_otherwise():
    """MXNet 1.x nd.array: an NDArray source keeps its dtype, anything else (numpy arrays
    included) is float32 unless dtype= is given; mx.np.array keeps a numpy array's dtype."""
    src = np.array([1, 2, 250], np.uint8)
    assert nd.array(src).dtype == np.float32
    assert nd.array(src, dtype=src.dtype).dtype == np.uint8
    assert nd.array(np.float16([0.5])).dtype == np.float32
    assert mx.np.array(src).dtype == np.uint8
    assert mx.np.array(np.float16([0.5])).dtype == np.float16
    assert nd.from_numpy(src).dtype == np.uint8


def test_float16_is_kept_by_every_creator_and_rounds_as_float16():
    x = [0.1, 1 / 3, 70000.0, 1e-8]
    with np.errstate(over="ignore"):
        want = np.array(x, np.float16)
    for a in (nd.array(x, dtype="float16"), nd.array(x).astype("float16"),
              nd.array(x, dtype="float64").astype(np.float16)):
        assert a.dtype == np.float16
        np.testing.assert_array_equal(a.asnumpy(), want)   # 70000 -> inf, 1e-8 -> 0


def test_dtypes_tracegrad_cannot_hold_are_refused_by_name():
    for make in (lambda: nd.zeros((2,), dtype="int16"), lambda: nd.ones((2,), dtype="uint16"),
                 lambda: nd.array([1, 2], dtype="int16"),
                 lambda: nd.ones((2,)).astype("uint32")):
        with pytest.raises(TypeError, match="int16|uint16|uint32"):
            make()


def test_casts_to_narrow_ints_truncate_floats_to_int32_and_wrap_ints_as_numpy():
    # MXNet's static_cast through int32 keeps the low bits: its cast doc gives
    # [300, 11.1, 10.9, -1, -3] -> uint8 [44, 11, 10, 255, 253]
    f = nd.array([-3.7, 0.5, 200.9, 300.0, np.nan])
    np.testing.assert_array_equal(f.astype("uint8").asnumpy(), [253, 0, 200, 44, 0])
    np.testing.assert_array_equal(f.astype("int8").asnumpy(), [-3, 0, -56, 44, 0])
    i = nd.array([-1, 255, 256], dtype="int32")
    np.testing.assert_array_equal(i.astype("uint8").asnumpy(),
                                  np.array([-1, 255, 256]).astype(np.uint8))


# ------------------------------------------------------------------ arithmetic dtypes
@pytest.mark.parametrize("dtype", NARROW)
def test_ops_of_one_dtype_keep_it_and_match_numpy(dtype):
    rs = np.random.RandomState(0)
    if dtype == "float16":
        a, b = rs.uniform(-4, 4, (3, 4)), rs.uniform(0.5, 4, (3, 4))
    elif dtype == "uint8":
        a, b = rs.randint(0, 16, (3, 4)), rs.randint(1, 16, (3, 4))
    else:
        a, b = rs.randint(-11, 11, (3, 4)), rs.randint(1, 11, (3, 4))
    a, b = a.astype(dtype), b.astype(dtype)
    x, y = nd.array(a, dtype=dtype), nd.array(b, dtype=dtype)
    cases = {"add": (x + y, a + b), "sub": (x - y, a - b), "mul": (x * y, a * b),
             "scalar add": (x + 2, a + 2), "scalar mul": (3 * x, 3 * a),
             "max": (nd.maximum(x, y), np.maximum(a, b)),
             "sum": (nd.sum(x, axis=1), a.sum(axis=1, dtype=a.dtype)),
             "transpose": (x.T, a.T), "take": (nd.take(x, nd.array([2, 0])), a[[2, 0]]),
             "concat": (nd.concat(x, y, dim=0), np.concatenate([a, b])),
             "compare": (x > y, (a > b).astype(dtype))}
    if dtype == "float16":
        cases.update({"div": (x / y, a / b), "scalar div": (x / 3.0, a / 3.0),
                      "exp": (nd.exp(x), np.exp(a)), "relu": (nd.relu(x), np.maximum(a, 0)),
                      "dot": (nd.dot(x, y.T), a @ b.T), "sqrt": (nd.sqrt(y), np.sqrt(b))})
    else:   # MXNet 1.x integer division of arrays (documented: numpy's floor division)
        cases["div"] = (x / y, a // b)
    for name, (got, want) in cases.items():
        assert got.dtype == np.dtype(dtype).type, (name, got.dtype)
        if name == "dot":   # summation order may differ in the last float16 bit
            np.testing.assert_allclose(got.asnumpy(), want, rtol=2e-3, atol=2e-2)
        else:
            np.testing.assert_array_equal(got.asnumpy(), want, err_msg=name)


def test_a_python_scalar_keeps_the_array_dtype():
    h = nd.array([1.0, 2.0], dtype="float16")
    u = nd.array([1, 250], dtype="uint8")
    assert (h + 0.1).dtype == np.float16 and (h * 1e5).dtype == np.float16
    np.testing.assert_array_equal((h + 0.1).asnumpy(), np.float16([1.0, 2.0]) + 0.1)
    assert np.isinf((h * 1e5).asnumpy()).all()           # past 65504, as float16 does
    assert (u + 10).dtype == np.uint8
    np.testing.assert_array_equal((u + 10).asnumpy(), np.uint8([11, 4]))   # wraps, as uint8
    assert (nd.array([-5, 5], dtype="int8") * 2).dtype == np.int8


def test_mixed_dtype_operands_promote_as_numpy_or_raise_naming_both():
    """MXNet's legacy operators require one dtype; tracegrad promotes mixed operands as numpy
    does (docs/mxnet_compat.md), and refuses a pair whose numpy result it cannot hold."""
    h, f = nd.array([1.5], dtype="float16"), nd.array([2.0])
    u, i8, i32 = (nd.array([200], dtype="uint8"), nd.array([-3], dtype="int8"),
                  nd.array([7], dtype="int32"))
    assert (h + f).dtype == np.float32 and (h + f).asscalar() == 3.5
    assert (u + i32).dtype == np.int32 and (u + i32).asscalar() == 207
    assert (i8 * i32).dtype == np.int32
    with pytest.raises(MXNetError, match="uint8 and int8.*int16"):
        u + i8
    with pytest.raises(MXNetError, match="uint8 and int8.*int16"):
        mx.jit(lambda a, b: a + b)(u, i8)


def test_bool_results_numpy_would_narrow_are_refused_eager_and_compiled_alike():
    from tracegrad.array import F
    b = nd.array([True, False], dtype=bool)
    for op in (lambda v: F.exp(v), lambda v: F.mod(v, v), lambda v: F.pow(v, v)):
        with pytest.raises(MXNetError):
            op(b)                 # numpy: float16 / int8; the type rule refuses bools
        with pytest.raises(MXNetError):
            mx.jit(op)(b)


def test_amp_cast_gives_real_float16_arrays():
    x = nd.array([0.1, 70000.0, -2.5])
    h = nd.amp_cast(x, "float16")
    assert h.dtype == np.float16
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(h.asnumpy(), x.asnumpy().astype(np.float16))
    back = nd.amp_cast(h, "float32")
    assert back.dtype == np.float32
    assert nd.amp_cast(nd.array([1, 2], dtype="uint8"), "float16").dtype == np.uint8
    outs = nd.amp_multicast(h, x, nd.array([1], dtype="int8"), num_outputs=3)
    assert [o.dtype for o in outs] == [np.float32, np.float32, np.int8]
    narrow = nd.amp_multicast(h, x, num_outputs=2, cast_narrow=True)
    assert [o.dtype for o in narrow] == [np.float16, np.float16]


# ------------------------------------------------------------------ save and load
def test_nd_save_load_round_trip_keeps_narrow_dtypes(tmp_path):
    arrays = {"h": nd.array([0.5, -2.0, 65504.0], dtype="float16"),
              "u": nd.array([0, 200, 255], dtype="uint8"),
              "i": nd.array([-128, 0, 127], dtype="int8")}
    nd.save(str(tmp_path / "a.params"), arrays)
    got = nd.load(str(tmp_path / "a.params"))
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype
        np.testing.assert_array_equal(got[k].asnumpy(), a.asnumpy())


def _mxnet_file(entries):
    """MXNet's NDArray list format, byte by byte (its NDArray::Save, V2 arrays)."""
    out = struct.pack("<QQQ", 0x112, 0, len(entries))
    for code, data in entries.values():
        out += struct.pack("<Iii", 0xF993FAC9, 0, data.ndim)
        out += b"".join(struct.pack("<q", d) for d in data.shape)
        out += struct.pack("<iii", 1, 0, code) + data.astype(data.dtype.newbyteorder("<")).tobytes()
    out += struct.pack("<Q", len(entries))
    for name in entries:
        out += struct.pack("<Q", len(name)) + name.encode()
    return out


def test_mxnet_params_with_type_flags_2_3_5_load_as_float16_uint8_int8(tmp_path):
    # mshadow's TypeFlag: kFloat16 = 2, kUint8 = 3, kInt8 = 5
    entries = {"arg:w": (2, np.float16([[1.5, -0.25], [65504, 6e-8]])),
               "arg:pixels": (3, np.uint8([0, 128, 255])),
               "aux:q": (5, np.int8([-128, 1, 127]))}
    path = tmp_path / "mx.params"
    path.write_bytes(_mxnet_file(entries))
    got = nd.load(str(path))
    for name, (_, want) in entries.items():
        assert got[name].dtype == want.dtype
        np.testing.assert_array_equal(got[name].asnumpy(), want)
    # and what tracegrad writes in MXNet's format is those same bytes
    from tracegrad import mxnet_format
    mxnet_format.write(tmp_path / "ours.params", [v for _, v in entries.values()], entries)
    assert (tmp_path / "ours.params").read_bytes() == path.read_bytes()


# ------------------------------------------------------------------ compiled paths
def test_jit_of_float16_code_equals_eager_bitwise_and_says_why_it_runs_in_numpy():
    rs = np.random.RandomState(3)
    x = nd.array(rs.randn(4, 5), dtype="float16")
    w = nd.array(rs.randn(3, 5), dtype="float16")

    def f(a, b):
        return nd.sum(nd.tanh(nd.dot(a, b, transpose_b=True)) * 0.5 + 1.0, axis=1)

    compiled = mx.jit(f)
    for _ in range(3):
        got = compiled(x, w)
    want = f(x, w)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())
    report = compiled.explain()
    assert "ops run in Python" in report and "float16 has no native lowering" in report


def test_jit_of_a_uint8_image_runs_only_the_cast_in_numpy():
    img = nd.array(np.random.RandomState(1).randint(0, 256, (2, 4, 4, 3)), dtype="uint8")

    def f(x):
        return nd.transpose(nd.cast(x, "float32"), axes=(0, 3, 1, 2)) / 255.0 * 2 - 1

    compiled = mx.jit(f)
    for _ in range(2):
        got = compiled(img)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.asnumpy(), f(img).asnumpy(), rtol=1e-6, atol=1e-7)
    lines = [ln for ln in compiled.explain().splitlines() if "ops run in Python" in ln]
    assert len(lines) == 1 and lines[0].split(": ", 1)[1].startswith("cast (uint8")


def test_codegen_refuses_narrow_dtypes_with_a_reason():
    from tracegrad.codegen import compile_function
    from tracegrad.ir import Builder, TensorType
    b = Builder(name="half_add")
    p = b.param(TensorType("f16", (3,)), "x")
    fn = b.ret(b.add(p, p))
    with pytest.raises(NotImplementedError, match="float16 has no native lowering"):
        compile_function(fn)


def test_random_draws_in_float16():
    mx.random.seed(4)
    for draw in (lambda: nd.random.uniform(shape=(500,), dtype="float16"),
                 lambda: nd.random.normal(shape=(500,), dtype="float16"),
                 lambda: nd.random.exponential(shape=(500,), dtype="float16"),
                 lambda: nd.random.gamma(2.0, 1.0, shape=(500,), dtype="float16"),
                 lambda: nd.random.poisson(3.0, shape=(500,), dtype="float16")):
        a = draw()
        assert a.dtype == np.float16 and np.isfinite(a.asnumpy()).all()
    u = nd.random.uniform(shape=(500,), dtype="float16").asnumpy()
    assert 0 <= u.min() and u.max() <= 1 and 0.4 < u.mean() < 0.6
    with pytest.raises(MXNetError, match="float16, float32 or float64"):
        nd.random.gamma(2.0, 1.0, shape=(2,), dtype="int8")
