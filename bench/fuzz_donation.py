"""Long fuzz of donated outputs (not in CI): the random graphs of
tests/codegen/test_donated_outputs.py with random donations, each run donated, un-donated and
in the interpreter (see _check there); prints how the donations were planned.

    python bench/fuzz_donation.py FIRST_SEED LAST_SEED
"""
import collections
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "codegen"))
from test_donated_outputs import _check, _rand, _random_graph  # noqa: E402

from tracegrad.runtime.interpret import interpret  # noqa: E402


def main(first, last):
    planned = collections.Counter()
    for seed in range(first, last):
        rs = np.random.default_rng(seed)
        fn, donate = _random_graph(rs, n_params=int(rs.integers(2, 5)),
                                   n_ops=int(rs.integers(3, 14)))
        inputs = [_rand(rs, p.type) * 0.5 for p in fn.params]
        want = [np.asarray(w, dtype=np.float64) for w in interpret(fn, inputs)]
        try:
            f = _check(fn, donate, inputs, want)
        except AssertionError:
            print(f"seed {seed}: donate={donate}\n{fn}")
            raise
        for _, how in f.memory_plan()["donated"].values():
            planned[how] += 1
    print(f"seeds {first}..{last - 1}: every graph exact; donations {dict(planned)}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
