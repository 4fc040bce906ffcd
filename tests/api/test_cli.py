"""`python -m tracegrad`: ir, run-pass (byte for byte against TRACEGRAD_DUMP), draw, explain."""
import os
import subprocess
import sys
import textwrap

import pytest

import tracegrad as mx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args, env=None, cwd=None):
    environ = dict(os.environ, PYTHONPATH=ROOT)
    environ.pop("TRACEGRAD_DUMP", None)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "tracegrad", *args], capture_output=True,
                          text=True, timeout=120, env=environ, cwd=cwd or ROOT)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def main(capsys, monkeypatch):
    """The command line in this process (fast); env entries are set for the call."""
    from tracegrad.cli import main as cli_main

    def run(*args, env=None):
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        code = cli_main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return run


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """The TRACEGRAD_DUMP files of a jitted training call (forward and adjoint pipelines)."""
    d = tmp_path_factory.mktemp("dump")
    script = textwrap.dedent("""
        import tracegrad as mx
        from tracegrad import autograd, nd
        f = mx.jit(lambda x, w: nd.sum(nd.tanh(nd.dot(x, w)) * 2 + nd.exp(x[:, :2]) * 0))
        w = nd.ones((4, 2)); w.attach_grad()
        with autograd.record():
            y = f(nd.ones((3, 4)), w)
        y.backward()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                   env=dict(os.environ, PYTHONPATH=ROOT, TRACEGRAD_DUMP=str(d)))
    return d


def test_run_pass_reproduces_each_dump_file_byte_for_byte(main, dump):
    files = sorted(os.listdir(dump))
    stems = sorted({f.split(".")[0] for f in files})
    # the guard tree's leaf segment: forward with residuals, and its adjoint
    assert {"lambda_leaf0_train", "lambda_leaf0_vjp"} <= set(stems)
    checked = 0
    for stem in stems:
        stages = sorted(f for f in files if f.startswith(stem + "."))
        for before, after in zip(stages, stages[1:]):
            pass_name = after.split(".")[2]
            res = main("run-pass", pass_name, str(dump / before))
            assert res.returncode == 0, res.stderr
            assert res.stdout.encode() == (dump / after).read_bytes(), (before, after)
            checked += 1
    assert checked >= 6


def test_run_pass_takes_a_pipeline(main, dump):
    first = sorted(f for f in os.listdir(dump) if ".00." in f)[0]
    last = sorted(f for f in os.listdir(dump) if f.startswith(first.split(".")[0]))[-1]
    res = main("run-pass", "simplify,cse,dce", str(dump / first))
    assert res.stdout.encode() == (dump / last).read_bytes()


def test_ir_verifies_and_prints(main, dump, tmp_path):
    name = sorted(os.listdir(dump))[-1]
    res = main("ir", str(dump / name))
    assert res.returncode == 0 and res.stdout == (dump / name).read_text()
    bad = tmp_path / "bad.tgir"
    bad.write_text("func @f(%x: f32[2]) -> (f32[2]) {\n  %y = bogus %x : f32[2]\n"
                   "  return %y\n}\n")
    res = main("ir", str(bad))
    assert res.returncode == 1
    assert f"{bad}:2:8: unknown op 'bogus'" in res.stderr and "Traceback" not in res.stderr
    res = main("run-pass", "nosuchpass", str(dump / name))
    assert res.returncode == 1 and "unknown pass 'nosuchpass'" in res.stderr


def test_draw_writes_dot_text(main, dump, tmp_path):
    name = sorted(os.listdir(dump))[0]
    out = tmp_path / "g.dot"
    assert main("draw", str(dump / name), "-o", str(out)).returncode == 0
    fn = mx.ir.parse((dump / name).read_text())
    assert out.read_text() == mx.ir.to_dot(fn) + "\n"


def test_draw_without_graphviz_says_how_to_get_it(main, dump, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    res = main("draw", str(dump / sorted(os.listdir(dump))[0]), "-o", str(tmp_path / "g.svg"),
              env={"PATH": str(empty)})
    assert res.returncode == 1
    assert "Graphviz's `dot` is not installed" in res.stderr
    assert "apt-get install graphviz" in res.stderr and not (tmp_path / "g.svg").exists()


def test_draw_runs_dot_with_the_format_of_the_output_name(main, dump, tmp_path):
    """A stand-in `dot` first on PATH records how it was called and what it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "dot"
    stub.write_text(f"#!{sys.executable}\nimport sys\nsrc = sys.stdin.read()\n"
                    f"open(sys.argv[sys.argv.index('-o') + 1], 'w').write("
                    f"repr(sys.argv[1:]) + '\\n' + src)\n")
    stub.chmod(0o755)
    name = sorted(os.listdir(dump))[0]
    out = tmp_path / "graph.png"
    res = main("draw", str(dump / name), "-o", str(out),
              env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert res.returncode == 0, res.stderr
    args, src = out.read_text().split("\n", 1)
    assert args == repr(["-Tpng", "-o", str(out)])
    assert src == mx.ir.to_dot(mx.ir.parse((dump / name).read_text())) + "\n"


def test_explain_reports_the_scripts_compiles_guards_and_fallbacks(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import tracegrad as mx
        from tracegrad import gluon, nd
        net = gluon.nn.Dense(3, in_units=4)
        net.initialize()
        net.hybridize()
        net(nd.ones((2, 4)))
        net(nd.ones((5, 4)))
        g = mx.jit(lambda x: x * 2 if x.sum().asscalar() > 0 else x, name="branchy",
                   max_guard_outcomes=1)
        g(nd.ones(3))
        g(-nd.ones(3))
        print("script args:", sys.argv[1:])
    """))
    res = cli("explain", str(script), "--flag", "7", cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "script args: ['--flag', '7']" in out
    assert "== tracegrad explain ==" in out and "eager_fallbacks=1" in out
    assert "compiles: 2\n  dense first call, f32[2,4]" in out
    assert "branchy first call, f32[3]" in out
    assert "recompiles: 1\n  dense variant 2, f32[5,4]" in out
    assert "guards: 2\n  dense input 0: f32[5,4], compiled for f32[2,4]" in out
    assert "fallbacks: 1\n  branchy runs eagerly: guard" in out
    assert "hybridized Dense (dense)" in out and "jit function branchy" in out


def test_explain_reports_then_fails_when_the_script_raises(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("import tracegrad as mx\nfrom tracegrad import nd\n"
                      "mx.jit(lambda x: x + 1)(nd.ones(2))\nraise KeyError('lost')\n")
    res = cli("explain", str(script))
    assert res.returncode == 1
    assert "compiles: 1" in res.stdout and "raised KeyError: 'lost'" in res.stderr
