"""LLVM's optimisation and object emission for one module in a child process.

llvmlite serialises every call into LLVM behind one process-wide lock, so two modules compile
one after the other in one process however many threads ask. A hybridized net's first
training step compiles two large modules, its forward and its adjoint: ResNet-50's take
~2.5 s of LLVM each. `object_code_elsewhere(ir_text)` runs target.object_code in a fresh
`python` (this file as its script: it loads target.py by path, so the child imports llvmlite
alone, not tracegrad) while this process compiles the other module, on another core. The
child reads the LLVM IR text on stdin and writes the object bytes on stdout; the same LLVM,
host CPU and options make the same object as in-process. Nothing is unpickled: the child
returns raw object bytes, which the parent loads as any fresh object (and caches).

Any failure (no subprocess allowed, a crash, a non-zero exit, empty output) gives None: the
caller compiles in-process as before."""
import os
import subprocess
import sys

_TARGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "target.py")


def available() -> bool:
    """Whether a second core can take a module: two cores, a Python interpreter to start (not
    a frozen application, which would start itself), TRACEGRAD_COMPILE_PROCESS not 0."""
    return ((os.cpu_count() or 1) > 1 and bool(sys.executable)
            and not getattr(sys, "frozen", False)
            and os.environ.get("TRACEGRAD_COMPILE_PROCESS", "1") != "0")


def object_code_elsewhere(ir_text: str):
    """target.object_code(ir_text) computed in a child process, or None on any failure."""
    try:
        done = subprocess.run([sys.executable, os.path.abspath(__file__)],
                              input=ir_text.encode(), capture_output=True, timeout=600,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    return done.stdout


def _main():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_tracegrad_target", _TARGET)
    target = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(target)
    obj = target.object_code(sys.stdin.buffer.read().decode())
    sys.stdout.buffer.write(obj)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _main()
