"""More `nd.contrib` operators of MXNet 1.9.1, as composites of registry primitives (so they
record, differentiate and compile like every nd op):

- the transformer kernels gluon-nlp's BERT / Transformer call: interleaved_matmul_selfatt_qk /
  _valatt and interleaved_matmul_encdec_qk / _valatt. Their projections are interleaved per
  head: (seq, batch, heads * 3 * head_dim) read as (seq, batch, heads, [q k v], head_dim);
  attention scores are (batch * heads, q_len, k_len), batch-major; the query is scaled by
  1 / sqrt(head_dim).
- box_iou (corner or center boxes), AdaptiveAvgPooling2D (bins floor(i H / out) to
  ceil((i + 1) H / out)), gradientmultiplier (identity forward, gradient times `scalar`) and
  the straight-through round_ste / sign_ste (gradient passed unchanged).
- SparseEmbedding, MXNet's deprecated alias of Embedding(sparse_grad=True).
"""
import math

import numpy as np

from . import nd
from .array import NDArray
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["interleaved_matmul_selfatt_qk", "interleaved_matmul_selfatt_valatt",
           "interleaved_matmul_encdec_qk", "interleaved_matmul_encdec_valatt", "box_iou",
           "AdaptiveAvgPooling2D", "gradientmultiplier", "round_ste", "sign_ste",
           "bipartite_matching", "box_encode", "box_decode", "SparseEmbedding"]


def _heads_split(op, x, heads, parts, what):
    """(seq, batch, heads * parts * d) -> (batch * heads, parts, seq, d), and d."""
    if not isinstance(x, NDArray) or x.ndim != 3:
        raise MXNetError(f"{op}: {what} must be a 3-d (seq_len, batch, projections) NDArray, "
                         f"got {getattr(x, 'shape', type(x).__name__)}")
    seq, batch, width = x.shape
    heads = int(heads)
    if heads < 1 or width % (heads * parts):
        raise MXNetError(f"{op}: the last axis of {what} {x.shape} must split into {heads} "
                         f"heads of {parts} equal projections")
    d = width // (heads * parts)
    y = nd.reshape(x, shape=(seq, batch, heads, parts, d))
    y = nd.transpose(y, axes=(1, 2, 3, 0, 4))               # (batch, heads, parts, seq, d)
    return nd.reshape(y, shape=(batch * heads, parts, seq, d)), d


def _part(y, i):
    n, _, seq, d = y.shape
    return nd.reshape(nd.slice_axis(y, axis=1, begin=i, end=i + 1), shape=(n, seq, d))


def _merge_heads(out, batch, heads):
    """(batch * heads, seq, d) -> (seq, batch, heads * d)."""
    n, seq, d = out.shape
    y = nd.transpose(nd.reshape(out, shape=(batch, heads, seq, d)), axes=(2, 0, 1, 3))
    return nd.reshape(y, shape=(seq, batch, heads * d))


def _check_att(op, attention, n, q_len, k_len):
    if not isinstance(attention, NDArray) or tuple(attention.shape) != (n, q_len, k_len):
        raise MXNetError(f"{op}: attention must be (batch * heads, q_len, k_len) = "
                         f"{(n, q_len, k_len)}, got {getattr(attention, 'shape', attention)}")


def interleaved_matmul_selfatt_qk(queries_keys_values, heads, **kwargs):
    """Scores q k^T / sqrt(head_dim) of self-attention: (batch * heads, seq, seq)."""
    if kwargs:
        return _redo(interleaved_matmul_selfatt_qk, locals())
    op = "interleaved_matmul_selfatt_qk"
    y, d = _heads_split(op, queries_keys_values, heads, 3, "queries_keys_values")
    q = (_part(y, 0) * (1.0 / math.sqrt(d)))
    return nd.batch_dot(q, _part(y, 1), transpose_b=True)


def interleaved_matmul_selfatt_valatt(queries_keys_values, attention, heads, **kwargs):
    """attention @ v of self-attention, heads merged back: (seq, batch, heads * head_dim)."""
    if kwargs:
        return _redo(interleaved_matmul_selfatt_valatt, locals())
    op = "interleaved_matmul_selfatt_valatt"
    y, _ = _heads_split(op, queries_keys_values, heads, 3, "queries_keys_values")
    seq, batch = queries_keys_values.shape[:2]
    _check_att(op, attention, y.shape[0], seq, seq)
    return _merge_heads(nd.batch_dot(attention, _part(y, 2)), batch, int(heads))


def interleaved_matmul_encdec_qk(queries, keys_values, heads, **kwargs):
    """Scores of encoder-decoder attention from queries (q_len, batch, heads * d) and
    interleaved keys_values (k_len, batch, heads * 2 * d): (batch * heads, q_len, k_len)."""
    if kwargs:
        return _redo(interleaved_matmul_encdec_qk, locals())
    op = "interleaved_matmul_encdec_qk"
    q, d = _heads_split(op, queries, heads, 1, "queries")
    kv, dk = _heads_split(op, keys_values, heads, 2, "keys_values")
    if d != dk or queries.shape[1] != keys_values.shape[1]:
        raise MXNetError(f"{op}: queries {queries.shape} and keys_values {keys_values.shape} "
                         f"disagree on the batch or the head size")
    return nd.batch_dot((_part(q, 0) * (1.0 / math.sqrt(d))), _part(kv, 0), transpose_b=True)


def interleaved_matmul_encdec_valatt(keys_values, attention, heads, **kwargs):
    """attention @ v of encoder-decoder attention: (q_len, batch, heads * head_dim)."""
    if kwargs:
        return _redo(interleaved_matmul_encdec_valatt, locals())
    op = "interleaved_matmul_encdec_valatt"
    kv, _ = _heads_split(op, keys_values, heads, 2, "keys_values")
    k_len, batch = keys_values.shape[:2]
    if not isinstance(attention, NDArray) or attention.ndim != 3:
        raise MXNetError(f"{op}: attention must be 3-d (batch * heads, q_len, k_len)")
    _check_att(op, attention, kv.shape[0], attention.shape[1], k_len)
    return _merge_heads(nd.batch_dot(attention, _part(kv, 1)), batch, int(heads))


def _corners(box, fmt):
    x0, y0, x1, y1 = (nd.slice_axis(box, axis=-1, begin=i, end=i + 1) for i in range(4))
    if fmt == "center":       # (cx, cy, w, h)
        x0, y0, x1, y1 = (nd.broadcast_sub(x0, (x1 * 0.5)), nd.broadcast_sub(y0, (y1 * 0.5)),
                          nd.broadcast_add(x0, (x1 * 0.5)), nd.broadcast_add(y0, (y1 * 0.5)))
    return x0, y0, x1, y1


def box_iou(lhs, rhs, format="corner", **kwargs):
    """Intersection over union of every lhs box (..., 4) with every rhs box (..., 4):
    shape lhs.shape[:-1] + rhs.shape[:-1]; boxes that do not overlap give 0, a box with a
    negative side has area 0."""
    if kwargs:
        return _redo(box_iou, locals())
    if format not in ("corner", "center"):
        raise MXNetError(f"box_iou: format must be 'corner' or 'center', got {format!r}")
    for name, box in (("lhs", lhs), ("rhs", rhs)):
        if not isinstance(box, NDArray) or box.ndim < 1 or box.shape[-1] != 4:
            raise MXNetError(f"box_iou: {name} must have 4 numbers on its last axis, got "
                             f"{getattr(box, 'shape', type(box).__name__)}")
    lead_l, lead_r = tuple(lhs.shape[:-1]), tuple(rhs.shape[:-1])
    l = nd.reshape(lhs, shape=(int(np.prod(lead_l, dtype=np.int64)), 1, 4))
    r = nd.reshape(rhs, shape=(1, int(np.prod(lead_r, dtype=np.int64)), 4))
    lx0, ly0, lx1, ly1 = _corners(l, format)
    rx0, ry0, rx1, ry1 = _corners(r, format)
    iw = nd.relu(nd.broadcast_sub(nd.broadcast_minimum(lx1, rx1), nd.broadcast_maximum(lx0, rx0)))
    ih = nd.relu(nd.broadcast_sub(nd.broadcast_minimum(ly1, ry1), nd.broadcast_maximum(ly0, ry0)))
    inter = nd.broadcast_mul(iw, ih)

    def area(x0, y0, x1, y1):
        w, h = nd.broadcast_sub(x1, x0), nd.broadcast_sub(y1, y0)
        ok = nd.broadcast_mul((w >= 0), (h >= 0))
        return nd.where(ok, nd.broadcast_mul(w, h), nd.zeros_like(w))
    union = nd.broadcast_sub(nd.broadcast_add(area(lx0, ly0, lx1, ly1),
                                              area(rx0, ry0, rx1, ry1)), inter)
    positive = (inter > 0)
    safe_union = nd.where(positive, union, nd.ones_like(union))
    iou = nd.where(positive, nd.broadcast_div(inter, safe_union),
                  nd.zeros_like(inter))
    return nd.reshape(iou, shape=lead_l + lead_r)


def _bins(n, out):
    """(out, n) averaging matrix of MXNet's adaptive pooling bins."""
    m = np.zeros((out, n), np.float64)
    for i in range(out):
        start, end = (i * n) // out, -(-((i + 1) * n) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def AdaptiveAvgPooling2D(data, output_size=(), **kwargs):
    """Average pooling of NCHW data to output_size (an int, (h, w), or () for 1 x 1), bin i
    covering rows floor(i H / h) to ceil((i + 1) H / h)."""
    if kwargs:
        return _redo(AdaptiveAvgPooling2D, locals())
    if not isinstance(data, NDArray) or data.ndim != 4:
        raise MXNetError(f"AdaptiveAvgPooling2D: data must be 4-d NCHW, got "
                         f"{getattr(data, 'shape', type(data).__name__)}")
    size = (output_size,) if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    if len(size) == 0:
        size = (1, 1)
    elif len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise MXNetError(f"AdaptiveAvgPooling2D: output_size must be an int or (height, "
                         f"width) of positive ints, got {output_size}")
    h, w = data.shape[2:]
    dt = np.dtype(data.dtype).name
    ph = nd.array(_bins(h, size[0]).T, dtype=dt)           # (H, oh)
    pw = nd.array(_bins(w, size[1]).T, dtype=dt)           # (W, ow)
    y = nd.dot(data, pw)                                    # (N, C, H, ow)
    y = nd.dot(nd.transpose(y, axes=(0, 1, 3, 2)), ph)       # (N, C, ow, oh)
    return nd.transpose(y, axes=(0, 1, 3, 2))


def gradientmultiplier(data, scalar=1.0, **kwargs):
    """data in the forward pass; the gradient flowing back is multiplied by `scalar`."""
    if kwargs:
        return _redo(gradientmultiplier, locals())
    scaled = (data * float(scalar))
    return nd.stop_gradient(data) + (scaled - nd.stop_gradient(scaled))


def _straight_through(value, data):
    return nd.stop_gradient(value) + (data - nd.stop_gradient(data))


def round_ste(data, **kwargs):
    """round(data) (halves away from zero) with the gradient of the identity."""
    if kwargs:
        return _redo(round_ste, locals())
    return _straight_through(nd.round(data), data)


def sign_ste(data, **kwargs):
    """sign(data) with the gradient of the identity."""
    if kwargs:
        return _redo(sign_ste, locals())
    return _straight_through(nd.sign(data), data)


def bipartite_matching(data, is_ascend=False, threshold=None, topk=-1, **kwargs):
    """Greedy matching of rows to columns of scores (..., N, M), as MXNet's: edges are taken
    best first (largest, or smallest with is_ascend), each row and column at most once, until
    a score passes `threshold` (below it, or above it with is_ascend) or `topk` matches are
    made. Returns (row_marker (..., N), col_marker (..., M)): the matched column / row index,
    -1 where unmatched, in data's dtype; no gradient. Written as min(N, M, topk) rounds of
    'take the best edge left' (ties go to the lowest flat index, as MXNet's stable sort)."""
    if kwargs:
        return _redo(bipartite_matching, locals())
    if threshold is None:
        raise MXNetError("bipartite_matching: threshold is required")
    if not isinstance(data, NDArray) or data.ndim < 2:
        raise MXNetError(f"bipartite_matching: data must be at least 2-d (..., N, M), got "
                         f"{getattr(data, 'shape', type(data).__name__)}")
    lead, (n, m) = tuple(data.shape[:-2]), data.shape[-2:]
    batch = int(np.prod(lead, dtype=np.int64))
    dt = np.dtype(data.dtype).name
    scores = nd.reshape(nd.stop_gradient(data), shape=(batch, n * m))
    sign = -1.0 if is_ascend else 1.0
    key = nd.cast(scores, dtype="float64") * sign     # larger key = better edge
    lowest = float(np.finfo(np.float64).min)
    key = nd.where(key >= sign * float(threshold), key, nd.ones_like(key) * lowest)
    rows_of = nd.array(np.repeat(np.arange(n), m), dtype="float64")
    cols_of = nd.array(np.tile(np.arange(m), n), dtype="float64")
    row_marker = nd.array(np.full((batch, n), -1.0))      # (n or m may be 0)
    col_marker = nd.array(np.full((batch, m), -1.0))
    rounds = min(n, m) if topk is None or int(topk) < 0 else min(n, m, int(topk))
    for _ in range(rounds):
        best = nd.argmax(key, axis=1)                               # (batch,)
        found = nd.max(key, axis=1) > lowest                        # an edge is left
        r, c = nd.take(rows_of, best), nd.take(cols_of, best)
        hit_r = nd.one_hot(r, n, dtype="float64") * nd.expand_dims(found, 1)
        hit_c = nd.one_hot(c, m, dtype="float64") * nd.expand_dims(found, 1)
        row_marker = nd.where(hit_r, nd.broadcast_to(nd.expand_dims(c, 1), shape=(batch, n)),
                              row_marker)
        col_marker = nd.where(hit_c, nd.broadcast_to(nd.expand_dims(r, 1), shape=(batch, m)),
                              col_marker)
        # drop every edge of the matched row and column
        used = nd.reshape(nd.broadcast_add(nd.expand_dims(hit_r, 2), nd.expand_dims(hit_c, 1)),
                          shape=(batch, n * m))
        key = nd.where(used, nd.ones_like(key) * lowest, key)
    return (nd.cast(nd.reshape(row_marker, shape=lead + (n,)), dtype=dt),
            nd.cast(nd.reshape(col_marker, shape=lead + (m,)), dtype=dt))


def _cols(box):
    return [nd.slice_axis(box, axis=-1, begin=i, end=i + 1) for i in range(4)]


def box_encode(samples, matches, anchors, refs, means, stds, **kwargs):
    """Regression targets of matched anchors, as MXNet's kernel: for samples > 0.5,
    ((ref centre - anchor centre) / anchor size - means[:2]) / stds[:2] and
    (log(ref size / anchor size) - means[2:]) / stds[2:], boxes in corner format; zero
    elsewhere. Returns (targets, masks), both (B, N, 4); no gradient (training labels)."""
    if kwargs:
        return _redo(box_encode, locals())
    for name, arr, ndim in (("samples", samples, 2), ("matches", matches, 2),
                            ("anchors", anchors, 3), ("refs", refs, 3)):
        if not isinstance(arr, NDArray) or arr.ndim != ndim:
            raise MXNetError(f"box_encode: {name} must be a {ndim}-d NDArray, got "
                             f"{getattr(arr, 'shape', type(arr).__name__)}")
    b, n = samples.shape
    if tuple(matches.shape) != (b, n) or tuple(anchors.shape) != (b, n, 4) or \
            refs.shape[0] != b or refs.shape[2] != 4:
        raise MXNetError(f"box_encode: expects samples and matches (B, N), anchors (B, N, 4) "
                         f"and refs (B, M, 4); got {samples.shape}, {matches.shape}, "
                         f"{anchors.shape}, {refs.shape}")
    for name, arr in (("means", means), ("stds", stds)):
        if not isinstance(arr, NDArray) or tuple(arr.shape) != (4,):
            raise MXNetError(f"box_encode: {name} must be an NDArray of 4 values, got "
                             f"{getattr(arr, 'shape', type(arr).__name__)}")
    dt = np.dtype(anchors.dtype).name
    samples, matches, anchors, refs, means, stds = (
        nd.stop_gradient(a) for a in (samples, matches, anchors, refs, means, stds))
    pick = nd.one_hot(matches, refs.shape[1], dtype=dt)              # (B, N, M)
    ref = nd.batch_dot(pick, refs)                                   # (B, N, 4)
    valid = nd.expand_dims(nd.cast(samples > 0.5, dt), axis=2)       # (B, N, 1)
    r0, r1, r2, r3 = _cols(ref)
    a0, a1, a2, a3 = _cols(anchors)
    rw, rh, aw, ah = r2 - r0, r3 - r1, a2 - a0, a3 - a1
    safe = lambda v: nd.where(nd.broadcast_to(valid, v.shape) > 0, v, nd.ones_like(v))
    aw, ah = safe(aw), safe(ah)
    tx = (r0 + rw * 0.5 - (a0 + aw * 0.5)) / aw
    ty = (r1 + rh * 0.5 - (a1 + ah * 0.5)) / ah
    tw, th = nd.log(safe(rw) / aw), nd.log(safe(rh) / ah)
    t = nd.concat(tx, ty, tw, th, dim=2)
    t = nd.broadcast_div(nd.broadcast_sub(t, means), stds)
    mask = nd.broadcast_to(valid, t.shape)
    return nd.where(mask > 0, t, nd.zeros_like(t)), mask


def box_decode(data, anchors, std0=1.0, std1=1.0, std2=1.0, std3=1.0, clip=-1.0,
               format="center", **kwargs):
    """Boxes (B, N, 4) in corner format from regression deltas `data` (B, N, 4) and anchors
    (1, N, 4) in `format` ('center' (x, y, w, h) or 'corner'): centre + delta * std * size,
    size * exp(delta * std) (the exponent at most `clip` when clip > 0), as MXNet's kernel."""
    if kwargs:
        return _redo(box_decode, locals())
    if format not in ("corner", "center"):
        raise MXNetError(f"box_decode: format must be 'corner' or 'center', got {format!r}")
    if not isinstance(data, NDArray) or data.ndim != 3 or data.shape[2] != 4:
        raise MXNetError(f"box_decode: data must be (B, N, 4), got "
                         f"{getattr(data, 'shape', type(data).__name__)}")
    n = data.shape[1]
    if not isinstance(anchors, NDArray) or anchors.ndim < 3 or anchors.size != n * 4:
        raise MXNetError(f"box_decode: anchors must hold (1, {n}, 4) boxes, got "
                         f"{getattr(anchors, 'shape', type(anchors).__name__)}")
    a = nd.reshape(anchors, shape=(1, n, 4))
    ax, ay, aw, ah = _cols(a)
    if format == "corner":
        aw, ah = aw - ax, ah - ay
        ax, ay = ax + aw * 0.5, ay + ah * 0.5
    d0, d1, d2, d3 = _cols(data)
    ox = nd.broadcast_add(nd.broadcast_mul(d0 * float(std0), aw), ax)
    oy = nd.broadcast_add(nd.broadcast_mul(d1 * float(std1), ah), ay)
    dw, dh = d2 * float(std2), d3 * float(std3)
    if clip > 0:
        dw, dh = nd.minimum(dw, float(clip)), nd.minimum(dh, float(clip))
    ow = nd.broadcast_mul(nd.exp(dw), aw) * 0.5
    oh = nd.broadcast_mul(nd.exp(dh), ah) * 0.5
    return nd.concat(ox - ow, oy - oh, ox + ow, oy + oh, dim=2)


def SparseEmbedding(data, weight, input_dim, output_dim, deterministic=False, **kwargs):
    """MXNet's deprecated contrib.SparseEmbedding: Embedding whose weight gradient is always
    row_sparse (Embedding with sparse_grad=True, sparse_rows.py). `deterministic` orders the
    gradient's accumulation on a GPU: no effect here. Its parameters have no sparse_grad
    (MXNet's parser rejects it, though the generated signature lists it)."""
    if kwargs:
        if "sparse_grad" in kwargs:
            raise MXNetError("SparseEmbedding: has no argument 'sparse_grad' (its gradient is "
                             "always row_sparse; use Embedding(..., sparse_grad=...) instead)")
        return _redo(SparseEmbedding, locals())
    return nd.Embedding(data, weight, input_dim=input_dim, output_dim=output_dim,
                        sparse_grad=True)
