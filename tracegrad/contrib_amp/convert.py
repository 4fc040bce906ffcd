"""amp.convert_symbol / convert_model / convert_hybrid_block / convert_bucketing_module: a
float32 graph rewritten for mixed-precision inference with amp_cast and amp_multicast nodes,
as MXNet 1.9.1's ReducePrecision pass rewrites it (src/nnvm/low_precision_pass.cc), on
tracegrad's Symbol nodes.

Each node is visited inputs first and copied; what is known to be float32 or float16 is
tracked per output. A float32-list node (or an excluded one) reads float32: each input not
known float32 gets an amp_cast to float32, except variables (taken as float32 already). A
low-precision node reads float16 likewise (variables too, unless cast_optional_params keeps
the model's parameters uncast: they are then stored float16). A widest-type node gets casts
when every input's type is known, else one amp_multicast. A conditional node whose attribute
has a listed value reads float32. Any other node passes its first input's type on. Every
graph output is read through a cast to float32 unless known float32. A cast of one output to
one type is made once and shared by its readers. The model's parameters then carry the dtype
they must have in __dtype__ (what convert_model and convert_hybrid_block cast them to).
"""
import numpy as np

from ..base import MXNetError
from .checks import conditional_ops, low_precision_dtype, op_names
from .lists import symbol_fp16 as _lists
from .symbol_nodes import cast_node, multicast_node

__all__ = ["convert_symbol", "convert_model", "convert_hybrid_block",
           "convert_bucketing_module"]

# operators whose parameter inputs stay float32 when their data is float16
_FP32_SLOTS = {"BatchNorm": ("gamma", "beta", "moving_mean", "moving_var"),
               "BatchNorm_v1": ("gamma", "beta", "moving_mean", "moving_var")}


def _op_set(names):
    """The names and the canonical op names they stand for (a graph's node says 'Concat'
    where the list says 'concat')."""
    from ..symbol import ops
    return set(names) | {ops.canonical(n) for n in names}


def _checked_lists(target_ops, fp32_ops, conditional, where):
    """The three lists as MXNet's convert_symbol requires them: disjoint, and each name one
    of MXNet's AMP lists names."""
    cond_names = [c[0] for c in conditional]
    for (a, na), (b, nb) in (((target_ops, "target_dtype_ops"), (fp32_ops, "fp32_ops")),
                             ((target_ops, "target_dtype_ops"),
                              (cond_names, "conditional_fp32_ops")),
                             ((cond_names, "conditional_fp32_ops"), (fp32_ops, "fp32_ops"))):
        common = sorted(set(a) & set(b))
        if common:
            raise MXNetError(f"{where}: ops cannot be in two or more lists; {common} are in "
                             f"both {na} and {nb}")
    allowed = set(_lists.FP16_FUNCS + _lists.FP32_FUNCS + _lists.FP16_FP32_FUNCS +
                  [c[0] for c in _lists.CONDITIONAL_FP32_FUNCS])
    illegal = sorted(set(target_ops + fp32_ops + cond_names) - allowed)
    if illegal:
        raise MXNetError(f"{where}: {illegal} are in none of amp.list_lp16_ops, "
                         f"list_fp32_ops, list_lp16_fp32_ops, list_conditional_fp32_ops: "
                         f"choose ops from those lists")


def convert_symbol(sym, target_dtype="float16", target_dtype_ops=None, fp32_ops=None,
                   conditional_fp32_ops=None, excluded_sym_names=None, data_names=None,
                   cast_optional_params=False):
    """The float32 Symbol `sym` with AMP casts inserted (module docstring). data_names: the
    graph's data inputs (default: the inputs without a __dtype__ attribute); the other
    inputs are the model's parameters, which get __dtype__ set."""
    from ..symbol.symbol import Symbol
    where = "amp.convert_symbol"
    if not isinstance(sym, Symbol):
        raise MXNetError(f"{where}: the first argument must be a Symbol, got "
                         f"{type(sym).__name__}")
    target = low_precision_dtype(target_dtype, where)
    lp_ops = op_names(target_dtype_ops, "target_dtype_ops", where) \
        if target_dtype_ops is not None else list(_lists.FP16_FUNCS)
    fp32 = op_names(fp32_ops, "fp32_ops", where) if fp32_ops is not None \
        else list(_lists.FP32_FUNCS)
    conditional = conditional_ops(conditional_fp32_ops, where) \
        if conditional_fp32_ops is not None else conditional_ops(
            _lists.CONDITIONAL_FP32_FUNCS, where)
    excluded = set(op_names(excluded_sym_names, "excluded_sym_names", where)
                   if excluded_sym_names is not None else ())
    _checked_lists(lp_ops, fp32, conditional, where)
    attr_dict = sym.attr_dict()
    inputs = sym.list_inputs()
    if data_names is None:
        data_names = [n for n in inputs if "__dtype__" not in attr_dict.get(n, {})]
    else:
        data_names = op_names(data_names, "data_names", where)
    rewrite = _Rewrite(target, _op_set(lp_ops), _op_set(fp32),
                       _op_set(_lists.WIDEST_TYPE_CASTS), conditional, excluded,
                       set(data_names), bool(cast_optional_params))
    out = rewrite.run(sym)
    model_params = set(inputs) - set(data_names)
    _set_parameter_dtypes(out, set(data_names), model_params)
    return out


class _Rewrite:
    """One ReducePrecision pass (module docstring)."""

    def __init__(self, target, lp_ops, fp32_ops, widest_ops, conditional, excluded,
                 data_names, cast_optional):
        self.target, self.lp_ops, self.fp32_ops = target, lp_ops, fp32_ops
        self.widest_ops, self.excluded, self.data = widest_ops, excluded, data_names
        self.cast_optional = cast_optional
        self.conditional = {}
        for op, attr, values in conditional:
            for name in _op_set([op]):
                self.conditional.setdefault(name, []).append((attr, [str(v) for v in values]))
        self.copy = {}    # id(old node) -> its copy
        self.fp32 = {}    # (id(old node), output) -> an entry of the new graph known float32
        self.lp = {}      # ... known float16

    def run(self, sym):
        from ..symbol.symbol import Symbol
        for node in sym._order():
            self.copy[id(node)] = self._visit(node)
        outs = []
        for node, i in sym._outputs:
            key = (id(node), i)
            outs.append(self.fp32[key] if key in self.fp32 else
                        self._cast((node, i), "float32", self.fp32))
        return Symbol(outs)

    # ------------------------------------------------------------ per node
    def _visit(self, node):
        from ..symbol.symbol import Node
        new = Node(node.op, node.name, dict(node.attrs), [], node.spec, node.params,
                   node.input_names)
        if node.op is None:
            if node.name in self.excluded:
                self.fp32[(id(node), 0)] = (new, 0)
            return new
        op = node.op
        if op in self.fp32_ops or node.name in self.excluded:
            self._mark(node, new, self.fp32)
            new.inputs = [self.fp32.get(_key(e)) or (
                self._source(e) if e[0].op is None else self._cast(e, "float32", self.fp32))
                for e in node.inputs]
        elif op in self.lp_ops:
            self._mark(node, new, self.lp, only_first=op in _FP32_SLOTS)
            new.inputs = [self._low_precision_input(node, i, e)
                          for i, e in enumerate(node.inputs)]
        elif op in self.widest_ops:
            self._widest(node, new)
        elif self._conditional(node):
            self._mark(node, new, self.fp32)
            new.inputs = [self.fp32.get(_key(e)) or (
                self._source(e) if _slot(node, i) in node.spec.aux else
                self._cast(e, "float32", self.fp32)) for i, e in enumerate(node.inputs)]
        else:
            if node.inputs:
                first = _key(node.inputs[0])
                known = "float32" if first in self.fp32 else \
                    self.target if first in self.lp else None
                out = _output_type(node, known)
                if out is not None:
                    self._mark(node, new, self.fp32 if out == "float32" else self.lp)
            new.inputs = [self._source(e) for e in node.inputs]
        return new

    def _low_precision_input(self, node, i, e):
        key = _key(e)
        if key in self.lp:
            return self.lp[key]
        variable = e[0].op is None
        slot = _slot(node, i)
        if (self.cast_optional and variable and e[0].name not in self.data) or \
                slot in node.spec.aux or slot in _FP32_SLOTS.get(node.op, ()):
            src = self._source(e)
            if self.cast_optional and variable:
                self.lp[key] = src     # stored in float16 (set_parameter_dtypes)
            return src
        return self._cast(e, self.target, self.lp)

    def _widest(self, node, new):
        keys = [_key(e) for e in node.inputs]
        if not node.inputs:
            raise MXNetError(f"amp.convert_symbol: node '{node.name}' (op {node.op}) has no "
                             f"inputs")
        if any(k not in self.lp and k not in self.fp32 for k in keys):
            first = node.inputs[0]
            cast = multicast_node([self._source(e) for e in node.inputs],
                                  f"{first[0].name}{_suffix(first)}_amp_multicast")
            new.inputs = [(cast, i) for i in range(len(node.inputs))]
            return
        to = "float32" if any(k in self.fp32 for k in keys) else self.target
        table = self.fp32 if to == "float32" else self.lp
        self._mark(node, new, table)
        new.inputs = [table.get(k) or self._cast(e, to, table)
                      for k, e in zip(keys, node.inputs)]

    def _conditional(self, node):
        if node.name in self.excluded:
            return False
        return any(node.attrs.get(attr) in values
                   for attr, values in self.conditional.get(node.op, ()))

    # ------------------------------------------------------------ entries
    def _mark(self, node, new, table, only_first=False):
        for i in range(1 if only_first else node.total_outputs()):
            table[(id(node), i)] = (new, i)

    def _source(self, e):
        return self.copy[id(e[0])], e[1]

    def _cast(self, e, dtype, table):
        """An amp_cast of output e to dtype, shared by every reader of it in that type."""
        node = cast_node(self._source(e), dtype, f"{e[0].name}{_suffix(e)}_amp_cast_{dtype}")
        table[_key(e)] = (node, 0)
        return node, 0


def _key(e):
    return id(e[0]), e[1]


def _slot(node, i):
    return node.input_names[i] if i < len(node.input_names) else None


def _suffix(e):
    """MXNet's cast-node name part for output e: none for a variable, the output's name for
    an operator that names its outputs, else its index."""
    node, i = e
    if node.op is None:
        return ""
    names = node.visible_outputs()
    named = node.spec.attrs is not None or node.spec._outputs is not None
    return f"_{names[i]}" if named and i < len(names) else f"_{i}"


def _output_type(node, first):
    """The float type of an unlisted node's outputs given its first input's (None: not
    known): an explicit dtype attribute (Cast, amp_cast, one_hot, ...) decides; else the
    first input's."""
    if node.op == "amp_multicast":
        return None
    dtype = node.params.get("dtype")
    if dtype is not None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            return None
        return name if name in ("float16", "float32") else None
    return first


def _set_parameter_dtypes(sym, data_names, model_params):
    """Each model parameter's __dtype__ (MXNet's type code): the type its first reader
    needs (float16 when read by a float16 op directly, float32 through a cast or by a
    BatchNorm's parameters), float32 when nothing decides. With no model parameters, the
    inputs that already had a __dtype__ are updated."""
    from ..symbol.symbol import DTYPE_CODES
    decided = _parameter_types(sym, data_names)
    for node in sym._order():
        if node.op is not None:
            continue
        if (model_params and node.name in model_params) or (
                not model_params and "__dtype__" in node.attrs):
            dtype = decided.get(id(node)) or ("float32" if node.name in data_names
                                              else _attr_dtype(node) or "float32")
            node.attrs["__dtype__"] = str(DTYPE_CODES[dtype])


def _attr_dtype(node):
    from ..symbol.inference import var_dtype_attr
    dtype = var_dtype_attr(node)
    return dtype.name if dtype is not None else None


def _parameter_types(sym, data_names):
    """{id(variable): dtype name} decided by the variables' readers in the rewritten graph
    (a forward pass over known types: data float32, casts their dtype, other ops their
    first input's)."""
    types, decided = {}, {}
    for node in sym._order():
        if node.op is None:
            types[(id(node), 0)] = "float32" if node.name in data_names else None
            continue
        first = types.get(_key(node.inputs[0])) if node.inputs else None
        for i, (child, _) in enumerate(node.inputs):
            if child.op is not None or child.name in data_names or id(child) in decided:
                continue
            if node.op in ("amp_cast", "amp_multicast"):
                continue
            if _slot(node, i) in _FP32_SLOTS.get(node.op, ()):
                decided[id(child)] = "float32"
            elif i > 0 and first in ("float16", "float32"):
                decided[id(child)] = first
            if id(child) in decided:
                types[(id(child), 0)] = decided[id(child)]
        first = types.get(_key(node.inputs[0])) if node.inputs else None
        if node.op == "amp_multicast":
            known = [types.get(_key(e)) for e in node.inputs]
            out = "float32" if "float32" in known else (
                "float16" if known and all(t == "float16" for t in known) else None)
        elif node.op == "amp_cast":
            out = np.dtype(node.params["dtype"]).name
        else:
            out = _output_type(node, first)
        for i in range(node.total_outputs()):
            types[(id(node), i)] = out
    return decided


def convert_model(sym, arg_params, aux_params, target_dtype="float16", target_dtype_ops=None,
                  fp32_ops=None, conditional_fp32_ops=None, excluded_sym_names=None,
                  cast_optional_params=False):
    """convert_symbol on a model, and its parameters cast to the dtypes the converted graph
    gives them (in the given dicts, which are returned): (symbol, arg_params, aux_params)."""
    from ..symbol.symbol import CODE_DTYPES, Symbol
    where = "amp.convert_model"
    if not isinstance(sym, Symbol):
        raise MXNetError(f"{where}: the first argument must be a Symbol, got "
                         f"{type(sym).__name__}")
    if not isinstance(arg_params, dict) or not isinstance(aux_params, dict):
        raise MXNetError(f"{where}: arg_params and aux_params must be dicts of name to "
                         f"NDArray")
    if excluded_sym_names is not None:
        op_names(excluded_sym_names, "excluded_sym_names", where)
    params = set(arg_params) | set(aux_params)
    data_names = [n for n in sym.list_inputs() if n not in params]
    out = convert_symbol(sym, target_dtype, target_dtype_ops, fp32_ops, conditional_fp32_ops,
                         excluded_sym_names, data_names, cast_optional_params)
    attrs = out.attr_dict()
    for names, values in ((out.list_arguments(), arg_params),
                          (out.list_auxiliary_states(), aux_params)):
        for name in names:
            code = attrs.get(name, {}).get("__dtype__")
            if code is not None and code != "-1" and name in values:
                values[name] = values[name].astype(CODE_DTYPES[int(code)])
    return out, arg_params, aux_params


def convert_hybrid_block(block, target_dtype="float16", target_dtype_ops=None, fp32_ops=None,
                         conditional_fp32_ops=None, excluded_sym_names=None, ctx=None,
                         cast_optional_params=False):
    """A SymbolBlock computing the hybridized `block` (run once, as export needs) with AMP
    casts: its graph as MXNet's operators (what export writes), converted, with the
    block's parameter values in the dtypes the conversion gives them."""
    from ..gluon.block import HybridBlock
    from ..gluon.parameter import load_into
    from ..gluon.symbol_block import SymbolBlock, mxnet_graph
    from ..symbol.symbol import var
    where = "amp.convert_hybrid_block"
    if not isinstance(block, HybridBlock):
        raise MXNetError(f"{where}: block must be a HybridBlock, got {type(block).__name__}")
    if getattr(block, "_cached_args", None) is None:
        raise MXNetError(f"{where}: call block.hybridize() and run it forward once first (its "
                         f"graph is taken from that call, as export's)")
    found, _, input_names = mxnet_graph(block)
    if found is None:
        raise MXNetError(f"{where}: {block.name}'s forward uses operations with no MXNet "
                         f"operator form, so it has no Symbol to convert")
    sym, keys, arrays = found
    converted = convert_symbol(sym, target_dtype, target_dtype_ops, fp32_ops,
                               conditional_fp32_ops, excluded_sym_names, input_names,
                               cast_optional_params)
    ret = SymbolBlock(converted, [var(n) for n in input_names])
    values = {k.split(":", 1)[1]: np.asarray(a) for k, a in zip(keys, arrays)}
    load_into(dict(ret.collect_params().items()), values, False, True, where, ctx=ctx)
    return ret


def convert_bucketing_module(bucketing_mod, target_dtype="float16", target_dtype_ops=None,
                             fp32_ops=None, conditional_fp32_ops=None, excluded_sym_names=None,
                             cast_optional_params=False):
    """A new BucketingModule whose buckets are those of `bucketing_mod` (bound, with its
    parameters set) with their symbols converted by convert_model, on its sym_gen, default
    key and Module settings; the shared parameters cast as the conversion needs them are set
    when it is bound (example/rnn/bucketing/cudnn_rnn_bucketing.py --dtype float16)."""
    from ..module.bucketing_module import BucketingModule
    from ..module.module import Module
    where = "amp.convert_bucketing_module"
    if not isinstance(bucketing_mod, BucketingModule):
        raise MXNetError(f"{where}: module should be instance of bucketing module, got "
                         f"{type(bucketing_mod).__name__}")
    if not bucketing_mod._buckets:
        raise MXNetError(f"{where}: Bucketing Module should not be empty (bind it first)")
    if not bucketing_mod.params_initialized:
        raise MXNetError(f"{where}: bucketing_mod params should be initialized for mixed "
                         f"precision conversion")
    arg_params, aux_params = bucketing_mod.get_params()
    symbols = {}
    for key, module in bucketing_mod._buckets.items():   # (the parameters are shared)
        symbols[key], arg_params, aux_params = convert_model(
            module.symbol, arg_params, aux_params, target_dtype=target_dtype,
            target_dtype_ops=target_dtype_ops, fp32_ops=fp32_ops,
            conditional_fp32_ops=conditional_fp32_ops, excluded_sym_names=excluded_sym_names,
            cast_optional_params=cast_optional_params)
    default_key = bucketing_mod._default_bucket_key
    kwargs = bucketing_mod._module_kwargs
    result = BucketingModule(bucketing_mod._sym_gen, default_key, **kwargs)
    # (MXNet's load_dict: every bucket takes the default bucket's data and label names)
    _, data_names, label_names = result._call_sym_gen(default_key)
    for key, sym in symbols.items():
        result._buckets[key] = Module(sym, data_names, label_names, **kwargs)
    result._preloaded = (arg_params, aux_params)
    result.params_initialized = True
    return result
