"""Workloads of the linear family: linear_cross_entropy, a language model's last
layer (N tokens, D hidden units, V classes). The prediction of a row is `hidden`
(N, D); the classifier (V, D) and the targets come with it. Its cost is three
matrix products, so the generic columns (GB/s, % of a streaming limit) say little:
benchmarks/linear_ce.py measures it against the three products alone, torch, and
the peak memory of each."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from . import Workload

SHAPES = {                       # (N, D, V): benchmarks/linear_ce.py's rows too
    "quick": (4096, 1024, 32000),
    "full": (4096, 1024, 128256),
    "slow": (8192, 2048, 128256),
}


def lm_head_inputs(v: int) -> Callable:
    """(hidden, weight, target) for hidden of `shape` (N, D): standard-normal
    hidden states, a classifier scaled by 1/sqrt(D) (logits of unit scale) and
    uniform class indices in [0, V)."""
    def make(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
        n, d = shape
        hidden = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)
        weight = rng.standard_normal((v, d), dtype=np.float32) * np.float32(1 / np.sqrt(d))
        return hidden, weight.astype(dtype, copy=False), rng.integers(0, v, size=n, dtype=np.int64)
    return make


def torch_linear_cross_entropy(hidden, weight, target):
    """F.cross_entropy(F.linear(hidden, weight), target), the weight's gradient
    wanted too (the harness differentiates the first input only)."""
    import torch.nn.functional as F
    weight.requires_grad_()
    weight.grad = None
    return F.cross_entropy(F.linear(hidden, weight), target)


torch_linear_cross_entropy.__qualname__ = "F.linear + F.cross_entropy (torch)"


@dataclass(frozen=True)
class LinearWorkload(Workload):
    v: int = 0

    def tiny(self) -> Workload:
        """64 rows of 64 hidden units and 256 classes: the classifier, not in the
        prediction's shape, must shrink too (tests)."""
        return replace(self, shape=(64, 64), make_inputs=lm_head_inputs(min(self.v, 256)))


def linear_cross_entropy(n: int, d: int, v: int) -> Workload:
    # reads hidden, writes its gradient: the (mostly irrelevant) limit is a copy of (N, D)
    return LinearWorkload(f"linear CE {n}×{d}→{v}", "linear_cross_entropy", (n, d), lm_head_inputs(v), "copy",
                          torch_linear_cross_entropy, v=v)


# the first row is small for the --quick smoke run (it keeps the smallest row of each loss)
WORKLOADS = {"linear_cross_entropy": [linear_cross_entropy(512, 256, 8192), linear_cross_entropy(*SHAPES["quick"]),
                                      linear_cross_entropy(*SHAPES["full"])]}
