"""The fused multi-tensor update alone (fused_update.FusedUpdate) on the MLP 784-256-256-10's
six parameters: new weights and states returned (written back: the swap itself, Python, is
not timed here) against the same Function with the weights and states donated (written in
place), per call, median of interleaved rounds. Also a Dense(1) (the tutorial's tiny
regression): two tiny parameters. Then the whole usual MLP step (bench_step.py's, SGD) with
step capture off, so that trainer.step makes the fused update call: in place against written
back (Python swap included).

    python bench/bench_fused_update.py [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import compare, fmt  # noqa: E402

from tracegrad import fused_update, optimizer  # noqa: E402
from tracegrad.ir.types import TensorType  # noqa: E402

MLP = [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]
TINY = [(1, 2), (1,)]


def case(name, opt, shapes, rounds):
    rs = np.random.RandomState(0)
    probe = opt.create_state(0, np.zeros(1, np.float32))
    n_state = 0 if probe is None else len(probe) if isinstance(probe, tuple) else 1
    layout = [(TensorType("f32", s), n_state) for s in shapes]
    opt.param_dict = {}
    n_scalars = len(opt.fused_scalars(0))
    fu = fused_update.FusedUpdate(opt, layout, n_scalars)
    args = []
    for s in shapes:
        args.append(rs.randn(*s).astype(np.float32))
        args.append(rs.randn(*s).astype(np.float32) * 1e-3)
        args.extend(np.zeros(s, np.float32) for _ in range(n_state))
    h = np.array([opt.fused_scalars(0) for _ in shapes], dtype=np.float64).ravel()
    plain, in_place = fu.native, fu.in_place
    packed = tuple(args) + (h,)

    def written_back():          # the new arrays replace the old ones, as write_back does
        outs = plain(*packed)
        return outs

    def donated():
        return in_place.try_call(packed)
    rows = compare([("written back", written_back), ("in place", donated)], rounds=rounds)
    n = sum(int(np.prod(s)) for s in shapes)
    base = rows[0][1]
    for label, t in rows:
        print(f"{name:22s} {label:13s} {fmt(t)}  ({base / t:4.2f}x)   {n} parameters")


def steps(rounds):
    import bench_step
    mode = {"in_place": True}
    unshared = fused_update._unshared
    fused_update._unshared = lambda *a: mode["in_place"] and unshared(*a)

    def setting(step, in_place):
        def run():
            mode["in_place"] = in_place
            step()
        return run
    for batch in (64, 512):
        for hybridize in (True, False):
            name = f"mlp step b{batch} {'hybrid' if hybridize else 'eager'}"
            rows = compare([
                ("written back", setting(bench_step.paused(
                    bench_step.mlp_tracegrad(batch, hybridize)), False)),
                ("in place", setting(bench_step.paused(
                    bench_step.mlp_tracegrad(batch, hybridize)), True))], rounds=rounds)
            base = rows[0][1]
            for label, t in rows:
                print(f"{name:22s} {label:13s} {fmt(t)}  ({base / t:4.2f}x)   capture off")
    fused_update._unshared = unshared


def main():
    rounds = 7 if "--quick" in sys.argv else 21
    case("mlp sgd", optimizer.SGD(learning_rate=0.01), MLP, rounds)
    case("mlp sgd momentum", optimizer.SGD(learning_rate=0.01, momentum=0.9), MLP, rounds)
    case("mlp adam", optimizer.Adam(learning_rate=0.01), MLP, rounds)
    case("tiny sgd", optimizer.SGD(learning_rate=0.01), TINY, rounds)
    steps(rounds)


if __name__ == "__main__":
    main()
