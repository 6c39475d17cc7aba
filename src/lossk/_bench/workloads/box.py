"""Workloads of the box family: iou_loss, giou_loss, diou_loss, ciou_loss, eiou_loss,
siou_loss and wiou_loss."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import Workload


def boxes_and_targets(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(N, 4) xyxy boxes in a 512-pixel image and targets moved by about 10 pixels
    (most pairs overlap, some do not)."""
    n = shape[0]
    xy = rng.uniform(0, 400, (n, 2))
    pred = np.concatenate([xy, xy + rng.uniform(4, 100, (n, 2))], axis=1)
    target = pred + rng.normal(0, 10, (n, 4))
    target[:, 2:] = np.maximum(target[:, 2:], target[:, :2] + 1)
    return pred.astype(dtype), target.astype(dtype)


def torch_box_loss(loss: str, **kw) -> Callable:
    """Mean over the boxes of box_torch.py's formula for lossk.<loss>:
    torchvision's for GIoU, DIoU and CIoU, written in torch ops (torchvision's
    compiled part cannot load with this CPU torch), the papers' for the others."""
    def fn(pred, target):
        if not hasattr(fn, "oracle"):   # torch is imported on first use only
            from .. import box_torch
            fn.oracle = box_torch.ORACLES[loss]
        return fn.oracle(pred, target, **kw).mean()
    fn.__qualname__ = f"{loss} formula in torch ops"
    return fn


def jax_box_loss(loss: str) -> Callable | None:
    """Mean over the boxes of torchvision's IoU, GIoU, DIoU or CIoU loss (eps 1e-7,
    xyxy) in jax.numpy, as box_torch.py writes them in torch ops; None for the
    others (no JAX version yet)."""
    if loss not in ("iou_loss", "giou_loss", "diou_loss", "ciou_loss"):
        return None

    def fn(p, t, eps=1e-7):
        import jax
        import jax.numpy as jnp
        near, far = jnp.maximum(p[:, :2], t[:, :2]), jnp.minimum(p[:, 2:], t[:, 2:])
        ext = far - near
        # torchvision keeps the intersection only where both extents are > 0
        inter = jnp.where((ext[:, 0] > 0) & (ext[:, 1] > 0), ext[:, 0] * ext[:, 1], 0.0)
        w, h, wg, hg = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1], t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
        union = w * h + wg * hg - inter
        iou = inter / (union + eps)
        if loss == "iou_loss":
            return (1 - iou).mean()
        c = jnp.maximum(p[:, 2:], t[:, 2:]) - jnp.minimum(p[:, :2], t[:, :2])
        if loss == "giou_loss":
            area_c = c[:, 0] * c[:, 1]
            return (1 - iou + (area_c - union) / (area_c + eps)).mean()
        dx = (p[:, 2] + p[:, 0]) / 2 - (t[:, 0] + t[:, 2]) / 2
        dy = (p[:, 3] + p[:, 1]) / 2 - (t[:, 1] + t[:, 3]) / 2
        out = 1 - iou + (dx ** 2 + dy ** 2) / (c[:, 0] ** 2 + c[:, 1] ** 2 + eps)
        if loss == "ciou_loss":
            v = (4 / math.pi ** 2) * (jnp.arctan(wg / hg) - jnp.arctan(w / h)) ** 2
            out = out + jax.lax.stop_gradient(v / (1 - iou + v + eps)) * v
        return out.mean()
    return fn


def box_loss(loss: str, n: int, label: str, **kwargs) -> Workload:
    # reads the boxes and their targets, writes the gradient: an add
    return Workload(f"{label} N={n:,}", loss, (n, 4), boxes_and_targets, "add",
                    torch_box_loss(loss, **kwargs), kwargs=kwargs,
                    jax_loss=None if kwargs else jax_box_loss(loss))


WORKLOADS = {
    "giou_loss": [box_loss("giou_loss", 10_000, "GIoU"), box_loss("giou_loss", 1_000_000, "GIoU")],
    "ciou_loss": [box_loss("ciou_loss", 10_000, "CIoU"), box_loss("ciou_loss", 1_000_000, "CIoU")],
    "iou_loss": [box_loss("iou_loss", 1_000_000, "IoU")],
    "diou_loss": [box_loss("diou_loss", 1_000_000, "DIoU")],
    "eiou_loss": [box_loss("eiou_loss", 1_000_000, "EIoU")],
    "siou_loss": [box_loss("siou_loss", 1_000_000, "SIoU")],
    "wiou_loss": [box_loss("wiou_loss", 1_000_000, "WIoU v1")],
}
