"""MXNet's symbol JSON (nnvm's graph format), written and read by our own code.

    {"nodes": [{"op": "null", "name": "data", "inputs": []},
               {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "128"},
                "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}, ...],
     "arg_nodes": [0, 1, 2, ...],            # the variable nodes
     "node_row_ptr": [0, 1, 2, ...],         # prefix sums of each node's output count
     "heads": [[9, 0, 0]],                   # [node, output, version]
     "attrs": {"mxnet_version": ["int", 10901]}}

A file is untrusted input: the whole document is validated (every op exists, every attribute
parses into its op's type and range, every input refers to an earlier node's existing output,
so there is no cycle, heads are in range, variable shapes are of a plausible size) before any
node is built, and a bad file raises MXNetError naming the node, the op and the attribute.
Older files spell node attributes "attr" or "param"; both are read.
"""
import json

from ..base import MXNetError
from ..util import is_np_shape
from . import ops as _ops
from .inference import var_dtype_attr
from .literal import LiteralError, parse_literal
from .symbol import CODE_DTYPES, Node, Symbol, topo_order

MXNET_VERSION = 10901
MAX_NODES = 1_000_000
MAX_LOOP_TRIPS = 2 ** 24        # iterations of nested while loops in a file, all multiplied
MAX_SUBGRAPH_DEPTH = 8      # loops in loops: real models nest two or three
_NODE_KEYS = {"op", "name", "inputs", "attrs", "attr", "param", "backward_source_id",
              "control_deps", "subgraphs"}


def to_doc(sym, subgraph=False):
    """The graph as the dict MXNet's symbol JSON holds (nodes, arg_nodes, node_row_ptr,
    heads, attrs): what to_json writes, for readers such as mx.viz. A control-flow node's
    subgraphs are graphs of the same form under its "subgraphs" key (without "attrs")."""
    order = topo_order([n for n, _ in sym._outputs])
    index = {id(n): i for i, n in enumerate(order)}
    nodes, row = [], [0]
    for node in order:
        entry = {"op": "null" if node.op is None else node.op, "name": node.name}
        if node.attrs:
            entry["attrs"] = dict(node.attrs)
        entry["inputs"] = [[index[id(c)], i, 0] for c, i in node.inputs]
        if node.params and node.params.get("subgraphs"):
            entry["subgraphs"] = [to_doc(g, subgraph=True) for g in node.params["subgraphs"]]
        nodes.append(entry)
        row.append(row[-1] + node.total_outputs())
    doc = {"nodes": nodes,
           "arg_nodes": [i for i, n in enumerate(order) if n.op is None],
           "node_row_ptr": row,
           "heads": [[index[id(n)], i, 0] for n, i in sym._outputs]}
    if subgraph:
        return doc
    doc["attrs"] = {"mxnet_version": ["int", MXNET_VERSION]}
    if is_np_shape():       # (MXNet marks a graph saved under np_shape: its 0s are sizes)
        doc["attrs"]["is_np_shape"] = ["int", 1]
    return doc


def to_json(sym):
    """The JSON text MXNet 1.9.1's Symbol.tojson writes for this graph."""
    doc = to_doc(sym)
    lines = ",\n".join("    " + json.dumps(n) for n in doc["nodes"])
    rest = ",\n".join(f'  "{k}": {json.dumps(doc[k])}' for k in ("arg_nodes", "node_row_ptr",
                                                                   "heads", "attrs"))
    return "{\n  \"nodes\": [\n" + lines + "\n  ],\n" + rest + "\n}"


def _fail(source, msg):
    return MXNetError(f"{source}: invalid MXNet symbol JSON: {msg}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _entry(source, what, e, n_nodes):
    if not (isinstance(e, list) and len(e) in (2, 3) and all(_is_int(x) for x in e)):
        raise _fail(source, f"{what} must be [node, output, version] integers, got {e!r}")
    if not 0 <= e[0] < n_nodes:
        raise _fail(source, f"{what} refers to node {e[0]}, outside 0..{n_nodes - 1}")
    if e[1] < 0:
        raise _fail(source, f"{what} refers to output {e[1]}")
    return e[0], e[1]


_TYPED_VAR_ATTRS = ("__shape__", "__dtype__", "__lr_mult__", "__wd_mult__", "__storage_type__")


def _check_var_attrs(source, where, attrs):
    """The attributes tracegrad reads as values are checked; others stay text (MXNet's
    `__init__` is an initializer's dumps(), '["zero", {}]'; user attributes are any text)."""
    for key, text in attrs.items():
        if key not in _TYPED_VAR_ATTRS:
            continue
        try:
            value = parse_literal(text)
        except LiteralError as e:
            raise _fail(source, f"{where}, attribute {key}={text!r}: {e}") from None
        if key == "__shape__":
            if not isinstance(value, tuple) or not all(_is_int(d) and d >= -1 for d in value) \
                    or len(value) > 32:
                raise _fail(source, f"{where}, attribute __shape__={text!r}: not a shape")
            try:
                _ops.check_shape_size(tuple(max(d, 0) for d in value), where)
            except MXNetError as e:
                raise _fail(source, str(e)) from None
        elif key == "__dtype__":
            if not (_is_int(value) and value in CODE_DTYPES) and value not in (-1,):
                raise _fail(source, f"{where}, attribute __dtype__={text!r}: unknown dtype code "
                                    f"(known: {sorted(CODE_DTYPES)})")
        elif key in ("__lr_mult__", "__wd_mult__"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(source, f"{where}, attribute {key}={text!r}: not a number")
        elif key == "__storage_type__":
            if not (_is_int(value) and value in (-1, 0, 1, 2)):
                raise _fail(source, f"{where}, attribute {key}={text!r}: not a storage type")


def _node_attrs(source, where, raw):
    merged = {}
    for key in ("param", "attr", "attrs"):
        part = raw.get(key)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise _fail(source, f"{where}: '{key}' must be an object of strings")
        for k, v in part.items():
            if not isinstance(v, str):
                raise _fail(source, f"{where}: attribute {k!r} must be a string, got "
                                    f"{type(v).__name__}")
            merged[k] = v
    return merged


def from_document(doc, source="<json>", depth=0, trips=MAX_LOOP_TRIPS):
    """A Symbol from a parsed JSON document, validated first (all or nothing). `depth`: how
    deep in control-flow subgraphs this document is; `trips`: how many iterations a while
    loop in it may still run, the enclosing loops' max_iterations multiplied in (a file
    cannot ask for a loop that never ends in practice)."""
    if depth > MAX_SUBGRAPH_DEPTH:
        raise _fail(source, f"control-flow subgraphs nested more than {MAX_SUBGRAPH_DEPTH} "
                            f"deep")
    if not isinstance(doc, dict):
        raise _fail(source, "the document must be an object")
    nodes, heads = doc.get("nodes"), doc.get("heads")
    if not isinstance(nodes, list) or not nodes:
        raise _fail(source, "'nodes' must be a non-empty list")
    if len(nodes) > MAX_NODES:
        raise _fail(source, f"{len(nodes)} nodes is more than {MAX_NODES}")
    if not isinstance(heads, list) or not heads:
        raise _fail(source, "'heads' must be a non-empty list")
    plan, names = [], {}
    for nid, raw in enumerate(nodes):
        if not isinstance(raw, dict):
            raise _fail(source, f"node {nid} must be an object")
        name, op = raw.get("name"), raw.get("op")
        if not isinstance(name, str) or not name or len(name) > 1024:
            raise _fail(source, f"node {nid} has no valid 'name'")
        where = f"node {nid} '{name}'"
        if not isinstance(op, str):
            raise _fail(source, f"{where} has no 'op' string")
        extra = set(raw) - _NODE_KEYS
        if extra:
            raise _fail(source, f"{where} (op {op}): unknown keys {sorted(extra)}")
        if raw.get("control_deps"):
            raise _fail(source, f"{where} (op {op}): control dependencies are not supported")
        inputs = raw.get("inputs", [])
        if not isinstance(inputs, list):
            raise _fail(source, f"{where} (op {op}): 'inputs' must be a list")
        attrs = _node_attrs(source, where, raw)
        refs = []
        for k, e in enumerate(inputs):
            c, i = _entry(source, f"{where} (op {op}) input {k}", e, len(nodes))
            if c >= nid:
                raise _fail(source, f"{where} (op {op}) input {k} refers to node {c}, which is "
                                    f"not an earlier node (a forward reference or a cycle)")
            visible = plan[c][4]
            if i >= visible:
                raise _fail(source, f"{where} (op {op}) input {k} reads output {i} of node "
                                    f"{c} '{plan[c][1]}', which has {visible} usable outputs")
            refs.append((c, i))
        if op == "null":
            if refs:
                raise _fail(source, f"{where}: a variable has no inputs")
            _check_var_attrs(source, where, attrs)
            if name in names:
                raise _fail(source, f"{where}: a second variable named '{name}' (node "
                                    f"{names[name]})")
            names[name] = nid
            plan.append((None, name, attrs, refs, 1, None, None, []))
            continue
        spec = _ops.lookup(op)
        if spec is None:
            raise _fail(source, f"{where}: unknown operator {op!r}")
        try:
            params = spec.check_attrs(attrs, f"{where}")
            spec = spec.for_attrs(params, f"{where}")
        except MXNetError as e:
            raise _fail(source, str(e)) from None
        if spec.variadic:
            slots = [f"arg{i}" for i in range(len(refs))]
            if not refs:
                raise _fail(source, f"{where} (op {op}) has no inputs")
            # (a control-flow op counts its subgraphs among its arguments, as MXNet does)
            n_args = len(refs) + getattr(spec, "n_subgraphs", 0)
            if "num_args" in params and params["num_args"] != n_args:
                raise _fail(source, f"{where} (op {op}): num_args={params['num_args']} but "
                                    f"{len(refs)} inputs")
        else:
            slots = spec.active_inputs(params)
            required = _required(spec, slots)
            if not required <= len(refs) <= len(slots):
                raise _fail(source, f"{where} (op {op}) has {len(refs)} inputs, it takes "
                                    f"{slots} with these attributes")
            slots = slots[:len(refs)]
        subgraphs = raw.get("subgraphs")
        if subgraphs is not None or hasattr(spec, "check_structure"):
            params = _with_subgraphs(source, where, op, spec, params, subgraphs, len(refs),
                                     depth, trips)
        total, visible = spec.outputs(params)
        plan.append((op, name, attrs, refs, len(visible), spec, params, slots))
    for k, e in enumerate(heads):
        c, i = _entry(source, f"head {k}", e, len(nodes))
        if i >= plan[c][4]:
            raise _fail(source, f"head {k} reads output {i} of node {c} '{plan[c][1]}', which "
                                f"has {plan[c][4]} usable outputs")
    arg_nodes = doc.get("arg_nodes")
    if arg_nodes is not None:
        if not isinstance(arg_nodes, list) or not all(_is_int(a) for a in arg_nodes):
            raise _fail(source, "'arg_nodes' must be a list of node indices")
        for a in arg_nodes:
            if not 0 <= a < len(nodes) or plan[a][0] is not None:
                raise _fail(source, f"'arg_nodes' lists {a}, which is not a variable node")
    row = doc.get("node_row_ptr")
    if row is not None:
        if not (isinstance(row, list) and len(row) == len(nodes) + 1 and row[:1] == [0]
                and all(_is_int(r) for r in row)
                and all(a <= b for a, b in zip(row, row[1:]))):
            raise _fail(source, "'node_row_ptr' must be nondecreasing prefix sums from 0, one "
                                "per node plus one")
    attrs = doc.get("attrs")
    if attrs is not None and not isinstance(attrs, dict):
        raise _fail(source, "'attrs' must be an object")
    # everything checked: build (cannot fail from here on)
    built = []
    for op, name, attrs, refs, _, spec, params, slots in plan:
        built.append(Node(None if op is None else _ops.canonical(op), name, attrs,
                          [(built[c], i) for c, i in refs], spec, params, slots))
    return Symbol([(built[e[0]], e[1]) for e in heads])


def _with_subgraphs(source, where, op, spec, params, subgraphs, n_inputs, depth, trips):
    """params with the node's subgraphs read (each a whole document, checked the same way)
    and the control-flow op's counts and locations checked against them."""
    if not hasattr(spec, "check_structure"):
        raise _fail(source, f"{where} (op {op}): only control-flow operators have subgraphs")
    loops = params.get("max_iterations", 1)
    if loops > trips:
        raise _fail(source, f"{where} (op {op}): max_iterations={loops} is more than the "
                            f"{trips} iterations left to loops in this file (at most "
                            f"{MAX_LOOP_TRIPS} in all, nested loops multiplied)")
    trips //= loops
    if subgraphs is None:
        subgraphs = []      # (check_structure names how many the op takes)
    if not isinstance(subgraphs, list):
        raise _fail(source, f"{where} (op {op}): 'subgraphs' must be a list of graphs")
    params = dict(params, subgraphs=[
        from_document(g, f"{source}: {where} subgraph {k}", depth + 1, trips)
        for k, g in enumerate(subgraphs)])
    try:
        spec.check_structure(params, n_inputs, where)
    except MXNetError as e:
        raise _fail(source, str(e)) from None
    return params


def _required(spec, slots):
    from .symbol import _required_inputs
    req = _required_inputs(spec)
    if spec.attrs is not None or spec.shapes is not None:
        return len(slots)   # table ops: every active input (MXNet's list_arguments)
    n = 0
    for i, s in enumerate(slots):
        if s in req:
            n = i + 1
    return n


def _parse_text(text, source):
    from ..untrusted import FileFormatError, parse_json
    if not isinstance(text, str):
        raise _fail(source, f"expected JSON text, got {type(text).__name__}")
    try:
        return parse_json(text, source)
    except FileFormatError as e:
        raise _fail(source, str(e)[len(source) + 2:]) from None


def load_json(json_str):
    """mx.sym.load_json: a Symbol from MXNet's JSON text."""
    return from_document(_parse_text(json_str, "<json string>"), "<json string>")


def load(fname):
    """mx.sym.load: a Symbol from a -symbol.json file MXNet (or tojson) wrote."""
    from ..untrusted import read_json
    return from_document(read_json(fname), str(fname))


def is_mxnet_document(doc):
    return isinstance(doc, dict) and "nodes" in doc and "heads" in doc


__all__ = ["to_json", "load", "load_json", "from_document", "var_dtype_attr"]
