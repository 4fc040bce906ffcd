"""`nd.contrib`'s DGL graph operators (MXNet 1.9's src/operator/contrib/dgl_graph.cc): edge_id,
dgl_adjacency, dgl_subgraph, the neighbour samplers dgl_csr_neighbor_uniform_sample /
dgl_csr_neighbor_non_uniform_sample, and dgl_graph_compact.

A graph is a CSR matrix whose row u lists the edges leaving vertex u and whose values are
edge ids. The ops are eager and have no gradient: they read a CSRNDArray's index arrays and
build new ones with numpy. Where MXNet reads outside its buffers (a vertex id past the graph,
an indptr pointing outside the data, an index array of another dtype) these raise MXNetError
naming the op and the value.

The samplers draw from tracegrad's random state (`mx.random.seed` fixes them). As MXNet's
kernel, a call draws one seed per seed array and every vertex's neighbour draw restarts from
it; the non-uniform sampler sorts a vertex's sampled neighbours and their edge ids
separately (as MXNet does). Padding past the sampled vertices is -1 in the vertex ids and
layers and 0 in the probabilities (MXNet leaves it unwritten).
"""
import warnings

import numpy as np

from . import random as _random
from .array import NDArray
from .base import MXNetError
from .op_kwargs import accepting_common_keywords

__all__ = ["edge_id", "dgl_adjacency", "dgl_subgraph", "dgl_csr_neighbor_uniform_sample",
           "dgl_csr_neighbor_non_uniform_sample", "dgl_graph_compact"]

_I64 = np.dtype(np.int64)


# ------------------------------------------------------------------ argument checks
def _csr(x, op, what="graph", int64=True):
    """(data, indices, indptr, shape) of a CSRNDArray whose index arrays are safe to walk."""
    from .sparse import CSRNDArray
    if not isinstance(x, CSRNDArray):
        stype = getattr(x, "stype", type(x).__name__)
        raise MXNetError(f"{op}: {what} must be a csr NDArray, got {stype}")
    if int64 and np.dtype(x.dtype) != _I64:
        raise MXNetError(f"{op}: {what} must hold int64 edge ids, got {np.dtype(x.dtype)}")
    data, indices = x.data.asnumpy(), x.indices.asnumpy()
    indptr = x.indptr.asnumpy()
    rows, cols = x.shape
    if indices.dtype != _I64 or indptr.dtype != _I64:
        raise MXNetError(f"{op}: {what}'s indices and indptr must be int64, got "
                         f"{indices.dtype} and {indptr.dtype}")
    if (len(indptr) != rows + 1 or indptr[0] != 0 or indptr[-1] != len(indices)
            or len(data) != len(indices) or np.any(np.diff(indptr) < 0)):
        raise MXNetError(f"{op}: {what} has a malformed indptr {indptr.tolist()} for "
                         f"{len(indices)} entries and {rows} rows")
    if len(indices) and (indices.min() < 0 or indices.max() >= cols):
        raise MXNetError(f"{op}: {what} has column index {int(indices.max())} or "
                         f"{int(indices.min())} outside [0, {cols})")
    return data, indices, indptr, (rows, cols)


def _dense(x, op, what, ndim=1, dtype=None):
    """The numpy values of a dense NDArray input of this rank (and dtype, when given)."""
    if not isinstance(x, NDArray) or getattr(x, "stype", "default") != "default":
        got = getattr(x, "stype", type(x).__name__)
        raise MXNetError(f"{op}: {what} must be a dense (default storage) NDArray, got {got}")
    if x.ndim != ndim:
        raise MXNetError(f"{op}: {what} must be {ndim}-d, got shape {tuple(x.shape)}")
    if dtype is not None and np.dtype(x.dtype) != np.dtype(dtype):
        raise MXNetError(f"{op}: {what} must be {np.dtype(dtype)}, got {np.dtype(x.dtype)}")
    return x.asnumpy()


def _vertex_ids(x, op, what, n):
    """int64 vertex ids of a 1-d array, each in [0, n)."""
    ids = _dense(x, op, what, dtype=_I64)
    bad = ids[(ids < 0) | (ids >= n)]
    if bad.size:
        raise MXNetError(f"{op}: vertex id {int(bad[0])} in {what} isn't in a graph of "
                         f"{n} vertices")
    return ids


def _num_args(op, num_args, given, low):
    if num_args is not None and int(num_args) != given:
        raise MXNetError(f"{op}: num_args={num_args} but {given} inputs were given")
    if given < low:
        raise MXNetError(f"{op}: needs at least {low} inputs, got {given}")


def _count(op, name, value):
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise MXNetError(f"{op}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def _flag(op, name, value):
    if value is None:
        raise MXNetError(f"{op}: required parameter {name} (a boolean) is not given")
    return bool(value)


def _one_or_list(outs):
    """MXNet's calling convention: one output alone, several as a list."""
    return outs[0] if len(outs) == 1 else list(outs)


def _make_csr(data, indices, indptr, shape, dtype):
    from .sparse import csr_matrix
    return csr_matrix((np.asarray(data, dtype), np.asarray(indices, _I64),
                       np.asarray(indptr, _I64)), shape=shape, dtype=dtype)


def _nd(values, dtype):
    from .nd import array
    return array(np.asarray(values, dtype), dtype=dtype)


# ------------------------------------------------------------------ edge_id, adjacency
def _edge_id(data, u, v):
    """output[i] = data[u[i], v[i]] where that edge is stored, else -1 (data's dtype)."""
    op = "edge_id"
    vals, indices, indptr, (rows, _) = _csr(data, op, "data", int64=False)
    un, vn = _dense(u, op, "u"), _dense(v, op, "v")
    if un.shape != vn.shape:
        raise MXNetError(f"{op}: u and v must have the same length, got {un.shape} and "
                         f"{vn.shape}")
    if un.dtype != vn.dtype:
        raise MXNetError(f"{op}: u and v must have the same dtype, got {un.dtype} and "
                         f"{vn.dtype}")
    for name, a in (("u", un), ("v", vn)):
        if not np.all(np.isfinite(a)):
            raise MXNetError(f"{op}: {name} must hold finite vertex ids, got {a.tolist()}")
    ui, vi = un.astype(np.int64), vn.astype(np.int64)      # (C casts truncate, as MXNet's)
    bad = ui[(ui < 0) | (ui >= rows)]
    if bad.size:
        raise MXNetError(f"{op}: vertex id {int(bad[0])} in u isn't a row of a graph of "
                         f"{rows} rows")
    out = np.full(ui.shape, -1, dtype=np.dtype(data.dtype))
    for i, (r, c) in enumerate(zip(ui, vi)):
        row = indices[indptr[r]:indptr[r + 1]]
        hit = np.flatnonzero(row == c)           # the first match, as std::find
        if hit.size:
            out[i] = vals[indptr[r] + hit[0]]
    return _nd(out, out.dtype)


def _dgl_adjacency(data):
    """The graph's CSR with every stored edge's value 1.0 (float32)."""
    _, indices, indptr, shape = _csr(data, "dgl_adjacency", "data")
    return _make_csr(np.ones(len(indices), np.float32), indices, indptr, shape, np.float32)


# ------------------------------------------------------------------ induced subgraphs
def _subgraph(indices, eids, indptr, vids):
    """(new indptr, new column ids, original edge ids) of the subgraph induced by `vids`."""
    new_id = {int(v): i for i, v in enumerate(vids)}      # (a repeated id: its last place)
    ptr, cols, old = [0], [], []
    for v in vids:
        for j in range(indptr[v], indptr[v + 1]):
            k = new_id.get(int(indices[j]))
            if k is not None:
                cols.append(k)
                old.append(eids[j])
        ptr.append(len(cols))
    return ptr, cols, old


def _dgl_subgraph(graph, *data, return_mapping=None, num_args=None):
    """Per sorted vertex array, the induced subgraph as a CSR of new edge ids (0, 1, ... in
    row order) and, with return_mapping, the same CSR holding the original edge ids; all the
    first kind, then all the second."""
    op = "dgl_subgraph"
    _num_args(op, num_args, 1 + len(data), 2)
    mapping = _flag(op, "return_mapping", return_mapping)
    eids, indices, indptr, (rows, _) = _csr(graph, op)
    subs, maps = [], []
    for k, varr in enumerate(data):
        vids = _vertex_ids(varr, op, f"vertex array {k}", rows)
        if np.any(np.diff(vids) < 0):
            raise MXNetError(f"{op}: the input vertex list has to be sorted, got "
                             f"{vids.tolist()}")
        ptr, cols, old = _subgraph(indices, eids, indptr, vids)
        n = len(vids)
        subs.append(_make_csr(np.arange(len(cols)), cols, ptr, (n, n), _I64))
        maps.append(_make_csr(old, cols, ptr, (n, n), _I64))
    return _one_or_list(subs + maps if mapping else subs)


# ------------------------------------------------------------------ neighbour sampling
def _uniform_pick(rng, n, k):
    """k distinct positions of n (ascending), uniformly at random."""
    return np.sort(rng.choice(n, size=k, replace=False))


def _weighted_pick(rng, n, k, weights):
    """k distinct positions of n drawn one by one, each in proportion to its weight among
    those left (MXNet's ArrayHeap). When only zero weights are left, uniformly among them."""
    w = weights.astype(np.float64).copy()
    picked = []
    for _ in range(k):
        total = w.sum()
        if total > 0:
            x = rng.random() * total
            i = int(np.searchsorted(np.cumsum(w), x, side="right"))
            i = min(i, n - 1)
            while w[i] == 0:                        # (rounding at the top end)
                i -= 1
        else:
            left = [j for j in range(n) if j not in picked]
            i = left[int(rng.integers(len(left)))]
        picked.append(i)
        w[i] = 0.0
    return picked


def _sample_one(op, key, graph, seeds, prob, num_hops, num_neighbor, max_nv):
    """MXNet's SampleSubgraph: a BFS from the seeds, each vertex short of num_hops drawing up
    to num_neighbor of its neighbours, until max_nv vertices are in."""
    eids, indices, indptr, (n, _) = graph
    if len(seeds) > max_nv:
        raise MXNetError(f"{op}: max_num_vertices={max_nv} is less than the {len(seeds)} "
                         f"seed vertices")
    seen, queue = set(), []
    for s in seeds.tolist():
        if s not in seen:
            seen.add(s)
            queue.append((s, 0))
    sampled, idx = {}, 0
    while idx < len(queue) and len(seen) < max_nv:
        dst, level = queue[idx]
        idx += 1
        if level >= num_hops:
            continue
        lo, hi = indptr[dst], indptr[dst + 1]
        cols, edges = indices[lo:hi], eids[lo:hi]
        if hi - lo > num_neighbor:
            rng = np.random.default_rng(key)       # restarted per vertex, as MXNet's
            if prob is None:
                at = _uniform_pick(rng, hi - lo, num_neighbor)
                cols, edges = cols[at], edges[at]
            else:
                at = _weighted_pick(rng, hi - lo, num_neighbor, prob[cols])
                cols, edges = np.sort(cols[at]), np.sort(edges[at])
        sampled[dst] = (cols, edges)
        for c in cols.tolist():
            if len(seen) >= max_nv:
                break
            if c not in seen:
                seen.add(c)
                queue.append((c, level + 1))
    if any(level < num_hops for _, level in queue[idx:]):
        warnings.warn(f"{op}: the sampling is truncated because it reached the max number "
                      f"of vertices ({max_nv}); use fewer seeds or a smaller neighbourhood",
                      RuntimeWarning, stacklevel=4)
    queue.sort()
    nv = len(queue)
    ids = np.full(max_nv + 1, -1, _I64)
    layers = np.full(max_nv, -1, _I64)
    ids[:nv] = [v for v, _ in queue]
    layers[:nv] = [level for _, level in queue]
    ids[max_nv] = nv
    ptr, cols, edges = [0], [], []
    for v, _ in queue:
        got = sampled.get(v)
        if got is not None:
            cols.extend(got[0].tolist())
            edges.extend(got[1].tolist())
        ptr.append(len(cols))
    ptr += [len(cols)] * (max_nv - nv)
    sub = _make_csr(edges, cols, ptr, (max_nv, n), _I64)
    sub_prob = None
    if prob is not None:
        sub_prob = np.zeros(max_nv, prob.dtype)
        sub_prob[:nv] = prob[ids[:nv]]
    return ids, sub, sub_prob, layers


def _sample(op, csr_matrix, prob, seed_arrays, num_args, num_hops, num_neighbor,
            max_num_vertices):
    n_fixed = 1 if prob is None else 2
    _num_args(op, num_args, n_fixed + len(seed_arrays), n_fixed + 1)
    num_hops = _count(op, "num_hops", num_hops)
    num_neighbor = _count(op, "num_neighbor", num_neighbor)
    max_nv = _count(op, "max_num_vertices", max_num_vertices)
    graph = _csr(csr_matrix, op, "csr_matrix")
    n, m = graph[3]
    if n != m:
        raise MXNetError(f"{op}: csr_matrix must be square (a graph), got shape {(n, m)}")
    p = None
    if prob is not None:
        p = _dense(prob, op, "probability", dtype=np.float32)
        if len(p) < n:
            raise MXNetError(f"{op}: probability has {len(p)} entries for a graph of {n} "
                             f"vertices")
        bad = np.flatnonzero(~np.isfinite(p) | (p < 0))
        if bad.size:        # (the first offender: a graph's probabilities may be millions)
            raise MXNetError(f"{op}: probability must be finite and non-negative, got "
                             f"{p[bad[0]]} at vertex {bad[0]}")
    seeds = [_vertex_ids(s, op, f"seed array {k}", n) for k, s in enumerate(seed_arrays)]
    key = _random._take_counter()
    results = [_sample_one(op, (key[0], key[1], k), graph, s, p, num_hops, num_neighbor,
                           max_nv) for k, s in enumerate(seeds)]
    out = [_nd(r[0], _I64) for r in results] + [r[1] for r in results]
    if p is not None:
        out += [_nd(r[2], np.float32) for r in results]
    return out + [_nd(r[3], _I64) for r in results]


def _dgl_csr_neighbor_uniform_sample(csr_matrix, *seed_arrays, num_args=None, num_hops=1,
                                     num_neighbor=2, max_num_vertices=100):
    """Per int64 seed array: (vertex ids (max_num_vertices + 1,), ascending, the last entry
    their count; the sampled edges as a (max_num_vertices, N) CSR of the graph's edge ids,
    row i for vertex i, columns the original vertex ids; each vertex's hop (max_num_vertices,)),
    grouped as all ids, all CSRs, all hops."""
    return _sample("dgl_csr_neighbor_uniform_sample", csr_matrix, None, seed_arrays, num_args,
                   num_hops, num_neighbor, max_num_vertices)


def _dgl_csr_neighbor_non_uniform_sample(csr_matrix, probability, *seed_arrays, num_args=None,
                                         num_hops=1, num_neighbor=2, max_num_vertices=100):
    """As dgl_csr_neighbor_uniform_sample, neighbours drawn in proportion to their float32
    `probability`; a third group holds each sampled vertex's probability."""
    return _sample("dgl_csr_neighbor_non_uniform_sample", csr_matrix, probability,
                   seed_arrays, num_args, num_hops, num_neighbor, max_num_vertices)


# ------------------------------------------------------------------ compaction
def _sizes(op, graph_sizes, num_g):
    if graph_sizes is None:
        raise MXNetError(f"{op}: required parameter graph_sizes is not given")
    sizes = np.atleast_1d(np.asarray(graph_sizes.asnumpy() if isinstance(graph_sizes, NDArray)
                                     else graph_sizes)).reshape(-1)
    if sizes.dtype.kind not in "iuf" or len(sizes) < num_g or np.any(sizes < 0) or \
            np.any(sizes != np.floor(sizes)):
        raise MXNetError(f"{op}: graph_sizes must give a non-negative integer size for each "
                         f"of the {num_g} graphs, got {graph_sizes!r}")
    return [int(s) for s in sizes[:num_g]]


def _compact_one(op, k, graph, vids, size):
    _, indices, indptr, (rows, cols) = _csr(graph, op, f"graph {k}")
    ids = _dense(vids, op, f"vertex array {k}", dtype=_I64)
    if rows < size or cols < size or len(ids) < size:
        raise MXNetError(f"{op}: graph {k} of shape {(rows, cols)} with {len(ids)} vertex ids "
                         f"can't hold graph_sizes {size}")
    if len(ids) != len(indptr):
        raise MXNetError(f"{op}: vertex array {k} has {len(ids)} entries; it must have one "
                         f"per row of graph {k} and the count last ({len(indptr)})")
    if ids[-1] != size:
        raise MXNetError(f"{op}: vertex array {k} says {int(ids[-1])} vertices, graph_sizes "
                         f"says {size}")
    if np.any(ids[:size] == -1):
        raise MXNetError(f"{op}: vertex array {k} has -1 among its first {size} ids")
    if indptr[size] != len(indices):
        raise MXNetError(f"{op}: graph {k} has edges in rows past its {size} vertices")
    new_id = {}
    for i, v in enumerate(ids[:size].tolist()):
        new_id.setdefault(v, i)                      # (a repeated id: its first place)
    out = np.empty(len(indices), _I64)
    for j, v in enumerate(indices.tolist()):
        if v not in new_id:
            raise MXNetError(f"{op}: graph {k} has an edge to vertex {v}, which isn't among "
                             f"its {size} vertex ids")
        out[j] = new_id[v]
    return _make_csr(np.arange(len(indices)), out, indptr[:size + 1], (size, size), _I64)


def _dgl_graph_compact(*graph_data, graph_sizes=None, return_mapping=None, num_args=None):
    """The sampled subgraphs (the CSRs, then their vertex-id arrays, as the samplers return
    them) with the empty rows dropped and columns renumbered to rows: (size, size) CSRs of
    new edge ids. With return_mapping a second group follows that MXNet allocates and never
    fills: all-empty (size, size) CSRs."""
    op = "dgl_graph_compact"
    _num_args(op, num_args, len(graph_data), 2)
    if len(graph_data) % 2:
        raise MXNetError(f"{op}: expects as many vertex arrays as graphs, got "
                         f"{len(graph_data)} inputs")
    mapping = _flag(op, "return_mapping", return_mapping)
    num_g = len(graph_data) // 2
    sizes = _sizes(op, graph_sizes, num_g)
    outs = [_compact_one(op, k, graph_data[k], graph_data[num_g + k], sizes[k])
            for k in range(num_g)]
    if mapping:
        outs += [_make_csr([], [], [0] * (s + 1), (s, s), _I64) for s in sizes]
    return _one_or_list(outs)


def _public(f, name):
    g = accepting_common_keywords(f, label=f"nd.contrib.{name}")
    g.__name__ = g.__qualname__ = name
    return g


edge_id = _public(_edge_id, "edge_id")
dgl_adjacency = _public(_dgl_adjacency, "dgl_adjacency")
dgl_subgraph = _public(_dgl_subgraph, "dgl_subgraph")
dgl_csr_neighbor_uniform_sample = _public(_dgl_csr_neighbor_uniform_sample,
                                          "dgl_csr_neighbor_uniform_sample")
dgl_csr_neighbor_non_uniform_sample = _public(_dgl_csr_neighbor_non_uniform_sample,
                                              "dgl_csr_neighbor_non_uniform_sample")
dgl_graph_compact = _public(_dgl_graph_compact, "dgl_graph_compact")
