"""The registry of benchmark workloads: WORKLOADS maps every lossk loss name to its
table rows, defined by one module per loss family (softmax, class_index, pointwise,
box, penalty; the families of the library).

A loss adds rows by adding Workload entries to its family module's WORKLOADS;
everything else (lossk calls, the NumPy reference, torch, the limit, the report)
is generic:

    lossk:  getattr(lossk, loss)(*inputs, return_grad=True, grad_out=g,
                                 n_threads=t, **kwargs)
    torch:  torch_loss(*tensors).backward(), tensors = torch.from_numpy(inputs),
            the first one (the prediction) with requires_grad
    JAX:    jax.jit(jax.value_and_grad(jax_loss))(*arrays), where a workload has one
    limit:  the `pattern` kernel of stream.c over arrays of the prediction's size

Inputs are deterministic (a seeded Generator per workload), so runs compare.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

# make_inputs(rng, shape, dtype) -> (pred, target, ...): pred has `shape` and `dtype`
# and is the input the gradient is taken with respect to; or it is a list of
# arrays of prod(shape) elements in all (penalties), each with its gradient.
MakeInputs = Callable[[np.random.Generator, tuple, np.dtype], tuple]

SMOKE_BYTES = 4 << 20   # largest pred of a --quick row


@dataclass(frozen=True)
class Workload:
    name: str                     # row label, e.g. "CE 16384×1000"
    loss: str                     # lossk function name
    shape: tuple[int, ...]        # shape of pred
    make_inputs: MakeInputs
    pattern: str                  # the limit's access pattern: "copy", "add", "sum" or "rRwW"
                                  # (R arrays of pred's size read, W written: stream.arrays)
    torch_loss: Callable | None   # (*tensors) -> scalar loss tensor; None: no torch peer
    kwargs: dict = field(default_factory=dict)  # extra lossk / reference arguments
    dtype: str = "float32"
    jax_loss: Callable | None = None  # (*jax arrays) -> scalar loss, in jax.numpy; None: no JAX peer

    @property
    def array_bytes(self) -> int:
        """Bytes of pred (= of its gradient; of all its arrays for a list): the size
        the limit is matched to."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def inputs(self, seed: int = 0) -> tuple:
        return self.make_inputs(np.random.default_rng(seed), self.shape, np.dtype(self.dtype))

    def smoke(self, max_bytes: int = SMOKE_BYTES) -> Workload:
        """The workload with its first axis cut so that pred is at most `max_bytes`, for
        `--quick` (CI's smoke run proves every row runs; a 16 Mi row's torch peer alone took
        seconds there). A cut row says so in its name."""
        if self.array_bytes <= max_bytes:
            return self
        rows = max(1, self.shape[0] * max_bytes // self.array_bytes)
        shape = (rows,) + tuple(self.shape[1:])
        return replace(self, name=f"{self.name} (smoke: {'×'.join(map(str, shape))})", shape=shape)

    def tiny(self) -> Workload:
        """The same workload on a few rows, for tests: 4096 elements of a 1-d
        prediction, else 64 rows (4 rows of more than 4096 classes)."""
        if len(self.shape) == 1:
            return replace(self, shape=(4096,))
        if len(self.shape) > 2:     # (N, C, *spatial): two small images
            return replace(self, shape=(2, self.shape[1]) + (16,) * (len(self.shape) - 2))
        return replace(self, shape=(4 if self.shape[1] > 4096 else 64,) + tuple(self.shape[1:]))


def torch_functional(name: str, **kw) -> Callable:
    """torch.nn.functional.<name>(*tensors, **kw), importing torch only when called
    (torch is an optional peer: the registry must load without it)."""
    def loss(*tensors):
        import torch.nn.functional as F
        return getattr(F, name)(*tensors, **kw)
    loss.__qualname__ = f"torch.nn.functional.{name}"
    return loss


def jax_pick(values, target):
    """values[i, target[i]] for each row i, in jax.numpy."""
    import jax.numpy as jnp
    return jnp.take_along_axis(values, target[:, None], axis=1)[:, 0]


def logits_and_class_indices(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(N, C) standard-normal logits and (N,) int64 class indices in [0, C)."""
    logits = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    target = rng.integers(0, shape[1], size=shape[0], dtype=np.int64)
    return logits, target


# The family modules take Workload and the shared makers above from this module.
from . import box, class_index, penalty, pointwise, softmax  # noqa: E402
from . import crf, linear, listwise, metric, segmentation  # noqa: E402

FAMILIES = (softmax, class_index, pointwise, box, penalty,   # the run order
            listwise, segmentation, crf, metric, linear)
WORKLOADS: dict[str, list[Workload]] = {loss: rows for family in FAMILIES
                                        for loss, rows in family.WORKLOADS.items()}


def select(only: str | None = None, quick: bool = False,
           workloads: dict[str, list[Workload]] = WORKLOADS) -> list[Workload]:
    """Workloads whose name or loss contains `only` (case-insensitive); with `quick`,
    only the smallest of each loss, cut to at most SMOKE_BYTES (Workload.smoke)."""
    chosen = [w for rows in workloads.values() for w in rows
              if only is None or only.lower() in f"{w.name} {w.loss}".lower()]
    if quick:
        smallest: dict[str, Workload] = {}
        for w in chosen:
            if w.loss not in smallest or w.array_bytes < smallest[w.loss].array_bytes:
                smallest[w.loss] = w
        chosen = [w.smoke() for w in chosen if smallest[w.loss] is w]
    return chosen
