"""Pass registry and pipelines: a pass is a pure `Function -> Function`, registered by name.

`run_pipeline(fn, "fold,simplify,cse,dce")` runs named stages in order; with `verify=True`
(tests, TRACEGRAD_DEBUG=1) the verifier checks the function after every stage, and with
TRACEGRAD_DUMP=<dir> each stage's text is written to that directory.
"""
import os

PASSES: dict = {}


def register_pass(name):
    def deco(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = fn
        return fn
    return deco


def parse_pipeline(spec: str):
    """'a,b{k=1}' -> [('a', {}), ('b', {'k': '1'})]."""
    stages, depth, cur = [], 0, ""
    for ch in spec + ",":
        if ch == "," and depth == 0:
            cur = cur.strip()
            if cur:
                name, _, args = cur.partition("{")
                kw = {}
                for item in args.rstrip("}").split(";") if args else ():
                    if item.strip():
                        k, _, v = item.partition("=")
                        kw[k.strip()] = v.strip()
                stages.append((name.strip(), kw))
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    return stages


def run_pipeline(fn, spec: str, verify=None):
    """Run the comma-separated passes of `spec` on `fn`, verifying after each when asked."""
    if verify is None:
        verify = os.environ.get("TRACEGRAD_DEBUG", "") not in ("", "0")
    dump = os.environ.get("TRACEGRAD_DUMP")
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


from . import dce  # noqa: E402,F401
