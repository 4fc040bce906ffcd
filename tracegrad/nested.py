"""Nested lists of arrays (or Symbols) as control flow takes and returns them: flattened into
one list plus a format, and regrouped from it (`contrib.py`'s nd control flow and
`symbol/control_flow.py`'s symbolic one, as MXNet's _flatten / _regroup)."""


def flatten(obj, what, leaf, kind, width=None):
    """(flat list of leaves, format): format 0 for a leaf (or width(leaf) when one leaf stands
    for several entries: a Symbol of several outputs), else the list of its items' formats."""
    if isinstance(obj, leaf):
        return [obj], (width(obj) if width is not None else 0)
    if not isinstance(obj, (list, tuple)):
        raise TypeError(f"{what}: expected an {kind} or a (nested) list of {kind}s, got "
                        f"{type(obj).__name__}")
    flat, fmt = [], []
    for x in obj:
        f, s = flatten(x, what, leaf, kind, width)
        flat.extend(f)
        fmt.append(s)
    return flat, fmt


def regroup(items, fmt):
    """(the structure `fmt` describes, built from the front of items; the items left)."""
    if isinstance(fmt, int):
        if fmt == 0:
            return items[0], items[1:]
        return items[:fmt], items[fmt:]
    out = []
    for s in fmt:
        got, items = regroup(items, s)
        out.append(got)
    return out, items
