"""`mx.optimizer`: SGD, NAG, Adam, RMSProp, AdaGrad with MXNet 1.x update formulas.

`update(index, weight, grad, state)` works on numpy arrays and writes the weight (and state) in
place with ufunc out=, so a compiled module's cached pointers to the weight stay valid. Every
update first forms g = clip(rescale_grad * grad) as MXNet's kernels do; where wd enters (before
or after clipping) follows each MXNet kernel.

Each optimizer also states the same formula once more in IR (`fused_rule`), with the numbers
that change between steps (lr from the schedule, wd, rescale_grad, bias corrections) computed
by `fused_scalars` exactly as `update` computes them: Trainer compiles the rules of all its
parameters into one native call (fused_update.py), as MXNet's multi-tensor kernels do.
"""
import functools
import warnings

import numpy as np

from .array import NDArray
from .base import MXNetError
from .runtime.interpret import generated

_REGISTRY = {}
_PLAIN_SGD: dict = {}   # SGD subclass -> whether fused_scalar_vector's fast loop applies


class UnknownOptimizer(MXNetError, ValueError):
    """create() of a name nobody registered (MXNet raises ValueError)."""


def register(klass):
    """Register an Optimizer subclass under its lower-case class name (MXNet warns when a
    name is taken by another class: the new one wins)."""
    if not (isinstance(klass, type) and issubclass(klass, Optimizer)):
        raise MXNetError(f"Optimizer.register: expected an Optimizer subclass, got {klass!r}")
    name = klass.__name__.lower()
    old = _REGISTRY.get(name)
    if old is not None and old is not klass:
        warnings.warn(f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is "
                      f"overriding existing optimizer {old.__module__}.{old.__name__}")
    _REGISTRY[name] = klass
    return klass


def create(name, **kwargs):
    """An optimizer by name: create('sgd', learning_rate=0.1, momentum=0.9)."""
    if isinstance(name, Optimizer):
        return name
    klass = _REGISTRY.get(str(name).lower())
    if klass is None:
        raise UnknownOptimizer(f"Cannot find optimizer {name}: unknown optimizer {name!r}; "
                               f"known: {sorted(_REGISTRY)}")
    return klass(**kwargs)


_STEP_METHODS = ("update", "create_state", "update_multi_precision",
                 "create_state_multi_precision")


def _map_state(f, x):
    """f applied to every array of an optimizer state (None, an array, a tuple / list of
    them, a MasterState), the structure kept."""
    if x is None:
        return None
    if type(x) is MasterState:
        return MasterState(f(x.master), _map_state(f, x.inner), x.master_last)
    if isinstance(x, (tuple, list)):
        return type(x)(_map_state(f, v) for v in x)
    return f(x)


def _arrays_of(x):
    """The arrays of a state, in _map_state's order."""
    out = []
    _map_state(out.append, x)
    return out


def _numpy(x):
    """An optimizer state or array as the built-in updates read it (NDArray -> its buffer)."""
    return _map_state(lambda a: a._data if isinstance(a, NDArray) else a, x)


def _state_ndarrays(state, weight):
    """A state made for an NDArray weight as MXNet's create_state returns it: NDArrays over
    the state's buffers (update() writes them in place), of the weight's storage type (as
    MXNet's zeros(..., stype=weight.stype))."""
    from .sparse import BaseSparseNDArray, storage_view
    if isinstance(weight, BaseSparseNDArray):
        return _map_state(lambda a: storage_view(a, weight.stype), state)
    from .array import wrap
    return _map_state(wrap, state)


def _lazy_rows(optimizer, index, weight, grad):
    """The rows a row_sparse gradient lists, when the optimizer updates only those rows of
    the weight and its states (Optimizer.updates_rows); else None."""
    from .sparse import RowSparseNDArray
    if isinstance(grad, RowSparseNDArray) and optimizer.updates_rows(
            index, getattr(weight, "stype", "default")):
        return grad._rows()
    return None


def state_rows(state, rows):
    """The listed rows of every array of an optimizer state (copies), the structure kept."""
    return _map_state(lambda a: a[rows], state)


def write_state_rows(state, part, rows):
    """state_rows' arrays (updated) written back into the state's rows."""
    for a, p in zip(_arrays_of(state), _arrays_of(part)):
        a[rows] = p


def _update_rows(update, self, index, rows, weight, grad, state):
    """update() on the listed rows of the weight, gradient and states, written back."""
    part = state_rows(state, rows)
    w = weight[rows]
    update(self, index, w, grad[rows], part)
    weight[rows] = w
    write_state_rows(state, part, rows)


def _takes_numpy(method):
    """A built-in update / create_state, also callable MXNet-style (with NDArrays: a user's
    subclass calling super().update, or the optimizer used by hand): their buffers are what
    it reads and writes, create_state returns NDArrays, and a row_sparse gradient updates
    lazily (_lazy_rows). A float16 weight gets a float32 master copy under multi_precision
    (_master_state, _master_update), else a float32 computation rounded into it
    (_half_update)."""
    creates = method.__name__ == "create_state"
    master = _master_state if creates else _master_update

    @functools.wraps(method)
    def call(self, index, weight, *rest):
        if not creates and isinstance(index, (list, tuple)):
            # MXNet's aggregated form (its multi-tensor kernels: LAMB's, SGD's): lists of
            # indices, weights, gradients and states, each updated as alone
            for i, w, *r in zip(index, weight, *rest):
                call(self, i, w, *r)
            return None
        if isinstance(weight, NDArray):
            if creates:
                return _state_ndarrays(call(self, index, weight._data), weight)
            if self.rescales_grad_in_place and rest and isinstance(rest[0], NDArray) \
                    and rest[0].stype == "default":
                out = call(self, index, weight._data, *(_numpy(r) for r in rest))
                rescale_in_place(self, [rest[0]], [weight])
                return out
            rows = _lazy_rows(self, index, weight, rest[0]) if rest else None
            weight, rest = weight._data, tuple(_numpy(r) for r in rest)
            if rows is not None:
                return _update_rows(call, self, index, rows, weight, *rest)
        if weight.dtype is _F16:
            return master(method, self, index, weight, *rest)
        return method(self, index, weight, *rest)
    return call


def rescale_in_place(optimizer, grads, weights):
    """What MXNet's update() leaves in the gradients it was given (rescales_grad_in_place):
    each dense gradient NDArray times rescale_grad, as its own dtype computes it; not the
    gradient of a float16 weight under multi_precision (MXNet updates from a float32 copy)."""
    mp = optimizer.multi_precision
    for g, w in zip(grads, weights):
        if mp and np.dtype(w.dtype) == _F16:
            continue
        if isinstance(g, NDArray) and g.stype == "default":
            d = g._data
            if d.flags.writeable:
                d *= d.dtype.type(optimizer.rescale_grad)


_F16 = np.dtype(np.float16)
_F16_WARNING = ("Accumulating with float16 in optimizer can lead to poor accuracy or slow "
                "convergence. Consider using multi_precision=True option of the optimizer")


class MasterState(tuple):
    """The state of a float16 weight under multi_precision, in MXNet's layout: (float32
    master copy, the optimizer's state as create_state made it: None, an array or a tuple),
    or (state, master copy) for the optimizers whose own create_state_multi_precision puts it
    last (SGD, NAG, LARS: `master_last`). `flat()` is (master, *the state's arrays), the
    layout saved states keep."""

    def __new__(cls, master, inner, master_last=False):
        self = super().__new__(cls, (inner, master) if master_last else (master, inner))
        self.master, self.inner, self.master_last = master, inner, master_last
        return self

    def flat(self):
        inner = self.inner
        parts = () if inner is None else tuple(inner) if isinstance(inner, (tuple, list)) \
            else (inner,)
        return (self.master, *parts)


def _master_state(create_state, self, index, weight):
    """MXNet's create_state_multi_precision: with multi_precision the optimizer's state is
    made for a float32 copy of the float16 weight (held with it); without, MXNet's warning."""
    if self.multi_precision:
        master = weight.astype(np.float32)
        return MasterState(master, create_state(self, index, master), self.master_last)
    warnings.warn(_F16_WARNING, stacklevel=3)
    return create_state(self, index, weight)


def _master_update(update, self, index, weight, grad, state):
    """MXNet's update_multi_precision (mp_sgd_update and the base wrapper alike): the update
    runs in float32 on the master copy with the gradient cast to float32, and the weight
    becomes the master copy rounded to float16."""
    if type(state) is not MasterState:
        return _half_update(update, self, index, weight, grad, state)
    master = state.master
    update(self, index, master, grad.astype(np.float32), state.inner)
    np.copyto(weight, master, casting="unsafe")


def _half_update(update, self, index, weight, grad, state):
    """A float16 weight without a master copy: as MXNet's update kernels, which compute each
    expression in float32 and store float16, the update runs on float32 copies of the weight
    and its float16 states, and the results are rounded into them. (numpy's float16 ops would
    round every intermediate: epsilon 1e-8 becomes 0 and Adam divides 0 by 0.)"""
    parts = () if state is None else state if isinstance(state, tuple) else (state,)
    wide = tuple(a.astype(np.float32) if type(a) is np.ndarray and a.dtype is _F16 else a
                 for a in parts)
    w32 = weight.astype(np.float32)
    update(self, index, w32, grad.astype(np.float32),
           None if state is None else wide if isinstance(state, tuple) else wide[0])
    np.copyto(weight, w32, casting="unsafe")
    for a, w in zip(parts, wide):
        if w is not a:
            np.copyto(a, w, casting="unsafe")


class Optimizer:
    """Base: learning rate (or lr_scheduler), weight decay, gradient rescaling and clipping.

    The built-in optimizers update numpy buffers (Trainer passes them, or fuses the update
    into one native call). An optimizer class of the user's that writes update() or
    create_state() itself is called as MXNet calls it: with the parameter's NDArray, its
    gradient NDArray and the states its create_state made (`takes_ndarrays`)."""
    create_optimizer = staticmethod(create)
    register = staticmethod(register)
    opt_registry = _REGISTRY
    takes_ndarrays = False
    aggregate_num = 0
    # MXNet's update() leaves the caller's gradient NDArray multiplied by rescale_grad
    # (AdaDelta's `grad *= self.rescale_grad`): update() called with NDArrays and the Updater
    # do that to the gradient they were given (rescale_in_place), after the update, which
    # itself reads the numpy buffers and writes no gradient (Trainer's paths, fused or not,
    # leave the gradients alone)
    rescales_grad_in_place = False
    # a float16 weight's multi_precision state: (master, state), as MXNet's base class makes
    # it; True for the optimizers whose own create_state_multi_precision makes (state, master)
    master_last = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.split(".")[0] == "tracegrad":
            for name in ("update", "create_state"):
                if name in cls.__dict__:
                    setattr(cls, name, _takes_numpy(cls.__dict__[name]))
        elif any(name in cls.__dict__ for name in _STEP_METHODS):
            cls.takes_ndarrays = True

    def __init__(self, learning_rate=None, wd=0.0, rescale_grad=1.0, clip_gradient=None,
                 lr_scheduler=None, param_dict=None, multi_precision=False, begin_num_update=0,
                 param_idx2name=None, sym=None, **kwargs):
        if kwargs:
            raise MXNetError(f"{type(self).__name__}: unknown arguments {sorted(kwargs)}")
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = None if learning_rate is None else float(learning_rate)
        self.wd = float(wd)
        self.rescale_grad, self.clip_gradient = float(rescale_grad), clip_gradient
        self.lr_scheduler = lr_scheduler
        # MXNet: an explicit learning_rate overrides the scheduler's base_lr; without one the
        # scheduler's own base_lr stands
        if lr_scheduler is not None and self.lr is not None and lr_scheduler.base_lr != self.lr:
            print(UserWarning("learning rate from ``lr_scheduler`` has been overwritten by "
                              "``learning_rate`` in optimizer."))
            lr_scheduler.base_lr = self.lr
        self.param_dict = param_dict or {}
        self.begin_num_update = self.num_update = begin_num_update
        self._index_update_count = {}
        self.multi_precision = multi_precision
        # (MXNet's flag for making states as mx.np arrays, read by scripts; here a state is
        # made of the weight's kind whatever it says)
        from .util import is_np_array
        self.allow_np_array = is_np_array()
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise MXNetError(f"{type(self).__name__}: param_idx2name should be a dict of param "
                             f"indexes to names, got {type(param_idx2name).__name__}")
        self.idx2name = dict(param_idx2name)
        # a Symbol's __lr_mult__ / __wd_mult__ attributes (set_lr_mult / set_wd_mult read them)
        if sym is not None and not (hasattr(sym, "attr_dict") and hasattr(sym, "list_arguments")):
            raise MXNetError(f"{type(self).__name__}: sym must be a Symbol (attr_dict(), "
                             f"list_arguments()), got {type(sym).__name__}")
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.set_lr_mult({})
        self.set_wd_mult({})

    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        if self.lr_scheduler is not None:
            raise UserWarning("learning rate is controlled by the lr_scheduler; change it there")
        self.lr = float(lr)

    def create_state(self, index, weight):
        return None

    def set_lr_scale(self, args_lrscale):
        """[DEPRECATED] Use set_lr_mult."""
        raise DeprecationWarning

    def _sym_mults(self, attr_key):
        if not self.sym_info:
            return {}
        attr, arg_names = self.sym_info
        return {name: float(attr[name][attr_key]) for name in arg_names
                if name in attr and attr_key in attr[name]}

    def set_lr_mult(self, args_lr_mult):
        """Learning-rate multipliers by parameter name (or index); they replace the previous
        ones. A Gluon Parameter's own lr_mult (param_dict) takes precedence."""
        self.lr_mult = self._sym_mults("__lr_mult__")
        self.lr_mult.update(args_lr_mult)

    def _no_decay(self, name):
        """Whether set_wd_mult gives parameter `name` (from param_idx2name) wd_mult 0."""
        return not (name.endswith("_weight") or name.endswith("_gamma"))

    def set_wd_mult(self, args_wd_mult):
        """Weight-decay multipliers by parameter name (or index). With param_idx2name, every
        name that does not end in _weight or _gamma starts at 0 (biases, betas...)."""
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if self._no_decay(n)}
        self.wd_mult.update(self._sym_mults("__wd_mult__"))
        self.wd_mult.update(args_wd_mult)

    def _mult(self, index, mults, attr):
        """MXNet's lookup: the Parameter's own multiplier, else by index, else by name."""
        p = self.param_dict.get(index)
        if p is not None:
            return getattr(p, attr)
        if index in mults:
            return mults[index]
        if index in self.idx2name:
            return mults.get(self.idx2name[index], 1.0)
        return 1.0

    def _update_count(self, index):
        if isinstance(index, (list, tuple)):      # MXNet's aggregated form
            for i in index:
                self._update_count(i)
            return None
        count = self._index_update_count.get(index, self.begin_num_update) + 1
        self._index_update_count[index] = count
        self.num_update = max(count, self.num_update)
        return count

    def _get_lrs(self, indices):
        return [self._get_lr(i) for i in indices]

    def _get_wds(self, indices):
        return [self._get_wd(i) for i in indices]

    def _get_lr(self, index):
        if not self.lr_mult and not self.idx2name:
            p = self.param_dict.get(index)
            return self.learning_rate * (p.lr_mult if p is not None else 1.0)
        return self.learning_rate * self._mult(index, self.lr_mult, "lr_mult")

    def updates_rows(self, index, weight_stype):
        """Whether a row_sparse gradient updates only its rows of the weight and the states
        (MXNet's sparse kernels), for a weight of storage `weight_stype`: sgd / adam with
        lazy_update=True. Optimizers without a sparse kernel update every row (MXNet's
        storage fallback makes the gradient dense)."""
        return getattr(self, "lazy_update", False)

    def _get_wd(self, index):
        if not self.wd_mult and not self.idx2name:
            p = self.param_dict.get(index)
            return self.wd * (p.wd_mult if p is not None else 1.0)
        return self.wd * self._mult(index, self.wd_mult, "wd_mult")

    def _scaled(self, grad):
        """clip(rescale_grad * grad): a new array (the gradient buffer is left alone)."""
        g = grad * grad.dtype.type(self.rescale_grad)
        if self.clip_gradient is not None and self.clip_gradient >= 0:
            np.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return g

    def _scaled_wd(self, grad, weight, wd):
        """clip(rescale_grad * grad + wd * weight): Adam's and RMSProp's order."""
        g = grad * grad.dtype.type(self.rescale_grad)
        if wd:
            g += wd * weight
        if self.clip_gradient is not None and self.clip_gradient >= 0:
            np.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return g

    def update(self, index, weight, grad, state):
        raise NotImplementedError(f"{type(self).__name__} must implement update(index, "
                                  f"weight, grad, state)")

    def update_multi_precision(self, index, weight, grad, state):
        """MXNet's: with multi_precision and a float16 weight, update() of the float32 master
        copy (state[0]) with the gradient in float32, then the weight is that copy in
        float16; else update() (which does the same for a built-in's MasterState)."""
        if isinstance(index, (list, tuple)):     # (MXNet's aggregated form: each alone)
            for i, w, g, st in zip(index, weight, grad, state):
                self.update_multi_precision(i, w, g, st)
            return None
        if self.multi_precision and np.dtype(weight.dtype) == _F16 and \
                type(state) is tuple:
            master = state[0]
            self.update(index, master, grad.astype(np.float32), state[1])
            weight[:] = master.astype(np.float16)
            return None
        return self.update(index, weight, grad, state)

    def create_state_multi_precision(self, index, weight):
        """MXNet's: (float32 master copy, its state) for a float16 weight with
        multi_precision; else create_state() (a float16 weight without: MXNet's warning)."""
        # (a built-in update() keeps a MasterState itself, made by the built-in create_state)
        builtin = hasattr(type(self).update, "__wrapped__")
        if np.dtype(weight.dtype) == _F16 and not builtin:
            if self.multi_precision:
                master = weight.astype(np.float32)
                return (master, self.create_state(index, master))
            warnings.warn(_F16_WARNING, stacklevel=2)
        return self.create_state(index, weight)

    # ------------------------------------------------------------ the fused (multi-tensor) form
    def fused_structure(self):
        """What shapes the IR of fused_rule besides the parameters' types (None: this
        optimizer has no fused form, so Trainer calls update per parameter)."""
        return None

    def fused_state_shapes(self, weight_shape, n_states):
        """The shapes of a parameter's state arrays in the fused call (the weight's)."""
        return (weight_shape,) * n_states

    def fused_scalars(self, index):
        """Count this update (as `update` does) and return the per-step numbers its
        fused_rule reads, as Python floats."""
        raise NotImplementedError

    def fused_rule(self, b, weight, grad, states, s):
        """The update as IR: (new weight, new states) from IR values; `s` holds the
        fused_scalars as scalar values of the weight's dtype."""
        raise NotImplementedError

    #: fused_scalars depends on the index only through its update count, _get_lr and _get_wd
    #: (declared by a class that defines fused_scalars: fused_scalar_vector may compute once)
    fused_scalars_per_count = False

    def fused_scalar_vector(self, indices):
        """fused_scalars of every index in order, as the float64 vector the fused call reads
        (counting each update as update() does). When every index gets the same numbers (the
        optimizer declares fused_scalars_per_count; the indices have the same update count,
        lr_mult and wd_mult), they are computed once: an update of many parameters (Adam's)
        costs one fused_scalars call, not one per parameter."""
        if len(indices) > 1 and _per_count(type(self)) and not self.lr_mult and \
                not self.wd_mult and not self.idx2name:
            counts, params = self._index_update_count, self.param_dict
            first = indices[0]
            count, p = counts.get(first), params.get(first)
            if count is not None and p is not None:
                lr_mult, wd_mult = p.lr_mult, p.wd_mult
                for i in indices:
                    p = params.get(i)
                    if counts.get(i) != count or p is None or p.lr_mult != lr_mult or \
                            p.wd_mult != wd_mult:
                        break
                else:
                    numbers = self.fused_scalars(first)     # (counts the first index)
                    count = counts[first]
                    for i in indices:
                        counts[i] = count
                    out = np.empty((len(indices), len(numbers)), dtype=np.float64)
                    out[:] = numbers
                    out.shape = (out.size,)
                    return out
        out = []
        for i in indices:
            out.extend(self.fused_scalars(i))
        return np.array(out, dtype=np.float64)

    def fused_scalar_code(self, indices):
        """A function of the optimizer returning fused_scalar_vector(indices), made for these
        indices (Trainer.step's fused call reads it every step); None: call
        fused_scalar_vector."""
        return None

    def uncount(self, indices, num_update):
        """Undo the update counts of fused_scalar_vector(indices) (its call did not run);
        `num_update` is the value before it."""
        counts = self._index_update_count
        for i in indices:
            counts[i] -= 1
            if counts[i] == self.begin_num_update:
                del counts[i]
        self.num_update = num_update

    def _clipping(self):
        return self.clip_gradient is not None and self.clip_gradient >= 0

    def _fused_clip(self, b, g, bound):
        """np.clip(g, -bound, bound) in IR."""
        return b.minimum(b.maximum(g, b.neg(bound)), bound)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.learning_rate}, wd={self.wd})"


Optimizer.create_state = _takes_numpy(Optimizer.create_state)   # (stateless built-ins too)


_PER_COUNT: dict = {}


def _per_count(cls):
    """Whether cls's fused_scalars declares fused_scalars_per_count, with Optimizer's own
    update counting, learning rate and weight decay (a subclass overriding any does not)."""
    known = _PER_COUNT.get(cls)
    if known is None:
        owner = next(c for c in cls.__mro__ if "fused_scalars" in c.__dict__)
        known = _PER_COUNT[cls] = bool(
            owner.__dict__.get("fused_scalars_per_count")
            and cls._update_count is Optimizer._update_count
            and cls._get_lr is Optimizer._get_lr and cls._get_wd is Optimizer._get_wd
            and cls.learning_rate is Optimizer.learning_rate)
    return known


@register
class SGD(Optimizer):
    """mom = momentum*mom - lr*(g + wd*w); w += mom  (momentum 0: w -= lr*(g + wd*w))."""
    _fused_last = None      # (numbers, vector) of the last fused_scalar_vector
    master_last = True      # (MXNet's SGD and NAG: (momentum, master copy))

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.lazy_update = lazy_update   # (row_sparse gradients: only their rows; Trainer)

    def create_state(self, index, weight):
        return np.zeros_like(weight) if self.momentum else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        if not self.momentum and self.clip_gradient is None:
            # the hot path: one temporary, weight written in place
            step = grad * weight.dtype.type(-lr * self.rescale_grad)
            if wd:
                step -= (lr * wd) * weight
            weight += step
            return
        g = self._scaled(grad)
        if wd:
            g += wd * weight
        if state is None:
            g *= -lr
            weight += g
        else:
            state *= self.momentum
            g *= lr
            state -= g
            weight += state

    def fused_structure(self):
        clip = self.clip_gradient       # (_clipping, inline: Trainer.step asks every step)
        return (bool(self.momentum), clip is not None and clip >= 0)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.momentum,
                -lr * self.rescale_grad, lr * wd)

    def fused_scalar_vector(self, indices):
        """The per-step numbers of every index, as fused_scalars computes them one by one,
        through the straight-line code made for these indices (fused_scalar_code)."""
        code = self._scalar_code(indices)
        return code(self) if code is not None else super().fused_scalar_vector(indices)

    def fused_scalar_code(self, indices):
        # (a subclass wrapping fused_scalar_vector must be called through it)
        if type(self).fused_scalar_vector is not SGD.fused_scalar_vector:
            return None
        return self._scalar_code(indices)

    def _scalar_code(self, indices):
        cls = type(self)
        plain = _PLAIN_SGD.get(cls)
        if plain is None:   # no override of what the code computes by hand
            plain = _PLAIN_SGD[cls] = (cls.fused_scalars is SGD.fused_scalars
                                       and cls._get_lr is Optimizer._get_lr
                                       and cls._get_wd is Optimizer._get_wd
                                       and cls._update_count is Optimizer._update_count
                                       and cls.learning_rate is Optimizer.learning_rate)
        if not plain:
            return None
        indices = tuple(indices)
        code = _SGD_CODES.get(indices)
        if code is None:
            if len(_SGD_CODES) >= 64:
                _SGD_CODES.clear()
            code = _SGD_CODES[indices] = _sgd_scalar_code(indices)
        return code

    def _fused_vector(self, key):
        """The vector of fused_scalars' numbers for `key` (_sgd_scalar_code's), kept as the
        last one: a fixed learning rate gives the same vector every step (the native call only
        reads it)."""
        lr0, wd0, rescale, clip, momentum, mults = key[1:]
        out = []
        for lr_mult, wd_mult in zip(mults[::2], mults[1::2]):
            lr, wd = lr0 * lr_mult, wd0 * wd_mult
            out += (lr, wd, rescale, clip, momentum, -lr * rescale, lr * wd)
        vector = np.array(out, dtype=np.float64)
        vector.flags.writeable = False
        self._fused_last = (key, vector)
        return vector

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, momentum, neg_lr_rescale, lr_wd = s
        if not self.momentum and not self._clipping():
            step = b.sub(b.mul(grad, neg_lr_rescale), b.mul(lr_wd, weight))
            return b.add(weight, step), []
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        g = b.add(g, b.mul(wd, weight))
        if not self.momentum or not states:    # (momentum set after a stateless start)
            return b.add(weight, b.mul(g, b.neg(lr))), []
        mom = b.sub(b.mul(states[0], momentum), b.mul(g, lr))
        return b.add(weight, mom), [mom]


@register
class NAG(SGD):
    """Nesterov momentum as MXNet 1.9.1's nag_mom_update kernel computes it (the state holds
    lr-scaled steps, so a learning-rate change weighs past gradients as MXNet does): with
    g = clip(rescale_grad * grad) and m = momentum * mom,
    w' = w - m + (momentum + 1) * (m - lr * (g + wd * w)); mom = m - lr * (g + wd * w'),
    the weight decay of the new momentum reading the weight just written (the kernel updates
    the weight in place first)."""

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = self._scaled(grad)
        if state is None:
            step = g + wd * weight if wd else g
            step *= lr
            weight -= step
            return
        state *= self.momentum
        step = g + wd * weight if wd else g.copy()
        step *= -lr
        step += state
        step *= self.momentum + 1
        weight -= state
        weight += step
        step = g + wd * weight if wd else g
        step *= lr
        state -= step

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, momentum, _, _ = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        if not self.momentum or not states:
            return b.sub(weight, b.mul(lr, b.add(g, b.mul(wd, weight)))), []
        m = b.mul(states[0], momentum)
        step = b.sub(m, b.mul(lr, b.add(g, b.mul(wd, weight))))
        new = b.add(b.sub(weight, m), b.mul(b.add(momentum, 1.0), step))
        mom = b.sub(m, b.mul(lr, b.add(g, b.mul(wd, new))))
        return new, [mom]


@register
class Adam(Optimizer):
    """m, v moving averages of g and g^2; w -= lr_t * m / (sqrt(v) + eps), bias-corrected lr_t."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lazy_update = lazy_update   # (row_sparse gradients: only their rows; Trainer)

    def create_state(self, index, weight):
        return np.zeros_like(weight), np.zeros_like(weight)

    def update(self, index, weight, grad, state):
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        lr *= np.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        g = self._scaled_wd(grad, weight, wd)
        mean, var = state
        mean *= self.beta1
        mean += (1.0 - self.beta1) * g
        var *= self.beta2
        var += (1.0 - self.beta2) * (g * g)
        weight -= lr * mean / (np.sqrt(var) + self.epsilon)

    def fused_structure(self):
        return (self._clipping(),)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        lr *= np.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        return (float(lr), wd, self.rescale_grad, self.clip_gradient or 0.0, self.beta1,
                1.0 - self.beta1, self.beta2, 1.0 - self.beta2, self.epsilon)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, beta1, one_m_b1, beta2, one_m_b2, eps = s
        g = b.add(b.mul(grad, rescale), b.mul(wd, weight))
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        mean = b.add(b.mul(states[0], beta1), b.mul(one_m_b1, g))
        var = b.add(b.mul(states[1], beta2), b.mul(one_m_b2, b.mul(g, g)))
        step = b.div(b.mul(lr, mean), b.add(b.sqrt(var), eps))
        return b.sub(weight, step), [mean, var]


@register
class RMSProp(Optimizer):
    """n = g1*n + (1-g1)*g^2; w -= lr*g/sqrt(n + eps). centered=True is Graves' variant."""

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered, self.clip_weights = centered, clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return tuple(np.zeros_like(weight) for _ in range(3))
        return (np.zeros_like(weight),)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = self._scaled_wd(grad, weight, wd)
        n = state[0]
        n *= self.gamma1
        n += (1.0 - self.gamma1) * (g * g)
        if not self.centered:
            weight -= lr * g / np.sqrt(n + self.epsilon)
        else:
            mean, delta = state[1], state[2]
            mean *= self.gamma1
            mean += (1.0 - self.gamma1) * g
            delta *= self.gamma2
            delta -= lr * g / np.sqrt(n - mean * mean + self.epsilon)
            weight += delta
        if self.clip_weights:
            np.clip(weight, -self.clip_weights, self.clip_weights, out=weight)

    def fused_structure(self):
        return (self._clipping(), bool(self.centered), bool(self.clip_weights))

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.gamma1,
                1.0 - self.gamma1, self.gamma2, self.epsilon, self.clip_weights or 0.0)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, gamma1, one_m_g1, gamma2, eps, clip_weights = s
        g = b.add(b.mul(grad, rescale), b.mul(wd, weight))
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        n = b.add(b.mul(states[0], gamma1), b.mul(one_m_g1, b.mul(g, g)))
        if not self.centered:
            weight = b.sub(weight, b.div(b.mul(lr, g), b.sqrt(b.add(n, eps))))
            new_states = [n]
        else:
            mean = b.add(b.mul(states[1], gamma1), b.mul(one_m_g1, g))
            denom = b.sqrt(b.add(b.sub(n, b.mul(mean, mean)), eps))
            delta = b.sub(b.mul(states[2], gamma2), b.div(b.mul(lr, g), denom))
            weight = b.add(weight, delta)
            new_states = [n, mean, delta]
        if self.clip_weights:
            weight = self._fused_clip(b, weight, clip_weights)
        return weight, new_states


@register
class AdaGrad(Optimizer):
    """h += g^2; w -= lr*(g / sqrt(h + eps) + wd*w)."""

    def __init__(self, learning_rate=0.01, eps=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return np.zeros_like(weight)

    def updates_rows(self, index, weight_stype):
        """Always, as MXNet's sparse adagrad_update, which refuses a weight decay."""
        if self._get_wd(index):
            raise MXNetError(f"AdaGrad: a row_sparse gradient with wd={self._get_wd(index)} "
                             f"(parameter {self.idx2name.get(index, index)!r}): MXNet's "
                             f"sparse adagrad_update does not support wd")
        return True

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = self._scaled(grad)
        state += g * g
        step = g / np.sqrt(state + self.float_stable_eps)
        if wd:
            step += wd * weight
        step *= lr
        weight -= step

    def fused_structure(self):
        return (self._clipping(),)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.float_stable_eps)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, eps = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        history = b.add(states[0], b.mul(g, g))
        step = b.add(b.div(g, b.sqrt(b.add(history, eps))), b.mul(wd, weight))
        return b.sub(weight, b.mul(step, lr)), [history]


# AdaDelta, Adamax, Nadam, Signum, Ftrl, LAMB (registered on import)
from .optimizer_more import AdaDelta, Adamax, Nadam, Signum, Ftrl, LAMB  # noqa: E402,F401
# LARS, LBSGD; DCASGD, FTML, SGLD, Test, ccSGD; the kvstore-style Updater
from .optimizer_large_batch import LARS, LBSGD  # noqa: E402,F401
from .optimizer_rare import DCASGD, FTML, SGLD, Test, ccSGD  # noqa: E402,F401
from .optimizer_updater import Updater, get_updater  # noqa: E402,F401
from . import optimizer_contrib as contrib  # noqa: E402,F401  (GroupAdaGrad)


_SGD_CODES: dict = {}   # indices -> _sgd_scalar_code(indices)


def _sgd_scalar_code(indices):
    """`scalars(sgd)`: SGD.fused_scalars of each index in order as one vector, straight-line
    for these indices (Trainer.step calls it every step): each update counted as
    _update_count does, lr and wd as _get_lr / _get_wd compute them without a schedule or
    name-keyed multipliers (else the general loop), and the last vector again when every
    number is the last step's."""
    lines = ["    if self.lr_scheduler is not None or self.lr_mult or self.wd_mult or "
             "self.idx2name: return GENERAL(self, INDICES)",
             "    counts, begin, num = self._index_update_count, self.begin_num_update, "
             "self.num_update"]
    names = {f"I{k}": i for k, i in enumerate(indices)}   # (an index by name: any key)
    for name in names:
        lines.append(f"    c = counts.get({name}, begin) + 1")
        lines.append(f"    counts[{name}] = c")
        lines.append("    if c > num: num = c")
    lines.append("    self.num_update = num")
    lines.append("    params = self.param_dict")
    mults = []
    for k, name in enumerate(names):
        lines.append(f"    p = params.get({name})")
        lines.append(f"    if p is None: l{k} = w{k} = 1.0")
        lines.append(f"    else: l{k}, w{k} = p.lr_mult, p.wd_mult")
        mults += (f"l{k}", f"w{k}")
    lines.append("    key = (INDICES, self.lr, self.wd, self.rescale_grad, "
                 "self.clip_gradient or 0.0, self.momentum, (" + "".join(m + ", " for m in mults)
                 + "))")
    lines.append("    last = self._fused_last")
    lines.append("    if last is not None and last[0] == key: return last[1]")
    lines.append("    return self._fused_vector(key)")
    return generated("scalars", "def scalars(self):\n", lines,
                     {"INDICES": indices, "GENERAL": Optimizer.fused_scalar_vector, **names},
                     label="sgd_scalars")
