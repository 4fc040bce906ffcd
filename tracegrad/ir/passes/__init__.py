"""Pass registry and pipelines: a pass is a pure `Function -> Function`, registered by name.

`run_pipeline(fn, "fold,simplify,cse,dce")` runs named stages in order; with `verify=True`
(tests, TRACEGRAD_DEBUG=1) the verifier checks the function after every stage, and with
TRACEGRAD_DUMP=<dir> each stage's text is written to that directory.
"""
import os

from ..gcpause import gc_paused

PASSES: dict = {}


def register_pass(name):
    def deco(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = fn
        return fn
    return deco


def parse_pipeline(spec: str):
    """'a,b{k=1},vjp{wrt=0,1}' -> [('a', {}), ('b', {'k': 1}), ('vjp', {'wrt': [0, 1]})].

    Inside braces arguments are separated by commas; a piece without '=' extends the previous
    argument into a list. Values become bool, int or float when they spell one, else str.
    """
    stages, depth, cur = [], 0, ""
    for ch in spec + ",":
        if ch == "," and depth == 0:
            if cur.strip():
                stages.append(_parse_stage(cur.strip()))
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    return stages


def _parse_stage(text: str):
    name, brace, args = text.partition("{")
    if brace and not args.endswith("}"):
        raise ValueError(f"pass arguments of {name.strip()!r} must end with '}}': {text!r}")
    kw, key = {}, None
    for piece in args[:-1].split(",") if brace else ():
        k, eq, v = piece.partition("=")
        if eq:
            key = k.strip()
            kw[key] = _arg_value(v.strip())
        elif key is not None and piece.strip():
            prev = kw[key]
            kw[key] = (prev if isinstance(prev, list) else [prev]) + [_arg_value(piece.strip())]
        elif piece.strip():
            raise ValueError(f"pass argument {piece.strip()!r} of {name.strip()!r} needs 'key='")
    return name.strip(), kw


def _arg_value(text: str):
    if text in ("true", "false"):
        return text == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def run_pipeline(fn, spec: str, verify=None):
    """Run the comma-separated passes of `spec` on `fn`, verifying after each when asked (the
    garbage collector paused meanwhile: ir/gcpause.py)."""
    if verify is None:
        verify = os.environ.get("TRACEGRAD_DEBUG", "") not in ("", "0")
    dump = os.environ.get("TRACEGRAD_DUMP")
    with gc_paused():
        for i, (name, kw) in enumerate(parse_pipeline(spec)):
            if name not in PASSES:
                raise KeyError(f"unknown pass {name!r}; known: {', '.join(sorted(PASSES))}")
            fn = PASSES[name](fn, **kw)
            if verify:
                from ..verifier import verify as check
                check(fn)
            if dump:
                os.makedirs(dump, exist_ok=True)
                with open(os.path.join(dump, f"{fn.name}.{i:02d}.{name}.tgir"), "w") as f:
                    f.write(str(fn) + "\n")
    return fn


from . import cse, dce, fold, fuse, simplify, vjp  # noqa: E402,F401
