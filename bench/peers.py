"""The MLP training step (784-256-256-10, ReLU, softmax cross-entropy summed over the batch,
SGD at lr / batch) as each peer writes it, shared by bench_step.py and bench_compiled.py so the
two benches time the same programs. The data and the initial weights are the ones numpy by
hand and tracegrad use (`mlp_data`, `MLP_SHAPES`)."""
import numpy as np

MLP_SHAPES = [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]


def mlp_data(batch, seed=0):
    rs = np.random.RandomState(seed)
    return rs.rand(batch, 784).astype(np.float32), rs.randint(0, 10, batch)


def mlp_weights():
    rs = np.random.RandomState(1)
    return [rs.uniform(-0.07, 0.07, s).astype(np.float32) for s in MLP_SHAPES]


def torch_mlp(batch, lr):
    """PyTorch eager: zero_grad, loss, backward, optimizer step."""
    import torch
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(net.parameters(), lr=lr / batch)
    x, y = mlp_data(batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    lossf = torch.nn.CrossEntropyLoss(reduction="sum")

    def step():
        opt.zero_grad()
        lossf(net(x), y).backward()
        opt.step()
    return step


def jax_mlp(batch, lr):
    """jax.jit of the gradient and the update, parameters threaded through."""
    import jax
    import jax.numpy as jnp
    params = [jnp.asarray(w) for w in mlp_weights()]
    x, y = mlp_data(batch)
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss(p):
        h = jax.nn.relu(x @ p[0].T + p[1])
        h = jax.nn.relu(h @ p[2].T + p[3])
        logp = jax.nn.log_softmax(h @ p[4].T + p[5])
        return -jnp.take_along_axis(logp, y[:, None], 1).sum()

    @jax.jit
    def update(p):
        g = jax.grad(loss)(p)
        return [a - lr / batch * b for a, b in zip(p, g)]
    state = [params]

    def step():
        state[0] = jax.block_until_ready(update(state[0]))
    return step
