"""The rows a row_sparse gradient lists: those Embedding(sparse_grad=True) looked up.

MXNet's Embedding backward with sparse_grad writes a row_sparse gradient whose indices are the
unique looked-up indices (SparseEmbeddingOpBackwardRspImpl), including a row whose gradient
values are all zero (a padding token whose loss is masked out). SGD and Adam with lazy_update
update exactly those rows: such a row still gets weight decay and its momentum / moment update.
tracegrad's gradients are dense, so the rows are marked as the forward looks them up:

- a Variable whose gradient is row_sparse (tape.Variable, grad_stype='row_sparse') owns a
  float32 vector `rows` of one count per weight row (`new_marks`);
- nd.Embedding(sparse_grad=True) while recording adds its lookups' counts into it
  (`mark`; a row_sparse gradient with grad_req='add' is refused there, as MXNet's
  SparseEmbeddingOpBackwardRspImpl refuses req != kWriteTo) through array.assign_state, a
  state update, so that a hybridized block's compiled call and a captured step write it as
  eager code does (as BatchNorm's running statistics);
- the outermost autograd.record() scope starts every vector from zero (`reset`): the
  gradient backward writes (grad_req='write', as MXNet requires of it) is that graph's;
- the gradient's listing (NDArray.grad, Parameter.grad) and the Trainer's lazy update read
  the marked rows together with the rows whose gradient is nonzero (`looked_up`).
"""
import weakref

import numpy as np

from .array import F, HOOKS, assign_state, wrap
from .base import MXNetError
from .index_checks import check_value_range

# every marks vector alive (the outermost record() scope zeroes them): id -> weak reference.
# A plain dict, so that record() tests it as cheaply as any (a WeakValueDictionary's len()
# is Python code)
_MARKS: dict = {}


def new_marks(grad):
    """The marks vector of a row_sparse gradient buffer `grad` (None for a 0-d one)."""
    if grad.ndim < 1:
        return None
    marks = wrap(np.zeros(grad.shape[0], dtype=np.float32))
    key = id(marks)
    _MARKS[key] = weakref.ref(marks, lambda _, key=key: _MARKS.pop(key, None))
    return marks


def mark(weight, data):
    """Count the rows `data` (the indices, as Embedding reads them) looks up in the marks of
    `weight`'s variable, when it has any. An index outside the rows is an error there, as in
    MXNet's sparse backward ("Embedding input contains data out of bound"), eager and
    compiled alike (index_checks.py)."""
    var = weight._var
    marks = None if var is None else var.rows
    if marks is None:
        return
    if var.grad_req == "add":   # (MXNet's backward checks it: the graph recorded here fails)
        raise MXNetError(
            f"Embedding (sparse_grad=True): Check failed: req == kWriteTo: SparseEmbedding "
            f"layer doesn't support weight gradient calculation with req != write (the "
            f"weight of shape {tuple(weight.shape)} has a row_sparse gradient and "
            f"grad_req='add')")
    n = marks.shape[0]
    data = check_value_range("Embedding", "data", data, 0, n - 1,
                             f"the {n} rows of the weight, with sparse_grad=True")
    counts = F.scatter_add(F.broadcast_to(1.0, shape=tuple(data.shape)), data, axis=0, size=n)
    base = marks
    if HOOKS.tracing:   # a trace's state updates are written after its call: a second
        # lookup in one traced call adds to the first's value, not to the marks it read
        latest = _IN_TRACE.get(id(marks))
        if latest is not None and latest[0] is HOOKS.assign and latest[1] is marks:
            base = latest[2]
    value = F.add(base, counts)
    if HOOKS.tracing:
        _IN_TRACE[id(marks)] = (HOOKS.assign, marks, value)
    assign_state(marks, value)


# id(marks) -> (the trace's assign hook, marks, the value its latest lookup wrote)
_IN_TRACE: dict = {}


def reset():
    """Every marks vector back to zero (a new outermost record() scope). Reading `_data`
    runs a captured step still writing one first."""
    _IN_TRACE.clear()
    for ref in list(_MARKS.values()):
        marks = ref()
        if marks is None:
            continue
        data = marks._data
        if data.any():
            data[...] = 0


def looked_up(var):
    """The boolean row mask `var`'s marks hold, or None when it has none."""
    marks = var.rows
    if marks is None:
        return None
    return marks._data != 0


def listed_rows(grad, variables):
    """The rows a row_sparse gradient `grad` (a numpy buffer) lists: those with a nonzero
    value and those looked up in any of `variables` (a parameter's copies, whose gradients
    were summed into it), ascending."""
    listed = np.any(grad.reshape(grad.shape[0], -1) != 0, axis=1)
    for var in variables:
        looked = None if var is None else looked_up(var)
        if looked is not None:
            listed |= looked
    return np.flatnonzero(listed)
