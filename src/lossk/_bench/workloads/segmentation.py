"""Workloads of the segmentation family: dice_loss and tversky_loss on a
Pascal VOC-sized batch (21 classes) from logits, against
segmentation_models_pytorch's DiceLoss / TverskyLoss (forward and autograd
backward), loaded from its files by lossk._bench.smp_losses."""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import Workload

TVERSKY = dict(alpha=0.3, beta=0.7, gamma=0.75)


def logits_and_class_maps(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(N, C, H, W) standard-normal logits and (N, H, W) int64 class maps in [0, C)."""
    logits = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    target = rng.integers(0, shape[1], size=(shape[0],) + tuple(shape[2:]), dtype=np.int64)
    return logits, target


def smp_loss(cls: str, **kw) -> Callable:
    """SMP's <cls>("multiclass", **kw) as a torch loss (SMP is an optional peer:
    loaded when first called)."""
    state = {}

    def loss(logits, target):
        if "fn" not in state:
            from .. import smp_losses
            state["fn"] = getattr(smp_losses.load(), cls)("multiclass", **kw)
        return state["fn"](logits, target)
    loss.__qualname__ = f"segmentation_models_pytorch {cls}"
    return loss


def segmentation(name: str, shape: tuple) -> Workload:
    # reads the logits and writes the gradient (the softmax kept in it between
    # the two passes): the limit is a copy
    short, cls, kw = (("Dice", "DiceLoss", {}) if name == "dice_loss" else ("Tversky", "TverskyLoss", TVERSKY))
    return Workload(f"{short} multiclass {'×'.join(map(str, shape))}", name, shape, logits_and_class_maps,
                    "copy", smp_loss(cls, **kw), kwargs=dict(mode="multiclass", **kw))


WORKLOADS = {name: [segmentation(name, (2, 21, 64, 64)), segmentation(name, (8, 21, 256, 256))]
             for name in ("dice_loss", "tversky_loss")}
