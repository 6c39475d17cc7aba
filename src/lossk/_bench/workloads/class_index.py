"""Workloads of the class-index family: multi_margin_loss and nll_loss."""
from __future__ import annotations

import numpy as np

from . import Workload, jax_pick, logits_and_class_indices, torch_functional


def log_probs_and_class_indices(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(N, C) log-probabilities (log-softmax of standard-normal logits) and class indices."""
    logits, target = logits_and_class_indices(rng, shape, np.dtype(np.float64))
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return log_probs.astype(dtype), target


def jax_nll_loss(log_probs, target):
    return -jax_pick(log_probs, target).mean()


def jax_multi_margin_loss(scores, target):
    """torch's: sum over i != y of max(0, 1 - x_y + x_i), / C, mean over rows."""
    import jax.numpy as jnp
    x_y = jax_pick(scores, target)[:, None]
    hinge = jnp.maximum(0.0, 1.0 - x_y + scores)
    wrong = jnp.arange(scores.shape[1])[None, :] != target[:, None]
    return (jnp.where(wrong, hinge, 0.0).sum(axis=1) / scores.shape[1]).mean()


def multi_margin_loss(n: int, c: int) -> Workload:
    # reads the scores, writes the gradient: a copy
    return Workload(f"multi-margin {n}×{c}", "multi_margin_loss", (n, c), logits_and_class_indices,
                    "copy", torch_functional("multi_margin_loss"), jax_loss=jax_multi_margin_loss)


def nll_loss(n: int, c: int) -> Workload:
    # reads one log-probability and one target per row and writes the (mostly zero)
    # gradient: the limit is the write of one array
    return Workload(f"NLL {n}×{c}", "nll_loss", (n, c), log_probs_and_class_indices, "r0w1",
                    torch_functional("nll_loss"), jax_loss=jax_nll_loss)


WORKLOADS = {
    "multi_margin_loss": [multi_margin_loss(16384, 1000)],
    "nll_loss": [nll_loss(16384, 1000)],
}
