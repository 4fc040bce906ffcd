"""`mx.lr_scheduler`: learning rate as a function of the update count, MXNet 1.x semantics.

An optimizer calls `scheduler(num_update)` where num_update is the largest number of updates
any weight has received (counted before the update is applied, so the first step asks for 1).
Schedulers are stateful as in MXNet: Factor/MultiFactor decay `base_lr` in place as the count
passes their steps, so counts must not go backwards. Warm-up ramps linearly (or stays
constant) from `warmup_begin_lr` to the `base_lr` given at construction. As in MXNet, an
optimizer's `learning_rate` overrides `base_lr` after construction, but Poly and Cosine decay
from the base_lr they were built with and warm-up ends at it.
"""
import logging
import math


class LRScheduler:
    """Base: `base_lr` and the shared warm-up over the first `warmup_steps` updates."""

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        if not isinstance(warmup_steps, int):
            raise TypeError(f"{type(self).__name__}: warmup_steps must be an int, got "
                            f"{warmup_steps!r}")
        if warmup_begin_lr > base_lr:
            raise ValueError(f"{type(self).__name__}: base_lr {base_lr} has to be higher than "
                             f"warmup_begin_lr {warmup_begin_lr}")
        if warmup_steps < 0:
            raise ValueError(f"{type(self).__name__}: warmup_steps has to be positive or 0, "
                             f"got {warmup_steps}")
        if warmup_mode not in ("linear", "constant"):
            raise ValueError(f"{type(self).__name__}: warmup_mode must be 'linear' or "
                             f"'constant', got {warmup_mode!r}")
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        """The warm-up rate at `num_update` (< warmup_steps)."""
        if num_update >= self.warmup_steps:
            raise ValueError(f"update {num_update} is past the {self.warmup_steps} warm-up steps")
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        span = self.warmup_final_lr - self.warmup_begin_lr
        return self.warmup_begin_lr + span * float(num_update) / float(self.warmup_steps)

    def __call__(self, num_update):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")


class FactorScheduler(LRScheduler):
    """Multiply the rate by `factor` each time the count passes another `step` updates, never
    below `stop_factor_lr`: base_lr * factor**floor((num_update - 1) / step)."""

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise ValueError(f"FactorScheduler: step must be >= 1, got {step}")
        if factor > 1.0:
            raise ValueError(f"FactorScheduler: factor must be <= 1 to reduce the rate, got "
                             f"{factor}")
        self.step, self.factor, self.stop_factor_lr = step, factor, stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while num_update > self.count + self.step:  # a loop: a resumed count may skip steps
            self.count += self.step
            lowered = self.base_lr * self.factor
            self.base_lr = max(lowered, self.stop_factor_lr)
            # (the log lines MXNet's schedulers write, which training logs are read for)
            if lowered < self.stop_factor_lr:
                logging.info("Update[%d]: now learning rate arrived at %0.5e, will not change "
                             "in the future", num_update, self.base_lr)
            else:
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update,
                             self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by `factor` once the count passes each entry of the increasing list
    `step`."""

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or not step:
            raise TypeError(f"MultiFactorScheduler: step must be a non-empty list, got {step!r}")
        for i, s in enumerate(step):
            if i and s <= step[i - 1]:
                raise ValueError(f"MultiFactorScheduler: step must be increasing, got {step}")
            if s < 1:
                raise ValueError(f"MultiFactorScheduler: steps must be >= 1, got {step}")
        if factor > 1.0:
            raise ValueError(f"MultiFactorScheduler: factor must be <= 1, got {factor}")
        self.step, self.factor = step, factor
        self.cur_step_ind, self.count = 0, 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
            logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr


class PolyScheduler(LRScheduler):
    """final_lr + (base_lr - final_lr) * (1 - t / T)**pwr after warm-up, t counted from the end
    of warm-up and T = max_update - warmup_steps; final_lr once t passes T."""

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update("PolyScheduler", max_update)
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update, self.final_lr = max_update, final_lr
        self.max_steps = max_update - warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            left = 1 - float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * left ** self.power
        return self.base_lr


class CosineScheduler(LRScheduler):
    """final_lr + (base_lr - final_lr) * (1 + cos(pi t / T)) / 2 after warm-up (t, T as in
    PolyScheduler); final_lr once t passes T."""

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update("CosineScheduler", max_update)
        self.base_lr_orig = base_lr
        self.max_update, self.final_lr = max_update, final_lr
        self.max_steps = max_update - warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            phase = math.pi * (num_update - self.warmup_steps) / self.max_steps
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * (
                1 + math.cos(phase)) / 2
        return self.base_lr


def _check_max_update(name, max_update):
    if not isinstance(max_update, int):
        raise TypeError(f"{name}: max_update must be an int, got {max_update!r}")
    if max_update < 1:
        raise ValueError(f"{name}: max_update must be strictly positive, got {max_update}")
