"""Shared fixtures and the `.tgir` case-file machinery (FileCheck's useful core, no dependency).

A case file holds sections split by `// -----`. Directives, each on a `//` comment line:
  RUN: <pipeline>      passes to run
  PARSE: unchecked     parse without type rules / def-before-use, for verifier cases
                       (RUN and PARSE in the first section apply to the whole file)
  CHECK: <text>        a later output line contains <text>
  CHECK-NEXT: <text>   the line right after the previous match contains <text>
  CHECK-NOT: <text>    no line between the previous and the next match contains <text>
  ERROR: <text>        a line of the exception text contains <text>, in order; a line with a
                       caret `^` must equal the exception line exactly (caret position counts)
Error line numbers are those of the file: each section is padded to its place in the file.
"""
import gc
import os
import pathlib
import re
import tempfile
import threading

import numpy as np
import pytest

# every test run compiles afresh into its own disk cache, never into the user's; the xdist
# workers share the run's (made once, in the process that starts them: entries are written
# atomically and bound to their key), so a graph two workers compile is compiled once
if "TRACEGRAD_TEST_RUN_CACHE" not in os.environ:
    os.environ["TRACEGRAD_TEST_RUN_CACHE"] = tempfile.mkdtemp(prefix="tracegrad-test-cache-")
os.environ["TRACEGRAD_CACHE_DIR"] = os.environ["TRACEGRAD_TEST_RUN_CACHE"]

CASES = pathlib.Path(__file__).parent / "ir" / "cases"


@pytest.fixture
def np_mode():
    """set_np() for the test (mx.np arrays from Gluon), reset after it."""
    from tracegrad import npx
    npx.set_np()
    yield
    npx.reset_np()


@pytest.fixture
def fresh_capture():
    """Step capture on, with no plan learned, before and after the test (the capture tests
    count captured steps and native calls from a clean start). The update is fused after
    update_fusion.LEARN steps however long the plan took to compile: on a loaded machine (CI)
    a cold compile can pass SLOW_BUILD, and the counts the tests assert would then wait
    LEARN_SLOW steps."""
    from tracegrad import capture
    from tracegrad.context import PLACED
    from tracegrad.tracing import update_fusion
    if PLACED[0]:   # arrays an earlier test placed on cpu(1) may wait in reference cycles
        gc.collect()    # for the collector; while they live, blocks look up call contexts
    slow_build = update_fusion.SLOW_BUILD
    update_fusion.SLOW_BUILD = float("inf")
    capture._reset_for_tests()
    capture.set_enabled(True)
    yield
    capture.set_enabled(True)
    capture._reset_for_tests()
    update_fusion.SLOW_BUILD = slow_build


@pytest.fixture(autouse=True, scope="session")
def _compiles_where_learned():
    """Large captured steps compile where they are learned, as before runtime/background.py
    (a test's short loop would otherwise end on a compile nobody uses, and wait for it);
    tests/api/test_capture_background_compile.py turns the background on for itself."""
    from tracegrad.runtime import background
    background.BACKGROUND_OPS = None
    yield


@pytest.fixture(autouse=True)
def _background_compiles_end():
    """A plan a test leaves compiling in the background ends with the test: its counters and
    its CPU are not the next test's."""
    yield
    from tracegrad.runtime import background
    background.wait_all()
SEPARATOR = "// -----"
_DIRECTIVE = re.compile(r"^\s*// (RUN|PARSE|CHECK|CHECK-NEXT|CHECK-NOT|ERROR):(.*)$")


class Section:
    """One `// -----` section of a case file, with its directives parsed out."""

    def __init__(self, path, index, text, header=None):
        self.path, self.index, self.text = path, index, text
        self.run, self.unchecked = (header.run, header.unchecked) if header else (None, False)
        self.checks, self.errors = [], []
        for lineno, line in enumerate(text.split("\n"), 1):
            m = _DIRECTIVE.match(line)
            if m is None:
                continue
            kind, rest = m.groups()
            if kind == "RUN":
                self.run = rest.strip()
            elif kind == "PARSE":
                self.unchecked = rest.strip() == "unchecked"
            elif kind == "ERROR":
                self.errors.append((rest[1:] if rest.startswith(" ") else rest).rstrip())
            else:
                self.checks.append((kind, rest.strip(), lineno))

    @property
    def id(self):
        return f"{self.path.relative_to(CASES)}:{self.index}"


def load_sections(path) -> list:
    """The sections of one case file; text before a section is padded away as blank lines."""
    chunks = path.read_text().split("\n" + SEPARATOR + "\n")
    sections, line = [], 0
    for i, chunk in enumerate(chunks):
        section = Section(path, i, "\n" * line + chunk, sections[0] if sections else None)
        if section.run is None:
            raise ValueError(f"{path}: no '// RUN:' line in the first section")
        sections.append(section)
        line += chunk.count("\n") + 2
    return sections


def all_sections() -> list:
    return [s for path in sorted(CASES.rglob("*.tgir")) for s in load_sections(path)]


def pytest_generate_tests(metafunc):
    """`case` runs a test once per section of every case file; `parsable_case` once per
    section that is valid IR (no ERROR lines, no unchecked parse)."""
    if "case" in metafunc.fixturenames:
        sections = all_sections()
        metafunc.parametrize("case", sections, ids=[s.id for s in sections])
    if "parsable_case" in metafunc.fixturenames:
        sections = [s for s in all_sections() if not s.errors and not s.unchecked]
        metafunc.parametrize("parsable_case", sections, ids=[s.id for s in sections])


def as_paste(actual: str) -> str:
    """`actual` as CHECK lines, ready to paste into a case file."""
    lines = actual.split("\n")
    return "\n".join([f"// CHECK:      {lines[0]}"] + [f"// CHECK-NEXT: {x}" for x in lines[1:]])


def run_filecheck(actual: str, checks) -> None:
    """Match CHECK / CHECK-NEXT / CHECK-NOT directives against `actual`; fail with a paste."""
    lines = actual.split("\n")
    cur, last, nots = 0, -1, []

    def fail(msg):
        pytest.fail(f"{msg}\n--- actual output, ready to paste ---\n{as_paste(actual)}",
                    pytrace=False)

    def check_nots(lo, hi):
        for pattern, lineno in nots:
            for k in range(lo, hi):
                if pattern in lines[k]:
                    fail(f"CHECK-NOT (line {lineno}) {pattern!r} found: {lines[k]!r}")

    for kind, pattern, lineno in checks:
        if kind == "CHECK-NOT":
            nots.append((pattern, lineno))
            continue
        if kind == "CHECK-NEXT":
            at = last + 1
            if at >= len(lines) or pattern not in lines[at]:
                got = lines[at] if at < len(lines) else "end of output"
                fail(f"CHECK-NEXT (line {lineno}) {pattern!r} not on the next line; "
                     f"got {got!r}")
        else:
            at = next((k for k in range(cur, len(lines)) if pattern in lines[k]), None)
            if at is None:
                fail(f"CHECK (line {lineno}) {pattern!r} not found")
        check_nots(cur, at)
        cur, last, nots = at + 1, at, []
    check_nots(cur, len(lines))


def run_match_error(message: str, expected) -> None:
    """Each expected ERROR line appears in order in `message` (caret lines exactly)."""
    lines, cur = message.split("\n"), 0
    for want in expected:
        exact = "^" in want
        at = next((k for k in range(cur, len(lines))
                   if (lines[k].rstrip() == want if exact else want in lines[k])), None)
        if at is None:
            pytest.fail(f"ERROR line {want!r} not found in order in the error:\n{message}",
                        pytrace=False)
        cur = at + 1


@pytest.fixture
def filecheck():
    """`filecheck(actual, checks)`: match CHECK directives, failing with a paste of `actual`."""
    return run_filecheck


@pytest.fixture
def match_error():
    """`match_error(message, expected)`: match ERROR lines against an exception's text."""
    return run_match_error


@pytest.fixture
def in_threads():
    """`in_threads(work, n)`: work(0), ..., work(n - 1), each in a thread of its own, started
    together and all joined before it returns."""
    def run(work, n):
        threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return run


@pytest.fixture
def rng():
    """A seeded numpy generator: tests are reproducible."""
    return np.random.default_rng(0)
