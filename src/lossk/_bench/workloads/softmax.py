"""Workloads of the softmax family: cross_entropy and softmax_focal_loss."""
from __future__ import annotations

from typing import Callable

from . import Workload, jax_pick, logits_and_class_indices, torch_functional
from .segmentation import logits_and_class_maps


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


def spatial(loss: str, shape: tuple, label: str | None = None) -> Workload:
    # (N, C, H, W) logits and (N, H, W) class maps, as segmentation calls it: a copy
    # too. No JAX peer (its picker takes rows).
    dims = "×".join(map(str, shape))
    if loss == "cross_entropy":
        return Workload(label or f"CE spatial {dims}", loss, shape, logits_and_class_maps,
                        "copy", torch_functional("cross_entropy"))
    return Workload(label or f"softmax focal spatial {dims}", loss, shape, logits_and_class_maps,
                    "copy", torch_softmax_focal_loss(2.0), kwargs={"gamma": 2.0})


# The class-count sweep: 2 Mi logits (8 MiB in float32) at every class count
# where a layout path changes (16/17: one block of 16 to two, 47/48: the
# narrow-row kernel to the row kernel), rows and spatial, so a cliff shows.
SWEEP_C = (2, 3, 4, 6, 8, 10, 12, 16, 17, 19, 21, 24, 32, 33, 40, 47, 48, 56, 64)
SWEEP_ELEMS = 1 << 21


def sweep() -> list[Workload]:
    rows = [Workload(f"CE sweep rows C={c}", "cross_entropy", (SWEEP_ELEMS // c, c),
                     logits_and_class_indices, "copy", torch_functional("cross_entropy"))
            for c in SWEEP_C]
    return rows + [spatial("cross_entropy", (2, c, 128, SWEEP_ELEMS // (256 * c)), f"CE sweep spatial C={c}")
                   for c in SWEEP_C]


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
        spatial("cross_entropy", (8, 21, 256, 256)),    # Pascal VOC
        spatial("cross_entropy", (16, 19, 128, 128)),   # Cityscapes' 19 classes
        *sweep(),
    ],
    "softmax_focal_loss": [
        softmax_focal_loss(16384, 1000),
        softmax_focal_loss(65536, 21),    # narrow rows: the register kernel with the focal factors
        spatial("softmax_focal_loss", (8, 21, 256, 256)),
        spatial("softmax_focal_loss", (16, 19, 128, 128)),
    ],
}
