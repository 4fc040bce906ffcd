"""`python -m tracegrad COMMAND`: look inside IR files and scripts.

    python -m tracegrad ir FILE                 verify and pretty-print an IR file
    python -m tracegrad run-pass PASS FILE      rerun one pass (or a pipeline) on an IR file,
                                                e.g. a TRACEGRAD_DUMP file: prints what the
                                                next dump file holds, byte for byte
    python -m tracegrad draw FILE -o graph.svg  render through Graphviz's `dot`
                                                (-o graph.dot writes the DOT text itself)
    python -m tracegrad explain SCRIPT [ARGS]   run SCRIPT, then report its compiles, guard
                                                failures, fallbacks and compiled functions

Errors in files come back as `FILE:line:col: message` and exit status 1.
"""
import argparse
import gc
import logging
import os
import runpy
import shutil
import subprocess
import sys

GRAPHVIZ_HINT = ("Graphviz's `dot` is not installed (or not on PATH). Install it with "
                 "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) "
                 "or `conda install graphviz`, or write the DOT text with -o FILE.dot and "
                 "render it elsewhere.")


def _read(path):
    from .ir import parse
    from .ir.verifier import verify
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"{path}: cannot read: {e}") from None
    try:
        fn = parse(text, filename=path)
        verify(fn)
    except ValueError as e:  # ParseError and VerifyError
        message = str(e)
        raise CommandError(message if message.startswith(path) else f"{path}: {message}") \
            from None
    return fn


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status 1."""


def cmd_ir(args):
    print(_read(args.file))


def cmd_run_pass(args):
    from .ir.passes import run_pipeline
    fn = _read(args.file)
    try:
        out = run_pipeline(fn, args.pass_spec, verify=True)
    except (KeyError, ValueError, TypeError) as e:
        raise CommandError(f"{args.file}: pass {args.pass_spec!r}: "
                           f"{e.args[0] if e.args else e}") from None
    print(out)


def cmd_draw(args):
    from .ir.graph import to_dot
    dot_text = to_dot(_read(args.file)) + "\n"
    fmt = os.path.splitext(args.output)[1].lstrip(".").lower() or "svg"
    if fmt in ("dot", "gv"):
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(dot_text)
        return
    dot = shutil.which("dot")
    if dot is None:
        raise CommandError(GRAPHVIZ_HINT)
    res = subprocess.run([dot, f"-T{fmt}", "-o", args.output], input=dot_text, text=True,
                         capture_output=True, timeout=120)
    if res.returncode != 0:
        raise CommandError(f"dot -T{fmt} failed: {res.stderr.strip()}")
    print(f"wrote {args.output}")


class _Events(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.events = []

    def emit(self, record):
        self.events.append((getattr(record, "event", "?"), getattr(record, "fn", "?"),
                            record.getMessage()))


def cmd_explain(args):
    from . import log
    from .tracing import capture
    from .stats import stats
    handler = _Events()
    level = log.LOGGER.level
    log.LOGGER.addHandler(handler)
    log.LOGGER.setLevel(logging.INFO)
    stats(reset=True)
    status, failure = 0, None
    saved_argv = sys.argv
    sys.argv = [args.script, *args.script_args]
    try:
        runpy.run_path(args.script, run_name="__main__")
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # the report still says what compiled before the error
        status, failure = 1, e
    finally:
        sys.argv = saved_argv
        log.LOGGER.removeHandler(handler)
        log.LOGGER.setLevel(level)
    print(explain_report(stats(), handler.events, _compiled_objects()))
    print(capture.explain())
    if failure is not None:
        raise CommandError(f"{args.script} raised {type(failure).__name__}: {failure}")
    return status


def _compiled_objects():
    """(label, object) for each live jit function and hybridized block."""
    from .gluon.block import Block
    from .tracing.jit import JitFunction
    found, inside_blocks = [], set()
    for o in gc.get_objects():
        jf = o.__dict__.get("_tg_jit") if isinstance(o, Block) else None
        if isinstance(jf, JitFunction):
            inside_blocks.add(id(jf))
            found.append((f"hybridized {type(o).__name__} ({jf.name})", o, jf))
    for o in gc.get_objects():
        if isinstance(o, JitFunction) and id(o) not in inside_blocks:
            found.append((f"jit function {o.name}", o, o))
    return found


def explain_report(counters, events, objects):
    from . import log
    lines = ["== tracegrad explain ==", "counters: " + ", ".join(
        f"{k}={v}" for k, v in counters.items())]
    for kind in log.EVENTS:
        mine = [e for e in events if e[0] == kind]
        lines.append(f"{kind}: {len(mine)}")
        lines += [f"  {msg.split(': ', 1)[1] if ': ' in msg else msg}" for _, _, msg in mine]
    lines.append(f"compiled objects: {len(objects)}")
    for label, obj, jf in objects:
        lines.append(f"  {label}")
        explain = getattr(obj, "explain", None) or getattr(jf, "explain", None)
        if callable(explain):
            text = explain()
            if text is not None:
                lines += ["    " + t for t in str(text).splitlines()]
            continue
        for key, entry in jf.cache.items():
            kind = type(entry).__name__.replace("Entry", "").lower()
            lines.append(f"    {kind}: {log.describe(key)}")
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tracegrad", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n")[1])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("ir", help="verify and pretty-print an IR file")
    s.add_argument("file")
    s.set_defaults(run=cmd_ir)
    s = sub.add_parser("run-pass", help="rerun a pass on an IR file (a TRACEGRAD_DUMP file)")
    s.add_argument("pass_spec", metavar="PASS", help="a pass name or pipeline: simplify, "
                   "'fold,cse', 'vjp{wrt=0}'")
    s.add_argument("file")
    s.set_defaults(run=cmd_run_pass)
    s = sub.add_parser("draw", help="render an IR file's graph with Graphviz")
    s.add_argument("file")
    s.add_argument("-o", "--output", default="graph.svg",
                   help="output file; its extension picks the format (svg, png, pdf, dot)")
    s.set_defaults(run=cmd_draw)
    s = sub.add_parser("explain", help="run a script and report its compiles and fallbacks")
    s.add_argument("script")
    s.add_argument("script_args", nargs=argparse.REMAINDER)
    s.set_defaults(run=cmd_explain)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except CommandError as e:
        sys.stdout.flush()
        print(f"error: {e}", file=sys.stderr)
        return 1
