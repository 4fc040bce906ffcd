"""gluon.utils helpers MXNet 1.9.1 code imports: shape_is_known under legacy and numpy shape
semantics (0 / -1 unknown), replace_file, and HookHandle as the handle a forward hook
returns (detach() or a with block removes the hook)."""
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.gluon import nn
from tracegrad.gluon.utils import HookHandle, replace_file, shape_is_known


def test_shape_is_known_in_both_shape_semantics():
    assert shape_is_known((2, 3)) and not shape_is_known((2, 0))
    assert not shape_is_known(()) and not shape_is_known(None)
    with pytest.raises(ValueError):
        shape_is_known((2, -1))
    with mx.util.np_shape(True):
        assert shape_is_known((2, 0)) and shape_is_known(())
        assert not shape_is_known((2, -1))


def test_replace_file_and_hook_handles(tmp_path):
    src, dst = tmp_path / "new", tmp_path / "old"
    src.write_text("fresh")
    dst.write_text("stale")
    replace_file(str(src), str(dst))
    assert dst.read_text() == "fresh" and not src.exists()
    net = nn.Dense(2, in_units=3)
    net.initialize()
    seen = []
    with net.register_forward_hook(lambda block, inputs, out: seen.append(out.shape)) as h:
        assert isinstance(h, HookHandle)
        net(nd.ones((4, 3)))
    net(nd.ones((4, 3)))
    assert seen == [(4, 2)]
