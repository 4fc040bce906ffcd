"""Gluon Parameter, Constant and ParameterDict (MXNet 1.x semantics).

Initialized on several contexts, a Parameter keeps one copy per context (gluon/contexts.py):
`_data` is the first context's, `_copies` the others' by context.

A Parameter's data is one NDArray for its whole life: initialization, set_data and load write
into its numpy buffer in place; the Trainer's fused update gives it a new buffer each step and
points its tape leaf at it too (compiled calls read the buffer afresh on every call). A
non-'null' grad_req makes that NDArray an autograd variable whose gradient buffer is kept
across grad_req changes; 'null' detaches it (_var = _value = None).
"""
import re
import warnings
from collections import OrderedDict

import numpy as np

from ..tracing import capture as _capture
from .. import fused_update as _fused_update, initializer
from ..array import NDArray, on_context, wrap
from ..base import DeferredInitializationError, MXNetError
from ..context import Context, cpu, current_context
from . import contexts as _contexts
from ..nd import load_arrays, save_arrays
from ..runtime import tape
from ..numpy_api.ndarray import as_np as _as_np
from ..util import _NP

_GRAD_REQS = ("write", "add", "null")


class _GradVar(tape.Variable):
    """A Parameter's gradient storage (`buf` is its buffer; Trainer reads `fresh`)."""
    __slots__ = ()

    @property
    def buf(self):
        return self.grad


def _known(shape):
    return shape is not None and all(d > 0 for d in shape)


class StorageTypeError(ValueError, AssertionError):
    """An unknown stype / grad_stype: MXNet asserts it, so its programs catch AssertionError
    (a ValueError too, as tracegrad raised before)."""


def _known_dims(name, shape):
    """A parameter's shape as stored: each dimension an int, 0 where it is not known yet (MXNet
    writes unknown as 0, or -1 under numpy shape semantics). Anything below -1 (a layer made
    with units=-3) is refused here, by the parameter's name, rather than read as unknown."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < -1:
            raise MXNetError(f"Parameter '{name}': invalid shape {tuple(dims)}: each dimension "
                             f"must be a non-negative integer (0 or -1: not known yet)")
        out.append(max(int(d), 0))
    return tuple(out)


class Parameter:
    """A weight of a Block. Shape dims of 0 are unknown until the first forward (deferred init).

        w = gluon.Parameter('w', shape=(3, 0), allow_deferred_init=True)
        w.initialize(mx.init.Xavier())   # deferred: w.data() raises DeferredInitializationError
    """
    _np_made = False    # initialized under set_np: MXNet made its arrays mx.np ones

    def __init__(self, name="weight", grad_req="write", shape=None, dtype=np.float32,
                 lr_mult=1.0, wd_mult=1.0, init=None, allow_deferred_init=False,
                 differentiable=True, stype="default", grad_stype="default"):
        self.name = name
        if stype not in ("default", "row_sparse", "csr") or \
                grad_stype not in ("default", "row_sparse", "csr"):
            raise StorageTypeError(f"Parameter '{name}': stype and grad_stype must be "
                                   f"'default', 'row_sparse' or 'csr', got {stype!r} and "
                                   f"{grad_stype!r}")
        self._grad_stype, self._stype = grad_stype, stype
        self._shape = None if shape is None else _known_dims(name, shape)
        self.dtype = np.dtype(dtype).type
        self.lr_mult, self.wd_mult = lr_mult, wd_mult
        self.init = init
        self._allow_deferred_init = allow_deferred_init
        self._differentiable = differentiable
        self._data = None
        self._ctx_list = None    # the contexts of initialize(ctx=...); None: the default one
        self._copies = {}        # context -> its copy, for every context after the first
        self._deferred_init = ()
        self._trainer = None     # the Trainer made with it (a sparse parameter's one)
        self._grad_req = None
        self.grad_req = grad_req if differentiable else "null"

    def __repr__(self):
        return (f"Parameter {self.name} (shape={self.shape}, dtype={np.dtype(self.dtype).name}"
                f"{'' if self._grad_req == 'write' else ', grad_req=' + self._grad_req})")

    # ------------------------------------------------------------------ shape / grad_req
    @property
    def shape(self):
        """The shape; a dim not known yet (deferred init) is 0, or -1 under numpy shape
        semantics (set_np), as MXNet 1.9.1 reports it."""
        shape = self._shape
        if shape is not None and _NP["shape"] and 0 in shape:
            return tuple([-1 if d == 0 else d for d in shape])
        return shape

    @shape.setter
    def shape(self, new):
        new = _known_dims(self.name, new)
        old = self._shape
        if old is None or old == new:
            self._shape = new
            return
        if len(old) != len(new) or any(o > 0 and o != n for o, n in zip(old, new)):
            raise MXNetError(f"Parameter '{self.name}': expected shape {old} is incompatible "
                             f"with the given shape {new}")
        self._shape = tuple(n if o <= 0 else o for o, n in zip(old, new))

    @property
    def grad_req(self):
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req):
        if req not in _GRAD_REQS:
            raise ValueError(f"Parameter '{self.name}': grad_req must be one of {_GRAD_REQS}, "
                             f"got {req!r}")
        if not self._differentiable:
            req = "null"
        self._grad_req = req
        if self._data is not None:
            self._attach_grad()

    def _attach_grad(self):
        """Make the data NDArray (each copy's) a variable per grad_req (keeping the gradient
        buffer)."""
        for data in self._every_copy():
            self._attach_grad_to(data)

    def _every_copy(self):
        """The data NDArray of every context, the first context's first."""
        return [self._data, *self._copies.values()]

    def _attach_grad_to(self, data):
        if self._grad_req == "null":
            data._var, data._value = None, None
            return
        old = data._var
        if isinstance(old, _GradVar) and old.buf.shape == data._data.shape \
                and old.buf.dtype == data._data.dtype:
            buf = old.buf
        else:
            buf = np.zeros_like(data._data)
        data._var = _GradVar(buf, self._grad_req,
                             None if self._grad_stype == "default" else self._grad_stype)
        data._value = tape.leaf(data._data, data._var, data)

    # ------------------------------------------------------------------ initialization
    def initialize(self, init=None, ctx=None, default_init=initializer.Uniform(),
                   force_reinit=False):
        """Fill the data with `init`, else the parameter's own init, else `default_init`.

        With unknown shape dims the fill waits for the first forward (deferred)."""
        if self._data is not None and not force_reinit:
            warnings.warn(f"Parameter '{self.name}' is already initialized, ignoring. Set "
                          f"force_reinit=True to re-initialize.", stacklevel=2)
            return
        if init is None:
            init = default_init if self.init is None else self.init
            if hasattr(default_init, "for_parameter"):   # mx.init.Load: by name first
                init = default_init.for_parameter(self.init)
        self._ctx_list = _context_list(ctx, self.name)
        self._deferred_init = (init,)
        if not _known(self._shape):
            if self._allow_deferred_init and self._data is None:
                return
            self._deferred_init = ()
            raise MXNetError(f"cannot initialize Parameter '{self.name}' because it has an "
                             f"invalid shape {self._shape}; give its full shape (or let its "
                             f"Block infer it on the first forward)")
        self._finish_deferred_init()

    def _finish_deferred_init(self):
        """Allocate (or reuse) the buffer and fill it; called once the shape is known."""
        (init,) = self._deferred_init
        if not _known(self._shape):
            raise DeferredInitializationError(
                f"Parameter '{self.name}' still has unknown shape {self._shape} at its first "
                f"forward; its Block could not infer it from the input")
        # all or nothing: an allocation failure (MemoryError) leaves the parameter as it was,
        # still waiting for its initialization
        old = self._data
        try:
            if self._data is None or self._data.shape != self._shape:
                try:
                    self._data = wrap(np.zeros(self._shape, dtype=self.dtype))
                except ValueError:  # numpy's 'array is too big': say which parameter
                    raise MemoryError(f"Parameter '{self.name}' of shape {self._shape} "
                                      f"({np.dtype(self.dtype).name}) is larger than any "
                                      f"allocation can hold") from None
            # (under set_np MXNet hands the initializer an mx.np array: a view of the buffer)
            initializer.create(init)._init_weight(
                initializer.InitDesc(self.name, {"__init__": init}),
                _as_np(self._data) if _NP["array"] else self._data)
            self._make_copies()
            self._attach_grad()
            self._np_made = bool(_NP["array"])
        except BaseException:
            self._data = old
            raise
        self._deferred_init = ()

    def _make_copies(self):
        """One copy of the data per context after the first (fresh gradients), placed there."""
        ctxs = self._ctx_list or ()
        if ctxs and ctxs[0] != cpu():
            on_context(self._data, ctxs[0])
        self._copies = {c: on_context(wrap(self._data._data.copy()), c) for c in ctxs[1:]}

    def reset_ctx(self, ctx):
        """Re-place the parameter on the context(s) `ctx`: copies of its current values."""
        self._ctx_list = _context_list(ctx, self.name)
        if self._data is not None:
            self._make_copies()
            self._attach_grad()

    # ------------------------------------------------------------------ data / grad
    def data(self, ctx=None) -> NDArray:
        """The parameter's NDArray (the autograd variable when grad_req != 'null'); on several
        contexts, the copy for `ctx`, by default the context of the Block call reading it.
        Under set_np, an mx.np.ndarray view of it (same buffer, graph value and variable).
        A sparse parameter (stype != 'default') is read by row_sparse_data, as in MXNet."""
        if self._stype != "default":
            raise RuntimeError(f"Cannot return a copy of Parameter '{self.name}' on ctx {ctx} "
                               f"via data() because its storage type is {self._stype}. "
                               f"Please use row_sparse_data() instead.")
        if _NP["array"] or self._np_made:
            return self._np_view(self._nd_data(ctx))
        return self._nd_data(ctx)

    def _np_view(self, data):
        """The mx.np view of `data` (this parameter's NDArray, or its copy on a context) that
        data() gives under set_np: one object per NDArray while it is alive, as MXNet's data()
        gives the parameter's own array, brought up to date at each call and following the
        NDArray's buffer through the optimizer's updates (fused_update.follow)."""
        view = _fused_update.follower(data)
        if view is None:
            view = _as_np(data)
            _fused_update.follow(data, view)
        else:
            view._data, view._value, view._var, view._leaf = \
                data._data, data._value, data._var, data._leaf
        return view

    def row_sparse_data(self, row_id):
        """The parameter as a RowSparseNDArray holding the rows `row_id` (MXNet's way to read a
        row_sparse weight): MXNet pulls just those rows from the Trainer's kvstore, so the
        others read as zero and `indices` lists row_id's rows. The kept rows are the
        parameter's values through a recorded mask, so autograd reaches the parameter as
        through data(). MXNet's checks: a row_sparse parameter, an NDArray of row ids, a
        Trainer made with it."""
        self._check_row_sparse_read(row_id, "row_sparse_data()", "data()")
        # on several contexts: the copy on row_id's context, as MXNet's
        ctx = row_id.context if self._copies else None
        return _pulled_rows(self._nd_data(ctx), row_id)

    def list_row_sparse_data(self, row_id):
        """One RowSparseNDArray per context, in list_ctx() order (MXNet's), each holding the
        rows `row_id` as row_sparse_data does."""
        self._check_row_sparse_read(row_id, "list_row_sparse_data()", "list_data()")
        return [_pulled_rows(d, row_id) for d in self._every_copy()]

    def _check_row_sparse_read(self, row_id, how, instead):
        if self._stype != "row_sparse":
            raise RuntimeError(f"Cannot return a copy of Parameter {self.name} via {how} "
                               f"because its storage type is {self._stype}. Please use "
                               f"{instead} instead.")
        if not isinstance(row_id, NDArray):
            raise TypeError(f"row_id must have NDArray type, but {type(row_id)} is given")
        if self._trainer is None:
            raise RuntimeError(f"Cannot get row_sparse data for Parameter '{self.name}' when "
                               f"no Trainer is created with it.")

    def _set_trainer(self, trainer):
        """MXNet's rule: a sparse parameter belongs to one Trainer (its kvstore holds it)."""
        if self._stype != "default" and self._trainer is not None and trainer is not None \
                and self._trainer is not trainer:
            raise RuntimeError(f"Failed to set the trainer for Parameter '{self.name}' because "
                               f"it was already set. More than one trainers for a "
                               f"{self._stype} Parameter is not supported.")
        self._trainer = trainer

    def _nd_data(self, ctx=None) -> NDArray:
        """data() itself, never an mx.np view: what a trace binds and compiled calls read."""
        data = self._data
        if data is None:
            self._raise_uninitialized()
        if ctx is not None or _contexts.ACTIVE[0]:
            return self._on(ctx if ctx is not None else _contexts.CALL.ctx, data)
        return data

    def _on(self, ctx, data):
        """The copy on context ctx (None, or the first context: `data`); MXNet's error for a
        context the parameter is not on."""
        if ctx is None or ctx == (self._ctx_list[0] if self._ctx_list else current_context()):
            return data
        copy = self._copies.get(ctx)
        if copy is None:
            raise MXNetError(f"Parameter '{self.name}' was not initialized on context {ctx}. "
                             f"It was only initialized on {self.list_ctx()}.")
        return copy

    def _raise_uninitialized(self):
        if self._deferred_init:
            raise DeferredInitializationError(
                f"Parameter '{self.name}' has not been initialized yet because initialization "
                f"was deferred (shape {self._shape}); it happens during the first forward pass. "
                f"Pass one batch of data through the network before accessing it.")
        raise MXNetError(f"Parameter '{self.name}' has not been initialized. Call "
                         f"initialize() on the Block (or on collect_params()) first.")

    def list_data(self):
        """One array per context, in list_ctx() order."""
        if self._stype != "default":
            raise RuntimeError(f"Cannot return copies of Parameter '{self.name}' on all "
                               f"contexts via list_data() because its storage type is "
                               f"{self._stype}. Please use row_sparse_data() instead.")
        return [self.data()] + list(self._copies.values())

    def grad(self, ctx=None) -> NDArray:
        """The gradient buffer as an NDArray (raises RuntimeError for grad_req='null')."""
        if self._data is None:
            self._raise_uninitialized()
        if self._grad_req == "null":
            raise RuntimeError(f"Cannot get gradient array for Parameter '{self.name}' "
                               f"because grad_req='null'")
        data = self._data if ctx is None else self._on(ctx, self._data)
        # (data.grad: shown in the parameter's grad_stype, its variable carries it)
        return _as_np(wrap(data._var.buf)) if _NP["array"] or self._np_made else data.grad

    @property
    def _grad(self):
        """MXNet's private per-context gradient list, which programs read: None before
        initialization and while grad_req is 'null'."""
        if self._data is None or self._grad_req == "null":
            return None
        return self.list_grad()

    def list_grad(self):
        """One gradient per context, in list_ctx() order."""
        first = self.grad()
        return [first] + [wrap(copy._var.buf) for copy in self._copies.values()]

    def list_ctx(self):
        """[cpu()]; raises RuntimeError, as MXNet does, before any initialize() (a deferred
        initialization counts as initialized: the Estimator relies on this)."""
        if self._data is None and not self._deferred_init:
            raise RuntimeError(f"Parameter '{self.name}' has not been initialized")
        return list(self._ctx_list) if self._ctx_list else [current_context()]

    def zero_grad(self):
        """Set the gradient buffers to 0 in place (needed between steps with grad_req='add')."""
        if self._data is not None and self._data._var is not None:
            for data in self._every_copy():
                data._var.buf[...] = 0

    def _reduce(self):
        """The values to save: the mean over the copies (MXNet's Parameter._reduce)."""
        data = self._nd_data()._data      # (raises for a parameter without data)
        if not self._copies:
            return data
        copies = self._every_copy()
        return (sum(c._data.astype(np.float64) for c in copies) / len(copies)).astype(data.dtype)

    def set_data(self, data):
        """Write `data` into the parameter in place (or set shape and data if not yet alloc'd)."""
        src = data._data if isinstance(data, NDArray) else np.asarray(data)
        _capture.before_write()   # a deferred step (capture.py) reads the old data first
        if self._data is None:
            self.shape = src.shape
            self._deferred_init = ()
            self._data = wrap(np.array(src, dtype=self.dtype))
            self._make_copies()
            self._attach_grad()
            return
        if src.shape != self._data.shape:
            raise MXNetError(f"Parameter '{self.name}': cannot set data of shape {src.shape} "
                             f"into a parameter of shape {self._data.shape}")
        trainer = self._trainer
        if trainer is not None and trainer._update_on_kvstore and \
                self not in trainer._params_to_init:
            trainer._reset_kvstore()    # (MXNet drops the store's now stale copy)
        np.copyto(self._data._data, src, casting="unsafe")
        for copy in self._copies.values():
            np.copyto(copy._data, src, casting="unsafe")

    # the dtype a cast to float16 gives this parameter instead (BatchNorm's statistics and
    # affine terms stay float32 in a float16 network, as MXNet's BatchNorm.cast keeps them)
    half_dtype = np.float16

    def cast(self, dtype):
        """Change the dtype of data and gradient (new buffers, the same NDArray object)."""
        if np.dtype(dtype) == np.float16:
            dtype = self.half_dtype
        self.dtype = np.dtype(dtype).type
        if self._data is not None:
            for data in self._every_copy():
                data._data = data._data.astype(self.dtype)
            self._attach_grad()

    def var(self):
        """This parameter as an mx.sym variable of its name, shape (0 where unknown), dtype,
        lr_mult, wd_mult and init (a HybridBlock called on Symbols passes these)."""
        from .. import symbol
        init = self.init if isinstance(self.init, str) or hasattr(self.init, "dumps") else None
        # one variable per parameter, as MXNet keeps it: a block calling a layer at several
        # points (an unrolled cell) builds a graph with one input per parameter
        key = (self.name, self.shape, self.dtype, self.lr_mult, self.wd_mult, init,
               self._stype)
        cached = self.__dict__.get("_var_cache")
        if cached is not None and cached[0] == key and cached[0][5] is init:
            return _as_np_if_set(cached[1])
        # (a sparse weight's storage type too, as MXNet's var(stype=...))
        stype = self._stype if self._stype != "default" else None
        var = symbol.var(self.name, shape=self.shape, dtype=self.dtype, lr_mult=self.lr_mult,
                         wd_mult=self.wd_mult, init=init, stype=stype)
        self.__dict__["_var_cache"] = (key, var)
        return _as_np_if_set(var)


def _as_np_if_set(var):
    """A parameter's variable under set_np is a numpy symbol, as MXNet's Parameter.var()."""
    from ..util import is_np_array
    return var.as_np_ndarray() if is_np_array() else var


class Constant(Parameter):
    """A parameter that never gets a gradient: Trainer never changes it."""

    def __init__(self, name, value):
        if isinstance(value, NDArray):
            value = value._data
        elif not isinstance(value, np.ndarray):
            value = np.asarray(value, dtype=np.float32)  # lists are float32, like nd.array
        self.value = value
        super().__init__(name, grad_req="null", shape=value.shape, dtype=value.dtype,
                         init=initializer.Constant(value))

    @Parameter.grad_req.setter
    def grad_req(self, req):
        if req != "null":
            warnings.warn(f"Constant '{self.name}' only supports grad_req='null'; {req!r} is "
                          f"ignored", stacklevel=2)
        Parameter.grad_req.fset(self, "null")


class ParameterDict:
    """Parameters by full name (prefix + name), in creation order; may share a parent's."""

    def __init__(self, prefix="", shared=None):
        self._prefix, self._shared = prefix, shared
        self._params = OrderedDict()

    prefix = property(lambda self: self._prefix)

    def __repr__(self):
        body = "\n".join(f"  {p!r}" for p in self._params.values())
        return f"{self._prefix} (\n{body}\n)" if body else f"{self._prefix} ()"

    def __getitem__(self, key):
        return self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)

    def __contains__(self, key):
        return key in self._params

    def keys(self):
        return self._params.keys()

    def values(self):
        return self._params.values()

    def items(self):
        return self._params.items()

    def _lookup(self, name):
        if name in self._params:
            return self._params[name]
        if self._shared is not None and name in self._shared._params:
            self._params[name] = self._shared._params[name]
            return self._params[name]
        return None

    def get(self, name, **kwargs) -> Parameter:
        """The parameter prefix+name, created with kwargs if new (shapes merge if it exists)."""
        full = self._prefix + name
        param = self._lookup(full)
        if param is None:
            param = Parameter(full, **kwargs)
            self._params[full] = param
            return param
        for k, v in kwargs.items():
            if k == "shape" and v is not None:
                old = param.shape
                if old is not None and len(old) == len(v):  # MXNet: unknown (0) dims of either
                    v = tuple(o if int(n) <= 0 else n for o, n in zip(old, v))  # side are filled
                param.shape = v
            elif k == "init" and param.init is None:
                param.init = v
            elif v is not None and hasattr(param, k) and k != "init" \
                    and getattr(param, k) != v and not (k == "dtype" and
                                                        np.dtype(v) == np.dtype(param.dtype)):
                raise MXNetError(f"Parameter '{full}' exists with {k}={getattr(param, k)!r}, "
                                 f"cannot get it with {k}={v!r}")
        return param

    def get_constant(self, name, value=None) -> Constant:
        full = self._prefix + name
        param = self._lookup(full)
        if param is None:
            if value is None:
                raise MXNetError(f"no constant named '{full}'; give its value to create it")
            param = Constant(full, value)
            self._params[full] = param
        elif not isinstance(param, Constant):
            raise MXNetError(f"Parameter '{full}' exists and is not a Constant")
        return param

    def update(self, other):
        for k, v in other.items():
            if k in self._params and self._params[k] is not v:
                raise MXNetError(f"cannot update ParameterDict: two different Parameters are "
                                 f"named '{k}'")
            self._params[k] = v

    def _add(self, param):
        self.update({param.name: param})

    def initialize(self, init=initializer.Uniform(), ctx=None, verbose=False,
                   force_reinit=False):
        """Initialize every parameter; `init` applies to those without their own init."""
        for p in self._params.values():
            p.initialize(None, ctx, init, force_reinit=force_reinit)

    def zero_grad(self):
        for p in self._params.values():
            p.zero_grad()

    def reset_ctx(self, ctx):
        """Re-place every parameter on the context(s) `ctx`."""
        for p in self._params.values():
            p.reset_ctx(ctx)

    def list_ctx(self):
        """The contexts the parameters live on (those of the first one, as MXNet)."""
        for p in self._params.values():
            return p.list_ctx()
        return [current_context()]

    def setattr(self, name, value):
        """Set one attribute on every parameter, e.g. setattr('grad_req', 'null')."""
        for p in self._params.values():
            setattr(p, name, value)

    def save(self, filename, strip_prefix=""):
        """Save the data to an .npz file keyed by name minus strip_prefix (never pickle)."""
        arrays, stypes = {}, {}
        for name, p in self._params.items():
            if not name.startswith(strip_prefix):
                raise MXNetError(f"save: prefix '{strip_prefix}' to strip is not found in "
                                 f"parameter name '{name}'")
            arrays[name[len(strip_prefix):]] = p._reduce()
            stypes[name[len(strip_prefix):]] = p._stype
        save_arrays(filename, arrays, stypes)

    def load(self, filename, ctx=None, allow_missing=False, ignore_extra=False,
             restore_prefix="", cast_dtype=False, dtype_source="current"):
        """Load what save() wrote; names get restore_prefix prepended."""
        # MXNet Module checkpoints tag names 'arg:' / 'aux:'
        arrays = {restore_prefix + (k[4:] if k[:4] in ("arg:", "aux:") else k): v
                  for k, v in load_arrays(filename).items()}
        load_into(dict(self._params), arrays, allow_missing, ignore_extra, filename, ctx,
                  cast_dtype, dtype_source)


def load_into(params, arrays, allow_missing, ignore_extra, source, ctx=None, cast_dtype=None,
              dtype_source="current"):
    """Copy arrays into params by name, with errors listing missing / extra / mis-shaped ones
    (a parameter not yet initialized is placed on `ctx`, one context or a list).

    A saved dtype other than the parameter's: with cast_dtype=False MXNet's AssertionError,
    with True the value is cast to the parameter's dtype (dtype_source 'current') or the
    parameter takes the saved dtype ('saved'); cast_dtype=None (a caller that does not pass
    it) casts."""
    if dtype_source not in ("current", "saved"):
        raise MXNetError(f"load from '{source}': dtype_source must be 'current' or 'saved', "
                         f"got {dtype_source!r}")
    # a Parameter shared under several names was saved under one of them (MXNet >= 1.6
    # deduplicates): it is missing only when none of its names is in the file
    loaded = {id(p) for k, p in params.items() if k in arrays}
    missing = [k for k, p in params.items() if k not in arrays and id(p) not in loaded]
    if missing and not allow_missing:
        raise MXNetError(f"load from '{source}': parameters {missing} are missing from the "
                         f"file (it has {sorted(arrays)}); pass allow_missing=True to skip them")
    extra = [k for k in arrays if k not in params]
    if extra and not ignore_extra:
        raise MXNetError(f"load from '{source}': the file has parameters {extra} that the "
                         f"model does not (it has {list(params)}); pass ignore_extra=True to "
                         f"ignore them")
    # all or nothing: every array is checked against its parameter before any is written
    plan = []
    for k, p in params.items():
        if k not in arrays:
            continue
        value = arrays[k]
        shape = p._shape
        if shape is not None and len(shape) == value.ndim and all(
                d <= 0 or d == v for d, v in zip(shape, value.shape)):
            shape = value.shape
        if shape != value.shape:
            raise MXNetError(f"load from '{source}': parameter '{k}' has shape {p._shape} in "
                             f"the model but {value.shape} in the file")
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise MXNetError(f"load from '{source}': parameter '{k}' holds "
                             f"{getattr(value, 'dtype', type(value).__name__)} data, not numbers")
        if cast_dtype is False and np.dtype(p.dtype) != value.dtype:
            raise AssertionError(f"Failed loading Parameter '{k}' from saved params: dtype "
                             f"incompatible expected {np.dtype(p.dtype).name} vs saved "
                             f"{value.dtype.name}. Set cast_dtype=True to cast the dtype of "
                             f"saved params.")
        plan.append((p, shape, value))
    ctxs = [_context_list(ctx, p.name) for p, _, _ in plan[:1]] if ctx is not None else ()
    for p, shape, value in plan:
        p.shape = shape
        if ctxs and p._data is None:
            p._ctx_list = ctxs[0]
        if cast_dtype and dtype_source == "saved" and np.dtype(p.dtype) != value.dtype:
            p.cast(value.dtype)
        p.set_data(value)


def select_params(params, select):
    """The parameters whose full name matches the regex `select` (re.match, like MXNet)."""
    if select is None:
        return params
    pattern = re.compile(select)
    return [p for p in params if pattern.match(p.name)]


def _context_list(ctx, name):
    """initialize's / reset_ctx's `ctx` as a list of distinct Contexts (None: the default)."""
    if ctx is None:
        return None
    ctxs = [ctx] if isinstance(ctx, Context) else list(ctx)
    if not ctxs or not all(isinstance(c, Context) for c in ctxs):
        raise MXNetError(f"Parameter '{name}': ctx must be a Context or a non-empty list of "
                         f"Contexts, got {ctx!r}")
    if len(set(ctxs)) != len(ctxs):
        raise MXNetError(f"Parameter '{name}': ctx lists a context twice: {ctxs}")
    for c in ctxs:
        on_context(wrap(np.zeros(0)), c)    # (raises for a device tracegrad does not have)
    return ctxs


def _pulled_rows(data, row_id):
    """What MXNet's kvstore row_sparse_pull gives for a row_sparse parameter's array: the rows
    of row_id kept and listed (even where zero), every other row zero and unlisted.

    In MXNet the pulled array is the parameter's own array, so one read outside record() is
    differentiated inside it (pull every row, then `with record(): w + 1`). Here: all rows
    pulled, the parameter's array itself; some rows under record(), a recorded mask of it;
    some rows outside record(), the masked values on the parameter's tape identity."""
    from ..autograd import is_recording
    from ..sparse import RowSparseNDArray, _make, _relabel, retain
    every_row = np.ones(data.shape[0], dtype=bool)
    whole = _relabel(data, RowSparseNDArray, every_row)
    pulled = retain(whole, row_id.reshape((-1,)))     # (MXNet's kvstore reads every id)
    if bool(pulled._stored.all()):
        return whole
    if not is_recording():
        pulled = _make(RowSparseNDArray, pulled._data, pulled._stored)
        pulled._value, pulled._var, pulled._leaf = whole._value, whole._var, whole._leaf
    ctx = getattr(data, "_ctx", None)
    if ctx is not None and getattr(pulled, "_ctx", None) != ctx:
        pulled._ctx = ctx
    return pulled
