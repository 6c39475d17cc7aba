"""Workloads of the softmax family: cross_entropy and softmax_focal_loss."""
from __future__ import annotations

from typing import Callable

from . import Workload, jax_pick, logits_and_class_indices, torch_functional


def torch_softmax_focal_loss(gamma: float = 2.0) -> Callable:
    """Softmax focal loss as torch users write it (torch has none):
    mean of -(1 - p_t)^gamma log p_t over the rows."""
    def loss(logits, target):
        import torch.nn.functional as F
        log_pt = F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
        return (-(1 - log_pt.exp()) ** gamma * log_pt).mean()
    loss.__qualname__ = "log_softmax + gather + focal factor (torch ops)"
    return loss


def jax_cross_entropy(logits, target):
    import jax
    return -jax_pick(jax.nn.log_softmax(logits, axis=1), target).mean()


def jax_softmax_focal_loss(gamma: float = 2.0) -> Callable:
    def loss(logits, target):
        import jax
        import jax.numpy as jnp
        log_pt = jax_pick(jax.nn.log_softmax(logits, axis=1), target)
        return (-(1 - jnp.exp(log_pt)) ** gamma * log_pt).mean()
    return loss


def cross_entropy(n: int, c: int) -> Workload:
    # CE reads the logits and writes the gradient: the limit is a copy.
    return Workload(f"CE {n}×{c}", "cross_entropy", (n, c), logits_and_class_indices,
                    "copy", torch_functional("cross_entropy"), jax_loss=jax_cross_entropy)


def softmax_focal_loss(n: int, c: int) -> Workload:
    # the cross-entropy kernel with per-row focal factors: also a copy
    return Workload(f"softmax focal {n}×{c}", "softmax_focal_loss", (n, c), logits_and_class_indices,
                    "copy", torch_softmax_focal_loss(2.0), kwargs={"gamma": 2.0},
                    jax_loss=jax_softmax_focal_loss(2.0))


WORKLOADS = {
    "cross_entropy": [
        cross_entropy(65536, 10),
        cross_entropy(65536, 21),     # Pascal VOC's 20 classes and background: two blocks of 16 classes
        cross_entropy(16384, 1000),
        cross_entropy(4096, 32000),
        cross_entropy(1024, 128256),
    ],
    "softmax_focal_loss": [
        softmax_focal_loss(16384, 1000),
        softmax_focal_loss(65536, 21),    # narrow rows: the register kernel with the focal factors
    ],
}
