"""`mxnet.contrib.svrg_optimization.svrg_optimizer` (MXNet 1.9.1's): _SVRGOptimizer, the
optimizer SVRGModule installs. It routes each update by the parameter's name: the
"<name>_full" keys (the full gradients SVRG accumulates in a KVStore) to _AssignmentOptimizer,
which stores the pushed value, every other key to the default optimizer it wraps.

One deviation: MXNet tests `"full" in name`, which also sends an unnamed FullyConnected's
"fullyconnected0_weight" to the assignment; here only names ending in "_full" go there, the
only ones SVRGModule makes."""
from .. import optimizer as opt


@opt.register
class _AssignmentOptimizer(opt.Optimizer):
    """update() writes the gradient into the weight (the KVStore's sum of full gradients)."""

    def update(self, index, weight, grad, state):
        weight[:] = grad


@opt.register
class _SVRGOptimizer(opt.Optimizer):
    """_SVRGOptimizer(default_optimizer, **kwargs): default_optimizer (a name, created with
    every kwarg, or an Optimizer) updates the parameters; the base-class kwargs configure this
    wrapper too, as in MXNet."""
    _BASE_PARAMS = ("rescale_grad", "param_idx2name", "wd", "clip_gradient", "learning_rate",
                    "lr_scheduler", "sym", "begin_num_update", "multi_precision", "param_dict")

    def __init__(self, default_optimizer, **kwargs):
        super().__init__(**self._check_params(**kwargs))
        if isinstance(default_optimizer, str):
            self.default_opt = opt.create(default_optimizer, **kwargs)
        elif isinstance(default_optimizer, opt.Optimizer):
            self.default_opt = default_optimizer
        else:
            raise TypeError(f"_SVRGOptimizer: default_optimizer must be a name or an "
                            f"Optimizer, got {type(default_optimizer).__name__}")
        self.aux_opt = opt.create(_AssignmentOptimizer.__name__)
        # (a Trainer or KVStore hands this wrapper what the wrapped optimizer takes: numpy
        # buffers for a built-in one, NDArrays for one written by the user)
        self.takes_ndarrays = self.default_opt.takes_ndarrays
        self.rescales_grad_in_place = self.default_opt.rescales_grad_in_place

    @staticmethod
    def _check_params(**kwargs):
        """The kwargs the base Optimizer takes (the rest are the default optimizer's)."""
        return {k: v for k, v in kwargs.items() if k in _SVRGOptimizer._BASE_PARAMS}

    def _check_index(self, index):
        """The parameter name of an index (an int key, or already a name)."""
        if index in self.idx2name.values():
            return index
        if index in self.idx2name:
            return self.idx2name[index]
        param = self.param_dict.get(index) if isinstance(self.param_dict, dict) else None
        if param is not None:
            return param.name
        raise KeyError(f"_SVRGOptimizer: index {index!r} has no parameter name "
                       f"(param_idx2name knows {sorted(map(str, self.idx2name))})")

    def _for(self, index):
        return self.aux_opt if str(self._check_index(index)).endswith("_full") \
            else self.default_opt

    @property
    def learning_rate(self):
        return self.default_opt.learning_rate

    def set_learning_rate(self, lr):
        self.default_opt.set_learning_rate(lr)
        self.lr = float(lr)


# (assigned after the class statement: the base class would make methods defined in a
# tracegrad class take numpy buffers only, and these pass along whatever they are given)
def _update(self, index, weight, grad, state):
    """Update with the assignment for a "_full" key, else with the default optimizer."""
    self._for(index).update(index, weight, grad, state)


def _update_multi_precision(self, index, weight, grad, state):
    self._for(index).update_multi_precision(index, weight, grad, state)


def _create_state(self, index, weight):
    """The state of the optimizer that will update this index."""
    return self._for(index).create_state(index, weight)


def _create_state_multi_precision(self, index, weight):
    return self._for(index).create_state_multi_precision(index, weight)


_SVRGOptimizer.update = _update
_SVRGOptimizer.update_multi_precision = _update_multi_precision
_SVRGOptimizer.create_state = _create_state
_SVRGOptimizer.create_state_multi_precision = _create_state_multi_precision
