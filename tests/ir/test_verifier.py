"""Verifier: rejects use-before-def, double definition, wrong result types, unknown ops and
undefined outputs, and shows the printed function with the failing line marked."""
import pytest

from tracegrad.ir import Builder, TensorType, VerifyError, parse, verify
from tracegrad.ir.function import Operation
from tracegrad.ir.ops import OpDef

F4 = TensorType("f32", (4,))


def chain(n=6):
    """f(x) = neg(neg(...exp(x))) with n ops, built through the Builder (so valid)."""
    b = Builder(name="f")
    v = b.exp(b.param(F4, "x"))
    for _ in range(n - 1):
        v = b.neg(v)
    return b.ret(v)


def rejects(fn, problem):
    with pytest.raises(VerifyError) as info:
        verify(fn)
    assert info.value.problem == problem, str(info.value)
    return str(info.value)


def test_valid_function_passes_and_is_returned():
    fn = chain()
    assert verify(fn) is fn


def test_use_before_definition():
    fn = chain()
    fn.ops[1], fn.ops[2] = fn.ops[2], fn.ops[1]
    text = rejects(fn, "neg: operand 1 (f32[4]) is used before its definition")
    assert "  %1 = neg %<undefined> : f32[4]  // <-- here" in text


def test_operand_from_another_function():
    fn, other = chain(), chain()
    fn.ops[2] = Operation(fn.ops[2].opdef, [other.ops[0].result], {}, [F4])
    rejects(fn, "neg: operand 1 (f32[4]) is never defined")


def test_double_definition():
    fn = chain()
    fn.ops.insert(2, fn.ops[1])
    rejects(fn, "neg: result 1 (f32[4]) is already defined (single assignment)")


def test_wrong_result_type_with_context():
    fn = chain(8)
    fn.ops[4].results[0].type = TensorType("f32", (3,))
    text = rejects(fn, "neg: result 1 has type f32[3], expected f32[4] "
                       "(inferred from operands f32[4])")
    assert text.split("\n")[1:] == [
        "func @f(%x: f32[4]) -> (f32[4]) {",
        "  ...",
        "  %2 = neg %1 : f32[4]",
        "  %3 = neg %2 : f32[4]",
        "  %4 = neg %3 : f32[3]  // <-- here",
        "  %5 = neg %4 : f32[4]",
        "  %6 = neg %5 : f32[4]",
        "  ...",
        "}"]


def test_type_rule_failure_names_op_and_types():
    fn = parse("func @f(%x: f32[4], %y: f32[3]) -> (f32[4]) {\n  %0 = add %x, %y : f32[4]\n"
               "  return %0\n}", check=False)
    rejects(fn, "add: operand shapes f32[4] and f32[3] do not broadcast")


def test_unregistered_op():
    class Fake(OpDef):  # no `name` in the class body, so it is not registered
        def infer(x):
            return x
    Fake.name = "neg"
    fn = chain()
    fn.ops[1] = Operation(Fake, fn.ops[1].operands, {}, [F4])
    fn.ops[2] = Operation(fn.ops[2].opdef, [fn.ops[1].result], {}, [F4])
    rejects(fn, "neg: not a registered op")


def test_unknown_attribute():
    fn = chain()
    fn.ops[1].attrs = {"axis": 0}
    rejects(fn, "neg: unknown attribute 'axis'; expected one of []")


def test_output_not_defined():
    fn, other = chain(), chain()
    fn.outputs = [other.outputs[0]]
    text = rejects(fn, "return: value 1 (f32[4]) is not defined in @f")
    assert "  return %<undefined>  // <-- here" in text
