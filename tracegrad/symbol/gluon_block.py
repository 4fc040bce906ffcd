"""gluon.SymbolBlock over a Symbol (MXNet's `SymbolBlock(outputs, inputs, params)` and the
MXNet-JSON branch of `SymbolBlock.imports`).

Every argument of the graph that is not an input becomes a Parameter named as the variable
(trainable), every auxiliary state a Parameter with grad_req 'null'; shapes come from the
variables' __shape__ attributes, or from the first input by shape inference (deferred
initialization). forward evaluates the graph with nd operators, so the block records for
autograd and hybridize() compiles it like any HybridBlock.
"""
import os

import numpy as np

from ..base import MXNetError
from .inference import infer, var_dtype_attr, var_shape_attr
from .literal import LiteralError, parse_literal
from .symbol import Group, Symbol, evaluate

CONST_ATTR = "__tracegrad_const__"   # a variable export wrote for a captured constant


def own_initializer(node):
    """The variable's own initializer from its __init__ attribute ('zeros', or MXNet's
    Initializer.dumps() form '["normal", {"sigma": 0.01}]'), or None."""
    from .. import initializer
    from ..untrusted import parse_json
    text = node.attrs.get("__init__")
    if text:
        try:
            spec = parse_json(text, "__init__") if text.lstrip().startswith("[") \
                else [text, {}]
            name, kwargs = spec[0], spec[1] if len(spec) > 1 else {}
            if isinstance(name, str) and isinstance(kwargs, dict) and all(
                    v is None or isinstance(v, (int, float, str)) or _numbers(v)
                    for v in kwargs.values()):
                klass = initializer._REGISTRY.get(name.lower())
                if klass is not None:
                    return klass(**kwargs)
        except (MXNetError, ValueError, TypeError, IndexError):
            pass
    return None


def _numbers(value) -> bool:
    """A JSON array of numbers, nested (Constant's value as its dumps() writes an array)."""
    return isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) or _numbers(v) for v in value)


def _initializer_of(node):
    """own_initializer, else MXNet's rule by name suffix (bias 0, gamma 1, ...)."""
    own = own_initializer(node)
    if own is not None:
        return own
    name = node.name
    if name.endswith(("bias", "beta", "moving_mean", "running_mean")):
        return "zeros"
    if name.endswith(("gamma", "moving_var", "running_var")):
        return "ones"
    return None


def _mult(node, key):
    text = node.attrs.get(key)
    if text is None:
        return 1.0
    try:
        v = parse_literal(text)
    except LiteralError:
        return 1.0
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 1.0


def setup(block, outputs, inputs, params=None):
    """Fill a SymbolBlock from (outputs, inputs[, params]) as MXNet's constructor does."""
    from ..gluon.parameter import Parameter
    if isinstance(outputs, (list, tuple)):
        outputs = Group(list(outputs))
    if not isinstance(outputs, Symbol):
        raise MXNetError(f"SymbolBlock: outputs must be a Symbol or a list of Symbols, got "
                         f"{type(outputs).__name__}")
    inputs = [inputs] if isinstance(inputs, Symbol) else list(inputs)
    names = []
    for s in inputs:
        if not isinstance(s, Symbol) or len(s) != 1 or s._outputs[0][0].op is not None:
            raise MXNetError("SymbolBlock: inputs must be variables (mx.sym.var)")
        names.append(s.name)
    order = outputs._order()
    by_name = {n.name: n for n in order if n.op is None}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise MXNetError(f"SymbolBlock: inputs {missing} are not variables of the graph "
                         f"(it has {list(by_name)})")
    sparse = [n.name for n in order if n.op is None and n.name not in names
              and n.attrs.get("__storage_type__") == "1"]
    if sparse:      # (MXNet asserts this: its programs catch AssertionError)
        raise SymbolBlockError(f"SymbolBlock doesn't support Parameter {sparse[0]!r} because "
                               f"its storage type is 'row_sparse'")
    aux = set(outputs.list_auxiliary_states())
    shared = params if params is not None else {}
    block._sym, block._sym_inputs, block._sym_params = outputs, names, []
    block._sym_input_shapes = [var_shape_attr(by_name[n]) for n in names]
    for name in outputs.list_inputs():
        if name in names:
            continue
        node = by_name[name]
        p = (shared._lookup(name) if hasattr(shared, "_lookup")
             else shared.get(name) if isinstance(shared, dict) else None)
        if p is None:
            shape = var_shape_attr(node)
            raw = node.attrs.get("__shape__")
            if shape is None and raw is not None:   # Gluon's (10, 0): unknown dims
                try:
                    lit = parse_literal(raw)
                    shape = tuple(max(int(d), 0) for d in lit) if isinstance(lit, tuple) \
                        else None
                except (LiteralError, TypeError, ValueError):
                    shape = None
            const = node.attrs.get(CONST_ATTR) is not None
            p = Parameter(name, grad_req="null" if (name in aux or const) else "write",
                          shape=shape, dtype=var_dtype_attr(node) or np.float32,
                          lr_mult=_mult(node, "__lr_mult__"), wd_mult=_mult(node, "__wd_mult__"),
                          init=_initializer_of(node), allow_deferred_init=True)
        block._params._add(p)
        block._sym_params.append((name, p))
    # structural names (save_parameters) without the names' common prefix, as MXNet keys a
    # SymbolBlock's parameters: a file saved from one instance loads into another
    cut = len(os.path.commonprefix([name for name, _ in block._sym_params]))
    for name, p in block._sym_params:
        block._reg_params[name[cut:]] = p


class SymbolBlockError(MXNetError, AssertionError):
    """A graph SymbolBlock cannot hold (MXNet asserts it)."""


def infer_param_shapes(block, args):
    """Unknown parameter shapes from the inputs' shapes (deferred initialization)."""
    known = {n: tuple(a.shape) for n, a in zip(block._sym_inputs, args)}
    types = {n: np.dtype(a.dtype) for n, a in zip(block._sym_inputs, args)}
    for name, p in block._sym_params:
        if p._shape is not None and all(d > 0 for d in p._shape):
            known[name] = p._shape
    _, shapes, _ = infer(block._sym, known, types, partial=True)
    for name, p in block._sym_params:
        s = shapes.get(name)
        if s is None:
            raise MXNetError(f"SymbolBlock: cannot infer the shape of '{name}' from inputs of "
                             f"shapes {list(known.values())[:len(args)]}")
        p.shape = s


def forward(block, args):
    if len(args) != len(block._sym_inputs):
        raise MXNetError(f"SymbolBlock: expected {len(block._sym_inputs)} inputs "
                         f"{block._sym_inputs}, got {len(args)}")
    if any(isinstance(a, Symbol) for a in args):   # (a symbolic call: the graph composed
        # onto the given Symbols, the parameters as their variables, as MXNet's SymbolBlock)
        if not all(isinstance(a, Symbol) for a in args):
            raise MXNetError(f"SymbolBlock: inputs must be all Symbols or all arrays, got "
                             f"{[type(a).__name__ for a in args]}")
        feeds = dict(zip(block._sym_inputs, args))
        feeds.update((name, p.var()) for name, p in block._sym_params)
        return block._sym(**feeds)
    for name, a, want in zip(block._sym_inputs, args, block._sym_input_shapes):
        if want is not None and tuple(a.shape) != want:
            raise MXNetError(f"input '{name}' has shape {tuple(a.shape)} but the graph's "
                             f"__shape__ says {want} (an exported graph's shapes are static)")
    values = dict(zip(block._sym_inputs, args))
    for name, p in block._sym_params:
        values[name] = p.data()
    outs = evaluate(block._sym, values)
    return outs[0] if len(outs) == 1 else outs


def imports(doc, symbol_file, input_names, param_file, allow_missing, ignore_extra):
    """SymbolBlock.imports for an MXNet JSON document already read from symbol_file."""
    from ..gluon.parameter import load_into
    from ..gluon.symbol_block import SymbolBlock
    from ..nd import load_arrays
    from .json_format import from_document
    from .symbol import var
    sym = from_document(doc, str(symbol_file))
    input_names = [input_names] if isinstance(input_names, str) else list(input_names)
    block = SymbolBlock(sym, [var(n) for n in input_names])
    if param_file is not None:
        arrays = {}
        for k, v in load_arrays(param_file).items():
            key = k.split(":", 1)[1] if k.startswith(("arg:", "aux:")) else k
            arrays[key] = v
        params = dict(block._params.items())
        for name, p in params.items():   # a variable without __shape__: the file's
            if p._shape is None and name in arrays:
                p.shape = arrays[name].shape
        load_into(params, arrays, allow_missing, ignore_extra, param_file)
    return block
