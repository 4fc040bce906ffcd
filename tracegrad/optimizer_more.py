"""`mx.optimizer`: AdaDelta, Adamax, Nadam, Signum, Ftrl and LAMB with MXNet 1.9.1's formulas.

Each follows optimizer.py's pattern: `update` on numpy arrays (weight and states written in
place), and the same formula once more in IR (`fused_rule`) with its per-step numbers from
`fused_scalars`, so Trainer.step and step capture update every parameter in one native call.
Where MXNet's Python optimizer and its C++ kernel disagree with the docstring, the code wins
(AdaDelta has no learning rate and adds wd*w after the step; Signum and Ftrl clip only when
clip_gradient is truthy).
"""
import numpy as np

from .optimizer import Optimizer, register


def _sign(x):
    """MXNet's sign: -1, 0 or 1 in x's dtype."""
    return np.sign(x)


class _ClipIfSet:
    """Signum and Ftrl pass clip_gradient to their kernel only when it is truthy (MXNet:
    `if self.clip_gradient:`), and the kernel clips only when it is >= 0."""

    def _clipping(self):
        return bool(self.clip_gradient) and self.clip_gradient >= 0

    def _scaled(self, grad):
        g = grad * grad.dtype.type(self.rescale_grad)
        if self._clipping():
            np.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return g


@register
class AdaDelta(Optimizer):
    """acc_g = rho*acc_g + (1-rho)*g^2; delta = sqrt(acc_delta + eps)/sqrt(acc_g + eps)*g;
    acc_delta = rho*acc_delta + (1-rho)*delta^2; w -= delta + wd*w (no learning rate)."""

    rescales_grad_in_place = True   # (MXNet's update: `grad *= self.rescale_grad`)

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.epsilon = rho, epsilon

    def create_state(self, index, weight):
        return np.zeros_like(weight), np.zeros_like(weight)    # accumulated g, delta

    def update(self, index, weight, grad, state):
        wd = self._get_wd(index)
        self._update_count(index)
        g = self._scaled(grad)
        acc_g, acc_delta = state
        acc_g *= self.rho
        acc_g += (1.0 - self.rho) * g * g
        delta = np.sqrt(acc_delta + self.epsilon) / np.sqrt(acc_g + self.epsilon) * g
        acc_delta *= self.rho
        acc_delta += (1.0 - self.rho) * delta * delta
        weight -= delta + wd * weight

    def fused_structure(self):
        return (self._clipping(),)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        wd = self._get_wd(index)
        self._update_count(index)
        return (wd, self.rescale_grad, self.clip_gradient or 0.0, self.rho, 1.0 - self.rho,
                self.epsilon)

    def fused_rule(self, b, weight, grad, states, s):
        wd, rescale, clip, rho, one_m_rho, eps = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        acc_g = b.add(b.mul(states[0], rho), b.mul(b.mul(one_m_rho, g), g))
        delta = b.mul(b.div(b.sqrt(b.add(states[1], eps)), b.sqrt(b.add(acc_g, eps))), g)
        acc_delta = b.add(b.mul(states[1], rho), b.mul(b.mul(one_m_rho, delta), delta))
        return b.sub(weight, b.add(delta, b.mul(wd, weight))), [acc_g, acc_delta]


@register
class Adamax(Optimizer):
    """Adam with the infinity norm: m = b1*m + (1-b1)*g; u = max(b2*u, |g|);
    w -= lr/(1 - b1^t) * m/u, with g = clip(rescale_grad*grad + wd*w)."""

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2 = beta1, beta2

    def create_state(self, index, weight):
        return np.zeros_like(weight), np.zeros_like(weight)    # mean, infinity norm

    def _lr_t(self, index):
        t = self._update_count(index)
        return self._get_lr(index) / (1.0 - self.beta1 ** t), self._get_wd(index)

    def update(self, index, weight, grad, state):
        lr, wd = self._lr_t(index)
        g = self._scaled_wd(grad, weight, wd)
        m, u = state
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        np.maximum(self.beta2 * u, np.abs(g), out=u)
        weight -= lr * m / u

    def fused_structure(self):
        return (self._clipping(),)

    def fused_scalars(self, index):
        lr, wd = self._lr_t(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.beta1,
                1.0 - self.beta1, self.beta2)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, beta1, one_m_b1, beta2 = s
        g = b.add(b.mul(grad, rescale), b.mul(wd, weight))
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        m = b.add(b.mul(states[0], beta1), b.mul(one_m_b1, g))
        u = b.maximum(b.mul(beta2, states[1]), b.abs(g))
        return b.sub(weight, b.div(b.mul(lr, m), u)), [m, u]


@register
class Nadam(Optimizer):
    """Adam with Nesterov momentum and the warming momentum schedule
    mu_t = beta1*(1 - 0.5*0.96^(t*schedule_decay)). As in MXNet, the schedule's running
    product `m_schedule` is one number for the optimizer, multiplied at every parameter's
    update."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.0
        self._m_schedule_before = 1.0

    def create_state(self, index, weight):
        return np.zeros_like(weight), np.zeros_like(weight)    # mean, variance

    def _numbers(self, index):
        """Count the update; (lr, wd, t, mu_t, mu_t+1, m_schedule_next)."""
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        momentum_t = self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))
        momentum_t_1 = self.beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.schedule_decay))
        self.m_schedule = self.m_schedule * momentum_t
        return lr, wd, t, momentum_t, momentum_t_1, self.m_schedule * momentum_t_1

    def update(self, index, weight, grad, state):
        lr, wd, t, momentum_t, momentum_t_1, m_schedule_next = self._numbers(index)
        g = self._scaled_wd(grad, weight, wd)
        m, v = state
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * g * g
        g_prime = g / (1.0 - self.m_schedule)
        m_prime = m / (1.0 - m_schedule_next)
        v_prime = v / (1.0 - self.beta2 ** t)
        m_bar = (1.0 - momentum_t) * g_prime + momentum_t_1 * m_prime
        weight -= lr * m_bar / (np.sqrt(v_prime) + self.epsilon)

    def fused_structure(self):
        return (self._clipping(),)

    def fused_scalars(self, index):
        lr, wd, t, momentum_t, momentum_t_1, m_schedule_next = self._numbers(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.beta1,
                1.0 - self.beta1, self.beta2, 1.0 - self.beta2, self.epsilon,
                1.0 - self.m_schedule, 1.0 - m_schedule_next, 1.0 - self.beta2 ** t,
                1.0 - momentum_t, momentum_t_1)

    def fused_scalar_vector(self, indices):
        self._m_schedule_before = self.m_schedule
        return super().fused_scalar_vector(indices)

    def uncount(self, indices, num_update):
        super().uncount(indices, num_update)
        self.m_schedule = self._m_schedule_before

    def fused_rule(self, b, weight, grad, states, s):
        (lr, wd, rescale, clip, beta1, one_m_b1, beta2, one_m_b2, eps, one_m_sched,
         one_m_sched_next, one_m_b2t, one_m_mu, mu_next) = s
        g = b.add(b.mul(grad, rescale), b.mul(wd, weight))
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        m = b.add(b.mul(states[0], beta1), b.mul(one_m_b1, g))
        v = b.add(b.mul(states[1], beta2), b.mul(b.mul(one_m_b2, g), g))
        m_bar = b.add(b.mul(one_m_mu, b.div(g, one_m_sched)),
                      b.mul(mu_next, b.div(m, one_m_sched_next)))
        step = b.div(b.mul(lr, m_bar), b.add(b.sqrt(b.div(v, one_m_b2t)), eps))
        return b.sub(weight, step), [m, v]


@register
class Signum(_ClipIfSet, Optimizer):
    """Sign of the momentum: mom = m*mom - (1-m)*(wd*w + g); w = (1 - lr*wd_lh)*w + lr*sign(mom).
    momentum=0 is signSGD: w = (1 - lr*wd)*w - lr*sign(g). g = clip(rescale_grad*grad)."""

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum, self.wd_lh = momentum, wd_lh

    def create_state(self, index, weight):
        return np.zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = self._scaled(grad)
        if state is None:
            weight *= 1.0 - lr * wd
            weight -= lr * _sign(g)
            return
        momentum = self.momentum if self.momentum > 0 else 0.0
        state *= momentum
        state -= (1.0 - momentum) * wd * weight
        state -= (1.0 - momentum) * g
        weight *= 1.0 - lr * self.wd_lh
        weight += lr * _sign(state)

    def fused_structure(self):
        return (self.momentum != 0.0, self._clipping())

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        momentum = self.momentum if self.momentum > 0 else 0.0
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, momentum,
                1.0 - momentum, 1.0 - lr * self.wd_lh, 1.0 - lr * wd)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, momentum, one_m_mom, keep_lh, keep = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        if not states:          # signSGD (or momentum set after a stateless start)
            return b.sub(b.mul(weight, keep), b.mul(lr, b.sign(g))), []
        mom = b.sub(b.sub(b.mul(states[0], momentum), b.mul(b.mul(one_m_mom, wd), weight)),
                    b.mul(one_m_mom, g))
        return b.add(b.mul(weight, keep_lh), b.mul(lr, b.sign(mom))), [mom]


@register
class Ftrl(_ClipIfSet, Optimizer):
    """FTRL-Proximal: z += g - (sqrt(n + g^2) - sqrt(n))*w/lr; n += g^2;
    w = (sign(z)*lamda1 - z) / ((beta + sqrt(n))/lr + wd) * (|z| > lamda1)."""

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        # as MXNet: the base class never sees learning_rate, so an lr_scheduler keeps its
        # own base_lr
        super().__init__(**kwargs)
        self.lr = None if learning_rate is None else float(learning_rate)
        self.lamda1, self.beta = lamda1, beta

    def create_state(self, index, weight):
        return np.zeros_like(weight), np.zeros_like(weight)    # z, n

    def updates_rows(self, index, weight_stype):
        """For a row_sparse weight (a Module's stype='row_sparse' variable): MXNet's
        ftrl_update has a kernel only when weight, gradient and states are all row_sparse;
        a dense weight falls back to the dense update of every row."""
        return weight_stype == "row_sparse"

    def update(self, index, weight, grad, state):
        self._update_count(index)
        wd, lr = self._get_wd(index), self._get_lr(index)
        g = self._scaled(grad)
        z, n = state
        z += g - (np.sqrt(n + g * g) - np.sqrt(n)) * weight / weight.dtype.type(lr)
        n += g * g
        new = (_sign(z) * self.lamda1 - z) / ((self.beta + np.sqrt(n)) / lr + wd)
        weight[...] = new * (np.abs(z) > self.lamda1)

    def fused_structure(self):
        return (self._clipping(),)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        self._update_count(index)
        wd, lr = self._get_wd(index), self._get_lr(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.lamda1, self.beta)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, lamda1, beta = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        z, n = states
        g2 = b.mul(g, g)
        z = b.add(z, b.sub(g, b.div(b.mul(b.sub(b.sqrt(b.add(n, g2)), b.sqrt(n)), weight), lr)))
        n = b.add(n, g2)
        new = b.div(b.sub(b.mul(b.sign(z), lamda1), z),
                    b.add(b.div(b.add(beta, b.sqrt(n)), lr), wd))
        keep = b.cast(b.gt(b.abs(z), lamda1), dtype=weight.type.dtype)
        return b.mul(new, keep), [z, n]


@register
class LAMB(_ClipIfSet, Optimizer):
    """Layer-wise adaptive Adam: g = m_hat/(sqrt(v_hat) + eps) + wd*w (bias-corrected unless
    bias_correction=False); w -= lr * r1/r2 * g with r1 = ||w|| (bounded by lower_bound and
    upper_bound when set), r2 = ||g|| (lr itself when either is 0)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6,
                 lower_bound=None, upper_bound=None, bias_correction=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.bias_correction = bias_correction

    def create_state(self, index, weight):
        return np.zeros_like(weight), np.zeros_like(weight)    # mean, variance

    def _bounds(self):
        """MXNet passes a bound only when it is truthy; the kernel applies it when >= 0."""
        lower = self.lower_bound if self.lower_bound and self.lower_bound >= 0 else None
        upper = self.upper_bound if self.upper_bound and self.upper_bound >= 0 else None
        return lower, upper

    def update(self, index, weight, grad, state):
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = self._scaled(grad)
        mean, var = state
        mean *= self.beta1
        mean += (1.0 - self.beta1) * g
        var *= self.beta2
        var += (1.0 - self.beta2) * g * g
        if self.bias_correction:
            m, v = mean / (1.0 - self.beta1 ** t), var / (1.0 - self.beta2 ** t)
        else:
            m, v = mean, var
        step = m / (np.sqrt(v) + self.epsilon) + wd * weight
        r1, r2 = np.linalg.norm(weight.ravel()), np.linalg.norm(step.ravel())
        lower, upper = self._bounds()
        if lower is not None:
            r1 = max(r1, lower)
        if upper is not None:
            r1 = min(r1, upper)
        if r1 != 0 and r2 != 0:
            lr = lr * r1 / r2
        weight -= weight.dtype.type(lr) * step

    def fused_structure(self):
        lower, upper = self._bounds()
        return (self._clipping(), bool(self.bias_correction), lower is not None,
                upper is not None)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        lower, upper = self._bounds()
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.beta1,
                1.0 - self.beta1, self.beta2, 1.0 - self.beta2, self.epsilon,
                1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t, lower or 0.0, upper or 0.0)

    def fused_rule(self, b, weight, grad, states, s):
        (lr, wd, rescale, clip, beta1, one_m_b1, beta2, one_m_b2, eps, corr1, corr2,
         lower, upper) = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        mean = b.add(b.mul(states[0], beta1), b.mul(one_m_b1, g))
        var = b.add(b.mul(states[1], beta2), b.mul(b.mul(one_m_b2, g), g))
        m, v = mean, var
        if self.bias_correction:
            m, v = b.div(mean, corr1), b.div(var, corr2)
        step = b.add(b.div(m, b.add(b.sqrt(v), eps)), b.mul(wd, weight))
        axes = tuple(range(len(weight.type.shape)))
        r1 = b.sqrt(b.sum(b.mul(weight, weight), axes=axes))
        r2 = b.sqrt(b.sum(b.mul(step, step), axes=axes))
        if self.lower_bound and self.lower_bound >= 0:
            r1 = b.maximum(r1, lower)
        if self.upper_bound and self.upper_bound >= 0:
            r1 = b.minimum(r1, upper)
        zero = b.const(0.0, like=r1)
        either_zero = b.logical_not(b.mul(b.cast(b.ne(r1, zero), dtype=r1.type.dtype),
                                          b.cast(b.ne(r2, zero), dtype=r1.type.dtype)))
        ratio = b.where(either_zero, b.const(1.0, like=r1), b.div(r1, r2))
        return b.sub(weight, b.mul(b.mul(lr, ratio), step)), [mean, var]
