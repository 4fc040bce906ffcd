"""MXNet symbol JSON is untrusted input: every malformed document raises MXNetError naming the
node, the op and the attribute, before any node is built (nothing half-loaded)."""
import copy
import json

import pytest

import tracegrad as mx
from tracegrad.symbol import json_format

BASE = {
    "nodes": [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "fc1_weight", "attrs": {"__shape__": "(4, 3)"}, "inputs": []},
        {"op": "null", "name": "fc1_bias", "inputs": []},
        {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "4"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
        {"op": "Activation", "name": "relu1", "attrs": {"act_type": "relu"},
         "inputs": [[3, 0, 0]]},
    ],
    "arg_nodes": [0, 1, 2],
    "node_row_ptr": [0, 1, 2, 3, 4, 5],
    "heads": [[4, 0, 0]],
    "attrs": {"mxnet_version": ["int", 10901]},
}


def _load(doc):
    return mx.sym.load_json(json.dumps(doc))


def _mutated(fn):
    doc = copy.deepcopy(BASE)
    fn(doc)
    return doc


def test_base_document_loads():
    sym = _load(BASE)
    assert sym.list_arguments() == ["data", "fc1_weight", "fc1_bias"]


@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d["nodes"][4].update(op="NoSuchOp"), r"node 4 'relu1'.*unknown operator 'NoSuchOp'"),
    (lambda d: d["nodes"][4]["attrs"].update(act_type="explode"),
     r"node 4 'relu1'.*Activation.*act_type='explode'"),
    (lambda d: d["nodes"][3]["attrs"].update(num_hidden="four"),
     r"node 3 'fc1'.*FullyConnected.*num_hidden='four'"),
    (lambda d: d["nodes"][3]["attrs"].update(num_hidden="-2"),
     r"node 3 'fc1'.*num_hidden='-2'.*out of range"),
    (lambda d: d["nodes"][3]["attrs"].update(num_hidden="99999999999999"),
     r"node 3 'fc1'.*num_hidden.*out of range"),
    (lambda d: d["nodes"][3]["attrs"].update(no_bias="maybe"), r"node 3 'fc1'.*no_bias"),
    (lambda d: d["nodes"][3]["attrs"].update(bogus="1"),
     r"node 3 'fc1'.*FullyConnected has no attribute 'bogus'"),
    (lambda d: d["nodes"][3]["attrs"].update(num_hidden=4), r"node 3 'fc1'.*must be a string"),
    (lambda d: d["nodes"][3].update(inputs=[[0, 0, 0], [1, 0, 0], [4, 0, 0]]),
     r"node 3 'fc1'.*refers to node 4.*forward reference or a cycle"),
    (lambda d: d["nodes"][3].update(inputs=[[0, 0, 0], [1, 0, 0], [3, 0, 0]]),
     r"node 3 'fc1'.*refers to node 3.*cycle"),
    (lambda d: d["nodes"][4].update(inputs=[[3, 2, 0]]),
     r"node 4 'relu1'.*reads output 2 of node 3 'fc1'"),
    (lambda d: d["nodes"][4].update(inputs=[[99, 0, 0]]), r"node 4 'relu1'.*node 99"),
    (lambda d: d["nodes"][4].update(inputs=[["3", 0, 0]]), r"node 4 'relu1'.*integers"),
    # (a required attribute missing was found only when the node ran, or as a shape error)
    (lambda d: d["nodes"][4]["attrs"].pop("act_type"),
     r"node 4 'relu1'.*Activation needs the attribute\(s\) act_type"),
    (lambda d: d["nodes"][3]["attrs"].pop("num_hidden"),
     r"node 3 'fc1'.*FullyConnected needs the attribute\(s\) num_hidden"),
    (lambda d: d["nodes"][3].update(inputs=[[0, 0, 0]]),
     r"node 3 'fc1'.*has 1 inputs, it takes \['data', 'weight', 'bias'\]"),
    (lambda d: d.update(heads=[[7, 0, 0]]), r"head 0 refers to node 7"),
    (lambda d: d.update(heads=[[4, 1, 0]]), r"head 0 reads output 1 of node 4 'relu1'"),
    (lambda d: d.update(heads=[]), r"'heads' must be a non-empty list"),
    (lambda d: d["nodes"][1]["attrs"].update(__shape__="(100000000, 100000000, 1000)"),
     r"node 1 'fc1_weight'.*implausibly large"),
    (lambda d: d["nodes"][1]["attrs"].update(__shape__="((1,2),3)"),
     r"node 1 'fc1_weight'.*__shape__"),
    (lambda d: d["nodes"][1]["attrs"].update(__dtype__="77"), r"node 1 'fc1_weight'.*__dtype__"),
    (lambda d: d["nodes"][1].update(inputs=[[0, 0, 0]]), r"node 1 'fc1_weight'.*no inputs"),
    (lambda d: d["nodes"][2].update(name="data"), r"second variable named 'data'"),
    (lambda d: d["nodes"][4].pop("op"), r"node 4 'relu1' has no 'op'"),
    (lambda d: d["nodes"][4].update(subgraphs=[]),
     r"node 4 'relu1'.*only control-flow operators have subgraphs"),
    (lambda d: d["nodes"][4].update(sub_graphs=[]), r"node 4 'relu1'.*unknown keys"),
    (lambda d: d.update(arg_nodes=[4]), r"'arg_nodes' lists 4"),
    (lambda d: d.update(node_row_ptr=[0, 1]), r"node_row_ptr"),
    (lambda d: d["nodes"][4]["attrs"].update(act_type="x" * 5000), r"node 4 'relu1'.*too long"),
    # (an empty value is a string: it crashed the literal parser with an IndexError)
    (lambda d: d["nodes"][4]["attrs"].update(act_type=""), r"node 4 'relu1'.*act_type=''"),
    (lambda d: d["nodes"][3]["attrs"].update(num_hidden=" "), r"node 3 'fc1'.*num_hidden"),
    (lambda d: d["nodes"].__setitem__(4, {"op": "Custom", "name": "c", "inputs": [[3, 0, 0]],
                                         "attrs": {"op_type": "evil"}}),
     r"node 4 'c'.*Custom: no operator registered as 'evil'"),   # (only this process's)
    (lambda d: d["nodes"].__setitem__(4, {"op": "Concat", "name": "cat", "inputs": [[3, 0, 0]],
                                         "attrs": {"num_args": "2", "dim": "1"}}),
     r"node 4 'cat'.*num_args=2 but 1 inputs"),
    (lambda d: d["nodes"].__setitem__(4, {"op": "Reshape", "name": "r", "inputs": [[3, 0, 0]],
                                         "attrs": {"shape": "(1, __import__)"}}),
     r"node 4 'r'.*Reshape.*shape"),
])
def test_hostile_documents_raise_naming_the_node(mutate, pattern):
    with pytest.raises(mx.MXNetError, match=pattern):
        _load(_mutated(mutate))


@pytest.mark.parametrize("text, pattern", [
    ("not json", r"invalid MXNet symbol JSON"),
    ("[1, 2]", r"must be an object"),
    ('{"nodes": []}', r"non-empty"),
    ("[" * 200 + "]" * 200, r"nested"),
    ('{"nodes": [{"op": "null", "name": "a", "inputs": []}], "heads": [[0, 0, 0]], '
     '"x": NaN}', r"invalid"),
])
def test_malformed_text(text, pattern):
    with pytest.raises(mx.MXNetError, match=pattern):
        mx.sym.load_json(text)


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad-symbol.json"
    path.write_text(json.dumps(_mutated(lambda d: d["nodes"][4].update(op="Nope"))))
    with pytest.raises(mx.MXNetError, match=r"bad-symbol.json.*node 4 'relu1'.*'Nope'"):
        mx.sym.load(str(path))


def test_huge_num_hidden_in_a_valid_file_is_refused_before_allocating():
    doc = _mutated(lambda d: d["nodes"][3]["attrs"].update(num_hidden="2000000000"))
    doc["nodes"][1]["attrs"] = {}
    sym = _load(doc)   # a legal attribute; the allocation it implies is refused
    with pytest.raises(mx.MXNetError, match="fc1_weight.*implausibly large"):
        sym.simple_bind(mx.cpu(), data=(2, 100000))
    with pytest.raises(mx.MXNetError, match="fc1.*2000000000, 100.*too large"):
        sym.simple_bind(mx.cpu(), data=(2, 100))


def test_every_check_runs_before_anything_is_built(monkeypatch):
    built = []
    real = json_format.Node

    def counting(*a, **k):
        built.append(a[1])
        return real(*a, **k)
    monkeypatch.setattr(json_format, "Node", counting)
    with pytest.raises(mx.MXNetError):
        _load(_mutated(lambda d: d.update(heads=[[9, 0, 0]])))
    assert built == []
    _load(BASE)
    assert len(built) == 5


@pytest.mark.parametrize("make, missing", [
    (lambda x: mx.sym.Convolution(x, num_filter=2), "kernel"),
    (lambda x: mx.sym.Convolution(x, kernel=(3, 3)), "num_filter"),
    (lambda x: mx.sym.FullyConnected(x), "num_hidden"),
    (lambda x: mx.sym.Embedding(x, output_dim=3), "input_dim"),
    (lambda x: mx.sym.one_hot(x), "depth"),
    (lambda x: mx.sym.Cast(x), "dtype")])
def test_a_symbol_missing_a_required_attribute_is_refused_when_made(make, missing):
    # (MXNet's parser refuses the node; it was made, and failed later or at forward)
    with pytest.raises(mx.MXNetError, match=f"needs the attribute\\(s\\) {missing}"):
        make(mx.sym.var("x"))
