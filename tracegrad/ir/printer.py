"""Function -> text. Deterministic: names are assigned while printing, never stored.

Grammar (the parser in parser.py reads exactly this back):

    function ::= 'func' '@' NAME '(' [param (',' param)*] ')' '->' '(' [type (',' type)*] ')' '{'
                 op* 'return' [operand (',' operand)*] '}'
    param    ::= '%' NAME ':' type
    op       ::= '%' NAME (',' '%' NAME)* '=' OPNAME [operand (',' operand)*] [attrs]
                 ':' type (',' type)*
    operand  ::= '%' NAME | literal          // scalar literals inline, typed by the op
    attrs    ::= '{' key '=' value (',' key '=' value)* '}'   // sorted keys, defaults omitted
    type     ::= DTYPE '[' [dim (',' dim)*] ']'               // f32[] is a scalar
    comment  ::= '//' to end of line

Parameters print with their name hints; temporaries as %0, %1, ... (or hint_1 on collision).
"""
import math

from .function import Literal


def format_attr(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return Literal(v, "f64").text()
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if v is None:
        return "none"
    return str(v)


def format_attrs(opdef, attrs) -> str:
    shown = [(k, v) for k, v in attrs.items()
             if not (k in opdef.defaults and _same(opdef.defaults[k], v))]
    if not shown:
        return ""
    return " {" + ", ".join(f"{k} = {format_attr(v)}" for k, v in sorted(shown)) + "}"


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


class Namer:
    """Assigns printed names: parameters by hint, temporaries by number or hint."""

    def __init__(self):
        self.names, self.used, self.counter = {}, set(), 0

    def define(self, value, hint=None) -> str:
        if hint:
            name, k = hint, 1
            while name in self.used:
                name, k = f"{hint}_{k}", k + 1
        else:
            while str(self.counter) in self.used:
                self.counter += 1
            name = str(self.counter)
            self.counter += 1
        self.used.add(name)
        self.names[value] = name
        return "%" + name

    def ref(self, v) -> str:
        if isinstance(v, Literal):
            return v.text()
        name = self.names.get(v)
        return "%" + name if name is not None else "%<undefined>"


def print_function(fn, mark=None, locations=False) -> str:
    """The text of `fn`. `mark` (an Operation) gets a `// <-- here` marker, for errors; with
    `locations`, each op its source location (`// loc: model.py:12 (net.0.dense0)`)."""
    namer = Namer()
    params = ", ".join(f"{namer.define(p, p.name_hint)}: {p.type}" for p in fn.params)
    outs = ", ".join(str(o.type) for o in fn.outputs)
    lines = [f"func @{fn.name}({params}) -> ({outs}) {{"]
    for op in fn.ops:
        line = "  " + format_op(op, namer) + ("  // <-- here" if op is mark else "")
        if locations and getattr(op, "loc", None):
            line += f"  // loc: {op.loc}"
        lines.append(line)
    ret = ", ".join(namer.ref(o) for o in fn.outputs)
    lines.append(f"  return {ret}" if ret else "  return")
    lines.append("}")
    return "\n".join(lines)


def format_op(op, namer) -> str:
    operands = ", ".join(namer.ref(o) for o in op.operands)
    results = ", ".join(namer.define(r, None) for r in op.results)
    types = ", ".join(str(r.type) for r in op.results)
    head = f"{results} = {op.opdef.name}" + (f" {operands}" if operands else "")
    return f"{head}{format_attrs(op.opdef, op.attrs)} : {types}"
