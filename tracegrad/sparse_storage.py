"""Which storage type an operator's result has, as MXNet 1.9.1's FInferStorageType decides it:
one table, RULES, read by the nd functions (`nd.abs(csr)` is csr), the NDArray methods and
operators, mx.nd.sparse and the executor's storage inference (symbol/storage.py).

A rule gets the input storage types ('default', 'row_sparse', 'csr', one per array input)
and the operator's parameters and names the output's. An operator not in the table gives a
dense result, as MXNet's fallback does; so do those whose value at 0 is not 0 (exp, cos,
...). The values are computed densely (sparse.py), except where MXNet's sparse kernels
compute the stored entries only and the values would differ (sparse_kernels.py: csr * nan,
elemwise_mul(csr, dense), ...); a kept storage type relabels the result, listing the entries
MXNet's kernel stores (see `_listing`).
"""
import functools
import inspect

DENSE = "default"


def _keep(ins, params):
    """ElemwiseStorageType<1, 1, false, true, true>: f(0) = 0, csr -> csr, rsp -> rsp."""
    return ins[0]


def _all_one_sparse_type(ins, params):
    """All inputs of one sparse type give that type (elemwise_add / sub, _maximum, ...)."""
    return ins[0] if ins[0] != DENSE and all(s == ins[0] for s in ins) else DENSE


def _rsp_sum(ins, params):
    """add_n: only row_sparse inputs give row_sparse."""
    return "row_sparse" if all(s == "row_sparse" for s in ins) else DENSE


def _prefer_sparse(ins, params):
    """elemwise_mul: one sparse type, alone or with dense operands, is kept."""
    kinds = set(ins) - {DENSE}
    return kinds.pop() if len(kinds) == 1 else DENSE


def _csr_lhs(ins, params):
    """broadcast_mul / broadcast_div: csr times (or over) a dense array is csr."""
    return "csr" if tuple(ins) == ("csr", DENSE) else DENSE


def _number(params, key):
    value = params.get(key)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _scalar_zero(ins, params):
    """_plus_scalar / _minus_scalar: x + 0 keeps x's storage type, any other number not."""
    return ins[0] if _number(params, "scalar") == 0 else DENSE


def _logic_scalar(test):
    def rule(ins, params):
        scalar = _number(params, "scalar")
        return ins[0] if scalar is not None and not test(0.0, scalar) else DENSE
    rule.__doc__ = "Comparisons with a number: sparse kept where comparing 0 gives 0."
    return rule


def _clip(ins, params):
    lo, hi = _number(params, "a_min"), _number(params, "a_max")
    return ins[0] if lo is not None and hi is not None and lo <= 0 <= hi else DENSE


def _slice(ins, params):
    """slice of a csr is csr when its step is MXNet's `trivial_step`: none given, or one
    step of 1 (or None); any other step tuple, (1, 1) too, falls back to dense."""
    steps = tuple(params.get("step") or ())
    trivial = not steps or (len(steps) == 1 and steps[0] in (None, 1))
    return "csr" if ins[0] == "csr" and trivial else DENSE


def _take(ins, params):
    """take(csr, dense indices, axis=0) in mode 'clip' or 'wrap' is csr (TakeOpForwardStorageType;
    1-d indices here, a 2-d result)."""
    axis = _number(params, "axis")
    return "csr" if tuple(ins) == ("csr", DENSE) and axis in (None, 0) and \
        params.get("mode", "clip") in ("clip", "wrap") and params.get("one_d", True) else DENSE


def _quadratic(ins, params):
    """contrib.quadratic (QuadraticOpStorageType): csr with c = 0 (its default) stays csr."""
    return "csr" if ins[0] == "csr" and _number({"c": 0, **params}, "c") == 0 else DENSE


def _batch_norm(ins, params):
    """BatchNormStorageType: sparse inputs fall back to dense, except with fix_gamma (its
    default), which MXNet refuses."""
    if _flag({"fix_gamma": True, **params}, "fix_gamma"):
        from .base import MXNetError
        raise MXNetError(f"BatchNorm: fix_gamma=True is not supported for sparse ndarrays "
                         f"(MXNet's rule; input storage types {list(ins)}): pass "
                         f"fix_gamma=False or dense inputs")
    return DENSE


def _flag(params, key):
    value = params.get(key, False)
    return value in (True, 1) or str(value).lower() in ("true", "1")


def _dot(ins, params):
    want = params.get("forward_stype")
    if want not in (None, "None"):
        return want
    ta, tb = _flag(params, "transpose_a"), _flag(params, "transpose_b")
    lhs, rhs = ins[0], ins[1]
    if lhs == "csr" and rhs in (DENSE, "row_sparse") and ta and not tb:
        return "row_sparse"
    if lhs == DENSE and rhs == "csr" and not ta and not tb:
        return "csr"
    return DENSE


_ZERO_PRESERVING = (
    "relu", "negative", "abs", "sign", "round", "rint", "ceil", "floor", "trunc", "fix",
    "log1p", "expm1", "square", "sqrt", "cbrt", "sin", "tan", "arcsin", "arctan", "degrees",
    "radians", "sinh", "tanh", "arcsinh", "arctanh", "_copy", "BlockGrad", "make_loss",
    "zeros_like", "_mul_scalar", "_div_scalar", "_contrib_round_ste", "_contrib_sign_ste")

RULES = {
    **{name: _keep for name in _ZERO_PRESERVING},
    **{name: _all_one_sparse_type for name in ("elemwise_add", "elemwise_sub", "_grad_add",
                                               "_maximum", "_minimum", "_hypot")},
    "elemwise_mul": _prefer_sparse, "broadcast_mul": _csr_lhs, "broadcast_div": _csr_lhs,
    "add_n": _rsp_sum, "_plus_scalar": _scalar_zero, "_minus_scalar": _scalar_zero,
    "_equal_scalar": _logic_scalar(lambda a, b: a == b),
    "_not_equal_scalar": _logic_scalar(lambda a, b: a != b),
    "_greater_scalar": _logic_scalar(lambda a, b: a > b),
    "_greater_equal_scalar": _logic_scalar(lambda a, b: a >= b),
    "_lesser_scalar": _logic_scalar(lambda a, b: a < b),
    "_lesser_equal_scalar": _logic_scalar(lambda a, b: a <= b),
    "clip": _clip, "slice": _slice, "dot": _dot, "take": _take,
    "_contrib_quadratic": _quadratic,
    "_sparse_retain": lambda ins, params: "row_sparse" if ins[0] == "row_sparse" else DENSE,
    "_scatter_elemwise_div": lambda ins, params: "row_sparse" if ins[0] == "row_sparse"
    else DENSE,
    "_scatter_plus_scalar": _keep, "_scatter_minus_scalar": _keep,
    "BatchNorm": _batch_norm,
}
# MXNet's other names of these operators (symbol files and mx.sym use either)
ALIASES = {"identity": "_copy", "stop_gradient": "BlockGrad", "MakeLoss": "make_loss",
           "_MulScalar": "_mul_scalar", "_DivScalar": "_div_scalar", "_mul": "elemwise_mul",
           "_Mul": "elemwise_mul", "_add": "elemwise_add", "_plus": "elemwise_add",
           "_Plus": "elemwise_add", "_sub": "elemwise_sub", "_minus": "elemwise_sub",
           "_Minus": "elemwise_sub", "ElementWiseSum": "add_n",
           "_PlusScalar": "_plus_scalar", "_MinusScalar": "_minus_scalar",
           "crop": "slice", "_Maximum": "_maximum", "_Minimum": "_minimum",
           "quadratic": "_contrib_quadratic"}
# two arrays of one sparse type merged by MXNet's sparse-sparse kernels (their listing)
_MERGED = frozenset({"elemwise_add", "elemwise_sub", "elemwise_mul", "_grad_add", "add_n"})
_ADDITIVE = frozenset({"elemwise_add", "elemwise_sub", "_grad_add", "add_n", "_maximum",
                       "_minimum", "_hypot"})


def infer(op, ins, params=None):
    """The storage type of operator `op`'s result for input storage types `ins`."""
    ins = tuple(ins)
    if not ins or all(s == DENSE for s in ins):
        return DENSE
    rule = RULES.get(ALIASES.get(op, op))
    return DENSE if rule is None else rule(ins, params or {})


# ------------------------------------------------------------------ the nd functions
def _unary(op):
    return lambda a: (op, [a["data"]], {})


def _arith(name):
    """nd.add / subtract / multiply / divide (and their broadcast_* names) as MXNet's
    _ufunc_helper calls them: a number operand makes them the scalar operator."""
    scalar, rscalar = {"add": ("_plus_scalar", "_plus_scalar"),
                       "sub": ("_minus_scalar", "_rminus_scalar"),
                       "mul": ("_mul_scalar", "_mul_scalar"),
                       "div": ("_div_scalar", "_rdiv_scalar")}[name]
    return _scalar_or_broadcast(name, scalar, rscalar)


def _scalar_or_broadcast(name, scalar, rscalar):
    """The resolver of a binary nd function that MXNet sends to its scalar operator when one
    side is a number (`rscalar` for a number on the left), else to broadcast_<name>."""
    def resolve(a):
        lhs, rhs = a["lhs"], a["rhs"]
        if not hasattr(rhs, "stype"):
            return scalar, [lhs], {"scalar": rhs}
        if not hasattr(lhs, "stype"):
            return rscalar, [rhs], {"scalar": lhs}
        return f"broadcast_{name}", [lhs, rhs], {}
    return resolve


def _same_shape(op):
    return lambda a: (op, [a["lhs"], a["rhs"]], {})


# nd.equal ... lesser_equal with a number: MXNet's _ufunc_helper calls the scalar operator,
# with the comparison turned round for a number on the left (2 > x is x < 2)
_COMPARISONS = {"equal": ("_equal_scalar", "_equal_scalar"),
                "not_equal": ("_not_equal_scalar", "_not_equal_scalar"),
                "greater": ("_greater_scalar", "_lesser_scalar"),
                "greater_equal": ("_greater_equal_scalar", "_lesser_equal_scalar"),
                "lesser": ("_lesser_scalar", "_greater_scalar"),
                "lesser_equal": ("_lesser_equal_scalar", "_greater_equal_scalar")}


def _compare(name):
    scalar, rscalar = _COMPARISONS[name]
    return _scalar_or_broadcast(name, scalar, rscalar)


ND_FUNCTIONS = {
    **{name: _unary(name) for name in _ZERO_PRESERVING
       if not name.startswith("_") and name not in ("make_loss", "BlockGrad")},
    "stop_gradient": _unary("BlockGrad"), "BlockGrad": _unary("BlockGrad"),
    "identity": _unary("_copy"),
    **{f"elemwise_{n}": _same_shape(f"elemwise_{n}") for n in ("add", "sub", "mul", "div")},
    **{name: _arith(op) for op, names in (("add", ("add", "broadcast_add", "broadcast_plus")),
                                          ("sub", ("subtract", "broadcast_sub",
                                                   "broadcast_minus")),
                                          ("mul", ("multiply", "broadcast_mul")),
                                          ("div", ("divide", "broadcast_div")))
       for name in names},
    **{n: _compare(n) for n in _COMPARISONS},
    **{f"broadcast_{n}": _compare(n) for n in _COMPARISONS},
    "clip": lambda a: ("clip", [a["data"]], {"a_min": a["a_min"], "a_max": a["a_max"]}),
    **{name: (lambda a: ("slice", [a["data"]], {"step": a.get("step")}))
       for name in ("slice", "crop")},
    "add_n": lambda a: ("add_n", list(a["args"]), {}),
    "quadratic": lambda a: ("_contrib_quadratic", [a["data"]], {"c": a["c"]}),
    "BatchNorm": lambda a: ("BatchNorm", [a[k] for k in ("data", "gamma", "beta",
                                                         "moving_mean", "moving_var")],
                            {"fix_gamma": a["fix_gamma"]}),
    "take": lambda a: ("take", [a["a"], a["indices"]],
                       {"axis": a["axis"], "mode": a["mode"],
                        "one_d": len(getattr(a["indices"], "shape", (0,))) == 1}),
    "ElementWiseSum": lambda a: ("add_n", list(a["args"]), {}),
}


def _listing(op, arrays, stype, out_shape):
    """The entries the result lists beyond its nonzeros: its sparse operands' (all of them
    for sums, the one sparse factor's for products); none for zeros_like or a reshaped
    result."""
    from .sparse import _CLASS
    cls = _CLASS[stype]
    base = ALIASES.get(op, op)
    same = len(arrays) > 1 and all(type(a) is cls and tuple(a.shape) == tuple(out_shape)
                                   for a in arrays)
    if same and base in _MERGED:
        if stype == "csr":      # CsrCsrOp keeps the nonzero results only
            return None
        from .sparse_kernels import _listing as rows   # RspRspOp / ElementwiseSumRspImpl:
        out = rows(arrays[0])                          # every row either operand stores
        for a in arrays[1:]:
            more = rows(a)
            out = more if out is None else out if more is None else out | more
        return out
    stored = [a._stored for a in arrays if type(a) is cls and a._stored is not None
              and tuple(a.shape) == tuple(out_shape)]
    sparse_operands = sum(type(a) is cls for a in arrays)
    if op == "zeros_like" or not stored:
        return None
    if ALIASES.get(op, op) in _ADDITIVE:
        out = stored[0]
        for s in stored[1:]:
            out = out | s
        return out
    return stored[0] if sparse_operands == 1 else None


def following_storage(f, name):
    """nd function `f` (ND_FUNCTIONS[name] says which operator it is) with MXNet's output
    storage for sparse inputs; a call without one costs a scan of its positional args."""
    from . import sparse_kernels
    from .sparse import BaseSparseNDArray, _dense, _relabel, _CLASS
    resolve = ND_FUNCTIONS[name]
    signature = inspect.signature(f)
    own = frozenset(signature.parameters)

    @functools.wraps(f)
    def op(*args, **kwargs):
        for a in args:
            if isinstance(a, BaseSparseNDArray):
                break
        else:
            if not kwargs or not any(isinstance(v, BaseSparseNDArray)
                                     for v in kwargs.values()):
                return f(*args, **kwargs)
        try:
            bound = signature.bind_partial(*args, **{k: v for k, v in kwargs.items()
                                                     if k in own})
            bound.apply_defaults()
            opname, arrays, params = resolve(bound.arguments)
        except (TypeError, KeyError):    # (f says what is wrong with the arguments)
            return f(*[_dense(a) for a in args], **{k: _dense(v) for k, v in kwargs.items()})
        if "out" not in kwargs:          # (MXNet's kernels that compute stored entries only)
            out = sparse_kernels.compute(opname, arrays, params)
            if out is not None:
                return out
        out = f(*[_dense(a) for a in args], **{k: _dense(v) for k, v in kwargs.items()})
        if "out" in kwargs or not hasattr(out, "stype"):
            return out
        stype = infer(opname, [getattr(x, "stype", DENSE) for x in arrays], params)
        if stype == DENSE:
            return out
        return _relabel(_dense(out), _CLASS[stype], _listing(opname, arrays, stype, out.shape))
    return op
