"""Workloads of the crf family: crf_nll_loss (forward + the four gradients) on
(B, T, K) emissions against pytorch-crf's CRF.forward + autograd. crf_decode is
not a loss (no gradient, no limit): lossk._bench.crf times it with the NLL
against pytorch-crf's decode (python benchmarks/crf.py)."""
from __future__ import annotations

import functools
import numpy as np

from . import Workload

SIZES = ((64, 128, 32), (256, 64, 9))      # (B, T, K) of issue 23


def crf_problem(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(emissions, tags, transitions, start, end): standard-normal emissions of
    `shape` (B, T, K), uniform tags, parameters in [-0.1, 0.1] (pytorch-crf's init)."""
    B, T, K = shape
    em = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    tags = rng.integers(0, K, (B, T), dtype=np.int64)
    tr, st, en = (rng.uniform(-0.1, 0.1, s).astype(dtype) for s in ((K, K), (K,), (K,)))
    return em, tags, tr, st, en


@functools.lru_cache(maxsize=None)
def _module(num_tags: int):
    """A pytorch-crf CRF whose parameters are replaced by the call's tensors."""
    import torchcrf   # ImportError: no pytorch-crf peer
    crf = torchcrf.CRF(num_tags, batch_first=True)
    for name in ("transitions", "start_transitions", "end_transitions"):
        del crf._parameters[name]
    return crf


def torch_crf_nll(em, tags, tr, st, en):
    """-CRF.forward(emissions, tags, reduction="mean") of pytorch-crf (batch first)."""
    crf = _module(em.shape[2])
    crf.transitions, crf.start_transitions, crf.end_transitions = tr, st, en
    return -crf(em, tags, reduction="mean")


torch_crf_nll.__qualname__ = "-torchcrf.CRF.forward (pytorch-crf 0.7.2, autograd)"


def nll(shape: tuple) -> Workload:
    B, T, K = shape
    # reads the emissions, writes their gradient: a copy of the same bytes
    return Workload(f"CRF NLL B{B} T{T} K{K}", "crf_nll_loss", shape, crf_problem, "copy", torch_crf_nll)


WORKLOADS: dict[str, list[Workload]] = {"crf_nll_loss": [nll(s) for s in SIZES]}
