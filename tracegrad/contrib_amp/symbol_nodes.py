"""The AMP cast nodes of a Symbol graph: amp_cast and amp_multicast, named and attributed as
MXNet's AMP pass and wrappers make them."""


def multicast_spec():
    """The OpSpec of amp_multicast (its num_outputs outputs: symbol/ops.py)."""
    from ..symbol import ops
    return ops.lookup("amp_multicast")


def cast_node(entry, dtype, name):
    """An amp_cast node named `name` reading `entry` (node, output index), to dtype (a
    name: 'float16' / 'float32')."""
    from ..symbol import ops
    from ..symbol.symbol import Node
    spec = ops.lookup("amp_cast")
    attrs = {"dtype": dtype}
    return Node("amp_cast", name, attrs, [entry], spec,
                spec.check_attrs(attrs, f"node '{name}'"), ["data"])


def multicast_node(entries, name):
    """An amp_multicast node named `name` over `entries`: output i is input i in the widest
    float type among them."""
    from ..symbol.symbol import Node
    spec = multicast_spec()
    attrs = {"num_outputs": str(len(entries))}
    return Node("amp_multicast", name, attrs, list(entries), spec,
                spec.check_attrs(attrs, f"node '{name}'"),
                [f"arg{i}" for i in range(len(entries))])
