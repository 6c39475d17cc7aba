"""Workloads of the pointwise family: sigmoid_focal_loss, binary_cross_entropy_with_logits,
binary_cross_entropy, kl_div, hinge_loss and the regression losses."""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import Workload, torch_functional


def logits_and_binary_targets(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Standard-normal logits and 0/1 float targets (30 % ones) of the same shape."""
    logits = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    target = (rng.random(shape, dtype=np.float32) < 0.3).astype(dtype)
    return logits, target


def probs_and_binary_targets(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Probabilities in (0, 1) and 0/1 float targets (30 % ones) of the same shape."""
    probs = rng.uniform(1e-3, 1 - 1e-3, shape).astype(dtype)
    target = (rng.random(shape, dtype=np.float32) < 0.3).astype(dtype)
    return probs, target


def log_probs_and_probs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Log-probabilities of the input and probabilities of the target (kl_div)."""
    p = rng.uniform(1e-3, 1.0, shape)
    q = rng.uniform(1e-3, 1.0, shape)
    return np.log(p / p.sum()).astype(dtype), (q / q.sum()).astype(dtype)


def scores_and_signs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Standard-normal scores and -1/+1 labels of the same shape (hinge)."""
    scores = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    return scores, np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dtype)


def torch_hinge_loss(margin: float = 1.0) -> Callable:
    """mean(max(0, margin - y s)) in torch ops (torch has no binary hinge loss)."""
    def loss(scores, labels):
        import torch
        return torch.clamp(margin - labels * scores, min=0).mean()
    loss.__qualname__ = "clamp(margin - y s, 0).mean() (torch ops)"
    return loss


def torch_sigmoid_focal_loss(alpha: float = 0.25, gamma: float = 2.0) -> Callable:
    """torchvision.ops.sigmoid_focal_loss with reduction="mean", written in torch ops
    (torchvision has no CPU wheel in the registry; this is its code)."""
    def loss(inputs, targets):
        import torch
        import torch.nn.functional as F
        p = torch.sigmoid(inputs)
        ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        out = ce_loss * ((1 - p_t) ** gamma)
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        return (alpha_t * out).mean()
    loss.__qualname__ = "torchvision sigmoid_focal_loss (torch ops)"
    return loss


def _jax_bce_with_logits_elements(logits, target):
    import jax
    return -(target * jax.nn.log_sigmoid(logits) + (1 - target) * jax.nn.log_sigmoid(-logits))


def jax_bce_with_logits(logits, target):
    return _jax_bce_with_logits_elements(logits, target).mean()


def jax_sigmoid_focal_loss(alpha: float = 0.25, gamma: float = 2.0) -> Callable:
    """torchvision's formula (as torch_sigmoid_focal_loss) in jax.numpy."""
    def loss(inputs, targets):
        import jax
        import jax.numpy as jnp
        p = jax.nn.sigmoid(inputs)
        ce = _jax_bce_with_logits_elements(inputs, targets)
        p_t = p * targets + (1 - p) * (1 - targets)
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        return jnp.mean(alpha_t * ce * (1 - p_t) ** gamma)
    return loss


def jax_bce(probs, target):
    """torch's binary_cross_entropy: each log clamped at -100."""
    import jax.numpy as jnp
    return -(target * jnp.maximum(jnp.log(probs), -100.0)
             + (1 - target) * jnp.maximum(jnp.log1p(-probs), -100.0)).mean()


def jax_kl_div(log_input, target):
    """torch's kl_div(reduction="mean"): the mean over all elements."""
    import jax.numpy as jnp
    return jnp.where(target > 0, target * (jnp.log(target) - log_input), -target * log_input).mean()


def jax_hinge_loss(margin: float = 1.0) -> Callable:
    def loss(scores, labels):
        import jax.numpy as jnp
        return jnp.maximum(margin - labels * scores, 0.0).mean()
    return loss


def sigmoid_focal_loss(n: int, c: int, gamma: float = 2.0) -> Workload:
    # reads logits and targets, writes the gradient: an add
    name = f"sigmoid focal {n:,}×{c}" if n >= 10**6 else f"sigmoid focal {n}×{c}"
    if gamma != 2.0:   # integer gamma: multiplications; others: exp and log per element
        name += f" gamma={gamma:g}"
    return Workload(name, "sigmoid_focal_loss", (n, c), logits_and_binary_targets, "add",
                    torch_sigmoid_focal_loss(0.25, gamma), kwargs={"alpha": 0.25, "gamma": gamma},
                    jax_loss=jax_sigmoid_focal_loss(0.25, gamma))


def binary_cross_entropy_with_logits(n: int) -> Workload:
    return Workload(f"BCE-with-logits {n >> 20} Mi", "binary_cross_entropy_with_logits", (n,),
                    logits_and_binary_targets, "add",
                    torch_functional("binary_cross_entropy_with_logits"), jax_loss=jax_bce_with_logits)


def binary_cross_entropy(n: int) -> Workload:
    return Workload(f"BCE {n >> 20} Mi", "binary_cross_entropy", (n,), probs_and_binary_targets,
                    "add", torch_functional("binary_cross_entropy"), jax_loss=jax_bce)


def kl_div(n: int) -> Workload:
    # reads input and target, writes the gradient: an add
    return Workload(f"KL {n >> 20} Mi", "kl_div", (n,), log_probs_and_probs, "add",
                    torch_functional("kl_div", reduction="mean"), jax_loss=jax_kl_div)


def hinge_loss(n: int) -> Workload:
    return Workload(f"hinge {n >> 20} Mi", "hinge_loss", (n,), scores_and_signs, "add",
                    torch_hinge_loss(1.0), jax_loss=jax_hinge_loss(1.0))


def pred_and_target(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Standard-normal predictions and targets of the same shape (regression)."""
    pred = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    return pred, rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)


def regression(loss: str, n: int, label: str, torch_loss: Callable | None, **kwargs) -> Workload:
    # reads pred and target, writes the gradient: an add; rmse reads them twice (its
    # gradient needs the total first, benchmarks/README.md "RMSE: two passes")
    size = f"{n >> 20} Mi" if n >= 1 << 20 else f"{n}"
    pattern = "r4w1" if loss == "rmse_loss" else "add"
    return Workload(f"{label} {size}", loss, (n,), pred_and_target, pattern, torch_loss, kwargs=kwargs)


def torch_rmse(pred, target):
    """sqrt(mse_loss): what users write (torch has no RMSE loss)."""
    import torch
    import torch.nn.functional as F
    return torch.sqrt(F.mse_loss(pred, target))


def torch_log_cosh(pred, target):
    """log(cosh(e)) as |e| + softplus(-2|e|) - log 2 in torch ops (torch has none)."""
    import math

    import torch.nn.functional as F
    a = (pred - target).abs()
    return (a + F.softplus(-2 * a) - math.log(2.0)).mean()


def torch_quantile(q: float) -> Callable:
    """The pinball loss in torch ops (torch has none)."""
    def loss(pred, target):
        import torch
        e = target - pred
        return torch.maximum(q * e, (q - 1) * e).mean()
    loss.__qualname__ = f"pinball q={q} (torch ops)"
    return loss


def critic_outputs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """A discriminator's outputs on real and on fake samples, each of `shape`."""
    return (rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False),
            rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False))


def critic_fake_outputs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    return critic_outputs(rng, shape, dtype)[1:]


def torch_lsgan_discriminator(d_real, d_fake):
    """torchgan's LSGAN discriminator loss in torch ops."""
    return 0.5 * (((d_real - 1.0) ** 2).mean() + (d_fake ** 2).mean())


def torch_lsgan_generator(d_fake):
    return 0.5 * ((d_fake - 1.0) ** 2).mean()


def torch_wasserstein_discriminator(d_real, d_fake):
    return d_fake.mean() - d_real.mean()


def torch_wasserstein_generator(d_fake):
    return -d_fake.mean()


def gan(loss: str, n: int, label: str, make_inputs, torch_loss: Callable) -> Workload:
    size = f"{n >> 20} Mi" if n >= 1 << 20 else f"{n}"
    # a discriminator reads d_real and d_fake and writes both gradients; a generator
    # reads d_fake and writes its gradient
    pattern = "r2w2" if "discriminator" in loss else "copy"
    return Workload(f"{label} {size}", loss, (n,), make_inputs, pattern, torch_loss)


def ranking_inputs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Scores x1, x2 and -1/+1 labels y (margin ranking)."""
    x1, x2 = critic_outputs(rng, shape, dtype)
    return x1, x2, np.where(rng.random(shape, dtype=np.float32) < 0.5, -1.0, 1.0).astype(dtype)


WORKLOADS = {
    "sigmoid_focal_loss": [
        sigmoid_focal_loss(65536, 80),
        sigmoid_focal_loss(1_000_000, 1),
        sigmoid_focal_loss(65536, 80, gamma=0.5),
    ],
    "binary_cross_entropy_with_logits": [
        binary_cross_entropy_with_logits(1 << 20),    # the small rows keep `--quick` (CI) quick
        binary_cross_entropy_with_logits(16 << 20),
    ],
    "binary_cross_entropy": [
        binary_cross_entropy(1 << 20),
        binary_cross_entropy(16 << 20),
    ],
    "kl_div": [kl_div(16 << 20)],
    "hinge_loss": [hinge_loss(16 << 20)],
    "mse_loss": [regression("mse_loss", 16 << 20, "MSE", torch_functional("mse_loss")),
                 regression("mse_loss", 64, "MSE", torch_functional("mse_loss"))],
    "l1_loss": [regression("l1_loss", 16 << 20, "L1", torch_functional("l1_loss"))],
    "huber_loss": [regression("huber_loss", 16 << 20, "Huber", torch_functional("huber_loss"))],
    "smooth_l1_loss": [regression("smooth_l1_loss", 16 << 20, "smooth L1",
                                  torch_functional("smooth_l1_loss"))],
    "rmse_loss": [regression("rmse_loss", 16 << 20, "RMSE", torch_rmse)],
    "log_cosh_loss": [regression("log_cosh_loss", 16 << 20, "log-cosh", torch_log_cosh)],
    "quantile_loss": [regression("quantile_loss", 16 << 20, "quantile q=0.3", torch_quantile(0.3),
                                 q=0.3)],
    "lsgan_discriminator_loss": [
        gan("lsgan_discriminator_loss", 64, "LSGAN D", critic_outputs, torch_lsgan_discriminator),
        gan("lsgan_discriminator_loss", 16 << 20, "LSGAN D", critic_outputs, torch_lsgan_discriminator)],
    "lsgan_generator_loss": [gan("lsgan_generator_loss", 16 << 20, "LSGAN G", critic_fake_outputs,
                                 torch_lsgan_generator)],
    "wasserstein_discriminator_loss": [gan("wasserstein_discriminator_loss", 16 << 20, "WGAN D",
                                           critic_outputs, torch_wasserstein_discriminator)],
    "wasserstein_generator_loss": [gan("wasserstein_generator_loss", 16 << 20, "WGAN G",
                                       critic_fake_outputs, torch_wasserstein_generator)],
    "margin_ranking_loss": [Workload("margin ranking 16 Mi", "margin_ranking_loss", (16 << 20,),
                                     ranking_inputs, "r3w2",   # x1, x2, y -> two gradients
                                     torch_functional("margin_ranking_loss", margin=0.1),
                                     kwargs={"margin": 0.1})],
}
