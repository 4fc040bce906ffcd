"""mx.sym.np / mx.sym.npx: MXNet's numpy symbols, graph nodes computed by mx.np / npx.

    x = mx.sym.var('x').as_np_ndarray()
    y = mx.sym.np.sum(x * 2, axis=0).as_nd_ndarray()      # nodes _npi_multiply_scalar, _np_sum

A node's operator is MXNet's registered name for the function (`_np_sum`, `_npi_mean`,
`_npi_det`, `_npx_relu`; `_np_<name>` where MXNet has none) and its spec (NumpySpec, an
ops.OpSpec) is made from the mx.np / npx function itself: the function's signature says
which arguments are attributes and which take the node's inputs, so one mechanism serves
every function and ops.lookup finds these names as it finds nd's. The node's fn views its
inputs as mx.np arrays, calls the function and views the result as NDArrays again: the
executor, shape inference and autograd see an op like any other.

An argument given a Symbol is an input; anything else is an attribute (its string form, read
back when the node is made, so a value that does not survive the trip is refused then, as a
file's bad attribute is on load). Inputs go, in the signature's order, to the required
parameters not given as attributes; `num_args` counts a list of Symbols (stack's `arrays`)
or the Symbols of *args (einsum's operands), and `inputs` names the optional parameters given
Symbols (where's `x` and `y`), which the signature alone cannot tell.

`Symbol.as_np_ndarray()` gives the same graph as a `_Symbol`, whose operators, indexing and
fluent methods build numpy ops with numpy's broadcasting and types; `as_nd_ndarray()` goes
back. Neither adds a node.
"""
import inspect
import math
import numbers
import types

import numpy as onp

from ..base import MXNetError
from .literal import LiteralError, parse_literal, to_attr_string
from .ops import (AttrError, MAX_ELEMENTS, OpSpec, _bool, _dtype, _float, _int, _opt, _str,
                  lookup, parse_attrs)
from .symbol import Symbol, _make

# ------------------------------------------------------------------ MXNet's op names
# functions MXNet 1.9.1 registers as _np_<name> (src/operator/numpy: the generated mx.sym.np)
_NP_REGISTERED = frozenset({
    "all", "amax", "amin", "any", "atleast_1d", "atleast_2d", "atleast_3d", "copy", "cumsum",
    "diag", "diagflat", "diagonal", "dot", "max", "min", "moveaxis", "prod", "repeat",
    "reshape", "roll", "squeeze", "sum", "trace", "transpose"})
# functions its mx.sym.np records as _npi_<name> (python/mxnet/symbol/numpy/_symbol.py)
_NPI_NAMED = frozenset((
    "abs absolute add arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax "
    "argmin argsort around average bincount bitwise_and bitwise_not bitwise_or bitwise_xor "
    "blackman broadcast_to cbrt ceil clip column_stack concatenate copysign cos cosh deg2rad "
    "degrees delete diag_indices_from diff dsplit dstack ediff1d einsum equal exp "
    "expand_dims expm1 eye fix flip floor full full_like greater greater_equal hamming "
    "hanning histogram hsplit hstack hypot identity indices isfinite isinf isnan isneginf "
    "isposinf lcm ldexp less less_equal linspace log log10 log1p log2 logical_not logspace "
    "matmul maximum mean minimum mod multiply nan_to_num negative not_equal ones percentile "
    "polyval power rad2deg radians reciprocal rint rot90 sign sin sinh sort split sqrt "
    "square stack std subtract swapaxes take tan tanh tensordot tile tril true_divide trunc "
    "unique var vstack where zeros").split())
# MXNet's name of a function that is another's (one op, one meaning)
_NP_RENAMED = {"divide": "_npi_true_divide", "remainder": "_npi_mod", "round": "_npi_around",
               "round_": "_npi_around", "row_stack": "_npi_vstack"}
_LINALG_NPI = frozenset("cholesky det eig eigh eigvals eigvalsh inv norm pinv slogdet solve "
                        "svd tensorinv tensorsolve".split())
_RANDOM_NAMED = {**{n: f"_npi_{n}" for n in (
    "normal", "uniform", "gamma", "exponential", "gumbel", "logistic", "pareto", "rayleigh",
    "weibull", "choice")}, "power": "_npi_powerd", "randint": "_npi_random_randint"}

# binary functions with MXNet's scalar forms: {name: (op stem, stem with the scalar first)}
# (None: commutative; a comparison with the scalar first is the mirrored comparison)
_BINARY = {
    "add": ("add", None), "subtract": ("subtract", "rsubtract"), "multiply": ("multiply", None),
    "divide": ("true_divide", "rtrue_divide"), "true_divide": ("true_divide", "rtrue_divide"),
    "floor_divide": ("floor_divide", "rfloor_divide"), "mod": ("mod", "rmod"),
    "remainder": ("mod", "rmod"), "power": ("power", "rpower"), "maximum": ("maximum", None),
    "minimum": ("minimum", None), "hypot": ("hypot", None), "arctan2": ("arctan2", "rarctan2"),
    "copysign": ("copysign", "rcopysign"), "ldexp": ("ldexp", "rldexp"), "lcm": ("lcm", None),
    "bitwise_and": ("bitwise_and", None), "bitwise_or": ("bitwise_or", None),
    "bitwise_xor": ("bitwise_xor", None), "equal": ("equal", None),
    "not_equal": ("not_equal", None), "greater": ("greater", "less"),
    "greater_equal": ("greater_equal", "less_equal"), "less": ("less", "greater"),
    "less_equal": ("less_equal", "greater_equal")}


def _scalar_ops():
    """{op name: (function name, scalar first)} of the _npi_<stem>_scalar family."""
    out = {}
    for fname, (stem, rstem) in _BINARY.items():
        out.setdefault(f"_npi_{stem}_scalar", (stem, False))
        if rstem == "r" + stem:
            out.setdefault(f"_npi_{rstem}_scalar", (stem, True))
    return out


_SCALAR_OPS = _scalar_ops()

# names in the namespaces that are not operators (utilities, in-place or host-side calls)
_NOT_OPS = frozenset({"seed", "shuffle", "array", "asarray", "from_numpy", "load", "save",
                      "waitall", "as_nd_all", "set_printoptions", "may_share_memory",
                      "shares_memory", "from_dlpack", "finfo", "iinfo", "dtype", "ndarray"})
_SKIPPED_PARAMS = ("out", "ctx", "device", "name")     # (not recorded: no graph meaning)


def _modules():
    from .. import numpy_api as np_mod, numpy_extension as npx_mod
    return {"np": np_mod, "linalg": np_mod.linalg, "random": np_mod.random, "npx": npx_mod,
            "npx.random": npx_mod.random, "npx.image": npx_mod.image}


def _function(ns, fname):
    """The mx.np / npx function `fname` of namespace `ns` when it is an operator, else None."""
    if not fname or fname.startswith("_") or fname in _NOT_OPS:
        return None
    mod = _modules()[ns]
    fn = getattr(mod, fname, None)
    if fn is None or isinstance(fn, type) or inspect.ismodule(fn) or not callable(fn):
        return None
    where = getattr(fn, "__module__", None) or ""
    if ns == "linalg":
        ok = where in ("tracegrad.numpy_api.linalg", "tracegrad.numpy_api.fallback_linalg")
    elif ns == "npx":
        ok = where in ("tracegrad.numpy_extension", "tracegrad.numpy_extension_ops")
    else:
        ok = fname in getattr(mod, "__all__", ())
    return fn if ok else None


def op_name(ns, fname):
    """MXNet's registered name of function `fname` of namespace `ns`."""
    if ns == "np":
        if fname in _NP_RENAMED:
            return _NP_RENAMED[fname]
        if fname in _NP_REGISTERED or fname not in _NPI_NAMED:
            return f"_np_{fname}"
        return f"_npi_{fname}"
    if ns == "linalg":
        return f"_npi_{fname}" if fname in _LINALG_NPI else f"_np_linalg_{fname}"
    if ns == "random":
        return _RANDOM_NAMED.get(fname, f"_np_random_{fname}")
    return {"npx": "_npx_", "npx.random": "_npx_random_", "npx.image": "_npx__image_"}[ns] \
        + fname


# (a renamed function's op is its target's, found by prefix: _npi_true_divide is true_divide)
_REVERSE = {**{f"_npi_{n}": ("linalg", n) for n in _LINALG_NPI},
            **{v: ("random", k) for k, v in _RANDOM_NAMED.items()}}
_PREFIXES = (("_np_linalg_", "linalg"), ("_np_random_", "random"), ("_npx_random_", "npx.random"),
             ("_npx__image_", "npx.image"), ("_npx_image_", "npx.image"), ("_npx_", "npx"),
             ("_np_", "np"), ("_npi_", "np"))


def _resolve(op):
    """(namespace, function name) an op name is computed by, or None."""
    if op in _REVERSE:
        return _REVERSE[op]
    for prefix, ns in _PREFIXES:
        if op.startswith(prefix):
            return ns, op[len(prefix):]
    return None


# ------------------------------------------------------------------ attributes
MAX_NESTING = 4


def parse_value(text):
    """An attribute string as a value: parse_literal's, and tuples of tuples (tensordot's
    axes, pad's pad_width) by the same rules one level at a time."""
    try:
        return parse_literal(text)
    except LiteralError:
        s = text.strip() if isinstance(text, str) else ""
        if len(s) > 4096 or s[:1] not in ("(", "["):
            raise
        return _nested(s, 0)


def _nested(s, depth):
    if depth > MAX_NESTING:
        raise LiteralError(f"{s!r}: tuples nested more than {MAX_NESTING} deep")
    close = ")" if s[0] == "(" else "]"
    if not s.endswith(close):
        raise LiteralError(f"{s!r}: unbalanced brackets")
    items, level, start, body = [], 0, 0, s[1:-1]
    for i, c in enumerate(body + ","):
        if c in "([":
            level += 1
        elif c in ")]":
            level -= 1
            if level < 0:
                raise LiteralError(f"{s!r}: unbalanced brackets")
        elif c == "," and level == 0:
            items.append(body[start:i].strip())
            start = i + 1
    if level:
        raise LiteralError(f"{s!r}: unbalanced brackets")
    if items and items[-1] == "":
        items.pop()
    if any(not t for t in items):
        raise LiteralError(f"{s!r}: an empty entry")
    return tuple(_nested(t, depth + 1) if t[0] in "([" else parse_literal(t) for t in items)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _axis_like(v):
    """An axis, a tuple of axes, or None."""
    if v is None or _is_int(v) and abs(v) <= 64:
        return v
    if isinstance(v, tuple) and all(_is_int(a) and abs(a) <= 64 for a in v):
        return v
    raise AttrError(f"expected an axis, a tuple of axes or None, got {v!r}")


_axis_like.type_text = "int, tuple of ints or None"


def _axes_like(v):
    """An int, axes, or pairs of axes (tensordot's), or None."""
    if v is None or _is_int(v) and abs(v) <= 64:
        return v
    if isinstance(v, tuple) and all(_is_int(a) and abs(a) <= 64 or isinstance(a, tuple) and
                                    all(_is_int(b) and abs(b) <= 64 for b in a) for a in v):
        return v
    raise AttrError(f"expected an int, axes or pairs of axes, got {v!r}")


_axes_like.type_text = "int, axes or None"


def _shape_like(v):
    """A shape (an int or a tuple; -1 and MXNet's other negative codes allowed) or None."""
    if v is None:
        return v
    dims = (v,) if _is_int(v) else v
    if not isinstance(dims, tuple) or not all(_is_int(d) and -6 <= d for d in dims):
        raise AttrError(f"expected a shape, got {v!r}")
    n = 1
    for d in dims:
        n *= max(d, 1)
    if len(dims) > 32 or n > MAX_ELEMENTS:
        raise AttrError(f"shape {v!r} is implausibly large")
    return v


_shape_like.type_text = "Shape or None"


def _number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise AttrError(f"expected a number, got {v!r}")
    return v


_number.type_text = "number"


def _names(v):
    """`inputs`: comma-separated parameter names."""
    if not isinstance(v, str) or not all(n.isidentifier() for n in v.split(",")):
        raise AttrError(f"expected parameter names separated by commas, got {v!r}")
    return v


_names.type_text = "names"


def _any(v):
    return v


_any.type_text = "any"
_BY_NAME = {"axis": _axis_like, "axes": _axes_like, "keepdims": _opt(_bool),
            "dtype": _opt(_dtype), "shape": _shape_like, "newshape": _shape_like,
            "size": _shape_like, "reps": _shape_like, "scalar": _number,
            "num_args": _int(0, 4096), "inputs": _names}


def _check_for(p):
    """The check of parameter p's attribute value (from its name, else its default)."""
    if p.name in _BY_NAME:
        return _BY_NAME[p.name]
    d = p.default
    if d is p.empty or d is None or isinstance(d, tuple):
        return _any
    if isinstance(d, bool):
        return _opt(_bool)
    if isinstance(d, int):
        return _opt(_number)       # (an int default: a float may be meant, clip's bounds)
    if isinstance(d, float):
        return _opt(_float())
    if isinstance(d, str):
        return _opt(_str)
    return _any


# ------------------------------------------------------------------ the spec
def _signature(fn):
    """fn's signature; npx's wrappers of nd functions, (*args, **kwargs), have their nd
    function's."""
    sig = inspect.signature(fn)
    kinds = [p.kind for p in sig.parameters.values()]
    if kinds == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        inner = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
                 if callable(c.cell_contents)]
        if len(inner) == 1:
            try:
                return inspect.signature(inner[0])
            except (TypeError, ValueError):
                pass
    return sig


MAX_OUTPUTS = 4096


def _n_outputs(fname, params):
    """How many arrays function `fname` returns with these attributes (MXNet's node output
    count, fixed before anything runs)."""
    if fname in ("split", "array_split", "hsplit", "vsplit", "dsplit"):
        parts = params.get("indices_or_sections", 1)
        n = len(parts) + 1 if isinstance(parts, tuple) else parts if _is_int(parts) else 1
        if not 1 <= n <= MAX_OUTPUTS:
            raise AttrError(f"indices_or_sections={parts!r} asks for {n} outputs (1 to "
                            f"{MAX_OUTPUTS})")
        return n
    if fname in ("broadcast_arrays", "meshgrid"):
        return params.get("num_args", 1)
    if fname == "unique":
        return 1 + sum(bool(params.get(k)) for k in ("return_index", "return_inverse",
                                                     "return_counts"))
    if fname == "topk":
        return 2 if params.get("ret_typ") == "both" else 1
    if fname in ("batch_norm", "layer_norm") and params.get("output_mean_var"):
        return 3
    if fname == "qr":
        return 1 if params.get("mode") == "r" else 2
    if fname == "svd":
        return 3 if params.get("compute_uv", True) else 1
    if fname == "eigh" or fname == "eig":
        return 2
    return _FIXED_OUTPUTS.get(fname, 1)


_FIXED_OUTPUTS = {"slogdet": 2, "histogram": 2, "lstsq": 4, "multibox_target": 3,
                  "bipartite_matching": 2}
_P = inspect.Parameter


class NumpySpec(OpSpec):
    """An op computed by an mx.np / npx function; its inputs follow from the attributes
    (for_attrs gives the spec of one layout)."""

    def __init__(self, name, fn, label, draws_random=False, fname=None):
        self.sig = _signature(fn)
        self.label = label                  # (the function as errors name it: mx.np.sum)
        self.fname = fname or fn.__name__
        self.call = fn
        self.draws_random = draws_random
        self.probe_types = True     # (infer_type runs the function for its dtypes)
        params = self.sig.parameters.values()
        schema = {p.name: _check_for(p) for p in params
                  if p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)
                  and p.name not in _SKIPPED_PARAMS}
        self.has_varargs = any(p.kind == _P.VAR_POSITIONAL for p in params)
        self.var_name = next((p.name for p in params if p.kind == _P.VAR_POSITIONAL), None)
        self.open_keywords = any(p.kind == _P.VAR_KEYWORD for p in params)
        schema.setdefault("num_args", _BY_NAME["num_args"])
        schema.setdefault("inputs", _names)

        def run(*arrays, **attrs):
            return self._run(arrays, attrs)
        super().__init__(name, run, (), attrs=schema,
                         outputs=lambda a: self._outputs_of(a))
        self._layouts = {}

    def _outputs_of(self, params):
        n = _n_outputs(self.fname, params)
        return n, (["output"] if n == 1 else [f"output{i}" for i in range(n)])

    # ---------------------------------------------------------------- attributes
    def check_attrs(self, raw, where):
        """{name: value} of the node's attribute strings; MXNetError names the node, the op
        and the attribute on an unknown name or a value of the wrong type."""
        out = parse_attrs(raw, where, self.name, self._check_for, sorted(self.attrs),
                          parse=parse_value, label=f" ({self.label})",
                          skip=("ctx_group", "lr_mult", "wd_mult", "name", "ctx"))
        self._layout(out, where)        # (refuses `inputs` / num_args that do not fit)
        try:
            self._outputs_of(out)
        except AttrError as e:
            raise MXNetError(f"{where}: op {self.name}: {e}") from None
        return out

    def _check_for(self, key):
        check = self.attrs.get(key)
        if check is None and (self._var_place(key) is not None or (
                self.open_keywords and key.isidentifier())):
            check = _any    # (a non-Symbol at a place of *args, einsum's string; a **kwargs)
        return check

    def _var_place(self, key):
        """i for the attribute `<*args name><i>` (a literal at place i of *args), else None."""
        digits = key[len(self.var_name):] if self.var_name and \
            key.startswith(self.var_name) else ""
        ok = digits.isascii() and digits.isdigit() and str(int(digits)) == digits
        return int(digits) if ok and int(digits) < MAX_OUTPUTS else None

    def for_attrs(self, params, where=""):
        slots = tuple(f"{n}{i}" if i is not None else n for n, i in self._layout(params, where))
        spec = self._layouts.get(slots)
        if spec is None:
            spec = object.__new__(type(self))
            spec.__dict__.update(self.__dict__)
            spec.inputs = slots
            self._layouts[slots] = spec
        return spec

    def _layout(self, params, where=""):
        """[(parameter, index or None)]: the parameter each input of a node with these
        attributes goes to (index: its place in a list or *args)."""
        named = [p for p in self.sig.parameters.values()
                 if p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)]
        extra = [n for n in (params.get("inputs") or "").split(",") if n]
        by_name = {p.name: p for p in named}
        for n in extra:
            p = by_name.get(n)
            if n in params or n in _SKIPPED_PARAMS or (p is None and not self.open_keywords) \
                    or (p is not None and p.default is p.empty):
                raise MXNetError(f"{where}: op {self.name}: inputs={params.get('inputs')!r} "
                                 f"names {n!r}, which is not an optional array parameter of "
                                 f"{self.label}{self.sig}")
        count = params.get("num_args")
        literal = {i for i in map(self._var_place, params) if i is not None}
        if any(i >= (count or 0) + len(literal) for i in literal):
            raise MXNetError(f"{where}: op {self.name}: attributes {self.var_name}<i> hold "
                             f"places {sorted(literal)} of *{self.var_name}, which has "
                             f"{(count or 0) + len(literal)} with num_args={count}")
        slots, listed = [], False
        for p in self.sig.parameters.values():
            if p.kind == _P.VAR_POSITIONAL:
                if count is not None and not listed:
                    places = [i for i in range(count + len(literal)) if i not in literal]
                    slots.extend((p.name, i) for i in places)
                    listed = True
                continue
            if p.kind == _P.VAR_KEYWORD or p.name in params or p.name in _SKIPPED_PARAMS:
                continue
            if p.default is p.empty:
                if count is not None and not listed and not self.has_varargs:
                    slots.extend((p.name, i) for i in range(count))
                    listed = True
                else:
                    slots.append((p.name, None))
            elif p.name in extra:
                slots.append((p.name, None))
        slots.extend((n, None) for n in extra if n not in by_name)
        if count is not None and not listed:
            raise MXNetError(f"{where}: op {self.name}: num_args={count}, but {self.label}"
                             f"{self.sig} has no list of arrays left to give them to")
        return slots

    # ---------------------------------------------------------------- running
    def _run(self, arrays, attrs):
        from ..numpy_api.ndarray import as_nd, as_np
        layout = self._layout(attrs)
        if len(layout) != len(arrays):
            raise MXNetError(f"{self.label}: {len(arrays)} inputs for the {len(layout)} "
                             f"its attributes give ({[n for n, _ in layout]})")
        given, lists = {}, {}
        for (pname, i), arr in zip(layout, arrays):
            if i is None:
                given[pname] = as_np(arr)
            else:
                lists.setdefault(pname, {})[i] = as_np(arr)
        args, kwargs = self._assemble(given, lists, attrs)
        try:
            out = self.call(*args, **kwargs)
        except (MXNetError, TypeError, ValueError, IndexError, KeyError, AttributeError,
                ArithmeticError) as e:     # (a loaded file's attributes: relu given a list)
            raise MXNetError(self._failure(layout, arrays, e)) from None
        outs = out if isinstance(out, (list, tuple)) else [out]
        from ..array import NDArray
        for o in outs:
            if not isinstance(o, NDArray):
                raise MXNetError(f"{self.label} gave a {type(o).__name__}, not an array: "
                                 f"it cannot be a graph node")
        got = as_nd(list(outs))
        return got if isinstance(out, (list, tuple)) else got[0]

    def _failure(self, layout, arrays, e):
        from ..ir.ops.checks import SHAPES_ONLY
        if SHAPES_ONLY.on:      # (inference names the shapes itself)
            return str(e)
        shapes = ", ".join(f"{n if i is None else f'{n}[{i}]'} {tuple(a.shape)}"
                           for (n, i), a in zip(layout, arrays))
        return f"{self.label} on inputs {shapes}: {e}"

    def _assemble(self, given, lists, attrs):
        """(positional, keyword) arguments of the call from inputs and attributes."""
        args, kwargs, positional = [], {}, self.has_varargs
        params = list(self.sig.parameters.values())
        for p in params:
            if p.kind == _P.VAR_POSITIONAL:
                items = lists.get(p.name, {})
                places = {self._var_place(k): v for k, v in attrs.items()}
                places.pop(None, None)
                places.update(items)
                args.extend(places[i] for i in range(len(places)))
                positional = False
                continue
            if p.kind == _P.VAR_KEYWORD:
                known = {q.name for q in params}
                kwargs.update((k, v) for k, v in attrs.items() if k not in known
                              and k not in ("num_args", "inputs")
                              and self._var_place(k) is None)
                kwargs.update((k, v) for k, v in given.items() if k not in known)
                continue
            if p.name in given:
                v = given[p.name]
            elif p.name in lists:
                v = [lists[p.name][i] for i in sorted(lists[p.name])]
            elif p.name in attrs:
                v = attrs[p.name]
            elif positional or p.kind == _P.POSITIONAL_ONLY:
                v = p.default
            else:
                continue
            if positional or p.kind == _P.POSITIONAL_ONLY:
                args.append(v)
            else:
                kwargs[p.name] = v
        return args, kwargs


class _ScalarSpec(NumpySpec):
    """MXNet's _npi_<op>_scalar: the binary function with a number on one side."""

    def __init__(self, name, fname, reflected):
        from .. import numpy_api as np_mod
        fn = getattr(np_mod, fname)

        def with_scalar(data, scalar):
            return fn(scalar, data) if reflected else fn(data, scalar)
        with_scalar.__name__ = fname
        super().__init__(name, with_scalar, f"mx.np.{fname}", fname=fname)
        self.attrs["is_int"] = _opt(_bool)     # (MXNet writes it; the value says the type)

    def _assemble(self, given, lists, attrs):
        return [given["data"], attrs["scalar"]], {}


def _cast(a, dtype):
    return a.astype(dtype)


def _slice(a, begin, end, step=None):
    """a[begin:end:step] per axis (MXNet's _npi_slice: None entries are open ends)."""
    step = step or (None,) * len(begin)
    if not len(begin) == len(end) == len(step):
        raise ValueError(f"begin {begin}, end {end} and step {step} differ in length")
    return a[tuple(slice(b, e, s) for b, e, s in zip(begin, end, step))]


_METHOD_OPS = {"_npi_cast": (_cast, "astype"), "_npi_slice": (_slice, "indexing")}
_SPECS: dict = {}


def spec_for(op):
    """The NumpySpec of an op name of the numpy families (None for another name)."""
    spec = _SPECS.get(op)
    if spec is not None or op in _SPECS:
        return spec
    if op in _SCALAR_OPS:
        spec = _ScalarSpec(op, *_SCALAR_OPS[op])
    elif op in _METHOD_OPS:
        fn, what = _METHOD_OPS[op]
        spec = NumpySpec(op, fn, f"mx.np.ndarray {what}")
    else:
        target = _resolve(op)
        fn = _function(*target) if target is not None else None
        if fn is not None:
            ns, fname = target
            spec = NumpySpec(op, fn, _label(ns, fname),
                             draws_random=ns in ("random", "npx.random")
                             or fname in ("dropout",), fname=fname)
    if len(_SPECS) < 4096:
        _SPECS[op] = spec
    return spec


def _label(ns, fname):
    return {"np": "mx.np.", "linalg": "mx.np.linalg.", "random": "mx.np.random.",
            "npx": "mx.npx.", "npx.random": "mx.npx.random.", "npx.image": "mx.npx.image."
            }[ns] + fname


# ------------------------------------------------------------------ building nodes
def _attr_value(label, pname, v):
    """v as an attribute value, checked to read back as itself from its string."""
    if isinstance(v, (onp.dtype, type)):
        v = onp.dtype(v).name if v is not bool else "bool"
    elif isinstance(v, onp.generic):
        v = v.item()
    elif isinstance(v, (list, tuple)):
        v = _tuples(v)
    from ..array import NDArray
    if isinstance(v, NDArray) or isinstance(v, onp.ndarray):
        raise TypeError(f"{label}: {pname} is an array; in a graph it must be a Symbol")
    text = to_attr_string(v)
    try:
        back = parse_value(text)
    except LiteralError:
        back = _UNREADABLE
    if not _same(back, v):
        raise TypeError(f"{label}: {pname}={v!r} cannot be a graph attribute (its text "
                        f"{text!r} does not read back as it)")
    return text


_UNREADABLE = object()


def _tuples(v):
    """Lists (nested too) as tuples, numpy scalars as Python ones: what an attribute holds."""
    if isinstance(v, (list, tuple)):
        return tuple(_tuples(x) for x in v)
    return v.item() if isinstance(v, onp.generic) else v


def _same(a, b):
    """Whether a read-back value a is b (of the same type: 1 is not 1.0 nor True)."""
    if isinstance(b, tuple):
        return isinstance(a, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    return type(a) is type(b) and a == b


def _symbols(v):
    """A list / tuple of Symbols as a list; None when v is not one."""
    if isinstance(v, (list, tuple)) and v and all(isinstance(s, Symbol) for s in v):
        return list(v)
    return None


def _record(op, label, sig, args, kwargs, name=None, attr=None):
    """The node of op `op` for a call of the function with this signature: Symbols are its
    inputs, the rest its attributes (module docstring)."""
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{label}: {e}") from None
    attrs, given, lists, extra, var_items = {}, {}, None, [], {}
    params = sig.parameters
    for pname, v in bound.arguments.items():
        p = params[pname]
        if p.kind == _P.VAR_POSITIONAL:
            var_items = dict(enumerate(v))
            continue
        if p.kind == _P.VAR_KEYWORD:
            for k, kv in v.items():
                if isinstance(kv, Symbol):
                    given[k] = kv
                    extra.append(k)
                elif kv is not None and k not in _SKIPPED_PARAMS:
                    attrs[k] = _attr_value(label, k, kv)
            continue
        if pname in _SKIPPED_PARAMS:
            if pname == "out" and v is not None:
                raise TypeError(f"{label}: out= is not supported on Symbols")
            continue
        group = _symbols(v)
        if isinstance(v, Symbol):
            given[pname] = v
            if p.default is not p.empty:
                extra.append(pname)
        elif group is not None:
            if lists is not None:
                raise TypeError(f"{label}: one list of Symbols per call (got {lists[0]!r} "
                                f"and {pname!r})")
            lists = (pname, group)
        elif isinstance(v, (list, tuple)) and any(isinstance(s, Symbol) for s in v):
            raise TypeError(f"{label}: {pname} mixes Symbols and other values")
        elif v is None and p.default is None:
            continue        # (the default: nothing to record)
        else:
            attrs[pname] = "None" if v is None else _attr_value(label, pname, v)
    var_symbols = {i: s for i, s in var_items.items() if isinstance(s, Symbol)}
    if var_symbols and lists is not None:
        raise TypeError(f"{label}: Symbols in *args and a list of Symbols in one call")
    var_name = next((q.name for q in params.values() if q.kind == _P.VAR_POSITIONAL), None)
    for i, v in var_items.items():
        if i not in var_symbols:
            attrs[f"{var_name}{i}"] = _attr_value(label, f"{var_name}[{i}]", v)
    if lists is not None:
        attrs["num_args"] = str(len(lists[1]))
    elif var_symbols:
        attrs["num_args"] = str(len(var_symbols))
    if extra:
        attrs["inputs"] = ",".join(extra)
    spec = lookup(op)
    if spec is None:
        raise MXNetError(f"mx.sym: unknown operator {op!r}")
    layout = spec._layout(spec.check_attrs(attrs, label))
    inputs = []
    for pname, i in layout:
        if i is None:
            s = given.get(pname)
        elif lists is not None:
            if pname != lists[0]:
                raise TypeError(f"{label}: a list of Symbols goes to the first array "
                                f"parameter ({pname}), not to {lists[0]}")
            s = lists[1][i]
        else:
            s = var_symbols.get(i)
        if s is None:
            raise TypeError(f"{label}: {pname} must be a Symbol (an input of the node)")
        inputs.append(s)
    return as_np_symbol(_make(op, inputs, attrs, name, attr))


def _binary(fname, a, b, name=None, attr=None):
    """MXNet's binary ufunc on Symbols: _npi_<op> of two Symbols, _npi_<op>_scalar (or the
    reflected / mirrored form) of a Symbol and a number, the number of two numbers."""
    stem, rstem = _BINARY[fname]
    a_sym, b_sym = isinstance(a, Symbol), isinstance(b, Symbol)
    label = f"mx.sym.np.{fname}"
    for v in (a, b):
        if not isinstance(v, (Symbol, numbers.Number)):
            raise TypeError(f"{label}: operands must be Symbols or numbers, got "
                            f"{type(v).__name__}")
    if a_sym and b_sym:
        fn = _function("np", stem)
        return _record(f"_npi_{stem}", label, _signature(fn), (a, b), {}, name, attr)
    if not a_sym and not b_sym:
        return getattr(onp, fname)(a, b)
    sym, number = (a, b) if a_sym else (b, a)
    number = number.item() if isinstance(number, onp.generic) else number
    if isinstance(number, bool):
        number = int(number)
    op = f"_npi_{stem if a_sym or rstem is None else rstem}_scalar"
    return as_np_symbol(_make(op, [sym], {"scalar": _attr_value(label, "scalar", number)},
                              name, attr))


def builder(ns, fname):
    """mx.sym.np.<fname> (of namespace ns): a function recording the op node, or None."""
    if ns == "np" and fname in _BINARY:
        def binary(x1, x2, out=None, name=None, attr=None, **kwargs):
            if out is not None or kwargs:
                raise TypeError(f"mx.sym.np.{fname}: only the two operands (got out / "
                                f"{sorted(kwargs)})")
            return _binary(fname, x1, x2, name, attr)
        binary.__name__ = fname
        return binary
    fn = _function(ns, fname)
    if fn is None:
        return None
    op, label = op_name(ns, fname), "mx.sym." + _label(ns, fname)[3:]
    from .ops import ALIASES
    if op in ALIASES:       # (an nd operator MXNet also names so: record that one)
        from .symbol import make_op
        legacy = make_op(op)
        return lambda *args, **kwargs: as_np_symbol(legacy(*args, **kwargs))
    sig = _signature(fn)

    def build(*args, name=None, attr=None, **kwargs):
        return _record(op, label, sig, args, kwargs, name, attr)
    build.__name__ = fname
    build.__doc__ = f"Symbolic {label}: records an {op} node computed by {_label(ns, fname)}."
    return build


class Namespace(types.ModuleType):
    """mx.sym.np, mx.sym.np.linalg, mx.sym.npx, ...: each function of the mx.np / npx
    namespace as a node builder, the constants (pi, newaxis, dtypes) as they are."""

    def __init__(self, name, ns, subs=()):
        super().__init__(name)
        self._ns = ns
        self._built = {}
        for sub, sub_ns in subs:
            setattr(self, sub, Namespace(f"{name}.{sub}", sub_ns))

    def __getattr__(self, fname):
        if fname.startswith("__"):
            raise AttributeError(fname)
        fn = self._built.get(fname)
        if fn is None:
            fn = builder(self._ns, fname)
            if fn is None:
                value = getattr(_modules()[self._ns], fname, None)
                if value is not None and (isinstance(value, (type, float, int)) or
                                          fname == "newaxis"):
                    return value
                raise AttributeError(f"module {self.__name__!r} has no operator {fname!r}")
            self._built[fname] = fn
        return fn

    def __dir__(self):
        mod = _modules()[self._ns]
        return sorted(n for n in dir(mod) if _function(self._ns, n) is not None)


# ------------------------------------------------------------------ the numpy Symbol
def as_np_symbol(sym):
    """The same outputs as a numpy symbol (no node added)."""
    return sym if type(sym) is _Symbol else _Symbol(sym._outputs)


# fluent methods of mx.np.ndarray that are the mx.np function of the same name on it
_FLUENT = frozenset({"sum", "prod", "mean", "std", "var", "max", "min", "argmax", "argmin",
                     "cumsum", "clip", "repeat", "swapaxes", "take", "argsort", "sort",
                     "squeeze", "dot", "round", "any", "all", "trace", "diagonal", "nonzero",
                     "ravel", "tile", "flip", "expand_dims", "broadcast_to"})


class _Symbol(Symbol):
    """MXNet's mx.sym.np._Symbol: a Symbol whose arithmetic, indexing and fluent methods are
    numpy's."""

    def as_nd_ndarray(self):
        return Symbol(list(self._outputs))

    def as_np_ndarray(self):
        return self

    def __repr__(self):
        name = self.name
        return (f"<_Symbol {name}>" if name is not None
                else f"<_Symbol group [{', '.join(self.list_outputs())}]>")

    # ------------------------------------------------------------ kept numpy
    def __iter__(self):
        return (_Symbol([o]) for o in self._outputs)

    def get_internals(self):
        return as_np_symbol(super().get_internals())

    def get_children(self):
        got = super().get_children()
        return None if got is None else as_np_symbol(got)

    def __call__(self, *args, **kwargs):
        return as_np_symbol(super().__call__(*args, **kwargs))

    def __copy__(self):
        return _Symbol(list(self._outputs))

    def __deepcopy__(self, memo):
        return as_np_symbol(super().__deepcopy__(memo))

    def copy(self):
        return self.__deepcopy__(None)

    # ------------------------------------------------------------ indexing
    def __getitem__(self, key):
        """An output of a group (int, name or slice); on one output numpy's basic indexing
        by ints and slices (MXNet's _npi_slice, then _np_squeeze of the int axes)."""
        if len(self._outputs) != 1 or isinstance(key, str):
            got = super().__getitem__(key)
            return as_np_symbol(got)
        keys = key if isinstance(key, tuple) else (key,)
        if not keys:
            return self
        begin, end, step, drop = [], [], [], []
        for axis, k in enumerate(keys):
            if isinstance(k, (int, onp.integer)) and not isinstance(k, bool):
                k = int(k)
                begin.append(k)
                end.append(None if k == -1 else k + 1)
                step.append(1)
                drop.append(axis)
            elif isinstance(k, slice):
                if k.step == 0:
                    raise ValueError("slice step cannot be zero")
                for part in (k.start, k.stop, k.step):
                    if part is not None and not isinstance(part, (int, onp.integer)):
                        raise IndexError(f"_Symbol indexing: slice bounds must be integers, "
                                         f"got {key!r}")
                begin.append(None if k.start is None else int(k.start))
                end.append(None if k.stop is None else int(k.stop))
                step.append(None if k.step is None else int(k.step))
            else:
                raise IndexError(f"_Symbol indexing supports integers, slices and tuples of "
                                 f"them, got {key!r}")
        out = as_np_symbol(_make("_npi_slice", [self], {
            "begin": tuple(begin), "end": tuple(end), "step": tuple(step)}, hint="slice"))
        if drop:
            out = np.squeeze(out, axis=tuple(drop))
        return out

    def __setitem__(self, key, value):
        raise NotImplementedError("a Symbol has no values to assign to")

    # ------------------------------------------------------------ arithmetic (numpy)
    def __add__(self, o):
        return _binary("add", self, o)

    def __radd__(self, o):
        return _binary("add", o, self)

    def __sub__(self, o):
        return _binary("subtract", self, o)

    def __rsub__(self, o):
        return _binary("subtract", o, self)

    def __mul__(self, o):
        return _binary("multiply", self, o)

    def __rmul__(self, o):
        return _binary("multiply", o, self)

    def __truediv__(self, o):
        return _binary("true_divide", self, o)

    def __rtruediv__(self, o):
        return _binary("true_divide", o, self)

    __div__, __rdiv__ = __truediv__, __rtruediv__

    def __floordiv__(self, o):
        return _binary("floor_divide", self, o)

    def __rfloordiv__(self, o):
        return _binary("floor_divide", o, self)

    def __mod__(self, o):
        return _binary("mod", self, o)

    def __rmod__(self, o):
        return _binary("mod", o, self)

    def __pow__(self, o):
        return _binary("power", self, o)

    def __rpow__(self, o):
        return _binary("power", o, self)

    def __matmul__(self, o):
        return np.matmul(self, o)

    def __rmatmul__(self, o):
        return np.matmul(o, self)

    def __neg__(self):
        return np.negative(self)

    def __abs__(self):
        return np.absolute(self)

    def __invert__(self):
        return np.invert(self)

    def __eq__(self, o):
        return _binary("equal", self, o)

    def __ne__(self, o):
        return _binary("not_equal", self, o)

    def __gt__(self, o):
        return _binary("greater", self, o)

    def __ge__(self, o):
        return _binary("greater_equal", self, o)

    def __lt__(self, o):
        return _binary("less", self, o)

    def __le__(self, o):
        return _binary("less_equal", self, o)

    __hash__ = Symbol.__hash__

    # ------------------------------------------------------------ fluent methods
    @property
    def T(self):
        return self.transpose()

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return np.transpose(self, axes=tuple(axes) if axes else None)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        if not shape:
            raise TypeError("reshape() takes a shape")
        return np.reshape(self, tuple(shape), order=order)

    def flatten(self, order="C"):
        return self.reshape(-1, order=order)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """MXNet's _npi_cast (its order / casting / subok: only their defaults)."""
        if order not in ("K", "C") or casting != "unsafe" or not subok:
            raise ValueError("astype on a Symbol: order 'K' or 'C', casting 'unsafe' and "
                             "subok=True only")
        return as_np_symbol(_make("_npi_cast", [self], {
            "dtype": _attr_value("astype", "dtype", dtype)}, hint="cast"))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _FLUENT:
            fn = getattr(np, name)
            return lambda *args, **kwargs: fn(self, *args, **kwargs)
        raise AttributeError(f"'_Symbol' object has no attribute {name!r}")


# mx.sym.np / mx.sym.npx
np = Namespace("tracegrad.symbol.numpy", "np", (("linalg", "linalg"), ("random", "random")))
np._Symbol = _Symbol
npx = Namespace("tracegrad.symbol.numpy_extension", "npx",
                (("random", "npx.random"), ("image", "npx.image")))
