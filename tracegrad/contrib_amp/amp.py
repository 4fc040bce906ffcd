"""mx.contrib.amp's API (MXNet 1.9.1's mxnet.contrib.amp.amp): init, init_trainer,
scale_loss, unscale, the conversions and the op lists.

float16 is the low-precision type (tracegrad's arrays have no bfloat16). A training script:

    amp.init()                          # before the model is built
    net = ...; trainer = gluon.Trainer(...)
    amp.init_trainer(trainer)
    with autograd.record():
        loss = loss_fn(net(x), y)
        with amp.scale_loss(loss, trainer) as scaled:
            autograd.backward(scaled)
    trainer.step(batch_size)            # skipped (weights and states untouched) on overflow
"""
import contextlib
import logging
import warnings

import numpy as np

from ..base import MXNetError
from . import wrapping
from .checks import conditional_ops, low_precision_dtype, op_names
from .convert import (convert_bucketing_module, convert_hybrid_block, convert_model,
                      convert_symbol)
from .lists import symbol_fp16 as _fp16
from .loss_scaler import LossScaler

__all__ = ["init", "init_trainer", "scale_loss", "unscale", "convert_model",
           "convert_hybrid_block", "convert_bucketing_module", "convert_symbol", "list_lp16_ops",
           "list_fp32_ops",
           "list_lp16_fp32_ops", "list_conditional_fp32_ops", "list_widest_type_cast",
           "list_loss_output_functions", "list_lp16_use_fp32_params", "list_fp16_ops",
           "list_fp16_fp32_ops"]


class _Amp:
    """Process-wide AMP state, as MXNet's module globals."""
    initialized = False
    loss_scaler = None            # the scaler init made (its loss output ops read it) ...
    loss_scaler_given = False     # ... handed to the first init_trainer; later ones get new


def init(target_dtype="float16", target_precision_ops=None, conditional_fp32_ops=None,
         fp32_ops=None, layout_optimization=False):
    """Turn AMP on for the rest of the process: the operators of the lists (MXNet's, or the
    given ones replacing them) compute in float16 / float32 (wrapping.py). Call it before
    building the model; a second call changes nothing (it warns). layout_optimization (a
    GPU layout rewrite in MXNet 2.x) is accepted and has no effect."""
    if _Amp.initialized:
        warnings.warn("amp.init: AMP is already initialized; this call changes nothing "
                      "(the operator lists of the first call stay)", stacklevel=2)
        return
    where = "amp.init"
    dtype = np.dtype(low_precision_dtype(target_dtype, where))
    target = op_names(target_precision_ops, "target_precision_ops", where) \
        if target_precision_ops is not None else list_lp16_ops("float16")
    fp32 = op_names(fp32_ops, "fp32_ops", where) if fp32_ops is not None \
        else list_fp32_ops("float16")
    conditional = conditional_ops(conditional_fp32_ops, where) \
        if conditional_fp32_ops is not None else list_conditional_fp32_ops("float16")
    scaler = LossScaler()
    try:
        wrapping.install(dtype, target, fp32, conditional, list_widest_type_cast("float16"),
                         list_loss_output_functions("float16"), scaler, _refuse_unknown)
    except BaseException:
        wrapping.uninstall()        # all or nothing
        raise
    _Amp.initialized, _Amp.loss_scaler, _Amp.loss_scaler_given = True, scaler, False
    logging.info("Using AMP")


def _refuse_unknown(names):
    """Listed names that are no operator here: MXNet's own ops tracegrad lacks are skipped
    (the default lists name them all); anything else is a mistake worth an error."""
    known = set(list_lp16_ops("float16") + list_fp32_ops("float16") +
                list_lp16_fp32_ops("float16") + list_widest_type_cast("float16") +
                [c[0] for c in list_conditional_fp32_ops("float16")])
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        raise MXNetError(f"amp.init: no operator named {', '.join(map(repr, unknown))} in "
                         f"mx.nd or mx.sym (nor in MXNet's AMP lists)")


def _reset():
    """Undo init (every wrapped function back as it was) and forget the loss scaler: for
    tests, which must not leave AMP on for other tests of the same process."""
    wrapping.uninstall()
    _Amp.initialized, _Amp.loss_scaler, _Amp.loss_scaler_given = False, None, False


def _trainer_class():
    from ..gluon.trainer import Trainer
    return Trainer


def _not_a_trainer(obj, where):
    from ..optimizer import Optimizer
    if isinstance(obj, Optimizer):
        return TypeError(f"{where}: AMP is currently only compatible with Gluon Trainer (got "
                         f"an Optimizer)")
    return TypeError(f"{where}: optimizer_or_trainer should be a Gluon Trainer or an "
                     f"optimizer, instead is {type(obj).__name__}")


def init_trainer(optimizer_or_trainer):
    """Attach a dynamic loss scaler to a gluon Trainer: its step then checks the gradients
    first and skips the update when one overflowed (MXNet's Trainer._update)."""
    if not _Amp.initialized:
        raise MXNetError("amp.init_trainer: AMP is not initialized; call amp.init() first")
    if not isinstance(optimizer_or_trainer, _trainer_class()):
        raise _not_a_trainer(optimizer_or_trainer, "amp.init_trainer")
    if _Amp.loss_scaler_given:
        scaler = LossScaler()
    else:
        scaler, _Amp.loss_scaler_given = _Amp.loss_scaler, True
    optimizer_or_trainer._amp_loss_scaler = scaler
    optimizer_or_trainer._amp_original_scale = optimizer_or_trainer._scale


@contextlib.contextmanager
def scale_loss(loss, optimizer_or_trainer):
    """`with amp.scale_loss(loss, trainer) as scaled: scaled.backward()`: the loss (or each
    loss of a list) times the current loss scale; the trainer divides it out of the
    gradients in its next step."""
    trainer = optimizer_or_trainer
    scaler = getattr(trainer, "_amp_loss_scaler", None)
    if scaler is None:
        raise MXNetError("amp.scale_loss: the trainer has no loss scaler; did you forget to "
                         "call amp.init_trainer(trainer)?")
    scale = scaler.loss_scale
    trainer._scale = trainer._amp_original_scale / scale
    if isinstance(loss, (list, tuple)):
        yield [item * scale for item in loss]
    else:
        yield scale * loss


def unscale(optimizer_or_trainer):
    """Divide the loss scale out of the gradients now (to read or clip them before step);
    the trainer's next step then rescales by 1 only."""
    from ..tracing import capture
    trainer = optimizer_or_trainer
    if not isinstance(trainer, _trainer_class()):
        raise _not_a_trainer(trainer, "amp.unscale")
    capture.before_write()      # a step still pending computes its gradients first
    scale = trainer._scale
    for p in trainer._params:
        if p.grad_req != "null" and p._data is not None:
            for g in p.list_grad():
                g *= scale
    trainer._scale = 1.0


def list_lp16_ops(target_dtype):
    """MXNet's operators AMP runs in float16."""
    low_precision_dtype(target_dtype, "amp.list_lp16_ops")
    return list(_fp16.FP16_FUNCS)


def list_fp32_ops(target_dtype):
    """MXNet's operators AMP runs in float32."""
    low_precision_dtype(target_dtype, "amp.list_fp32_ops")
    return list(_fp16.FP32_FUNCS)


def list_lp16_fp32_ops(target_dtype):
    """MXNet's operators that run in whichever float type they are given."""
    low_precision_dtype(target_dtype, "amp.list_lp16_fp32_ops")
    return list(_fp16.FP16_FP32_FUNCS)


def list_conditional_fp32_ops(target_dtype):
    """(operator, attribute, values) entries that run in float32 for those values."""
    low_precision_dtype(target_dtype, "amp.list_conditional_fp32_ops")
    return [(op, attr, list(values)) for op, attr, values in _fp16.CONDITIONAL_FP32_FUNCS]


def list_widest_type_cast(target_dtype):
    """MXNet's multi-input operators that run in the widest float type of their inputs."""
    low_precision_dtype(target_dtype, "amp.list_widest_type_cast")
    return list(_fp16.WIDEST_TYPE_CASTS)


def list_loss_output_functions(target_dtype):
    """The loss output operators whose grad_scale takes the loss scale."""
    low_precision_dtype(target_dtype, "amp.list_loss_output_functions")
    return list(_fp16.LOSS_OUTPUT_FUNCTIONS)


def list_lp16_use_fp32_params(target_dtype):
    """Per-op parameters kept float32 in low precision: none for float16 (MXNet lists some
    for bfloat16 only)."""
    low_precision_dtype(target_dtype, "amp.list_lp16_use_fp32_params")
    return None


# MXNet 1.5 - 1.7's names (before bfloat16 made them "lp16")
list_fp16_ops = list_lp16_ops
list_fp16_fp32_ops = list_lp16_fp32_ops
