"""example/numpy-ops/custom_softmax.py as written: MNISTIter made before the script's own
logging.basicConfig(level=DEBUG), then a Python CustomOp softmax (need_top_grad=False) as the
loss of an MLP trained by Module.fit. MXNet's iterator logs its load line from C++ (stderr):
it must not configure Python's root logger, or the script's basicConfig is a no-op and the
epoch lines fit logs never appear."""
import logging
import struct

import numpy as np

import tracegrad as mx

import example_custom_softmax


example_custom_softmax.register("example_softmax")


def _write_mnist(path, n, seed):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, n).astype(np.uint8)
    images = (rng.rand(n, 28, 28) * 40).astype(np.uint8)
    for i, k in enumerate(labels):      # a bright band whose row says the class
        images[i, 2 * k:2 * k + 3, :] = 255
    (path / "images").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    (path / "labels").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


def test_iterator_leaves_logging_to_the_script_and_custom_softmax_trains(tmp_path, capfd):
    _write_mnist(tmp_path, 200, 0)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers = []          # (pytest's capture handlers put back below)
    try:
        train = mx.io.MNISTIter(image=str(tmp_path / "images"), label=str(tmp_path / "labels"),
                                data_shape=(784,), batch_size=20, shuffle=True, flat=True,
                                silent=False, seed=10)
        assert root.handlers == []      # no implicit basicConfig
    finally:
        root.handlers, level = saved
        root.setLevel(level)
    err = capfd.readouterr().err
    assert "MNISTIter: load 200 images, shuffle=1, shape=(20,784)" in err

    data = mx.symbol.Variable('data')
    fc1 = mx.symbol.FullyConnected(data=data, name='fc1', num_hidden=32)
    act1 = mx.symbol.Activation(data=fc1, name='relu1', act_type="relu")
    fc3 = mx.symbol.FullyConnected(data=act1, name='fc3', num_hidden=10)
    mlp = mx.symbol.Custom(data=fc3, name='softmax', op_type='example_softmax')
    assert mlp.list_arguments()[-1] == 'softmax_label'
    mod = mx.mod.Module(mlp, context=mx.cpu())
    mod.fit(train_data=train, optimizer='sgd', initializer=mx.init.Xavier(),
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9, 'wd': 0.00001},
            num_epoch=3)
    assert mod.score(train, 'acc')[0][1] > 0.9

    # the gradient the CustomOp gives the net is softmax - onehot (need_top_grad=False)
    train.reset()
    batch = next(iter(train))
    mod.forward(batch, is_train=True)
    mod.backward()
    probs = mod.get_outputs()[0].asnumpy()
    onehot = np.eye(10)[batch.label[0].asnumpy().astype(int)]
    grad_b = mod._exec_group.grad_arrays[mod._exec_group.param_names.index('fc3_bias')][0]
    np.testing.assert_allclose(grad_b.asnumpy(), (probs - onehot).sum(0), rtol=1e-4, atol=1e-5)
