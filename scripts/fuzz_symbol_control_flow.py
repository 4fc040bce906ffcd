"""Hostile symbol JSON with control flow: MXNet documents holding _foreach / _while_loop / _cond
nodes, randomly damaged (attributes, locations, counts, inputs, heads, subgraphs swapped,
dropped or nested), loaded with mx.sym.load_json and, when accepted, bound and run forward
and backward. Every outcome must be an answer or an MXNetError: any other exception is a
LEAK, a case running past the time limit a HANG (a crash ends the run).

    PYTHONPATH=. python scripts/fuzz_symbol_control_flow.py SEED N
"""
import copy
import json
import random
import signal
import sys
import traceback

import numpy as np

import tracegrad as mx
from tracegrad import nd

LIMIT = 20      # seconds per case


def _graphs():
    data, h, w = mx.sym.var("data"), mx.sym.var("h"), mx.sym.var("w")
    outs, states = mx.sym.contrib.foreach(
        lambda x, s: (mx.sym.tanh(mx.sym.dot(x, w) + s[0]), [s[0] * 0.5 + x.sum()]), data, [h])
    i, x = mx.sym.var("i"), mx.sym.var("x")
    wout, wfinal = mx.sym.contrib.while_loop(
        lambda i, x: i < 3, lambda i, x: (x * 2, [i + 1, x + w.sum()]), [i, x], max_iterations=5)
    a, b = mx.sym.var("a"), mx.sym.var("b")
    cout = mx.sym.contrib.cond(mx.sym.sum(a) > 0, lambda: [a * b], lambda: [a - b])
    return [mx.sym.Group([outs, states[0]]), mx.sym.Group([wout] + wfinal),
            mx.sym.Group(cout)]


_INPUTS = {"data": (4, 3), "h": (2,), "w": (3, 2), "i": (1,), "x": (2,), "a": (3,), "b": (3,)}
_ODD = [0, -1, 1, 2, 3, 7, 2 ** 31, -(2 ** 40), "[0, 0]", "[99]", "()", "x", "1e400", "nan",
        "[[1]]", "(1,", "", "[-1]", "True", None]


def _nodes(doc, out):
    """Every node object of the document and its subgraphs."""
    for n in doc.get("nodes", []):
        out.append(n)
        for g in n.get("subgraphs", []) or []:
            if isinstance(g, dict):
                _nodes(g, out)
    return out


def _docs(doc, out):
    out.append(doc)
    for n in doc.get("nodes", []):
        for g in n.get("subgraphs", []) or []:
            if isinstance(g, dict):
                _docs(g, out)
    return out


def _mild(rng, n):
    """A change that often leaves the document valid: the loop's inputs reordered, a
    location list permuted, another trip count."""
    attrs = n.setdefault("attrs", {})
    locs = [k for k in attrs if k.endswith("_locs")]
    choice = rng.randrange(3)
    if choice == 0 and len(n.get("inputs", [])) > 1:
        i, j = rng.sample(range(len(n["inputs"])), 2)
        n["inputs"][i], n["inputs"][j] = n["inputs"][j], n["inputs"][i]
    elif choice == 1 and locs:
        key = rng.choice(locs)
        items = [t for t in attrs[key].strip("()[]").split(",") if t.strip()]
        rng.shuffle(items)
        attrs[key] = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    elif "max_iterations" in attrs:
        attrs["max_iterations"] = str(rng.randrange(1, 12))


def _damage(rng, doc, pool):
    nodes, docs = _nodes(doc, []), _docs(doc, [])
    loops = [n for n in nodes if n.get("op") in ("_foreach", "_while_loop", "_cond")]
    if loops and rng.random() < 0.5:
        return _mild(rng, rng.choice(loops))
    kind = rng.randrange(9)
    n = rng.choice(loops or nodes)
    if kind == 0 and n.get("attrs"):
        key = rng.choice(sorted(n["attrs"]))
        value = rng.choice(_ODD)
        if value is None:
            del n["attrs"][key]
        else:
            n["attrs"][key] = str(value)
    elif kind == 1 and n.get("inputs"):
        k = rng.randrange(len(n["inputs"]))
        n["inputs"][k] = [rng.randrange(-1, 8), rng.randrange(-1, 3), 0]
    elif kind == 2 and n.get("inputs"):
        n["inputs"].pop(rng.randrange(len(n["inputs"])))
    elif kind == 3 and n.get("subgraphs"):
        subs = n["subgraphs"]
        if rng.random() < 0.5 and len(subs) > 1:
            subs.reverse()
        else:
            subs[rng.randrange(len(subs))] = copy.deepcopy(rng.choice(pool))
    elif kind == 4:
        d = rng.choice(docs)
        if d.get("heads"):
            d["heads"][rng.randrange(len(d["heads"]))] = [rng.randrange(-1, 12),
                                                          rng.randrange(-1, 3), 0]
    elif kind == 5:
        d = rng.choice(docs)
        d["arg_nodes"] = [rng.randrange(-1, 10) for _ in range(rng.randrange(4))]
    elif kind == 6 and n.get("subgraphs"):
        n["subgraphs"].append(copy.deepcopy(rng.choice(pool)))
    elif kind == 7:
        n["op"] = rng.choice(["_foreach", "_while_loop", "_cond", "null", "elemwise_add",
                              "no_such_op"])
    else:
        key = rng.choice(["nodes", "heads", "subgraphs", "attrs", "inputs"])
        n[key] = rng.choice([[], {}, "x", 3, None, [[0, 0, 0]]])


def _run(text):
    sym = mx.sym.load_json(text)
    args = {k: nd.array(np.random.RandomState(0).uniform(-1, 1, _INPUTS.get(k, (2,))))
            for k in sym.list_arguments()}
    grads = {k: nd.zeros(v.shape) for k, v in args.items()}
    ex = sym.bind(mx.cpu(), args, args_grad=grads)
    outs = ex.forward(is_train=True)
    ex.backward([nd.ones(o.shape) for o in outs])
    return "ok"


def _alarm(*_):
    raise TimeoutError


def main(seed, n):
    rng = random.Random(seed)
    pool = [json.loads(g.tojson()) for g in _graphs()]
    subpool = [s for d in pool for node in d["nodes"] for s in node.get("subgraphs", [])]
    signal.signal(signal.SIGALRM, _alarm)
    counts, problems = {}, []
    for case in range(n):
        doc = copy.deepcopy(rng.choice(pool))
        for _ in range(rng.randrange(1, 4)):
            try:
                _damage(rng, doc, subpool)
            except (TypeError, AttributeError, KeyError, IndexError, ValueError):
                pass        # (an earlier damage left this part malformed: damage another)
        text = json.dumps(doc)
        signal.alarm(LIMIT)
        try:
            outcome = _run(text)
        except mx.MXNetError:
            outcome = "refused"
        except TimeoutError:
            outcome = "HANG"
        except Exception:      # noqa: BLE001 - a leak is what this looks for
            outcome = "LEAK"
            problems.append((case, traceback.format_exc(limit=3), text[:400]))
        finally:
            signal.alarm(0)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "HANG":
            problems.append((case, "hang", text[:400]))
    print(f"seed {seed}: {n} documents: {counts}")
    for case, what, text in problems[:10]:
        print(f"--- case {case}\n{what}\n{text}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
