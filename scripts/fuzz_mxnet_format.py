"""Fuzz tracegrad's MXNet NDArray-file reader: mutate real MXNet files (byte flips, words set
to extreme values, truncations, splices, insertions) and require every read to either succeed
with well-formed arrays or raise MXNetError naming the file; never another exception, a crash
or a runaway allocation.

    python scripts/fuzz_mxnet_format.py [seconds] [seed]

Too slow for CI (the test suite has a fixed sample of the same idea); run it after changing
tracegrad/mxnet_format.py.
"""
import os
import pathlib
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tracegrad import mxnet_format  # noqa: E402
from tracegrad.base import MXNetError  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "mxnet"
EXTREMES = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2 ** 63 - 1,
            2 ** 63, 2 ** 64 - 1, 0x112, 0xF993FAC9, 0xF993FACA, 0xF993FAC8]


def mutate(raw, rng):
    b = bytearray(raw)
    if not b:
        return bytes(rng.integers(0, 256, size=8).astype(np.uint8))
    kind = rng.integers(0, 5)
    if kind == 0:                                   # flip a few bytes
        for i in rng.integers(0, len(b), size=rng.integers(1, 6)):
            b[i] = int(rng.integers(0, 256))
    elif kind == 1:                                 # a 4- or 8-byte word set to an extreme
        size = int(rng.choice([4, 8]))
        at = int(rng.integers(0, max(1, len(b) - size)))
        b[at:at + size] = int(rng.choice(EXTREMES) % 2 ** (8 * size)).to_bytes(size, "little")
    elif kind == 2:                                 # truncate
        del b[int(rng.integers(0, len(b))):]
    elif kind == 3:                                 # splice a piece elsewhere
        i, j = sorted(rng.integers(0, len(b), size=2))
        at = int(rng.integers(0, len(b)))
        b[at:at] = b[i:j]
    else:                                           # insert random bytes
        at = int(rng.integers(0, len(b)))
        b[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 16))).astype(np.uint8).tobytes()
    return bytes(b)


def main(seconds=60.0, seed=0):
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a runaway allocation fails
    seeds = [p.read_bytes() for p in sorted(DATA.iterdir()) if p.suffix in (".params", ".nd")]
    rng = np.random.default_rng(seed)
    counts = {"loaded": 0, "rejected": 0}
    end = time.time() + seconds
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzz.params")
        while time.time() < end:
            raw = seeds[int(rng.integers(0, len(seeds)))]
            for _ in range(int(rng.integers(1, 4))):
                raw = mutate(raw, rng)
            with open(path, "wb") as f:
                f.write(raw)
            try:
                arrays, names = mxnet_format.read(path)
            except MXNetError as e:
                assert "fuzz.params" in str(e), e
                counts["rejected"] += 1
                continue
            assert not names or len(names) == len(arrays)
            assert sum(a.nbytes for a in arrays) <= 8 * len(raw)  # bounded by the file
            assert all(a.dtype in (np.float32, np.float64, np.int32, np.int64, np.bool_)
                       for a in arrays)
            counts["loaded"] += 1
    print(f"{sum(counts.values())} mutated files in {seconds:.0f} s: {counts['loaded']} loaded, "
          f"{counts['rejected']} rejected with MXNetError, no other outcome")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0,
         int(sys.argv[2]) if len(sys.argv) > 2 else 0)
