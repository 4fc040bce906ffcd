"""mx.contrib.amp: MXNet 1.9.1's automatic mixed precision (mxnet.contrib.amp) with float16
as the low-precision type (tracegrad's arrays have no bfloat16).

    from mxnet.contrib import amp        # import tracegrad as mx; mx.contrib.amp
    amp.init(); amp.init_trainer(trainer)
    with amp.scale_loss(loss, trainer) as scaled:
        scaled.backward()

amp.py: the API; wrapping.py: the operator wrappers init installs; loss_scaler.py: dynamic
loss scaling; convert.py: the graph rewrite for inference; lists/: MXNet's op lists.
Importing this package changes nothing: only amp.init wraps operators.
"""
from . import amp as _api
from . import lists, loss_scaler
from .amp import (convert_bucketing_module, convert_hybrid_block, convert_model,
                  convert_symbol, init, init_trainer,
                  list_conditional_fp32_ops, list_fp16_fp32_ops, list_fp16_ops,
                  list_fp32_ops, list_loss_output_functions, list_lp16_fp32_ops,
                  list_lp16_ops, list_lp16_use_fp32_params, list_widest_type_cast,
                  scale_loss, unscale)

__all__ = ["init", "init_trainer", "scale_loss", "unscale", "convert_model",
           "convert_hybrid_block", "convert_bucketing_module", "convert_symbol", "list_lp16_ops",
           "list_fp32_ops",
           "list_lp16_fp32_ops", "list_conditional_fp32_ops", "list_widest_type_cast",
           "list_loss_output_functions", "list_lp16_use_fp32_params", "list_fp16_ops",
           "list_fp16_fp32_ops", "lists", "loss_scaler"]
# tests: undo init (every wrapped function back), so AMP does not outlive the test
_reset = _api._reset
