"""Donated inputs on the Python side (codegen/donation.py has the native side).

A caller that donates input p asked for the output to be written into that very array, so a
donated input is never converted: it must already be a C-contiguous, aligned ndarray of the
parameter's shape and native-byte-order dtype, writeable, and its bytes must not meet those of
any other input as passed to the native entry (the same array twice, a view of it). `check`
raises the error that says which parameter and why; NativeFunction's slow path calls it when
the entry's guard refused, and `Donating` (donation for a callable without a native entry: a
segmented graph, the interpreter) calls it before every call, then copies the outputs into
their inputs after the call, so both paths accept and refuse the same calls.
"""
import numpy as np


def _span(a):
    """[first byte, end) of a C-contiguous array as the native entry sees it, else None (the
    entry gets a contiguous copy of it instead, which meets nothing)."""
    if type(a) is not np.ndarray or not a.flags.c_contiguous or not a.flags.aligned:
        return None
    lo = a.__array_interface__["data"][0]
    return lo, lo + a.nbytes


def require_arrays(fn_name, names, args, donate):
    """A donated argument that is not an ndarray (a list, a scalar) cannot receive a result."""
    for p in sorted(set(donate.values())):
        if p < len(args) and not isinstance(args[p], np.ndarray):
            raise TypeError(f"@{fn_name}: donated parameter %{names[p]} (argument {p}) is "
                            f"written in place, so it must be a numpy ndarray; got "
                            f"{type(args[p]).__name__}")


def check(fn_name, names, types, args, passed, donate):
    """Raise for the first donated parameter the call cannot write in place. `args`: what the
    caller passed; `passed`: the arrays the native entry gets (converted where needed);
    `donate`: {output: parameter}."""
    require_arrays(fn_name, names, args, donate)
    for p in sorted(set(donate.values())):
        a, want = args[p], types[p]
        what = f"@{fn_name}: donated parameter %{names[p]} (argument {p})"
        if (a.shape != want.shape or a.dtype != want.np_dtype or not a.flags.c_contiguous
                or not a.flags.aligned):
            layout = ("C-contiguous" if a.flags.c_contiguous else "non-contiguous") + (
                "" if a.flags.aligned else ", misaligned")
            raise TypeError(f"{what} is written in place, so it must be a C-contiguous, aligned "
                            f"{want.np_dtype}{list(want.shape)} array in native byte order (a "
                            f"converted copy would not receive the result); got a {layout} "
                            f"{a.dtype}{list(a.shape)} array")
        if not a.flags.writeable:
            raise ValueError(f"{what} is written in place but the array is read-only")
        mine = _span(passed[p])
        if mine is None or mine[0] != a.__array_interface__["data"][0]:
            raise TypeError(f"{what}: the array passed is not the one the call would write")
        for j, other in enumerate(passed):
            if j == p:
                continue
            span = _span(other)
            if span is not None and mine[0] < span[1] and span[0] < mine[1]:
                how = "is the same array as" if span == mine else "overlaps the memory of"
                raise ValueError(f"{what} is written in place but {how} argument {j} "
                                 f"(%{names[j]}), which the call also reads; pass a copy")


class Donating:
    """A callable without a native entry (`inner(*arrays) -> every output`) behind the
    donating interface of NativeFunction: the same checks, every output computed first, then
    the donated ones copied into their inputs; returns the other outputs in order."""

    def __init__(self, inner, fn, donate):
        from ..codegen.donation import normalize
        self.inner, self.donate = inner, normalize(fn, donate)
        self.fn_name = fn.name
        self.names = [p.name_hint or f"arg{i}" for i, p in enumerate(fn.params)]
        self.types = [p.type for p in fn.params]
        self.kept = [i for i in range(len(fn.outputs)) if i not in self.donate]

    @property
    def llvm_ir(self):
        return getattr(self.inner, "llvm_ir", "")

    def try_call(self, args):
        """The call on a tuple of arrays, or None when an input is not an array of its
        parameter's type or a donated input is refused (nothing run), as
        NativeFunction.try_call."""
        if len(args) != len(self.types):
            return None
        for a, t in zip(args, self.types):
            if type(a) is not np.ndarray or a.shape != t.shape or a.dtype != t.np_dtype:
                return None
        try:
            check(self.fn_name, self.names, self.types, args, args, self.donate)
        except (TypeError, ValueError):
            return None
        return self._run(args)

    def __call__(self, *arrays):
        if len(arrays) != len(self.types):
            raise TypeError(f"@{self.fn_name} takes {len(self.types)} arrays, got {len(arrays)}")
        check(self.fn_name, self.names, self.types, arrays, arrays, self.donate)
        return self._run(arrays)

    def _run(self, arrays):
        outs = list(self.inner(*arrays))
        targets = [arrays[p] for p in self.donate.values()]
        new = {}
        for k in self.donate:         # an output that is (a view of) a donated input: keep it
            o = np.asarray(outs[k])   # before any input is written
            new[k] = o.copy() if any(np.may_share_memory(o, t) for t in targets) else o
        for k, p in self.donate.items():
            np.copyto(arrays[p], new[k], casting="unsafe")
        return [outs[i] for i in self.kept]
