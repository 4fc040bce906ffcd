"""The text form round-trips: printing is a fixed point of parse-then-print on every case
section, and parse(print(f)) is structurally equal to f, literals and attributes bit for bit."""
import math
import pathlib
import re

from tracegrad.ir import Builder, Literal, TensorType, parse, print_function, verify
from tracegrad.ir.parser import parse_module


def _bits(v):
    """Attribute / literal values compared exactly: by type, floats by their bits."""
    if isinstance(v, float):
        return ("float", v.hex() if not math.isnan(v) else "nan")
    if isinstance(v, tuple):
        return tuple(_bits(x) for x in v)
    return (type(v).__name__, v)


def structure(fn):
    """Everything that identifies `fn`, with values replaced by their definition sites."""
    where = {p: ("param", i) for i, p in enumerate(fn.params)}
    for k, op in enumerate(fn.ops):
        where.update({r: ("op", k, i) for i, r in enumerate(op.results)})

    def ref(o):
        return ("lit", o.dtype, _bits(o.value)) if isinstance(o, Literal) else where[o]
    return (fn.name,
            [(str(p.type), p.name_hint) for p in fn.params],
            [(op.opdef.name, [ref(o) for o in op.operands], _bits(tuple(op.attrs.items())),
              [str(r.type) for r in op.results]) for op in fn.ops],
            [ref(o) for o in fn.outputs])


def test_printing_is_a_fixed_point(parsable_case):
    for fn in parse_module(parsable_case.text):
        text = print_function(fn)
        again = parse(text)
        assert print_function(again) == text
        assert structure(again) == structure(fn)


def test_parse_print_keeps_literal_dtypes_and_bits():
    b = Builder(name="lits")
    x = b.param(TensorType("f32", (3,)), "x")
    n = b.param(TensorType("i32", (3,)), "n")
    c = b.param(TensorType("bool", (3,)))
    v = b.mul(b.add(x, -0.0), float("nan"))
    v = b.where(c, b.div(v, float("-inf")), 1e-30)
    m = b.sub(b.mul(n, 3), 2.5)
    flag = b.ne(c, True)
    fn = b.ret(v, m, flag, Literal(0.1, "f64"))
    text = print_function(fn)
    assert "%0: bool[3]" in text and "add %x, -0.0" in text and "mul %1, nan" in text
    assert "sub %5, 2.5 : f64[3]" in text and "return %4, %6, %7, 0.1" in text
    assert structure(parse(text)) == structure(fn)


def test_hand_written_text_normalizes_then_stays():
    text = """// leading comment
    func @f(%x: f32[2]) -> (f32[2]) {   // trailing comment
      %a = mul %x, 2 : f32[2]
      %b = constant {value = 1, shape = [2], dtype = "f32"} : f32[2]
      %c = add %a, %b : f32[2]
      return %c
    }"""
    once = print_function(parse(text))
    assert once == ("func @f(%x: f32[2]) -> (f32[2]) {\n"
                    "  %0 = mul %x, 2.0 : f32[2]\n"
                    '  %1 = constant {dtype = "f32", shape = [2], value = 1} : f32[2]\n'
                    "  %2 = add %0, %1 : f32[2]\n"
                    "  return %2\n}")
    assert print_function(parse(once)) == once


def test_docs_examples_are_printer_output():
    """Every function in docs/ir.md parses, verifies and is exactly what the printer prints."""
    doc = (pathlib.Path(__file__).parents[2] / "docs" / "ir.md").read_text()
    blocks = [b for b in re.findall(r"```\n(.*?)```", doc, re.S) if b.startswith("func @")]
    assert len(blocks) >= 7
    for block in blocks:
        assert print_function(verify(parse(block))) == block.rstrip("\n")
