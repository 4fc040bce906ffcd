"""`mx.module.executor_group.DataParallelExecutorGroup`: MXNet's executors of one symbol, one
per context, each bound to its slice of the batch (split by `workload`).

Parameters and their gradients are shared by name with `shared_group`'s executors (a
bucket's group shares the default bucket's weights). Every other argument (data, labels, an
argument that is no parameter) is kept per context in `shared_data_arrays`, a dict a group
bound with `shared_group` shares too, so buckets reuse one input buffer per name and shape.
The Module binds one executor itself and shows it through the same attributes
(`module.py`'s `_exec_group`); this class is for code that builds groups directly.
"""
import logging

import numpy as np

from .. import nd
from ..base import MXNetError

__all__ = ["DataParallelExecutorGroup"]


def _split(batch, workload):
    """MXNet's _split_input_slice: consecutive slices of the batch in proportion to
    workload."""
    total = float(sum(workload))
    if total <= 0 or any(w < 0 for w in workload):
        raise MXNetError(f"DataParallelExecutorGroup: workload {workload} must be positive")
    slices, start = [], 0
    for k, w in enumerate(workload):
        end = batch if k == len(workload) - 1 else min(batch, start + int(round(batch * w /
                                                                             total)))
        if end <= start:
            raise MXNetError(f"DataParallelExecutorGroup: batch size {batch} is too small for "
                             f"the workload {workload}")
        slices.append(slice(start, end))
        start = end
    return slices


class DataParallelExecutorGroup:
    """One executor per context over slices of each batch (module docstring)."""

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=logging,
                 fixed_param_names=None, grad_req="write", state_names=None,
                 group2ctxs=None):
        from .module import _descs
        self.symbol, self.contexts = symbol, list(contexts)
        self.workload = list(workload) if workload else [1] * len(self.contexts)
        if len(self.workload) != len(self.contexts):
            raise MXNetError(f"DataParallelExecutorGroup: {len(self.workload)} workloads for "
                             f"{len(self.contexts)} contexts")
        self.param_names = list(param_names)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.for_training, self.inputs_need_grad = for_training, inputs_need_grad
        self.fixed_param_names = list(fixed_param_names or [])
        self.state_names = list(state_names or [])
        self.logger = logger
        self.shared_data_arrays = (shared_group.shared_data_arrays if shared_group is not None
                                   else [{} for _ in self.contexts])
        data, label = _descs(data_shapes), _descs(label_shapes)
        self.data_names = [d.name for d in data]
        self.label_names = [d.name for d in label]
        reqs = {}
        for name in self.arg_names:
            if name in self.param_names:
                trainable = for_training and name not in self.fixed_param_names
                reqs[name] = (grad_req if isinstance(grad_req, str) else
                              grad_req.get(name, "write")) if trainable else "null"
            elif name in self.data_names and inputs_need_grad:
                reqs[name] = "write"
            else:
                reqs[name] = "null"
        self.grad_req = reqs
        self.bind_exec(data, label, shared_group)

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        """(Re)bind every context's executor for these input shapes."""
        self.data_shapes, self.label_shapes = list(data_shapes), list(label_shapes or [])
        self.batch_size = self.data_shapes[0].shape[0]
        self.slices = _split(self.batch_size, self.workload)
        previous = self.execs if reshape else None
        self.execs = []
        for i, ctx in enumerate(self.contexts):
            rows = self.slices[i].stop - self.slices[i].start
            shapes = {d.name: (rows,) + tuple(d.shape[1:])
                      for d in self.data_shapes + self.label_shapes}
            arg_shapes, _, aux_shapes = self.symbol.infer_shape(**shapes)
            if arg_shapes is None:
                raise MXNetError(f"DataParallelExecutorGroup: cannot infer every argument's "
                                 f"shape from {shapes}")
            shared = (previous[i] if previous is not None else
                      shared_group.execs[i] if shared_group is not None else None)
            args, grads = {}, {}
            for name, shape in zip(self.arg_names, arg_shapes):
                req = self.grad_req[name]
                if name in self.param_names and shared is not None and \
                        name in shared.arg_dict:
                    args[name] = shared.arg_dict[name]
                    g = shared.grad_dict.get(name)
                elif name in self.param_names:
                    args[name] = nd.zeros(shape)
                    g = nd.zeros(shape) if req != "null" else None
                else:
                    pool = self.shared_data_arrays[i]
                    if name not in pool or tuple(pool[name].shape) != tuple(shape):
                        pool[name] = nd.zeros(shape)
                    args[name] = pool[name]
                    g = nd.zeros(shape) if req != "null" else None
                if g is not None and req != "null":
                    grads[name] = g
            aux = {name: (shared.aux_dict[name] if shared is not None and
                          name in shared.aux_dict else nd.zeros(shape))
                   for name, shape in zip(self.aux_names, aux_shapes)}
            self.execs.append(self.symbol.bind(ctx, args, args_grad=grads,
                                               grad_req=self.grad_req, aux_states=aux))
        execs = self.execs
        self.data_arrays = [[(self.slices[i], e.arg_dict[n]) for i, e in enumerate(execs)]
                            for n in self.data_names]
        self.label_arrays = [[(self.slices[i], e.arg_dict[n]) for i, e in enumerate(execs)]
                             for n in self.label_names if n in self.arg_names]
        self.param_arrays = [[e.arg_dict[n] for e in execs] for n in self.param_names]
        self.grad_arrays = ([[e.grad_dict.get(n) for e in execs] for n in self.param_names]
                            if self.for_training else None)
        self.aux_arrays = [[e.aux_dict[n] for e in execs] for n in self.aux_names]
        self.input_grad_arrays = ([[e.grad_dict[n] for e in execs] for n in self.data_names]
                                  if self.inputs_need_grad else None)

    def reshape(self, data_shapes, label_shapes):
        """Rebind for new input shapes, parameters kept."""
        from .module import _descs
        self.bind_exec(_descs(data_shapes), _descs(label_shapes), reshape=True)

    def set_params(self, arg_params, aux_params, allow_extra=False):
        for e in self.execs:
            e.copy_params_from(arg_params, aux_params, allow_extra_params=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Each parameter averaged over the contexts, written into the given dicts."""
        for names, arrays, out in ((self.param_names, self.param_arrays, arg_params),
                                   (self.aux_names, self.aux_arrays, aux_params)):
            for name, per_ctx in zip(names, arrays):
                mean = np.mean([a.asnumpy() for a in per_ctx], axis=0)
                out[name] = nd.array(mean, dtype=per_ctx[0].dtype)

    def forward(self, data_batch, is_train=None):
        """Each context's slice of the batch's data (and labels), then its forward."""
        is_train = self.for_training if is_train is None else is_train
        feeds = list(zip(self.data_names, data_batch.data))
        if data_batch.label is not None:
            feeds += [(n, l) for n, l in zip(self.label_names, data_batch.label)
                      if n in self.arg_names]
        for i, e in enumerate(self.execs):
            sl = self.slices[i]
            e.forward(is_train=is_train, **{n: a[sl.start:sl.stop] for n, a in feeds})

    def backward(self, out_grads=None):
        if not self.for_training:
            raise MXNetError("DataParallelExecutorGroup.backward: bound with "
                             "for_training=False")
        for i, e in enumerate(self.execs):
            sl = self.slices[i]
            e.backward(None if out_grads is None else
                       [g[sl.start:sl.stop] for g in out_grads])

    def _merged(self, per_output, merge):
        if not merge:
            return per_output
        return [parts[0] if len(parts) == 1 else nd.concat(*parts, dim=0)
                for parts in per_output]

    def get_outputs(self, merge_multi_context=True):
        per_output = [[e.outputs[k] for e in self.execs]
                      for k in range(len(self.execs[0].outputs))]
        return self._merged(per_output, merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bound with inputs_need_grad=False")
        return self._merged(self.input_grad_arrays, merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        for i, e in enumerate(self.execs):
            sl = self.slices[i]
            mine = labels[i] if pre_sliced else [l[sl.start:sl.stop] for l in labels]
            eval_metric.update(mine, e.outputs)

    def install_monitor(self, mon):
        for e in self.execs:
            mon.install(e)
