"""Shape and type inference of a Symbol (MXNet's infer_shape / infer_type).

Argument shapes an op creates (a FullyConnected's weight, a BatchNorm's moving_mean, a
SoftmaxOutput's label) come from the op's rule in symbol/ops.py once its data's shape is
known; output shapes come from running the op's nd function once on zeros of the input shapes
(inference mode, nothing recorded) inside array.shapes_only(), where each primitive gives zeros
of its type rule's result without computing it: exactly the shapes a forward pass gives. Every
shape is checked for size before anything is allocated. Shapes these passes leave unknown
are filled from the partial shapes the graph holds (unknown dims) by partial_shapes.py, and
the variables and creations that completes are inferred again.
"""
import numpy as np

from ..base import MXNetError
from ..array import shapes_only, wrap
from ..util import is_np_shape
from . import ops as _ops
from . import partial_shapes
from .literal import LiteralError, parse_literal

MAX_INFER_ELEMENTS = 2 ** 31   # an array inference would allocate: refuse past this
MAX_PROBES = 8     # sizes tried for a begin state's unknown dims (each is one inference)
MAX_PARTIAL_TRIALS = 64    # inferences one infer() spends sizing partial variables


def var_shape_attr(node):
    """A variable's __shape__ as a tuple, or None when absent or holding unknown (0) dims."""
    shape = _partial_shape_attr(node)
    return shape if shape and all(d > 0 for d in shape) else None


def _partial_shape_attr(node):
    """A variable's __shape__ with its unknown dims as 0 (a Gluon parameter whose input size
    is deferred: `(32, 0)`; under np_shape MXNet writes them -1), or None."""
    text = node.attrs.get("__shape__")
    try:
        shape = parse_literal(text) if text is not None else None
    except LiteralError:
        return None
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= -1 for d in shape):
        return None
    return tuple(max(d, 0) for d in shape)


def var_dtype_attr(node):
    from .symbol import CODE_DTYPES
    text = node.attrs.get("__dtype__")
    if text is None:
        return None
    try:
        code = parse_literal(text)
    except LiteralError:
        return None
    if isinstance(code, int) and code in CODE_DTYPES:
        return np.dtype(CODE_DTYPES[code])
    return None


# one-input ops whose input and output have one shape, inferred either way (MXNet registers
# them with ElemwiseShape<1, 1>): a consumer sizing `log(b)` sizes `b`, as in MXNet's
# backward pass of shape inference. (Activation, Dropout and MakeLoss infer forward only.)
UNARY_SAME_SHAPE = frozenset({
    "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "cbrt", "ceil", "cos",
    "cosh", "degrees", "erf", "erfinv", "exp", "expm1", "fix", "floor", "gamma", "gammaln",
    "hard_sigmoid", "log", "log10", "log1p", "log2", "logical_not", "make_loss", "negative",
    "radians", "rcbrt", "reciprocal", "relu", "rint", "round", "rsqrt", "sigmoid", "sign",
    "sin", "sinh", "softsign", "sqrt", "square", "tan", "tanh", "trunc", "clip", "reverse",
    "smooth_l1", "softmax", "log_softmax", "softmin", "zeros_like", "ones_like",
    "_plus_scalar", "_minus_scalar", "_rminus_scalar", "_mul_scalar", "_div_scalar",
    "_rdiv_scalar", "_mod_scalar", "_rmod_scalar", "_power_scalar", "_rpower_scalar",
    "_maximum_scalar", "_minimum_scalar", "_hypot_scalar", "_equal_scalar",
    "_not_equal_scalar", "_greater_scalar", "_greater_equal_scalar", "_lesser_scalar",
    "_lesser_equal_scalar", "_logical_and_scalar", "_logical_or_scalar",
    "_logical_xor_scalar"})


def _behind(entry):
    """The entry an input entry has its shape from: through casts and copies
    (SHAPE_KEEPING) and one-input elementwise ops (UNARY_SAME_SHAPE)."""
    node, k = entry
    while node.op is not None:
        op = _ops.canonical(node.op)
        if op in _ops.SHAPE_KEEPING and k < len(node.inputs):
            node, k = node.inputs[k if node.op == "amp_multicast" else 0]
        elif op in UNARY_SAME_SHAPE and len(node.inputs) == 1 and k == 0:
            node, k = node.inputs[0]
        else:
            break
    return node, k


def _shape_source(entry):
    """The variable (or unsized creation) whose shape an input entry has, None when the
    entry's shape is computed otherwise (ops.shape_source, through _behind's ops too)."""
    node, _ = _behind(entry)
    return node if node.op is None or _ops.unsized(node) else None


def _backwards(entry, want, shapes, where):
    """[(variable node, shape)]: the unsized variables behind `entry` whose shapes follow
    from the entry's having shape `want`, as MXNet's backward shape inference gives them
    through the chain a Gluon RNN layer builds for its fused op's `parameters`
    (`_rnn_param_concat` of `Reshape(-1)`s of weights whose input size is deferred): a
    concatenation with one input unknown gives it the rest of the axis; a reshape gives its
    variable's one unknown dim the size left."""
    node, k = _behind(entry)
    op = node.op and _ops.canonical(node.op)
    if node.op is None:
        if shapes[id(node)][0] is not None:
            return []
        partial = _partial_shape_attr(node)
        if partial is None or len(partial) != len(want) or any(
                p and p != w for p, w in zip(partial, want)):
            return []
        return [(node, want)]
    if op in ("Concat", "concat", "_rnn_param_concat"):
        ins = [shapes[id(c)][i] for c, i in node.inputs]
        unknown = [j for j, s in enumerate(ins) if s is None]
        axis = node.params.get("dim", 1)
        # (MXNet's RNNParamConcatShape: a bidirectional layer's two first-layer weights are
        # both unknown, and of one shape: they share what is left)
        most = 2 if op == "_rnn_param_concat" else 1
        if not 0 < len(unknown) <= most or not want or not -len(want) <= axis < len(want):
            return []
        axis %= len(want)
        rest = want[axis] - sum(s[axis] for s in ins if s is not None and len(s) == len(want))
        if rest <= 0 or rest % len(unknown) or any(
                s is not None and len(s) != len(want) for s in ins):
            raise MXNetError(f"{where}: its input of {want} cannot be the concatenation of "
                             f"{[tuple(s) if s else None for s in ins]}")
        part = want[:axis] + (rest // len(unknown),) + want[axis + 1:]
        return [got for j in unknown for got in _backwards(node.inputs[j], part, shapes, where)]
    if op in ("Reshape", "reshape") and node.inputs:
        src, _ = _ops.behind(node.inputs[0], _ops.SHAPE_KEEPING)
        partial = _partial_shape_attr(src) if src.op is None else None
        if partial is None or shapes[id(src)][0] is not None or partial.count(0) != 1:
            return []
        size = int(np.prod(want, dtype=np.int64))
        known = int(np.prod([d for d in partial if d], dtype=np.int64))
        if known <= 0 or size % known:
            raise MXNetError(f"{where}: '{src.name}' of shape {partial} cannot hold the "
                             f"{size} elements its consumer needs")
        return [(src, tuple(d or size // known for d in partial))]
    return []


def _zeros(shape, dtype, where):
    n = 1
    for d in shape:
        n *= d
    if n > MAX_INFER_ELEMENTS:
        raise MXNetError(f"{where}: an array of shape {tuple(shape)} ({n} elements) is too "
                         f"large to infer shapes with")
    return np.broadcast_to(np.zeros((), dtype), tuple(shape))  # (one element: shapes_only)


def _run_on_zeros(node, shapes, dtypes, where):
    """node's outputs (a list) for one-element zeros broadcast to `shapes`, of `dtypes`
    (None: float32), computed under shapes_only: inference's probe of an op."""
    from ..autograd import pause
    arrays = [wrap(_zeros(s, t or np.float32, where)) for s, t in zip(shapes, dtypes)]
    with pause(train_mode=False), np.errstate(all="ignore"), shapes_only():
        out = node.spec.fn(*arrays, **node.params)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _passes(sym, known, types, sizes=None):
    """{id(node): [shape or None per visible output]}, {id(node): [dtype ...]} to a fixed
    point (a variable a later op gives a shape to is seen by every op of the next pass).
    `sizes`: {id(creation node): shape} for creations with unknown dims (probed)."""
    order = sym._order()
    shapes, dtypes = {}, {}
    provisional = set()     # (elementwise outputs sized from some of their inputs)
    for node in order:
        if node.op is None:
            s = known.get(node.name)
            if s is not None:
                s = _ops.check_shape_size(tuple(int(d) for d in s),
                                          f"input '{node.name}'")
            shapes[id(node)] = [s if s is not None else var_shape_attr(node)]
            dt = types.get(node.name)
            dtypes[id(node)] = [np.dtype(dt) if dt is not None else var_dtype_attr(node)]
    for _ in range(len(order) + 2):    # (each pass with a change sizes another node)
        changed = False
        for node in order:
            if node.op is None:
                continue
            where = f"node '{node.name}' (op {node.op})"
            ins = [shapes[id(c)][i] for c, i in node.inputs]
            skip = _ops.INDEX_INPUTS.get(_ops.canonical(node.op), ())
            known_t = next((dtypes[id(c)][i] for k, (c, i) in enumerate(node.inputs)
                            if dtypes[id(c)][i] is not None and not (
                                k < len(node.input_names) and node.input_names[k] in skip)),
                           np.dtype(node.params.get("dtype") or np.float32) if skip
                           else np.dtype(np.float32))
            for k, (c, i) in enumerate(node.inputs):   # an argument's type follows the data
                if c.op is None and dtypes[id(c)][0] is None:
                    slot = node.input_names[k] if k < len(node.input_names) else None
                    dtypes[id(c)] = [_ops.input_dtype(node.op, slot, known_t)]
            if any(s is None for s in ins) and _ops.canonical(node.op) in _ops.SAME_SHAPE_INPUTS:
                known_in = next((s for s in ins if s is not None), None)
                for k, entry in enumerate(node.inputs):
                    src = _shape_source(entry) if known_in is not None else None
                    if ins[k] is None and src is not None and shapes[id(src)][0] is None:
                        shapes[id(src)] = [tuple(known_in)]
                        if src is entry[0]:
                            ins[k] = shapes[id(src)][0]
                        changed = True
            if any(s is None for s in ins) and hasattr(node.spec, "input_shapes"):
                # (a control-flow node: its subgraphs size what they read)
                got = node.spec.input_shapes(ins, [dtypes[id(c)][i] for c, i in node.inputs],
                                             node.params)
                for k, entry in enumerate(node.inputs):
                    src = _shape_source(entry) if ins[k] is None else None
                    if src is not None and got[k] is not None and shapes[id(src)][0] is None:
                        shapes[id(src)] = [_ops.check_shape_size(got[k], f"'{src.name}'")]
                        if src is entry[0]:
                            ins[k] = shapes[id(src)][0]
                        changed = True
            if any(s is None for s in ins) and node.spec.shapes and ins and ins[0] is not None:
                try:
                    rule = node.spec.shapes(tuple(ins[0]), node.params)
                except (KeyError, IndexError, TypeError, ZeroDivisionError) as e:
                    raise MXNetError(f"{where}: cannot infer the shapes of its arguments from "
                                     f"data of shape {tuple(ins[0])} ({type(e).__name__}: "
                                     f"{e})") from None
                for k, (c, i) in enumerate(node.inputs):
                    slot = node.input_names[k] if k < len(node.input_names) else None
                    if ins[k] is not None or slot not in rule:
                        continue
                    # the argument itself, or one behind casts (AMP's amp_cast of a weight)
                    src = _shape_source((c, i))
                    if src is None:     # computed from arguments: size them backwards
                        for var, s in _backwards((c, i), tuple(rule[slot]), shapes, where):
                            shapes[id(var)] = [_ops.check_shape_size(s, f"'{var.name}'")]
                            changed = True
                        continue
                    if shapes[id(src)][0] is not None:
                        continue
                    s = rule[slot]
                    if any(not isinstance(d, int) or d < 0 for d in s):
                        raise MXNetError(f"{where}: inferred an invalid shape {s} for "
                                         f"'{src.name}'")
                    shapes[id(src)] = [_ops.check_shape_size(tuple(s), f"'{src.name}'")]
                    if src is c:
                        ins[k] = shapes[id(c)][0]
                    changed = True
            if id(node) in shapes and all(s is not None for s in shapes[id(node)]) and \
                    id(node) not in provisional:
                continue
            if _ops.unsized(node):   # its consumer's rule gives its shape (or a probe)
                shapes[id(node)] = [sizes.get(id(node)) if sizes else None]
                dtypes[id(node)] = [np.dtype(node.params.get("dtype") or np.float32)]
                continue
            n = len(node.visible_outputs())
            if any(s is None for s in ins):
                k = next((k for k, s in enumerate(ins) if s is not None), None)
                if n == 1 and k is not None and _ops.canonical(node.op) in _ops.SAME_SHAPE_INPUTS:
                    # an elementwise op's output has its inputs' shape, known from one of
                    # them (MXNet's ElemwiseShape); checked when the others are known
                    c, i = node.inputs[k]
                    if shapes.get(id(node)) != [tuple(ins[k])]:
                        shapes[id(node)] = [tuple(ins[k])]
                        dtypes[id(node)] = [dtypes[id(c)][i]]
                        provisional.add(id(node))
                        changed = True
                    continue
                shapes[id(node)] = [None] * n
                dtypes[id(node)] = [None] * n
                continue
            provisional.discard(id(node))
            _ops.check_growth(node, ins)
            try:
                outs = _run_on_zeros(node, ins, [dtypes[id(c)][i] for c, i in node.inputs],
                                     where)
            except (MXNetError, TypeError, ValueError, IndexError, MemoryError) as e:
                raise MXNetError(f"{where}: inputs of shapes {[tuple(s) for s in ins]}: "
                                 f"{e}") from None
            if len(outs) != n:
                raise MXNetError(f"{where} gave {len(outs)} outputs, its attributes say {n}")
            shapes[id(node)] = [tuple(o.shape) for o in outs]
            dtypes[id(node)] = [np.dtype(o.dtype) for o in outs]
            changed = True
        if not changed:
            break
    return order, shapes, dtypes


def _probe_candidates(known):
    """The sizes an unknown creation dim may take: the given inputs' dims, first dims (the
    batch, as MXNet's 'NC' / 'LNC' state layouts have it) before the others; at most
    MAX_PROBES (a file with many inputs must not make inference run that many times)."""
    shapes = [tuple(s) for s in known.values() if s]
    seen = []
    for axis in range(max((len(s) for s in shapes), default=0)):
        for s in shapes:
            if axis < len(s) and int(s[axis]) > 0 and int(s[axis]) not in seen:
                seen.append(int(s[axis]))
    return seen[:MAX_PROBES]


def _probed_passes(sym, known, types, sizes=None, strict=True):
    """_passes, with creations whose unknown (0) dims no consumer rule gives (a legacy RNN
    cell's begin state feeding a FullyConnected) sized by probing: MXNet infers them
    backwards through the elementwise op that meets the input's rows; here each candidate
    size (`_probe_candidates`) is tried in turn and the first one with which the whole graph
    infers without an error is kept. An elementwise op rejects every wrong row count, so
    the size kept is the one MXNet's backward inference gives."""
    order, shapes, dtypes = _passes(sym, known, types, sizes)
    open_ = [n for n in order if _ops.unsized(n) and shapes[id(n)][0] is None]
    shapeless = {id(n): (1,) for n in open_
                 if not n.params.get("shape") and n.op not in _ops.CREATION_OPS}
    if shapeless:   # a sampler's () that no consumer sizes: one draw, as nd.random.normal()
        sizes = {**(sizes or {}), **shapeless}
        order, shapes, dtypes = _passes(sym, known, types, sizes)
        open_ = [n for n in open_ if id(n) not in shapeless]
    if not open_:
        return order, shapes, dtypes

    def attempt(size):
        """_passes with the open creations' 0s set to `size`; None when that raises."""
        probe = {id(n): tuple(size if d <= 0 else d for d in n.params["shape"])
                 for n in open_}
        try:
            return _passes(sym, known, types, {**(sizes or {}), **probe})
        except MXNetError:
            return None

    def complete(got):
        return all(s is not None for n in got[0] for s in got[1][id(n)])

    got = None
    candidates = _probe_candidates(known)
    unused = next(k for k in range(2, len(candidates) + 3) if k not in candidates)
    for size in candidates:
        got = attempt(size)
        if got is None:
            continue
        # a size that appears nowhere must fail: else nothing constrains the dims (MXNet
        # cannot infer them either) and the candidate would be a guess
        if attempt(unused) is None:
            return got
        if complete(got):       # only the creation dims are unknown: say so
            break
        return order, shapes, dtypes    # (other inputs are missing: a partial answer)
    names = ", ".join(f"'{n.name}' {tuple(n.params['shape'])}" for n in open_)
    if strict and all(s is not None for n in order if n.op is None for s in shapes[id(n)]) or \
            strict and (got is not None and complete(got)):
        raise MXNetError(f"cannot infer the unknown dims (the 0s) of {names}: no "
                         f"consumer fixes them for inputs {dict(known)}; give the shape, or "
                         f"feed the state as a variable")
    return order, shapes, dtypes


def creation_sizes(sym, known, types):
    """{id(node): shape} of sym's creations with unknown dims, for inputs of these shapes
    (symbol.evaluate sizes them with it)."""
    try:
        order, shapes, _, _ = _with_partials(sym, known, types, {})
    except MXNetError:      # evaluate names the op that cannot size its input
        return {}
    return {id(n): shapes[id(n)][0] for n in order
            if _ops.unsized(n) and shapes[id(n)][0] is not None}


def _with_partial_variables(sym, known, types, sizes=None, strict=True):
    """_probed_passes, with variables whose __shape__ has one unknown (0) dim that no op rule
    gives (a custom Gluon block's `shape=(0, 100)` weight read by `dot`) sized by probing:
    MXNet's backward inference through the consumer fills the 0; here the sizes the shapes
    known so far hold (`_probe_candidates`), 1 and one that appears nowhere are tried, and a
    size is kept when it is the only one with which the graph infers (the consumer fixes the
    dim: nothing is guessed, and a broadcast that 1 also satisfies stays unknown, as in
    MXNet). One variable at a time: a sized one can complete the next one's consumer."""
    known = dict(known)
    got = _probed_passes(sym, known, types, sizes, strict)
    budget = MAX_PARTIAL_TRIALS     # (inferences in all: a file with many such variables
    for _ in range(MAX_PROBES):     # must not make one call run thousands)
        order, shapes, _ = got
        sized = False
        for node in order:
            if node.op is not None or shapes[id(node)][0] is not None or node.name in known \
                    or budget <= 0:
                continue
            partial = _partial_shape_attr(node)
            if partial is None or partial.count(0) != 1:
                continue
            seen = {k: v for k, v in known.items() if v}
            seen.update((n.name, shapes[id(n)][0]) for n in order
                        if n.op is None and shapes[id(n)][0] is not None)
            candidates = _probe_candidates(seen)
            unused = next(k for k in range(2, len(candidates) + 3) if k not in candidates)
            fits = []
            for size in dict.fromkeys(candidates + [1, unused]):
                if budget <= 0:
                    fits = []
                    break
                budget -= 1
                trial = {**known, node.name: tuple(d or size for d in partial)}
                try:
                    fits.append((trial, _probed_passes(sym, trial, types, sizes, strict)))
                except MXNetError:
                    continue
                if len(fits) > 1:
                    break
            if len(fits) == 1:
                (known, got), sized = fits[0], True
                break
        if not sized:
            break
    return got


def _with_partials(sym, known, types, given):
    """_with_partial_variables, then, while some shape is unknown, partial inference
    (partial_shapes.fill: unknown dims filled both ways) from the variables' partial shapes
    (`given`, {name: shape with 0 for each unknown dim}, and their __shape__ attributes);
    the variables and creations it completes are inferred again with their shapes. Returns
    (order, shapes, dtypes, {id(node): [partial shape]} or None)."""
    order, shapes, dtypes = _with_partial_variables(sym, known, types, strict=False)
    declared = ((n.name, _partial_shape_attr(n)) for n in order if n.op is None)
    given = {**{k: s for k, s in declared if s is not None and 0 in s}, **given}
    part = None
    if not _complete(order, shapes):
        part = partial_shapes.fill(order, shapes, dtypes, given)
        more = {n.name: part[id(n)][0] for n in order if n.op is None and
                shapes[id(n)][0] is None and partial_shapes.complete(part[id(n)][0])}
        sizes = {id(n): part[id(n)][0] for n in order if _ops.unsized(n) and
                 shapes[id(n)][0] is None and partial_shapes.complete(part[id(n)][0])}
        if more or sizes:
            known = {**known, **more}
            order, shapes, dtypes = _with_partial_variables(sym, known, types, sizes, False)
            part = None if _complete(order, shapes) else \
                partial_shapes.fill(order, shapes, dtypes, given)
        if any(_ops.unsized(n) and shapes[id(n)][0] is None for n in order):
            # (creations nothing sizes: the complete passes' error, when they have one)
            _with_partial_variables(sym, known, types, sizes)
    _check_declared(order, shapes, given)
    return order, shapes, dtypes, part


def _complete(order, shapes):
    return all(s is not None for n in order for s in shapes[id(n)])


def _check_declared(order, shapes, given):
    """A variable's inferred shape must have the known dims its partial shape declared (its
    __shape__ or the shape given for it): MXNet refuses an inconsistent graph."""
    for n in order:
        want, got = given.get(n.name), shapes[id(n)][0] if n.op is None else None
        if want is not None and got is not None and partial_shapes.unify(
                want, tuple(got)) is partial_shapes.CONFLICT:
            raise MXNetError(f"variable '{n.name}': its shape {partial_shapes.spell(want)} "
                             f"cannot be {tuple(got)}, the shape the graph gives it")


def infer(sym, known, types, partial=False, given=None):
    """((arg_shapes, out_shapes, aux_shapes), {var name: shape}, {var name: dtype}).
    `given`: {variable name: shape with 0 for each unknown dim} (infer_shape's arguments
    with unknown dims: partial_shapes fills them in both directions)."""
    order, shapes, dtypes, part = _with_partials(sym, known, types, given or {})
    var_shapes = {n.name: shapes[id(n)][0] for n in order if n.op is None}
    var_types = {n.name: dtypes[id(n)][0] or np.dtype(np.float32) for n in order
                 if n.op is None}
    arg = [var_shapes[k] for k in sym.list_arguments()]
    aux = [var_shapes[k] for k in sym.list_auxiliary_states()]
    out = [shapes[id(n)][i] for n, i in sym._outputs]
    if partial:     # (unknown dims as MXNet spells them: 0, or -1 under np_shape)
        np_shape = is_np_shape()

        def spell(shapes_, partials):
            got = []
            for k, s in enumerate(shapes_):
                p = partials[k] if s is None and partials else None
                if s is not None:
                    got.append(s)
                elif p is None:
                    got.append(None if np_shape else ())
                else:
                    got.append(tuple(-1 if not d else d for d in p) if np_shape else p)
            return got
        by_name = {n.name: part[id(n)][0] for n in order if n.op is None} if part else {}
        return (spell(arg, [by_name.get(k) for k in sym.list_arguments()]),
                spell(out, [part[id(n)][i] for n, i in sym._outputs] if part else None),
                spell(aux, [by_name.get(k) for k in sym.list_auxiliary_states()])), \
            var_shapes, var_types
    if any(s is None for s in arg + aux + out):
        return (None, None, None), var_shapes, var_types
    return (arg, out, aux), var_shapes, var_types


_INDEX_OUT = {"argmax", "argmin", "argsort", "argmax_channel"}
_FIXED_OUT = {"_contrib_allclose": np.dtype(np.uint8)}   # ops whose output dtype is fixed


def _probed_types(node, ins):
    """A numpy op's output dtypes for inputs of dtypes `ins` (infer_type has no shapes: a
    comparison gives bool, argmax int64): its function run on one-element zeros of 0 to 3
    dims under shapes_only, the first it accepts; None when an input type is unknown or it
    accepts none."""
    if any(t is None for t in ins):
        return None
    for ndim in range(4):
        try:
            outs = _run_on_zeros(node, [(1,) * ndim] * len(ins), ins, node.name)
        except (MXNetError, TypeError, ValueError, IndexError, KeyError, AttributeError,
                ArithmeticError):
            continue
        return [np.dtype(o.dtype) for o in outs]
    return None


def infer_types(sym, known, partial=False):
    """(arg_types, out_types, aux_types) by propagation (no shapes needed): an op's unknown
    argument takes its first known input's type, and its outputs too unless the op sets one
    (Cast's dtype, index outputs are float32). Unknown types: (None, None, None), or with
    `partial` None in their places."""
    order = sym._order()
    types = {}
    for node in order:
        if node.op is None:
            t = known.get(node.name)
            types[id(node)] = [np.dtype(t) if t is not None else var_dtype_attr(node)]
    for _ in range(2):
        for node in order:
            if node.op is None:
                continue
            ins = [types[id(c)][i] for c, i in node.inputs]
            skip = _ops.INDEX_INPUTS.get(_ops.canonical(node.op), ())
            index = [k < len(node.input_names) and node.input_names[k] in skip
                     for k in range(len(ins))]
            first = next((t for t, idx in zip(ins, index) if t is not None and not idx),
                         np.dtype(node.params.get("dtype") or np.float32) if skip else None)
            for k, ((c, i), t, idx) in enumerate(zip(node.inputs, ins, index)):
                if t is None and c.op is None and first is not None:
                    slot = node.input_names[k] if k < len(node.input_names) else None
                    got = _ops.input_dtype(node.op, slot, None if idx else first)
                    if got is not None:
                        types[id(c)] = [got]
            n = len(node.visible_outputs())
            probed = _probed_types(node, ins) if getattr(node.spec, "probe_types", False) \
                else None
            if probed is not None and len(probed) == n:     # (a numpy op: its own dtypes)
                types[id(node)] = probed
                continue
            if "dtype" in node.params and node.params["dtype"] is not None and \
                    node.op not in ("topk",):
                out = np.dtype(node.params["dtype"])
            elif node.op in _INDEX_OUT:
                out = np.dtype(np.float32)
            elif node.op in _FIXED_OUT:
                out = _FIXED_OUT[node.op]
            else:
                out = first
            types[id(node)] = [out] * n
    names = {n.name: types[id(n)][0] for n in order if n.op is None}
    arg = [names[k] for k in sym.list_arguments()]
    aux = [names[k] for k in sym.list_auxiliary_states()]
    out = [types[id(n)][i] for n, i in sym._outputs]
    if not partial and any(t is None for t in arg + aux + out):
        return None, None, None
    to = (lambda xs: [None if t is None else t.type for t in xs])
    return to(arg), to(out), to(aux)
