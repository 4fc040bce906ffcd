"""Parser: literals typed like Builder.emit, attributes of every kind, and errors that give
line:col, the source line and a caret under the bad token."""
import math

import pytest

from tracegrad.ir import Literal, ParseError, parse, print_function
from tracegrad.ir.parser import Parser, parse_module

F = "func @f(%x: f32[4], %n: i32[4]) -> ({out}) {{\n  %0 = {op}\n  return %0\n}}"


def op_of(op, out):
    return parse(F.format(op=op, out=out)).ops[0]


@pytest.mark.parametrize("op, out, dtype, value", [
    ("add %x, 1.5 : f32[4]", "f32[4]", "f32", 1.5),
    ("add %x, 2 : f32[4]", "f32[4]", "f32", 2.0),
    ("add %n, 2 : i32[4]", "i32[4]", "i32", 2),
    ("add %n, 2.5 : f64[4]", "f64[4]", "f64", 2.5),
    ("mul %x, inf : f32[4]", "f32[4]", "f32", math.inf),
    ("mul %x, -inf : f32[4]", "f32[4]", "f32", -math.inf),
    ("mul %x, -1.25e-07 : f32[4]", "f32[4]", "f32", -1.25e-07),
    ("add 1, 2 : i64[]", "i64[]", "i64", 1),
    ("add 1.0, 2 : f64[]", "f64[]", "f32", 1.0),  # 2 alone is i64; f32 + i64 -> f64
    ("ne true, false : bool[]", "bool[]", "bool", True),
])
def test_literal_dtype_follows_the_builder_rule(op, out, dtype, value):
    lit = [o for o in op_of(op, out).operands if isinstance(o, Literal)][0]
    assert lit.dtype == dtype and lit.value == value


def test_nan_literal_and_default_attributes():
    op = op_of("maximum %x, nan : f32[4]", "f32[4]")
    assert math.isnan(op.operands[1].value)
    op = op_of("sum %x {axes = [0]} : f32[]", "f32[]")
    assert op.attrs == {"axes": (0,), "keepdims": False}


def test_attribute_values_of_every_kind():
    p = Parser('["a\\"b", [1, 2.5, []], none, true, false, -inf, -3]')
    assert p.parse_attr_value() == ("a\"b", (1, 2.5, ()), None, True, False, -math.inf, -3)


def test_comments_and_several_functions():
    text = ("// two functions\nfunc @a() -> (f32[]) {\n  return 1.0 // a literal result\n}\n"
            "func @b(%x: f32[]) -> (f32[]) {\n  return %x\n}\n")
    a, b = parse_module(text)
    assert (a.name, b.name, a.outputs[0].value, b.outputs[0] is b.params[0]) == ("a", "b", 1.0,
                                                                                   True)
    with pytest.raises(ParseError, match="5:1: expected end of input"):
        parse(text)


def test_numbered_parameters_print_back_the_same():
    text = "func @f(%0: f32[2]) -> (f32[2]) {\n  %1 = neg %0 : f32[2]\n  return %1\n}"
    fn = parse(text)
    assert fn.params[0].name_hint is None and print_function(fn) == text


def error(text, **kw):
    with pytest.raises(ParseError) as info:
        parse(text, **kw)
    return info.value


def test_error_has_position_source_line_and_caret():
    e = error(F.format(op="add %x, %nope : f32[4]", out="f32[4]"), filename="m.tgir")
    assert (e.line, e.col) == (2, 16)
    assert str(e) == ("m.tgir:2:16: undefined value %nope\n"
                      "  %0 = add %x, %nope : f32[4]\n"
                      "               ^~~~~")


@pytest.mark.parametrize("op, message, col", [
    ("__import__ %x : f32[4]", "unknown op '__import__'", 8),
    ("neg %x : f32[5]", "neg: result 1 declared f32[5], but operands (f32[4]) give f32[4]", 17),
    ("matmul %x, %x : f32[4]", "matmul: operands must be at least 2-d, got f32[4] and f32[4]", 8),
    ("add %x : f32[4]", "add: ", 8),
    ("sum %x {axes = [5]} : f32[]", "sum: axes (5,)", 8),
    ("cast %x {dtype = \"f32\", dtype = \"f64\"} : f32[4]", "attribute 'dtype' given twice", 32),
    ("cast %x {dtype = f64} : f64[4]", "bad attribute value 'f64'", 25),
    ("neg %x : f32[4", "expected ']', got 'return'", 3),
    ("neg %x, : f32[4]", "expected an operand (%name or literal), got ':'", 16),
    ("neg %x : tensor[4]", "expected a type such as f32[4,3], got 'tensor'", 17),
    # (compiled code would wrap it around: numpy refuses it too)
    ("add %n, 2147483648 : i32[4]", "add: Python integer 2147483648 out of bounds for i32", 8),
])
def test_errors_name_the_op_and_place(op, message, col):
    e = error(F.format(op=op, out="f32[4]"))
    assert message in e.message and e.col == col, str(e)


def test_an_integer_literal_past_its_dtype_is_refused_where_it_is_written():
    from tracegrad.ir import Builder, TensorType
    b = Builder()
    n = b.param(TensorType("i32", (4,)), "n")
    assert b.emit("add", n, 2 ** 31 - 1).type == TensorType("i32", (4,))
    for value in (2 ** 31, -2 ** 31 - 1, 2 ** 70):
        with pytest.raises(OverflowError, match="out of bounds for i32"):
            b.emit("add", n, value)
    e = error("func @f(%n: u8[2]) -> (u8[]) {\n  return 256\n}", filename="m.tgir")
    assert "Python integer 256 out of bounds for u8" in str(e) and e.line == 2, str(e)


def test_unexpected_end_of_input():
    e = error("func @f(%x: f32[2]) -> (f32[2]) {\n  return %x\n")
    assert "expected '}', got 'end of input'" in str(e) and e.line == 3


def test_unchecked_mode_defers_types_and_order_to_the_verifier():
    text = "func @f(%x: f32[4]) -> (f32[4]) {\n  %0 = neg %1 : f32[9]\n  %1 = exp %x : f32[4]\n" \
           "  return %0\n}"
    fn = parse(text, check=False)
    assert fn.ops[0].operands[0] is fn.ops[1].results[0]
    assert str(fn.ops[0].results[0].type) == "f32[9]"
    e = error(text.replace("%1 = exp", "%2 = exp"), check=False)
    assert "2:12: undefined value %1" in str(e)
