"""The variables an op creates for its missing inputs carry the op's hidden __attributes__
(nnvm copies the op's attributes to them; MXNet's test_attr.py test_attr_dict), and an op's
lr_mult / wd_mult keyword is stored as __lr_mult__ / __wd_mult__: so lenet.py's
FullyConnected(..., name="stn_loc", attr={'lr_mult': '0.01'}) trains stn_loc_weight and
stn_loc_bias at a hundredth of the learning rate."""
import numpy as np

import tracegrad as mx


def test_created_variables_inherit_the_ops_hidden_attributes():
    data = mx.sym.Variable('data', attr={'mood': 'angry'})
    op = mx.sym.Convolution(data=data, name='conv', kernel=(1, 1), num_filter=1,
                            attr={'__mood__': 'so so'}, lr_mult=1)
    attrs = op.attr_dict()
    assert attrs['data'] == {'mood': 'angry'}
    for name in ('conv_weight', 'conv_bias'):
        assert attrs[name]['__mood__'] == 'so so' and attrs[name]['__lr_mult__'] == '1'
    assert attrs['conv']['__lr_mult__'] == '1' and attrs['conv']['kernel'] == '(1, 1)'
    given = mx.sym.Variable('w')
    fc = mx.sym.FullyConnected(data, weight=given, num_hidden=2, name='fc',
                               attr={'wd_mult': '0'})
    assert 'w' not in fc.attr_dict()                  # a variable passed in is left alone
    assert fc.attr_dict()['fc_bias'] == {'__wd_mult__': '0'}
    again = mx.sym.load_json(op.tojson()).attr_dict()
    assert again['conv_weight']['__mood__'] == 'so so'


def test_a_layers_lr_mult_scales_its_weights_updates_in_a_module():
    d = mx.sym.var('data')
    loc = mx.sym.FullyConnected(d, num_hidden=3, name='stn_loc', attr={'lr_mult': '0.01'})
    out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(loc, num_hidden=2, name='fc2'),
                               name='softmax')
    mod = mx.mod.Module(out)
    mod.bind([('data', (4, 5))], [('softmax_label', (4,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer_params={'learning_rate': 1.0})
    before = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    batch = mx.io.DataBatch([mx.nd.array(np.random.RandomState(0).rand(4, 5))],
                            [mx.nd.array([0, 1, 0, 1])])
    mod.forward(batch)
    mod.backward()
    group = mod._exec_group
    grads = {n: g[0].asnumpy() for n, g in zip(group.param_names, group.grad_arrays)}
    mod.update()
    after = mod.get_params()[0]
    for name, mult in (('stn_loc_weight', 0.01), ('stn_loc_bias', 0.01), ('fc2_weight', 1.0)):
        np.testing.assert_allclose(before[name] - after[name].asnumpy(),
                                   mult * grads[name] / 4, rtol=1e-4, atol=2e-7)
