"""MXNet 1.9.1's Executor.reshape shares the output memory with the executor it came from
(test_executor's test_reshape), and Executor.debug_str / Symbol.debug_str print the graph
(test_model_parallel prints an execution plan)."""
import numpy as np

import tracegrad as mx


def _fc_executor():
    y = mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=4)
    exe = y.simple_bind(mx.cpu(), x=(5, 4), grad_req="null")
    exe.arg_arrays[0][:] = 1
    exe.arg_arrays[1][:] = mx.nd.ones((4, 4))
    exe.arg_arrays[2][:] = 0
    return exe


def test_a_smaller_reshaped_executor_writes_into_the_old_outputs():
    exe = _fc_executor()
    new = exe.reshape(x=(3, 4))
    new.forward(is_train=False)
    np.testing.assert_array_equal(exe.outputs[0].asnumpy()[:3], np.full((3, 4), 4.0))
    np.testing.assert_array_equal(exe.outputs[0].asnumpy()[3:], np.zeros((2, 4)))
    np.testing.assert_array_equal(new.outputs[0].asnumpy(), np.full((3, 4), 4.0))
    exe.arg_arrays[1][:] = 2
    exe.forward(is_train=False)     # (the old executor's forward shows in the new one too)
    np.testing.assert_array_equal(new.outputs[0].asnumpy(), np.full((3, 4), 8.0))
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), np.full((5, 4), 8.0))


def test_a_larger_reshaped_executor_has_its_own_outputs():
    exe = _fc_executor()
    exe.forward(is_train=False)
    new = exe.reshape(allow_up_sizing=True, x=(6, 4))
    new.arg_arrays[0][:] = 2
    new.forward(is_train=False)
    np.testing.assert_array_equal(new.outputs[0].asnumpy(), np.full((6, 4), 8.0))
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), np.full((5, 4), 4.0))


def test_debug_str_lists_outputs_variables_and_ops_in_order():
    with mx.AttrScope(ctx_group="dev1"):
        net = mx.sym.elemwise_add(mx.sym.var("a"), mx.sym.var("b"), name="ab")
    net = mx.sym.FullyConnected(net, num_hidden=3, name="fc")
    text = net.debug_str()
    assert text.startswith("Symbol Outputs:\n\toutput[0]=fc(0)\nVariable:a\nVariable:b\n")
    assert "Op:elemwise_add, Name=ab\nInputs:\n\targ[0]=a(0) version=0\n" in text
    assert "Op:FullyConnected, Name=fc\nInputs:\n\targ[0]=ab(0)\n" in text
    assert "Attrs:\n\tnum_hidden=3\n" in text
    assert text.index("Variable:fc_weight") > text.index("Name=ab")
    exe = net.simple_bind(mx.cpu(), a=(512, 1024), b=(512, 1024))
    plan = exe.debug_str()
    assert plan.startswith(text)
    # a, b and their gradients: 4 x 2 MB; the weight and the outputs are small
    assert plan.endswith("Total 8 MB allocated\n")
