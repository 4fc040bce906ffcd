"""Straight-line Python for the two checks every captured step repeats most: binding a
hybridized block's compiled call (capture._bind_call) and replaying a pure block's call
(capture.replay), generated once per plan op / block replay from the same tuples the general
code walks.

The general code interprets those tuples with loops, branches on each item's kind and
rebinds as it checks (the tiny step's net call and loss replay took 5.3 and 4.8 us that way,
4.7 and 4.0 us straight-line). The code made here does the same checks with the constants
inlined (leaf indices, shapes, dtypes, variables), and only for the plain cases: every
operand a deferred value of the plan, an untracked array of the planned shape and dtype, or
(a call's) parameter that is the plan's variable; no random keys, no state updates, one
output. It changes nothing until every check has passed, so `None` (something differs)
hands the call to the general code untouched, which checks again and handles everything
these do not (extras, mx.np views, materializing).

An operand read twice (one array passed as two arguments) is checked against its first
binding, as the general code's binding-while-checking does. mx.np arrays are taken as they
are (an ndarray as an untracked array, an NpDeferred as the value it stands for): set_np
code pays no conversion on this path (capture.nd_args converts for the general one).

The same is done for the fused update's two halves (update_fusion.py), generated once per
Fusion: `fused_update_hold` (backward() holding the step) and `fused_update_run`
(trainer.step's checks, the one native call and the hand-over). Unlike the binders they have
no general twin: the checks are the same per-parameter lines the loops made, unrolled."""
from ..runtime.interpret import generated
from ..runtime.native import NativeFunction


def call_binder(ns, pop, binder, entry, fresh=False):
    """`fast(step, entry, args, params)` -> the call's Deferred output (bound and logged as
    defer_call does), or None; None when the call is not plain (the general path only).
    `ns`: capture's names the code reads (NDArray, Deferred, _REFS, ...). The code holds no
    compiled entry (the call passes it): a plan must not keep compiled code alive.

    `fresh` (pop is its plan's first op): `fast(state, plan, entry, args, params, training)`
    makes the step too (autograd's training mode its field), as defer_call's Step(plan) then
    bind_call would, and makes it the pending one: on a new step nothing is bound or written
    yet, so those checks fall away."""
    if entry.updates or pop.has_keys or entry.n_out != 1 or binder.rest:
        return None
    lines, consts, first = [], {}, {}
    n_args = 1 + max([i for i, _ in binder.deferred] + [i for _, i, _, _, _ in binder.arg_consts]
                     + [-1])
    if fresh and binder.deferred:
        return None

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    lines.append(f"    if len(args) < {n_args}: return None")
    if not fresh:
        lines.append("    leaf_data, written = step.leaf_data, step.written")
    for i, oref in binder.deferred:
        lines.append(f"    a = args[{i}]")
        lines.append(f"    if (type(a) is not Deferred and type(a) is not NpDeferred) or "
                     f"a._leaf != {oref}: return None")
    feeds = {}
    for f, i, oref, shape, dtype in binder.arg_consts:
        d = f"d{f}"
        feeds[f] = d
        lines.append(f"    a = args[{i}]")
        lines.append("    if (type(a) is not NDArray and type(a) is not NpArray) or "
                     "a._value is not None: return None")
        lines.append(f"    {d} = a._data")
        if oref in first:     # (the same leaf again: the same array)
            lines.append(f"    if {d} is not {first[oref]}: return None")
            continue
        first[oref] = d
        if fresh:
            lines.append(f"    if {d}.shape != {const(shape)} or {d}.dtype != {const(dtype)}: "
                         f"return None")
            continue
        lines.append(f"    bound = leaf_data[{oref}]")
        lines.append(f"    if (bound is not None and bound is not {d}) or {d}.shape != "
                     f"{const(shape)} or {d}.dtype != {const(dtype)} or "
                     f"(written and id({d}) in written): return None")
    for f, i, oref, var in binder.param_vars:
        d = f"d{f}"
        feeds[f] = d
        lines.append(f"    a = params[{i}]")
        lines.append(f"    if type(a) is not NDArray or a._value is not {const(var)}: "
                     f"return None")
        lines.append(f"    {d} = a._data")
        if not fresh:
            lines.append(f"    if written and id({d}) in written: return None")
        first.setdefault(oref, d)
    # every check passed: bind, log and make the output (as defer_call and _bind_call do)
    if fresh:       # Step(plan): the fields its __init__ sets (the rest are the class's)
        lines.append("    step = _NEW(_Step)")
        lines.append("    step.plan = plan")
        # (sized now: a plan that lifts a scalar into a leaf grows its lists)
        lines.append("    step.leaf_data = leaf_data = [None] * len(plan.leaf_types)")
        lines.append("    step.refs = [None] * len(plan.value_types)")
        lines.append("    step.training = training")
    for oref, d in first.items():
        lines.append(f"    leaf_data[{oref}] = {d}")
    if binder.deferred:
        lines.append("    saved = list(args)")
        for i, oref in binder.deferred:
            lines.append(f"    saved[{i}] = _REFS[{oref}]")
    else:
        lines.append("    saved = args")
    arrays = ", ".join(feeds.get(f, "None") for f in range(binder.n))   # (deferred: None)
    item = f"('call', entry, saved, params, [{arrays}])"
    if fresh:
        lines.append(f"    step.log = [{item}]")
        lines.append("    step.k = 1")
    else:
        lines.append(f"    step.log.append({item})")
        lines.append("    step.k += 1")
    j = pop.results[0]
    lines.append("    d = _NEW(Deferred)")
    lines.append("    d._var = None")
    lines.append(f"    d._leaf = {j}")
    lines.append(f"    _SET_VALUE(d, {const(pop.types[0])})")
    lines.append(f"    step.refs[{j}] = _WEAKREF(d)")
    if fresh:
        lines.append("    state.step = step")
        lines.append("    return d")
        return _compile("bind_first", lines, ns, consts,
                        header="def bind_first(state, plan, entry, args, params, training):\n")
    lines.append("    return d")
    return _compile("bind_call", lines, ns, consts,
                    header="def bind_call(step, entry, args, params):\n")


def _compile(name, lines, ns, consts, header):
    return generated(name, header, lines, {**ns, **consts})


def replay_binder(ns, r):
    """`fast(r, args)` -> block replay r's Deferred output (bound and logged as capture.replay
    does on its lazy path), or None; None when r is not plain (its eager ops run in replay:
    the general path only). `ns`: capture's names the code reads. The code holds neither r
    nor its plan (no reference cycle through r.fast keeps a plan's native code alive)."""
    if r.entries is None:
        return None
    plan = r.plan
    consts = {}
    lines = ["    PLAN = R.plan"]

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    # (its callers, capture.replay and block._replay_or_learn, call it only while recording)
    lines.append("    state = _STATE")
    lines.append("    if state.broken or state.learning is not None: return None")
    lines.append("    step = state.step")
    lines.append("    if step is None:")
    if r.k0 == 0:
        lines.append(f"        plans = state.plans.get({const(plan.first_key)})")
        lines.append("        if not plans or PLAN not in plans: return None")
        lines.append("        step = fresh = _Step(PLAN)")
    else:
        lines.append("        return None")
    lines.append(f"    elif step.plan is not PLAN or step.k != {r.k0}: return None")
    if r.k0 == 0:
        lines.append("    else:")
        lines.append("        fresh = None")
    lines.append(f"    if len(args) != {len(r.arg_kinds)}: return None")
    for i, kind in enumerate(r.arg_kinds):
        lines.append(f"    a{i} = args[{i}]")
        if type(kind) is tuple:
            lines.append(f"    if type(a{i}) is not NDArray and type(a{i}) is not NpArray: "
                         f"return None")
            lines.append(f"    d{i} = a{i}._data")
            lines.append(f"    if d{i}.shape != {const(kind[0])} or d{i}.dtype != "
                         f"{const(kind[1])}: return None")
        else:
            lines.append(f"    if (type(a{i}) is not Deferred and type(a{i}) is not "
                         f"NpDeferred) or a{i}._leaf != {kind}: return None")
    for i, j in r.aliased:
        lines.append(f"    if d{i} is not d{j} or a{i}._value is not a{j}._value: return None")
    for n, (obj, ref) in enumerate(r.var_objs):
        lines.append(f"    if _VALUE_OF({const(obj)}) is not {const(plan.leaf_vars[ref])}: "
                     f"return None")
    if r.eager is not None:     # (its eager ops are left to the fused call, while it has them)
        lines.append("    fusion = PLAN.fusion")
        lines.append("    if fusion is None or R not in fusion.hoisted: return None")
    lines.append("    leaf_data, written = step.leaf_data, step.written")
    for i, ref, var in r.arg_leaves:
        if var is not None:
            lines.append(f"    if a{i}._value is not {const(var)}: return None")
            continue
        lines.append(f"    if a{i}._value is not None: return None")
        lines.append(f"    bound = leaf_data[{ref}]")
        lines.append(f"    if (bound is not None and bound is not d{i}) or "
                     f"(written and id(d{i}) in written): return None")
    for i, j in r.same_args:
        lines.append(f"    if d{i} is not d{j}: return None")
    # every check passed: bind, log and make the output
    for i, ref, _ in r.arg_leaves:
        lines.append(f"    leaf_data[{ref}] = d{i}")
    leaves = "".join(f"a{i}, " for i in r.keep)
    lines.append(f"    leaves = ({leaves})")
    lines.append("    step.log.append((_REPLAYED, R, leaves))")
    if r.eager is not None:
        lines.append("    step.lazy += ((R, leaves),)")
    for obj, ref in r.var_objs:
        lines.append(f"    leaf_data[{ref}] = _DATA_OF({const(obj)})")
    lines.append(f"    step.k = {r.k1}")
    if r.k0 == 0:
        lines.append("    if fresh is not None: state.step = fresh")
    lines.append("    d = _NEW(Deferred)")
    lines.append("    d._var = None")
    lines.append(f"    d._leaf = {r.out}")
    lines.append(f"    _SET_VALUE(d, {const(plan.value_types[r.out])})")
    lines.append(f"    step.refs[{r.out}] = _WEAKREF(d)")
    lines.append("    return d")
    return _compile("replay", lines, ns, consts, header="def replay(R, args):\n")


def fused_update_run(ns, fusion, trainer):
    """`run(fusion, trainer, step, optimizer, states)` -> True when the held captured step and
    trainer.step's update were made as the fusion's one native call (update_fusion.fast_run's
    contract), False when nothing was done. The checks are Trainer._bound_holds(fresh=False)
    and the weights' and states' ownership, unrolled over this fusion's Binding; the hand-over
    is capture.deliver's plain case (no state writes, aliases or extras this step; every
    gradient written by the call), else deliver itself. `ns`: update_fusion's names (the
    refusal and failure paths are its functions, not repeated here). The code holds the
    trainer's parameters as the Binding does, never the fusion or its plan (passed in)."""
    plan, binding = fusion.plan, fusion.binding
    lines, consts = [], {}

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    structure = binding.structure
    # Trainer._bound_holds(fresh=False): the Binding still describes the parameters
    lines.append(f"    if not trainer._fused or type(optimizer) is not {const(structure[0])} "
                 f"or optimizer.fused_structure() != {const(structure[1])}: return False")
    bound_params = trainer._bound_params
    lines.append(f"    if trainer._bound_params is not {const(bound_params)} or "
                 f"len(trainer._params) != {len(bound_params)}: return False")
    for p, data, var in bound_params:
        if data is None:
            lines.append(f"    if {const(p)}._data is not None: return False")
        else:
            lines.append(f"    d = {const(p)}._data")
            lines.append(f"    if d is not {const(data)} or d._var is not {const(var)}: "
                         f"return False")
    # each weight the forward read is the Binding's, held by its owners only (fast_run)
    lines.append("    leaf_data = step.leaf_data")
    lines.append("    pooled = _POOLED")
    for w, leaf, owners in fusion.weight_owners:
        lines.append(f"    a = leaf_data[{leaf}]")
        lines.append(f"    if {const(w)}._data is not a or type(a) is not _ndarray or "
                     f"a.base is not None: return False")
        lines.append(f"    value = {const(w)}._value")
        lines.append(f"    if _getrefcount(a) > {owners} + (value is not None and value.data is a)"
                     f" + (pooled.get(id(a), 0) if pooled else 0): return False")
    lines.append("    a = value = None")
    if fusion.call_leaves is None:
        lines.append("    args = list(leaf_data)")
    else:       # the leaves the call computes from the hoisted replays' arguments
        lines.append("    lazy = step.lazy")
        lines.append(f"    if len(lazy) != {len(fusion.hoisted)}: return False")
        lines.append("    hoisted = fusion.hoisted")
        for k in range(len(fusion.hoisted)):
            lines.append(f"    if lazy[{k}][0] is not hoisted[{k}]: return False")
        lines.append("    args = [" + "".join(f"leaf_data[{i}], " for i in fusion.call_leaves)
                     + "]")
        for k in range(len(fusion.hoisted)):
            lines.append(f"    args += [x._data for x in lazy[{k}][1]]")
    if fusion.state_items:
        # fused_update.states_unshared's checks (the dict, `st` and the call hold a state;
        # its tuple, `a` and the call one of its arrays), unrolled while no output pool holds
        # arrays; a state of another length is left to the usual update
        lines.append("    if pooled:")
        lines.append(f"        if not states_unshared(states, {const(fusion.state_items)}, 0): "
                     f"return False")
        for i, _ in fusion.state_items:
            lines.append(f"        st = states[{i!r}]")
            lines.append("        if type(st) is tuple: args += st")
            lines.append("        else: args.append(st)")
        lines.append("    else:")
        for i, n in fusion.state_items:
            lines.append(f"        st = states[{i!r}]")
            lines.append("        if type(st) is tuple:")
            lines.append(f"            if len(st) != {n} or _getrefcount(st) > 3: return False")
            for k in range(n):
                lines.append(f"            a = st[{k}]")
                lines.append("            if type(a) is not _ndarray or a.base is not None or "
                             "_getrefcount(a) > 3: return False")
            lines.append("            args += st")
            lines.append("        elif type(st) is not _ndarray or st.base is not None or "
                         "_getrefcount(st) > 3: return False")
            lines.append("        else: args.append(st)")
        lines.append("        a = None")
        lines.append("    st = None")
    indices = const(binding.indices)
    lines.append("    num_update = optimizer.num_update")
    optimizer = trainer._optimizer      # (its code serves the type the checks above pin)
    code = optimizer.fused_scalar_code(binding.indices) \
        if type(optimizer) is structure[0] else None
    lines.append(f"    args.append({const(code)}(optimizer))" if code is not None else
                 f"    args.append(optimizer.fused_scalar_vector({indices}))")
    for var in fusion.grad_vars:
        lines.append(f"    args.append(_GRAD_GET({const(var)}))")
    # under HELD_LOCK (the gradients stay held until they are delivered; acquire and release
    # called directly: half the cost of a with statement)
    lines.append("    HELD_ACQUIRE()")
    lines.append("    try:")
    lines.append("        if step.done:   # finished by another thread meanwhile: the usual update")
    lines.append(f"            optimizer.uncount({indices}, num_update)")
    lines.append("            return False")
    lines.append("        _CAPTURE_STATE.step = None")
    lines.append("        step.done = True")
    lines.append("        before = _NATIVE['native_calls']")
    lines.append("        try:")
    native = fusion.native
    if type(native) is NativeFunction and native._held and native._outs and \
            not native._literals and not native._donated_literals:
        # NativeFunction.try_call's short call (GIL held, outputs allocated here), unrolled
        names = [f"out{k}" for k in range(len(native._outs))]
        for name, (shape, dtype) in zip(names, native._outs):
            lines.append(f"            {name} = _EMPTY({const(shape)}, {const(dtype)})")
        lines.append("            native = fusion.native")
        lines.append(f"            rc = native._entry((*args, {', '.join(names)}))")
        lines.append("            if rc:")
        lines.append("                if rc < -1: native._failed(rc)")
        lines.append("                outs = None")
        lines.append("            else:")
        lines.append("                _NATIVE['native_calls'] += 1")
        lines.append(f"                outs = [{', '.join(names)}]")
    else:
        lines.append("            outs = fusion.try_call(tuple(args))")
    lines.append("        except BaseException as e:")
    lines.append(f"            failed(fusion, step, optimizer, {indices}, num_update, e)")
    lines.append("            raise")
    lines.append("        if outs is None:   # an array changed type: the two calls as before")
    lines.append(f"            return refused(fusion, step, optimizer, {indices}, num_update, "
                 f"before)")
    # Fusion.release, unrolled
    lines.append("        step.held = fusion.step = None")
    lines.append("        _HOLDING.discard(fusion)")
    for var, held, plain in fusion.swaps:
        lines.append(f"        if type({const(var)}) is {const(held)}: "
                     f"{const(var)}.__class__ = {const(plain)}")
    # capture.deliver's plain case, unrolled
    general = "        deliver(step, outs, before, fused=True, grad_vars=fusion.out_vars)"
    if fusion.out_vars:
        lines.append(general)
    else:
        lines.append("        if step.writes or step.aliases or step.extras:")
        lines.append("    " + general)
        lines.append("        else:")
        lines.append("            refs = step.refs")
        for k, (j, freed) in enumerate(plan.export_items):
            lines.append(f"            r = refs[{j}]")
            lines.append("            d = r() if r is not None else None")
            lines.append("            if d is not None:")
            lines.append("                d.__class__ = NpArray if type(d) is NpDeferred "
                         "else NDArray")
            lines.append(f"                d._data, d._value, d._leaf = outs[{k}], "
                         f"{const(freed)}, None")
        lines.append("            d = r = None")
        lines.append("            if _FATES.groups: free_fates()")
        lines.append("            plan = fusion.plan")
        lines.append("            plan.failures = plan.idle = 0")
        lines.append("            plan.captured += 1")
        lines.append("            _COUNTS['captured_steps'] += 1")
        lines.append("            _LOG['captured'] += 1")
        lines.append("            _LOG['last_calls'] = 1")
        lines.append("            _LOG['last_fused'] = True")
    for var in binding.vars:
        lines.append(f"        {const(var)}.fresh = False")
    lines.append("    finally:")
    lines.append("        HELD_RELEASE()")
    lines.append("    fusion.misses = 0")
    lines.append("    fusion.hits += 1")
    lines.append("    COUNTERS['fused_update_steps'] += 1")
    lines.append("    return True")
    return _compile("run", lines, ns, consts,
                    header="def run(fusion, trainer, step, optimizer, states):\n")


def fused_update_hold(ns, fusion, backward=False):
    """`hold(fusion, step)` -> Fusion.hold's answer: None when a variable of the plan has a
    grad_req that no longer gives its gradients as planned; else the step held for
    trainer.step (True: each gradient Variable of the plan switched to its held class) when
    the Binding's gradients are all written (grad_req 'write') and nobody else holds a
    gradient buffer (its Variable, `g` and getrefcount's argument; output pools), else False
    with nothing changed.

    `backward`: `hold(fusion, step, head)` -> True (held) or None (nothing done: the general
    capture.backward decides), with capture.backward's checks of a plain step first (the
    head and every op as planned, no state updates missing, no hidden value alive, no
    aliases or extras): backward()'s whole work in a steady captured step."""
    lines, consts = [], {}

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    plan = fusion.plan
    no = "None" if backward else "False"
    if backward:
        lines.append(f"    if step.held is not None or step.k != {len(plan.ops)} or "
                     f"step.n_assign != {len(plan.assigns)} or step.aliases or step.extras:")
        lines.append("        return None")
        lines.append("    if (type(head) is not Deferred and type(head) is not NpDeferred) or "
                     f"head._leaf != {plan.head}: return None")
        if plan.hidden:
            lines.append("    refs = step.refs")
            for j in plan.hidden:
                lines.append(f"    r = refs[{j}]")
                lines.append("    if r is not None and r() is not None: return None")
            lines.append("    r = None")
        lines.append("    if fusion.plan.shared: return None")
    # the plan's variables' grad_req as planned (capture.backward's check: None), and the
    # Binding's all 'write' (else not held: False)
    bound = {id(var) for var in fusion.binding.vars}
    lines.append("    held = True")
    for var, want in plan.var_reqs:
        lines.append(f"    r = _REQ_GET({const(var)})")
        if id(var) in bound:
            lines.append("    if r != 'write':")
            lines.append(f"        if (r != 'null') != {want}: return None")
            lines.append("        held = False")
        else:
            lines.append(f"    if (r != 'null') != {want}: return None")
    missing = bound - {id(var) for var, _ in plan.var_reqs}
    for var in fusion.binding.vars:
        if id(var) in missing:
            lines.append(f"    if _REQ_GET({const(var)}) != 'write': held = False")
    lines.append(f"    if not held: return {no}")
    lines.append("    pooled = _POOLED")
    for var, _, _ in fusion.swaps:
        lines.append(f"    g = _GRAD_GET({const(var)})")
        lines.append("    if g is not None and _getrefcount(g) > (3 + pooled.get(id(g), 0) "
                     f"if pooled else 3): return {no}")
    lines.append("    g = None")
    for var, held, _ in fusion.swaps:
        lines.append(f"    {const(var)}.__class__ = {const(held)}")
    lines.append("    step.held, fusion.step = fusion, step")
    lines.append("    _HOLDING.add(fusion)")
    lines.append("    return True")
    if backward:
        return _compile("backward_hold", lines, ns, consts,
                        header="def backward_hold(fusion, step, head):\n")
    return _compile("hold", lines, ns, consts, header="def hold(fusion, step):\n")
