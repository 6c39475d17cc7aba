"""The registry of benchmark workloads: one entry per table row group.

A new loss family adds rows by appending Workload entries to WORKLOADS; everything
else (lossk calls, the NumPy reference, torch, the limit, the report) is generic:

    lossk:  getattr(lossk, loss)(*inputs, return_grad=True, grad_out=g,
                                 n_threads=t, **kwargs)
    torch:  torch_loss(*tensors).backward(), tensors = torch.from_numpy(inputs),
            the first one (the prediction) with requires_grad
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


def load_box_torch():
    """tests/box_torch.py (the box losses' formulas in torch ops), which imports
    torch: beside this file when installed with the package (lossk bench), else
    in the checkout's tests/."""
    import importlib.util
    import pathlib
    here = pathlib.Path(__file__).resolve().parent
    path = here / "box_torch.py" if (here / "box_torch.py").exists() else here.parent / "tests" / "box_torch.py"
    spec = importlib.util.spec_from_file_location("box_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_box_loss(loss: str, **kw) -> Callable:
    """Mean over the boxes of tests/box_torch.py's formula for lossk.<loss>:
    torchvision's for GIoU, DIoU and CIoU, written in torch ops (torchvision's
    compiled part cannot load with this CPU torch), the papers' for the others."""
    def fn(pred, target):
        if not hasattr(fn, "oracle"):   # torch is imported on first use only
            fn.oracle = load_box_torch().ORACLES[loss]
        return fn.oracle(pred, target, **kw).mean()
    fn.__qualname__ = f"{loss} formula in torch ops"
    return fn


# ---- the registry --------------------------------------------------------------

def cross_entropy(n: int, c: int) -> Workload:
    # CE reads the logits and writes the gradient: the limit is a copy.
    return Workload(f"CE {n}×{c}", "cross_entropy", (n, c), logits_and_class_indices,
                    "copy", torch_functional("cross_entropy"))


def softmax_focal_loss(n: int, c: int) -> Workload:
    # the cross-entropy kernel with per-row focal factors: also a copy
    return Workload(f"softmax focal {n}×{c}", "softmax_focal_loss", (n, c), logits_and_class_indices,
                    "copy", torch_softmax_focal_loss(2.0), kwargs={"gamma": 2.0})


def multi_margin_loss(n: int, c: int) -> Workload:
    # reads the scores, writes the gradient: a copy
    return Workload(f"multi-margin {n}×{c}", "multi_margin_loss", (n, c), logits_and_class_indices,
                    "copy", torch_functional("multi_margin_loss"))


def sigmoid_focal_loss(n: int, c: int, gamma: float = 2.0) -> Workload:
    # reads logits and targets, writes the gradient: an add
    name = f"sigmoid focal {n:,}×{c}" if n >= 10**6 else f"sigmoid focal {n}×{c}"
    if gamma != 2.0:   # integer gamma: multiplications; others: exp and log per element
        name += f" gamma={gamma:g}"
    return Workload(name, "sigmoid_focal_loss", (n, c), logits_and_binary_targets, "add",
                    torch_sigmoid_focal_loss(0.25, gamma), kwargs={"alpha": 0.25, "gamma": gamma})


def binary_cross_entropy_with_logits(n: int) -> Workload:
    return Workload(f"BCE-with-logits {n >> 20} Mi", "binary_cross_entropy_with_logits", (n,),
                    logits_and_binary_targets, "add",
                    torch_functional("binary_cross_entropy_with_logits"))


def binary_cross_entropy(n: int) -> Workload:
    return Workload(f"BCE {n >> 20} Mi", "binary_cross_entropy", (n,), probs_and_binary_targets,
                    "add", torch_functional("binary_cross_entropy"))


def nll_loss(n: int, c: int) -> Workload:
    # reads n targets and writes the (mostly zero) gradient: the copy limit is a
    # conservative stand-in for the fill the kernel really is (% may exceed 100)
    return Workload(f"NLL {n}×{c}", "nll_loss", (n, c), log_probs_and_class_indices, "copy",
                    torch_functional("nll_loss"))


def kl_div(n: int) -> Workload:
    # reads input and target, writes the gradient: an add
    return Workload(f"KL {n >> 20} Mi", "kl_div", (n,), log_probs_and_probs, "add",
                    torch_functional("kl_div", reduction="mean"))


def hinge_loss(n: int) -> Workload:
    return Workload(f"hinge {n >> 20} Mi", "hinge_loss", (n,), scores_and_signs, "add",
                    torch_hinge_loss(1.0))


def box_loss(loss: str, n: int, label: str, **kwargs) -> Workload:
    # reads the boxes and their targets, writes the gradient: an add
    return Workload(f"{label} N={n:,}", loss, (n, 4), boxes_and_targets, "add",
                    torch_box_loss(loss, **kwargs), kwargs=kwargs)


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
