"""The README's demo and the examples run and print what they claim."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(name):
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)],
                          capture_output=True, text=True, check=True, timeout=120).stdout


def test_autograd_tutorial_prints_the_tutorials_answers():
    out = _run("autograd_tutorial.py")
    assert "[ 4.  8. 12.]" in out and "[192.]" in out
    assert "[0.0, 0.2, 0.4, 0.6, 0.8, 0.75, 1.08, 1.372, 0.0, 0.0]" in out
    assert ("compiled f, second pass: [0.0, 0.2, 0.4, 0.6, 0.8, 0.75, 1.08, 1.372, 0.0, 0.0] "
            "traces 0, eager fallbacks 0") in out
    assert "is_training: False" in out and "is_training: True" in out
    assert "func @lambda(%x: f32[4,3], %w: f32[3,2]) -> (f32[1]) {" in out


def test_print_ir_example_compiles_without_fallbacks():
    out = _run("print_ir.py")
    assert "define" in out and "'eager_fallbacks': 0" in out
