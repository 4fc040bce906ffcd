"""MXNet's storage-type inference for a bound graph: which outputs are csr / row_sparse.

A variable's storage type is its bound array's when that is sparse, else the one it was
declared with (mx.sym.var(stype=...), simple_bind's stype_dict). Every node follows
sparse_storage.py's table, the one the nd functions follow (MXNet's FInferStorageType):
zero-preserving unary ops and multiplication / division by a number keep their input's
type, elemwise_add / sub / mul of two arrays of one sparse type keep it, dot(csr.T, dense)
is row_sparse (or dot's forward_stype), everything else is dense. The executor computes the
values densely and shows its outputs with these types, as MXNet allocates them.
"""
from .. import sparse, sparse_storage

_CODES = {str(k): s for s, k in sparse.STYPE_CODES.items()}


def declared(node):
    """The storage type a variable was declared with ('default' when none)."""
    return _CODES.get(node.attrs.get("__storage_type__", "0"), "default")


def _node_stypes(node, ins):
    if node.spec.stypes is not None:    # the op's own rule (MXNet's FInferStorageType)
        return node.spec.stypes(node.params, ins)
    outputs = len(node.visible_outputs())
    if outputs != 1:
        return ["default"] * outputs
    return [sparse_storage.infer(node.op, ins, node.params)]


def infer_stypes(symbol, arrays):
    """The storage type of each of `symbol`'s outputs, for {variable name: bound array}."""
    seen = {}
    for node in symbol._order():
        if node.op is None:
            arr = arrays.get(node.name)
            stype = getattr(arr, "stype", "default")
            seen[id(node)] = [stype if stype != "default" else declared(node)]
            continue
        ins = [seen[id(c)][i] for c, i in node.inputs]
        seen[id(node)] = _node_stypes(node, ins)
    return [seen[id(n)][i] for n, i in symbol._outputs]


def gradient_stypes(symbol):
    """{variable name: its gradient's storage type} as MXNet's backward storage inference
    gives it for simple_bind's gradient arrays: row_sparse for a variable read only as the
    weight of Embedding(sparse_grad=True) (its backward is row_sparse; the sum of several
    such gradients too), 'default' for any other."""
    kinds = {}
    for node in symbol._order():
        if node.op is None:
            continue
        sparse_weight = node.op == "Embedding" and node.params.get("sparse_grad") in (True, 1)
        for (child, _), slot in zip(node.inputs, node.input_names):
            if child.op is None:
                kind = "row_sparse" if sparse_weight and slot == "weight" else "default"
                kinds.setdefault(child.name, set()).add(kind)
    return {k: "row_sparse" if v == {"row_sparse"} else "default" for k, v in kinds.items()}


def shown_as(outputs, stypes):
    """The outputs relabelled with their storage types (same values and tape)."""
    return [o if s == getattr(o, "stype", "default") else sparse.relabel(o, s)
            for o, s in zip(outputs, stypes)]
