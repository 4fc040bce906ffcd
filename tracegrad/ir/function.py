"""SSA values, operations, functions and the Builder that creates typed ops.

A `Function` is a flat list of `Operation`s over typed `Value`s. Ops are created only through
`Builder.emit` (or methods generated from the registry, `b.mul(x, y)`), which runs the op's type
rule, so every value is typed when it is born. Imports only `ir.types`.
"""
import math

import numpy as np

from .attrs import check_attr
from .types import DTYPES, FLOATS, TensorType


class Value:
    """An SSA value: a result of an operation, or a function parameter (producer None)."""
    __slots__ = ("type", "producer", "index", "name_hint", "__weakref__")

    def __init__(self, type, producer=None, index=0, name_hint=None):
        self.type, self.producer, self.index, self.name_hint = type, producer, index, name_hint

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    def __repr__(self):
        return f"<Value {self.name_hint or ''}: {self.type}>"


class Literal:
    """A scalar constant operand, printed inline (`sub 1.0, %3`); typed by the op that uses it.
    An integer one must fit its dtype (numpy refuses `int32 array + 2**31` as well): compiled
    code would wrap it around silently."""
    __slots__ = ("value", "type")

    def __init__(self, value, dtype: str):
        if dtype in FLOATS:
            value = float(value)
        elif dtype == "bool":
            value = bool(value)
        else:
            value = int(value)
            info = _INT_RANGE.get(dtype)
            if info is not None and not info[0] <= value <= info[1]:
                raise OverflowError(f"Python integer {value} out of bounds for {dtype}")
        self.value, self.type = value, TensorType(dtype, ())

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def shape(self):
        return ()

    def array(self):
        return DTYPES[self.type.dtype].type(self.value)

    def text(self) -> str:
        v = self.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        return str(v)

    def key(self):
        return ("lit", self.type.dtype, self.value)

    def __eq__(self, other):
        return isinstance(other, Literal) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        return f"<Literal {self.text()}: {self.type}>"


_INT_RANGE = {d: (int(np.iinfo(DTYPES[d]).min), int(np.iinfo(DTYPES[d]).max))
              for d in DTYPES if DTYPES[d].kind in "iu"}


def literal_dtype(value, operands) -> str:
    """dtype of a Python scalar used beside `operands` (numpy's weak-scalar rule, NEP 50)."""
    ref = None
    for o in operands:
        if isinstance(o, (Value, Literal)) and o.type.dtype != "bool":
            ref = o.type.dtype
            break
    if isinstance(value, (bool, np.bool_)):
        return ref or "bool"
    is_float = isinstance(value, (float, np.floating))
    if ref in FLOATS:
        return ref
    if ref is not None:  # an int operand
        return "f64" if is_float else ref
    return "f32" if is_float else "i64"


class Operation:
    """One op: its registry entry, operands (Values or Literals), attributes and results."""
    __slots__ = ("opdef", "operands", "attrs", "results", "loc")

    def __init__(self, opdef, operands, attrs, result_types, loc=None):
        self.opdef, self.operands, self.attrs, self.loc = opdef, tuple(operands), attrs, loc
        if len(result_types) == 1:      # (most ops: no generator per op built)
            self.results = (Value(result_types[0], self, 0),)
        else:
            self.results = tuple([Value(t, self, i) for i, t in enumerate(result_types)])

    @property
    def name(self):
        return self.opdef.name

    @property
    def result(self):
        return self.results[0]

    def __repr__(self):
        return f"<Operation {self.opdef.name} -> {', '.join(str(r.type) for r in self.results)}>"


class Function:
    """A typed SSA function: parameters, ops in definition order, and returned values."""
    __slots__ = ("name", "params", "ops", "outputs")

    def __init__(self, name="f", params=(), ops=(), outputs=()):
        self.name, self.params = name, list(params)
        self.ops, self.outputs = list(ops), list(outputs)

    @property
    def input_types(self):
        return [p.type for p in self.params]

    @property
    def output_types(self):
        return [o.type for o in self.outputs]

    def __str__(self):
        from .printer import print_function
        return print_function(self)

    def __repr__(self):
        return f"<Function @{self.name}: {len(self.params)} params, {len(self.ops)} ops>"


def canonical_attrs(opdef, attrs: dict) -> dict:
    """Defaults filled in, lists made tuples, keys sorted: equal ops get equal attrs (for CSE);
    every given attribute checked against what it may hold (ir/attrs.py)."""
    merged = dict(opdef.defaults)
    for k, v in attrs.items():
        if k not in merged and k not in opdef.attr_names:
            raise TypeError(f"{opdef.name}: unknown attribute {k!r}; "
                            f"expected one of {sorted(set(opdef.defaults) | opdef.attr_names)}")
        merged[k] = v = _freeze(v)
        check_attr(opdef, k, v)
    return dict(sorted(merged.items()))


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


class Builder:
    """Appends typed ops to a Function. `b.<opname>(*operands, **attrs)` exists for every
    registered op (generated by the registry); composites are plain functions taking `b`."""

    def __init__(self, fn: Function | None = None, name="f"):
        self.fn = fn if fn is not None else Function(name)
        self.loc = None  # source location stamped on the ops emitted next (copy_ops, vjp)

    def param(self, type: TensorType, name=None) -> Value:
        v = Value(type, None, len(self.fn.params), name)
        self.fn.params.append(v)
        return v

    def const(self, value, like=None, dtype=None) -> Literal:
        """A scalar literal with the dtype of `like` (a Value) or `dtype`."""
        if dtype is None:
            dtype = like.type.dtype if like is not None else literal_dtype(value, ())
        return Literal(value, dtype)

    def emit(self, opname, *operands, **attrs):
        opdef = _registry()[opname]
        ops = []
        for o in operands:
            if not isinstance(o, (Value, Literal)):
                o = Literal(o, literal_dtype(o, operands))
            ops.append(o)
        attrs = canonical_attrs(opdef, attrs)
        types = opdef.infer(*[o.type for o in ops], **attrs)
        op = Operation(opdef, ops, attrs, types if isinstance(types, tuple) else (types,),
                       self.loc)
        self.fn.ops.append(op)
        return op.results[0] if len(op.results) == 1 else op.results

    def copy(self, op, operands, reuse=False):
        """`op` again on `operands` (Values or Literals), for a pass rebuilding a function:
        its attributes are canonical already (every Operation's are: emit and the parser make
        them), so only the result types are inferred again. `reuse` (the new function
        replaces op's): op itself when its operands are the same ones (ops are never changed
        once made, so two functions may share one)."""
        if reuse and tuple(operands) == op.operands:   # (Values and Literals: by identity)
            self.fn.ops.append(op)
            return op.results[0] if len(op.results) == 1 else op.results
        types = op.opdef.infer(*[o.type for o in operands], **op.attrs)
        new = Operation(op.opdef, operands, op.attrs,
                        types if isinstance(types, tuple) else (types,), self.loc)
        self.fn.ops.append(new)
        return new.results[0] if len(new.results) == 1 else new.results

    def ret(self, *values) -> Function:
        self.fn.outputs = list(values)
        return self.fn


def _registry():
    """ir.ops.REGISTRY (imported on first use: ir.ops imports this module)."""
    global _REGISTRY
    if _REGISTRY is None:
        from .ops import REGISTRY
        _REGISTRY = REGISTRY
    return _REGISTRY


_REGISTRY = None
