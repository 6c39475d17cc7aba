"""Workloads of the penalty family: l1_penalty and l2_penalty over a model's
parameters, a list of arrays (the first input of the workload is that list)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import Workload

N_ARRAYS = 200
LAM = 1e-4


def parameter_list(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """([arrays], lam): N_ARRAYS standard-normal arrays of log-uniform sizes from 10
    to ~10^6 elements (as a model's weights and biases), prod(shape) elements in all."""
    total = int(np.prod(shape))
    n = min(N_ARRAYS, max(1, total // 10))
    sizes = np.exp(rng.uniform(np.log(10), np.log(1e6), n))
    sizes = np.maximum(10, (sizes * total / sizes.sum()).astype(np.int64))
    sizes[np.argmax(sizes)] += total - sizes.sum()     # exactly `total`
    flat = rng.standard_normal(total, dtype=np.float32).astype(dtype, copy=False)
    return [part.copy() for part in np.split(flat, np.cumsum(sizes)[:-1])], LAM


def torch_penalty(l2: bool) -> Callable:
    """lam * sum over the parameters of |p| (or p^2), in torch ops with autograd."""
    def loss(params, lam):
        return sum((p * p if l2 else p.abs()).sum() for p in params) * lam
    loss.__qualname__ = f"sum(p{'**2' if l2 else '.abs()'}.sum() for p in params) * lam (torch ops)"
    return loss


def penalty(name: str, n: int) -> Workload:
    # reads the parameters, writes their gradients: a copy of the same bytes
    return Workload(f"{name[:2].upper()} penalty {N_ARRAYS} arrays {n >> 20} Mi", name, (n,),
                    parameter_list, "copy", torch_penalty(name == "l2_penalty"))


WORKLOADS = {name: [penalty(name, 16 << 20)] for name in ("l1_penalty", "l2_penalty")}
