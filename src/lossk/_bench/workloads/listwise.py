"""Workloads of the listwise family: B lists of L items, standard-normal scores
and graded relevance 0..4 (no padding), against allRank's formulas in torch
with autograd (lossk._bench.listwise_torch)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import Workload


def scores_and_grades(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(B, L) standard-normal scores and relevance grades 0..4 of the same dtype."""
    scores = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    return scores, rng.integers(0, 5, size=shape).astype(dtype)


def allrank(loss: str) -> Callable:
    """allRank's formula for lossk.<loss>, in torch ops (imported when called)."""
    def fn(scores, relevance):
        from .. import listwise_torch
        return listwise_torch.ORACLES[loss](scores, relevance)
    fn.__qualname__ = f"allRank {loss} (torch ops)"
    return fn


def lists(loss: str, b: int, l: int) -> Workload:
    label = {"listnet_loss": "ListNet", "listmle_loss": "ListMLE", "approx_ndcg_loss": "ApproxNDCG"}[loss]
    # reads scores and relevance, writes the gradient
    return Workload(f"{label} B{b} L{l}", loss, (b, l), scores_and_grades, "add", allrank(loss))


WORKLOADS = {
    "listnet_loss": [lists("listnet_loss", 4096, 128)],
    "listmle_loss": [lists("listmle_loss", 4096, 128)],
    # B64 L128: the smallest, which --quick (the CI smoke run) picks; torch's (B, L, L)
    # temporaries at B256 L1024 take GBs and seconds
    "approx_ndcg_loss": [lists("approx_ndcg_loss", 64, 128), lists("approx_ndcg_loss", 4096, 128),
                         lists("approx_ndcg_loss", 256, 1024)],
}
