"""export / SymbolBlock.imports: a block's forward saved, loaded back.

export writes MXNet's JSON and binary .params when it can (export's docstring: the block's
own graph on mx.sym variables, else the traced primitives mapped to MXNet ops). Otherwise
prefix-symbol.json holds tracegrad's IR format {"inputs", "params", "ir"}: the ir.Function of
the forward traced in inference mode, whose parameters are the inputs then the captured arrays
(the block's Parameters, or constants). prefix-%04d.params is an .npz keyed 'arg:name' (trainable),
'aux:name' (grad_req null) or 'const:name'. Loading parses the text with ir.parse (only
registered ops, nothing eval'd or unpickled) and runs it through the recording interpreter, so
the imported block's parameters get gradients.
"""
import contextlib
import json

import numpy as np

from .. import array, nested
from ..array import NDArray
from ..base import MXNetError
from ..ir.types import dtype_name
from ..nd import load_arrays, save_arrays
from ..runtime.interpret import Program
from .block import HybridBlock, inside_hybrid_call
from .parameter import Parameter

_FORMAT = "tracegrad-symbol"


def _input_names(n):
    return ["data"] if n == 1 else [f"data{i}" for i in range(n)]


def export(block, path, epoch=0, fmt="auto", remove_amp_cast=True):
    """Trace block.forward on the inputs of its last hybridized call and write both files.
    fmt 'auto': MXNet's JSON and .params, preferably the block called on mx.sym variables
    (MXNet's own export graph: it loads for any batch size), else the traced graph's
    primitives mapped to MXNet ops (shapes fixed to the traced call's); when neither computes
    what the traced graph does (or with fmt 'tracegrad'), tracegrad's IR format. A
    SymbolBlock over mx.sym Symbols not called yet writes its own Symbol (MXNet's SymbolBlock
    holds its graph from the start: amp.convert_hybrid_block's result exports at once)."""
    sym_file, param_file = f"{path}-symbol.json", f"{path}-{epoch:04d}.params"
    if block.__dict__.get("_sym") is not None and block._cached_args is None and fmt == "auto":
        return _export_own_symbol(block, sym_file, param_file, remove_amp_cast)
    mxnet, graph, _ = mxnet_graph(block) if fmt == "auto" else (None, None, None)
    if mxnet is not None:
        from .. import mxnet_format
        sym, keys, values = mxnet
        sym.save(sym_file)
        mxnet_format.write(param_file, values, keys)
        return sym_file, param_file
    save_arrays(param_file, _write_tracegrad_symbol(sym_file, *(graph or _traced_graph(block))))
    return sym_file, param_file


def mxnet_graph(block):
    """((Symbol, .params keys, arrays) in MXNet's format or None, the traced graph or None,
    the input names) of block's last hybridized call: the block called on mx.sym variables
    when that computes what its forward does (no trace needed), else the traced primitives
    mapped to MXNet ops (the trace is returned too: tracegrad's format is written from it)."""
    flat, in_fmt = _flatten(list(_cached_args(block)), "input")
    inputs = _input_names(len(flat))
    found = _block_symbol(block, inputs, flat, in_fmt)
    if found is not None:
        return found, None, inputs
    graph = _traced_graph(block)
    return _mxnet_symbol(*graph), graph, inputs


def _cached_args(block):
    args = block._cached_args
    if args is None:
        raise MXNetError(f"{block.name}: export needs the block hybridized and run once: call "
                         f"net.hybridize() and net(x) before net.export(path)")
    return args


def _export_own_symbol(block, sym_file, param_file, remove_amp_cast):
    from .. import mxnet_format
    sym = block._sym
    params = {p.name: p for p in block.collect_params().values()}
    keys = [f"arg:{n}" for n in sym.list_arguments() if n not in block._sym_inputs] + \
        [f"aux:{n}" for n in sym.list_auxiliary_states()]
    values = [params[k.split(":", 1)[1]].data()._data for k in keys]
    sym.save(sym_file, remove_amp_cast=remove_amp_cast)
    mxnet_format.write(param_file, values, keys)
    return sym_file, param_file


def write_symbol(block, sym_file):
    """Write only the symbol file of block's last hybridized call, in export's format (the
    Estimator's CheckpointHandler saves the parameters itself)."""
    mxnet, graph, _ = mxnet_graph(block)
    if mxnet is not None:
        mxnet[0].save(sym_file)
    else:
        _write_tracegrad_symbol(sym_file, *(graph or _traced_graph(block)))


def _traced_graph(block):
    """(IR Function of the inference forward, input names, [name, kind] of its captured
    arrays, their arrays by 'kind:name', the traced arguments flattened, their nesting, the
    forward's outputs on them as numpy arrays: what a written graph must compute). Nested
    inputs (an RNN's [h, c] state) are inputs data0, data1, ... in flattened order, nested
    outputs outputs in that order, as in MXNet's export."""
    from ..tracing.trace import trace
    flat, in_fmt = _flatten(list(_cached_args(block)), "input")

    def forward(*xs):   # (nested inputs and outputs flattened, as MXNet's export graph has them)
        out = block.forward(*nested.regroup(list(xs), in_fmt)[0])
        return out if isinstance(out, NDArray) else _flatten(out, "output")[0]
    forward.__name__ = "forward"
    with inside_hybrid_call(), _attributes_kept(block):
        tr = trace(forward, flat, name="forward", training=False, root=block)
    if tr.guards:  # an exported graph holds one path: refuse rather than bake one branch
        why, where = tr.guards[0]
        raise MXNetError(f"{block.name}: export cannot hold Python control flow on data: the "
                         f"forward reads a concrete value ({why}) at {where}")
    fn = tr.function
    inputs = _input_names(tr.n_inputs)
    for v, name in zip(fn.params, inputs):
        v.name_hint = name
    by_data = {id(p._data._data): p for p in block.collect_params().values()
               if p._data is not None}
    specs, arrays = [], {}
    for i, leaf in enumerate(tr.captured):
        p = by_data.get(id(leaf.data))
        if p is not None:
            name, kind = p.name, ("arg" if p.grad_req != "null" else "aux")
        else:
            name, kind = f"_const{i}", "const"
        fn.params[tr.n_inputs + i].name_hint = name
        specs.append([name, kind])
        arrays[f"{kind}:{name}"] = leaf.data
    # (the trace computed them: the IR run again would give these very values)
    return fn, inputs, specs, arrays, flat, in_fmt, [o.asnumpy() for o in tr.outputs]


def _flatten(obj, what):
    """(arrays of a nested list of NDArrays, its format: nested.regroup rebuilds it)."""
    return nested.flatten(obj, f"export: the block's {what}", NDArray, "NDArray")


@contextlib.contextmanager
def _attributes_kept(block):
    """The attributes of block and its children as they were before, after export ran the
    forward (a forward storing what it computes, self.output = y, as MXNet's VAE example
    does, would keep the trace's array or a Symbol there)."""
    from .block import ATTRIBUTE_VERSION, _tree
    saved = [(b, dict(b.__dict__)) for b in _tree(block)]
    try:
        yield
    finally:
        for b, attrs in saved:
            b.__dict__.clear()
            b.__dict__.update(attrs)
        ATTRIBUTE_VERSION[0] += 1   # (written past Block.__setattr__)


def _write_tracegrad_symbol(sym_file, fn, inputs, specs, arrays, args, in_fmt, want):
    """tracegrad's IR-format symbol file; returns the arrays its .params file holds."""
    meta = {"format": _FORMAT, "version": 1, "inputs": inputs, "params": specs,
            "ir": str(fn)}
    with open(sym_file, "w") as f:
        json.dump(meta, f, indent=1)
    return arrays


def _mxnet_symbol(fn, inputs, specs, arrays, args, in_fmt, want):
    """(Symbol, .params keys, arrays) in MXNet's format when every op has an MXNet
    counterpart (tracegrad/symbol/from_ir.py) and the MXNet graph computes what the traced
    one does on the traced inputs; None when not (tracegrad's IR is written instead)."""
    from ..autograd import pause
    from ..symbol import Group
    from ..symbol.from_ir import Unsupported, ir_to_symbol
    from ..symbol.gluon_block import CONST_ATTR
    from ..symbol.symbol import evaluate
    try:
        outs = ir_to_symbol(fn, inputs + [name for name, _ in specs], n_inputs=len(inputs))
        sym = outs[0] if len(outs) == 1 else Group(outs)
        values = {n: a for n, a in zip(inputs, args)}
        values.update({name: array.wrap(arrays[f"{kind}:{name}"]) for name, kind in specs})
        with pause(train_mode=False), np.errstate(all="ignore"):
            got = [o.asnumpy() for o in evaluate(sym, values)]
    except (Unsupported, MXNetError):
        return None
    for g, w in zip(got, want):
        w = np.asarray(w)
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-4, atol=1e-5, equal_nan=True):
            return None   # (never write a file that computes something else)
    internals = {n.name: n for n in sym._order() if n.op is None}
    keys, kept = [], []
    for name, kind in specs:
        if name not in internals:
            continue   # (folded away: not read by the graph)
        if kind == "const":
            internals[name].attrs[CONST_ATTR] = "1"
        keys.append(f"arg:{name}")
        kept.append(arrays[f"{kind}:{name}"])
    return sym, keys, kept


def _block_symbol(block, inputs, args, in_fmt=None):
    """(Symbol, .params keys, arrays) of the block called on mx.sym variables, MXNet's own
    export graph (FullyConnected, Convolution, BatchNorm with its running statistics as
    'aux:' states, ...; shapes follow the inputs, as MXNet's do); None unless the Symbol
    runs and computes what the block's forward does on the traced inputs. Checked on their
    first sample when they share a batch axis (a forward at a training batch costs seconds;
    the Symbol takes any batch), on the whole inputs when that fails or differs."""
    from .. import symbol
    params = {p.name: p for p in block.collect_params().values()}
    try:
        with _attributes_kept(block):   # (self.output = y would keep a Symbol)
            syms = [symbol.var(n) for n in inputs]
            out = block(*(syms if in_fmt is None else nested.regroup(syms, in_fmt)[0]))
        if isinstance(out, (list, tuple)):
            out = symbol.Group(nested.flatten(out, "export", symbol.Symbol, "Symbol")[0])
        sym = out
        arg_names, aux_names = sym.list_arguments(), sym.list_auxiliary_states()
        values = {n: params[n].data() for n in arg_names + aux_names if n not in inputs}
    except Exception:     # noqa: BLE001  (a block or op with no symbolic form, a variable
        return None       # that is no parameter)
    batch = {a.shape[0] if a.ndim else None for a in args}
    sample = [a[:1] for a in args] if len(batch) == 1 and (batch.pop() or 0) > 1 else None
    if not ((sample is not None and _computes_forward(block, sym, inputs, sample, values,
                                                      in_fmt))
            or _computes_forward(block, sym, inputs, args, values, in_fmt)):
        return None
    keys = [f"arg:{n}" for n in arg_names if n not in inputs] + [f"aux:{n}" for n in aux_names]
    kept = [values[k.split(":", 1)[1]]._data for k in keys]
    return sym, keys, kept


def _computes_forward(block, sym, inputs, args, values, in_fmt):
    """Whether the Symbol gives what the block's inference forward gives on `args`."""
    from ..autograd import pause
    from ..symbol.symbol import evaluate
    try:
        with pause(train_mode=False), np.errstate(all="ignore"):
            got = [o.asnumpy() for o in evaluate(sym, {**values, **dict(zip(inputs, args))})]
            with inside_hybrid_call(), _attributes_kept(block):
                out = block.forward(*(args if in_fmt is None else
                                      nested.regroup(list(args), in_fmt)[0]))
            want = [o.asnumpy() for o in ([out] if isinstance(out, NDArray) else
                                          _flatten(out, "output")[0])]
    except Exception:     # noqa: BLE001  (then the traced graph decides)
        return False
    return len(got) == len(want) and all(
        g.shape == w.shape and np.allclose(g, w, rtol=1e-4, atol=1e-5, equal_nan=True)
        for g, w in zip(got, want))


def _read_symbol_file(symbol_file, meta=None):
    """The checked contents of an exported symbol file (untrusted: every field is validated,
    the IR is parsed with every op's type rule and attribute rules, and only the primitive
    ops of tracegrad.ir.ops are accepted, never the runtime's Python-callback ops)."""
    from ..ir import parse
    from ..ir.parser import ParseError
    from ..untrusted import FileFormatError, read_json
    meta = read_json(symbol_file) if meta is None else meta
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise FileFormatError(symbol_file, "not a tracegrad symbol file (written by "
                                           "HybridBlock.export)")
    if meta.get("version") != 1:
        raise FileFormatError(symbol_file, f"unsupported version {meta.get('version')!r}")
    inputs, specs, text = meta.get("inputs"), meta.get("params"), meta.get("ir")
    if not (isinstance(inputs, list) and all(isinstance(n, str) for n in inputs)):
        raise FileFormatError(symbol_file, "'inputs' must be a list of names")
    if not (isinstance(specs, list) and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and p[0]
            and p[1] in ("arg", "aux", "const") for p in specs)):
        raise FileFormatError(symbol_file, "'params' must be a list of [name, "
                                           "'arg' | 'aux' | 'const'] pairs")
    if len({p[0] for p in specs}) != len(specs):
        raise FileFormatError(symbol_file, "'params' names a parameter twice")
    if not isinstance(text, str):
        raise FileFormatError(symbol_file, "'ir' must be the IR text of the forward")
    try:
        fn = parse(text, filename=f"{symbol_file} (ir)")
    except ParseError as e:
        raise FileFormatError(symbol_file, f"invalid IR: {e}") from None
    except RecursionError:
        raise FileFormatError(symbol_file, "invalid IR: nested too deeply") from None
    for op in fn.ops:
        if not op.opdef.__module__.startswith("tracegrad.ir.ops"):
            raise FileFormatError(symbol_file, f"op {op.opdef.name!r} cannot be loaded from a "
                                               f"file (it runs Python code of this process)")
    if len(fn.params) != len(inputs) + len(specs):
        raise FileFormatError(symbol_file, f"the IR takes {len(fn.params)} arrays, but the "
                                           f"file lists {len(inputs)} inputs and "
                                           f"{len(specs)} parameters")
    return {"inputs": inputs, "params": specs, "function": fn}


class SymbolBlock(HybridBlock):
    """A block made from a graph: MXNet's SymbolBlock(outputs, inputs, params=None) over mx.sym
    Symbols (tracegrad/symbol/gluon_block.py), or an exported tracegrad IR function. Its
    parameters are trainable Parameters."""

    def __init__(self, outputs, inputs=None, params=None):
        from ..ir.function import Function
        if not isinstance(outputs, Function):
            from ..symbol import gluon_block
            super().__init__(prefix="")
            gluon_block.setup(self, outputs, inputs, params)
            return
        function, input_names, param_specs = outputs, inputs, params
        super().__init__(prefix="")
        input_names = [input_names] if isinstance(input_names, str) else list(input_names)
        n_in = len(function.params) - len(param_specs)
        if n_in != len(input_names):
            raise MXNetError(f"SymbolBlock: the graph takes {n_in} inputs but {len(input_names)} "
                             f"input names were given ({input_names})")
        self._function, self._program = function, Program(function)
        self._input_names = input_names
        self._input_types = [v.type for v in function.params[:n_in]]
        self._order = []
        for (name, kind), v in zip(param_specs, function.params[n_in:]):
            p = self._params._lookup(name)
            if p is None:
                p = Parameter(name, grad_req="write" if kind == "arg" else "null",
                              shape=v.type.shape, dtype=v.type.np_dtype)
                self._params._add(p)
            self._order.append(p)

    def __repr__(self):
        """MXNet's: the graph and its input and output counts."""
        if "_sym" in self.__dict__:
            return (f"{type(self).__name__}(\n{self._sym!r} : {len(self._sym_inputs)} -> "
                    f"{len(self._sym.list_outputs())}\n)")
        if "_function" in self.__dict__:
            return (f"{type(self).__name__}(\n<graph {self._function.name}> : "
                    f"{len(self._input_names)} -> {len(self._function.outputs)}\n)")
        return super().__repr__()

    def infer_shape(self, *args):
        if "_sym" in self.__dict__:
            from ..symbol import gluon_block
            return gluon_block.infer_param_shapes(self, args)
        return super().infer_shape(*args)

    @staticmethod
    def imports(symbol_file, input_names, param_file=None, ctx=None, allow_missing=False,
                ignore_extra=False):
        """Load an exported block: SymbolBlock.imports('m-symbol.json', ['data'],
        'm-0000.params'). The symbol file is MXNet's JSON (written by MXNet or by export) or
        tracegrad's IR format; the parameter file MXNet's binary format or tracegrad's .npz."""
        from ..symbol import gluon_block
        from ..symbol.json_format import is_mxnet_document
        from ..untrusted import read_json
        doc = read_json(symbol_file)
        if is_mxnet_document(doc):
            return gluon_block.imports(doc, symbol_file, input_names, param_file,
                                       allow_missing, ignore_extra)
        meta = _read_symbol_file(symbol_file, doc)
        input_names = [input_names] if isinstance(input_names, str) else list(input_names)
        if len(input_names) != len(meta["inputs"]):
            raise MXNetError(f"{symbol_file}: the graph takes {len(meta['inputs'])} inputs "
                             f"{meta['inputs']}, but {len(input_names)} input names were "
                             f"given ({input_names})")
        block = SymbolBlock(meta["function"], input_names, meta["params"])
        if param_file is not None:
            arrays = {k.split(":", 1)[-1]: v for k, v in load_arrays(param_file).items()}
            from .parameter import load_into
            load_into(dict(block._params.items()), arrays, allow_missing, ignore_extra,
                      param_file)
        return block

    def forward(self, *args):
        if "_sym" in self.__dict__:
            from ..symbol import gluon_block
            return gluon_block.forward(self, args)
        if len(args) != len(self._input_types):
            raise MXNetError(f"expected {len(self._input_types)} inputs "
                             f"{self._input_names}, got {len(args)}")
        for name, a, t in zip(self._input_names, args, self._input_types):
            if tuple(a.shape) != t.shape or dtype_name(np.dtype(a.dtype)) != t.dtype:
                shape = ",".join(map(str, a.shape))
                raise MXNetError(f"input '{name}' is {dtype_name(np.dtype(a.dtype))}[{shape}] "
                                 f"but the exported graph was traced for {t} (shapes are "
                                 f"static)")
        outs = self._program(list(args) + [p._nd_data() for p in self._order],
                             apply=array.apply)
        return outs[0] if len(outs) == 1 else outs
