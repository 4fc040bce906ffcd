"""Runs every `.tgir` case section: parse, verify, run its RUN pipeline (verifying after each
pass), print, then match CHECK lines; or, for ERROR sections, match the exception text.
Also holds the pass contract checked on every section: no pass mutates its input, and a pass
run on its own output returns that very object (it reached its fixed point in one run).
"""
import pytest

from tracegrad.ir import parse, print_function, verify
from tracegrad.ir.parser import parse_module
from tracegrad.ir.passes import PASSES, parse_pipeline, run_pipeline

CLEANUPS = ("cse", "dce", "fold", "simplify")


def run_section(case) -> str:
    fns = parse_module(case.text, filename=case.path.name, check=not case.unchecked)
    outs = []
    for fn in fns:
        verify(fn)
        outs.append(print_function(run_pipeline(fn, case.run, verify=True)))
    return "\n".join(outs)


def test_case(case, filecheck, match_error):
    if not case.errors:
        out = run_section(case)
        assert case.checks, f"{case.id}: no CHECK lines"
        filecheck(out, case.checks)
        for text in out.split("\n}\n"):  # the output itself reads back to the same text
            text = text if text.endswith("}") else text + "\n}"
            assert print_function(parse(text)) == text
        return
    try:
        out = run_section(case)
    except Exception as e:  # noqa: BLE001 - parse, verify and pass errors are all expected kinds
        match_error(str(e), case.errors)
    else:
        pytest.fail(f"{case.id}: expected an error, got:\n{out}", pytrace=False)


@pytest.mark.parametrize("name", CLEANUPS)
def test_pass_is_pure_and_idempotent(parsable_case, name):
    for fn in parse_module(parsable_case.text):
        before = print_function(fn)
        once = PASSES[name](fn)
        assert print_function(fn) == before, f"{name} mutated its input"
        assert PASSES[name](once) is once, f"{name} is not at a fixed point after one run"


def test_parse_pipeline_arguments():
    assert parse_pipeline("fold, vjp{wrt=0,1}, dce") == [
        ("fold", {}), ("vjp", {"wrt": [0, 1]}), ("dce", {})]
    assert parse_pipeline("vjp{wrt=1,recompute=false}") == [
        ("vjp", {"wrt": 1, "recompute": False})]
    assert parse_pipeline("x{name=abc,rate=0.5}") == [("x", {"name": "abc", "rate": 0.5})]
    with pytest.raises(ValueError, match="needs 'key='"):
        parse_pipeline("vjp{1}")


def test_unknown_pass_names_the_known_ones():
    fn = parse("func @f(%x: f32[2]) -> (f32[2]) {\n  return %x\n}")
    with pytest.raises(KeyError, match="unknown pass 'fuze'.*cse, dce"):
        run_pipeline(fn, "fuze")


def test_filecheck_catches_mismatches(filecheck):
    out = "func @f() -> () {\n  %0 = exp %x : f32[]\n  %1 = neg %0 : f32[]\n  return\n}"
    filecheck(out, [("CHECK", "exp", 1), ("CHECK-NEXT", "neg", 2), ("CHECK-NOT", "log", 3)])
    bad = [[("CHECK", "log", 1)],
           [("CHECK", "func", 1), ("CHECK-NEXT", "neg", 2)],
           [("CHECK", "func", 1), ("CHECK-NOT", "exp", 2), ("CHECK", "neg", 3)],
           [("CHECK", "neg", 1), ("CHECK-NOT", "return", 2)]]
    for checks in bad:
        with pytest.raises(pytest.fail.Exception, match="ready to paste") as info:
            filecheck(out, checks)
        assert "// CHECK-NEXT:   %1 = neg %0 : f32[]" in str(info.value)


def test_match_error_pins_the_caret(match_error):
    message = "3:8: boom\n  %0 = bad %x\n       ^~~"
    match_error(message, ["3:8: boom", "  %0 = bad %x", "       ^~~"])
    for wrong in (["boom", "3:8"], ["        ^~~"], ["nope"]):
        with pytest.raises(pytest.fail.Exception):
            match_error(message, wrong)
