"""The torch peers of the box benchmarks, and the oracles of the box tests: the
torchvision box losses written in torch ops (torchvision's compiled part cannot
load with the CPU torch here), and the paper formulas of EIoU, SIoU and
Wise-IoU, differentiated by torch autograd.

Each oracle takes pred and target tensors (n, 4) in corners and returns the
per-box losses. `to_corners` converts from the other formats as torchvision's
box_convert does, so autograd returns the gradient in the caller's format.
Imports torch: the rest of lossk._bench imports this module only when a torch
peer runs.
"""
import math

import torch


def to_corners(b, box_format):
    if box_format == "xywh":
        return torch.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], dim=1)
    if box_format == "cxcywh":
        return torch.stack([b[:, 0] - 0.5 * b[:, 2], b[:, 1] - 0.5 * b[:, 3],
                            b[:, 0] + 0.5 * b[:, 2], b[:, 1] + 0.5 * b[:, 3]], dim=1)
    return b


def _sizes(b):
    return b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]


def inter_union(p, t):
    """torchvision ops._utils._loss_inter_union: the intersection is kept only
    where both extents are > 0 (a masked assignment: gradient 0 elsewhere)."""
    near = torch.maximum(p[:, :2], t[:, :2])
    far = torch.minimum(p[:, 2:], t[:, 2:])
    ext = far - near
    keep = (far[:, 0] > near[:, 0]) & (far[:, 1] > near[:, 1])
    inter = torch.zeros_like(p[:, 0])
    inter[keep] = ext[keep, 0] * ext[keep, 1]
    (w, h), (wg, hg) = _sizes(p), _sizes(t)
    return inter, w * h + wg * hg - inter


def enclosing(p, t):
    size = torch.maximum(p[:, 2:], t[:, 2:]) - torch.minimum(p[:, :2], t[:, :2])
    return size[:, 0], size[:, 1]


def centre_offset(p, t):
    """(x2 + x1)/2 - (X1 + X2)/2 per axis, as torchvision's DIoU."""
    return ((p[:, 2] + p[:, 0]) / 2 - (t[:, 0] + t[:, 2]) / 2,
            (p[:, 3] + p[:, 1]) / 2 - (t[:, 1] + t[:, 3]) / 2)


def iou(p, t, eps):
    inter, union = inter_union(p, t)
    return inter / (union + eps), union


def tv_giou(p, t, eps=1e-7):
    """torchvision ops.generalized_box_iou_loss (reduction 'none')."""
    value, union = iou(p, t, eps)
    cw, ch = enclosing(p, t)
    area_c = cw * ch
    return 1 - value + (area_c - union) / (area_c + eps)


def _diou(p, t, eps):
    value, _ = iou(p, t, eps)
    cw, ch = enclosing(p, t)
    dx, dy = centre_offset(p, t)
    return 1 - value + (dx ** 2 + dy ** 2) / (cw ** 2 + ch ** 2 + eps), value


def tv_diou(p, t, eps=1e-7):
    """torchvision ops.distance_box_iou_loss."""
    return _diou(p, t, eps)[0]


def tv_ciou(p, t, eps=1e-7, alpha="torchvision"):
    """torchvision ops.complete_box_iou_loss (alpha "yolo": YOLOv5's weight)."""
    loss, value = _diou(p, t, eps)
    (w, h), (wg, hg) = _sizes(p), _sizes(t)
    v = (4 / math.pi ** 2) * torch.pow(torch.atan(wg / hg) - torch.atan(w / h), 2)
    with torch.no_grad():
        a = v / (v - value + (1 + eps)) if alpha == "yolo" else v / (1 - value + v + eps)
    return loss + a * v


def iou_loss(p, t, eps=1e-7):
    return 1 - iou(p, t, eps)[0]


def eiou(p, t, eps=1e-7, focal_gamma=None):
    """EIoU as Zhang et al. write it; Focal-EIoU with IoU^gamma detached."""
    loss, value = _diou(p, t, eps)
    (w, h), (wg, hg) = _sizes(p), _sizes(t)
    cw, ch = enclosing(p, t)
    loss = loss + (w - wg) ** 2 / (cw ** 2 + eps) + (h - hg) ** 2 / (ch ** 2 + eps)
    if focal_gamma:
        loss = value.detach().clamp(min=0) ** focal_gamma * loss
    return loss


def siou(p, t, eps=1e-7, theta=4.0):
    """SIoU as Gevorgyan writes it: the angle cost through arcsin, taking the
    other angle past 45 degrees."""
    value, _ = iou(p, t, eps)
    cw, ch = enclosing(p, t)
    dx, dy = centre_offset(p, t)
    sigma = torch.sqrt(dx ** 2 + dy ** 2)
    sin_alpha = torch.abs(dy) / sigma
    sin_beta = torch.abs(dx) / sigma
    x = torch.where(sin_alpha > math.sqrt(2) / 2, sin_beta, sin_alpha)
    angle = 1 - 2 * torch.sin(torch.arcsin(x) - math.pi / 4) ** 2
    gamma = 2 - angle
    dist = ((1 - torch.exp(-gamma * dx ** 2 / (cw ** 2 + eps))) +
            (1 - torch.exp(-gamma * dy ** 2 / (ch ** 2 + eps))))
    (w, h), (wg, hg) = _sizes(p), _sizes(t)
    eps_t = torch.tensor(eps, dtype=p.dtype)
    omega_w = torch.abs(w - wg) / torch.maximum(torch.maximum(w, wg), eps_t)
    omega_h = torch.abs(h - hg) / torch.maximum(torch.maximum(h, hg), eps_t)
    shape = (1 - torch.exp(-omega_w)) ** theta + (1 - torch.exp(-omega_h)) ** theta
    return 1 - value + (dist + shape) / 2


def wiou(p, t, eps=1e-7, mean=None, alpha=1.9, delta=3.0):
    """Wise-IoU v1 (mean None) or v3 with the running mean `mean`, detaching
    what the reference code detaches."""
    value, _ = iou(p, t, eps)
    cw, ch = enclosing(p, t)
    dx, dy = centre_offset(p, t)
    ratio = (dx ** 2 + dy ** 2) / (cw ** 2 + ch ** 2 + eps).detach()
    liou = 1 - value
    loss = torch.exp(torch.clamp(ratio, max=1.0)) * liou
    if mean is not None:
        beta = liou.detach() / mean
        loss = loss * (beta / (delta * alpha ** (beta - delta)))
    return loss


def box_iou(b1, b2, generalized=False):
    """torchvision ops.boxes.box_iou / generalized_box_iou."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.max(b1[:, None, :2], b2[:, :2])
    rb = torch.min(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    out = inter / union
    if generalized:
        hi, lo = torch.max(b1[:, None, 2:], b2[:, 2:]), torch.min(b1[:, None, :2], b2[:, :2])
        whi = (hi - lo).clamp(min=0)
        area = whi[:, :, 0] * whi[:, :, 1]
        out = out - (area - union) / area
    return out


# lossk name -> oracle (taking the same keyword options)
ORACLES = {
    "iou_loss": iou_loss,
    "giou_loss": tv_giou,
    "diou_loss": tv_diou,
    "ciou_loss": tv_ciou,
    "eiou_loss": eiou,
    "siou_loss": siou,
    "wiou_loss": wiou,
}


def oracle(name, pred, target, box_format="xyxy", reduction="mean", **kwargs):
    """(loss, grad) of the oracle for lossk.<name> on NumPy inputs."""
    p = torch.from_numpy(pred.copy()).requires_grad_()
    t = torch.from_numpy(target.copy())
    per_box = ORACLES[name](to_corners(p, box_format), to_corners(t, box_format), **kwargs)
    loss = per_box.mean() if reduction == "mean" else per_box.sum()
    loss.backward()
    out = per_box.detach().numpy() if reduction == "none" else loss.item()
    return out, p.grad.numpy()
