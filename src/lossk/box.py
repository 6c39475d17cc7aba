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
from . import _kernels
from ._args.box import BOX_FORMATS, CIOU_ALPHAS, WIoUState, prepare_box_loss, prepare_pairwise
from ._checks import REDUCTION_CODES, finish, flat
from ._registry import register


# lossk_box_loss's name of each prepared kind (Wise-IoU v3 is wiou_loss with its state)
_ENTRY_NAMES = {"iou": b"iou_loss", "giou": b"giou_loss", "diou": b"diou_loss", "ciou": b"ciou_loss",
                "eiou": b"eiou_loss", "siou": b"siou_loss", "wiou": b"wiou_loss", "wiou3": b"wiou_loss"}


def _kernel_option(p):
    """The `option` of lossk_box_args for p's variant."""
    if p.kind == "ciou":
        return float(CIOU_ALPHAS.index(p.alpha))   # lossk_ciou_alpha
    if p.kind == "eiou":
        return p.focal_gamma or 0.0
    return p.theta if p.kind == "siou" else 0.0


def _run(p):
    """The kernel (or the reference) on prepared arguments."""
    if p.backend == "numpy":
        from .reference.box import box_loss_prepared
        return box_loss_prepared(p)
    loss, mean = _kernels.box_loss(
        _ENTRY_NAMES[p.kind], flat(p.x), flat(p.target), flat(p.loss_none), flat(p.grad), p.n,
        BOX_FORMATS.index(p.box_format), p.eps, _kernel_option(p), p.mean if p.kind == "wiou3" else None,
        p.momentum, p.wiou_alpha, p.delta, REDUCTION_CODES[p.reduction], p.n_threads)
    if p.kind == "wiou3":
        p.mean = mean
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


@register(mean="boxes", peer=None)
@_doc
def iou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
             grad_out=None, n_threads=None, backend="c"):
    r"""IoU loss: ``1 - IoU``, ``IoU = I / (U + eps)`` as torchvision computes it.

    ``U + eps = 0`` (possible only with an inverted box, where ``I = 0``) gives
    IoU 0 instead of 0/0.
    """
    return _run(prepare_box_loss("iou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend))


@register(mean="boxes", peer="torchvision.ops.generalized_box_iou_loss")
@_doc
def giou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
              grad_out=None, n_threads=None, backend="c"):
    r"""Generalized IoU loss, = ``torchvision.ops.generalized_box_iou_loss``.

    ``1 - IoU + (C - U) / (C + eps)``, ``C = cw * ch`` the enclosing box's area.
    (lossk defaults to ``reduction="mean"``, torchvision to ``"none"``.)
    ``C + eps = 0`` (inverted boxes only) gives a penalty of 0 instead of a
    division by zero.
    """
    return _run(prepare_box_loss("giou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend))


@register(mean="boxes", peer="torchvision.ops.distance_box_iou_loss")
@_doc
def diou_loss(pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean", return_grad=False,
              grad_out=None, n_threads=None, backend="c"):
    r"""Distance IoU loss, = ``torchvision.ops.distance_box_iou_loss``.

    ``1 - IoU + rho^2 / (cw^2 + ch^2 + eps)``.
    """
    return _run(prepare_box_loss("diou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend))


@register(mean="boxes", peer="torchvision.ops.complete_box_iou_loss")
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
    return _run(prepare_box_loss("ciou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend, alpha=alpha))


@register(mean="boxes", peer=None)
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
    return _run(prepare_box_loss("eiou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend, focal_gamma=focal_gamma))


@register(mean="boxes", peer=None)
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
    return _run(prepare_box_loss("siou", pred, target, box_format, eps, reduction, return_grad, grad_out,
                               n_threads, backend, theta=theta))


@register(mean="boxes", peer=None)
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
    return _run(prepare_box_loss("wiou", pred, target, box_format, eps, reduction, return_grad,
                               grad_out, n_threads, backend))


class WIoULoss(WIoUState):
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

    def __call__(self, pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean",
                 return_grad=False, grad_out=None, n_threads=None, backend="c"):
        return self._call(pred, target, box_format, eps, reduction, return_grad, grad_out, n_threads,
                          backend)

    @staticmethod
    def _run(p):
        return _run(p)


def _pairwise(generalized, boxes1, boxes2, box_format, out, n_threads, backend):
    p = prepare_pairwise(boxes1, boxes2, box_format, out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.box import pairwise_prepared
        return pairwise_prepared(p, generalized)
    _kernels.box_iou(p.b1.reshape(-1), p.b2.reshape(-1), p.out.reshape(-1), p.b1.shape[0],
                     p.b2.shape[0], BOX_FORMATS.index(p.box_format), generalized, p.n_threads)
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
