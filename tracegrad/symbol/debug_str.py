"""Symbol.debug_str / Executor.debug_str: the graph as text in the layout MXNet 1.x prints
(its outputs, then each node in evaluation order: a variable's name, or an operator with its
inputs and attributes), which scripts print to look at an execution plan and MXNet's memory
tools read ("Total N MB allocated" closes an executor's)."""
from .json_format import to_doc


def debug_str(sym) -> str:
    """The graph of `sym` as MXNet's Symbol.debug_str lays it out."""
    doc = to_doc(sym, subgraph=True)
    nodes = doc["nodes"]
    lines = ["Symbol Outputs:"]
    lines += [f"\toutput[{k}]={nodes[n]['name']}({i})" for k, (n, i, _) in enumerate(doc["heads"])]
    for node in nodes:
        if node["op"] == "null":
            lines.append(f"Variable:{node['name']}")
            continue
        lines += ["-" * 20, f"Op:{node['op']}, Name={node['name']}", "Inputs:"]
        for k, (n, i, version) in enumerate(node["inputs"]):
            src = nodes[n]
            tail = f" version={version}" if src["op"] == "null" else ""
            lines.append(f"\targ[{k}]={src['name']}({i}){tail}")
        if node.get("attrs"):
            lines.append("Attrs:")
            lines += [f"\t{key}={value}" for key, value in sorted(node["attrs"].items())]
    return "\n".join(lines) + "\n"


def executor_debug_str(sym, arrays) -> str:
    """An executor's: its graph, then the megabytes its bound arrays hold (`arrays`)."""
    total = sum(a.size * a._data.itemsize for a in arrays if a is not None)
    return debug_str(sym) + f"Total {total >> 20} MB allocated\n"
