"""Op attributes are checked by name wherever an op is built (ir/attrs.py), so a file, a
caller or a pass can never hand the type rule, numpy and codegen a value they read
differently (`transpose_a = 1`)."""
import pytest

from tracegrad.ir import Builder, TensorType, parse
from tracegrad.ir.attrs import RULES, RUNTIME, check_attr
from tracegrad.ir.ops import REGISTRY
from tracegrad.ir.parser import ParseError

FILE_OPS = {n: op for n, op in REGISTRY.items() if op.__module__.startswith("tracegrad.ir.ops")}


def test_every_required_attribute_of_a_loadable_op_has_a_rule():
    missing = sorted({(n, a) for n, op in FILE_OPS.items() for a in op.attr_names
                      if a not in RULES and a not in RUNTIME})
    assert not missing, f"add rules to tracegrad/ir/attrs.py RULES for {missing}"


BAD = {
    "keepdims": [1, "true", None], "transpose_a": [0, 1.0, (True,)],
    "axis": [1.5, True, "0", 10 ** 9], "axes": [(0.5,), 1, (-1,), (True,)],
    "shape": [(-1,), (2.0,), (1 << 41,), ((1,),)], "begin": [(1.0,), 3],
    "step": [(0,), (1.5,)], "size": [-1, 2.5], "depth": [-3, "4"],
    "dtype": ["float32", "i16", 1], "value": ["1", None, (1,)], "p": [1.5, -0.1, "0.5"],
    "low": [float("inf"), "0"], "scale": [float("nan")],
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_ill_typed_values_are_refused_naming_op_and_attribute(name):
    op = next(o for o in FILE_OPS.values() if name in o.attr_names or name in o.defaults)
    for value in BAD[name]:
        with pytest.raises(TypeError, match=rf"{op.name}: attribute {name} = .* must be"):
            check_attr(op, name, value)


def test_builder_and_parser_refuse_an_ill_typed_matmul():
    b = Builder()
    x = b.param(TensorType("f32", (2, 3)), "x")
    with pytest.raises(TypeError, match="transpose_a = 1 must be true or false"):
        b.matmul(x, x, transpose_a=1)
    text = ("func @f(%x: f32[3,2]) -> (f32[2,2]) {\n"
            "  %0 = matmul %x, %x {transpose_a = 1} : f32[2,2]\n  return %0\n}")
    with pytest.raises(ParseError, match=r"2:\d+: matmul: attribute transpose_a"):
        parse(text)
    assert len(parse(text.replace("= 1", "= true")).ops) == 1
