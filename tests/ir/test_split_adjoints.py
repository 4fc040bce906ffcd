"""The simplify rules for split adjoints (disjoint slice_scatters summed -> concat; products
summed -> one product over stacked operands) keep values: interpret before and after."""
import numpy as np
import pytest

from tracegrad.ir import parse
from tracegrad.ir.passes import run_pipeline
from tracegrad.runtime.interpret import interpret

CASES = {
    "gates in any order": """func @f(%a: f64[2,3], %b: f64[2,3], %c: f64[2,3]) -> (f64[2,9]) {
  %0 = slice_scatter %b {begin = [0, 3], end = [2, 6], shape = [2, 9], step = [1, 1]} : f64[2,9]
  %1 = slice_scatter %c {begin = [0, 6], end = [2, 9], shape = [2, 9], step = [1, 1]} : f64[2,9]
  %2 = slice_scatter %a {begin = [0, 0], end = [2, 3], shape = [2, 9], step = [1, 1]} : f64[2,9]
  %3 = add %1, %2 : f64[2,9]
  %4 = add %3, %0 : f64[2,9]
  return %4
}""",
    "gap stays zero": """func @f(%a: f64[1,4], %c: f64[1,4]) -> (f64[5,4]) {
  %0 = slice_scatter %a {begin = [1, 0], end = [2, 4], shape = [5, 4], step = [1, 1]} : f64[5,4]
  %1 = slice_scatter %c {begin = [3, 0], end = [4, 4], shape = [5, 4], step = [1, 1]} : f64[5,4]
  %2 = add %1, %0 : f64[5,4]
  return %2
}""",
    "products": """func @f(%a: f64[4,8], %b: f64[4,3], %c: f64[4,8], %d: f64[4,3]) -> (f64[8,3]) {
  %0 = matmul %a, %b {transpose_a = true} : f64[8,3]
  %1 = matmul %c, %d {transpose_a = true} : f64[8,3]
  %2 = add %0, %1 : f64[8,3]
  return %2
}""",
    "products transposed b": """func @f(%a: f64[2,3], %b: f64[5,3], %c: f64[2,4], %d: f64[5,4])
    -> (f64[2,5]) {
  %0 = matmul %a, %b {transpose_b = true} : f64[2,5]
  %1 = matmul %c, %d {transpose_b = true} : f64[2,5]
  %2 = add %0, %1 : f64[2,5]
  return %2
}""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewrite_keeps_values(name):
    fn = parse(CASES[name])
    new = run_pipeline(fn, "simplify,dce")
    assert "add" not in [op.name for op in new.ops]
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(p.type.shape) for p in fn.params]
    for want, got in zip(interpret(fn, args), interpret(new, args)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
