"""NumPy references of the box losses: the formulas of lossk.box written out
on whole arrays in float64, forward and hand-derived backward (torch autograd's
subgradient choices), with the same guards against division by zero."""
import inspect

import numpy as np

from .._args.box import WIoUState, prepare_box_loss, prepare_pairwise
from .._checks import finish


def _corners(b, box_format):
    """(x1, y1, x2, y2) of (n, 4) boxes, torchvision's box_convert formulas."""
    a0, a1, a2, a3 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    if box_format == "xywh":
        return a0, a1, a0 + a2, a1 + a3
    if box_format == "cxcywh":
        return a0 - 0.5 * a2, a1 - 0.5 * a3, a0 + 0.5 * a2, a1 + 0.5 * a3
    return a0, a1, a2, a3


def _to_format(g, box_format):
    """Gradient w.r.t. the corners -> w.r.t. the boxes in box_format."""
    g0, g1, g2, g3 = g
    if box_format == "xywh":
        return np.stack([g0 + g2, g1 + g3, g2, g3], axis=1)
    if box_format == "cxcywh":
        return np.stack([g0 + g2, g1 + g3, 0.5 * (g2 - g0), 0.5 * (g3 - g1)], axis=1)
    return np.stack([g0, g1, g2, g3], axis=1)


def _recip0(x):
    """1/x, 0 where x == 0."""
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 0.0, 1.0 / safe)


def _share_gt(a, b):
    """d max(a, b)/da as torch: 1, 1/2 at a tie, 0."""
    return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))


class _Geometry:
    def __init__(self, p, t, eps):
        x1, y1, x2, y2 = p
        X1, Y1, X2, Y2 = t
        self.w, self.h, self.wg, self.hg = x2 - x1, y2 - y1, X2 - X1, Y2 - Y1
        ix1, iy1 = np.maximum(x1, X1), np.maximum(y1, Y1)
        ix2, iy2 = np.minimum(x2, X2), np.minimum(y2, Y2)
        self.iw, self.ih = ix2 - ix1, iy2 - iy1
        self.overlap = (ix2 > ix1) & (iy2 > iy1)
        self.inter = np.where(self.overlap, self.iw * self.ih, 0.0)
        self.u = self.w * self.h + self.wg * self.hg - self.inter
        self.r_ue = _recip0(self.u + eps)
        self.iou = self.inter * self.r_ue
        self.s1 = (_share_gt(x1, X1), _share_gt(y1, Y1))     # d max(x1, X1)/dx1, y alike
        self.s2 = (_share_gt(X2, x2), _share_gt(Y2, y2))     # d min(x2, X2)/dx2, y alike
        self.cw = np.maximum(x2, X2) - np.minimum(x1, X1)
        self.ch = np.maximum(y2, Y2) - np.minimum(y1, Y1)
        self.dx = (x2 + x1) * 0.5 - (X1 + X2) * 0.5
        self.dy = (y2 + y1) * 0.5 - (Y1 + Y2) * 0.5


def _partials(n):
    return {k: np.zeros(n) for k in ("u", "cw", "ch", "dx", "dy", "w", "h")} | {"iou": -np.ones(n)}


def _backward(g, d):
    """d(loss)/d(x1, y1, x2, y2) from the partials w.r.t. IoU, U, cw, ch, dx, dy, w, h."""
    gu = d["u"] - d["iou"] * g.iou * g.r_ue
    gi = d["iou"] * g.r_ue - gu
    gw, gh = d["w"] + gu * g.h, d["h"] + gu * g.w
    giw = np.where(g.overlap, gi * g.ih, 0.0)
    gih = np.where(g.overlap, gi * g.iw, 0.0)
    (sx1, sy1), (sx2, sy2) = g.s1, g.s2
    return (-gw - giw * sx1 - d["cw"] * (1 - sx1) + 0.5 * d["dx"],
            -gh - gih * sy1 - d["ch"] * (1 - sy1) + 0.5 * d["dy"],
            gw + giw * sx2 + d["cw"] * (1 - sx2) + 0.5 * d["dx"],
            gh + gih * sy2 + d["ch"] * (1 - sy2) + 0.5 * d["dy"])


def _centre_penalty(g, eps, d):
    r = _recip0(g.cw ** 2 + g.ch ** 2 + eps)
    pen = (g.dx ** 2 + g.dy ** 2) * r
    d["dx"] += 2 * g.dx * r
    d["dy"] += 2 * g.dy * r
    d["cw"] -= 2 * g.cw * pen * r
    d["ch"] -= 2 * g.ch * pen * r
    return pen


def _aspect_angle(w, h):
    """atan(w/h) (IEEE: h = 0 gives +-pi/2), 0 for w = h = 0; and its partials."""
    zero = (w == 0) & (h == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.where(zero, 0.0, np.arctan(w / np.where(zero, 1.0, h)))
    r = _recip0(w * w + h * h)
    return angle, h * r, -w * r


def _loss_giou(g, p, d):
    c = g.cw * g.ch
    r = _recip0(c + p.eps)
    term = (c - g.u) * r
    dc = r * (1 - term)
    d["u"] = -r
    d["cw"] = dc * g.ch
    d["ch"] = dc * g.cw
    return 1 - g.iou + term


def _loss_ciou(g, p, d):
    loss = 1 - g.iou + _centre_penalty(g, p.eps, d)
    ag, _, _ = _aspect_angle(g.wg, g.hg)
    ap, dpw, dph = _aspect_angle(g.w, g.h)
    diff = ag - ap
    v = 4 / np.pi ** 2 * diff ** 2
    den = v - g.iou + (1 + p.eps) if p.alpha == "yolo" else 1 - g.iou + v + p.eps
    alpha = v * _recip0(den)                     # a constant for the gradient
    dangle = alpha * (-8 / np.pi ** 2) * diff
    d["w"] += dangle * dpw
    d["h"] += dangle * dph
    return loss + alpha * v


def _size_penalty(w, wg, c, eps):
    r = _recip0(c * c + eps)
    pen = (w - wg) ** 2 * r
    return pen, 2 * (w - wg) * r, -2 * c * pen * r


def _loss_eiou(g, p, d):
    loss = 1 - g.iou + _centre_penalty(g, p.eps, d)
    for size, size_g, c, dname, cname in ((g.w, g.wg, g.cw, "w", "cw"), (g.h, g.hg, g.ch, "h", "ch")):
        pen, dsize, dc = _size_penalty(size, size_g, c, p.eps)
        loss = loss + pen
        d[dname] += dsize
        d[cname] += dc
    if p.focal_gamma:
        f = np.where(g.iou <= 0, 0.0, np.abs(g.iou) ** p.focal_gamma)   # IoU^gamma, a constant
        loss = loss * f
        for k in d:
            d[k] = d[k] * f
    return loss


def _loss_siou(g, p, d):
    eps, theta = p.eps, p.theta
    adx, ady = np.abs(g.dx), np.abs(g.dy)
    rs = _recip0(g.dx ** 2 + g.dy ** 2)
    lam = 2 * adx * ady * rs                   # sin(2 alpha): the paper's angle cost
    gamma = 2 - lam
    dist, dgamma = 0.0, 0.0
    for off, size, oname, cname in ((g.dx, g.cw, "dx", "cw"), (g.dy, g.ch, "dy", "ch")):
        r = _recip0(size ** 2 + eps)
        rho = off ** 2 * r
        e = np.exp(-gamma * rho)
        dist = dist + 1 - e
        dgamma = dgamma + rho * e
        d[oname] += 0.5 * gamma * e * 2 * off * r
        d[cname] -= 0.5 * gamma * e * 2 * size * rho * r
    # dLambda/d|dx| = 2 |dy| (dy^2 - dx^2) / (dx^2 + dy^2)^2, gamma = 2 - Lambda
    k = -dgamma * 2 * rs * rs * (ady ** 2 - adx ** 2)
    d["dx"] += 0.5 * k * ady * np.sign(g.dx)
    d["dy"] -= 0.5 * k * adx * np.sign(g.dy)
    shape = 0.0
    for size, size_g, name in ((g.w, g.wg, "w"), (g.h, g.hg, "h")):
        m = np.maximum(np.maximum(size, size_g), eps)
        rm = _recip0(m)
        omega = np.abs(size - size_g) * rm
        e = np.exp(-omega)
        base = 1 - e
        shape = shape + base ** theta
        dpow = np.ones_like(base) if theta == 1 else theta * base ** (theta - 1)
        is_max = (size > size_g) & (size > eps)
        domega = np.sign(size - size_g) * rm - np.where(is_max, omega * rm, 0.0)
        d[name] += 0.5 * dpow * e * domega
    return 1 - g.iou + 0.5 * (dist + shape)


def _loss_wiou(g, p, d, v3):
    r = _recip0(g.cw ** 2 + g.ch ** 2 + p.eps)
    ratio = (g.dx ** 2 + g.dy ** 2) * r            # the denominator is a constant
    capped = ratio > 1
    big_r = np.exp(np.where(capped, 1.0, ratio))
    liou = 1 - g.iou
    loss = big_r * liou
    d["iou"] = -big_r
    k = np.where(capped, 0.0, 2 * liou * big_r * r)
    d["dx"] = k * g.dx
    d["dy"] = k * g.dy
    if v3:
        beta = liou * (1.0 / p.mean if p.mean != 0 else 0.0)
        f = beta / p.delta * np.exp((p.delta - beta) * np.log(p.wiou_alpha))   # a constant
        loss = loss * f
        for key in d:
            d[key] = d[key] * f
    return loss


def box_loss_prepared(p):
    """A box loss on arguments checked by lossk._args.box.prepare_box_loss."""
    pred = p.x.astype(np.float64).reshape(p.n, 4)
    target = p.target.astype(np.float64).reshape(p.n, 4)
    with np.errstate(all="ignore"):
        g = _Geometry(_corners(pred, p.box_format), _corners(target, p.box_format), p.eps)
        if p.kind == "wiou3" and p.momentum > 0 and p.n > 0:
            p.mean = (1 - p.momentum) * p.mean + p.momentum * float(np.mean(1 - g.iou))
        d = _partials(p.n)
        if p.kind == "iou":
            loss = 1 - g.iou
        elif p.kind == "giou":
            loss = _loss_giou(g, p, d)
        elif p.kind == "diou":
            loss = 1 - g.iou + _centre_penalty(g, p.eps, d)
        elif p.kind == "ciou":
            loss = _loss_ciou(g, p, d)
        elif p.kind == "eiou":
            loss = _loss_eiou(g, p, d)
        elif p.kind == "siou":
            loss = _loss_siou(g, p, d)
        else:
            loss = _loss_wiou(g, p, d, p.kind == "wiou3")
        total = float(np.sum(loss))
        scale = 1.0 / p.n if p.reduction == "mean" and p.n > 0 else 1.0
        value = total * scale if p.reduction == "mean" else total
        if p.grad is not None:
            p.grad[...] = (_to_format(_backward(g, d), p.box_format) * scale).reshape(p.x.shape)
    if p.loss_none is not None:
        p.loss_none[...] = loss.reshape(p.loss_none.shape)
    return finish(value, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def pairwise_prepared(p, generalized):
    """box_iou / generalized_box_iou on arguments checked by lossk._args.box.prepare_pairwise."""
    x1, y1, x2, y2 = (c[:, None] for c in _corners(p.b1.astype(np.float64), p.box_format))
    X1, Y1, X2, Y2 = (c[None, :] for c in _corners(p.b2.astype(np.float64), p.box_format))
    with np.errstate(all="ignore"):
        inter = (np.clip(np.minimum(x2, X2) - np.maximum(x1, X1), 0, None) *
                 np.clip(np.minimum(y2, Y2) - np.maximum(y1, Y1), 0, None))
        union = (x2 - x1) * (y2 - y1) + (X2 - X1) * (Y2 - Y1) - inter
        out = inter / union
        if generalized:
            area = (np.clip(np.maximum(x2, X2) - np.minimum(x1, X1), 0, None) *
                    np.clip(np.maximum(y2, Y2) - np.minimum(y1, Y1), 0, None))
            out = out - (area - union) / area
    p.out[...] = out
    return p.out


def _signature(leading, options):
    """The API's signature without `backend`: `leading` positional arrays, then
    the keyword options (name -> default) and the common outputs."""
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in leading]
    params += [inspect.Parameter(name, kw, default=default) for name, default in options.items()]
    return inspect.Signature(params)


_OUTPUTS = dict(reduction="mean", return_grad=False, grad_out=None, n_threads=None)


def _box_reference(name, kind, **options):
    """The NumPy reference of the box loss `name`, with its own `options` (name -> default)."""
    defaults = dict(options, box_format="xyxy", eps=1e-7, **_OUTPUTS)

    def fn(pred, target, **kwargs):
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")
        args = dict(defaults, **kwargs)
        own = {k: args[k] for k in options}
        return box_loss_prepared(prepare_box_loss(
            kind, pred, target, args["box_format"], args["eps"], args["reduction"], args["return_grad"],
            args["grad_out"], args["n_threads"], "numpy", **own))
    fn.__name__ = fn.__qualname__ = name
    fn.__signature__ = _signature(("pred", "target"), defaults)
    fn.__doc__ = f"NumPy reference of :func:`lossk.{name}` (same arguments; n_threads is ignored)."
    return fn


iou_loss = _box_reference("iou_loss", "iou")
giou_loss = _box_reference("giou_loss", "giou")
diou_loss = _box_reference("diou_loss", "diou")
ciou_loss = _box_reference("ciou_loss", "ciou", alpha="torchvision")
eiou_loss = _box_reference("eiou_loss", "eiou", focal_gamma=None)
siou_loss = _box_reference("siou_loss", "siou", theta=4.0)
wiou_loss = _box_reference("wiou_loss", "wiou")


def box_iou(boxes1, boxes2, *, box_format="xyxy", out=None, n_threads=None):
    """NumPy reference of :func:`lossk.box_iou` (same arguments; n_threads is ignored)."""
    return pairwise_prepared(prepare_pairwise(boxes1, boxes2, box_format, out, n_threads, "numpy"), False)


def generalized_box_iou(boxes1, boxes2, *, box_format="xyxy", out=None, n_threads=None):
    """NumPy reference of :func:`lossk.generalized_box_iou` (same arguments; n_threads is ignored)."""
    return pairwise_prepared(prepare_pairwise(boxes1, boxes2, box_format, out, n_threads, "numpy"), True)


class WIoULoss(WIoUState):
    """NumPy reference of :class:`lossk.WIoULoss` (same state and arguments)."""

    def __call__(self, pred, target, *, box_format="xyxy", eps=1e-7, reduction="mean",
                 return_grad=False, grad_out=None, n_threads=None):
        return self._call(pred, target, box_format, eps, reduction, return_grad, grad_out, n_threads,
                          "numpy")

    @staticmethod
    def _run(p):
        return box_loss_prepared(p)
