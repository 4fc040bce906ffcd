"""The LLVM target: native target machine, new-pass-manager optimisation, MCJIT loading.

Owns every use of `llvmlite.binding`. LLVM is initialised once; BLAS entry points (numpy's
bundled OpenBLAS, else `scipy.linalg.cython_blas`) are registered as JIT symbols at that
moment, so both freshly compiled modules and objects loaded from the disk cache resolve them.
A `JitObject` keeps the target machine, execution engine and object bytes alive together (the
function pointers it hands out are valid exactly as long as it lives).
"""
import ctypes
import functools
import os
import threading

import llvmlite.binding as llvm

OPT_LEVEL = 2      # (see optimize)
BLAS_SYMBOLS = {"sgemm": "tracegrad_sgemm", "dgemm": "tracegrad_dgemm",
                "sgemv": "tracegrad_sgemv", "dgemv": "tracegrad_dgemv"}


def process_once(fn):
    """`fn()` made once per process even when threads first ask at the same time. What these
    make is native code (an object, its symbols registered process-wide, method definitions
    builtins point at): a second copy made by a racing thread and then dropped would free code
    that thread's callers still point at (four threads' first jit calls crashed so)."""
    lock = threading.RLock()
    made = []

    @functools.wraps(fn)
    def once():
        if not made:
            with lock:
                if not made:
                    made.append(fn())
        return made[0]
    return once


@process_once
def _initialize():
    """Native target + asm printer (never llvm.initialize()), then the BLAS symbols."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    for blas_name, address in _blas_addresses().items():
        llvm.add_symbol(BLAS_SYMBOLS[blas_name], address)
    return True


@functools.lru_cache(maxsize=None)
def blas() -> tuple:
    """(name, integer bits) of the BLAS compiled code calls: numpy's own OpenBLAS when its
    wheel bundles one (ILP64; already loaded, one thread pool with numpy's matmul), else
    scipy.linalg.cython_blas (LP64; TRACEGRAD_BLAS=scipy asks for it). The choice is part of
    every cache key."""
    return _find_blas()[0]


@functools.lru_cache(maxsize=None)
def _find_blas():
    import os
    found = None if os.environ.get("TRACEGRAD_BLAS") == "scipy" else _numpy_openblas()
    return found if found is not None else _scipy_blas()


def _blas_addresses() -> dict:
    return _find_blas()[1]


def _numpy_openblas():
    import glob
    import os

    import numpy
    root = os.path.dirname(os.path.abspath(numpy.__file__))
    for pattern in ("../numpy.libs/libscipy_openblas64_*.so*", ".dylibs/libscipy_openblas64_*",
                    "../numpy.libs/libscipy_openblas64_*.dll"):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            try:
                lib = ctypes.CDLL(path)
                addresses = {name: ctypes.cast(getattr(lib, f"scipy_{name}_64_"),
                                               ctypes.c_void_p).value
                             for name in BLAS_SYMBOLS}
            except (OSError, AttributeError):
                continue
            return ("numpy-openblas64", 64), addresses
    return None


def _scipy_blas():
    try:
        from scipy.linalg import cython_blas
    except ImportError:
        reason = ("TRACEGRAD_BLAS=scipy is set" if os.environ.get("TRACEGRAD_BLAS") == "scipy"
                  else "this numpy wheel bundles no OpenBLAS (libscipy_openblas64_)")
        raise ImportError(f"compiled matmuls need a BLAS: {reason}, and scipy is not "
                          f"installed. Install it with `pip install 'tracegrad[scipy]'` (or "
                          f"`pip install scipy`), or use a numpy wheel from PyPI, which "
                          f"bundles OpenBLAS.") from None
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    addresses = {}
    for name in BLAS_SYMBOLS:
        capsule = cython_blas.__pyx_capi__[name]
        addresses[name] = get(capsule, get_name(capsule))
    return ("scipy-cython-blas", 32), addresses


@functools.lru_cache(maxsize=None)
def host() -> tuple:
    """(cpu name, feature string) of this machine: part of every cache key."""
    _initialize()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


@functools.lru_cache(maxsize=None)
def target_machine(opt=OPT_LEVEL):
    """The process's target machine for optimisation and object emission at `opt`."""
    return new_target_machine(opt)


def new_target_machine(opt=OPT_LEVEL):
    """A target machine tuned for the host CPU. MCJIT takes ownership of (and frees) the one
    it is given, so every engine gets its own (~0.3 ms)."""
    cpu, features = host()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=cpu, features=features, opt=opt,
                                        codemodel="jitdefault", jit=True)


def parse(ir_text: str):
    """Parse and verify LLVM IR text (a verifier failure is a codegen bug: fail loudly)."""
    _initialize()
    module = llvm.parse_assembly(ir_text)
    module.verify()
    return module


def optimize(module, level=OPT_LEVEL):
    """The new pass manager's default pipeline at `level`, with loop and SLP vectorisation.

    O2 without loop unrolling (the vectoriser still interleaves): O3's extra work, unrolling
    constant-trip loops and inlining harder, bought nothing measured on our kernels, while it
    made every compile 30-40% longer (a hybridized block's first call, an eager adjoint's 8th
    run). Measured in alternating processes: elementwise transcendentals and the fused 2^24
    workload (CPU time), sin over large arguments, LeNet-5 and ResNet-18 steps, the LSTM
    language model: every difference within the run-to-run noise. ResNet-18's modules
    compiled 4-5x faster at O2 (bench/bench_cnn.py --compile-time)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(target_machine(level), pto)
    pb.getModulePassManager().run(module, pb)
    return module


def compile_object(ir_text: str) -> tuple:
    """LLVM IR text -> (optimised IR text, native object bytes)."""
    module = optimize(parse(ir_text))
    return str(module), target_machine().emit_object(module)


def object_code(ir_text: str) -> bytes:
    """LLVM IR text -> native object bytes (compile_object without printing the optimised
    module, which only inspection reads: CompiledModule.optimized_ir makes it on demand)."""
    return target_machine().emit_object(optimize(parse(ir_text)))


class JitObject:
    """A loaded native object: resolve symbols with `address(name)`."""

    def __init__(self, object_bytes: bytes, ir_text: str | None = None, links_runtime=True):
        _initialize()
        if links_runtime:   # the functions compiled once per process it calls (linked.py)
            from . import linked
            linked.ensure_loaded(object_bytes)
        self.object_bytes = object_bytes
        self.ir_text = ir_text
        self.target_machine = new_target_machine()
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(object_bytes))
        self.engine.finalize_object()

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise KeyError(f"symbol {name!r} not found in compiled object")
        return addr

    def global_address(self, name: str) -> int:
        addr = self.engine.get_global_value_address(name)
        if not addr:
            raise KeyError(f"global {name!r} not found in compiled object")
        return addr

    def assembly(self) -> str:
        """Target assembly of the optimised module (needs the IR text, so not after a disk hit
        unless the caller regenerates the IR)."""
        if self.ir_text is None:
            raise ValueError("assembly unavailable: object was loaded from the disk cache")
        return target_machine().emit_assembly(parse(self.ir_text))
