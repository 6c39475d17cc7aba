r"""Box-regression losses of the IoU family, and pairwise IoU matrices.

Boxes are arrays of shape (N, 4) (or (..., 4), or a single (4,) box) in
``box_format`` ``"xyxy"`` (corners, the default), ``"xywh"`` (corner and size)
or ``"cxcywh"`` (centre and size); the gradient is returned w.r.t. ``pred`` in
that same format. Every loss is computed on the corners, per pair:

* ``w = x2 - x1``, ``h = y2 - y1`` (``wg``, ``hg`` the target's);
* intersection ``I = iw * ih`` where both extents ``iw = min(x2, X2) - max(x1, X1)``
  and ``ih`` are > 0, else 0 (torchvision masks it);
* ``U = w h + wg hg - I``, ``IoU = I / (U + eps)``;
* ``cw``, ``ch``: size of the smallest box enclosing both;
* ``rho^2 = dx^2 + dy^2``, the squared distance of the centres.

The gradient is torch autograd's through these formulas, with its subgradients:
at a max/min tie each argument gets half, the masked intersection has gradient
0 where it is masked, ``|0|' = 0``. Values and gradients are finite for every
finite input, degenerate boxes included (zero width or height, identical boxes,
coincident centres, inverted ``x2 < x1``, all-zero boxes): where torchvision
divides by zero the reciprocal is taken as 0, each function says where.
``"mean"`` of no boxes is 0, as torchvision.
"""
import math
from types import SimpleNamespace

import numpy as np

from . import _kernels
from ._checks import (REDUCTION_CODES, as_pred, as_real, check_backend, check_reduction,
                      check_scalar, finish, grad_output, resolve_n_threads)
from ._registry import register

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
_FORMAT_CODES = {name: code for code, name in enumerate(BOX_FORMATS)}  # lossk_box_format
CIOU_ALPHAS = ("torchvision", "yolo")  # lossk_ciou_alpha


def _check_format(box_format):
    if not isinstance(box_format, str) or box_format not in _FORMAT_CODES:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
    return box_format


def _check_finite(value, name, low, low_open=False):
    v = check_scalar(value, name, low, low_open=low_open)
    if math.isinf(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _as_boxes(x, name, dtype=None):
    """x as an array of boxes (..., 4): pred-like (float, its own compute dtype)
    when dtype is None, else converted to dtype (integers allowed)."""
    a, dtype = as_pred(x, name) if dtype is None else (as_real(x, name, dtype), dtype)
    if a.ndim == 0 or a.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) (or (..., 4)), got {a.shape}")
    return a, dtype


# Options of every variant, so the kernel call and the reference read them alike.
_DEFAULT_OPTIONS = dict(alpha="torchvision", focal_gamma=None, theta=4.0, mean=1.0, momentum=0.0,
                        wiou_alpha=1.9, delta=3.0)


def _prepare_boxes(kind, pred, target, box_format, eps, reduction, return_grad, grad_out,
                   n_threads, backend, **options):
    check_backend(backend)
    check_reduction(reduction)
    _check_format(box_format)
    eps = _check_finite(eps, "eps", 0.0)
    x, dtype = _as_boxes(pred, "pred")
    t = as_real(target, "target", dtype)
    if t.shape != x.shape:
        raise ValueError(f"target must have pred's shape {x.shape}, got {t.shape}")
    grad = grad_output(x, dtype, return_grad, grad_out, {"pred": x, "target": t})
    p = SimpleNamespace(
        kind=kind, x=x, target=t, dtype=dtype, n=x.size // 4, box_format=box_format, eps=eps,
        reduction=reduction, return_grad=return_grad, grad=grad,
        loss_none=np.empty(x.shape[:-1], dtype) if reduction == "none" else None,
        n_threads=resolve_n_threads(n_threads), backend=backend, **_DEFAULT_OPTIONS)
    p.__dict__.update(options)
    return p


def _flat(a):
    return None if a is None else a.reshape(-1)


def _kernel_option(p):
    """The `option` argument of _kernels.box_loss for p's variant."""
    if p.kind == "ciou":
        return float(CIOU_ALPHAS.index(p.alpha))
    if p.kind == "eiou":
        return p.focal_gamma or 0.0
    return p.theta if p.kind == "siou" else 0.0


def _run(p):
    """The kernel (or the reference) on prepared arguments."""
    if p.backend == "numpy":
        from .reference.box import box_loss_prepared
        return box_loss_prepared(p)
    fmt, code = _FORMAT_CODES[p.box_format], REDUCTION_CODES[p.reduction]
    if p.kind in ("wiou", "wiou3"):
        loss, p.mean = _kernels.wiou_loss(_flat(p.x), _flat(p.target), _flat(p.loss_none),
                                          _flat(p.grad), p.n, fmt, p.eps, p.kind == "wiou3", p.mean,
                                          p.momentum, p.wiou_alpha, p.delta, code, p.n_threads)
    else:
        loss = _kernels.box_loss(_kernels.BOX_KINDS[p.kind], _flat(p.x), _flat(p.target),
                                 _flat(p.loss_none), _flat(p.grad), p.n, fmt, p.eps,
                                 _kernel_option(p), code, p.n_threads)
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


_COMMON_ARGS = """
    Parameters
    ----------
    pred : array_like (N, 4), float16/32/64: the predicted boxes
    target : array_like of pred's shape: the target boxes
    box_format : "xyxy", "xywh" or "cxcywh"
    eps : float >= 0, added to the denominators as torchvision does
    reduction : "mean", "sum" or "none" (one loss per box, shape pred.shape[:-1])
    return_grad : also return d(loss)/d(pred) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``pred`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference``)
"""


def _doc(fn):
    fn.__doc__ = fn.__doc__.rstrip() + "\n" + _COMMON_ARGS
    return fn


@register(mean="boxes")
@_doc
def iou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
             grad_out=None, n_threads=None, backend="c"):
    r"""IoU loss: ``1 - IoU``, ``IoU = I / (U + eps)`` as torchvision computes it.

    ``U + eps = 0`` (possible only with an inverted box, where ``I = 0``) gives
    IoU 0 instead of 0/0.
    """
    return _run(_prepare_boxes("iou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend))


@register(mean="boxes")
@_doc
def giou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
              grad_out=None, n_threads=None, backend="c"):
    r"""Generalized IoU loss, = ``torchvision.ops.generalized_box_iou_loss``.

    ``1 - IoU + (C - U) / (C + eps)``, ``C = cw * ch`` the enclosing box's area.
    (lossk defaults to ``reduction="mean"``, torchvision to ``"none"``.)
    ``C + eps = 0`` (inverted boxes only) gives a penalty of 0 instead of a
    division by zero.
    """
    return _run(_prepare_boxes("giou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend))


@register(mean="boxes")
@_doc
def diou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
              grad_out=None, n_threads=None, backend="c"):
    r"""Distance IoU loss, = ``torchvision.ops.distance_box_iou_loss``.

    ``1 - IoU + rho^2 / (cw^2 + ch^2 + eps)``.
    """
    return _run(_prepare_boxes("diou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend))


@register(mean="boxes")
@_doc
def ciou_loss(pred, target, *, alpha="torchvision", box_format="xyxy", eps=1e-7, reduction="mean",
              return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Complete IoU loss, = ``torchvision.ops.complete_box_iou_loss``.

    ``1 - IoU + rho^2 / (cw^2 + ch^2 + eps) + a * v`` with
    ``v = 4/pi^2 (atan(wg/hg) - atan(w/h))^2`` and the weight ``a`` held constant
    for the gradient (torchvision computes it under ``no_grad``):

    * ``alpha="torchvision"``: ``a = v / (1 - IoU + v + eps)``;
    * ``alpha="yolo"``: ``a = v / (v - IoU + (1 + eps))`` (YOLOv5, ultralytics).

    Where torchvision gives NaN lossk stays finite: at ``h = 0`` the gradient
    of ``atan(w/h)`` is its finite limit ``(h, -w) / (w^2 + h^2)`` (torch:
    ``0 * inf``), and a box with ``w = h = 0`` has ``atan(w/h) = 0`` with no
    gradient through it (torch: ``atan(0/0)``). torchvision's CIoU uses
    ``eps = 1e-7`` in its IoU and distance terms whatever ``eps`` is passed;
    lossk uses ``eps`` throughout (the same numbers at the default).
    """
    if not isinstance(alpha, str) or alpha not in CIOU_ALPHAS:
        raise ValueError(f"alpha must be one of {CIOU_ALPHAS}, got {alpha!r}")
    return _run(_prepare_boxes("ciou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend, alpha=alpha))


@register(mean="boxes")
@_doc
def eiou_loss(pred, target, *, focal_gamma=None, box_format="xyxy", eps=1e-7, reduction="mean",
              return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Efficient IoU loss (Zhang et al. 2021, arXiv 2101.08158), as the paper writes it.

    ``1 - IoU + rho^2 / (cw^2 + ch^2 + eps) + (w - wg)^2 / (cw^2 + eps) + (h - hg)^2 / (ch^2 + eps)``.

    ``focal_gamma`` (>= 0) gives Focal-EIoU, ``IoU^gamma * L_EIoU`` (the paper
    uses 0.5), with ``IoU^gamma`` a constant for the gradient (the paper does
    not say; constant keeps the focal factor a weight, as the Wise-IoU code
    treats its focusing factors). ``None`` or 0: plain EIoU.
    """
    gamma = None if focal_gamma is None else _check_finite(focal_gamma, "focal_gamma", 0.0)
    return _run(_prepare_boxes("eiou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend, focal_gamma=gamma))


@register(mean="boxes")
@_doc
def siou_loss(pred, target, *, theta=4.0, box_format="xyxy", eps=1e-7, reduction="mean",
              return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""SCYLLA-IoU loss (Gevorgyan 2022, arXiv 2205.12740), as the paper writes it.

    ``1 - IoU + (Delta + Omega) / 2``, nothing constant for the gradient:

    * angle cost ``Lambda = 1 - 2 sin^2(arcsin(x) - pi/4)``, ``x = sin(alpha)``
      the sine of the angle between the centres' line and the x axis, taking
      the other angle past 45 degrees as the paper does; both equal
      ``sin(2 alpha) = 2 |dx| |dy| / rho^2``, which is what is computed
      (0 when the centres coincide, where the paper's ``x`` is 0/0);
    * distance cost ``Delta = sum_{t=x,y} 1 - exp(-gamma rho_t)``,
      ``gamma = 2 - Lambda``, ``rho_x = dx^2 / (cw^2 + eps)``, ``rho_y`` alike;
    * shape cost ``Omega = sum_{t=w,h} (1 - exp(-omega_t))^theta``,
      ``omega_w = |w - wg| / max(w, wg, eps)`` (eps keeps zero-size and
      inverted boxes finite).

    theta : float >= 1 (the gradient of ``base^theta`` is infinite at 0 below 1).
    """
    theta = _check_finite(theta, "theta", 1.0)
    return _run(_prepare_boxes("siou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend, theta=theta))


@register(mean="boxes")
@_doc
def wiou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
              grad_out=None, n_threads=None, backend="c"):
    r"""Wise-IoU v1 loss (Tong et al. 2023, arXiv 2301.10051).

    ``R * (1 - IoU)`` with ``R = exp(rho^2 / (cw^2 + ch^2 + eps)*)``, the
    denominator (the enclosing box's squared diagonal) a constant for the
    gradient, as in the reference code (``l2_box.detach()``). The ratio is < 1
    for valid boxes (both centres lie in the enclosing box); it is clamped at 1
    so that inverted boxes stay finite. The reference code's IoU has no eps;
    lossk's is torchvision's ``I / (U + eps)``. :class:`WIoULoss` is v3.
    """
    return _run(_prepare_boxes("wiou", pred, target, box_format, eps, reduction, return_grad,
                               grad_out, n_threads, backend))


class WIoULoss:
    r"""Wise-IoU v3 (Tong et al. 2023): Wise-IoU v1 times a non-monotonic focusing factor.

    Per pair, with ``L_IoU = 1 - IoU``::

        beta = L_IoU* / mean_iou_loss
        r = beta / (delta * alpha ** (beta - delta))
        loss = r * WIoU_v1

    ``*``: ``beta`` and ``r`` are constants for the gradient, as the v1 ratio's
    denominator (see :func:`wiou_loss`). ``mean_iou_loss`` is the running mean
    of ``L_IoU``: it starts at 1.0 and, in training mode (the default; see
    :meth:`train`, :meth:`eval` and :attr:`training`), each call first updates
    it with the batch's mean, ``mean = (1 - momentum) * mean + momentum *
    mean(L_IoU)``, then uses the updated value, as the reference code does. A
    call with no boxes leaves it unchanged. It can be read and set
    (``.mean_iou_loss``), e.g. to restore a checkpoint.

    The reference code derives ``momentum = 1 - 0.05 ** (1 / (n * t))`` from
    the batches per epoch ``n`` and the epoch ``t`` where mAP rises slowly;
    pass that value for its schedule.

    Calling it takes the arguments of :func:`wiou_loss`.
    """

    def __init__(self, momentum=0.01, alpha=1.9, delta=3.0):
        self.momentum = check_scalar(momentum, "momentum", 0.0, 1.0)
        self.alpha = _check_finite(alpha, "alpha", 0.0, low_open=True)
        self.delta = _check_finite(delta, "delta", 0.0, low_open=True)
        self.training = True
        self._mean = 1.0

    @property
    def mean_iou_loss(self):
        """The running mean of ``1 - IoU`` (a float >= 0)."""
        return self._mean

    @mean_iou_loss.setter
    def mean_iou_loss(self, value):
        self._mean = _check_finite(value, "mean_iou_loss", 0.0)

    def train(self, mode=True):
        """Training mode (calls update the running mean); returns self."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode (the running mean is used, not updated); returns self."""
        return self.train(False)

    def __repr__(self):
        return (f"WIoULoss(momentum={self.momentum}, alpha={self.alpha}, delta={self.delta}, "
                f"mean_iou_loss={self._mean!r}, training={self.training})")

    def __call__(self, pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean",
                 return_grad=False, grad_out=None, n_threads=None, backend="c"):
        p = _prepare_boxes("wiou3", pred, target, box_format, eps, reduction, return_grad,
                           grad_out, n_threads, backend, mean=self._mean,
                           momentum=self.momentum if self.training else 0.0,
                           wiou_alpha=self.alpha, delta=self.delta)
        result = _run(p)
        self._mean = float(p.mean)  # the running mean after this call's update
        return result


def _pair_dtype(a, b):
    """Result dtype of box_iou: float64 if either is float64 or both are
    integers, else float32 (float16 computed in float32)."""
    kinds = (a.dtype.kind, b.dtype.kind)
    for arr in (a, b):
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"boxes must be real numeric arrays, got dtype {arr.dtype}")
    if "f" not in kinds or any(arr.dtype.kind == "f" and arr.dtype.itemsize >= 8 for arr in (a, b)):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _prepare_pairwise(boxes1, boxes2, box_format, out, n_threads, backend):
    check_backend(backend)
    _check_format(box_format)
    a, b = np.asarray(boxes1), np.asarray(boxes2)
    dtype = _pair_dtype(a, b)
    b1, _ = _as_boxes(a, "boxes1", dtype)
    b2, _ = _as_boxes(b, "boxes2", dtype)
    if b1.ndim != 2 or b2.ndim != 2:
        raise ValueError(f"boxes1 and boxes2 must have shape (N, 4) and (M, 4), got {b1.shape} "
                         f"and {b2.shape}")
    shape = (b1.shape[0], b2.shape[0])
    out = np.empty(shape, dtype) if out is None else _check_out(out, shape, dtype, b1, b2)
    return SimpleNamespace(b1=b1, b2=b2, dtype=dtype, box_format=box_format, out=out,
                           n_threads=resolve_n_threads(n_threads), backend=backend)


def _check_out(out, shape, dtype, *inputs):
    """out= of the pairwise functions: a writeable C-contiguous ndarray of the
    result's shape and dtype, not overlapping the boxes."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype} (the result dtype), got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if not (out.flags.c_contiguous and out.flags.aligned and out.flags.writeable):
        raise ValueError("out must be writeable, aligned and C-contiguous")
    if any(np.may_share_memory(out, a) for a in inputs):
        raise ValueError("out overlaps boxes1 or boxes2")
    return out


def _pairwise(generalized, boxes1, boxes2, box_format, out, n_threads, backend):
    p = _prepare_pairwise(boxes1, boxes2, box_format, out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.box import pairwise_prepared
        return pairwise_prepared(p, generalized)
    _kernels.box_iou(p.b1.reshape(-1), p.b2.reshape(-1), p.out.reshape(-1), p.b1.shape[0],
                     p.b2.shape[0], _FORMAT_CODES[p.box_format], generalized, p.n_threads)
    return p.out


def box_iou(boxes1, boxes2, *, box_format="xyxy", out=None, n_threads=None, backend="c"):
    r"""Pairwise IoU matrix (N, M), = ``torchvision.ops.box_iou``.

    ``I / U`` with the intersection clamped at 0 and no eps: a pair of
    zero-area boxes gives 0/0 = NaN, as torchvision. Not a loss (no gradient,
    not in ``lossk.LOSSES``).

    Parameters
    ----------
    boxes1 : (N, 4), boxes2 : (M, 4) in ``box_format``; float (float16 computed
        in float32) or integer (computed in float64)
    box_format : "xyxy", "xywh" or "cxcywh"
    out : optional (N, M) C-contiguous array of the result dtype that receives
        the result (no allocation: a fresh 4096 x 4096 result costs more in
        page faults than the computation)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" or "numpy"
    """
    return _pairwise(False, boxes1, boxes2, box_format, out, n_threads, backend)


def generalized_box_iou(boxes1, boxes2, *, box_format="xyxy", out=None, n_threads=None,
                        backend="c"):
    r"""Pairwise generalized IoU matrix (N, M), = ``torchvision.ops.generalized_box_iou``.

    ``IoU - (C - U) / C``, ``C`` the enclosing box's area with its sides
    clamped at 0 (no eps, as torchvision: NaN for two identical zero-area
    boxes). Arguments as :func:`box_iou`.
    """
    return _pairwise(True, boxes1, boxes2, box_format, out, n_threads, backend)


__all__ = ["BOX_FORMATS", "WIoULoss", "box_iou", "ciou_loss", "diou_loss", "eiou_loss",
           "generalized_box_iou", "giou_loss", "iou_loss", "siou_loss", "wiou_loss"]
