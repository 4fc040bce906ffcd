"""mx.sym: MXNet 1.x's Symbol, a graph of named operator nodes built in Python or read from
MXNet's JSON, evaluated with tracegrad's nd operators.

A node is a variable (`op` None) or an operator (an OpSpec of symbol/ops.py) with its
attributes kept as MXNet's strings (`attrs`, what tojson writes) and as checked Python values
(`params`, what the nd function receives). A Symbol is a list of (node, output index).
`mx.sym.X(...)` records a node whose op is nd.X; the graph runs by calling those nd functions
in topological order (`evaluate`), so it records for autograd and traces under hybridize()
like any nd code.
"""
import warnings

import numpy as np

from ..base import MXNetError, NotImplementedForSymbol
from . import ops as _ops
from .control_flow import next_serial
from .literal import to_attr_string

def _node_name(name, hint):
    """MXNet's NameManager: the given name, or fullyconnected0, fullyconnected1, ... (with
    the prefix of an open mx.name.Prefix)."""
    from ..name import NameManager
    return NameManager.current.get(name, hint)


# attributes MXNet stores as __key__ (so operators' parameter parsers skip them)
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
               "profiler_scope")


def _stored_key(key):
    return f"__{key}__" if key in HIDDEN_KEYS else key


_HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")


def _scope_attrs(attr):
    """The open mx.AttrScope's attributes updated with `attr`, keys as MXNet stores them."""
    from ..attribute import AttrScope
    return {_stored_key(k): v for k, v in AttrScope.current.get(attr).items()}


class Node:
    __slots__ = ("op", "name", "attrs", "inputs", "spec", "params", "input_names", "serial")

    def __init__(self, op, name, attrs=None, inputs=(), spec=None, params=None,
                 input_names=()):
        self.op, self.name = op, name
        self.serial = next_serial()          # creation order (control_flow.py's cuts)
        self.attrs = dict(attrs or {})
        self.inputs = list(inputs)           # [(Node, output index)]
        self.spec, self.params = spec, params or {}
        self.input_names = list(input_names)  # the op's slot name of each input

    @property
    def is_variable(self):
        return self.op is None

    def visible_outputs(self):
        if self.op is None:
            return [None]
        return self.spec.outputs(self.params)[1]

    def total_outputs(self):
        return 1 if self.op is None else self.spec.outputs(self.params)[0]


def topo_order(heads, within=None):
    """Nodes reachable from the heads, inputs before users, in MXNet's DFS order (iterative:
    deep graphs do not hit Python's recursion limit). within(node) False: the walk stops
    there (a control-flow body's walk stops at the enclosing graph)."""
    order, seen = [], set()
    for head in heads:
        if id(head) in seen:
            continue
        stack = [(head, iter(head.inputs))]
        seen.add(id(head))
        while stack:
            node, it = stack[-1]
            for child, _ in it:
                if id(child) not in seen and (within is None or within(child)):
                    seen.add(id(child))
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _aux_ids(order):
    aux = set()
    for node in order:
        if node.op is not None and node.spec.aux:
            for (child, _), slot in zip(node.inputs, node.input_names):
                if slot in node.spec.aux and child.op is None:
                    aux.add(id(child))
    return aux


class Symbol:
    """A symbolic output list (MXNet's mx.sym.Symbol)."""

    def __init__(self, outputs):
        self._outputs = list(outputs)

    # ---------------------------------------------------------------- structure
    def _order(self):
        return topo_order([n for n, _ in self._outputs])

    @property
    def name(self):
        """The node's name when this is a single output (MXNet gives None otherwise)."""
        return self._outputs[0][0].name if len(self._outputs) == 1 else None

    def __len__(self):
        return len(self._outputs)

    def __iter__(self):
        return (Symbol([o]) for o in self._outputs)

    def __getitem__(self, index):
        if isinstance(index, str):
            names = self.list_outputs()
            hits = [i for i, n in enumerate(names) if n == index]
            if not hits:
                raise ValueError(f"cannot find output {index!r} in {names}")
            if len(hits) > 1:
                raise ValueError(f"there are multiple outputs named {index!r}")
            index = hits[0]
        if isinstance(index, slice):
            return Symbol(self._outputs[index])
        if not isinstance(index, int) or not -len(self) <= index < len(self):
            raise IndexError(f"Symbol output index {index} is out of range ({len(self)} "
                             f"outputs)")
        return Symbol([self._outputs[index]])

    def __repr__(self):
        name = self.name
        return (f"<Symbol {name}>" if name is not None
                else f"<Symbol group [{', '.join(self.list_outputs())}]>")

    def list_outputs(self):
        out = []
        for node, i in self._outputs:
            out.append(node.name if node.op is None
                       else f"{node.name}_{node.visible_outputs()[i]}")
        return out

    def list_arguments(self):
        order = self._order()
        aux = _aux_ids(order)
        return [n.name for n in order if n.op is None and id(n) not in aux]

    def list_auxiliary_states(self):
        order = self._order()
        aux = _aux_ids(order)
        return [n.name for n in order if n.op is None and id(n) in aux]

    def list_inputs(self):
        return [n.name for n in self._order() if n.op is None]

    def get_internals(self):
        outs = []
        for node in self._order():
            outs.extend((node, i) for i in range(len(node.visible_outputs())))
        return Symbol(outs)

    def get_children(self):
        """The inputs of this (single-output) symbol's node, grouped; None for a variable."""
        node = self._outputs[0][0]
        return Symbol(node.inputs) if node.inputs else None

    # ---------------------------------------------------------------- attributes
    def attr(self, key):
        if len(self._outputs) != 1:
            return None
        attrs = self._outputs[0][0].attrs
        got = attrs.get(key)
        return attrs.get(f"__{key}__") if got is None and key in HIDDEN_KEYS else got

    def list_attr(self, recursive=False):
        if recursive:
            raise DeprecationWarning("Symbol.list_attr with recursive=True has been deprecated; "
                                     "use attr_dict instead")
        return dict(self._outputs[0][0].attrs) if len(self._outputs) == 1 else {}

    def attr_dict(self):
        return {n.name: dict(n.attrs) for n in self._order() if n.attrs}

    def _set_attr(self, **kwargs):
        for node, _ in self._outputs:
            for k, v in kwargs.items():
                if not isinstance(v, str):
                    raise ValueError("Set Attr only accepts string values")
                node.attrs[_stored_key(k)] = v

    # ---------------------------------------------------------------- composition
    def __call__(self, *args, **kwargs):
        """Compose: a copy of this graph with variables replaced by the given symbols
        (positionally in list_arguments order, or by name)."""
        name = kwargs.pop("name", None)
        args_names = self.list_arguments()
        repl = {}
        for a, n in zip(args, args_names):
            repl[n] = a
        repl.update(kwargs)
        for k, v in repl.items():
            if not isinstance(v, Symbol) or len(v) != 1:
                raise TypeError(f"compose: {k} must be a single-output Symbol")
        memo = {}   # id(old node) -> the (node, index) a reference to its output i becomes

        def ref(c, i):
            kind, target = memo[id(c)]
            return target if kind == "var" else (target, i)
        for node in self._order():
            if node.op is None:
                sub = repl.get(node.name)
                memo[id(node)] = ("var", sub._outputs[0] if sub is not None else (node, 0))
            else:
                new = Node(node.op, node.name, node.attrs, [ref(c, i) for c, i in node.inputs],
                           node.spec, node.params, node.input_names)
                memo[id(node)] = ("op", new)
        outs = [ref(node, i) for node, i in self._outputs]
        if name is not None and len(outs) == 1 and outs[0][0].op is not None:
            outs[0][0].name = name
        return Symbol(outs)

    def _gen_atomic_symbol(self):
        """MXNet's atomic symbol of this symbol's operator: the one op node its outputs come
        from, with the same attributes, its inputs fresh variables (`<name>_<slot>`), every
        visible output."""
        nodes = {id(n): n for n, _ in self._outputs}
        node = self._outputs[0][0] if len(nodes) == 1 else None
        if node is None or node.op is None:
            raise MXNetError(f"_gen_atomic_symbol: the symbol must be the outputs of one "
                             f"operator node, got {self.list_outputs()}")
        slots = node.input_names
        inputs = [(Node(None, f"{node.name}_{slots[k] if k < len(slots) else f'input{k}'}"), 0)
                  for k in range(len(node.inputs))]
        atom = Node(node.op, node.name, node.attrs, inputs, node.spec, node.params,
                    node.input_names)
        return Symbol([(atom, i) for i in range(len(node.visible_outputs()))])

    def __copy__(self):
        return Symbol(list(self._outputs))

    def __getstate__(self):
        """Pickled as MXNet does: its JSON text (read back by the checked JSON loader)."""
        return {"json": self.tojson()}

    def __setstate__(self, state):
        from .json_format import load_json
        self._outputs = load_json(state["json"])._outputs

    def __deepcopy__(self, memo):
        from .json_format import load_json
        return load_json(self.tojson())

    def copy(self):
        """A deep copy, as MXNet's (setting attributes on it leaves this graph alone)."""
        return self.__deepcopy__(None)

    def as_np_ndarray(self):
        """The same graph as a numpy symbol, mx.sym.np._Symbol (no node added)."""
        from .numpy_symbols import as_np_symbol
        return as_np_symbol(self)

    def as_nd_ndarray(self):
        return self

    def astype(self, *args, **kwargs):
        """MXNet's fluent cast: a Cast node (mixed precision code writes x.astype('float16'))."""
        return make_op("cast")(self, *args, **kwargs)

    # ---------------------------------------------------------------- NDArray only
    # (a graph has no value to read, test or change in place: MXNet raises the same)
    def __bool__(self):
        raise NotImplementedForSymbol(self.__bool__, "bool")

    def __iadd__(self, other):
        raise NotImplementedForSymbol(self.__iadd__, "+=", other, 1)

    def __isub__(self, other):
        raise NotImplementedForSymbol(self.__isub__, "-=", other)

    def __imul__(self, other):
        raise NotImplementedForSymbol(self.__imul__, "*=", other)

    def __itruediv__(self, other):
        raise NotImplementedForSymbol(self.__itruediv__, "/=", other)

    def wait_to_read(self):
        raise NotImplementedForSymbol(self.wait_to_read, None)

    def asnumpy(self):
        raise NotImplementedForSymbol(self.asnumpy, None)

    def asscalar(self):
        raise NotImplementedForSymbol(self.asscalar, None)

    def as_in_context(self, context):
        raise NotImplementedForSymbol(self.as_in_context, None)

    def detach(self):
        raise NotImplementedForSymbol(self.detach, None)

    def backward(self, *args, **kwargs):
        raise NotImplementedForSymbol(self.backward, None)

    # ---------------------------------------------------------------- arithmetic
    def _binary(self, other, op, scalar_op, reflected=False):
        if isinstance(other, Symbol):
            lhs, rhs = (other, self) if reflected else (self, other)
            return _make(op, [lhs, rhs], {})
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            return _make(scalar_op, [self], {"scalar": float(other)})
        raise TypeError(f"type {type(other).__name__} not supported")

    def __add__(self, o):
        return self._binary(o, "_Plus", "_PlusScalar")

    def __abs__(self):
        return _make("abs", [self], {})

    __radd__ = __add__

    def __sub__(self, o):
        return self._binary(o, "_Minus", "_MinusScalar")

    def __rsub__(self, o):
        return self._binary(o, "_Minus", "_RMinusScalar", True)

    def __mul__(self, o):
        return self._binary(o, "_Mul", "_MulScalar")

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self._binary(o, "_Div", "_DivScalar")

    def __rtruediv__(self, o):
        return self._binary(o, "_Div", "_RDivScalar", True)

    __div__, __rdiv__ = __truediv__, __rtruediv__

    def __mod__(self, o):
        return self._binary(o, "_Mod", "_ModScalar")

    def __rmod__(self, o):
        return self._binary(o, "_Mod", "_RModScalar", True)

    def __pow__(self, o):
        return self._binary(o, "_Power", "_PowerScalar")

    def __rpow__(self, o):
        return self._binary(o, "_Power", "_RPowerScalar", True)

    def __neg__(self):
        return self.__mul__(-1.0)

    def __gt__(self, o):
        return self._binary(o, "_Greater", "_GreaterScalar")

    def __ge__(self, o):
        return self._binary(o, "_Greater_Equal", "_GreaterEqualScalar")

    def __lt__(self, o):
        return self._binary(o, "_Lesser", "_LesserScalar")

    def __le__(self, o):
        return self._binary(o, "_Lesser_Equal", "_LesserEqualScalar")

    def __eq__(self, o):            # (MXNet's: a graph node, not a truth value)
        return self._binary(o, "_equal", "_equal_scalar")

    def __ne__(self, o):
        return self._binary(o, "_not_equal", "_not_equal_scalar")

    __hash__ = object.__hash__      # (identity: a Symbol still keys a dict)

    def __getattr__(self, name):
        """Fluent methods: x.reshape(...), x.sum(axis=1), x.relu() record nd.<name>."""
        if name.startswith("_"):
            raise AttributeError(name)
        spec = _ops.lookup(name)
        if spec is None:
            raise AttributeError(f"'Symbol' object has no attribute {name!r}")
        return lambda *args, **kwargs: make_op(name)(self, *args, **kwargs)

    # ---------------------------------------------------------------- inference
    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes) in list_arguments / list_outputs /
        list_auxiliary_states order; (None, None, None) if some cannot be inferred. A given
        shape may have unknown dims (0; -1 under np_shape): the graph fills them in."""
        from .inference import infer
        known, given = _split_partial(_shape_args(self, args, kwargs))
        res = infer(self, known, {}, partial=False, given=given)[0]
        if res[0] is None:      # (MXNet warns, naming what is missing)
            from ..util import is_np_shape
            args, _, aux = infer(self, known, {}, partial=True, given=given)[0]
            unknown = -1 if is_np_shape() else 0
            missing = [f"{name}: {shape}" for name, shape in zip(
                self.list_arguments() + self.list_auxiliary_states(), args + aux)
                if not shape or unknown in shape]
            warnings.warn("infer_shape: the shapes of these arguments stay undecided (a "
                          f"{unknown} is an unknown dim; give them as inputs): "
                          + ", ".join(missing[:10] + (["..."] if len(missing) > 10 else [])),
                          stacklevel=2)
        return res

    def infer_shape_partial(self, *args, **kwargs):
        """infer_shape, with the shapes known so far where it gives None: unknown dims 0
        (-1 under np_shape), unknown ranks () (None under np_shape)."""
        from .inference import infer
        known, given = _split_partial(_shape_args(self, args, kwargs))
        return infer(self, known, {}, partial=True, given=given)[0]

    def infer_type(self, *args, **kwargs):
        """(arg_types, out_types, aux_types) as numpy types."""
        return self._infer_type(args, kwargs, partial=False)

    def infer_type_partial(self, *args, **kwargs):
        """infer_type, with None for the types nothing gives (MXNet's partial form)."""
        return self._infer_type(args, kwargs, partial=True)

    def _infer_type(self, args, kwargs, partial):
        from .inference import infer_types
        known = dict(zip(self.list_arguments(), args)) if args else {}
        known.update(kwargs)
        return infer_types(self, {k: np.dtype(v).type for k, v in known.items()
                                  if v is not None}, partial=partial)

    def debug_str(self):
        """The graph as text, laid out as MXNet's (symbol/debug_str.py)."""
        from .debug_str import debug_str
        return debug_str(self)

    # ---------------------------------------------------------------- files
    def tojson(self, remove_amp_cast=True):
        from .json_format import to_json
        return to_json(self._without_amp_casts() if remove_amp_cast else self)

    def save(self, fname, remove_amp_cast=True):
        """The graph as MXNet's JSON; like MXNet, without AMP's cast nodes unless
        remove_amp_cast=False (the file then loads in float32 programs)."""
        with open(fname, "w") as f:
            f.write(self.tojson(remove_amp_cast=remove_amp_cast))

    def _without_amp_casts(self):
        """This graph with every amp_cast / amp_multicast bypassed (their users read what the
        cast read; output k of a multicast is its input k); itself when it has none."""
        order = self._order()
        casts = ("amp_cast", "amp_multicast")
        if not any(n.op in casts for n in order):
            return self
        copies = {}

        def source(entry):
            node, k = _ops.behind(entry, casts)
            return copies[id(node)], k
        for node in order:
            if node.op in casts:
                continue
            copies[id(node)] = Node(node.op, node.name, node.attrs,
                                    [source(e) for e in node.inputs], node.spec, node.params,
                                    node.input_names)
        return Symbol([source(e) for e in self._outputs])

    # ---------------------------------------------------------------- running
    def bind(self, ctx=None, args=None, args_grad=None, grad_req="write", aux_states=None,
             group2ctx=None, shared_exec=None):
        from .executor import Executor
        return Executor.bind(self, args, args_grad, grad_req, aux_states)

    def simple_bind(self, ctx=None, grad_req="write", type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **kwargs):
        from .executor import Executor
        return Executor.simple_bind(self, grad_req, type_dict, kwargs, stype_dict, ctx,
                                    group2ctx)

    def eval(self, ctx=None, **kwargs):
        """The outputs for the given input arrays (a list of NDArrays), inference mode."""
        from ..autograd import pause
        with pause(train_mode=False):
            return evaluate(self, kwargs)


def _shape_args(sym, args, kwargs):
    known = {}
    if args:
        for name, s in zip(sym.list_arguments(), args):
            if s is not None:
                known[name] = tuple(s)
    for k, v in kwargs.items():
        known[k] = tuple(v) if v is not None else None
    return known


def _split_partial(known):
    """({name: complete shape}, {name: shape with 0 for each unknown dim}) of shapes given to
    infer_shape: an unknown dim is 0 (-1 under np_shape, where 0 is a size); an empty or
    None shape says nothing (an unknown rank in MXNet's legacy spelling)."""
    from ..util import is_np_shape
    np_shape = is_np_shape()
    complete, partial = {}, {}
    for name, shape in known.items():
        if shape is None or (not shape and not np_shape):
            continue
        if any(d < 0 or (d == 0 and not np_shape) for d in shape):
            partial[name] = tuple(int(d) if d > 0 else 0 for d in shape)
        else:
            complete[name] = shape
    return complete, partial


# ------------------------------------------------------------------ building nodes
def var(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
        stype=None, **kwargs):
    """A variable (an argument of the graph), with MXNet's hidden attributes."""
    if not isinstance(name, str):
        raise TypeError("Expect a string for variable `name`")
    attrs = {k: str(v) for k, v in _scope_attrs(attr).items()}
    if shape is not None:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else shape   # (MXNet's too)
        attrs["__shape__"] = to_attr_string(tuple(int(d) for d in shape))
    for key, mult in (("__lr_mult__", lr_mult), ("__wd_mult__", wd_mult)):
        if mult is not None:
            float(mult)     # (a number: the JSON check reads it back as one)
            attrs[key] = str(mult)      # (as MXNet writes it: lr_mult=1 is '1')
    if dtype is not None:
        attrs["__dtype__"] = str(DTYPE_CODES[np.dtype(dtype).name])
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        from ..sparse import STYPE_CODES
        attrs["__storage_type__"] = str(STYPE_CODES[stype])
    for k, v in kwargs.items():
        if k.startswith("__") and k.endswith("__"):
            attrs[k] = str(v)
        else:
            raise ValueError(f"Attribute name={k} is not supported. Additional attributes "
                             f"must start and end with double underscores, e.g, __yourattr__")
    return Symbol([(Node(None, name, attrs), 0)])


Variable = var
DTYPE_CODES = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5,
               "int64": 6, "bool": 7}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}


def Group(symbols):
    """One symbol whose outputs are those of `symbols`, in order."""
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError("Expected a list of symbols as input")
    return Symbol([o for s in symbols for o in s._outputs])


def _make(opname, inputs, attrs, name=None, extra_attrs=None, hint=None):
    """Record one op node over `inputs` (Symbols, by slot) and string attributes."""
    spec = _ops.lookup(opname)
    canon = _ops.canonical(opname)
    if spec is None:
        raise MXNetError(f"mx.sym: unknown operator {opname!r}")
    # None is an unset attribute, unless the op's default is something else (sort's axis=-1):
    # then it is MXNet's "None" (sort/argsort/topk axis=None flatten)
    raw = {k: to_attr_string(v) for k, v in attrs.items()
           if v is not None or _ops.default_of(spec, k) is not None}
    node_name = _node_name(name, hint or opname.lower())
    params = spec.check_attrs(raw, f"node '{node_name}'")
    spec = spec.for_attrs(params, f"node '{node_name}'")
    for s in (inputs.values() if isinstance(inputs, dict) else inputs):
        if s is not None and len(s) != 1:
            raise MXNetError(f"node '{node_name}' (op {canon}): an input is a group of "
                             f"{len(s)} outputs; pass one output (sym[i])")
    # MXNet's hidden keys given as the op's keywords (lr_mult=...) are stored as __key__ too;
    # the variables an op creates for its missing inputs get its __hidden__ attributes
    # (nnvm copies the op's attributes to them): lr_mult on a layer reaches its weights
    hidden = {f"__{k}__": raw[k] for k in _HIDDEN_KEYS if k in raw}
    hidden.update((k, str(v)) for k, v in _scope_attrs(extra_attrs).items()
                  if k.startswith("__") and k.endswith("__"))
    if isinstance(inputs, dict):
        slots = spec.active_inputs(params)
        given = dict(inputs)
        unknown = set(given) - set(spec.inputs)
        if unknown:
            raise MXNetError(f"node '{node_name}' (op {canon}): no input named "
                             f"{sorted(unknown)}; inputs are {list(spec.inputs)}")
        refs, names = [], []
        table_op = spec.shapes is not None or spec.attrs is not None
        required = _required_inputs(spec)
        for slot in slots:
            s = given.pop(slot, None)
            if s is None:
                if not (table_op or slot in required):
                    break
                s = var(f"{node_name}_{slot}", attr=hidden or None)
            refs.append(s._outputs[0])
            names.append(slot)
        if given:
            raise MXNetError(f"node '{node_name}' (op {canon}): inputs {sorted(given)} are not "
                             f"used with these attributes (it takes {slots})")
    else:
        refs = [s._outputs[0] for s in inputs]
        names = ([f"arg{i}" for i in range(len(refs))] if spec.variadic
                 else list(spec.active_inputs(params))[:len(refs)])
        if spec.variadic and not refs:
            raise MXNetError(f"node '{node_name}' (op {canon}) needs at least one input")
        if spec.variadic and params.get("num_args", len(refs)) != len(refs):
            raise MXNetError(f"node '{node_name}' (op {canon}): num_args="
                             f"{params['num_args']} but {len(refs)} inputs")
        if spec.variadic and "num_args" in (spec.attrs or {}) and "num_args" not in raw:
            raw["num_args"] = str(len(refs))
            params["num_args"] = len(refs)
    for (source, _), slot in zip(refs, names):      # (OpSpec.input_inits)
        init = spec.input_inits.get(slot)
        if init is not None and source.is_variable and "__init__" not in source.attrs:
            source.attrs["__init__"] = init
    attrs_all = dict(raw)
    from ..attribute import AttrScope
    for k, v in AttrScope.current.get(extra_attrs).items():
        if k in HIDDEN_KEYS:    # (MXNet keeps an attr= hidden key as given and as __key__)
            attrs_all[k] = str(v)
        attrs_all[_stored_key(k)] = str(v)
    attrs_all.update(hidden)
    node = Node(canon, node_name, attrs_all, refs, spec, params, names)
    n = len(node.visible_outputs())
    return Symbol([(node, i) for i in range(n)])


_REQUIRED: dict = {}


def _required_inputs(spec):
    got = _REQUIRED.get(spec.name)
    if got is None:
        import inspect
        try:
            ps = inspect.signature(spec.fn).parameters
            got = {n for n in spec.inputs if n in ps and ps[n].default is ps[n].empty}
        except (TypeError, ValueError):
            got = set()
        _REQUIRED[spec.name] = got
    return got


def make_op(opname):
    """mx.sym.<opname>: positional and keyword Symbols are the inputs, other keywords the
    attributes; `name=` names the node, `attr=` adds string attributes."""
    spec = _ops.lookup(opname)
    if spec is None:
        raise AttributeError(f"module 'tracegrad.symbol' has no operator {opname!r}")

    def op(*args, name=None, attr=None, out=None, **kwargs):
        # (out=: MXNet's generated mx.sym functions take it and drop it)
        sym_kw = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
        attrs = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
        if not spec.inputs and not spec.variadic:
            sym_kw = {}     # (NNVM matches keywords to missing inputs only: it has none)
        if len(args) == 1 and isinstance(args[0], (list, tuple)) and spec.variadic:
            args = tuple(args[0])
        if not spec.variadic:
            args = _positional_attrs(opname, spec, args, attrs)
        for a in args:
            if not isinstance(a, Symbol) and not (a is None and not spec.variadic):
                raise TypeError(f"mx.sym.{opname}: positional arguments must be Symbols "
                                f"(got {type(a).__name__}); pass attributes as keywords")
        if spec.variadic:
            if sym_kw:
                raise TypeError(f"mx.sym.{opname} takes its inputs positionally")
            return _make(opname, list(args), attrs, name, attr)
        slots = list(spec.inputs)
        if len(args) > len(slots):
            raise TypeError(f"mx.sym.{opname}: {len(args)} inputs given, it takes "
                            f"{slots}")
        given = {slot: a for slot, a in zip(slots, args) if a is not None}   # (None: absent)
        for k, v in sym_kw.items():
            if k in given:
                raise TypeError(f"mx.sym.{opname}: input {k!r} given twice")
            given[k] = v
        return _make(opname, given, attrs, name, attr)
    op.__name__ = opname
    op.__doc__ = f"Symbolic {opname}: records a node computed by nd.{opname}."
    return op


def _positional_attrs(opname, spec, args, attrs):
    """The Symbols leading `args`; the values after them are the op's next parameters in
    order (added to `attrs`), as MXNet's generated mx.sym functions take them: clip(x, 1, 8),
    swapaxes(x, 0, 1), one_hot(i, 3). None in an optional input's place leaves that input
    out (CTCLoss(pred, label, None, None, ...), as MXNet's loss calls it)."""
    names = _ops.parameter_names(spec)
    k = next((i for i, a in enumerate(args) if not isinstance(a, Symbol) and not (
        a is None and i < len(names) and names[i] in spec.inputs)), len(args))
    if k == len(args):
        return args
    extra = args[k:]
    for n, v in zip(names[k:], extra):
        if isinstance(v, Symbol) or n in spec.inputs:
            break
        if n in attrs:
            raise TypeError(f"mx.sym.{opname}: got {n!r} positionally and as a keyword")
        attrs[n] = v
    else:
        if len(extra) <= len(names) - k:
            return args[:k]
    bad = next((a for a in extra if not isinstance(a, Symbol)), extra[0])
    raise TypeError(f"mx.sym.{opname}: positional arguments must be Symbols, then the op's "
                    f"attributes {names[k:]} in order (got {type(bad).__name__}); pass "
                    f"attributes as keywords")


# ------------------------------------------------------------------ evaluation
def evaluate(symbol, values, on_node=None):
    """The head arrays of `symbol` computed from {variable name: NDArray} with nd ops (under
    whatever autograd / trace state the caller set). on_node(node, inputs, outputs), when
    given, sees every operator node's arrays as they are computed (the executor's monitor
    callback: MXNet reports internal nodes' outputs, which this loop has at no extra cost)."""
    results = {}
    order = symbol._order()
    sizes = None
    for node in order:
        if node.op is None:
            v = values.get(node.name)
            if v is None:
                raise MXNetError(f"symbol: no value given for input '{node.name}'")
            results[id(node)] = [v]
            continue
        if _ops.unsized(node):
            if sizes is None:
                sizes = _creation_sizes(symbol, values)
            size = sizes.get(id(node))
            results[id(node)] = [_Unsized(node) if size is None
                                 else _ops.sized_creation(node, size)]
            if on_node is not None and size is not None:
                on_node(node, [], results[id(node)])
            continue
        args = [results[id(c)][i] for c, i in node.inputs]
        if any(type(a) is _Unsized for a in args):
            args = _size_creations(node, args)
        _ops.check_growth(node, [tuple(a.shape) for a in args])
        try:
            out = node.spec.fn(*args, **node.params)
        except (MXNetError, TypeError, ValueError, IndexError, MemoryError) as e:
            raise MXNetError(f"node '{node.name}' (op {node.op}): {e}") from None
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        want = len(node.visible_outputs())
        if len(outs) != want:
            raise MXNetError(f"node '{node.name}' (op {node.op}) gave {len(outs)} outputs, "
                             f"its attributes say {want}")
        results[id(node)] = outs
        if on_node is not None:
            on_node(node, args, outs)
    outs = [results[id(n)][i] for n, i in symbol._outputs]
    for o, (n, _) in zip(outs, symbol._outputs):
        if type(o) is _Unsized:
            raise MXNetError(f"node '{n.name}' (op {n.op}): its shape has unknown dims and "
                             f"nothing consumes it to give them")
    return outs


def _creation_sizes(symbol, values):
    """{id(node): shape} of the creations with unknown dims that no consumer's rule sizes
    (a legacy RNN cell's begin state), inferred for these inputs' shapes; cached on the
    symbol per input signature."""
    key = tuple(sorted((k, tuple(v.shape), np.dtype(v.dtype).name)
                       for k, v in values.items() if hasattr(v, "shape")))
    cache = symbol.__dict__.setdefault("_creation_size_cache", {})
    sizes = cache.get(key)
    if sizes is None:
        from .inference import creation_sizes
        sizes = creation_sizes(symbol, {k: s for k, s, _ in key}, {k: t for k, _, t in key})
        if len(cache) >= 16:
            cache.clear()
        cache[key] = sizes
    return sizes


class _Unsized:
    """A creation node's result waiting for its consumer's shape rule."""
    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node


def _size_creations(node, args):
    data = args[0]
    if type(data) is _Unsized or node.spec.shapes is None:
        who = next(a.node.name for a in args if type(a) is _Unsized)
        raise MXNetError(f"node '{node.name}' (op {node.op}): cannot give a shape to the "
                         f"unknown dims of its input '{who}'")
    rule = node.spec.shapes(tuple(data.shape), node.params)
    out = []
    for a, slot in zip(args, node.input_names):
        if type(a) is _Unsized:
            if slot not in rule:
                raise MXNetError(f"node '{node.name}' (op {node.op}): cannot give a shape to "
                                 f"the unknown dims of its input '{a.node.name}'")
            a = _ops.sized_creation(a.node, rule[slot])
        out.append(a)
    return out
