"""The numpy interpreter of IR: runs a Function op by op through each OpDef.impl.

A `Program` flattens a Function once into slot-indexed steps, so re-running a cached adjoint
costs one impl call per op and no dictionary work. With `apply` given, each step is dispatched
through it instead (eager mode passes a recording dispatcher to build differentiable results).
`straight_line(fn)` goes one step further for a small Function run very often (an op's
adjoint in the eager backward: runtime/op_adjoints.py): Python source that makes its impl
calls one after the other, with nothing interpreted around them.
"""
import keyword

import numpy as np

from ..ir.function import Literal


class Program:
    """A Function compiled to a list of (opdef, operand slots, attrs, result slot(s)) steps."""
    __slots__ = ("fn", "nparams", "steps", "outputs", "nslots")

    def __init__(self, fn):
        slot = {p: i for i, p in enumerate(fn.params)}
        consts = []
        steps = []
        for op in fn.ops:
            args = []
            for o in op.operands:
                if isinstance(o, Literal):
                    args.append(-1 - len(consts))
                    consts.append(o)
                else:
                    args.append(slot[o])
            for r in op.results:
                slot[r] = len(slot)
            res = slot[op.results[0]] if len(op.results) == 1 else tuple(
                slot[r] for r in op.results)
            steps.append((op.opdef, tuple(args), op.attrs, res))
        self.fn, self.nparams, self.nslots = fn, len(fn.params), len(slot)
        self.steps = [(opdef, tuple(a if a >= 0 else consts[-1 - a] for a in args), attrs, r)
                      for opdef, args, attrs, r in steps]
        self.outputs = [o if isinstance(o, Literal) else slot[o] for o in fn.outputs]

    def __call__(self, args, apply=None):
        """Run on `args` (one per parameter); returns the list of outputs."""
        env = list(args) + [None] * (self.nslots - self.nparams)
        # (through `apply`, a constant is a 0-d array of its IR type: apply takes numpy scalars
        # as Python numbers, which an op of constants alone would compute in float32)
        const = Literal.array if apply is None else _typed_constant
        for opdef, operands, attrs, r in self.steps:
            vals = [env[a] if type(a) is int else const(a) for a in operands]
            out = opdef.impl(*vals, **attrs) if apply is None else apply(opdef, vals, attrs)
            if type(r) is int:
                env[r] = out
            else:
                for i, o in zip(r, out):
                    env[i] = o
        return [env[o] if type(o) is int else o.array() for o in self.outputs]


def _typed_constant(literal):
    return np.asarray(literal.array())


def straight_line(fn):
    """`run(args) -> outputs` doing what Program(fn)(args) does (the same impl calls in the
    same order, each literal operand's array made anew per call), as straight-line code."""
    names, consts = {}, {}

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    def ref(v):
        return f"{const(v)}.array()" if isinstance(v, Literal) else names[v]

    lines = []
    for i, p in enumerate(fn.params):
        names[p] = f"a{i}"
    if fn.params:
        lines.append("    " + "".join(f"a{i}, " for i in range(len(fn.params))) + "= args")
    for k, op in enumerate(fn.ops):
        call = [ref(o) for o in op.operands]
        if all(a.isidentifier() and not keyword.iskeyword(a) for a in op.attrs):
            call += [f"{a}={const(v)}" for a, v in op.attrs.items()]
        elif op.attrs:      # (names that cannot be keyword arguments in source)
            call.append(f"**{const(dict(op.attrs))}")
        outs = []
        for r in op.results:
            names[r] = f"t{len(names)}"
            outs.append(names[r])
        target = outs[0] if len(outs) == 1 else ", ".join(outs) + ","
        lines.append(f"    {target} = {const(op.opdef.impl)}({', '.join(call)})")
    lines.append("    return [" + "".join(ref(o) + ", " for o in fn.outputs) + "]")
    return generated("run", "def run(args):\n", lines, consts, label=fn.name)


def generated(name, header, lines, scope, label=None):
    """The function `name` defined by `header` and body `lines`, compiled with `scope` as its
    globals (the constants the lines name); its `source` is kept for a reader."""
    source = header + "\n".join(lines) + "\n"
    scope = dict(scope)
    exec(compile(source, f"<tracegrad straight-line {label or name}>", "exec"),  # noqa: S102
         scope)
    fn = scope[name]
    fn.source = source
    return fn


def interpret(fn, args, apply=None):
    """Evaluate `fn` on numpy `args`; convenience over Program for one-off runs."""
    return Program(fn)(args, apply)
