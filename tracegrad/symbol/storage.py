"""MXNet's storage-type inference for a bound graph: which outputs are csr / row_sparse.

A variable's storage type is its bound array's when that is sparse, else the one it was
declared with (mx.sym.var(stype=...), simple_bind's stype_dict). Every node follows
sparse.py's rules (MXNet's FInferStorageType where they agree): zero-preserving unary ops
and multiplication / division by a number keep their input's type, elemwise_add / sub / mul
of two arrays of one sparse type keep it, dot(csr.T, dense) is row_sparse (or dot's
forward_stype), everything else is dense. The executor computes the values densely and shows
its outputs with these types, as MXNet allocates them.
"""
from .. import sparse

_CODES = {"0": "default", "1": "row_sparse", "2": "csr"}
_KEEP = frozenset({"negative", "_copy", "BlockGrad", "_mul_scalar", "_div_scalar"})
_SAME = frozenset({"elemwise_add", "elemwise_sub", "elemwise_mul"})


def declared(node):
    """The storage type a variable was declared with ('default' when none)."""
    return _CODES.get(node.attrs.get("__storage_type__", "0"), "default")


def _node_stypes(node, ins):
    op = node.op
    if node.spec.stypes is not None:    # the op's own rule (MXNet's FInferStorageType)
        return node.spec.stypes(node.params, ins)
    if op in _KEEP or sparse.keeps_stype(op, node.params):
        return [ins[0]]
    if op in _SAME and len(ins) == 2 and ins[0] == ins[1]:
        return [ins[0]]
    if op == "dot":
        want = node.params.get("forward_stype")
        if want is not None:
            return [want]
        if ins[:2] == ["csr", "default"] and node.params.get("transpose_a", False):
            return ["row_sparse"]
    return ["default"] * len(node.visible_outputs())


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


def shown_as(outputs, stypes):
    """The outputs relabelled with their storage types (same values and tape)."""
    return [o if s == getattr(o, "stype", "default") else sparse.relabel(o, s)
            for o, s in zip(outputs, stypes)]
