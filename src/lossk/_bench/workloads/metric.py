"""Workloads of the metric-learning family: the triplet margin loss (a row
kernel: its limit reads three arrays and writes three gradients) and the
contrastive losses, whose time goes to the BLAS products of the N x N
similarities (the limit's "copy" of the embeddings is only a size marker
there; benchmarks/metric_memory.py measures their peak memory)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import Workload, torch_functional


def embeddings(count: int) -> Callable:
    """`count` standard-normal (N, D) arrays of `shape`."""
    def make(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
        return tuple(rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
                     for _ in range(count))
    return make


def torch_nt_xent(temperature: float) -> Callable:
    """SimCLR's NT-Xent in torch ops (F.normalize, masked matmul, cross-entropy)."""
    def loss(z1, z2):
        import torch
        import torch.nn.functional as F
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        n2 = z.shape[0]
        s = (z @ z.T / temperature).masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
        return F.cross_entropy(s, (torch.arange(n2) + n2 // 2) % n2)
    loss.__qualname__ = "NT-Xent in torch ops"
    return loss


def torch_info_nce(temperature: float) -> Callable:
    """InfoNCE with in-batch negatives in torch ops."""
    def loss(query, positive_key):
        import torch
        import torch.nn.functional as F
        q, k = F.normalize(query, dim=1), F.normalize(positive_key, dim=1)
        return F.cross_entropy(q @ k.T / temperature, torch.arange(q.shape[0]))
    loss.__qualname__ = "InfoNCE in torch ops"
    return loss


def contrastive(loss: str, n: int, d: int, label: str, torch_loss: Callable, **kwargs) -> Workload:
    return Workload(f"{label} 2×{n}×{d}", loss, (n, d), embeddings(2), "copy", torch_loss, kwargs=kwargs)


WORKLOADS = {
    "triplet_margin_loss": [Workload("triplet 65536×128", "triplet_margin_loss", (65536, 128), embeddings(3),
                                     "r3w3", torch_functional("triplet_margin_loss"))],
    "nt_xent_loss": [contrastive("nt_xent_loss", n, 128, "NT-Xent", torch_nt_xent(0.5), temperature=0.5)
                     for n in (4096, 16384)],
    "info_nce_loss": [contrastive("info_nce_loss", n, 128, "InfoNCE", torch_info_nce(0.1), temperature=0.1)
                      for n in (4096, 16384)],
}
