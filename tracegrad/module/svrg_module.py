"""SVRGModule: a Module trained by stochastic variance reduced gradient
(mxnet.contrib.svrg_optimization.svrg_module.SVRGModule, MXNet 1.9.1's).

Every `update_freq` epochs, update_full_grads(train_data) copies the weights into an auxiliary
module (the snapshot) and averages its gradients over the data: their sum over the batches
divided by (batches - last batch's pad / batch_size). As MXNet's, that sum starts from the
previous average (the averages are never zeroed). Each update() then replaces a parameter's
batch gradient g(w) by g(w) - g(snapshot) + average before the optimizer step, the snapshot's
gradient being the auxiliary module's on the same batch (it runs beside the module in
forward(is_train=True) and backward).

On one device MXNet's _SVRGOptimizer hands every update to the optimizer named by
`optimizer` (its "_full" keys only serve a KVStore), created without the symbol: the
variables' __lr_mult__ / __wd_mult__ attributes are ignored, and weight decay applies to
parameters named *_weight or *_gamma only (to all with an Optimizer instance).
"""
import logging
import warnings

from .. import nd
from .. import optimizer as opt
from .module import Module


class SVRGModule(Module):
    """SVRGModule(symbol, data_names, label_names, ..., update_freq): update_freq (a positive
    int) is how many epochs pass between full-gradient computations."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None, update_freq=None):
        super().__init__(symbol, data_names=data_names, label_names=label_names, logger=logger,
                         context=context, work_load_list=work_load_list,
                         fixed_param_names=fixed_param_names, state_names=state_names,
                         group2ctxs=group2ctxs, compression_params=compression_params)
        if not isinstance(update_freq, int):
            raise TypeError("update_freq in SVRGModule must be an integer to represent the "
                            "frequency for calculating full gradients")
        if update_freq <= 0:
            raise ValueError("update_freq in SVRGModule must be a positive integer to "
                             "represent the frequency for calculating full gradients")
        self.update_freq = update_freq
        self._mod_aux = Module(symbol, data_names, label_names, logger, context,
                               work_load_list, fixed_param_names, state_names, group2ctxs,
                               compression_params)
        self._param_dict = None

    def _svrg_names(self):
        return [n for n in self._param_names if self._params[n].grad_req != "null"]

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        super().bind(data_shapes, label_shapes, for_training, inputs_need_grad, force_rebind,
                     shared_module, grad_req)
        if for_training:
            self._mod_aux.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                               force_rebind, shared_module, grad_req)

    def reshape(self, data_shapes, label_shapes=None):
        super().reshape(data_shapes, label_shapes=label_shapes)
        self._mod_aux.reshape(data_shapes, label_shapes=label_shapes)

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Zero the full-gradient averages and install MXNet's _SVRGOptimizer around the
        optimizer (see the module docstring): created without the symbol, with rescale_grad
        1 / batch size unless given, and the parameter names plus their "_full" keys."""
        from ..contrib_svrg.svrg_optimizer import _SVRGOptimizer
        self._param_dict = [{k: nd.zeros(v.shape) for k, v in self.get_params()[0].items()}]
        params = dict(optimizer_params or {})
        params.setdefault("rescale_grad", 1.0 / self._data_shapes[0].shape[0])
        idx2name = dict(enumerate(self._param_names))
        for key in self._param_dict[0]:
            idx2name[max(idx2name) + 1] = key + "_full"
        params["default_optimizer"] = optimizer
        params["param_idx2name"] = idx2name
        svrg = opt.create(_SVRGOptimizer.__name__, **params)
        with warnings.catch_warnings():   # (MXNet checks the wrapper's rescale_grad)
            warnings.simplefilter("ignore")
            super().init_optimizer(kvstore, svrg, optimizer_params, force_init)

    def forward(self, data_batch, is_train=None):
        super().forward(data_batch, is_train)
        if is_train:
            self._mod_aux.forward(data_batch, is_train)

    def backward(self, out_grads=None):
        super().backward(out_grads)
        if self._mod_aux.binded:
            self._mod_aux.backward(out_grads)

    def update(self):
        """The optimizer step on the variance-reduced gradients."""
        self._update_svrg_gradients()
        super().update()

    def update_full_grads(self, train_data):
        """Snapshot the weights and accumulate the snapshot's average gradient over
        train_data (from the start)."""
        names = self._svrg_names()
        arg, aux = self.get_params()
        self._mod_aux.set_params(arg_params=arg, aux_params=aux)
        train_data.reset()
        nbatch = padding = 0
        full = self._param_dict[0]
        for batch in train_data:
            self._mod_aux.forward(batch, is_train=True)
            self._mod_aux.backward()
            nbatch += 1
            for name in names:
                full[name] = full[name] + self._mod_aux._exec.grad_dict[name]
            padding = batch.pad
        true_num_batch = nbatch - padding / train_data.batch_size
        for name in names:
            full[name] = full[name] / true_num_batch

    def _update_svrg_gradients(self):
        """g(w) - g(snapshot) + full average, written into the gradients the optimizer reads."""
        full, aux_grads = self._param_dict[0], self._mod_aux._exec.grad_dict
        for name in self._svrg_names():
            grad = self._exec.grad_dict[name]
            grad[:] = grad - aux_grads[name] + full[name]

    def _begin_epoch(self, epoch, train_data):
        """(fit) The full gradients every update_freq epochs, then the data from the start."""
        if epoch % self.update_freq == 0:
            self.update_full_grads(train_data)
        train_data.reset()

    def prepare(self, data_batch, sparse_row_id_fn=None):
        super().prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
        self._mod_aux.prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
