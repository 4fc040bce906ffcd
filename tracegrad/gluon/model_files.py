"""Block.save(prefix) / Block.load(prefix), MXNet 1.9.1's architecture-and-parameters files.

`<prefix>-model.json` is a nested dictionary: each block, keyed by its class name (lower
case) and its position in a depth-first walk (`mybock0`, `dense1`, ...), holds its name when
saved (`orig_name`), whether it was hybridized, and `children`: {child's name: the key its
parent held it under}. `<prefix>-model.params` is save_parameters' file. load() walks a block
built the same way, gives each block and its parameters the saved names and its children the
saved keys (so structural parameter names match a model whose keys depend on names), then
loads the parameters. A hybridized block is hybridized again: its own forward compiles to the
graph MXNet kept in the file (MXNet's `symbol` / `inputs` entries are read and checked, not
run). Every entry is checked before anything changes, and a failed parameter load puts the
names and keys back: the block is changed whole or not at all.
"""
import json

from ..base import MXNetError
from ..untrusted import read_json


def save(block, prefix):
    from .block import HybridBlock
    model, index = {}, [0]

    def walk(blk, structure):
        entry = {"orig_name": blk.name}
        structure[f"{type(blk).__name__.lower()}{index[0]}"] = entry
        if isinstance(blk, HybridBlock):
            entry["hybridized"] = bool(getattr(blk, "_active", False))
        children = entry["children"] = {}
        for key, child in blk._children.items():
            index[0] += 1
            children[child.name] = key
            walk(child, entry)
    walk(block, model)
    with open(prefix + "-model.json", "w") as f:
        json.dump(model, f)
    block.save_parameters(prefix + "-model.params")


def load(block, prefix):
    from .block import HybridBlock
    source = prefix + "-model.json"
    model = read_json(source)
    plan, index = [], [0]

    def fail(what):
        return MXNetError(f"Block.load: '{source}' does not describe this model: {what}")

    def walk(blk, structure, path):
        key = f"{type(blk).__name__.lower()}{index[0]}"
        entry = structure.get(key) if isinstance(structure, dict) else None
        if not isinstance(entry, dict):
            raise fail(f"no entry '{key}' for {path} ({type(blk).__name__}); the model must be "
                       f"built in the order it was when saved")
        name, children = entry.get("orig_name"), entry.get("children")
        hybridized = entry.get("hybridized", False)
        if not isinstance(name, str) or not name or not isinstance(children, dict) or \
                not all(isinstance(k, str) and isinstance(v, str) for k, v in children.items()) \
                or not isinstance(hybridized, bool):
            raise fail(f"entry '{key}' is malformed")
        for extra in ("symbol", "inputs"):   # (MXNet's cached graph: checked for form only)
            v = entry.get(extra)
            if v is not None and not (isinstance(v, str) or (
                    isinstance(v, list) and all(isinstance(s, str) for s in v))):
                raise fail(f"entry '{key}': {extra} is malformed")
        kids = list(blk._children.items())
        names = []
        for _, child in kids:
            index[0] += 1
            names.append(walk(child, entry, f"{path}.{child.name}"))
        if sorted(names) != sorted(children) or len(set(children.values())) != len(children):
            raise fail(f"{path}'s children were {sorted(children)} when saved, now "
                       f"{sorted(names)} would be")
        plan.append((blk, name, [(children[n], child) for n, (_, child) in zip(names, kids)],
                     hybridized and isinstance(blk, HybridBlock)))
        return name

    walk(block, model, type(block).__name__)
    undo = [(blk, blk._name, list(blk._children.items()), dict(blk.params._params))
            for blk, *_ in plan]
    try:
        for blk, name, keyed, _ in plan:
            _rename(blk, name)
            blk._children.clear()
            for key, child in keyed:
                blk._children[key] = child
        block.load_parameters(prefix + "-model.params")
    except BaseException:
        for blk, name, children, params in undo:
            blk._name = name
            blk.params._params.clear()
            blk.params._params.update(params)
            blk._children.clear()
            blk._children.update(children)
        raise
    for blk, _, _, hybridized in plan:
        if hybridized and not blk._active:
            blk.hybridize()


def _rename(blk, name):
    """The block named `name`, its own parameters' keys following (MXNet's load)."""
    params = blk.params
    old = list(params._params.items())
    prefix = params.prefix
    params._params.clear()
    for key, p in old:
        suffix = key[len(prefix):] if key.startswith(prefix) else key
        params._params[f"{name}_{suffix}"] = p
    blk._name = name
