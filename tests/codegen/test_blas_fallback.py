"""scipy is an optional extra: without it, the BLAS fallback says what to install."""
import os
import subprocess
import sys
import textwrap


def test_missing_scipy_fallback_names_the_extra():
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None          # scipy not installed
        from tracegrad.codegen import target
        try:
            target.blas()
        except ImportError as e:
            print(e)
    """)
    env = dict(os.environ, TRACEGRAD_BLAS="scipy")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'tracegrad[scipy]'" in out and "TRACEGRAD_BLAS=scipy" in out, out


def test_numpy_openblas_needs_no_scipy():
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None
        import numpy as np
        from tracegrad.ir import Builder, TensorType
        from tracegrad.runtime.native import NativeFunction
        b = Builder(name="mm")
        x = b.param(TensorType("f32", (3, 4)), "x")
        f = NativeFunction(b.ret(b.matmul(x, x, transpose_b=True)))
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        print(np.allclose(f(a)[0], a @ a.T))
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRACEGRAD_BLAS"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["TRACEGRAD_CACHE"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "True"
