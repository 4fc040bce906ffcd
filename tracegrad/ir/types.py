"""Tensor types of the IR: a dtype name plus a static shape, with the text form `f32[4,3]`.

Owns dtype promotion and numpy broadcasting for the whole IR. Imports only numpy.
"""
import numpy as np

DTYPES = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
    "f16": np.dtype(np.float16),
    "u8": np.dtype(np.uint8),
    "i8": np.dtype(np.int8),
}
_NAME_OF = {v: k for k, v in DTYPES.items()}
FLOATS = ("f32", "f64", "f16")
MAX_ELEMENTS = 1 << 56  # byte offsets of any element stay far below int64 overflow
INTS = ("i32", "i64", "u8", "i8")
# (a gradient flows in every dtype: MXNet computes an integer or bool array's gradient in its
# own dtype, Cast's backward casting it back; int_grads.py says which ops pass one)
# MXNet's narrow dtypes: eager code and the interpreter compute them with numpy (float16
# rounded after every op, as numpy does); codegen has no lowering for them, so compiled paths
# run the ops that touch them through numpy too (codegen/entry.py check_lowerable)
NARROW = frozenset({"f16", "u8", "i8"})


def dtype_name(dtype) -> str:
    """The IR name ('f32', ...) of a numpy dtype; raises TypeError for unsupported dtypes."""
    try:
        return _NAME_OF[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"unsupported dtype {np.dtype(dtype)}; tracegrad supports "
                        f"float32, float64, float16, int32, int64, int8, uint8 and bool") from None


class TensorType:
    """dtype + static shape. Interned, so equality is cheap and hashing never recomputes."""
    __slots__ = ("dtype", "shape", "_hash", "__weakref__")
    _interned: dict = {}

    def __new__(cls, dtype: str, shape=()):
        if type(shape) is not tuple:
            shape = tuple(shape)
        t = cls._interned.get((dtype, shape))
        if t is not None:
            return t
        shape = tuple(int(d) for d in shape)
        if dtype not in DTYPES:
            raise TypeError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
        if any(d < 0 for d in shape):
            raise TypeError(f"negative dimension in shape {shape}")
        n = 1
        for d in shape:
            n *= d
        if len(shape) > 64:
            raise TypeError(f"rank {len(shape)} is too large (at most 64)")
        if n > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in shape):
            raise TypeError(f"shape {shape} is too large: a tensor holds at most "
                            f"{MAX_ELEMENTS} elements")
        t = object.__new__(cls)
        t.dtype, t.shape, t._hash = dtype, shape, hash((dtype, shape))
        cls._interned[(dtype, shape)] = t
        return t

    def __reduce__(self):
        return (TensorType, (self.dtype, self.shape))

    @property
    def np_dtype(self):
        return DTYPES[self.dtype]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOATS

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(dtype, self.shape)

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return self._hash

    def __str__(self):
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"

    __repr__ = __str__


def type_of(array) -> TensorType:
    """The TensorType of a numpy array (or numpy scalar)."""
    name = _NAME_OF.get(array.dtype)
    if name is None:
        name = dtype_name(array.dtype)
    t = TensorType._interned.get((name, array.shape))
    return t if t is not None else TensorType(name, array.shape)


def parse_type(text: str) -> TensorType:
    """Inverse of str(TensorType): 'f32[4,3]' -> TensorType('f32', (4, 3))."""
    text = text.strip()
    if not text.endswith("]") or "[" not in text:
        raise ValueError(f"malformed type {text!r}")
    dtype, dims = text[:-1].split("[", 1)
    shape = tuple(int(d) for d in dims.split(",")) if dims.strip() else ()
    return TensorType(dtype, shape)


_PROMOTED: dict = {}


def promote(*dtypes: str) -> str:
    """Result dtype of mixing these dtypes: numpy's rule, so numpy impls and type rules agree."""
    r = _PROMOTED.get(dtypes)
    if r is None:
        res = np.result_type(*(DTYPES[d] for d in dtypes))
        if res not in _NAME_OF:  # uint8 with int8 is int16 in numpy: no tracegrad dtype
            raise TypeError(f"dtypes {' and '.join(map(str, (DTYPES[d] for d in dtypes)))} "
                            f"promote to {res}, which tracegrad does not hold; cast the "
                            f"operands to one dtype first (MXNet requires one dtype)")
        r = _PROMOTED[dtypes] = _NAME_OF[res]
    return r


def broadcast_shapes(*shapes) -> tuple:
    """numpy broadcasting of shapes; raises ValueError naming both shapes when incompatible."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s, ndim - len(s)):
            if d == out[i] or d == 1:
                continue
            if out[i] != 1:
                raise ValueError(f"shapes {' and '.join(str(tuple(x)) for x in shapes)} "
                                 f"do not broadcast")
            out[i] = d
    return tuple(out)


_AXES: dict = {}


def normalize_axes(axes, ndim: int) -> tuple:
    """Axes as a sorted tuple of non-negative ints; None means all axes. Memoized for hashable
    axes (the result only depends on int(a) of each, so equal keys give equal results): eager
    reductions repeat the same few, and the same tuple object is cheap to check again."""
    try:
        hit = _AXES.get((axes, ndim))
    except TypeError:  # a list of axes
        return _normalize_axes(axes, ndim)
    if hit is None:
        hit = _normalize_axes(axes, ndim)
        if len(_AXES) > 1024:
            _AXES.clear()
        _AXES[(axes, ndim)] = hit
    return hit


def _normalize_axes(axes, ndim: int) -> tuple:
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} out of range for {ndim}-d input")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {tuple(axes)}")
    return tuple(sorted(out))
