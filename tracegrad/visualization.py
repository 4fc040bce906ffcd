"""`mx.viz` / `mx.visualization` (MXNet 1.9.1): print_summary and plot_network of a Symbol.

Both read the symbol's MXNet JSON document (what `tojson()` writes) and, given input
shapes, the shapes of every internal output (`get_internals().infer_shape`).
print_summary prints MXNet's table: one row
per operator (and per head variable), its output shape without the batch axis, its parameter
count (Convolution, FullyConnected, BatchNorm and Embedding, counted as MXNet counts them from
the channels of the preceding layers) and the layers it reads. plot_network needs the
`graphviz` Python package, as MXNet's does, and raises ImportError without it.
"""
import copy

from .symbol import Symbol
from .symbol.json_format import to_doc

__all__ = ["print_summary", "plot_network"]


def _str2tuple(string):
    """'(3, 3)' -> ['3', '3'], as MXNet's helper."""
    return [s.strip() for s in str(string).strip("()[] ").split(",") if s.strip()]


def _shape_dict(symbol, shape):
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape(**shape)
    if out_shapes is None:
        raise ValueError("Input shape is incomplete")
    return dict(zip(internals.list_outputs(), out_shapes))


def print_summary(symbol, shape=None, line_length=120, positions=(.44, .64, .74, 1.)):
    """Print the layers of `symbol` with output shapes (when `shape` maps the inputs to their
    shapes), parameter counts and preceding layers; the last line is the total."""
    if not isinstance(symbol, Symbol):
        raise TypeError("symbol must be Symbol")
    show_shape = shape is not None
    shape_dict = _shape_dict(symbol, shape) if show_shape else {}
    conf = to_doc(symbol)
    nodes = conf["nodes"]
    heads = set(conf["heads"][0])
    positions = list(positions)
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]

    def print_row(fields):
        line = ""
        for field, end in zip(fields, positions):
            line = (line + str(field))[:end]
            line += " " * (end - len(line))
        print(line)

    def layer_row(node, out_shape):
        op, attrs = node["op"], node.get("attrs", {})
        previous, pre_filter = [], 0
        if op != "null":
            for item in node["inputs"]:
                src = nodes[item[0]]
                if src["op"] != "null" or item[0] in heads:
                    previous.append(src["name"])
                    if show_shape:
                        key = src["name"] + "_output" if src["op"] != "null" else src["name"]
                        if key in shape_dict:
                            pre_filter += int(shape_dict[key][1:][0])
        params = 0
        if op == "Convolution":
            params = pre_filter * int(attrs["num_filter"]) // int(attrs.get("num_group", "1"))
            for k in _str2tuple(attrs["kernel"]):
                params *= int(k)
            if attrs.get("no_bias") != "True":
                params += int(attrs["num_filter"])
        elif op == "FullyConnected":
            hidden = int(attrs["num_hidden"])
            params = pre_filter * hidden if attrs.get("no_bias") == "True" \
                else (pre_filter + 1) * hidden
        elif op == "BatchNorm" and show_shape:
            params = int(shape_dict[node["name"] + "_output"][1]) * 2
        elif op == "Embedding":
            params = int(attrs["input_dim"]) * int(attrs["output_dim"])
        print_row([f"{node['name']}({op})", "x".join(str(x) for x in out_shape), params,
                   previous[0] if previous else ""])
        for name in previous[1:]:
            print_row(["", "", "", name])
        return params

    print("_" * line_length)
    print_row(["Layer (type)", "Output Shape", "Param #", "Previous Layer"])
    print("=" * line_length)
    total = 0
    for i, node in enumerate(nodes):
        if node["op"] == "null" and i > 0:
            continue
        out_shape = []
        if show_shape:
            key = node["name"] + "_output" if node["op"] != "null" else node["name"]
            if key in shape_dict:
                out_shape = shape_dict[key][1:]
        total += layer_row(node, out_shape)
        print(("=" if i == len(nodes) - 1 else "_") * line_length)
    print(f"Total params: {total}")
    print("_" * line_length)


_COLORS = ("#8dd3c7", "#fb8072", "#ffffb3", "#bebada", "#80b1d3", "#fdb462", "#b3de69",
           "#fccde5")
_WEIGHT_SUFFIXES = ("_weight", "_bias", "_beta", "_gamma", "_moving_var", "_moving_mean",
                    "_running_var", "_running_mean")


def _node_label(node):
    """(label, fill colour) of an operator node, as MXNet draws it."""
    op, name, attrs = node["op"], node["name"], node.get("attrs", {})
    if op == "Convolution":
        stride = "x".join(_str2tuple(attrs["stride"])) if "stride" in attrs else "1"
        return (f"Convolution\n{'x'.join(_str2tuple(attrs['kernel']))}/{stride}, "
                f"{attrs['num_filter']}", _COLORS[1])
    if op == "FullyConnected":
        return f"FullyConnected\n{attrs['num_hidden']}", _COLORS[1]
    if op == "BatchNorm":
        return name, _COLORS[3]
    if op == "Activation":
        return f"Activation\n{attrs['act_type']}", _COLORS[2]
    if op == "LeakyReLU":
        return f"LeakyReLU\n{attrs.get('act_type', 'Leaky')}", _COLORS[2]
    if op == "Pooling":
        kernel = "x".join(_str2tuple(attrs["kernel"])) if "kernel" in attrs else "[]"
        stride = "x".join(_str2tuple(attrs["stride"])) if "stride" in attrs else "1"
        return f"Pooling\n{attrs.get('pool_type', 'max')}, {kernel}/{stride}", _COLORS[4]
    if op in ("Concat", "Flatten", "Reshape"):
        return name, _COLORS[5]
    if op == "Softmax":
        return name, _COLORS[6]
    return (attrs["op_type"] if op == "Custom" else name), _COLORS[7]


def plot_network(symbol, title="plot", save_format="pdf", shape=None, dtype=None,
                 node_attrs=None, hide_weights=True):
    """A graphviz Digraph of `symbol`: one box per operator, inputs as ovals, parameters
    hidden (hide_weights), edges labelled with shapes when `shape` is given."""
    try:
        from graphviz import Digraph
    except ImportError as err:
        raise ImportError("Draw network requires graphviz library") from err
    if not isinstance(symbol, Symbol):
        raise TypeError("symbol must be a Symbol")
    shape_dict = _shape_dict(symbol, shape) if shape is not None else None
    conf = to_doc(symbol)
    nodes = conf["nodes"]
    node_attr = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034",
                 "style": "filled"}
    node_attr.update(node_attrs or {})
    dot = Digraph(name=title, format=save_format)
    hidden = set()
    for node in nodes:
        attr = copy.deepcopy(node_attr)
        if node["op"] == "null":
            if node["name"].endswith(_WEIGHT_SUFFIXES):
                if hide_weights:
                    hidden.add(node["name"])
                continue
            attr.update(shape="oval", fillcolor=_COLORS[0])
            label = node["name"]
        else:
            label, attr["fillcolor"] = _node_label(node)
        dot.node(name=node["name"], label=label, **attr)
    for node in nodes:
        if node["op"] == "null":
            continue
        for item in node["inputs"]:
            src = nodes[item[0]]
            if src["name"] in hidden:
                continue
            attr = {"dir": "back", "arrowtail": "open", "label": ""}
            if shape_dict is not None:
                key = src["name"] + "_output" if src["op"] != "null" else src["name"]
                if key in shape_dict:
                    attr["label"] = "x".join(str(x) for x in shape_dict[key][1:])
            dot.edge(tail_name=node["name"], head_name=src["name"], **attr)
    return dot
