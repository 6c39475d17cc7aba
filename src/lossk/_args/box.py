"""Arguments of the box family (lossk.box): boxes (..., 4) in a box format, the
options of each IoU variant, Wise-IoU v3's state, the pairwise matrices."""
import numpy as np

from .._checks import (Call, as_array, as_pred, as_real, check_backend, check_bool, check_finite,
                       check_output, check_reduction, check_scalar, check_shape, grad_output,
                       resolve_n_threads)

# The one list of box formats; their position is lossk_box_format's value in lossk.h.
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
# CIoU's alpha modes; their position is lossk_ciou_alpha's value in lossk.h.
CIOU_ALPHAS = ("torchvision", "yolo")


def check_format(box_format):
    if not isinstance(box_format, str) or box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
    return box_format


def as_boxes(x, name, dtype=None):
    """x as an array of boxes (..., 4): pred-like (float, its own compute dtype)
    when dtype is None, else converted to dtype (integers allowed)."""
    a, dtype = as_pred(x, name) if dtype is None else (as_real(x, name, dtype), dtype)
    if a.ndim == 0 or a.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) (or (..., 4)), got {a.shape}")
    return a, dtype


# Every variant's options at their defaults, so the kernel call and the reference read them alike.
_DEFAULT_OPTIONS = dict(alpha="torchvision", focal_gamma=None, theta=4.0, mean=1.0, momentum=0.0,
                        wiou_alpha=1.9, delta=3.0)


def _check_options(kind, options):
    """The variant's own options, checked, over every other variant's default
    (Wise-IoU v3's state comes checked by WIoUState)."""
    if kind == "ciou":
        alpha = options["alpha"]
        if not isinstance(alpha, str) or alpha not in CIOU_ALPHAS:
            raise ValueError(f"alpha must be one of {CIOU_ALPHAS}, got {alpha!r}")
    elif kind == "eiou" and options["focal_gamma"] is not None:
        options["focal_gamma"] = check_finite(options["focal_gamma"], "focal_gamma", 0.0)
    elif kind == "siou":
        options["theta"] = check_finite(options["theta"], "theta", 1.0)
    return {**_DEFAULT_OPTIONS, **options}


def prepare_box_loss(kind, pred, target, box_format, eps, reduction, return_grad, grad_out,
                     n_threads, backend, **options):
    """A box loss's call; `options` are the variant's own (alpha, focal_gamma, theta),
    checked first."""
    options = _check_options(kind, options)
    check_backend(backend)
    check_reduction(reduction)
    check_format(box_format)
    eps = check_finite(eps, "eps", 0.0)
    x, dtype = as_boxes(pred, "pred")
    t = as_real(target, "target", dtype)
    check_shape(t, "target", x.shape, "pred")
    grad = grad_output(x, dtype, return_grad, grad_out, {"pred": x, "target": t})
    return Call(kind=kind, x=x, target=t, dtype=dtype, n=x.size // 4, box_format=box_format, eps=eps,
                reduction=reduction, return_grad=return_grad, grad=grad,
                loss_none=np.empty(x.shape[:-1], dtype) if reduction == "none" else None,
                n_threads=resolve_n_threads(n_threads), backend=backend, **options)


class WIoUState:
    """Wise-IoU v3's options and running mean of 1 - IoU, shared by lossk.WIoULoss
    and its reference twin; each runs a prepared call its own way (`_run`)."""

    def __init__(self, momentum=0.01, alpha=1.9, delta=3.0):
        self.momentum = check_scalar(momentum, "momentum", 0.0, 1.0)
        self.alpha = check_finite(alpha, "alpha", 0.0, low_open=True)
        self.delta = check_finite(delta, "delta", 0.0, low_open=True)
        self.training = True
        self._mean = 1.0

    @property
    def mean_iou_loss(self):
        """The running mean of ``1 - IoU`` (a float >= 0)."""
        return self._mean

    @mean_iou_loss.setter
    def mean_iou_loss(self, value):
        self._mean = check_finite(value, "mean_iou_loss", 0.0)

    def train(self, mode=True):
        """Training mode (calls update the running mean); returns self."""
        self.training = check_bool(mode, "mode")
        return self

    def eval(self):
        """Evaluation mode (the running mean is used, not updated); returns self."""
        return self.train(False)

    def __repr__(self):
        return (f"{type(self).__name__}(momentum={self.momentum}, alpha={self.alpha}, "
                f"delta={self.delta}, mean_iou_loss={self._mean!r}, training={self.training})")

    def _call(self, pred, target, box_format, eps, reduction, return_grad, grad_out, n_threads, backend):
        p = prepare_box_loss("wiou3", pred, target, box_format, eps, reduction, return_grad, grad_out,
                             n_threads, backend, mean=self._mean,
                             momentum=self.momentum if self.training else 0.0,
                             wiou_alpha=self.alpha, delta=self.delta)
        result = self._run(p)
        self._mean = float(p.mean)  # the running mean after this call's update
        return result


def pair_dtype(a, b):
    """Result dtype of box_iou: float64 if either is float64 or both are
    integers, else float32 (float16 computed in float32)."""
    kinds = (a.dtype.kind, b.dtype.kind)
    for arr in (a, b):
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"boxes must be real numeric arrays, got dtype {arr.dtype}")
    if "f" not in kinds or any(arr.dtype.kind == "f" and arr.dtype.itemsize >= 8 for arr in (a, b)):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def check_out(out, shape, dtype, *inputs):
    """out= of the pairwise functions: a writeable C-contiguous ndarray of the
    result's shape and dtype, not overlapping the boxes."""
    check_output(out, "out", dtype, tuple(shape))
    if any(np.may_share_memory(out, a) for a in inputs):
        raise ValueError("out overlaps boxes1 or boxes2")
    return out


def prepare_pairwise(boxes1, boxes2, box_format, out, n_threads, backend):
    check_backend(backend)
    check_format(box_format)
    a, b = as_array(boxes1, "boxes1"), as_array(boxes2, "boxes2")
    dtype = pair_dtype(a, b)
    b1, _ = as_boxes(a, "boxes1", dtype)
    b2, _ = as_boxes(b, "boxes2", dtype)
    if b1.ndim != 2 or b2.ndim != 2:
        raise ValueError(f"boxes1 and boxes2 must have shape (N, 4) and (M, 4), got {b1.shape} "
                         f"and {b2.shape}")
    shape = (b1.shape[0], b2.shape[0])
    out = np.empty(shape, dtype) if out is None else check_out(out, shape, dtype, b1, b2)
    return Call(b1=b1, b2=b2, dtype=dtype, box_format=box_format, out=out,
                n_threads=resolve_n_threads(n_threads), backend=backend)
