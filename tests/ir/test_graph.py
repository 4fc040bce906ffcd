"""Drawing functions: DOT text and the networkx view agree with the printed IR."""
import networkx as nx

import tracegrad as mx
from tracegrad import nd


def test_dot_and_networkx_views():
    fn = mx.make_ir(lambda x, w: nd.relu(nd.dot(x, w)) * 2)(nd.ones((2, 3)), nd.ones((3, 4)))
    g = mx.ir.to_networkx(fn)
    assert nx.is_directed_acyclic_graph(g)
    assert g.nodes["%0"]["op"] == "matmul" and g.nodes["%0"]["type"] == "f32[2,4]"
    assert set(g.predecessors("%0")) == {"%x", "%w"}
    assert [n for n in g if g.out_degree(n) == 0] == ["return0"]
    dot = mx.ir.to_dot(fn)
    assert dot.startswith('digraph "lambda" {') and '"%x" -> "%0";' in dot
    assert dot.count("->") == g.number_of_edges()
