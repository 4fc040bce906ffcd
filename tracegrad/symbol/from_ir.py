"""A traced forward (tracegrad IR) rewritten as an MXNet Symbol, for HybridBlock.export.

Each IR primitive maps to the MXNet operator that computes the same values (add of two arrays
-> broadcast_add, of an array and a number -> _plus_scalar, matmul -> dot / batch_dot,
im2col -> MXNet's im2col then a reshape and transpose into the IR's layout, ...), so the
written JSON loads in MXNet 1.9.1 and in tracegrad (symbol/gluon_block.py) alike. A graph
holding an op without a counterpart here (or non-float values, whose scalar rules differ)
raises Unsupported and export keeps tracegrad's own IR format.
"""
import numpy as np

from ..ir.function import Literal
from ..ir.types import DTYPES
from .symbol import _make, var


class Unsupported(Exception):
    """The graph uses something MXNet's operators cannot express exactly (says what)."""


_UNARY = {n: n for n in ("abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
                         "arctanh", "cos", "cosh", "erf", "erfinv", "exp", "expm1", "floor",
                         "log", "log1p", "relu", "sigmoid", "sign", "sin", "sinh", "sqrt",
                         "tan", "tanh")}
_UNARY["neg"] = "negative"
_UNARY["stop_gradient"] = "BlockGrad"
# IR op -> (array-array op, array-scalar op, scalar-array op)
_BINARY = {
    "add": ("broadcast_add", "_plus_scalar", "_plus_scalar"),
    "sub": ("broadcast_sub", "_minus_scalar", "_rminus_scalar"),
    "mul": ("broadcast_mul", "_mul_scalar", "_mul_scalar"),
    "div": ("broadcast_div", "_div_scalar", "_rdiv_scalar"),
    "pow": ("broadcast_power", "_power_scalar", "_rpower_scalar"),
    "maximum": ("broadcast_maximum", "_maximum_scalar", "_maximum_scalar"),
    "minimum": ("broadcast_minimum", "_minimum_scalar", "_minimum_scalar"),
    "mod": ("broadcast_mod", "_mod_scalar", "_rmod_scalar"),
}
_REDUCE = {"sum": "sum", "max": "max", "min": "min", "prod": "prod"}
_FLOATS = ("f32", "f64")


class _Converter:
    def __init__(self):
        self.count = {}

    def make(self, op, inputs, attrs):
        k = self.count.get(op, 0)
        self.count[op] = k + 1
        name = f"{op.lstrip('_').lower()}{k}"
        return _make(op, inputs, attrs, name=name)

    def rank(self, sym, value_shape, ndim):
        """sym reshaped with leading ones to `ndim` axes (MXNet's broadcast ops align axes
        exactly; the IR broadcasts numpy-style)."""
        if len(value_shape) == ndim:
            return sym
        return self.make("Reshape", {"data": sym},
                         {"shape": (1,) * (ndim - len(value_shape)) + tuple(value_shape)})

    def convert(self, op, args):
        name, attrs = op.opdef.name, op.attrs
        res = op.results[0]
        if name in _UNARY:
            return self.make(_UNARY[name], {"data": args[0]}, {})
        if name in _BINARY:
            both, right, left = _BINARY[name]
            a, b = args
            if isinstance(a, Literal) and isinstance(b, Literal):
                raise Unsupported(f"{name} of two literals")
            if isinstance(b, Literal):
                return self.make(right, {"data": a}, {"scalar": float(b.value)})
            if isinstance(a, Literal):
                return self.make(left, {"data": b}, {"scalar": float(a.value)})
            nd_ = len(res.type.shape)
            a = self.rank(a, op.operands[0].type.shape, nd_)
            b = self.rank(b, op.operands[1].type.shape, nd_)
            return self.make(both, {"lhs": a, "rhs": b}, {})
        if name == "reshape":
            shape = tuple(attrs["shape"])
            if any(d <= 0 for d in shape):
                raise Unsupported(f"reshape to {shape} (MXNet reads 0 and -1 as codes)")
            return self.make("Reshape", {"data": args[0]}, {"shape": shape})
        if name == "transpose":
            return self.make("transpose", {"data": args[0]}, {"axes": tuple(attrs["perm"])})
        if name == "expand_dims":
            return self.make("expand_dims", {"data": args[0]}, {"axis": int(attrs["axis"])})
        if name == "broadcast_to":
            shape = tuple(attrs["shape"])
            x = self.rank(args[0], op.operands[0].type.shape, len(shape))
            return self.make("broadcast_to", {"data": x}, {"shape": shape})
        if name in _REDUCE:
            axes = tuple(attrs["axes"])
            if not axes:
                return self.make("_copy", {"data": args[0]}, {})
            return self.make(_REDUCE[name], {"data": args[0]},
                             {"axis": axes, "keepdims": bool(attrs.get("keepdims", False))})
        if name == "slice":
            step = tuple(attrs["step"])
            if any(s <= 0 for s in step):
                raise Unsupported("slice with a negative step")
            return self.make("slice", {"data": args[0]},
                             {"begin": tuple(attrs["begin"]), "end": tuple(attrs["end"]),
                              "step": step})
        if name == "concat":
            return self.make("Concat", list(args), {"dim": int(attrs["axis"])})
        if name == "cast":
            return self.make("Cast", {"data": args[0]},
                             {"dtype": np.dtype(DTYPES[attrs["dtype"]]).name})
        if name == "matmul":
            ta, tb = bool(attrs.get("transpose_a")), bool(attrs.get("transpose_b"))
            ra, rb = (len(v.type.shape) for v in op.operands[:2])
            kw = {"transpose_a": ta, "transpose_b": tb}
            if ra == rb == 2:
                return self.make("dot", {"lhs": args[0], "rhs": args[1]}, kw)
            if ra == rb == 3:
                return self.make("batch_dot", {"lhs": args[0], "rhs": args[1]}, kw)
            raise Unsupported(f"matmul of {ra}-d and {rb}-d operands")
        if name == "constant":
            return self.make("_full", {}, {"shape": tuple(attrs["shape"]),
                                           "value": float(attrs["value"]),
                                           "dtype": np.dtype(DTYPES[attrs["dtype"]]).name})
        if name == "im2col":
            return self.im2col(op, args[0])
        raise Unsupported(f"op {name}")

    def im2col(self, op, x):
        a = op.attrs
        if list(a["pad_lo"]) != list(a["pad_hi"]) or float(a.get("pad_value", 0.0)) != 0.0:
            raise Unsupported("im2col with asymmetric or non-zero padding")
        kernel = tuple(a["kernel"])
        cols = self.make("im2col", {"data": x}, {
            "kernel": kernel, "stride": tuple(a["stride"]), "dilate": tuple(a["dilate"]),
            "pad": tuple(a["pad_lo"])})
        c, *_rest = op.results[0].type.shape
        n = op.operands[0].type.shape[0]
        spatial = op.results[0].type.shape[1 + len(kernel) + 1:]
        shaped = self.make("Reshape", {"data": cols},
                           {"shape": (n, c) + kernel + tuple(spatial)})
        k = len(kernel)
        perm = tuple(range(1, 2 + k)) + (0,) + tuple(range(2 + k, 2 + 2 * k))
        return self.make("transpose", {"data": shaped}, {"axes": perm})


def ir_to_symbol(fn, names, n_inputs=0):
    """The Symbols computing ir.Function `fn`'s outputs, its parameters the variables `names`
    (each with its __shape__ and __dtype__: the traced graph's shapes are static)."""
    for v in fn.params:
        if v.type.dtype not in _FLOATS:
            raise Unsupported(f"a {v.type.dtype} input")
    conv = _Converter()
    vals = {}
    for v, name in zip(fn.params, names):   # (shapes are static: the inputs' too)
        vals[id(v)] = var(name, shape=v.type.shape, dtype=np.dtype(DTYPES[v.type.dtype]))
    for op in fn.ops:
        if op.opdef.nresults != 1 or len(op.results) != 1:
            raise Unsupported(f"op {op.opdef.name} with {len(op.results)} results")
        if op.results[0].type.dtype not in _FLOATS:
            raise Unsupported(f"op {op.opdef.name} gives {op.results[0].type.dtype} values")
        args = [o if isinstance(o, Literal) else vals[id(o)] for o in op.operands]
        vals[id(op.results[0])] = conv.convert(op, args)
    outs = []
    for o in fn.outputs:
        if isinstance(o, Literal) or id(o) not in vals:
            raise Unsupported("an output that is a literal")
        outs.append(vals[id(o)])
    return outs
