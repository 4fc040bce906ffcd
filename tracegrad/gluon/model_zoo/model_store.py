"""Where pretrained weights live: MXNet's `root` directory (default $MXNET_HOME/models, else
~/.mxnet/models) holding `<model name>-<8 hex digits>.params` as MXNet downloads them. Nothing is
downloaded here: a missing file is an error that says where to put it."""
import glob
import os

from ...base import MXNetError, data_dir


def default_root():
    return os.path.join(data_dir(), "models")


def get_model_file(name, root=None):
    """The path of `name`'s parameter file in `root`: `name-XXXXXXXX.params` (MXNet's naming,
    the 8 characters being the start of the file's sha1) or `name.params`."""
    root = os.path.expanduser(root if root is not None else default_root())
    found = sorted(glob.glob(os.path.join(glob.escape(root), glob.escape(name) + "-*.params")))
    found = [f for f in found if len(os.path.basename(f)) == len(name) + 16]
    plain = os.path.join(root, name + ".params")
    if os.path.isfile(plain):
        found.append(plain)
    if not found:
        raise MXNetError(
            f"pretrained weights for {name!r} not found: tracegrad never downloads them. Put "
            f"MXNet's file at {os.path.join(root, name + '-<hash>.params')} (as MXNet stores it) "
            f"or {plain}, or pass root= the directory that holds it")
    if len(found) > 1:
        raise MXNetError(f"several parameter files for {name!r} in {root}: {found}; keep one")
    return found[0]


def load_pretrained(net, name, root=None, ctx=None):
    """net.load_parameters(the file of `name`), as MXNet's pretrained=True does."""
    net.load_parameters(get_model_file(name, root), ctx=ctx)
    return net
