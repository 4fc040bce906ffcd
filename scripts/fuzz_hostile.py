"""Hostile inputs to nd ops, gluon layers and their compiled forms (jit / hybridize).

Each case runs eagerly and compiled in a worker process with faulthandler on; a segfault or a
hang (per-case timeout) kills the worker, is recorded against the case, and a fresh worker goes
on with the next case. For every case the two runs must agree: both raise (a clear MXNet-style
error naming the op) or both give the same answer.

Run from the repository root:
    PYTHONPATH=. python scripts/fuzz_hostile.py            # every case, one line per problem
    PYTHONPATH=. python scripts/fuzz_hostile.py -v         # every case's outcome
    PYTHONPATH=. python scripts/fuzz_hostile.py -k conv    # cases whose name contains 'conv'
Problems: CRASH (the worker died), HANG, MISMATCH (one mode raised, the other did not),
WRONG (values differ), LEAK (an error raised inside numpy/llvmlite/ctypes, not named by
tracegrad), UNCLEAR (a message that names neither the op nor a shape), SILENT (MXNet raises
but both modes answered), TYPE (an error type MXNet code would not catch as misuse).
"""
import json
import os
import select
import subprocess
import sys
import time
import traceback

HERE = os.path.abspath(__file__)
TIMEOUT = 60.0


# ----------------------------------------------------------------------------------------------
# cases: (name, kind, build, expect)
#   kind "fn":    build() -> (fn, args); eager fn(*args) vs tracegrad.jit(fn)(*args)
#   kind "block": build() -> (block, args); eager block(*args) vs after block.hybridize()
#   kind "call":  build() -> thunk; only run once (no compiled twin), must raise cleanly
#   expect: "err" (MXNet raises), "ok" (MXNet answers), None (either, as long as both agree)
# ----------------------------------------------------------------------------------------------

def cases():
    import numpy as np
    import tracegrad as mx
    from tracegrad import gluon, nd

    C = []

    def fn(name, f, *args, expect=None):
        C.append((name, "fn", lambda: (f, args), expect))

    def blk(name, make, *args, expect=None):
        C.append((name, "block", lambda: (make(), args), expect))

    def train(name, make, *args, expect=None):
        """Forward under autograd.record (training mode) and backward of the sum: outputs and
        the gradient of every float input, eager vs hybridized."""
        C.append((name, "train", lambda: (make(), args), expect))

    def call(name, thunk, expect="err"):
        C.append((name, "call", lambda: thunk, expect))

    r = np.random.RandomState(0)
    A = lambda *s, dt="float32": nd.array(r.standard_normal(s) * (5 if dt[0] in "iu" else 1), dtype=dt)  # noqa: E731
    Z = lambda *s, dt="float32": nd.zeros(s, dtype=dt)  # noqa: E731

    # --- elementwise / broadcasting -------------------------------------------------------
    fn("add mismatched", lambda a, b: a + b, A(2, 3), A(3, 2), expect="err")
    fn("broadcast_add mismatched", lambda a, b: nd.broadcast_add(a, b), A(2, 3), A(4, 3), expect="err")
    fn("elemwise_add needs equal shapes", lambda a, b: nd.elemwise_add(a, b), A(2, 3), A(1, 3), expect="err")
    fn("add zero-size", lambda a, b: a + b, A(0, 3), A(1, 3), expect="ok")
    fn("add 0-d", lambda a, b: a * b + 1, nd.array(2.0), A(3), expect="ok")
    fn("nan/inf propagate", lambda a: nd.exp(a) + nd.log(a) + nd.sqrt(a),
       nd.array([np.nan, np.inf, -np.inf, 0, -1, 1e30]), expect="ok")
    fn("relu nan", lambda a: nd.relu(a) + nd.sigmoid(a) + nd.tanh(a),
       nd.array([np.nan, np.inf, -np.inf]), expect="ok")
    fn("maximum nan", lambda a, b: nd.maximum(a, b) + nd.minimum(a, b),
       nd.array([np.nan, 1, np.nan]), nd.array([1, np.nan, np.nan]), expect="ok")
    fn("clip nan", lambda a: nd.clip(a, -1, 1), nd.array([np.nan, 5, -5, 0.5]), expect="ok")
    fn("clip a_min>a_max", lambda a: nd.clip(a, 1, -1), A(4), expect=None)
    fn("int add", lambda a, b: a + b, A(3, dt="int32"), A(3, dt="int32"), expect="ok")
    fn("int/float mix", lambda a, b: a * b, A(3, dt="int32"), A(3), expect=None)
    fn("bool add", lambda a, b: a + b, nd.array([True, False], dtype=bool), nd.array([True, True], dtype=bool), expect=None)
    fn("float64", lambda a, b: nd.dot(a, b) * 2, A(2, 3, dt="float64"), A(3, 2, dt="float64"), expect="ok")
    fn("float16 input", lambda a: a * 2, nd.array(np.ones(3, np.float16)), expect=None)
    fn("int division by zero", lambda a, b: a / b, nd.array([1, 2], dtype="int32"), nd.array([0, 0], dtype="int32"), expect=None)
    fn("int modulo by zero", lambda a, b: a % b, nd.array([1, 2], dtype="int32"), nd.array([0, 0], dtype="int32"), expect=None)
    fn("int64 modulo by zero", lambda a, b: nd.broadcast_mod(a, b), nd.array([1, 2], dtype="int64"), nd.array([0, 0], dtype="int64"), expect=None)
    fn("int min // -1", lambda a, b: a / b, nd.array([-2 ** 31], dtype="int32"), nd.array([-1], dtype="int32"), expect=None)
    fn("int power negative", lambda a, b: a ** b, nd.array([2, 3], dtype="int32"), nd.array([-1, -2], dtype="int32"), expect=None)
    fn("scalar python int op", lambda a: a + 3 * a - 1, A(3, dt="int32"), expect="ok")
    fn("huge scalar", lambda a: a * 1e300, A(3), expect="ok")
    fn("float->int cast nan", lambda a: nd.cast(a, "int32"), nd.array([np.nan, np.inf, -np.inf, 3e9]), expect=None)

    # --- reductions / axes ------------------------------------------------------------------
    fn("sum axis huge", lambda a: nd.sum(a, axis=10 ** 9), A(2, 3), expect="err")
    fn("sum axis negative huge", lambda a: nd.sum(a, axis=-10 ** 9), A(2, 3), expect="err")
    fn("sum axis -3 of 2-d", lambda a: nd.sum(a, axis=-3), A(2, 3), expect="err")
    fn("sum repeated axis", lambda a: nd.sum(a, axis=(0, 0)), A(2, 3), expect="err")
    fn("sum axis on 0-d", lambda a: nd.sum(a, axis=0), nd.array(1.0), expect="err")
    fn("sum exclude", lambda a: nd.sum(a, axis=1, exclude=True), A(2, 3, 4), expect="ok")
    fn("max of empty", lambda a: nd.max(a, axis=0), A(0, 3), expect="err")
    fn("min of empty all", lambda a: nd.min(a), A(0), expect="err")
    fn("argmax of empty", lambda a: nd.argmax(a, axis=0), A(0, 3), expect="err")
    fn("argmax axis big", lambda a: nd.argmax(a, axis=4), A(2, 3), expect="err")
    fn("prod of empty", lambda a: nd.prod(a, axis=0), A(0, 3), expect="ok")
    fn("mean of empty", lambda a: nd.mean(a), A(0, 3), expect="ok")
    fn("norm ord 3", lambda a: nd.norm(a, ord=3), A(2, 3), expect="err")
    fn("softmax axis big", lambda a: nd.softmax(a, axis=5), A(2, 3), expect="err")
    fn("softmax of empty", lambda a: nd.softmax(a, axis=1), A(2, 0), expect="ok")
    fn("log_softmax of inf", lambda a: nd.log_softmax(a), nd.array([[np.inf, 1.0], [-np.inf, -np.inf]]), expect="ok")
    fn("softmax temperature 0", lambda a: nd.softmax(a, temperature=0.0), A(2, 3), expect=None)
    fn("cumsum axis big", lambda a: nd.cumsum(a, axis=3), A(2, 3), expect="err")
    fn("topk k too big", lambda a: nd.topk(a, k=10), A(2, 3), expect=None)
    fn("topk k=0", lambda a: nd.topk(a, k=0), A(2, 3), expect=None)
    fn("topk k negative", lambda a: nd.topk(a, k=-5), A(2, 3), expect=None)
    fn("sort nan", lambda a: nd.sort(a), nd.array([3, np.nan, 1, -np.inf]), expect="ok")
    fn("argsort axis big", lambda a: nd.argsort(a, axis=7), A(2, 3), expect="err")

    big32 = nd.array([2 ** 31 - 1, 2 ** 31 - 1, 5], dtype="int32")
    fn("int32 sum overflow", lambda a: nd.sum(a), big32, expect=None)
    fn("int32 prod overflow", lambda a: nd.prod(a), big32, expect=None)
    fn("int32 cumsum overflow", lambda a: nd.cumsum(a), big32, expect=None)
    fn("int32 mean", lambda a: nd.mean(a), big32, expect=None)
    fn("int32 abs min", lambda a: nd.abs(a), nd.array([-2 ** 31, 3], dtype="int32"), expect=None)
    fn("int32 negative min", lambda a: -a, nd.array([-2 ** 31, 3], dtype="int32"), expect=None)
    fn("int64 sum", lambda a: nd.sum(a * a), nd.array([2 ** 40, 3], dtype="int64"), expect=None)
    nanv = nd.array([[1.0, np.nan, 3.0], [-np.inf, 2.0, np.nan]])
    fn("max nan", lambda a: nd.max(a, axis=1), nanv, expect="ok")
    fn("min nan", lambda a: nd.min(a, axis=0), nanv, expect="ok")
    fn("argmax nan", lambda a: nd.argmax(a, axis=1), nanv, expect="ok")
    fn("argmin nan", lambda a: nd.argmin(a, axis=1), nanv, expect="ok")
    fn("topk nan", lambda a: nd.topk(a, k=2, ret_typ="both"), nanv, expect="ok")
    fn("argsort nan", lambda a: nd.argsort(a, axis=1), nanv, expect="ok")
    fn("sum inf-inf", lambda a: nd.sum(a), nd.array([np.inf, -np.inf]), expect="ok")
    fn("mean huge", lambda a: nd.mean(a), nd.array([3e38, 3e38]), expect="ok")
    fn("norm huge", lambda a: nd.norm(a), nd.array([3e38, 3e38]), expect="ok")
    fn("softmax huge", lambda a: nd.softmax(a), nd.array([[3e38, -3e38, 0]]), expect="ok")
    fn("log_softmax -inf row", lambda a: nd.log_softmax(a), nd.array([[-np.inf, -np.inf]]), expect="ok")
    fn("sigmoid extremes", lambda a: nd.sigmoid(a) + nd.tanh(a) + nd.Activation(a, act_type="softrelu"), nd.array([-1e30, 1e30, -100, 100, np.nan]), expect="ok")
    fn("pow special", lambda a, b: a ** b, nd.array([0.0, -1, -8, np.inf, 0]), nd.array([-1.0, 0.5, 1 / 3, 0, 0]), expect="ok")
    fn("rounding halves", lambda a: nd.round(a) + nd.rint(a) * 10 + nd.fix(a) * 100, nd.array([0.5, 1.5, -0.5, -2.5, 2.4999998]), expect="ok")
    fn("floor div negative", lambda a, b: nd.floor(a / b), nd.array([-7.0, 7, -0.0]), nd.array([2.0, -2, 3]), expect="ok")
    fn("int floor div negative", lambda a, b: a / b, nd.array([-7, 7, 0], dtype="int32"), nd.array([2, -2, 3], dtype="int32"), expect="ok")
    fn("int mod negative", lambda a, b: a % b, nd.array([-7, 7, -1], dtype="int32"), nd.array([2, -2, 3], dtype="int32"), expect="ok")
    fn("float mod negative", lambda a, b: a % b, nd.array([-7.5, 7.5, -0.0]), nd.array([2.0, -2, 3]), expect="ok")
    fn("cast float64 big to f32", lambda a: nd.cast(a, "float32"), nd.array([1e300, -1e300, 1e-300], dtype="float64"), expect="ok")
    fn("cast to bool", lambda a: nd.cast(a, "bool"), nd.array([0.0, -0.0, np.nan, 0.1]), expect="ok")
    fn("compare nan", lambda a, b: (a == b) + (a != b) * 2 + (a < b) * 4, nd.array([np.nan, 1.0]), nd.array([np.nan, np.nan]), expect="ok")
    fn("erfinv edges", lambda a: nd.erfinv(a), nd.array([-1.0, 1.0, 2.0, 0.0]), expect="ok")
    fn("gammaln edges", lambda a: nd.gammaln(a), nd.array([0.0, -1.0, -0.5, 1e30]), expect="ok")
    fn("arccosh edges", lambda a: nd.arccosh(a) + nd.arctanh(a / 2), nd.array([0.5, 1.0, 2.0]), expect="ok")

    # --- shape ops ----------------------------------------------------------------------------
    fn("reshape bad", lambda a: a.reshape((4, 4)), A(2, 3), expect="err")
    fn("reshape two -1", lambda a: a.reshape((-1, -1)), A(2, 3), expect="err")
    fn("reshape -1 of zero-size", lambda a: a.reshape((0, -1)), A(0, 3), expect=None)
    fn("reshape negative", lambda a: a.reshape((-5, 3)), A(2, 3), expect="err")
    fn("reshape -7", lambda a: a.reshape((-7, 3)), A(2, 3), expect="err")
    fn("transpose bad axes", lambda a: nd.transpose(a, axes=(0, 0)), A(2, 3), expect="err")
    fn("transpose too few axes", lambda a: nd.transpose(a, axes=(1,)), A(2, 3), expect="err")
    fn("transpose axis out", lambda a: nd.transpose(a, axes=(0, 5)), A(2, 3), expect="err")
    fn("swapaxes out", lambda a: nd.swapaxes(a, 0, 4), A(2, 3), expect="err")
    fn("expand_dims out", lambda a: nd.expand_dims(a, axis=5), A(2, 3), expect="err")
    fn("expand_dims -4", lambda a: nd.expand_dims(a, axis=-4), A(2, 3), expect="err")
    fn("squeeze non-1", lambda a: nd.squeeze(a, axis=0), A(2, 3), expect="err")
    fn("flip axis out", lambda a: nd.flip(a, axis=3), A(2, 3), expect="err")
    fn("tile negative", lambda a: nd.tile(a, reps=(-1, 2)), A(2, 3), expect="err")
    # (MXNet's test_tile: a 0 in reps is refused outside np_shape)
    fn("tile zero", lambda a: nd.tile(a, reps=(0, 2)), A(2, 3), expect="err")
    fn("repeat negative", lambda a: nd.repeat(a, repeats=-1, axis=0), A(2, 3), expect="err")
    fn("repeat axis out", lambda a: nd.repeat(a, repeats=2, axis=4), A(2, 3), expect="err")
    fn("broadcast_to incompatible", lambda a: nd.broadcast_to(a, shape=(4, 4)), A(2, 3), expect="err")
    fn("broadcast_to negative", lambda a: nd.broadcast_to(a, shape=(-2, 3)), A(1, 3), expect="err")
    fn("broadcast_axis out", lambda a: nd.broadcast_axis(a, axis=4, size=3), A(1, 3), expect="err")
    fn("broadcast_axis non-1", lambda a: nd.broadcast_axis(a, axis=1, size=5), A(1, 3), expect="err")
    fn("concat dim out", lambda a, b: nd.concat(a, b, dim=3), A(2, 3), A(2, 3), expect="err")
    fn("concat rank mismatch", lambda a, b: nd.concat(a, b, dim=0), A(2, 3), A(3), expect="err")
    fn("concat dtype mismatch", lambda a, b: nd.concat(a, b, dim=0), A(2, 3), A(2, 3, dt="float64"), expect=None)
    fn("stack mismatch", lambda a, b: nd.stack(a, b), A(2, 3), A(3, 2), expect="err")
    fn("stack axis out", lambda a, b: nd.stack(a, b, axis=4), A(2, 3), A(2, 3), expect="err")
    fn("split uneven", lambda a: nd.split(a, num_outputs=4, axis=1), A(2, 3), expect="err")
    fn("split zero", lambda a: nd.split(a, num_outputs=0, axis=1), A(2, 3), expect="err")
    fn("split axis out", lambda a: nd.split(a, num_outputs=1, axis=5), A(2, 3), expect="err")
    fn("slice begin>end", lambda a: nd.slice(a, begin=(1, 2), end=(0, 1)), A(2, 3), expect=None)
    fn("slice out of range", lambda a: nd.slice(a, begin=(0, 0), end=(10, 10)), A(2, 3), expect=None)
    fn("slice too many dims", lambda a: nd.slice(a, begin=(0, 0, 0), end=(1, 1, 1)), A(2, 3), expect="err")
    fn("slice step 0", lambda a: nd.slice(a, begin=(0,), end=(2,), step=(0,)), A(2, 3), expect="err")
    fn("slice negative step", lambda a: nd.slice(a, begin=(None,), end=(None,), step=(-1,)), A(3, 3), expect="ok")
    fn("slice_axis out", lambda a: nd.slice_axis(a, axis=3, begin=0, end=1), A(2, 3), expect="err")
    fn("slice_axis begin>end", lambda a: nd.slice_axis(a, axis=1, begin=2, end=1), A(2, 3), expect="err")
    fn("slice_axis huge", lambda a: nd.slice_axis(a, axis=1, begin=0, end=100), A(2, 3), expect="err")
    fn("getitem step 0", lambda a: a[::0], A(3), expect="err")
    fn("getitem negative step", lambda a: a[::-2, 1], A(5, 3), expect="ok")
    fn("getitem out", lambda a: a[7], A(3, 2), expect="err")
    fn("getitem -out", lambda a: a[-4], A(3, 2), expect="err")
    fn("getitem too many", lambda a: a[0, 0, 0], A(3, 2), expect="err")
    fn("pad negative", lambda a: nd.pad(a, mode="constant", pad_width=(0, 0, 0, 0, -1, 1, 0, 0)), A(1, 1, 3, 3), expect="err")
    fn("pad wrong length", lambda a: nd.pad(a, mode="constant", pad_width=(0, 0, 1)), A(1, 1, 3, 3), expect="err")
    fn("pad reflect too big", lambda a: nd.pad(a, mode="reflect", pad_width=(0, 0, 0, 0, 5, 5, 5, 5)), A(1, 1, 3, 3), expect="err")
    fn("depth_to_space bad", lambda a: nd.depth_to_space(a, 2), A(1, 3, 2, 2), expect="err")
    fn("space_to_depth bad", lambda a: nd.space_to_depth(a, 2), A(1, 1, 3, 3), expect="err")
    fn("space_to_depth block 0", lambda a: nd.space_to_depth(a, 0), A(1, 1, 2, 2), expect="err")
    fn("diag k out", lambda a: nd.diag(a, k=5), A(2, 3), expect=None)
    fn("where shape mismatch", lambda c, a, b: nd.where(c, a, b), A(2), A(2, 3), A(2, 3), expect=None)
    fn("where bad shapes", lambda c, a, b: nd.where(c, a, b), A(3), A(2, 3), A(2, 3), expect="err")

    S = lambda v=2.5: nd.array(v)  # noqa: E731  (a 0-d array)
    fn("0-d transpose", lambda a: nd.transpose(a), S(), expect=None)
    fn("0-d expand_dims", lambda a: nd.expand_dims(a, axis=0), S(), expect="ok")
    fn("0-d expand_dims 1", lambda a: nd.expand_dims(a, axis=1), S(), expect="err")
    fn("0-d reshape", lambda a: a.reshape((1, 1)), S(), expect="ok")
    fn("0-d reshape -1", lambda a: a.reshape((-1,)), S(), expect="ok")
    fn("0-d take", lambda a, i: nd.take(a, i), S(), nd.array([0.0]), expect="err")
    fn("0-d softmax", lambda a: nd.softmax(a), S(), expect=None)
    fn("0-d concat", lambda a, b: nd.concat(a, b, dim=0), S(), S(), expect="err")
    fn("0-d stack", lambda a, b: nd.stack(a, b), S(), S(3.0), expect="ok")
    fn("0-d slice_axis", lambda a: nd.slice_axis(a, axis=0, begin=0, end=1), S(), expect="err")
    fn("0-d getitem", lambda a: a[0], S(), expect="err")
    fn("0-d getitem ellipsis", lambda a: a[...] * 2, S(), expect="ok")
    fn("0-d sum", lambda a: nd.sum(a) + nd.mean(a) + nd.max(a), S(), expect="ok")
    fn("0-d argmax", lambda a: nd.argmax(a), S(), expect=None)
    fn("0-d topk", lambda a: nd.topk(a, k=1), S(), expect=None)
    fn("0-d sort", lambda a: nd.sort(a), S(), expect=None)
    fn("0-d cumsum", lambda a: nd.cumsum(a), S(), expect=None)
    fn("0-d one_hot", lambda a: nd.one_hot(a, 3), S(1.0), expect="ok")
    fn("0-d pick", lambda a, i: nd.pick(a, i), S(), S(0.0), expect="err")
    fn("0-d broadcast_to", lambda a: nd.broadcast_to(a, shape=(2, 3)), S(), expect="ok")
    fn("0-d tile", lambda a: nd.tile(a, reps=(2,)), S(), expect="ok")
    fn("0-d repeat", lambda a: nd.repeat(a, repeats=3), S(), expect="ok")
    fn("0-d flip", lambda a: nd.flip(a, axis=0), S(), expect="err")
    fn("0-d where", lambda c, a, b: nd.where(c, a, b), S(1.0), S(2.0), S(3.0), expect="ok")
    fn("0-d clip", lambda a: nd.clip(a, 0, 1), S(), expect="ok")
    fn("0-d squeeze", lambda a: nd.squeeze(a), S(), expect=None)
    fn("0-d split", lambda a: nd.split(a, num_outputs=1), S(), expect="err")
    fn("0-d norm", lambda a: nd.norm(a), S(-2.0), expect="ok")
    fn("0-d pad", lambda a: nd.pad(a, mode="constant", pad_width=(1, 1)), S(), expect="err")
    fn("0-d L2Normalization", lambda a: nd.L2Normalization(a), S(), expect=None)

    # --- linear algebra -------------------------------------------------------------------------
    fn("dot mismatched", lambda a, b: nd.dot(a, b), A(2, 3), A(2, 3), expect="err")
    fn("dot zero inner", lambda a, b: nd.dot(a, b), A(2, 0), A(0, 3), expect="ok")
    fn("dot 0-d", lambda a, b: nd.dot(a, b), nd.array(2.0), A(3), expect=None)
    fn("dot int", lambda a, b: nd.dot(a, b), A(2, 3, dt="int32"), A(3, 2, dt="int32"), expect="err")
    fn("dot mixed dtype", lambda a, b: nd.dot(a, b), A(2, 3), A(3, 2, dt="float64"), expect=None)
    fn("batch_dot batch mismatch", lambda a, b: nd.batch_dot(a, b), A(2, 2, 3), A(3, 3, 2), expect="err")
    fn("batch_dot rank 2", lambda a, b: nd.batch_dot(a, b), A(2, 3), A(3, 2), expect="err")
    fn("batch_dot inner mismatch", lambda a, b: nd.batch_dot(a, b), A(2, 2, 3), A(2, 2, 2), expect="err")
    fn("FullyConnected wrong weight", lambda x, w, b: nd.FullyConnected(x, w, b, num_hidden=4), A(2, 3), A(4, 5), A(4), expect="err")
    fn("FullyConnected wrong bias", lambda x, w, b: nd.FullyConnected(x, w, b, num_hidden=4), A(2, 3), A(4, 3), A(5), expect="err")
    fn("FullyConnected num_hidden lies", lambda x, w, b: nd.FullyConnected(x, w, b, num_hidden=7), A(2, 3), A(4, 3), A(4), expect="err")
    fn("linalg_potrf non-square", lambda a: nd.linalg_potrf(a), A(2, 3), expect="err")
    fn("linalg_potrf not PD", lambda a: nd.linalg_potrf(a), nd.array([[-1.0, 0], [0, -1.0]]), expect=None)
    fn("linalg_gemm2 mismatch", lambda a, b: nd.linalg_gemm2(a, b), A(2, 3), A(2, 3), expect="err")
    fn("linalg_trsm mismatch", lambda a, b: nd.linalg_trsm(a, b), A(3, 3), A(2, 2), expect="err")

    # --- indexing ops --------------------------------------------------------------------------
    idx = lambda *v, dt="float32": nd.array(list(v), dtype=dt)  # noqa: E731
    fn("take clip out", lambda a, i: nd.take(a, i), A(3, 2), idx(-5, 1, 9), expect="ok")
    fn("take wrap out", lambda a, i: nd.take(a, i, mode="wrap"), A(3, 2), idx(-5, 1, 9), expect="ok")
    fn("take raise out", lambda a, i: nd.take(a, i, mode="raise"), A(3, 2), idx(-5, 1, 9), expect=None)
    fn("take axis out", lambda a, i: nd.take(a, i, axis=4), A(3, 2), idx(0), expect="err")
    fn("take bad mode", lambda a, i: nd.take(a, i, mode="bogus"), A(3, 2), idx(0), expect="err")
    fn("take from empty", lambda a, i: nd.take(a, i), A(0, 2), idx(0, 1), expect=None)
    fn("take nan index", lambda a, i: nd.take(a, i), A(3, 2), idx(np.nan, np.inf, -np.inf), expect=None)
    fn("take huge float index", lambda a, i: nd.take(a, i, mode="wrap"), A(3, 2), idx(1e20, -1e20), expect=None)
    fn("take int64 index", lambda a, i: nd.take(a, i), A(3, 2), idx(2 ** 40, -2 ** 40, dt="int64"), expect=None)
    fn("pick out", lambda a, i: nd.pick(a, i, axis=1), A(3, 2), idx(-1, 5, 1), expect="ok")
    fn("pick wrap", lambda a, i: nd.pick(a, i, axis=1, mode="wrap"), A(3, 2), idx(-1, 5, 1), expect="ok")
    fn("pick nan", lambda a, i: nd.pick(a, i, axis=1), A(3, 2), idx(np.nan, np.inf, 0), expect=None)
    fn("pick index shape wrong", lambda a, i: nd.pick(a, i, axis=1), A(3, 2), idx(0, 1), expect="err")
    fn("pick axis out", lambda a, i: nd.pick(a, i, axis=3), A(3, 2), idx(0, 1, 0), expect="err")
    fn("pick keepdims", lambda a, i: nd.pick(a, i, axis=0, keepdims=True), A(3, 2), idx(0, 7), expect="ok")
    fn("one_hot negative/out", lambda i: nd.one_hot(i, 3), idx(-1, 3, 1, 100), expect="ok")
    fn("one_hot nan", lambda i: nd.one_hot(i, 3), idx(np.nan, np.inf, 1.7), expect=None)
    fn("one_hot depth 0", lambda i: nd.one_hot(i, 0), idx(0, 1), expect="ok")
    fn("one_hot on/off", lambda i: nd.one_hot(i, 4, on_value=5, off_value=-1, dtype="int32"), idx(0, 3), expect="ok")
    fn("gather_nd out", lambda a, i: nd.gather_nd(a, i), A(3, 2), nd.array([[5, -7], [0, 1]]), expect=None)
    fn("gather_nd too deep", lambda a, i: nd.gather_nd(a, i), A(3, 2), nd.array([[0], [0], [0]]), expect="err")
    fn("gather_nd nan", lambda a, i: nd.gather_nd(a, i), A(3, 2), nd.array([[np.nan], [0]]), expect=None)
    fn("scatter_nd out", lambda d, i: nd.scatter_nd(d, i, shape=(3,)), A(2), nd.array([[7, -9]]), expect=None)
    fn("Embedding op out", lambda i, w: nd.Embedding(i, w, input_dim=4, output_dim=2), idx(-1, 9, 2), A(4, 2), expect="ok")
    fn("Embedding op weight mismatch", lambda i, w: nd.Embedding(i, w, input_dim=5, output_dim=2), idx(0), A(4, 2), expect="err")
    fn("Embedding op nan index", lambda i, w: nd.Embedding(i, w, input_dim=4, output_dim=2), idx(np.nan, np.inf), A(4, 2), expect=None)
    fn("SequenceMask bad length shape", lambda x, l: nd.SequenceMask(x, l, use_sequence_length=True), A(3, 2, 4), idx(1, 2, 3), expect="err")
    fn("SequenceLast nan length", lambda x, l: nd.SequenceLast(x, l, use_sequence_length=True), A(3, 2, 4), idx(np.nan, 1), expect=None)
    fn("SequenceReverse length 0", lambda x, l: nd.SequenceReverse(x, l, use_sequence_length=True), A(3, 2, 4), idx(0, 1), expect=None)

    # --- nn ops: conv / pool ------------------------------------------------------------------
    def conv(**kw):
        return lambda x, w: nd.Convolution(x, w, no_bias=True, **kw)
    fn("conv kernel > input", conv(kernel=(5, 5), num_filter=2), A(1, 1, 3, 3), A(2, 1, 5, 5), expect="err")
    fn("conv stride 0", conv(kernel=(2, 2), num_filter=2, stride=(0, 0)), A(1, 1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv dilate 0", conv(kernel=(2, 2), num_filter=2, dilate=(0, 0)), A(1, 1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv pad negative", conv(kernel=(2, 2), num_filter=2, pad=(-1, -1)), A(1, 1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv channels mismatch", conv(kernel=(2, 2), num_filter=2), A(1, 3, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv num_filter lies", conv(kernel=(2, 2), num_filter=5), A(1, 1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv kernel attr lies", conv(kernel=(3, 3), num_filter=2), A(1, 1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv batch 0", conv(kernel=(2, 2), num_filter=2), A(0, 1, 3, 3), A(2, 1, 2, 2), expect="ok")
    fn("conv channels 0", conv(kernel=(2, 2), num_filter=2), A(1, 0, 3, 3), A(2, 0, 2, 2), expect=None)
    fn("conv rank 3 input to 2d", conv(kernel=(2, 2), num_filter=2), A(1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv groups not dividing", conv(kernel=(2, 2), num_filter=2, num_group=2), A(1, 3, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv stride length wrong", conv(kernel=(2, 2), num_filter=2, stride=(1, 1, 1)), A(1, 1, 3, 3), A(2, 1, 2, 2), expect="err")
    fn("conv int input", conv(kernel=(2, 2), num_filter=2), A(1, 1, 3, 3, dt="int32"), A(2, 1, 2, 2, dt="int32"), expect=None)
    fn("conv nan", conv(kernel=(2, 2), num_filter=1), nd.array(np.full((1, 1, 3, 3), np.nan)), A(1, 1, 2, 2), expect="ok")
    fn("conv huge pad", conv(kernel=(2, 2), num_filter=1, pad=(1 << 20, 1 << 20)), A(1, 1, 3, 3), A(1, 1, 2, 2), expect=None)
    fn("conv1d kernel>input", lambda x, w: nd.Convolution(x, w, no_bias=True, kernel=(4,), num_filter=1), A(1, 1, 3), A(1, 1, 4), expect="err")
    fn("deconv stride 0", lambda x, w: nd.Deconvolution(x, w, no_bias=True, kernel=(2, 2), num_filter=1, stride=(0, 0)), A(1, 1, 3, 3), A(1, 1, 2, 2), expect="err")
    fn("deconv pad too big", lambda x, w: nd.Deconvolution(x, w, no_bias=True, kernel=(2, 2), num_filter=1, pad=(5, 5)), A(1, 1, 3, 3), A(1, 1, 2, 2), expect="err")
    fn("deconv adj >= stride", lambda x, w: nd.Deconvolution(x, w, no_bias=True, kernel=(3, 3), num_filter=1, stride=(2, 2), adj=(3, 3)), A(1, 1, 3, 3), A(1, 1, 3, 3), expect="err")
    fn("deconv channels mismatch", lambda x, w: nd.Deconvolution(x, w, no_bias=True, kernel=(2, 2), num_filter=1), A(1, 2, 3, 3), A(1, 1, 2, 2), expect="err")

    def pool(**kw):
        return lambda x: nd.Pooling(x, **kw)
    fn("pool kernel > input", pool(kernel=(5, 5), pool_type="max"), A(1, 1, 3, 3), expect="err")
    fn("pool kernel > input avg", pool(kernel=(5, 5), pool_type="avg"), A(1, 1, 3, 3), expect="err")
    fn("pool stride 0", pool(kernel=(2, 2), stride=(0, 0), pool_type="max"), A(1, 1, 3, 3), expect="err")
    fn("pool pad negative", pool(kernel=(2, 2), pad=(-1, -1), pool_type="max"), A(1, 1, 3, 3), expect="err")
    fn("pool pad >= kernel", pool(kernel=(2, 2), pad=(3, 3), pool_type="max"), A(1, 1, 3, 3), expect=None)
    fn("pool kernel 0", pool(kernel=(0, 0), pool_type="max"), A(1, 1, 3, 3), expect="err")
    fn("pool bad type", pool(kernel=(2, 2), pool_type="median"), A(1, 1, 3, 3), expect="err")
    fn("pool rank 2", pool(kernel=(2, 2), pool_type="max"), A(3, 3), expect="err")
    fn("pool batch 0", pool(kernel=(2, 2), pool_type="avg"), A(0, 1, 3, 3), expect="ok")
    fn("pool channels 0", pool(kernel=(2, 2), pool_type="max"), A(1, 0, 3, 3), expect="ok")
    fn("pool spatial 0 global", pool(kernel=(1, 1), pool_type="max", global_pool=True), A(1, 1, 0, 3), expect=None)
    fn("pool nan max", pool(kernel=(2, 2), pool_type="max"), nd.array(np.array([[[[np.nan, 1], [2, 3]]]])), expect="ok")
    fn("pool -inf max", pool(kernel=(2, 2), pool_type="max"), nd.array(np.full((1, 1, 2, 2), -np.inf)), expect="ok")
    fn("pool full convention", pool(kernel=(2, 2), stride=(2, 2), pool_type="max", pooling_convention="full"), A(1, 1, 3, 3), expect="ok")
    fn("pool lp p 0", pool(kernel=(2, 2), pool_type="lp", p_value=0), A(1, 1, 3, 3), expect=None)
    fn("pool int", pool(kernel=(2, 2), pool_type="avg"), A(1, 1, 3, 3, dt="int32"), expect=None)

    fn("BatchNorm op gamma wrong", lambda x, g, b, m, v: nd.BatchNorm(x, g, b, m, v), A(2, 3, 4), A(4), A(3), A(3), A(3), expect="err")
    fn("BatchNorm op axis out", lambda x, g, b, m, v: nd.BatchNorm(x, g, b, m, v, axis=5), A(2, 3, 4), A(3), A(3), A(3), A(3), expect="err")
    fn("BatchNorm op negative var", lambda x, g, b, m, v: nd.BatchNorm(x, g, b, m, v), A(2, 3, 4), A(3), A(3), A(3), nd.array([-1.0, -2, -3]), expect="ok")
    fn("LayerNorm op axis out", lambda x, g, b: nd.LayerNorm(x, g, b, axis=4), A(2, 3), A(3), A(3), expect="err")
    fn("LayerNorm op gamma wrong", lambda x, g, b: nd.LayerNorm(x, g, b), A(2, 3), A(4), A(3), expect="err")
    fn("Dropout p=1", lambda x: nd.Dropout(x, p=1.0), A(2, 3), expect=None)
    fn("Dropout p negative", lambda x: nd.Dropout(x, p=-0.5), A(2, 3), expect="err")
    fn("Dropout p > 1", lambda x: nd.Dropout(x, p=1.5), A(2, 3), expect="err")
    fn("softmax_cross_entropy bad label", lambda x, l: nd.softmax_cross_entropy(x, l), A(2, 3), idx(0, 7), expect=None)
    fn("SoftmaxOutput label shape", lambda x, l: nd.SoftmaxOutput(x, l), A(2, 3), idx(0, 1, 2), expect="err")
    fn("UpSampling scale 0", lambda x: nd.UpSampling(x, scale=0, sample_type="nearest"), A(1, 1, 2, 2), expect="err")
    fn("L2Normalization zeros", lambda x: nd.L2Normalization(x), Z(2, 3), expect="ok")
    fn("LeakyReLU bad act", lambda x: nd.LeakyReLU(x, act_type="bogus"), A(2, 3), expect="err")
    fn("Activation bad act", lambda x: nd.Activation(x, act_type="bogus"), A(2, 3), expect="err")
    fn("im2col kernel > input", lambda x: nd.im2col(x, kernel=(4, 4)), A(1, 1, 3, 3), expect="err")
    fn("im2col stride 0", lambda x: nd.im2col(x, kernel=(2, 2), stride=(0, 0)), A(1, 1, 3, 3), expect="err")

    # --- creation ops --------------------------------------------------------------------------
    call("zeros int32 overflow shape", lambda: nd.zeros((1 << 31, 1 << 31)))
    call("ones negative shape", lambda: nd.ones((2, -3)))
    call("full negative shape", lambda: nd.full((-1,), 3.0))
    call("arange step 0", lambda: nd.arange(0, 10, 0))
    call("arange huge", lambda: nd.arange(0, 1e15))
    call("eye negative", lambda: nd.eye(-2))
    call("linspace negative num", lambda: nd.linspace(0, 1, -3))
    call("random normal negative scale", lambda: nd.random.normal(0, -1, shape=(2,)))
    call("random uniform huge", lambda: nd.random.uniform(shape=(1 << 40,)))
    call("array ragged", lambda: nd.array([[1, 2], [3]]))
    call("array of strings", lambda: nd.array(["a", "b"]))
    call("array object", lambda: nd.array([object()]))
    call("array bad dtype", lambda: nd.array([1, 2], dtype="complex64"))
    call("array dtype name typo", lambda: nd.array([1, 2], dtype="flaot32"))
    call("broadcast_to int32 overflow", lambda: nd.broadcast_to(nd.ones((1, 1)), shape=(1 << 31, 1 << 31)))
    call("tile overflow", lambda: nd.tile(nd.ones((1 << 16,)), reps=(1 << 40,)))
    call("repeat overflow", lambda: nd.repeat(nd.ones((4,)), repeats=1 << 62))
    call("one_hot overflow", lambda: nd.one_hot(nd.array([1.0]), 1 << 62))
    call("reshape overflow", lambda: nd.ones((4,)).reshape((1 << 62, 1 << 62)))
    call("pad overflow", lambda: nd.pad(nd.ones((1, 1, 2, 2)), mode="constant", pad_width=(0, 0, 0, 0, 1 << 40, 1 << 40, 0, 0)))
    call("upsampling overflow", lambda: nd.UpSampling(nd.ones((1, 1, 2, 2)), scale=1 << 30, sample_type="nearest"))
    call("Dense huge", lambda: _huge_dense(gluon, nd))

    # --- numpy layouts into nd.array / compiled calls --------------------------------------
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    fortran = np.asfortranarray(base)
    neg = base[::-1, ::-2]
    strided = base[:, ::2]
    bcast = np.broadcast_to(np.arange(3, dtype=np.float32), (4, 3))
    big = np.arange(12, dtype=np.float64).reshape(3, 4)
    for nm, arr in [("fortran", fortran), ("negative strides", neg), ("non-contiguous", strided),
                    ("broadcast view (stride 0)", bcast), ("float64 view", big[:, 1::2]),
                    ("0-d", np.array(3.5, dtype=np.float32)), ("zero-size", np.zeros((0, 3), np.float32)),
                    ("unaligned", np.frombuffer(b"\0" + np.arange(6, dtype=np.float32).tobytes(), dtype=np.float32, offset=1, count=6).reshape(2, 3)),
                    ("big-endian", np.arange(6, dtype=">f4").reshape(2, 3)),
                    ("readonly", _readonly(np.arange(6, dtype=np.float32).reshape(2, 3))),
                    ("int8", np.arange(6, dtype=np.int8).reshape(2, 3)),
                    ("uint8", np.arange(6, dtype=np.uint8).reshape(2, 3)),
                    ("float16", np.arange(6, dtype=np.float16).reshape(2, 3)),
                    ("uint64 big", np.array([2 ** 63 + 5], dtype=np.uint64))]:
        C.append((f"layout {nm}: nd.array + compiled", "fn",
                  (lambda a=arr: (lambda x: x * 2 + nd.sum(x, axis=0, keepdims=True) if x.ndim == 2 else x * 2, (nd.array(a),))), None))
        C.append((f"layout {nm}: raw numpy to jit", "fn",
                  (lambda a=arr: (lambda x: x * 2, (a,))), None))
        C.append((f"layout {nm}: values kept", "call", (lambda a=arr: (lambda: _values_kept(nd, a))), "ok"))

    # --- jit calling conventions --------------------------------------------------------------
    fn("jit python scalar arg", lambda x, s: x * s, A(3), 2.5, expect="ok")
    fn("jit python list arg", lambda x, s: x + nd.array(s), A(3), [1.0, 2.0, 3.0], expect=None)
    fn("jit python bool arg", lambda x, s: x * s, A(3), True, expect=None)
    fn("jit numpy scalar arg", lambda x, s: x * s, A(3), np.float64(2.0), expect="ok")
    fn("jit nan scalar arg", lambda x, s: x + s, A(3), float("nan"), expect="ok")
    fn("jit tuple arg", lambda x, s: x + s[0], A(3), (A(3), A(3)), expect=None)
    fn("jit no outputs", lambda x: None, A(3), expect=None)
    fn("jit returns python float", lambda x: 3.0, A(3), expect=None)
    fn("jit returns input", lambda x: x, A(3), expect="ok")
    fn("jit returns dict", lambda x: {"a": x * 2}, A(3), expect=None)

    # --- gluon layers -------------------------------------------------------------------------
    nn = gluon.nn
    rnn = gluon.rnn
    L = gluon.loss
    blk("Dense in_units mismatch", lambda: nn.Dense(4, in_units=5), A(2, 3), expect="err")
    blk("Dense batch 0", lambda: nn.Dense(4, in_units=3), A(0, 3), expect="ok")
    blk("Dense 0 units", lambda: nn.Dense(0, in_units=3), A(2, 3), expect=None)
    blk("Dense negative units", lambda: nn.Dense(-4), A(2, 3), expect="err")
    blk("Dense 0-d input", lambda: nn.Dense(4), nd.array(1.0), expect="err")
    blk("Dense 1-d input", lambda: nn.Dense(4), A(3), expect=None)
    blk("Dense features 0", lambda: nn.Dense(4), A(2, 0), expect=None)
    blk("Dense flatten=False 3d", lambda: nn.Dense(4, flatten=False), A(2, 5, 3), expect="ok")
    blk("Dense int input", lambda: nn.Dense(4, in_units=3), A(2, 3, dt="int32"), expect=None)
    blk("Dense float64 input", lambda: nn.Dense(4, in_units=3), A(2, 3, dt="float64"), expect=None)
    blk("Dense float16 input", lambda: nn.Dense(4, in_units=3), nd.array(np.ones((2, 3), np.float16)), expect=None)
    blk("Dense nan", lambda: nn.Dense(4, in_units=3), nd.array(np.full((2, 3), np.nan)), expect="ok")
    blk("Dense bad activation", lambda: nn.Dense(4, activation="bogus"), A(2, 3), expect="err")
    blk("Dense python list", lambda: nn.Dense(2, in_units=3), [[1.0, 2.0, 3.0]], expect=None)
    blk("Dense python scalar", lambda: nn.Dense(2, in_units=1), 3.0, expect=None)
    blk("Dense numpy input", lambda: nn.Dense(2, in_units=3), np.ones((2, 3), np.float32), expect=None)
    blk("Dense extra arg", lambda: nn.Dense(2, in_units=3), A(2, 3), A(2, 3), expect="err")
    blk("Dense no arg", lambda: nn.Dense(2, in_units=3), expect="err")
    blk("Dense None arg", lambda: nn.Dense(2, in_units=3), None, expect="err")
    blk("Conv2D kernel > input", lambda: nn.Conv2D(2, 5, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2D stride 0", lambda: nn.Conv2D(2, 2, strides=0, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2D dilation 0", lambda: nn.Conv2D(2, 2, dilation=0, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2D padding negative", lambda: nn.Conv2D(2, 2, padding=-1, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2D channels mismatch", lambda: nn.Conv2D(2, 2, in_channels=3), A(1, 1, 3, 3), expect="err")
    blk("Conv2D wrong rank", lambda: nn.Conv2D(2, 2), A(1, 3, 3), expect="err")
    blk("Conv2D batch 0", lambda: nn.Conv2D(2, 2, in_channels=1), A(0, 1, 3, 3), expect="ok")
    blk("Conv2D channels 0", lambda: nn.Conv2D(0, 2, in_channels=1), A(1, 1, 3, 3), expect=None)
    blk("Conv2D in channels 0", lambda: nn.Conv2D(2, 2), A(1, 0, 3, 3), expect=None)
    blk("Conv2D kernel 0", lambda: nn.Conv2D(2, 0, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2D groups bad", lambda: nn.Conv2D(3, 2, groups=2, in_channels=4), A(1, 4, 3, 3), expect="err")
    blk("Conv2D NHWC", lambda: nn.Conv2D(2, 2, layout="NHWC", in_channels=1), A(1, 3, 3, 1), expect=None)
    blk("Conv2D bad layout", lambda: nn.Conv2D(2, 2, layout="HWNC"), A(1, 3, 3, 1), expect="err")
    blk("Conv2D float64", lambda: nn.Conv2D(2, 2, in_channels=1), A(1, 1, 3, 3, dt="float64"), expect=None)
    blk("Conv2D int", lambda: nn.Conv2D(2, 2, in_channels=1), A(1, 1, 3, 3, dt="int32"), expect=None)
    blk("Conv1D kernel > input", lambda: nn.Conv1D(2, 5, in_channels=1), A(1, 1, 3), expect="err")
    blk("Conv1D wrong rank", lambda: nn.Conv1D(2, 2, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv1D stride 0", lambda: nn.Conv1D(2, 2, strides=0, in_channels=1), A(1, 1, 5), expect="err")
    blk("Conv1D length 0", lambda: nn.Conv1D(2, 1, in_channels=1), A(1, 1, 0), expect=None)
    blk("Conv2DTranspose stride 0", lambda: nn.Conv2DTranspose(2, 2, strides=0, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2DTranspose padding too big", lambda: nn.Conv2DTranspose(2, 2, padding=4, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2DTranspose output_padding >= stride", lambda: nn.Conv2DTranspose(2, 3, strides=2, output_padding=2, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("Conv2DTranspose channels mismatch", lambda: nn.Conv2DTranspose(2, 2, in_channels=3), A(1, 1, 3, 3), expect="err")
    blk("Conv2DTranspose batch 0", lambda: nn.Conv2DTranspose(2, 2, in_channels=1), A(0, 1, 3, 3), expect="ok")
    blk("Conv2DTranspose dilation 0", lambda: nn.Conv2DTranspose(2, 2, dilation=0, in_channels=1), A(1, 1, 3, 3), expect="err")
    blk("MaxPool2D kernel > input", lambda: nn.MaxPool2D(5), A(1, 1, 3, 3), expect="err")
    blk("MaxPool2D stride 0", lambda: nn.MaxPool2D(2, strides=0), A(1, 1, 3, 3), expect="err")
    blk("MaxPool2D padding negative", lambda: nn.MaxPool2D(2, padding=-1), A(1, 1, 3, 3), expect="err")
    blk("MaxPool2D wrong rank", lambda: nn.MaxPool2D(2), A(1, 3, 3), expect="err")
    blk("MaxPool2D ceil_mode", lambda: nn.MaxPool2D(2, ceil_mode=True), A(1, 1, 3, 3), expect="ok")
    blk("AvgPool2D kernel > input", lambda: nn.AvgPool2D(5), A(1, 1, 3, 3), expect="err")
    blk("AvgPool2D count_include_pad False", lambda: nn.AvgPool2D(2, padding=1, count_include_pad=False), A(1, 1, 3, 3), expect="ok")
    blk("AvgPool1D stride 0", lambda: nn.AvgPool1D(2, strides=0), A(1, 1, 5), expect="err")
    blk("MaxPool1D kernel > input", lambda: nn.MaxPool1D(6), A(1, 1, 5), expect="err")
    blk("GlobalAvgPool2D spatial 0", lambda: nn.GlobalAvgPool2D(), A(1, 2, 0, 0), expect=None)
    blk("GlobalMaxPool2D spatial 0", lambda: nn.GlobalMaxPool2D(), A(1, 2, 0, 3), expect=None)
    blk("GlobalAvgPool2D wrong rank", lambda: nn.GlobalAvgPool2D(), A(2, 3), expect="err")
    blk("BatchNorm channels mismatch", lambda: nn.BatchNorm(in_channels=4), A(2, 3, 5), expect="err")
    blk("BatchNorm axis out", lambda: nn.BatchNorm(axis=4), A(2, 3), expect="err")
    blk("BatchNorm batch 0", lambda: nn.BatchNorm(in_channels=3), A(0, 3, 2), expect="ok")
    blk("BatchNorm 1-d", lambda: nn.BatchNorm(), A(3), expect=None)
    blk("BatchNorm nan", lambda: nn.BatchNorm(in_channels=2), nd.array(np.array([[np.nan, 1.0], [2.0, np.inf]])), expect="ok")
    blk("LayerNorm axis out", lambda: nn.LayerNorm(axis=3), A(2, 3), expect="err")
    blk("LayerNorm channels mismatch", lambda: nn.LayerNorm(in_channels=4), A(2, 3), expect="err")
    blk("LayerNorm 0 features", lambda: nn.LayerNorm(), A(2, 0), expect=None)
    blk("InstanceNorm wrong", lambda: nn.InstanceNorm(in_channels=4), A(2, 3, 5), expect="err")
    blk("GroupNorm groups not dividing", lambda: nn.GroupNorm(num_groups=2), A(2, 3, 5), expect="err")
    blk("GroupNorm groups 0", lambda: nn.GroupNorm(num_groups=0), A(2, 3, 5), expect="err")
    blk("Embedding out of range", lambda: nn.Embedding(4, 2), idx(-1, 9, 2), expect="ok")
    blk("Embedding nan index", lambda: nn.Embedding(4, 2), idx(np.nan, np.inf, -np.inf), expect=None)
    blk("Embedding int64 index", lambda: nn.Embedding(4, 2), idx(2 ** 40, 1, dt="int64"), expect=None)
    blk("Embedding bool index", lambda: nn.Embedding(4, 2), nd.array([True, False], dtype=bool), expect=None)
    blk("Embedding 0 rows", lambda: nn.Embedding(0, 2), idx(0, 1), expect=None)
    blk("Embedding 0-d index", lambda: nn.Embedding(4, 2), nd.array(2.0), expect="ok")
    blk("Embedding empty index", lambda: nn.Embedding(4, 2), A(0), expect="ok")
    blk("Embedding negative input_dim", lambda: nn.Embedding(-3, 2), idx(0), expect="err")
    blk("Dropout p 1", lambda: nn.Dropout(1.0), A(2, 3), expect=None)
    blk("Dropout p negative", lambda: nn.Dropout(-0.1), A(2, 3), expect="err")
    blk("Dropout p 2", lambda: nn.Dropout(2.0), A(2, 3), expect="err")
    blk("Dropout axes out", lambda: nn.Dropout(0.5, axes=(5,)), A(2, 3), expect=None)
    blk("Flatten 0-d", lambda: nn.Flatten(), nd.array(1.0), expect=None)
    blk("Flatten zero-size", lambda: nn.Flatten(), A(0, 3, 2), expect="ok")
    blk("Activation bogus", lambda: nn.Activation("bogus"), A(2, 3), expect="err")
    blk("PReLU channels mismatch", lambda: nn.PReLU(in_channels=4), A(2, 3, 5), expect=None)
    blk("ReflectionPad2D too big", lambda: nn.ReflectionPad2D(5), A(1, 1, 3, 3), expect="err")

    train("train BatchNorm batch 1", lambda: nn.BatchNorm(in_channels=3), A(1, 3), expect="ok")
    train("train BatchNorm batch 0", lambda: nn.BatchNorm(in_channels=3), A(0, 3), expect=None)
    train("train BatchNorm nan", lambda: nn.BatchNorm(in_channels=2), nd.array(np.array([[np.nan, 1.0], [2.0, 3.0]])), expect="ok")
    train("train Dense nan", lambda: nn.Dense(2, in_units=3), nd.array(np.array([[np.nan, 1.0, np.inf]])), expect="ok")
    train("train Dense batch 0", lambda: nn.Dense(2, in_units=3), A(0, 3), expect="ok")
    train("train Dense float64", lambda: nn.Dense(2, in_units=3, dtype="float64"), A(2, 3, dt="float64"), expect="ok")
    train("train Conv2D batch 0", lambda: nn.Conv2D(2, 2, in_channels=1), A(0, 1, 3, 3), expect="ok")
    train("train MaxPool ties", lambda: nn.MaxPool2D(2), nd.ones((1, 1, 4, 4)), expect="ok")
    train("train MaxPool -inf", lambda: nn.MaxPool2D(2), nd.array(np.full((1, 1, 2, 2), -np.inf)), expect="ok")
    train("train MaxPool nan", lambda: nn.MaxPool2D(2), nd.array(np.array([[[[np.nan, 1.0], [2.0, 3.0]]]])), expect="ok")
    train("train AvgPool pad", lambda: nn.AvgPool2D(3, strides=2, padding=1, count_include_pad=False), A(1, 1, 4, 4), expect="ok")
    train("train Embedding out of range", lambda: nn.Embedding(4, 2), idx(-1, 9, 2, 2), expect="ok")
    train("train LayerNorm constant", lambda: nn.LayerNorm(in_channels=3), nd.ones((2, 3)), expect="ok")
    train("train InstanceNorm constant", lambda: nn.InstanceNorm(in_channels=2), nd.ones((1, 2, 3)), expect="ok")
    train("train GroupNorm constant", lambda: nn.GroupNorm(num_groups=1), nd.ones((1, 2, 3)), expect="ok")
    train("train LSTM seq 1", lambda: rnn.LSTM(4, input_size=3), A(1, 2, 3), expect="ok")
    train("train GRU bidirectional", lambda: rnn.GRU(4, input_size=3, bidirectional=True), A(3, 2, 3), expect="ok")
    train("train LSTM nan", lambda: rnn.LSTM(4, input_size=3), nd.array(np.full((2, 1, 3), np.nan)), expect="ok")
    train("train SoftmaxCE inf logits", lambda: L.SoftmaxCrossEntropyLoss(), nd.array([[np.inf, 0, 0], [-np.inf, 0, 1]]), idx(0, 1), expect="ok")
    train("train SoftmaxCE label out", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 3), idx(-1, 5), expect=None)
    train("train L2Loss broadcast label", lambda: L.L2Loss(), A(2, 3), A(2, 1), expect=None)
    train("train SigmoidBCE extreme", lambda: L.SigmoidBinaryCrossEntropyLoss(), nd.array([[1e30, -1e30, 0]]), nd.array([[0.0, 1, 0.5]]), expect="ok")
    train("train KLDiv zeros", lambda: L.KLDivLoss(from_logits=False), A(2, 3), Z(2, 3), expect="ok")
    train("train CTC", lambda: L.CTCLoss(), A(2, 5, 4), nd.array([[1, 2], [3, 3]]), expect="ok")
    train("train Huber", lambda: L.HuberLoss(rho=1e-30), A(2, 3), A(2, 3), expect="ok")
    train("train sqrt at 0", lambda: nn.HybridLambda(lambda F, x: F.sqrt(x)), nd.array([0.0, 1.0, -1.0]), expect="ok")
    train("train Dropout p 0.999", lambda: nn.Dropout(0.999), A(3, 4), expect=None)
    train("train Activation softrelu huge", lambda: nn.Activation("softrelu"), nd.array([1e30, -1e30, 88.0, 100.0]), expect="ok")
    train("train PReLU", lambda: nn.PReLU(), nd.array([[-1.0, 0.0, 1.0]]), expect="ok")

    blk("LSTM wrong rank", lambda: rnn.LSTM(4, input_size=3), A(5, 3), expect="err")
    blk("LSTM input_size mismatch", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 4), expect="err")
    blk("LSTM seq 0", lambda: rnn.LSTM(4, input_size=3), A(0, 2, 3), expect=None)
    blk("LSTM batch 0", lambda: rnn.LSTM(4, input_size=3), A(5, 0, 3), expect=None)  # legacy MXNet: 0 is an unknown size
    blk("LSTM begin_state wrong shape", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 3), [A(1, 3, 4), A(1, 2, 4)], expect="err")
    blk("LSTM begin_state too few", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 3), [A(1, 2, 4)], expect="err")
    blk("LSTM begin_state too many", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 3), [A(1, 2, 4)] * 3, expect="err")
    blk("LSTM begin_state layers wrong", lambda: rnn.LSTM(4, num_layers=2, input_size=3), A(5, 2, 3), [A(1, 2, 4), A(1, 2, 4)], expect="err")
    blk("LSTM begin_state single array", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 3), A(1, 2, 4), expect="err")
    blk("LSTM begin_state hidden wrong", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 3), [A(1, 2, 5), A(1, 2, 5)], expect="err")
    blk("LSTM begin_state dtype", lambda: rnn.LSTM(4, input_size=3), A(5, 2, 3), [A(1, 2, 4, dt="float64"), A(1, 2, 4, dt="float64")], expect="err")
    blk("LSTM NTC mismatch", lambda: rnn.LSTM(4, input_size=3, layout="NTC"), A(2, 5, 4), expect="err")
    blk("LSTM bad layout", lambda: rnn.LSTM(4, layout="CTN"), A(2, 5, 4), expect="err")
    blk("LSTM nan", lambda: rnn.LSTM(4, input_size=3), nd.array(np.full((2, 1, 3), np.nan)), expect="ok")
    blk("LSTM bidirectional state wrong", lambda: rnn.LSTM(4, input_size=3, bidirectional=True), A(5, 2, 3), [A(1, 2, 4), A(1, 2, 4)], expect="err")
    blk("LSTM projection state wrong", lambda: rnn.LSTM(4, input_size=3, projection_size=2), A(5, 2, 3), [A(1, 2, 4), A(1, 2, 4)], expect="err")
    blk("LSTM 0 hidden", lambda: rnn.LSTM(0, input_size=3), A(5, 2, 3), expect=None)
    blk("GRU begin_state wrong shape", lambda: rnn.GRU(4, input_size=3), A(5, 2, 3), [A(1, 3, 4)], expect="err")
    blk("GRU begin_state two", lambda: rnn.GRU(4, input_size=3), A(5, 2, 3), [A(1, 2, 4), A(1, 2, 4)], expect="err")
    blk("GRU input_size mismatch", lambda: rnn.GRU(4, input_size=3), A(5, 2, 2), expect="err")
    blk("GRU int input", lambda: rnn.GRU(4, input_size=3), A(5, 2, 3, dt="int32"), expect=None)
    blk("RNN bad activation", lambda: rnn.RNN(4, activation="bogus"), A(5, 2, 3), expect="err")
    blk("LSTMCell wrong states", lambda: rnn.LSTMCell(4, input_size=3), A(2, 3), [A(2, 4)], expect="err")
    blk("LSTMCell state shape", lambda: rnn.LSTMCell(4, input_size=3), A(2, 3), [A(3, 4), A(3, 4)], expect="err")
    blk("GRUCell input mismatch", lambda: rnn.GRUCell(4, input_size=3), A(2, 5), [A(2, 4)], expect="err")

    blk("L2Loss shape mismatch", lambda: L.L2Loss(), A(2, 3), A(3, 2), expect=None)
    blk("L2Loss incompatible", lambda: L.L2Loss(), A(2, 3), A(4, 5), expect="err")
    blk("L1Loss batch 0", lambda: L.L1Loss(), A(0, 3), A(0, 3), expect="ok")
    blk("SoftmaxCE label out of range", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 3), idx(-1, 7), expect=None)
    blk("SoftmaxCE label nan", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 3), idx(np.nan, 1), expect=None)
    blk("SoftmaxCE label shape", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 3), idx(0, 1, 2), expect="err")
    blk("SoftmaxCE dense label shape", lambda: L.SoftmaxCrossEntropyLoss(sparse_label=False), A(2, 3), A(2, 4), expect="err")
    blk("SoftmaxCE axis out", lambda: L.SoftmaxCrossEntropyLoss(axis=5), A(2, 3), idx(0, 1), expect="err")
    blk("SoftmaxCE batch 0", lambda: L.SoftmaxCrossEntropyLoss(), A(0, 3), A(0), expect="ok")
    blk("SoftmaxCE classes 0", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 0), idx(0, 0), expect=None)
    blk("SoftmaxCE int label", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 3), idx(0, 2, dt="int32"), expect="ok")
    blk("SoftmaxCE sample_weight wrong", lambda: L.SoftmaxCrossEntropyLoss(), A(2, 3), idx(0, 2), A(5), expect=None)  # broadcasts in MXNet too
    blk("SigmoidBCE shape mismatch", lambda: L.SigmoidBinaryCrossEntropyLoss(), A(2, 3), A(2, 4), expect="err")
    blk("SigmoidBCE inf", lambda: L.SigmoidBinaryCrossEntropyLoss(), nd.array([[np.inf, -np.inf, np.nan]]), nd.array([[1.0, 0, 1]]), expect="ok")
    blk("KLDiv zeros", lambda: L.KLDivLoss(from_logits=False), A(2, 3), Z(2, 3), expect="ok")
    blk("Huber rho 0", lambda: L.HuberLoss(rho=0), A(2, 3), A(2, 3), expect=None)
    blk("CTC label too long", lambda: L.CTCLoss(), A(2, 3, 4), nd.array([[1, 2, 1, 2, 1], [1, 1, 1, 1, 1]]), expect=None)
    blk("CTC label out of alphabet", lambda: L.CTCLoss(), A(2, 5, 4), nd.array([[1, 9], [-3, 1]]), expect=None)
    blk("CosineEmbedding zeros", lambda: L.CosineEmbeddingLoss(), Z(2, 3), Z(2, 3), nd.array([1.0, -1]), expect="ok")
    blk("Triplet shape mismatch", lambda: L.TripletLoss(), A(2, 3), A(2, 3), A(2, 4), expect="err")
    blk("Poisson negative", lambda: L.PoissonNLLLoss(from_logits=False), nd.array([[-1.0, 0]]), nd.array([[1.0, 1]]), expect=None)

    # hybridized block arity / kinds after the first call
    call("hybridized: arity changes after compile", lambda: _arity_change(gluon, nd, A))
    call("hybridized: list after array", lambda: _list_after_array(gluon, nd, A), expect=None)
    call("hybridized: dtype change int after float", lambda: _dtype_change(gluon, nd, A), expect=None)
    call("hybridized: shape change after compile", lambda: _shape_change(gluon, nd, A))
    call("jit: rank change across calls", lambda: _jit_rank_change(mx, nd, A))
    call("jit: kwargs", lambda: mx.jit(lambda x, y=None: x if y is None else x + y)(A(3), y=A(3)), expect=None)
    call("jit: zero args", lambda: mx.jit(lambda: nd.ones(3) * 2)(), expect=None)
    call("jit: generator arg", lambda: mx.jit(lambda x, g: x)(A(3), (i for i in range(3))), expect=None)
    call("jit: recursion of jit", lambda: _jit_in_jit(mx, nd, A), expect="ok")
    call("autograd: backward of empty", lambda: _backward_empty(mx, nd), expect=None)
    call("autograd: backward non-scalar head grad wrong", lambda: _head_grad_wrong(mx, nd, A))
    call("autograd: backward twice", lambda: _backward_twice(mx, nd, A))
    call("autograd: nan gradient", lambda: _nan_grad(mx, nd), expect="ok")
    return C


def _train(mx, block, args):
    """Outputs, input gradients and parameter gradients of one training step."""
    import numpy as np
    mx.random.seed(1)
    xs = [a for a in args if hasattr(a, "attach_grad") and np.dtype(a.dtype).kind == "f"]
    for a in xs:
        a.attach_grad()
    with mx.autograd.record():
        out = block(*args)
        outs = out if isinstance(out, (list, tuple)) else [out]
        total = sum(o.sum() for o in outs if hasattr(o, "sum"))
    total.backward()
    grads = [a.grad for a in xs]
    for p in block.collect_params().values():
        if p.grad_req != "null" and p._data is not None:
            grads.append(p.grad())
    return list(outs) + grads


def _readonly(a):
    a.setflags(write=False)
    return a


def _values_kept(nd, a):
    import numpy as np
    got = nd.array(a).asnumpy()
    want = np.asarray(a)
    if got.shape != want.shape:
        raise AssertionError(f"shape {got.shape} != {want.shape}")
    if not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
        raise AssertionError(f"values changed: {got.ravel()[:6]} vs {want.ravel()[:6]}")
    b = nd.array(a)
    b += 1
    if not np.array_equal(np.asarray(a).astype(np.float64), want.astype(np.float64)):
        raise AssertionError("in-place on nd.array(a) wrote through to the numpy source")
    return got


def _huge_dense(gluon, nd):
    net = gluon.nn.Dense(1 << 31, in_units=1 << 31)
    net.initialize()
    return net(nd.ones((1, 1 << 31)))


def _arity_change(gluon, nd, A):
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    net(A(2, 3))
    return net(A(2, 3), A(2, 3))


def _list_after_array(gluon, nd, A):
    import numpy as np
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    a = net(A(2, 3)).asnumpy()
    b = net([[1.0, 2.0, 3.0]]).asnumpy()
    return np.concatenate([a, b])


def _dtype_change(gluon, nd, A):
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    net(A(2, 3))
    return net(nd.ones((2, 3), dtype="int32"))


def _shape_change(gluon, nd, A):
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    net(A(2, 3))
    return net(A(2, 4))


def _jit_rank_change(mx, nd, A):
    f = mx.jit(lambda a, b: nd.dot(a, b))
    f(A(2, 3), A(3, 2))
    return f(A(2, 3, 1), A(3, 2))


def _jit_in_jit(mx, nd, A):
    inner = mx.jit(lambda x: x * 2)
    outer = mx.jit(lambda x: inner(x) + 1)
    return outer(A(3))


def _backward_empty(mx, nd):
    x = nd.zeros((0,))
    x.attach_grad()
    with mx.autograd.record():
        y = (x * 2).sum()
    y.backward()
    return x.grad


def _head_grad_wrong(mx, nd, A):
    x = A(3)
    x.attach_grad()
    with mx.autograd.record():
        y = x * 2
    y.backward(nd.ones((4,)))
    return x.grad


def _backward_twice(mx, nd, A):
    x = A(3)
    x.attach_grad()
    with mx.autograd.record():
        y = (x * 2).sum()
    y.backward()
    y.backward()
    return x.grad


def _nan_grad(mx, nd):
    x = nd.array([0.0, -1.0, 4.0])
    x.attach_grad()
    with mx.autograd.record():
        y = nd.sqrt(x).sum()
    y.backward()
    return x.grad


# ----------------------------------------------------------------------------------------------
# running one case
# ----------------------------------------------------------------------------------------------

def _outcome(thunk):
    import numpy as np
    try:
        out = thunk()
    except BaseException as e:  # noqa: BLE001 - we classify everything
        tb = traceback.extract_tb(e.__traceback__)
        last = tb[-1].filename if tb else ""
        return {"err": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__],
                "msg": str(e)[:600], "last": last}
    outs = out if isinstance(out, (list, tuple)) else [out]
    vals = []
    for o in outs:
        if isinstance(o, (list, tuple)):
            vals.extend(_flat(o))
        else:
            vals.append(o)
    res = []
    for v in vals:
        if hasattr(v, "asnumpy"):
            a = v.asnumpy()
            res.append({"shape": list(a.shape), "dtype": str(a.dtype), "val": a.astype(np.float64).ravel()[:4096].tolist()})
        elif isinstance(v, np.ndarray):
            res.append({"shape": list(v.shape), "dtype": str(v.dtype), "val": v.astype(np.float64).ravel()[:4096].tolist()})
        else:
            res.append({"repr": repr(v)[:200]})
    return {"ok": res}


def _flat(x):
    for o in x:
        if isinstance(o, (list, tuple)):
            yield from _flat(o)
        else:
            yield o


def run_case(case):
    import numpy as np
    import tracegrad as mx
    name, kind, build, expect = case
    mx.random.seed(0)
    np.random.seed(0)
    if kind == "call":
        return {"single": _outcome(build())}
    if kind == "fn":
        f, args = build()
        eager = _outcome(lambda: f(*args))
        compiled = _outcome(lambda: mx.jit(f)(*args))
        return {"eager": eager, "compiled": compiled}
    try:
        block, args = build()
    except Exception as e:  # noqa: BLE001 - refused at construction: judged as one outcome
        err = e

        def rethrow():
            raise err
        return {"single": _outcome(rethrow)}
    if kind == "train":
        eager = _outcome(lambda: (block.initialize(mx.init.Uniform(0.5)), _train(mx, block, args))[1])
        block.hybridize()
        compiled = _outcome(lambda: _train(mx, block, args))
        return {"eager": eager, "compiled": compiled}
    eager = _outcome(lambda: (block.initialize(mx.init.Uniform(0.5)), block(*args))[1])

    def compiled_run():  # the same block (and parameters), hybridized
        block.hybridize()
        return block(*args)
    compiled = _outcome(compiled_run)
    return {"eager": eager, "compiled": compiled}


def worker(start, names):
    import faulthandler
    import warnings
    warnings.simplefilter("ignore")
    faulthandler.enable()
    all_cases = cases()
    for i in range(start, len(all_cases)):
        if names is not None and all_cases[i][0] not in names:
            continue
        print(json.dumps({"begin": i}), flush=True)
        res = run_case(all_cases[i])
        res["i"] = i
        print(json.dumps(res), flush=True)
    print(json.dumps({"done": True}), flush=True)


# ----------------------------------------------------------------------------------------------
# judging
# ----------------------------------------------------------------------------------------------

CLEAN = {"MXNetError", "ValueError", "TypeError", "IndexError", "MemoryError", "KeyError",
         "NotImplementedError", "AssertionError", "RuntimeError"}
LEAKY = ("numpy", "llvmlite", "ctypes", "scipy")


def judge_err(o, name):
    probs = []
    if not CLEAN.intersection(o["mro"]):
        probs.append(f"TYPE {o['err']}")
    elif o["err"] in ("AssertionError", "KeyError", "AttributeError", "ZeroDivisionError",
                      "OverflowError", "UnboundLocalError", "NameError"):
        probs.append(f"TYPE {o['err']} (an internal error type)")
    last = o["last"].replace("\\", "/")
    if any(f"/{p}/" in last or f"site-packages/{p}" in last for p in LEAKY) and o["err"] != "MemoryError":
        probs.append(f"LEAK raised in {os.path.basename(os.path.dirname(last))}/{os.path.basename(last)}")
    return probs


def same_values(a, b):
    import numpy as np
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} outputs"
    for x, y in zip(a, b):
        if "repr" in x or "repr" in y:
            if x != y:
                return f"{x} vs {y}"
            continue
        if x["shape"] != y["shape"] or x["dtype"] != y["dtype"]:
            return f"{x['dtype']}{x['shape']} vs {y['dtype']}{y['shape']}"
        u, v = np.array(x["val"], dtype=np.float64), np.array(y["val"], dtype=np.float64)
        if not np.allclose(u, v, rtol=1e-4, atol=1e-5, equal_nan=True):
            bad = np.flatnonzero(~np.isclose(u, v, rtol=1e-4, atol=1e-5, equal_nan=True))[:3]
            return f"values differ at {bad.tolist()}: {u[bad].tolist()} vs {v[bad].tolist()}"
    return None


def judge(case, res):
    name, kind, _, expect = case
    probs = []
    if "single" in res:
        o = res["single"]
        if "err" in o:
            probs += judge_err(o, name)
            if expect == "ok":
                probs.append(f"MISMATCH expected an answer, got {o['err']}: {o['msg'][:200]}")
        elif expect == "err":
            probs.append("SILENT no error")
        return probs
    e, c = res["eager"], res["compiled"]
    if ("err" in e) != ("err" in c):
        which = "eager" if "err" in e else "compiled"
        o = e if "err" in e else c
        probs.append(f"MISMATCH only {which} raised {o['err']}: {o['msg'][:200]}")
    if "err" in e:
        probs += ["eager " + p for p in judge_err(e, name)]
    if "err" in c:
        probs += ["compiled " + p for p in judge_err(c, name)]
    if "ok" in e and "ok" in c:
        d = same_values(e["ok"], c["ok"])
        if d and "Dropout" not in name:
            probs.append(f"WRONG eager vs compiled: {d}")
        if expect == "err":
            probs.append("SILENT both answered")
    if "err" in e and "err" in c and e["err"] != c["err"]:
        probs.append(f"NOTE error types differ: eager {e['err']}, compiled {c['err']}")
    if "ok" in e and "ok" in c is False and expect == "ok":
        probs.append("MISMATCH expected an answer")
    if "err" in e and "err" in c and expect == "ok":
        probs.append(f"MISMATCH MXNet answers, both raised {e['err']}: {e['msg'][:200]}")
    return probs


def fmt(o):
    if "err" in o:
        return f"{o['err']}: {o['msg'][:300]!r}"
    return "ok " + ", ".join(f"{v.get('dtype')}{v.get('shape')}" if "shape" in v else v["repr"] for v in o["ok"])


def main(argv):
    verbose = "-v" in argv
    pattern = argv[argv.index("-k") + 1] if "-k" in argv else None
    os.environ.setdefault("PYTHONPATH", os.path.dirname(os.path.dirname(HERE)))
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    all_cases = cases()
    names = [c[0] for c in all_cases if pattern is None or pattern.lower() in c[0].lower()]
    results, crashes = {}, {}
    start = 0
    while True:
        p = subprocess.Popen([sys.executable, HERE, "--worker", str(start)] + (["--names", json.dumps(names)]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        current, t0, done = None, time.time(), False
        while True:
            ready, _, _ = select.select([p.stdout], [], [], 1.0)
            if ready:
                line = p.stdout.readline()
                if not line:
                    break
                msg = json.loads(line)
                if "begin" in msg:
                    current, t0 = msg["begin"], time.time()
                elif "done" in msg:
                    done = True
                    break
                else:
                    results[msg["i"]] = msg
                    current = None
            elif current is not None and time.time() - t0 > TIMEOUT:
                p.kill()
                crashes[current] = f"HANG over {TIMEOUT:.0f}s"
                break
            elif p.poll() is not None:
                break
        err = p.stderr.read() if p.poll() is not None else ""
        p.wait()
        if done:
            break
        if current is None:
            print("worker died outside a case:", err[-2000:])
            break
        if current not in crashes:
            crashes[current] = f"CRASH exit {p.returncode}: {err[-1500:]}"
        start = current + 1
    nprob = 0
    for i, case in enumerate(all_cases):
        if case[0] not in names:
            continue
        if i in crashes:
            print(f"[{case[0]}] {crashes[i]}")
            nprob += 1
            continue
        res = results.get(i)
        if res is None:
            continue
        probs = judge(case, res)
        real = [p for p in probs if not p.startswith("NOTE")]
        if probs or verbose:
            outs = {k: fmt(v) for k, v in res.items() if k in ("eager", "compiled", "single")}
            print(f"[{case[0]}] {'; '.join(probs) or 'fine'}")
            for k, v in outs.items():
                print(f"    {k}: {v}")
        nprob += bool(real)
    print(f"{len(names)} cases, {nprob} with problems")
    return 1 if nprob else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        names = json.loads(sys.argv[sys.argv.index("--names") + 1]) if "--names" in sys.argv else None
        worker(int(sys.argv[2]), set(names) if names is not None else None)
    else:
        sys.exit(main(sys.argv[1:]))
