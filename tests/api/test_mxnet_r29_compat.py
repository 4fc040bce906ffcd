"""MXNet 1.9.1 behaviours of round 29: the executor monitor's backward entries (Module's
mx.mon.Monitor), autograd.get_symbol of hybridized calls (MXNet's CachedOp and inline_limit),
contrib.Proposal / MultiProposal (src/operator/contrib/multi_proposal.cc), and softmax /
log_softmax / softmin refusing integer input as MXNet's kernels do."""
import json
from functools import reduce

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.autograd import get_symbol


# ------------------------------------------------------------------ 1. monitor's backward
def _two_layer_net():
    x = mx.sym.Variable('data')
    x = mx.sym.FullyConnected(name='fc_0', data=x, num_hidden=2)
    x = mx.sym.Activation(name='act_0', data=x, act_type='sigmoid')
    x = mx.sym.FullyConnected(name='fc_1', data=x, num_hidden=2)
    x = mx.sym.Activation(name='act_1', data=x, act_type='sigmoid')
    return mx.sym.LinearRegressionOutput(data=x, name='softmax', grad_scale=2)


_PARAMS = {'fc_0_weight': [[.15, .20], [.25, .30]], 'fc_0_bias': [.35, .35],
           'fc_1_weight': [[.40, .45], [.50, .55]], 'fc_1_bias': [.60, .60]}
_DATA, _LABEL = [[0.05, .10]], [[.01, 0.99]]


def _module(mon):
    it = mx.io.NDArrayIter(nd.array(_DATA), nd.array(_LABEL), batch_size=1)
    mod = mx.mod.Module(_two_layer_net(), context=[mx.cpu()])
    mod.bind(it.provide_data, label_shapes=it.provide_label, for_training=True)
    mod.install_monitor(mon)
    mod.init_params(arg_params={k: nd.array(v) for k, v in _PARAMS.items()})
    return mod, next(iter(it))


def _numpy_backward():
    """The two-layer net's forward and MXNet's backward node outputs, in numpy."""
    def sig(z):
        return 1 / (1 + np.exp(-z))
    x, y = np.array(_DATA), np.array(_LABEL)
    w0, b0 = np.array(_PARAMS['fc_0_weight']), np.array(_PARAMS['fc_0_bias'])
    w1, b1 = np.array(_PARAMS['fc_1_weight']), np.array(_PARAMS['fc_1_bias'])
    a0 = sig(x @ w0.T + b0)
    a1 = sig(a0 @ w1.T + b1)
    g_out = 2 / 2 * (a1 - y)          # grad_scale / num_output * (out - label)
    g1 = g_out * a1 * (1 - a1)
    g_a0 = g1 @ w1
    g0 = g_a0 * a0 * (1 - a0)
    return {'softmax_backward_output0': g_out, 'softmax_backward_output1': np.zeros_like(y),
            'act_1_backward_output': g1, 'fc_1_backward_output0': g_a0,
            'fc_1_backward_output1': g1.T @ a0, 'fc_1_backward_output2': g1.sum(0),
            'act_0_backward_output': g0, 'fc_0_backward_output0': g0 @ w0,
            'fc_0_backward_output1': g0.T @ x, 'fc_0_backward_output2': g0.sum(0)}


def test_module_monitor_reports_mxnets_backward_entries():
    """tests/python/unittest/test_module.py::test_monitor: 21 entries."""
    def mean_abs(x):
        return nd.sum(nd.abs(x)) / reduce(lambda a, b: a * b, x.shape)
    mon = mx.mon.Monitor(1, stat_func=mean_abs, pattern='.*', sort=True)
    mod, batch = _module(mon)
    mon.tic()
    mod.forward_backward(batch)
    res = mon.toc()
    assert len(res) == 21
    counts = [sum(k.startswith(p) for _, k, _ in res)
              for p in ['act_0', 'act_1', 'data', 'fc_0', 'fc_1', 'softmax']]
    assert counts == [2, 2, 1, 6, 6, 4]
    want = _numpy_backward()
    got = {k: float(v.split('\t')[0]) for _, k, v in res}
    for name, value in want.items():
        assert got[name] == pytest.approx(np.abs(value).mean(), rel=1e-5, abs=1e-7), name


def test_executor_callback_sees_backward_arrays_in_order():
    sym = _two_layer_net()
    exe = sym.simple_bind(mx.cpu(), data=(1, 2), softmax_label=(1, 2),
                          grad_req={k: 'write' for k in _PARAMS})
    for k, v in _PARAMS.items():
        exe.arg_dict[k][:] = nd.array(v)
    exe.arg_dict['data'][:] = nd.array(_DATA)
    exe.arg_dict['softmax_label'][:] = nd.array(_LABEL)
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append((name, arr.asnumpy())))
    exe.forward(is_train=True)
    n_forward = len(seen)
    exe.backward()
    names = [n for n, _ in seen[n_forward:]]
    assert names == ['softmax_backward_output0', 'softmax_backward_output1',
                     'act_1_backward_output', 'fc_1_backward_output0',
                     'fc_1_backward_output1', 'fc_1_backward_output2',
                     'act_0_backward_output', 'fc_0_backward_output0',
                     'fc_0_backward_output1', 'fc_0_backward_output2']
    want = _numpy_backward()
    for name, arr in seen[n_forward:]:
        np.testing.assert_allclose(arr, want[name], rtol=1e-5, atol=1e-7)
    # the node-by-node report matches the executor's own gradients
    np.testing.assert_allclose(exe.grad_dict['fc_0_weight'].asnumpy(),
                               want['fc_0_backward_output1'], rtol=1e-5)


def _backward_entries(loss, args, grad_names):
    exe = loss.bind(mx.cpu(), args={k: nd.array(v) for k, v in args.items()},
                    args_grad={k: nd.zeros(args[k].shape) for k in grad_names},
                    grad_req={k: 'write' if k in grad_names else 'null' for k in args})
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append((name, arr.asnumpy())))
    exe.forward(is_train=True)
    n_forward = len(seen)
    exe.backward()
    return exe, seen[n_forward:]


def test_monitor_backward_sum_grad_and_zero_nodes():
    """An entry read twice gets MXNet's 'sum_grad' node; a zeros node (BlockGrad's backward,
    an elementwise op's below it) is reported only where its zeros are used."""
    data = mx.sym.Variable('data')
    fc = mx.sym.FullyConnected(data, num_hidden=3, no_bias=True, name='fc')
    sq = mx.sym.elemwise_mul(fc, fc, name='sq')
    bg = mx.sym.BlockGrad(fc, name='bg')
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.elemwise_add(sq, bg, name='add'), name='total'),
                           name='loss')
    rs = np.random.RandomState(3)
    x, w = rs.randn(2, 4), rs.randn(3, 4)
    exe, back = _backward_entries(loss, {'data': x, 'fc_weight': w}, ['fc_weight'])
    assert [n for n, _ in back] == [
        'loss_backward_output', 'total_backward_output', 'add_backward_output0',
        'add_backward_output1', 'sq_backward_output0', 'sq_backward_output1',
        'sum_grad_output', 'fc_backward_output0', 'fc_backward_output1']
    got = dict(back)
    f = x @ w.T
    np.testing.assert_allclose(got['sq_backward_output0'], f, rtol=1e-5)
    np.testing.assert_allclose(got['add_backward_output1'], np.ones_like(f))
    np.testing.assert_allclose(got['sum_grad_output'], 2 * f, rtol=1e-5)
    np.testing.assert_allclose(got['fc_backward_output0'], 2 * f @ w, rtol=1e-5)
    np.testing.assert_allclose(got['fc_backward_output1'], (2 * f).T @ x, rtol=1e-5)
    np.testing.assert_allclose(exe.grad_dict['fc_weight'].asnumpy(), (2 * f).T @ x,
                               rtol=1e-5)
    # below BlockGrad only: exp's backward is a zeros node (its output gradient is all
    # zeros), whose zeros reach w; FullyConnected's backward runs on the zeros
    wv = mx.sym.Variable('w')
    cut = mx.sym.BlockGrad(mx.sym.exp(wv, name='e'), name='bg2')
    fc2 = mx.sym.FullyConnected(mx.sym.BlockGrad(data, name='bg3'), num_hidden=4,
                                no_bias=True, name='fc2')
    loss2 = mx.sym.MakeLoss(mx.sym.sum(mx.sym.elemwise_add(cut, fc2, name='add2'),
                                       name='total2'), name='loss2')
    _, back2 = _backward_entries(loss2, {'w': rs.randn(2, 4), 'data': x,
                                         'fc2_weight': rs.randn(4, 4)}, ['w', 'fc2_weight'])
    assert [n for n, _ in back2] == [
        'loss2_backward_output', 'total2_backward_output', 'add2_backward_output0',
        'add2_backward_output1', 'fc2_backward_output0', 'fc2_backward_output1',
        'e_backward_output']
    assert not dict(back2)['e_backward_output'].any()
    np.testing.assert_allclose(dict(back2)['fc2_backward_output1'],
                               np.ones((2, 4)).T @ x, rtol=1e-5)


def test_monitor_pattern_and_interval_skip_backward_work():
    mon = mx.mon.Monitor(2, pattern='.*backward.*')
    mod, batch = _module(mon)
    steps = []
    for _ in range(3):
        mon.tic()
        mod.forward_backward(batch)
        steps.append(mon.toc())
    assert [len(s) for s in steps] == [10, 0, 10]
    assert all('backward' in k for _, k, _ in steps[0])
    mon2 = mx.mon.Monitor(1, pattern='fc_.*weight')    # no backward name matches
    mod2, batch2 = _module(mon2)
    mon2.tic()
    mod2.forward_backward(batch2)
    assert sorted(k for _, k, _ in mon2.toc()) == ['fc_0_weight', 'fc_1_weight']


def test_monitor_callback_survives_a_module_reshape():
    """test_operator.py::test_monitor_with_variable_input_shape: a callback set on the
    module's executor keeps reporting after a batch of another shape reshapes it (MXNet's
    Executor.reshape passes the callback on); test_utils.DummyIter repeats one batch."""
    from tracegrad.test_utils import DummyIter
    data = mx.sym.Variable('data')
    sym = mx.sym.Convolution(data, kernel=(1, 1), num_filter=1, name='conv')
    mod = mx.mod.Module(symbol=sym, label_names=None)
    mod.bind(for_training=False, data_shapes=[('data', (1, 3, 10, 10))])
    mod.init_params()
    names = []
    mod._exec_group.execs[0].set_monitor_callback(lambda n, a: names.append(n),
                                                  monitor_all=True)
    it = DummyIter(mx.io.NDArrayIter(data=nd.ones((1, 3, 10, 14)), batch_size=1))
    batch = next(it)
    assert next(it) is batch
    mod.forward(batch, is_train=False)
    assert names == ['data', 'conv_data', 'conv_weight', 'conv_weight', 'conv_bias',
                     'conv_bias', 'conv_output']
    assert mod.get_outputs()[0].shape == (1, 1, 10, 14)


# ------------------------------------------------------------------ 2. get_symbol / CachedOp
def _dense_stack(n=3, **hyb):
    net = mx.gluon.nn.HybridSequential()
    with net.name_scope():
        for _ in range(n):
            net.add(mx.gluon.nn.Dense(4, in_units=4))
    net.initialize(mx.init.Uniform(0.5))
    net.hybridize(**hyb)
    return net


def _recorded_graph(net, x):
    with autograd.record():
        y = net(x)
    sym = get_symbol(y)
    doc = json.loads(sym.tojson())
    y.backward()
    return sym, [n['op'] for n in doc['nodes']], y


def test_inline_limit_decides_between_the_ops_and_one_cached_op():
    """test_gluon.py::test_inline: inlined, the 3 FullyConnected nodes; above inline_limit,
    one _CachedOp node '_cachedop' over the data and the 6 parameters."""
    x = nd.array(np.random.RandomState(0).randn(2, 4))
    net = _dense_stack(inline_limit=3)
    _, ops_1, _ = _recorded_graph(net, x)
    net.hybridize(inline_limit=0)
    sym, ops_2, _ = _recorded_graph(net, x)
    assert len(ops_1) == len(ops_2) + 2 == 10
    assert ops_1.count('FullyConnected') == 3 and ops_1.count('null') == 7
    assert ops_2 == ['null'] * 7 + ['_CachedOp']
    assert json.loads(sym.tojson())['nodes'][-1]['name'] == '_cachedop'


def test_cached_op_defaults_and_static_alloc():
    x = nd.array(np.random.RandomState(1).randn(2, 4))
    assert _recorded_graph(_dense_stack(), x)[1][-1] == '_CachedOp'    # 3 ops > 2
    one = mx.gluon.nn.Dense(4, in_units=4, activation='relu')          # 2 ops: inlined
    one.initialize()
    one.hybridize()
    assert _recorded_graph(one, x)[1][-2:] == ['FullyConnected', 'Activation']
    one.hybridize(static_alloc=True)                                   # never inlined
    assert _recorded_graph(one, x)[1][-1] == '_CachedOp'


def test_symbol_of_a_graph_around_cached_calls_recomputes_it():
    from tracegrad.runtime import tape
    rs = np.random.RandomState(2)
    net = _dense_stack(inline_limit=0)
    dense = mx.gluon.nn.Dense(4, in_units=4)
    dense.initialize()
    dense.hybridize()
    x = nd.array(rs.randn(2, 4))
    x.attach_grad()
    for _ in range(2):
        with autograd.record():
            h = net(x * 2)
            y = dense(h) + net(h) + h
    sym = get_symbol(y)
    ops = [n['op'] for n in json.loads(sym.tojson())['nodes']]
    assert ops.count('_CachedOp') == 2 and ops.count('FullyConnected') == 1
    assert ops.count('null') == 9          # x and the 8 parameters, each once
    leaves, _ = tape.collect([y._value])
    args = {f"{'var' if leaf.var is not None else 'null'}{k}": nd.array(leaf.data)
            for k, leaf in enumerate(leaves)}
    x_name = next(f"var{k}" for k, leaf in enumerate(leaves) if leaf.owner() is x)
    x2 = nd.array(rs.randn(2, 4))
    args[x_name] = x2
    got = sym.eval(mx.cpu(), **args)[0].asnumpy()
    with autograd.pause():
        h2 = net(x2 * 2)
        want = (dense(h2) + net(h2) + h2).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_jit_function_calls_are_written_op_by_op():
    from tracegrad.tracing.jit import jit

    @jit
    def f(a):
        return nd.tanh(a) * 3

    x = nd.array([0.5, -1.0])
    x.attach_grad()
    for _ in range(3):
        with autograd.record():
            y = f(x) + 1
    sym = get_symbol(y)
    got = sym.eval(mx.cpu(), **{sym.list_arguments()[0]: nd.array([1.0, 2.0])})[0]
    np.testing.assert_allclose(got.asnumpy(), np.tanh([1.0, 2.0]) * 3 + 1, rtol=1e-6)


# ------------------------------------------------------------------ 3. (Multi)Proposal
def _ref_proposals(cls, bbox, info, scales, ratios, stride, pre, post, thresh, min_size,
                   iou_loss=False):
    """MXNet's multi_proposal.cc kernel, anchor by anchor, in float64."""
    n, c, hh, ww = cls.shape
    na = c // 2
    base = []
    for r in ratios:
        for s in scales:
            ctr = 0.5 * (stride - 1)
            nw = np.floor(np.sqrt(np.floor(stride * stride / r)) + 0.5) * s
            nh = np.floor(nw / s * r + 0.5) * s
            base.append((ctr - 0.5 * (nw - 1), ctr - 0.5 * (nh - 1),
                         ctr + 0.5 * (nw - 1), ctr + 0.5 * (nh - 1)))
    rois, scores = [], []
    for b in range(n):
        im_h, im_w, im_s = info[b]
        real_h, real_w = int(im_h / stride), int(im_w / stride)
        props = []
        for h in range(hh):
            for w in range(ww):
                for a in range(na):
                    x1, y1 = base[a][0] + w * stride, base[a][1] + h * stride
                    x2, y2 = base[a][2] + w * stride, base[a][3] + h * stride
                    d = bbox[b, 4 * a:4 * a + 4, h, w]
                    if iou_loss:
                        box = [x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]]
                    else:
                        bw, bh = x2 - x1 + 1, y2 - y1 + 1
                        cx, cy = x1 + 0.5 * (bw - 1), y1 + 0.5 * (bh - 1)
                        pcx, pcy = d[0] * bw + cx, d[1] * bh + cy
                        pw, ph = np.exp(d[2]) * bw, np.exp(d[3]) * bh
                        box = [pcx - 0.5 * (pw - 1), pcy - 0.5 * (ph - 1),
                               pcx + 0.5 * (pw - 1), pcy + 0.5 * (ph - 1)]
                    box = [min(max(v, 0.0), (im_w if i % 2 == 0 else im_h) - 1)
                           for i, v in enumerate(box)]
                    score = cls[b, na + a, h, w]
                    if h >= real_h or w >= real_w:
                        score = -1.0
                    ms = min_size * im_s
                    if box[2] - box[0] + 1 < ms or box[3] - box[1] + 1 < ms:
                        box = [box[0] - ms / 2, box[1] - ms / 2, box[2] + ms / 2,
                               box[3] + ms / 2]
                        score = -1.0
                    props.append(box + [score])
        order = sorted(range(len(props)), key=lambda i: -props[i][4])   # (stable)
        pre_n = min(pre if pre > 0 else len(props), len(props))
        dets = [props[i] for i in order[:pre_n]]
        keep, suppressed = [], [False] * pre_n
        for i in range(pre_n):
            if len(keep) >= min(post, pre_n):
                break
            if suppressed[i]:
                continue
            keep.append(i)
            ai = (dets[i][2] - dets[i][0] + 1) * (dets[i][3] - dets[i][1] + 1)
            for j in range(i + 1, pre_n):
                aj = (dets[j][2] - dets[j][0] + 1) * (dets[j][3] - dets[j][1] + 1)
                iw = max(0.0, min(dets[i][2], dets[j][2]) - max(dets[i][0], dets[j][0]) + 1)
                ih = max(0.0, min(dets[i][3], dets[j][3]) - max(dets[i][1], dets[j][1]) + 1)
                if iw * ih / (ai + aj - iw * ih) > thresh:
                    suppressed[j] = True
        for i in range(post):
            k = keep[i % len(keep)]
            rois.append([b] + dets[k][:4])
            scores.append([dets[k][4]])
    return np.array(rois), np.array(scores)


def _proposal_inputs(n=2, scales=(8.0, 16.0), ratios=(0.5, 1.0, 2.0), hw=(5, 6), seed=0):
    rs = np.random.RandomState(seed)
    a = len(scales) * len(ratios)
    cls = rs.rand(n, 2 * a, *hw).astype(np.float32)
    bbox = (rs.randn(n, 4 * a, *hw) * 0.3).astype(np.float32)
    info = np.array([[70, 90, 1.0], [52, 61, 0.6]], np.float32)[:n]
    return cls, bbox, info


@pytest.mark.parametrize("iou_loss", [False, True])
def test_multi_proposal_matches_mxnets_kernel(iou_loss):
    cls, bbox, info = _proposal_inputs()
    kw = dict(scales=(8.0, 16.0), ratios=(0.5, 1.0, 2.0), feature_stride=16,
              rpn_pre_nms_top_n=40, rpn_post_nms_top_n=25, threshold=0.6, rpn_min_size=10)
    rois, score = nd.contrib.MultiProposal(nd.array(cls), nd.array(bbox), nd.array(info),
                                           output_score=True, iou_loss=iou_loss, **kw)
    want_r, want_s = _ref_proposals(cls, bbox, info, kw['scales'], kw['ratios'], 16, 40, 25,
                                    0.6, 10, iou_loss)
    assert rois.shape == (50, 5) and score.shape == (50, 1) and rois.dtype == np.float32
    np.testing.assert_allclose(rois.asnumpy(), want_r, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(score.asnumpy(), want_s, rtol=1e-6)
    assert (rois.asnumpy()[:25, 0] == 0).all() and (rois.asnumpy()[25:, 0] == 1).all()
    only = nd.contrib.MultiProposal(nd.array(cls), nd.array(bbox), nd.array(info),
                                    iou_loss=iou_loss, **kw)
    np.testing.assert_array_equal(only.asnumpy(), rois.asnumpy())
    # an image of 16 x 40 pixels: 1 x 2 real positions, the rest padding, scored -1, as are
    # boxes under rpn_min_size * scale (widened by half of it on each side)
    small = np.array([[16, 40, 1.0], [40, 16, 2.0]], np.float32)
    kw.update(rpn_pre_nms_top_n=-1, rpn_post_nms_top_n=30, threshold=1.0, rpn_min_size=20)
    rois, score = nd.contrib.MultiProposal(nd.array(cls), nd.array(bbox), nd.array(small),
                                           output_score=True, iou_loss=iou_loss, **kw)
    want_r, want_s = _ref_proposals(cls, bbox, small, kw['scales'], kw['ratios'], 16, -1, 30,
                                    1.0, 20, iou_loss)
    np.testing.assert_allclose(rois.asnumpy(), want_r, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(score.asnumpy(), want_s, rtol=1e-6)
    s = score.asnumpy()[:, 0]
    assert (s[:30] > 0).sum() <= 12 and (s[30:] > 0).sum() <= 6 and (s == -1).sum() > 30


def test_proposal_is_multi_proposal_of_one_image_and_repeats_kept_boxes():
    """test_operator.py::test_multi_proposal_op's check, and fewer kept boxes than
    rpn_post_nms_top_n repeat in order."""
    cls, bbox, info = _proposal_inputs()
    kw = dict(scales=(8.0, 16.0), ratios=(0.5, 1.0, 2.0), rpn_pre_nms_top_n=30,
              rpn_post_nms_top_n=12, threshold=0.7, rpn_min_size=4, output_score=True)
    multi = nd.contrib.MultiProposal(nd.array(cls), nd.array(bbox), nd.array(info), **kw)
    for b in range(2):
        one = nd.contrib.Proposal(nd.array(cls[b:b + 1]), nd.array(bbox[b:b + 1]),
                                  nd.array(info[b:b + 1]), **kw)
        np.testing.assert_array_equal(one[0].asnumpy()[:, 1:],
                                      multi[0].asnumpy()[12 * b:12 * (b + 1), 1:])
        np.testing.assert_array_equal(one[1].asnumpy(), multi[1].asnumpy()[12 * b:12 * b + 12])
    # a threshold of 0 keeps only boxes overlapping nothing kept: the rest repeat
    r, s = nd.contrib.Proposal(nd.array(cls[:1]), nd.array(bbox[:1]), nd.array(info[:1]),
                               **dict(kw, threshold=0.0, rpn_post_nms_top_n=40))
    want_r, want_s = _ref_proposals(cls[:1], bbox[:1], info[:1], (8.0, 16.0),
                                    (0.5, 1.0, 2.0), 16, 30, 40, 0.0, 4)
    np.testing.assert_allclose(r.asnumpy(), want_r, rtol=1e-5, atol=1e-3)
    kept = len({tuple(row) for row in r.asnumpy()[:, 1:]})
    assert kept < 40 and (r.asnumpy()[kept:, 1:] == r.asnumpy()[:40 - kept, 1:]).all()


def test_multi_proposal_symbol_shapes_and_zero_gradients():
    cls, bbox, info = _proposal_inputs()
    sym = mx.sym.contrib.MultiProposal(
        cls_prob=mx.sym.var('cls_prob'), bbox_pred=mx.sym.var('bbox_pred'),
        im_info=mx.sym.var('im_info'), scales=(8, 16), ratios=(0.5, 1, 2),
        rpn_pre_nms_top_n=40, rpn_post_nms_top_n=7)
    arg_shapes, out_shapes, _ = sym.infer_shape(cls_prob=cls.shape)
    assert arg_shapes == [cls.shape, bbox.shape, (2, 3)] and out_shapes == [(14, 5)]
    assert sym.list_outputs() == ['_contrib_multiproposal0_output']
    grads = {k: nd.ones(v.shape) for k, v in
             (('cls_prob', cls), ('bbox_pred', bbox), ('im_info', info))}
    exe = sym.bind(mx.cpu(), args={'cls_prob': nd.array(cls), 'bbox_pred': nd.array(bbox),
                                   'im_info': nd.array(info)}, args_grad=grads)
    exe.forward(is_train=True)
    # (as MXNet's test: the head gradient is never read, so its shape is not checked)
    exe.backward([nd.ones((7, 5))])
    for g in grads.values():
        assert not g.asnumpy().any()
    x = nd.array(cls)
    x.attach_grad()
    with autograd.record():
        out = nd.contrib.MultiProposal(x, nd.array(bbox), nd.array(info), scales=(8, 16),
                                       rpn_post_nms_top_n=5)
    out.backward()
    assert x.grad.shape == cls.shape and not x.grad.asnumpy().any()


def test_proposal_argument_errors_name_the_op_and_shapes():
    cls, bbox, info = _proposal_inputs()
    c, b, i = nd.array(cls), nd.array(bbox), nd.array(info)
    with pytest.raises(mx.MXNetError, match=r"MultiProposal: expects bbox_pred \(2, 24, 5, "
                                            r"6\) and im_info \(2, 3\).*bbox_pred \(2, 23"):
        nd.contrib.MultiProposal(c, b[:, :23], i, scales=(8, 16))
    with pytest.raises(mx.MXNetError, match=r"MultiProposal: cls_prob has 6 anchors per "
                                            r"position .* len\(ratios\) x len\(scales\) = 12"):
        nd.contrib.MultiProposal(c, b, i)            # the default 4 scales
    with pytest.raises(mx.MXNetError, match=r"Proposal: takes one image \(batch 1\)"):
        nd.contrib.Proposal(c, b, i, scales=(8, 16))
    with pytest.raises(mx.MXNetError, match="float32 only; got cls_prob float64"):
        nd.contrib.MultiProposal(c.astype('float64'), b, i, scales=(8, 16))
    with pytest.raises(mx.MXNetError, match=r"MultiProposal: im_info gives an image of 200 x "
                                            r"90, 12 x 5 feature positions .* 5 x 6"):
        nd.contrib.MultiProposal(c, b, nd.array([[200, 90, 1], [50, 50, 1]]), scales=(8, 16))


# ------------------------------------------------------------------ 4. softmax of integers
@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_refuses_integer_input_as_mxnet(fn):
    op = getattr(nd, fn)
    for dtype, text in (("int32", "types, not int32"), ("int64", "types, not int64"),
                        ("uint8", "types not uint8")):
        x = nd.array([[1, 2, 3]], dtype=dtype)
        with pytest.raises(mx.MXNetError, match=f"{fn}: This operation only support floating "
                                                f"point {text}"):
            op(x)
        with pytest.raises(mx.MXNetError, match="only support floating point"):
            op(x, dtype='float32')          # dtype sets the output's type only
    x16 = nd.array([[1, 2, 3]], dtype='float16')
    out = op(x16, dtype='float32')
    assert out.dtype == np.float32
    z = np.array([1.0, 2.0, 3.0]) * (-1 if fn == "softmin" else 1)
    want = np.exp(z) / np.exp(z).sum()
    want = np.log(want) if fn == "log_softmax" else want
    np.testing.assert_allclose(out.asnumpy()[0], want, rtol=1e-3)
    with pytest.raises(mx.MXNetError, match=r"Invalid Input: 'int32', valid values are"):
        op(nd.array([[1.0, 2.0]]), dtype='int32')


def test_softmax_of_integers_refused_hybridized_and_in_symbols():
    class Net(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.log_softmax(x, axis=-1)
    net = Net()
    net.hybridize()
    np.testing.assert_allclose(net(nd.array([[0.0, 1.0]])).asnumpy(),
                               [[-np.log1p(np.e), 1 - np.log1p(np.e)]], rtol=1e-5)
    with pytest.raises(mx.MXNetError, match="not int32"):
        net(nd.array([[0, 1]], dtype='int32'))
    sym = mx.sym.softmax(mx.sym.var('x'), name='sm')
    with pytest.raises(mx.MXNetError, match=r"node 'sm' \(op softmax\).*not int64"):
        sym.eval(mx.cpu(), x=nd.array([[1, 2]], dtype='int64'))


def test_module_binds_name_shape_dtype_tuples_and_keeps_a_given_store():
    """Module.bind takes (name, shape, dtype) tuples (MXNet makes DataDesc(*t)); a KVStore
    object given to init_optimizer is the module's store even on one context (a type string
    names none there), as MXNet's _create_kvstore decides."""
    data = mx.sym.var("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3, name="fc"),
                               name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.bind(data_shapes=[("data", (4, 5), np.float32)],
             label_shapes=[("softmax_label", (4,), np.float32, "N")])
    assert [d.shape for d in mod.data_shapes] == [(4, 5)]
    mod.init_params()
    store = mx.kv.create("local")
    mod.init_optimizer(kvstore=store)
    assert mod._kvstore is store
    other = mx.mod.Module(net, context=mx.cpu())
    other.bind(data_shapes=[("data", (4, 5))], label_shapes=[("softmax_label", (4,))])
    other.init_params()
    other.init_optimizer(kvstore="local")
    assert other._kvstore is None
    with pytest.raises(TypeError, match="kvstore must be"):
        other.init_optimizer(kvstore=3, force_init=True)
