"""Partial shape inference: shapes with unknown dims and unknown ranks, filled in both
directions over a graph to a fixed point, as MXNet's infer_shape passes fill them
(infer_shape_partial; infer_shape given unknown dims; creations with unknown dims).

A partial shape is a tuple whose unknown dims are 0 (MXNet's legacy spelling; -1 under
np_shape is turned into it at the API), or None for an unknown rank.

Forward, one rule serves every op: its shape function (its nd function run on zeros, as the
complete passes in inference.py run it) is run once per probe size, each unknown input dim
set to it; an output dim all runs agree on is known, the others stay unknown. Every unknown
dim of a run gets the same size, so dims that must agree (a batch_dot's two batch axes)
agree; an op that refuses a probe gives nothing (a slice past a small size: MXNet's rules
give nothing either where they need a dim that is unknown). The arguments an op creates (a
FullyConnected's weight) are sized the same way through the op's argument rule.

Backward, the rules MXNet's shape functions have for filling an input from an output:
elementwise ops and shape-keeping casts unify inputs and output; FullyConnected gives its
data's batch, Convolution its data (its batch; an unstrided axis's size from the
output's, MXNet's formula),
Concat, SliceChannel, transpose and Reshape their inputs. A known dim is never changed: a
disagreement is left to the complete passes, which name it.

A foreach node (`_foreach`) is inferred through its body, as MXNet's ForeachShape: the body
graph's own partial inference from one step's data (the data without axis 0), the states
and the free inputs gives its outputs (a step output gains the data's axis 0) and what the
body learned about its inputs (an unknown state takes the shape its use gives it)."""
import numpy as np

from ..base import MXNetError
from ..array import shapes_only
from . import ops as _ops

# (distinct enough that a dim computed from an unknown one differs, ceil((size - 2) / 3)
# too; small: a slice's end past the size, min(size, 5), is not 5, and a probe costs little)
PROBES = (3, 4, 5, 7)
# ops whose MXNet shape rule gives nothing until every input shape is known (WhereOpShape
# needs the condition's; its inputs' unknown dims are not passed on)
_NEEDS_COMPLETE = frozenset({"where"})
MAX_PASSES = 16
MAX_PROBE_ELEMENTS = 1 << 24     # a probe's input larger than this: the op gives nothing


def unify(a, b):
    """The partial shape that is both a and b (the known dims of either), or CONFLICT when
    they disagree (a rank or a known dim)."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b) or any(x and y and x != y for x, y in zip(a, b)):
        return CONFLICT
    return tuple(x or y for x, y in zip(a, b))


CONFLICT = "conflict"


def complete(shape):
    return shape is not None and all(d > 0 for d in shape)


def fill(order, shapes, dtypes, given):
    """{id(node): [partial shape per visible output]} for the graph in topological `order`,
    from the complete passes' `shapes` / `dtypes` ({id(node): [...]}) and `given` partial
    shapes of variables ({name: partial shape}). Raises MXNetError when two rules give a
    node two shapes."""
    part = {}
    for node in order:
        if node.op is None:
            s = shapes[id(node)][0]
            part[id(node)] = [s if s is not None else given.get(node.name)]
        elif _ops.unsized(node) and not node.inputs:
            s = shapes[id(node)][0]
            want = tuple(max(int(d), 0) for d in node.params.get("shape", ()))
            part[id(node)] = [s if s is not None else want or None]   # (no dims: unknown)
        else:
            part[id(node)] = list(shapes[id(node)])
    probed = {}     # id(node) -> (input partial shapes, probe results): each probed once
    # the one-input ops whose probes all gave the input's shape back (unary math,
    # activations, scalar arithmetic): their input takes their output's shape
    keeps = set()
    for _ in range(MAX_PASSES):
        changed = False
        for node in order:
            if node.op is not None and node.inputs:
                changed |= _forward(node, part, dtypes, probed, keeps)
        for node in reversed(order):
            if node.op is not None and node.inputs:
                changed |= _backward(node, part, keeps)
        if not changed:
            break
    return part


def _set(part, entry, shape):
    """Unify the entry's partial shape with `shape`; True when it learned something. A
    disagreement raises."""
    node, i = entry
    old = part[id(node)][i]
    new = unify(old, shape)
    if new is CONFLICT:
        raise MXNetError(f"node '{node.name}'" + (f" (op {node.op})" if node.op else "")
                         + f": its shape {spell(old)} cannot be {spell(shape)} (shape "
                           f"inference met two shapes for it)")
    if new != old:
        part[id(node)][i] = new
        return True
    return False


def spell(shape):
    """A partial shape as a message shows it: (?, 7), or (unknown)."""
    if shape is None:
        return "(unknown)"
    return "(" + ", ".join(str(d) if d else "?" for d in shape) + ("," if len(shape) == 1
                                                                  else "") + ")"


# ---------------------------------------------------------------- forward: probing
def _forward(node, part, dtypes, probed, keeps):
    outs = part[id(node)]
    ins = [part[id(c)][i] for c, i in node.inputs]
    op = _ops.canonical(node.op)
    changed = False
    if op == "_foreach":
        return _foreach(node, part, ins, dtypes, probed)
    if op in _ops.SAME_SHAPE_INPUTS or op in _ops.SHAPE_KEEPING and len(outs) == 1:
        for k, s in enumerate(ins if op in _ops.SAME_SHAPE_INPUTS else ins[:1]):
            changed |= _set(part, (node, 0), s)
        return changed
    if node.spec.shapes and ins and ins[0] is not None and \
            not all(complete(s) for s in ins[1:]):
        changed |= _probe_arguments(node, part, ins[0])
        ins = [part[id(c)][i] for c, i in node.inputs]
    if all(complete(s) for s in outs) or any(s is None for s in ins) or (
            op in _NEEDS_COMPLETE and not all(complete(s) for s in ins)):
        return changed
    if op == "slice_axis" and ins[0]:
        # (MXNet's rule: the sliced axis unknown when the input's is, the others the input's;
        # probing would refuse a small probe past `end`)
        axis = node.params.get("axis", 0)
        if -len(ins[0]) <= axis < len(ins[0]) and not ins[0][axis]:
            axis %= len(ins[0])
            return _set(part, (node, 0), ins[0]) | changed
    seen = probed.get(id(node))
    if seen is not None and seen[0] == ins:
        runs = seen[1]
    else:
        runs = []
        for size in PROBES:
            got = _run(node, [tuple(d or size for d in s) for s in ins], dtypes)
            if got is None or len(got) != len(outs):
                runs = None
                break
            runs.append(got)
        probed[id(node)] = (ins, runs)
    if runs is None:
        return changed
    for k in range(len(outs)):
        found = [r[k] for r in runs]
        if any(len(s) != len(found[0]) for s in found):
            continue
        known = tuple(d if all(s[j] == d for s in found) else 0
                      for j, d in enumerate(found[0]))
        changed |= _set(part, (node, k), known)
    if len(ins) == 1 and len(outs) == 1 and all(
            r[0] == tuple(d or size for d in ins[0]) for r, size in zip(runs, PROBES)):
        keeps.add(id(node))     # (its output has its input's shape: backward too)
    return changed


def _foreach(node, part, ins, dtypes, probed):
    """A foreach node's outputs and states from its body's partial inference (module
    docstring); the body is inferred again only when the node's input shapes changed."""
    from .inference import _with_partials
    p = node.params
    body = p["subgraphs"][0]
    names = body.list_inputs()
    n_data = len(p["in_data_locs"])
    locs = list(p["in_data_locs"]) + list(p["in_state_locs"]) + list(p["remain_locs"])
    if len(locs) != len(ins):
        return False
    steps = ins[0][0] if n_data and ins[0] else 0
    inner = [(s[1:] if s else None) if k < n_data else s for k, s in enumerate(ins)]
    seen = probed.get(id(node))
    if seen is not None and seen[0] == ins:
        got = seen[1]
    else:
        given = {names[loc]: s for loc, s in zip(locs, inner) if s is not None}
        types = {names[loc]: dtypes[id(c)][i] for loc, (c, i) in zip(locs, node.inputs)
                 if dtypes[id(c)][i] is not None}
        try:
            order, shapes, _, part_in = _with_partials(
                body, {k: v for k, v in given.items() if complete(v)}, types,
                {k: v for k, v in given.items() if not complete(v)})
        except MXNetError:
            got = None
        else:
            def shape_of(n, i):
                s = shapes[id(n)][i]
                return tuple(s) if s is not None else part_in[id(n)][i] if part_in else None
            by_name = {n.name: shape_of(n, 0) for n in order if n.op is None}
            got = ([shape_of(n, i) for n, i in body._outputs],
                   [by_name.get(names[loc]) for loc in locs])
        probed[id(node)] = (ins, got)
    if got is None:
        return False
    outs, body_ins = got
    n_out = p.get("num_out_data", 0)
    changed = False
    for k, s in enumerate(outs[:len(part[id(node)])]):
        if s is not None:
            changed |= _set(part, (node, k), (steps,) + tuple(s) if k < n_out else tuple(s))
    for k, s in enumerate(body_ins):
        if s is not None:
            changed |= _set(part, node.inputs[k], (steps,) + tuple(s) if k < n_data
                            else tuple(s))
    return changed


def _probe_arguments(node, part, data):
    """The op's argument rule (the shapes it gives its weight, bias, ... from its data's)
    on probe sizes of the data's unknown dims: the dims every probe gives alike."""
    rules = []
    for size in PROBES:
        try:
            rules.append(node.spec.shapes(tuple(d or size for d in data), node.params))
        except Exception:  # noqa: BLE001 - (as _run: a refused probe says nothing)
            return False
    changed = False
    for k, entry in enumerate(node.inputs):
        slot = node.input_names[k] if k < len(node.input_names) else None
        if k == 0 or slot not in rules[0]:
            continue        # (an argument computed in the graph: its producer's rules go on)
        found = [tuple(r[slot]) for r in rules]
        if any(len(s) != len(found[0]) for s in found):
            continue
        known = tuple(d if all(s[j] == d for s in found) else 0
                      for j, d in enumerate(found[0]))
        changed |= _set(part, entry, known)
    return changed


def _run(node, in_shapes, dtypes):
    """The op's output shapes for inputs of these shapes, or None when it refuses them."""
    from .. import nd
    from ..autograd import pause
    if any(int(np.prod(s, dtype=np.int64)) > MAX_PROBE_ELEMENTS for s in in_shapes):
        return None
    try:
        _ops.check_growth(node, in_shapes)
        arrays = [nd.from_numpy(np.zeros(s, dtypes[id(c)][i] or np.float32))
                  for s, (c, i) in zip(in_shapes, node.inputs)]
        with pause(train_mode=False), np.errstate(all="ignore"), shapes_only():
            out = node.spec.fn(*arrays, **node.params)
    except Exception:  # noqa: BLE001 - a probe the op refuses, however, says nothing
        return None
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return [tuple(o.shape) for o in outs]


# ---------------------------------------------------------------- backward: MXNet's rules
def _backward(node, part, keeps):
    op = _ops.canonical(node.op)
    rule = _BACKWARD.get(op)
    if rule is None:
        if op in _ops.SAME_SHAPE_INPUTS or id(node) in keeps:
            rule = _same_shape
        elif op in _ops.SHAPE_KEEPING:
            rule = _shape_keeping
        else:
            return False
    outs = part[id(node)]
    if all(s is None for s in outs):
        return False
    ins = [part[id(c)][i] for c, i in node.inputs]
    changed = False
    for k, shape in rule(node, outs, ins):
        if shape is not None and k < len(node.inputs):
            changed |= _set(part, node.inputs[k], shape)
    return changed


def _same_shape(node, outs, ins):
    return [(k, outs[0]) for k in range(len(ins))]


def _shape_keeping(node, outs, ins):
    return [(0, outs[0])] if node.op != "amp_multicast" else \
        [(k, s) for k, s in enumerate(outs[:len(ins)])]


def _fully_connected(node, outs, ins):
    out, data = outs[0], ins[0]
    if out is None:
        return []
    if node.params.get("flatten", True):
        return [(0, (out[0],) + data[1:])] if data else []
    return [(0, out[:-1] + (data[-1] if data and len(data) == len(out) else 0,))]


def _convolution(node, outs, ins):
    out = outs[0]
    layout = node.params.get("layout")
    if out is None or (layout is not None and not layout.startswith("NC")):
        return []
    kernel = tuple(node.params.get("kernel", ()))
    n = len(kernel)
    if len(out) != n + 2:
        return []
    stride = tuple(node.params.get("stride") or (1,) * n)
    dilate = tuple(node.params.get("dilate") or (1,) * n)
    pad = tuple(node.params.get("pad") or (0,) * n)
    spatial = []    # (MXNet's rule: a strided axis's size is not back-calculated)
    for o, k, s, d, p in zip(out[2:], kernel, stride, dilate, pad):
        size = o - 2 * p + d * (k - 1) if o and s == 1 else 0
        spatial.append(size if size > 0 else 0)
    return [(0, (out[0], 0) + tuple(spatial))]


def _concat(node, outs, ins):
    out = outs[0]
    if out is None:
        return []
    axis = node.params.get("dim", 1)
    if not -len(out) <= axis < len(out):
        return []
    axis %= len(out)
    got = [(k, out[:axis] + (0,) + out[axis + 1:]) for k in range(len(ins))]
    unknown = [k for k, s in enumerate(ins) if s is None or len(s) != len(out) or not s[axis]]
    if len(unknown) == 1 and out[axis]:
        rest = out[axis] - sum(s[axis] for k, s in enumerate(ins) if k != unknown[0])
        if rest > 0:
            got.append((unknown[0], out[:axis] + (rest,) + out[axis + 1:]))
    return got


def _slice_channel(node, outs, ins):
    out = None
    for s in outs:      # (every piece has the same shape)
        out = unify(out, s)
    if out is None:
        return []
    n = node.params.get("num_outputs", 1)
    squeeze = node.params.get("squeeze_axis", False)
    rank = len(out) + (1 if squeeze else 0)
    axis = node.params.get("axis", 1)
    if not -rank <= axis < rank:
        return []
    axis %= rank
    if squeeze:
        return [(0, out[:axis] + (n,) + out[axis:])]
    return [(0, out[:axis] + (out[axis] * n,) + out[axis + 1:])]


def _transpose(node, outs, ins):
    out = outs[0]
    if out is None:
        return []
    axes = tuple(node.params.get("axes") or ())
    if not axes:
        axes = tuple(reversed(range(len(out))))
    if sorted(a % len(out) for a in axes) != list(range(len(out))):
        return []
    data = [0] * len(out)
    for j, a in enumerate(axes):
        data[a % len(out)] = out[j]
    return [(0, tuple(data))]


def _reshape(node, outs, ins):
    out, data = outs[0], ins[0]
    if not complete(out) or data is None or data.count(0) != 1:
        return []
    size = int(np.prod(out, dtype=np.int64))
    known = int(np.prod([d for d in data if d], dtype=np.int64))
    if known <= 0 or size % known:
        return []
    return [(0, tuple(d or size // known for d in data))]


_BACKWARD = {"FullyConnected": _fully_connected, "Convolution": _convolution,
             "Concat": _concat, "SliceChannel": _slice_channel, "transpose": _transpose,
             "Reshape": _reshape}
