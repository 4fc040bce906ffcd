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


def test_train_digits_one_epoch_learns_in_both_modes_and_reports():
    """The README's first command, for one epoch of the MLP (the CNN needs gluon.nn.Conv2D)."""
    import re
    res = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_digits.py"),
                          "--epochs", "1", "--models", "mlp"], capture_output=True, text=True,
                         check=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    out = res.stdout
    acc = re.search(r"mlp: test accuracy eager ([\d.]+), hybridized ([\d.]+)", out)
    assert acc, out
    assert float(acc.group(1)) > 0.6 and float(acc.group(2)) > 0.6  # chance is 0.1
    assert re.search(r"mlp: training step \(batch 64\), median \(fastest\): eager [\d.]+ ms "
                     r"\([\d.]+ ms\), compiled [\d.]+ ms \([\d.]+ ms\): [\d.]+x faster", out)
    fwd = re.search(r"mlp: optimized forward graph: \d+ ops: (.*)", out).group(1)
    assert "matmul 3" in fwd and "relu 2" in fwd
    assert re.search(r"mlp: optimized backward graph: \d+ ops: matmul 5", out)
    assert "mlp hybridized epoch 1/1" in res.stderr  # the tqdm progress bar
