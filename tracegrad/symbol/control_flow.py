"""mx.sym.contrib.foreach / while_loop / cond: MXNet's control-flow operators on Symbols.

The user's Python function runs once, on placeholder variables, and what it builds is cut
out as a subgraph: a node it reads from the enclosing graph becomes an input of the subgraph
(and of the loop node), as MXNet's _cut_subgraph does. The loop node (`_foreach`,
`_while_loop`, `_cond`, with MXNet's attributes: num_args, num_outputs, the *_locs lists) keeps
its subgraphs in `params["subgraphs"]`, and tojson writes them as MXNet's "subgraphs" key.

A node runs through nd.contrib's control flow with a body that evaluates its subgraph, so it
records for autograd, and under hybridize() / jit the branches and trip counts are guarded or
become loop ops as nd.contrib's are. A graph read from a file is checked before it is built:
every subgraph is a valid graph, every location is in range, and the counts agree.
"""
import itertools

import numpy as np

from .. import nested
from ..base import MXNetError
from .literal import to_attr_string
from .ops import AttrError, OpSpec, _int


_SERIAL = itertools.count()


def next_serial():
    """Node creation order: a node made before a body ran belongs to the enclosing graph."""
    return next(_SERIAL)


class UnusedInputError(ValueError, AssertionError):
    """A loop's data or state the body never reads (MXNet raises AssertionError here, and
    code written for it catches that)."""


# ------------------------------------------------------------------ building subgraphs
def _flatten(obj, what):
    """(flat list of single-output Symbols, format) as MXNet's symbol _flatten: a Symbol of
    k > 1 outputs stays one item of format k."""
    from .symbol import Symbol
    return nested.flatten(obj, what, Symbol, "Symbol",
                          width=lambda s: len(s) if len(s) > 1 else 0)


_regroup = nested.regroup


def _entries(syms):
    """The (node, output) entries of a flat list of Symbols (a k-output Symbol gives k)."""
    return [o for s in syms for o in s._outputs]


def _placeholders(syms, tag):
    """One new variable per outer entry, named after it (MXNet's `<name>-<index>`)."""
    from .symbol import var
    out = []
    for k, (node, i) in enumerate(_entries(syms)):
        out.append(var(f"{node.name}-{tag}{k}"))
    return out


class _Cut:
    """The subgraph `heads` reach from the nodes made since `start`: a node made before is
    outside it. An outside variable is shared (the loop node takes it as an input by name);
    an outside operator output becomes a new variable of the subgraph, named after it."""

    def __init__(self, start, heads, name):
        from .symbol import Node, Symbol, make_op
        self.outer = {}         # subgraph input name -> the enclosing graph's entry
        cuts, copies = {}, {}
        inside = _inside_order([n for n, _ in heads], start)

        def source(c, i):
            if c.serial >= start:
                return copies[id(c)], i
            if c.op is None:
                self._outer_input(c.name, (c, 0), name)
                return c, 0
            key = (id(c), i)
            if key not in cuts:
                label = Symbol([(c, i)]).list_outputs()[0]
                cuts[key] = Node(None, label)
                cuts[key].serial = start      # (inside the subgraph)
                self._outer_input(label, (c, i), name)
            return cuts[key], 0
        for node in inside:
            if node.op is None:     # a placeholder, or a variable the function made
                copies[id(node)] = node
                self._outer_input(node.name, (node, 0), name)
                continue
            copies[id(node)] = copy = Node(node.op, node.name, node.attrs,
                                           [source(c, i) for c, i in node.inputs], node.spec,
                                           node.params, node.input_names)
            copy.serial = start
        outs, seen = [], set()
        for c, i in heads:
            entry = source(c, i)
            # an input or a repeated entry is copied through identity (MXNet: outputs and
            # inputs of a subgraph never share a node)
            if entry[0].op is None or entry in seen:
                entry = make_op("identity")(Symbol([entry]))._outputs[0]
            seen.add(entry)
            outs.append(entry)
        self.graph = Symbol(outs)
        names = self.graph.list_inputs()
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise MXNetError(f"{name}: the subgraph's inputs {dup} have the same name; give "
                             f"the variables it reads distinct names")

    def _outer_input(self, label, entry, name):
        got = self.outer.get(label)
        if got is not None and got != entry:
            raise MXNetError(f"{name}: two different symbols named '{label}' are read inside "
                             f"the function; give them distinct names")
        self.outer[label] = entry


def _inside_order(heads, start):
    """Nodes made since `start` that `heads` reach without crossing an older node, inputs
    first."""
    from .symbol import topo_order
    return topo_order([h for h in heads if h.serial >= start],
                      within=lambda node: node.serial >= start)


def _loop_node(op, name, subgraphs, inputs, attrs):
    """The control-flow node over `inputs` (entries) with these attributes."""
    from .symbol import Node, Symbol, _node_name
    spec = SPECS[op]
    attrs = dict(attrs, num_args=len(inputs) + spec.n_subgraphs)
    raw = {k: to_attr_string(v) for k, v in attrs.items()}
    node_name = _node_name(None, op)
    params = spec.check_attrs(raw, f"node '{node_name}'")
    params["subgraphs"] = list(subgraphs)
    spec.check_structure(params, len(inputs), f"node '{node_name}' ({name})")
    node = Node(op, node_name, raw, list(inputs), spec, params,
                [f"arg{k}" for k in range(len(inputs))])
    return Symbol([(node, k) for k in range(attrs["num_outputs"])])


def _union(cuts, placeholder_inputs):
    """(node inputs, per cut the location in them of each subgraph input): placeholders map to
    their outer entries, cut inputs to theirs, each entry once."""
    inputs, where, locs = [], {}, []
    for cut in cuts:
        mine = []
        for n in cut.graph.list_inputs():
            entry = placeholder_inputs.get(n) or cut.outer[n]
            key = (id(entry[0]), entry[1])
            if key not in where:
                where[key] = len(inputs)
                inputs.append(entry)
            mine.append(where[key])
        locs.append(mine)
    return inputs, locs


def foreach(body, data, init_states, name="foreach"):
    """`body(data[i], states) -> (out, states)` over axis 0 of `data`, on Symbols (MXNet's
    mx.sym.contrib.foreach): returns (outputs stacked along axis 0, final states), regrouped
    as body returned them."""
    from .symbol import Symbol
    flat_data, data_fmt = _flatten(data, "foreach data")
    flat_states, state_fmt = _flatten(init_states, "foreach init_states")
    if not flat_data:
        raise ValueError("foreach: data should hold at least one Symbol")
    start = next_serial()
    in_vars = _placeholders(flat_data, "d")
    st_vars = _placeholders(flat_states, "s")
    outs, states = body(_regroup(list(in_vars), data_fmt)[0],
                        _regroup(list(st_vars), state_fmt)[0])
    flat_out, out_fmt = _flatten([] if outs is None else outs, "foreach output")
    flat_new, new_fmt = _flatten([] if states is None else states, "foreach states")
    if new_fmt != state_fmt:
        raise ValueError(f"foreach: body returned states of structure {new_fmt}, the initial "
                         f"states have {state_fmt}")
    cut = _Cut(start, _entries(flat_out) + _entries(flat_new), name)
    names = cut.graph.list_inputs()
    ins = [v.name for v in in_vars]
    sts = [v.name for v in st_vars]
    for what, group in (("data", ins), ("state", sts)):
        unused = [n for n in group if n not in names]
        if unused:
            raise UnusedInputError(f"foreach: the {what} arrays have to be used in the loop body "
                             f"(unused: {unused})")
    remain = [n for n in names if n not in ins and n not in sts]
    inputs = _entries(flat_data) + _entries(flat_states) + [cut.outer[n] for n in remain]
    n_out = len(_entries(flat_out))
    result = _loop_node("_foreach", name, [cut.graph], inputs, {
        "num_outputs": n_out + len(sts), "num_out_data": n_out,
        "in_state_locs": [names.index(n) for n in sts],
        "in_data_locs": [names.index(n) for n in ins],
        "remain_locs": [names.index(n) for n in remain]})
    items = [Symbol([o]) for o in result._outputs]
    return _regroup(items[:n_out], out_fmt)[0], _regroup(items[n_out:], state_fmt)[0]


def while_loop(cond, func, loop_vars, max_iterations=None, name="while_loop"):
    """`func(*loop_vars) -> (step_output, new_loop_vars)` while `cond(*loop_vars)`, at most
    `max_iterations` times, on Symbols (MXNet's mx.sym.contrib.while_loop): returns (step
    outputs stacked to max_iterations rows, final loop variables)."""
    from .symbol import Symbol
    if max_iterations is None:
        raise ValueError("while_loop: max_iterations should be specified")
    if hasattr(max_iterations, "asscalar"):
        max_iterations = max_iterations.asscalar()
    try:
        max_iterations = int(max_iterations)
    except (TypeError, ValueError):
        raise ValueError(f"while_loop: cannot convert max_iterations={max_iterations!r} to "
                         f"an int") from None
    flat_vars, var_fmt = _flatten(loop_vars, "while_loop loop_vars")
    if not flat_vars:
        raise ValueError("while_loop: loop_vars should contain at least one element")
    start = next_serial()
    placeholders = _placeholders(flat_vars, "v")
    grouped = _regroup(list(placeholders), var_fmt)[0]
    args = grouped if isinstance(grouped, list) else [grouped]
    pred = cond(*args)
    if not isinstance(pred, Symbol) or len(pred) != 1:
        raise ValueError("while_loop: cond must return one Symbol")
    step_out, new_vars = func(*args)
    flat_out, out_fmt = _flatten([] if step_out is None else (
        list(step_out) if isinstance(step_out, tuple) else step_out), "while_loop output")
    flat_new, _ = _flatten([] if new_vars is None else (
        list(new_vars) if isinstance(new_vars, tuple) else new_vars), "while_loop loop_vars")
    if len(_entries(flat_new)) != len(placeholders):
        raise ValueError(f"while_loop: func returned {len(_entries(flat_new))} loop "
                         f"variables, expected {len(placeholders)}")
    cond_cut = _Cut(start, pred._outputs, name + "_cond")
    func_cut = _Cut(start, _entries(flat_out) + _entries(flat_new), name + "_func")
    outer = dict(zip((v.name for v in placeholders), _entries(flat_vars)))
    inputs, (cond_locs, func_locs) = _union([cond_cut, func_cut], outer)
    func_names = func_cut.graph.list_inputs()
    var_locs = []
    for k, v in enumerate(placeholders, 1):
        if v.name not in func_names:
            raise ValueError(f"while_loop: the {k}-th loop_var doesn't involve into the "
                             f"computation")
        var_locs.append(func_names.index(v.name))
    n_out = len(_entries(flat_out))
    result = _loop_node("_while_loop", name, [cond_cut.graph, func_cut.graph], inputs, {
        "num_outputs": n_out + len(placeholders), "num_out_data": n_out,
        "max_iterations": max_iterations, "cond_input_locs": cond_locs,
        "func_input_locs": func_locs, "func_var_locs": var_locs})
    items = [Symbol([o]) for o in result._outputs]
    final = _regroup(items[n_out:], var_fmt)[0]
    return _regroup(items[:n_out], out_fmt)[0], final


def cond(pred, then_func, else_func, name="cond"):
    """`then_func()` if the one-element `pred` is true, else `else_func()`, on Symbols
    (MXNet's mx.sym.contrib.cond): both branches return the same number of Symbols."""
    from .symbol import Symbol
    if not isinstance(pred, Symbol) or len(pred) != 1:
        raise TypeError("cond: pred must be a single-output Symbol")
    start = next_serial()
    pred_cut = _Cut(start, pred._outputs, name + "_pred")
    then_flat, then_fmt = _flatten(then_func(), "cond then_func's outputs")
    then_cut = _Cut(start, _entries(then_flat), name + "_then")
    start_else = next_serial()
    else_flat, _ = _flatten(else_func(), "cond else_func's outputs")
    else_cut = _Cut(start_else, _entries(else_flat), name + "_else")
    if len(_entries(then_flat)) != len(_entries(else_flat)):
        raise ValueError(f"cond: the then-branch gives {len(_entries(then_flat))} outputs, the "
                         f"else-branch {len(_entries(else_flat))}")
    inputs, (pred_locs, then_locs, else_locs) = _union([pred_cut, then_cut, else_cut], {})
    n_out = len(_entries(then_flat))
    result = _loop_node("_cond", name, [pred_cut.graph, then_cut.graph, else_cut.graph],
                        inputs, {"num_outputs": n_out, "cond_input_locs": pred_locs,
                                 "then_input_locs": then_locs, "else_input_locs": else_locs})
    items = [Symbol([o]) for o in result._outputs]
    return _regroup(items, then_fmt)[0]


# ------------------------------------------------------------------ running the nodes
def _values(names, locs, arrays):
    return dict(zip(names, (arrays[k] for k in locs)))


def _run_foreach(*arrays, subgraphs, num_outputs, num_out_data, in_state_locs, in_data_locs,
                 remain_locs, num_args=None):
    from .. import contrib
    from .symbol import evaluate
    graph = subgraphs[0]
    names = graph.list_inputs()
    n_data, n_states = len(in_data_locs), len(in_state_locs)
    data = list(arrays[:n_data])
    states = list(arrays[n_data:n_data + n_states])
    fixed = {names[loc]: a for loc, a in zip(remain_locs, arrays[n_data + n_states:])}

    def body(items, current):
        values = dict(fixed)
        values.update((names[loc], a) for loc, a in zip(in_data_locs, items))
        values.update((names[loc], a) for loc, a in zip(in_state_locs, current))
        outs = evaluate(graph, values)
        return outs[:num_out_data], outs[num_out_data:]
    outs, final = contrib.foreach(body, data, states)
    return list(outs) + list(final)


def _run_while_loop(*arrays, subgraphs, num_outputs, num_out_data, max_iterations,
                    cond_input_locs, func_input_locs, func_var_locs, num_args=None):
    from .. import contrib, nd
    from .symbol import evaluate
    cond_graph, func_graph = subgraphs
    cond_names, func_names = cond_graph.list_inputs(), func_graph.list_inputs()
    slots = [func_input_locs[k] for k in func_var_locs]     # node input of each loop var

    def values(names, locs, loop_values):
        current = list(arrays)
        for k, v in zip(slots, loop_values):
            current[k] = v
        return _values(names, locs, current)

    def cond_fn(*loop_values):
        return evaluate(cond_graph, values(cond_names, cond_input_locs, loop_values))[0]

    def func_fn(*loop_values):
        outs = evaluate(func_graph, values(func_names, func_input_locs, loop_values))
        return outs[:num_out_data], outs[num_out_data:]
    outs, final = contrib.while_loop(cond_fn, func_fn, [arrays[k] for k in slots],
                                     max_iterations=max_iterations)
    if num_out_data and not outs:       # no step ran: the graph's outputs are all zeros
        from .inference import _probed_passes
        known = _values(func_names, func_input_locs, arrays)
        order, shapes, dtypes = _probed_passes(
            func_graph, {k: tuple(a.shape) for k, a in known.items()},
            {k: np.dtype(a.dtype) for k, a in known.items()})
        outs = []
        for node, i in func_graph._outputs[:num_out_data]:
            shape = shapes[id(node)][i]
            if shape is None:
                raise MXNetError(f"while_loop: no step ran and the shape of step output "
                                 f"{len(outs)} cannot be inferred")
            outs.append(nd.array(np.zeros((max_iterations,) + tuple(shape),   # (0-size too)
                                          dtype=dtypes[id(node)][i] or np.float32)))
    return list(outs) + list(final)


def _run_cond(*arrays, subgraphs, num_outputs, cond_input_locs, then_input_locs,
              else_input_locs, num_args=None):
    from .. import contrib
    from .symbol import evaluate
    pred_g, then_g, else_g = subgraphs

    def branch(graph, locs):
        return evaluate(graph, _values(graph.list_inputs(), locs, arrays))
    pred = branch(pred_g, cond_input_locs)[0]
    out = contrib.cond(pred, lambda: branch(then_g, then_input_locs),
                       lambda: branch(else_g, else_input_locs))
    return list(out) if isinstance(out, (list, tuple)) else [out]


# ------------------------------------------------------------------ specs and checks
def _locs(v):
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v,)
    if not isinstance(v, (list, tuple)) or not all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 2 ** 20 for k in v):
        raise AttrError(f"expected a list of non-negative integers, got {v!r}")
    return tuple(v)


class ControlFlowSpec(OpSpec):
    """A control-flow op: its inputs are variadic, its subgraphs ride in params."""

    def __init__(self, name, fn, attrs, n_subgraphs, structure):
        super().__init__(name, fn, (), attrs=attrs, variadic=True, outputs=self._names)
        self.n_subgraphs = n_subgraphs
        self._structure = structure

    @staticmethod
    def _names(params):
        n = params["num_outputs"]
        return n, (["output"] if n == 1 else [f"output{k}" for k in range(n)])

    def input_shapes(self, ins, types, params):
        """Shapes of the node's inputs (None: unknown) that its subgraphs give, from those
        known: a weight read inside a loop gets its shape from the layer using it, as MXNet
        infers through subgraphs."""
        from .inference import infer
        got = list(ins)
        for graph, slot_of in self._input_slots(params):
            known, known_t = {}, {}
            for name, (k, sliced) in slot_of.items():
                if ins[k] is not None:
                    known[name] = tuple(ins[k][1:]) if sliced else tuple(ins[k])
                if types[k] is not None:
                    known_t[name] = types[k]
            try:
                _, var_shapes, _ = infer(graph, known, known_t, partial=True)
            except MXNetError:
                continue        # (evaluating the node reports what is wrong)
            for name, (k, sliced) in slot_of.items():
                shape = var_shapes.get(name)
                if got[k] is not None or shape is None:
                    continue
                if sliced:      # a data input: its length is another data input's
                    lead = next((ins[j][0] for j, s in slot_of.values()
                                 if s and ins[j] is not None and ins[j]), None)
                    if lead is None:
                        continue
                    shape = (lead,) + tuple(shape)
                got[k] = tuple(shape)
        return got

    def _input_slots(self, params):
        """[(subgraph, {its input name: (node input index, whether axis 0 is sliced off)})]."""
        graphs = params["subgraphs"]
        if self.name == "_foreach":
            names = graphs[0].list_inputs()
            locs = params["in_data_locs"] + params["in_state_locs"] + params["remain_locs"]
            n_data = len(params["in_data_locs"])
            return [(graphs[0], {names[loc]: (k, k < n_data) for k, loc in enumerate(locs)})]
        keys = (("cond_input_locs", "func_input_locs") if self.name == "_while_loop" else
                ("cond_input_locs", "then_input_locs", "else_input_locs"))
        return [(g, {n: (k, False) for n, k in zip(g.list_inputs(), params[key])})
                for g, key in zip(graphs, keys)]

    def check_structure(self, params, n_inputs, where):
        """MXNetError unless the counts and locations agree with the subgraphs."""
        missing = sorted(k for k in self.attrs if k not in params)
        if missing:
            raise MXNetError(f"{where}: op {self.name} needs the attributes {missing}")
        subgraphs = params.get("subgraphs") or []
        if len(subgraphs) != self.n_subgraphs:
            raise MXNetError(f"{where}: op {self.name} takes {self.n_subgraphs} subgraphs, got "
                             f"{len(subgraphs)}")
        if params.get("num_args") != n_inputs + self.n_subgraphs:
            raise MXNetError(f"{where}: op {self.name}: num_args={params.get('num_args')} but "
                             f"{n_inputs} inputs and {self.n_subgraphs} subgraphs")
        self._structure(params, subgraphs, n_inputs, where)


def _each_input_once(locs, n, what, where):
    if sorted(locs) != list(range(n)):
        raise MXNetError(f"{where}: {what} {list(locs)} must name each of the subgraph's "
                         f"{n} inputs once")


def _in_range(locs, n, what, where):
    if any(k >= n for k in locs):
        raise MXNetError(f"{where}: {what} {list(locs)} refers past the node's {n} inputs")


def _foreach_structure(p, subgraphs, n_inputs, where):
    g = subgraphs[0]
    n_sub = len(g.list_inputs())
    locs = p["in_data_locs"] + p["in_state_locs"] + p["remain_locs"]
    _each_input_once(locs, n_sub, "in_data_locs + in_state_locs + remain_locs", where)
    if len(locs) != n_inputs:
        raise MXNetError(f"{where}: {n_inputs} inputs for a subgraph of {n_sub} inputs")
    if not p["in_data_locs"]:
        raise MXNetError(f"{where}: foreach needs at least one data input")
    n_states = len(p["in_state_locs"])
    if not 0 <= p["num_out_data"] <= p["num_outputs"] or \
            p["num_outputs"] - p["num_out_data"] != n_states or len(g) != p["num_outputs"]:
        raise MXNetError(f"{where}: num_outputs={p['num_outputs']}, num_out_data="
                         f"{p['num_out_data']}, {n_states} states and a subgraph of {len(g)} "
                         f"outputs do not agree")


def _while_structure(p, subgraphs, n_inputs, where):
    cond_g, func_g = subgraphs
    for g, key in ((cond_g, "cond_input_locs"), (func_g, "func_input_locs")):
        if len(p[key]) != len(g.list_inputs()):
            raise MXNetError(f"{where}: {key} has {len(p[key])} entries for a subgraph of "
                             f"{len(g.list_inputs())} inputs")
        _in_range(p[key], n_inputs, key, where)
    if len(cond_g) != 1:
        raise MXNetError(f"{where}: the cond subgraph must have one output, has {len(cond_g)}")
    n_vars = len(p["func_var_locs"])
    _in_range(p["func_var_locs"], len(func_g.list_inputs()), "func_var_locs", where)
    if len(set(p["func_var_locs"])) != n_vars or n_vars == 0 or \
            not 0 <= p["num_out_data"] <= p["num_outputs"] or \
            p["num_outputs"] - p["num_out_data"] != n_vars or len(func_g) != p["num_outputs"]:
        raise MXNetError(f"{where}: num_outputs={p['num_outputs']}, num_out_data="
                         f"{p['num_out_data']}, {n_vars} loop variables and a func subgraph of "
                         f"{len(func_g)} outputs do not agree")


def _cond_structure(p, subgraphs, n_inputs, where):
    pred_g, then_g, else_g = subgraphs
    for g, key in ((pred_g, "cond_input_locs"), (then_g, "then_input_locs"),
                   (else_g, "else_input_locs")):
        if len(p[key]) != len(g.list_inputs()):
            raise MXNetError(f"{where}: {key} has {len(p[key])} entries for a subgraph of "
                             f"{len(g.list_inputs())} inputs")
        _in_range(p[key], n_inputs, key, where)
    if len(pred_g) != 1 or len(then_g) != p["num_outputs"] or len(else_g) != p["num_outputs"]:
        raise MXNetError(f"{where}: num_outputs={p['num_outputs']} but the branches give "
                         f"{len(then_g)} and {len(else_g)} outputs (and the condition "
                         f"{len(pred_g)})")


_COUNT = _int(1, 2 ** 20)
SPECS = {
    "_foreach": ControlFlowSpec("_foreach", _run_foreach, {
        "num_args": _COUNT, "num_outputs": _COUNT, "num_out_data": _int(0, 2 ** 20),
        "in_state_locs": _locs, "in_data_locs": _locs, "remain_locs": _locs}, 1,
        _foreach_structure),
    "_while_loop": ControlFlowSpec("_while_loop", _run_while_loop, {
        "num_args": _COUNT, "num_outputs": _COUNT, "num_out_data": _int(0, 2 ** 20),
        "max_iterations": _int(1, 2 ** 31 - 1), "cond_input_locs": _locs,
        "func_input_locs": _locs, "func_var_locs": _locs}, 2, _while_structure),
    "_cond": ControlFlowSpec("_cond", _run_cond, {
        "num_args": _COUNT, "num_outputs": _COUNT, "cond_input_locs": _locs,
        "then_input_locs": _locs, "else_input_locs": _locs}, 3, _cond_structure),
}

FUNCTIONS = {"foreach": foreach, "while_loop": while_loop, "cond": cond}
