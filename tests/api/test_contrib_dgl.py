"""nd.contrib's DGL graph ops (tracegrad/contrib_dgl.py) against MXNet 1.9.1's kernels
(src/operator/contrib/dgl_graph.cc): hand-computed outputs, a plain-Python reference for the
induced subgraph and edge_id, the samplers' invariants and seeding, and refused inputs."""
import warnings

import numpy as np
import pytest

import tracegrad as mx

nd = mx.nd
I64 = np.int64


def _k5():
    """MXNet's test graph: 5 vertices, every pair joined both ways, edge ids 1..20."""
    data = np.arange(1, 21, dtype=I64)
    indices = np.array([1, 2, 3, 4, 0, 2, 3, 4, 0, 1, 3, 4, 0, 1, 2, 4, 0, 1, 2, 3], I64)
    indptr = np.array([0, 4, 8, 12, 16, 20], I64)
    return nd.sparse.csr_matrix((data, indices, indptr), shape=(5, 5))


def _ids(values):
    return nd.array(np.array(values, I64), dtype=I64)


def _parts(csr):
    return csr.indptr.asnumpy().tolist(), csr.indices.asnumpy().tolist(), \
        csr.data.asnumpy().tolist()


def _random_graph(n, density, seed):
    """A CSR of edge ids 0, 1, ... in row order (the first one is a stored zero)."""
    rs = np.random.RandomState(seed)
    dense = rs.rand(n, n) < density
    ids = np.zeros((n, n), I64)
    ids[dense] = np.arange(dense.sum())
    rows, cols = np.nonzero(dense)
    return nd.sparse.csr_matrix((ids[dense], (rows, cols)), shape=(n, n)), dense, ids


# ------------------------------------------------------------------ edge_id / adjacency
def test_edge_id_reads_stored_entries_and_gives_minus_one_elsewhere():
    x = nd.sparse.csr_matrix(np.diag([1., 2., 3.]).astype(np.float32))
    got = nd.contrib.edge_id(x, nd.array([0, 0, 1, 1, 2, 2]), nd.array([0, 1, 1, 2, 0, 2]))
    assert got.dtype == np.float32
    assert got.asnumpy().tolist() == [1, -1, 2, -1, -1, 3]
    # u and v are truncated to integers as MXNet's C++ cast does
    got = nd.contrib.edge_id(x, nd.array([1.7, 2.2]), nd.array([1.9, 2.0]))
    assert got.asnumpy().tolist() == [2, 3]


def test_edge_id_matches_a_python_reference_and_keeps_the_graph_dtype():
    g, dense, ids = _random_graph(12, 0.3, seed=0)
    rs = np.random.RandomState(1)
    u, v = rs.randint(0, 12, 40), rs.randint(0, 12, 40)
    want = [ids[a, b] if dense[a, b] else -1 for a, b in zip(u, v)]
    got = nd.contrib.edge_id(g, nd.array(u, dtype=I64), nd.array(v, dtype=I64))
    assert got.dtype == np.int64
    assert got.asnumpy().tolist() == want


def test_dgl_adjacency_is_ones_on_the_same_pattern_in_float32():
    g, dense, _ = _random_graph(10, 0.3, seed=2)
    adj = nd.contrib.dgl_adjacency(g)
    assert adj.stype == "csr" and adj.dtype == np.float32 and adj.shape == (10, 10)
    assert adj.indptr.asnumpy().tolist() == g.indptr.asnumpy().tolist()
    assert adj.indices.asnumpy().tolist() == g.indices.asnumpy().tolist()
    assert np.all(adj.data.asnumpy() == 1.0) and len(adj.data) == dense.sum()
    np.testing.assert_array_equal(adj.asnumpy(), dense.astype(np.float32))


# ------------------------------------------------------------------ dgl_subgraph
def test_dgl_subgraph_of_mxnets_doc_example():
    x = nd.sparse.csr_matrix(np.array([[1, 0, 0, 2], [3, 0, 4, 0], [0, 5, 0, 0],
                                       [0, 6, 7, 0]], I64))
    new, old = nd.contrib.dgl_subgraph(x, _ids([0, 1, 2]), return_mapping=True)
    assert new.stype == old.stype == "csr" and new.shape == old.shape == (3, 3)
    assert new.dtype == old.dtype == np.int64
    assert _parts(new) == ([0, 1, 3, 4], [0, 0, 2, 1], [0, 1, 2, 3])
    assert _parts(old) == ([0, 1, 3, 4], [0, 0, 2, 1], [1, 3, 4, 5])
    one = nd.contrib.dgl_subgraph(x, _ids([1, 3]), return_mapping=False)
    assert not isinstance(one, list)
    assert _parts(one) == ([0, 0, 1], [0], [0])        # only 3 -> 1 (x[3, 1] = 6)


def test_dgl_subgraph_groups_outputs_and_matches_a_reference():
    g, dense, ids = _random_graph(30, 0.2, seed=3)
    sets = [[0, 4, 5, 9, 17, 29], [2, 3, 11, 12, 13, 20, 21, 28]]
    outs = nd.contrib.dgl_subgraph(g, *[_ids(s) for s in sets], return_mapping=True)
    assert len(outs) == 4
    for k, vs in enumerate(sets):
        new, old = outs[k], outs[k + 2]
        ptr, cols, eids = [0], [], []
        for a in vs:
            for j, b in enumerate(vs):
                if dense[a, b]:
                    cols.append(j)
                    eids.append(ids[a, b])
            ptr.append(len(cols))
        assert _parts(old) == (ptr, cols, eids)
        assert _parts(new) == (ptr, cols, list(range(len(cols))))


# ------------------------------------------------------------------ samplers
def test_uniform_sample_taking_every_neighbour_is_exact():
    out = nd.contrib.dgl_csr_neighbor_uniform_sample(
        _k5(), _ids([0]), num_args=2, num_hops=1, num_neighbor=4, max_num_vertices=6)
    assert len(out) == 3
    ids, sub, layer = out
    assert ids.dtype == layer.dtype == sub.dtype == np.int64
    assert ids.asnumpy().tolist() == [0, 1, 2, 3, 4, -1, 5]
    assert layer.asnumpy().tolist() == [0, 1, 1, 1, 1, -1]
    assert sub.stype == "csr" and sub.shape == (6, 5)
    assert _parts(sub) == ([0, 4, 4, 4, 4, 4, 4], [1, 2, 3, 4], [1, 2, 3, 4])
    compact = nd.contrib.dgl_graph_compact(sub, ids, graph_sizes=(5,), return_mapping=False)
    assert compact.shape == (5, 5) and compact.dtype == np.int64
    assert _parts(compact) == ([0, 4, 4, 4, 4, 4], [1, 2, 3, 4], [0, 1, 2, 3])


def test_uniform_sample_two_hops_reaches_the_whole_graph():
    ids, sub, layer = nd.contrib.dgl_csr_neighbor_uniform_sample(
        _k5(), _ids([3]), num_hops=2, num_neighbor=4, max_num_vertices=8)
    assert ids.asnumpy().tolist() == [0, 1, 2, 3, 4, -1, -1, -1, 5]
    assert layer.asnumpy().tolist() == [1, 1, 1, 0, 1, -1, -1, -1]
    k5 = _k5()
    assert sub.asnumpy()[:5].tolist() == k5.asnumpy().tolist()
    assert np.all(sub.asnumpy()[5:] == 0)


def test_uniform_sample_when_the_seeds_fill_the_budget_samples_nothing():
    with pytest.warns(RuntimeWarning, match="truncated"):
        ids, sub, layer = nd.contrib.dgl_csr_neighbor_uniform_sample(
            _k5(), _ids([4, 0, 2]), num_hops=1, num_neighbor=2, max_num_vertices=3)
    assert ids.asnumpy().tolist() == [0, 2, 4, 3]
    assert layer.asnumpy().tolist() == [0, 0, 0]
    assert _parts(sub) == ([0, 0, 0, 0], [], [])


def _check_sample(g_dense, g_ids, ids, sub, layer, num_hops, num_neighbor, max_nv):
    """Invariants of a sample: sorted distinct vertices, count last, rows that are subsets
    of the graph's of size min(degree, num_neighbor), edge ids that match."""
    ids, layer = ids.asnumpy(), layer.asnumpy()
    n = int(ids[-1])
    assert len(ids) == max_nv + 1 and 0 < n <= max_nv
    assert np.all(np.diff(ids[:n]) > 0) and np.all(ids[n:max_nv] == -1)
    assert np.all((layer[:n] >= 0) & (layer[:n] <= num_hops))
    ptr, cols, data = (a.asnumpy() for a in (sub.indptr, sub.indices, sub.data))
    assert np.all(ptr[n:] == ptr[n])
    for i in range(n):
        row, eids = cols[ptr[i]:ptr[i + 1]], data[ptr[i]:ptr[i + 1]]
        if len(row) == 0:
            continue
        deg = g_dense[ids[i]].sum()
        assert len(row) == min(deg, num_neighbor) and layer[i] < num_hops
        assert len(set(row.tolist())) == len(row)
        assert np.all(g_dense[ids[i], row]) and np.all(g_ids[ids[i], row] == eids)
    return ids[:n]


def test_uniform_sample_invariants_and_seeding():
    g, dense, gids = _random_graph(40, 0.25, seed=4)
    kw = dict(num_hops=2, num_neighbor=3, max_num_vertices=25)
    mx.random.seed(7)
    first = nd.contrib.dgl_csr_neighbor_uniform_sample(g, _ids([0, 5]), _ids([9]), num_args=3,
                                                        **kw)
    assert len(first) == 6
    for k in range(2):
        _check_sample(dense, gids, first[k], first[k + 2], first[k + 4], 2, 3, 25)
    mx.random.seed(7)
    again = nd.contrib.dgl_csr_neighbor_uniform_sample(g, _ids([0, 5]), _ids([9]), **kw)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    draws = {tuple(nd.contrib.dgl_csr_neighbor_uniform_sample(g, _ids([0]), **kw)[1]
                   .indices.asnumpy()) for _ in range(10)}
    assert len(draws) > 1                       # the state advances between calls


def test_non_uniform_sample_follows_the_probabilities():
    g, dense, gids = _random_graph(30, 0.4, seed=5)
    prob = np.zeros(30, np.float32)
    prob[::3] = 1.0                              # only every third vertex can be drawn
    out = nd.contrib.dgl_csr_neighbor_non_uniform_sample(
        g, nd.array(prob), _ids([1, 2]), num_args=3, num_hops=1, num_neighbor=2,
        max_num_vertices=10)
    assert len(out) == 4
    ids, sub, sub_prob, layer = out
    assert sub_prob.dtype == np.float32 and sub_prob.shape == (10,)
    kept = _check_sample(dense, gids, ids, sub, layer, 1, 2, 10)
    n = len(kept)
    np.testing.assert_array_equal(sub_prob.asnumpy()[:n], prob[kept])
    assert np.all(sub_prob.asnumpy()[n:] == 0)
    ptr, cols = sub.indptr.asnumpy(), sub.indices.asnumpy()
    for i, v in enumerate(kept.tolist()):
        drawn = cols[ptr[i]:ptr[i + 1]]
        if len(drawn) and np.sum(dense[v] & (prob > 0)) >= 2:
            assert np.all(prob[drawn] > 0), (v, drawn)    # zero weights are never drawn


def test_non_uniform_sample_with_just_enough_weight_is_exact_and_seeded():
    prob = nd.array([0, 0, 0.5, 0, 3.0])         # vertex 0's only drawable neighbours: 2, 4
    mx.random.seed(3)
    ids, sub, p, layer = nd.contrib.dgl_csr_neighbor_non_uniform_sample(
        _k5(), prob, _ids([0]), num_hops=1, num_neighbor=2, max_num_vertices=4)
    assert ids.asnumpy().tolist() == [0, 2, 4, -1, 3]
    assert layer.asnumpy().tolist() == [0, 1, 1, -1]
    np.testing.assert_allclose(p.asnumpy(), [0, 0.5, 3.0, 0])
    assert _parts(sub) == ([0, 2, 2, 2, 2], [2, 4], [2, 4])
    compact = nd.contrib.dgl_graph_compact(sub, ids, graph_sizes=3, return_mapping=True)
    assert len(compact) == 2
    assert _parts(compact[0]) == ([0, 2, 2, 2], [1, 2], [0, 1])
    assert compact[1].shape == (3, 3) and _parts(compact[1]) == ([0, 0, 0, 0], [], [])


def test_non_uniform_draw_frequencies_follow_the_weights():
    prob = nd.array([0, 8.0, 1.0, 1.0, 0])       # 0's neighbours 1..4, one drawn
    mx.random.seed(11)
    counts = np.zeros(5)
    for _ in range(300):
        sub = nd.contrib.dgl_csr_neighbor_non_uniform_sample(
            _k5(), prob, _ids([0]), num_neighbor=1, max_num_vertices=3)[1]
        counts[sub.indices.asnumpy()[0]] += 1
    assert counts[0] == counts[4] == 0
    assert 200 < counts[1] < 280 and counts[2] > 10 and counts[3] > 10


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("call, match", [
    (lambda: nd.contrib.dgl_adjacency(nd.ones((3, 3), dtype=I64)), "dgl_adjacency.*csr"),
    (lambda: nd.contrib.dgl_adjacency(_k5().astype(np.float32)),
     "dgl_adjacency.*int64.*float32"),
    (lambda: nd.contrib.edge_id(_k5(), nd.array([0, 5]), nd.array([1, 1])),
     "edge_id.*vertex id 5"),
    (lambda: nd.contrib.edge_id(_k5(), nd.array([0, 1]), nd.array([1])),
     "edge_id.*same length"),
    (lambda: nd.contrib.edge_id(_k5(), nd.array([0]), _ids([1])), "edge_id.*same dtype"),
    (lambda: nd.contrib.dgl_subgraph(_k5(), _ids([2, 1]), return_mapping=False),
     "dgl_subgraph.*sorted"),
    (lambda: nd.contrib.dgl_subgraph(_k5(), _ids([1, 7]), return_mapping=False),
     "dgl_subgraph.*vertex id 7"),
    (lambda: nd.contrib.dgl_subgraph(_k5(), nd.array([1, 2]), return_mapping=False),
     "dgl_subgraph.*int64.*float32"),
    (lambda: nd.contrib.dgl_subgraph(_k5(), _ids([1, 2])), "dgl_subgraph.*return_mapping"),
    (lambda: nd.contrib.dgl_subgraph(_k5(), _ids([1]), num_args=3, return_mapping=True),
     "dgl_subgraph.*num_args=3"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5(), _ids([0, 9])),
     "uniform_sample.*vertex id 9"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5(), _ids([-1])),
     "uniform_sample.*vertex id -1"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5(), nd.array([0])),
     "uniform_sample.*int64.*float32"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5(), _ids([0, 1, 2]),
                                                        max_num_vertices=2),
     "uniform_sample.*max_num_vertices=2"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5(), _ids([0]), num_neighbor=-1),
     "uniform_sample.*num_neighbor"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5()[0:3], _ids([0])),
     "uniform_sample.*square"),
    (lambda: nd.contrib.dgl_csr_neighbor_uniform_sample(_k5()), "uniform_sample.*at least"),
    (lambda: nd.contrib.dgl_csr_neighbor_non_uniform_sample(
        _k5(), nd.array([1, 1, 1]), _ids([0])), "non_uniform_sample.*3 entries"),
    (lambda: nd.contrib.dgl_csr_neighbor_non_uniform_sample(
        _k5(), nd.array([1, 1, -1, 1, 1]), _ids([0])),
     "non_uniform_sample.*non-negative, got -1.0 at vertex 2"),
    (lambda: nd.contrib.dgl_csr_neighbor_non_uniform_sample(
        _k5(), nd.ones((5,), dtype="float64"), _ids([0])), "non_uniform_sample.*float32"),
    (lambda: nd.contrib.dgl_graph_compact(_k5(), _ids([0, 1, 2, 3, 4, 9]), graph_sizes=5,
                                          return_mapping=False), "compact.*says 9"),
    (lambda: nd.contrib.dgl_graph_compact(_k5(), _ids([0, 1, 2, 3, 4]), graph_sizes=4,
                                          return_mapping=False), "compact.*one per row"),
    (lambda: nd.contrib.dgl_graph_compact(_k5(), _ids([0, 1, 2, 7, 4, 5]), graph_sizes=5,
                                          return_mapping=False), "compact.*vertex 3"),
    (lambda: nd.contrib.dgl_graph_compact(_k5(), _ids([0, 1, 2, 3, 4, 5]),
                                          return_mapping=False), "compact.*graph_sizes"),
    (lambda: nd.contrib.dgl_graph_compact(_k5(), _ids([0, 1, 2, 3, 4, 5]), _k5(),
                                          graph_sizes=5, return_mapping=False),
     "compact.*as many"),
])
def test_bad_input_is_refused_naming_the_op_and_value(call, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(mx.MXNetError, match=match):
            call()


def test_a_malformed_csr_is_refused_not_read_out_of_bounds():
    bad = nd.sparse.csr_matrix((np.array([1, 2], I64), np.array([1, 0], I64),
                                np.array([0, 2, 9], I64)), shape=(2, 2))
    with pytest.raises(mx.MXNetError, match="dgl_subgraph.*malformed indptr"):
        nd.contrib.dgl_subgraph(bad, _ids([0, 1]), return_mapping=False)
    with pytest.raises(mx.MXNetError, match="edge_id.*malformed indptr"):
        nd.contrib.edge_id(bad, _ids([1]), _ids([0]))
