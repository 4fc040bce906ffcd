"""Drawing a Function: `to_dot(fn)` gives Graphviz DOT text (render with `dot -Tsvg`), and
`to_networkx(fn)` a DiGraph with one node per value, for analysis."""
import networkx as nx

from .function import Literal
from .printer import Namer


def to_networkx(fn) -> nx.DiGraph:
    """Nodes are printed value names (with 'op' and 'type' attributes); edges point to uses."""
    namer = Namer()
    g = nx.DiGraph(name=fn.name)
    for p in fn.params:
        name = namer.define(p, p.name_hint)
        g.add_node(name, op="param", type=str(p.type))
    for op in fn.ops:
        srcs = [namer.ref(o) for o in op.operands]
        for r in op.results:
            name = namer.define(r)
            g.add_node(name, op=op.opdef.name, type=str(r.type))
            for o, s in zip(op.operands, srcs):
                if not isinstance(o, Literal):
                    g.add_edge(s, name)
    for i, o in enumerate(fn.outputs):
        if not isinstance(o, Literal):
            g.add_node(f"return{i}", op="return", type=str(o.type))
            g.add_edge(namer.ref(o), f"return{i}")
    return g


def to_dot(fn) -> str:
    """Graphviz text: parameters as ellipses, ops as boxes labelled 'op : type'."""
    g = to_networkx(fn)
    lines = [f'digraph "{fn.name}" {{', "  rankdir=TB;", '  node [fontname="monospace"];']
    for n, data in g.nodes(data=True):
        shape = "ellipse" if data["op"] in ("param", "return") else "box"
        label = f"{n}\\n{data['op']} : {data['type']}"
        lines.append(f'  "{n}" [shape={shape}, label="{label}"];')
    for a, b in g.edges():
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines)
