"""MXNet 1.9.1's symbolic checks of `mx.test_utils`: a Symbol's forward and backward against
expected arrays, and its backward against central finite differences. Operator tests and
users' custom-operator tests are written with these; they run on a bound Executor as MXNet's
do, so grad_req 'write' / 'add' / 'null' and auxiliary states behave as there."""
import numpy as np

from . import nd
from .array import NDArray

__all__ = ["simple_forward", "numeric_grad", "check_numeric_gradient",
           "check_symbolic_forward", "check_symbolic_backward", "check_consistency"]

_FLOATS = (np.float16, np.float32, np.float64)


def _array(v, ctx, dtype):
    """An NDArray as it is, anything else as an NDArray of `dtype` ('asnumpy': its own)."""
    if isinstance(v, NDArray):
        return v
    v = np.asarray(v)
    return nd.array(v, ctx=ctx, dtype=v.dtype if dtype == "asnumpy" else dtype)


def _by_name(names, given, what):
    """`given` (a list in the order of `names`, or a dict naming every one) as a dict."""
    if isinstance(given, dict):
        if set(given) != set(names):
            raise ValueError(f"{what}: the names {sorted(given)} do not match the symbol's "
                             f"{list(names)}")
        return dict(given)
    if isinstance(given, (list, tuple)):
        if len(given) != len(names):
            raise ValueError(f"{what}: {len(given)} arrays for the symbol's {len(names)} "
                             f"({list(names)})")
        return dict(zip(names, given))
    raise TypeError(f"{what} must be a list or a dict of arrays, got {type(given).__name__}")


def _location(sym, location, ctx, dtype):
    return {k: _array(v, ctx, dtype) for k, v in
            _by_name(sym.list_arguments(), location, "location").items()}


def _aux_states(sym, aux_states, ctx, dtype):
    if aux_states is None:
        return None
    return {k: _array(v, ctx, dtype) for k, v in
            _by_name(sym.list_auxiliary_states(), aux_states, "aux_states").items()}


def _grad_reqs(sym, grad_req):
    names = sym.list_arguments()
    if isinstance(grad_req, str):
        return {k: grad_req for k in names}
    if isinstance(grad_req, (list, tuple)):
        return dict(zip(names, grad_req))
    return dict(grad_req)


def _compare_grad(name, req, want, got, before, rtol, atol, names, equal_nan=False):
    """A gradient after backward per its grad_req: written, added to `before`, untouched."""
    from .test_utils import assert_almost_equal
    if req == "write":
        assert_almost_equal(want, got, rtol, atol, names, equal_nan=equal_nan)
    elif req == "add":
        assert_almost_equal(want, got - before, rtol, atol, names, equal_nan=equal_nan)
    elif req == "null":
        assert_almost_equal(before, got, rtol, atol, names, equal_nan=equal_nan)
    else:
        raise ValueError(f"invalid grad_req {req!r} for argument {name!r}")


def simple_forward(sym, ctx=None, is_train=False, **inputs):
    """The outputs (numpy; one array alone) of `sym` bound to `inputs` (name -> array)."""
    exe = sym.bind(ctx, args={k: _array(v, ctx, np.float32) for k, v in inputs.items()})
    exe.forward(is_train=is_train)
    outs = [o.asnumpy() for o in exe.outputs]
    return outs[0] if len(outs) == 1 else outs


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
                 dtype=np.float32):
    """Central differences of the sum of the executor's first output, per element of each
    floating argument in `location` (name -> numpy array, all of the executor's arguments
    it names); the arguments are left at `location`'s values."""
    if dtype not in _FLOATS:
        raise ValueError(f"numeric_grad: dtype must be float16, float32 or float64, got {dtype}")
    location = {k: np.array(v, order="C", copy=True) for k, v in location.items()}
    grads = {k: np.zeros(v.shape, dtype=dtype) for k, v in location.items()}

    def run(k, v):
        executor.arg_dict[k][:] = nd.array(v, dtype=dtype)
        if aux_states is not None:     # (a training forward moves running statistics)
            for name, value in aux_states.items():
                executor.aux_dict[name][:] = value
        executor.forward(is_train=use_forward_train)
        return executor.outputs[0].asnumpy().astype(np.float64).sum()

    for k, v in location.items():
        executor.arg_dict[k][:] = nd.array(v, dtype=dtype)
    for k, v in location.items():
        if v.dtype.kind != "f":
            continue
        flat, g = v.reshape(-1), grads[k].reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps / 2
            up = run(k, v)
            flat[i] = old - eps / 2
            down = run(k, v)
            flat[i] = old
            g[i] = (up - down) / eps
        executor.arg_dict[k][:] = nd.array(v, dtype=dtype)
    return grads


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=1e-3, rtol=1e-2,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=np.float32):
    """Raise AssertionError unless the backward of `sym` (of its output times a random
    projection, a MakeLoss head) matches central finite differences at `location`.
    grad_nodes: the arguments to check (all by default), or name -> grad_req."""
    from . import symbol
    if dtype not in _FLOATS:
        raise ValueError(f"check_numeric_gradient: dtype must be a float type, got {dtype}")
    if numeric_eps is None:     # (MXNet 1.9's default: a step per dtype)
        from .test_utils import default_numeric_eps
        numeric_eps = default_numeric_eps()[np.dtype(dtype)]
    if dtype in (np.float16, np.float32) and numeric_eps < 1e-5:
        raise ValueError(f"check_numeric_gradient: numeric_eps={numeric_eps} is too small "
                         f"for {np.dtype(dtype).name} differences")
    location = _location(sym, location, ctx, dtype)
    at = {k: v.asnumpy() for k, v in location.items()}
    aux = _aux_states(sym, aux_states, ctx, dtype)
    aux_at = None if aux is None else {k: v.asnumpy() for k, v in aux.items()}
    if grad_nodes is None:
        grad_nodes = sym.list_arguments()
    if isinstance(grad_nodes, dict):
        reqs, grad_nodes = dict(grad_nodes), list(grad_nodes)
    else:
        grad_nodes = list(grad_nodes)
        reqs = {k: "write" for k in grad_nodes}
    _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in location.items()})
    proj_name = "__random_proj"
    loss = symbol.make_loss(sym * symbol.var(proj_name))
    # a projection with no tiny entries: finite differences keep their precision
    location[proj_name] = nd.array(np.random.rand(*out_shapes[0]) + 0.1, ctx=ctx, dtype=dtype)
    before = {k: np.random.normal(0, 0.01, size=location[k].shape) for k in grad_nodes}
    before[proj_name] = np.random.normal(0, 0.01, size=out_shapes[0])
    grads = {k: nd.array(v, ctx=ctx, dtype=dtype) for k, v in before.items()}
    exe = loss.bind(ctx, args=location, args_grad=grads, grad_req=reqs, aux_states=aux)
    exe.forward(is_train=True)
    exe.backward()
    symbolic = {k: exe.grad_dict[k].asnumpy() for k in grad_nodes}
    numeric = numeric_grad(exe, at, aux_at, eps=numeric_eps,
                           use_forward_train=use_forward_train, dtype=dtype)
    for name in grad_nodes:
        _compare_grad(name, reqs[name], numeric[name], symbolic[name], before[name], rtol,
                      atol, (f"NUMERICAL_{name}", f"BACKWARD_{name}"))


def check_symbolic_forward(sym, location, expected, rtol=1e-4, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=np.float32):
    """Raise AssertionError unless `sym`'s outputs at `location` (inference mode) are
    `expected` (a list in output order, or output name -> array); returns the outputs."""
    from .test_utils import assert_almost_equal
    location = _location(sym, location, ctx, dtype)
    aux = _aux_states(sym, aux_states, ctx, dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    exe = sym.bind(ctx, args=location, aux_states=aux)
    exe.forward(is_train=False)
    for name, want, got in zip(sym.list_outputs(), expected, exe.outputs):
        assert_almost_equal(want, got.asnumpy(), rtol, atol,
                            (f"EXPECTED_{name}", f"FORWARD_{name}"), equal_nan=equal_nan)
    return exe.outputs


def check_symbolic_backward(sym, location, out_grads, expected, rtol=1e-5, atol=None,
                            aux_states=None, grad_req="write", ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=np.float32):
    """Raise AssertionError unless the gradients of `sym` at `location` with head gradients
    `out_grads` are `expected` (a list in argument order, or name -> array), as grad_req
    says: written, added to what the gradient array held, or left alone. Returns the
    gradient arrays."""
    location = _location(sym, location, ctx, dtype)
    aux = _aux_states(sym, aux_states, ctx, dtype)
    if isinstance(expected, (list, tuple)):
        expected = dict(zip(sym.list_arguments(), expected))
    before = {k: np.random.normal(size=np.shape(v)) for k, v in expected.items()}
    grads = {k: nd.array(v, ctx=ctx, dtype=location[k].dtype if dtype == "asnumpy" else dtype)
             for k, v in before.items()}
    for k, stype in (grad_stypes or {}).items():    # (MXNet's: an empty array of that type)
        if k in grads and stype not in (None, "default"):
            grads[k] = nd.zeros(grads[k].shape, dtype=grads[k].dtype).tostype(stype)
            before[k] = np.zeros(grads[k].shape)
    reqs = _grad_reqs(sym, grad_req)
    exe = sym.bind(ctx, args=location, args_grad=grads, grad_req=reqs, aux_states=aux)
    exe.forward(is_train=True)
    if isinstance(out_grads, (list, tuple)):
        out_grads = [_array(g, ctx, dtype) for g in out_grads]
    elif isinstance(out_grads, dict):
        out_grads = [_array(out_grads[k], ctx, dtype) for k in sym.list_outputs()]
    elif out_grads is not None:
        raise TypeError(f"out_grads must be a list, a dict or None, got "
                        f"{type(out_grads).__name__}")
    exe.backward(out_grads)
    for name in expected:
        _compare_grad(name, reqs.get(name, "write"), expected[name], grads[name].asnumpy(),
                      before[name], rtol, atol, (f"EXPECTED_{name}", f"BACKWARD_{name}"),
                      equal_nan)
    return grads


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, rtol=None, atol=None, raise_on_err=True,
                      ground_truth=None, equal_nan=False, use_uniform=False,
                      rand_type=np.float64):
    """Run `sym` (or one symbol per entry) bound as each entry of ctx_list says (its context,
    input shapes and 'type_dict'), on the same random inputs, and compare every run's
    outputs (inference, then training) and argument gradients (for the first run's outputs
    as head gradients, cast to the least precise output dtype) with the most precise run's
    or with `ground_truth` (name -> array). Returns the reference {name: NDArray}. MXNet's
    operator tests compare dtypes and devices with it."""
    from .test_utils import assert_almost_equal, get_tols
    if len(ctx_list) < 2:
        raise ValueError("check_consistency: ctx_list needs at least two entries")
    syms = [sym] * len(ctx_list) if not isinstance(sym, (list, tuple)) else list(sym)
    if len(syms) != len(ctx_list):
        raise ValueError(f"check_consistency: {len(syms)} symbols for {len(ctx_list)} "
                         f"contexts")
    out_names, arg_names = syms[0].list_outputs(), syms[0].list_arguments()
    exes = []
    for s, spec in zip(syms, ctx_list):
        if s.list_arguments() != arg_names or s.list_outputs() != out_names:
            raise ValueError("check_consistency: the symbols differ in their arguments or "
                             "outputs")
        exes.append(s.simple_bind(grad_req=grad_req, **spec))
    arg_params = dict(arg_params or {})
    aux_params = dict(aux_params or {})
    for name, arr in sorted(exes[0].arg_dict.items()):     # (a fixed order: reproducible)
        if name not in arg_params:
            arg_params[name] = (np.random.uniform(-0.92 * scale, 0.92 * scale, arr.shape)
                                if use_uniform else
                                np.random.normal(size=arr.shape, scale=scale)
                                ).astype(rand_type)
    for name in exes[0].aux_dict:
        aux_params.setdefault(name, 0)
    for exe in exes:
        for name, arr in exe.arg_dict.items():
            arr[:] = arg_params[name]
        for name, arr in exe.aux_dict.items():
            arr[:] = aux_params[name]
        if grad_req == "add":
            for arr in exe.grad_arrays:
                if arr is not None:
                    arr[:] = 0
    dtypes = [np.dtype(exe.outputs[0].dtype) for exe in exes]
    ref = int(np.argmax([d.itemsize for d in dtypes]))

    def least(a, b):
        return a if np.dtype(a).itemsize <= np.dtype(b).itemsize else b

    def compare(phase, named):
        """Each run's arrays against the reference run's (or ground_truth)."""
        truth = ground_truth if ground_truth is not None else \
            {k: v.copy() for k, v in named(exes[ref]) if v is not None}
        for i, exe in enumerate(exes):
            if i == ref and ground_truth is None:
                continue
            for name, arr in named(exe):
                if arr is None or name not in truth:
                    continue
                want = truth[name]
                rt, at = rtol, atol
                if rt is None or at is None:   # (the looser dtype of the two runs decides)
                    rt, at = get_tols(arr.astype(least(arr.dtype, dtypes[i])).asnumpy(),
                                      np.asarray(want.asnumpy() if isinstance(want, NDArray)
                                                 else want).astype(
                                          least(want.dtype, dtypes[ref])), rtol, atol)
                try:
                    assert_almost_equal(arr, want, rt, at, names=(
                        f"{phase} {name} ({np.dtype(arr.dtype).name}, run {i})",
                        f"reference ({np.dtype(want.dtype).name}, run {ref})"),
                        equal_nan=equal_nan)
                except AssertionError:
                    if raise_on_err:
                        raise
                    print(f"check_consistency: {phase} {name}: run {i} differs from run {ref}")
        return truth

    for exe in exes:
        exe.forward(is_train=False)
    truth = compare("inference", lambda e: zip(out_names, e.outputs))
    if grad_req == "null":
        return truth
    for exe in exes:
        exe.forward(is_train=True)
    dts = [o.dtype for o in exes[0].outputs]
    for exe in exes:
        dts = [least(o.dtype, dt) for o, dt in zip(exe.outputs, dts)]
    heads = [o.asnumpy().astype(dt) for o, dt in zip(exes[0].outputs, dts)]
    for exe in exes:
        exe.backward([nd.array(h, dtype=o.dtype) for h, o in zip(heads, exe.outputs)])
    return compare("training", lambda e: list(zip(out_names, e.outputs)) +
                   list(zip(arg_names, e.grad_arrays)))
