"""The registry of benchmark workloads: one entry per table row group.

A new loss family adds rows by appending Workload entries to WORKLOADS; everything
else (lossk calls, the NumPy reference, torch, the limit, the report) is generic:

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
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# make_inputs(rng, shape, dtype) -> (pred, target, ...): pred has `shape` and `dtype`
# and is the input the gradient is taken with respect to.
MakeInputs = Callable[[np.random.Generator, tuple, np.dtype], tuple]


@dataclass(frozen=True)
class Workload:
    name: str                     # row label, e.g. "CE 16384×1000"
    loss: str                     # lossk function name
    shape: tuple[int, ...]        # shape of pred
    make_inputs: MakeInputs
    pattern: str                  # the limit's access pattern: "copy", "add" or "sum"
    torch_loss: Callable | None   # (*tensors) -> scalar loss tensor; None: no torch peer
    kwargs: dict = field(default_factory=dict)  # extra lossk / reference arguments
    dtype: str = "float32"
    jax_loss: Callable | None = None  # (*jax arrays) -> scalar loss, in jax.numpy; None: no JAX peer

    @property
    def array_bytes(self) -> int:
        """Bytes of pred (= of its gradient): the size the limit is matched to."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def inputs(self, seed: int = 0) -> tuple:
        return self.make_inputs(np.random.default_rng(seed), self.shape, np.dtype(self.dtype))


def torch_functional(name: str, **kw) -> Callable:
    """torch.nn.functional.<name>(*tensors, **kw), importing torch only when called
    (torch is an optional peer: the registry must load without it)."""
    def loss(*tensors):
        import torch.nn.functional as F
        return getattr(F, name)(*tensors, **kw)
    loss.__qualname__ = f"torch.nn.functional.{name}"
    return loss


# ---- input generators --------------------------------------------------------

def logits_and_class_indices(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(N, C) standard-normal logits and (N,) int64 class indices in [0, C)."""
    logits = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    target = rng.integers(0, shape[1], size=shape[0], dtype=np.int64)
    return logits, target


def logits_and_binary_targets(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Standard-normal logits and 0/1 float targets (30 % ones) of the same shape."""
    logits = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    target = (rng.random(shape, dtype=np.float32) < 0.3).astype(dtype)
    return logits, target


def probs_and_binary_targets(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Probabilities in (0, 1) and 0/1 float targets (30 % ones) of the same shape."""
    probs = rng.uniform(1e-3, 1 - 1e-3, shape).astype(dtype)
    target = (rng.random(shape, dtype=np.float32) < 0.3).astype(dtype)
    return probs, target


def log_probs_and_class_indices(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """(N, C) log-probabilities (log-softmax of standard-normal logits) and class indices."""
    logits, target = logits_and_class_indices(rng, shape, np.dtype(np.float64))
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return log_probs.astype(dtype), target


def log_probs_and_probs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Log-probabilities of the input and probabilities of the target (kl_div)."""
    p = rng.uniform(1e-3, 1.0, shape)
    q = rng.uniform(1e-3, 1.0, shape)
    return np.log(p / p.sum()).astype(dtype), (q / q.sum()).astype(dtype)


def scores_and_signs(rng: np.random.Generator, shape: tuple, dtype: np.dtype):
    """Standard-normal scores and -1/+1 labels of the same shape (hinge)."""
    scores = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    return scores, np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dtype)


def torch_hinge_loss(margin: float = 1.0) -> Callable:
    """mean(max(0, margin - y s)) in torch ops (torch has no binary hinge loss)."""
    def loss(scores, labels):
        import torch
        return torch.clamp(margin - labels * scores, min=0).mean()
    loss.__qualname__ = "clamp(margin - y s, 0).mean() (torch ops)"
    return loss


def torch_sigmoid_focal_loss(alpha: float = 0.25, gamma: float = 2.0) -> Callable:
    """torchvision.ops.sigmoid_focal_loss with reduction="mean", written in torch ops
    (torchvision has no CPU wheel in the registry; this is its code)."""
    def loss(inputs, targets):
        import torch
        import torch.nn.functional as F
        p = torch.sigmoid(inputs)
        ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        out = ce_loss * ((1 - p_t) ** gamma)
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        return (alpha_t * out).mean()
    loss.__qualname__ = "torchvision sigmoid_focal_loss (torch ops)"
    return loss


def torch_softmax_focal_loss(gamma: float = 2.0) -> Callable:
    """Softmax focal loss as torch users write it (torch has none):
    mean of -(1 - p_t)^gamma log p_t over the rows."""
    def loss(logits, target):
        import torch.nn.functional as F
        log_pt = F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
        return (-(1 - log_pt.exp()) ** gamma * log_pt).mean()
    loss.__qualname__ = "log_softmax + gather + focal factor (torch ops)"
    return loss


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
            from . import box_torch
            fn.oracle = box_torch.ORACLES[loss]
        return fn.oracle(pred, target, **kw).mean()
    fn.__qualname__ = f"{loss} formula in torch ops"
    return fn


# ---- the registry --------------------------------------------------------------

# ---- JAX peers (jax.numpy, imported only when called; PERF.md's fastest peer for
# several workloads): each the same loss as the torch peer, mean reduction

def _jax_pick(values, target):
    """values[i, target[i]] for each row i."""
    import jax.numpy as jnp
    return jnp.take_along_axis(values, target[:, None], axis=1)[:, 0]


def jax_cross_entropy(logits, target):
    import jax
    return -_jax_pick(jax.nn.log_softmax(logits, axis=1), target).mean()


def jax_softmax_focal_loss(gamma: float = 2.0) -> Callable:
    def loss(logits, target):
        import jax
        import jax.numpy as jnp
        log_pt = _jax_pick(jax.nn.log_softmax(logits, axis=1), target)
        return (-(1 - jnp.exp(log_pt)) ** gamma * log_pt).mean()
    return loss


def jax_nll_loss(log_probs, target):
    return -_jax_pick(log_probs, target).mean()


def jax_multi_margin_loss(scores, target):
    """torch's: sum over i != y of max(0, 1 - x_y + x_i), / C, mean over rows."""
    import jax.numpy as jnp
    x_y = _jax_pick(scores, target)[:, None]
    hinge = jnp.maximum(0.0, 1.0 - x_y + scores)
    wrong = jnp.arange(scores.shape[1])[None, :] != target[:, None]
    return (jnp.where(wrong, hinge, 0.0).sum(axis=1) / scores.shape[1]).mean()


def _jax_bce_with_logits_elements(logits, target):
    import jax
    return -(target * jax.nn.log_sigmoid(logits) + (1 - target) * jax.nn.log_sigmoid(-logits))


def jax_bce_with_logits(logits, target):
    return _jax_bce_with_logits_elements(logits, target).mean()


def jax_sigmoid_focal_loss(alpha: float = 0.25, gamma: float = 2.0) -> Callable:
    """torchvision's formula (as torch_sigmoid_focal_loss) in jax.numpy."""
    def loss(inputs, targets):
        import jax
        import jax.numpy as jnp
        p = jax.nn.sigmoid(inputs)
        ce = _jax_bce_with_logits_elements(inputs, targets)
        p_t = p * targets + (1 - p) * (1 - targets)
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        return jnp.mean(alpha_t * ce * (1 - p_t) ** gamma)
    return loss


def jax_bce(probs, target):
    """torch's binary_cross_entropy: each log clamped at -100."""
    import jax.numpy as jnp
    return -(target * jnp.maximum(jnp.log(probs), -100.0)
             + (1 - target) * jnp.maximum(jnp.log1p(-probs), -100.0)).mean()


def jax_kl_div(log_input, target):
    """torch's kl_div(reduction="mean"): the mean over all elements."""
    import jax.numpy as jnp
    return jnp.where(target > 0, target * (jnp.log(target) - log_input), -target * log_input).mean()


def jax_hinge_loss(margin: float = 1.0) -> Callable:
    def loss(scores, labels):
        import jax.numpy as jnp
        return jnp.maximum(margin - labels * scores, 0.0).mean()
    return loss


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


def cross_entropy(n: int, c: int) -> Workload:
    # CE reads the logits and writes the gradient: the limit is a copy.
    return Workload(f"CE {n}×{c}", "cross_entropy", (n, c), logits_and_class_indices,
                    "copy", torch_functional("cross_entropy"), jax_loss=jax_cross_entropy)


def softmax_focal_loss(n: int, c: int) -> Workload:
    # the cross-entropy kernel with per-row focal factors: also a copy
    return Workload(f"softmax focal {n}×{c}", "softmax_focal_loss", (n, c), logits_and_class_indices,
                    "copy", torch_softmax_focal_loss(2.0), kwargs={"gamma": 2.0},
                    jax_loss=jax_softmax_focal_loss(2.0))


def multi_margin_loss(n: int, c: int) -> Workload:
    # reads the scores, writes the gradient: a copy
    return Workload(f"multi-margin {n}×{c}", "multi_margin_loss", (n, c), logits_and_class_indices,
                    "copy", torch_functional("multi_margin_loss"), jax_loss=jax_multi_margin_loss)


def sigmoid_focal_loss(n: int, c: int, gamma: float = 2.0) -> Workload:
    # reads logits and targets, writes the gradient: an add
    name = f"sigmoid focal {n:,}×{c}" if n >= 10**6 else f"sigmoid focal {n}×{c}"
    if gamma != 2.0:   # integer gamma: multiplications; others: exp and log per element
        name += f" gamma={gamma:g}"
    return Workload(name, "sigmoid_focal_loss", (n, c), logits_and_binary_targets, "add",
                    torch_sigmoid_focal_loss(0.25, gamma), kwargs={"alpha": 0.25, "gamma": gamma},
                    jax_loss=jax_sigmoid_focal_loss(0.25, gamma))


def binary_cross_entropy_with_logits(n: int) -> Workload:
    return Workload(f"BCE-with-logits {n >> 20} Mi", "binary_cross_entropy_with_logits", (n,),
                    logits_and_binary_targets, "add",
                    torch_functional("binary_cross_entropy_with_logits"), jax_loss=jax_bce_with_logits)


def binary_cross_entropy(n: int) -> Workload:
    return Workload(f"BCE {n >> 20} Mi", "binary_cross_entropy", (n,), probs_and_binary_targets,
                    "add", torch_functional("binary_cross_entropy"), jax_loss=jax_bce)


def nll_loss(n: int, c: int) -> Workload:
    # reads n targets and writes the (mostly zero) gradient: the copy limit is a
    # conservative stand-in for the fill the kernel really is (% may exceed 100)
    return Workload(f"NLL {n}×{c}", "nll_loss", (n, c), log_probs_and_class_indices, "copy",
                    torch_functional("nll_loss"), jax_loss=jax_nll_loss)


def kl_div(n: int) -> Workload:
    # reads input and target, writes the gradient: an add
    return Workload(f"KL {n >> 20} Mi", "kl_div", (n,), log_probs_and_probs, "add",
                    torch_functional("kl_div", reduction="mean"), jax_loss=jax_kl_div)


def hinge_loss(n: int) -> Workload:
    return Workload(f"hinge {n >> 20} Mi", "hinge_loss", (n,), scores_and_signs, "add",
                    torch_hinge_loss(1.0), jax_loss=jax_hinge_loss(1.0))


def box_loss(loss: str, n: int, label: str, **kwargs) -> Workload:
    # reads the boxes and their targets, writes the gradient: an add
    return Workload(f"{label} N={n:,}", loss, (n, 4), boxes_and_targets, "add",
                    torch_box_loss(loss, **kwargs), kwargs=kwargs,
                    jax_loss=None if kwargs else jax_box_loss(loss))


WORKLOADS: list[Workload] = [
    cross_entropy(65536, 10),
    cross_entropy(65536, 21),     # Pascal VOC's 20 classes and background: two blocks of 16 classes
    cross_entropy(16384, 1000),
    cross_entropy(4096, 32000),
    cross_entropy(1024, 128256),
    softmax_focal_loss(16384, 1000),
    softmax_focal_loss(65536, 21),    # narrow rows: the register kernel with the focal factors
    multi_margin_loss(16384, 1000),
    nll_loss(16384, 1000),
    sigmoid_focal_loss(65536, 80),
    sigmoid_focal_loss(1_000_000, 1),
    sigmoid_focal_loss(65536, 80, gamma=0.5),
    binary_cross_entropy_with_logits(1 << 20),    # the small rows keep `--quick` (CI) quick
    binary_cross_entropy_with_logits(16 << 20),
    binary_cross_entropy(1 << 20),
    binary_cross_entropy(16 << 20),
    kl_div(16 << 20),
    hinge_loss(16 << 20),
    box_loss("giou_loss", 10_000, "GIoU"),
    box_loss("giou_loss", 1_000_000, "GIoU"),
    box_loss("ciou_loss", 10_000, "CIoU"),
    box_loss("ciou_loss", 1_000_000, "CIoU"),
    box_loss("iou_loss", 1_000_000, "IoU"),
    box_loss("diou_loss", 1_000_000, "DIoU"),
    box_loss("eiou_loss", 1_000_000, "EIoU"),
    box_loss("siou_loss", 1_000_000, "SIoU"),
    box_loss("wiou_loss", 1_000_000, "WIoU v1"),
]


def select(only: str | None = None, quick: bool = False,
           workloads: list[Workload] = WORKLOADS) -> list[Workload]:
    """Workloads whose name or loss contains `only` (case-insensitive); with `quick`,
    only the smallest of each loss family."""
    chosen = [w for w in workloads
              if only is None or only.lower() in f"{w.name} {w.loss}".lower()]
    if quick:
        smallest: dict[str, Workload] = {}
        for w in chosen:
            if w.loss not in smallest or w.array_bytes < smallest[w.loss].array_bytes:
                smallest[w.loss] = w
        chosen = [w for w in chosen if smallest[w.loss] is w]
    return chosen
