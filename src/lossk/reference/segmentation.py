"""NumPy references of the segmentation losses (SMP 0.6's DiceLoss and
TverskyLoss), in float64, with the gradient written out by the chain rule in
torch autograd's order. Same arguments and errors as the kernels (both check
them with lossk._args.segmentation)."""
import numpy as np

from .._args.segmentation import finish, prepare, target_range_error


def _probabilities(p, x):
    """(probabilities, dp/dx as a function of the upstream gradient)."""
    if not p.from_logits:
        return x, lambda g, prob: g
    if p.mode == "multiclass":
        if x.size == 0:
            return x, lambda g, prob: g
        m = np.max(x, axis=1, keepdims=True)
        z = x - m
        prob = np.exp(z - np.log(np.sum(np.exp(z), axis=1, keepdims=True)))   # exp(log_softmax)
        return prob, lambda g, prob: g * prob - prob * np.sum(g * prob, axis=1, keepdims=True)
    prob = np.exp(-np.logaddexp(0.0, -x))                                        # exp(logsigmoid)
    slope = np.exp(-np.logaddexp(0.0, -x) - np.logaddexp(0.0, x))              # p (1 - p)
    return prob, lambda g, prob: g * slope


def segmentation_prepared(p):
    n, c, inner = p.n, p.c, p.inner
    with np.errstate(all="ignore"):
        x = p.x.astype(np.float64).reshape(n, c, inner)
        if p.mode == "multiclass":
            y = p.target.reshape(n, inner).astype(np.int64)
            ignored = (y == p.ignore) if p.ignore is not None else np.zeros(y.shape, bool)
            bad = np.flatnonzero(~ignored & ((y < 0) | (y >= c)))
            if bad.size:
                raise target_range_error(p, int(bad[0]))
            mk = (~ignored).astype(np.float64)[:, None, :]
            t = (y[:, None, :] == np.arange(c)[None, :, None]) * mk
        else:
            tgt = p.target.astype(np.float64).reshape(n, c, inner)
            mk = (tgt != p.ignore).astype(np.float64) if p.ignore is not None else np.ones_like(tgt)
            t = tgt * mk
        prob, backward = _probabilities(p, x)
        pm = prob * mk
        axes = 2 if p.per_image else (0, 2)
        sp, st, d = pm.sum(axis=axes), t.sum(axis=axes), np.abs(pm - t).sum(axis=axes)
        inter = (sp + st - d) / 2
        num = inter + p.smooth
        den_raw = inter + p.alpha * (sp - inter) + p.beta * (st - inter) + p.smooth
        den = np.where(den_raw < p.eps, p.eps, den_raw)
        score = num / den
        present = (st > 0).astype(np.float64)
        losses = (1.0 - score) * present
        mean = losses.sum() / losses.size if losses.size else np.float64(np.nan)
        if p.reduction == "none":
            p.loss_none[...] = losses.reshape(p.none_shape)
        if p.return_grad:
            if p.reduction == "mean":
                # gamma M^(gamma - 1), taken as 0 at the minimum M = 0 when gamma < 1 (torch: inf -> NaN)
                slope = 0.0 if mean == 0 and p.gamma < 1 else p.gamma * mean ** (p.gamma - 1.0)
                w = (1.0 if p.gamma == 1.0 else slope) / max(losses.size, 1)
            else:
                w = 1.0 if p.upstream is None else p.upstream.reshape(losses.shape)
            g_score = -(w * present)
            g_num = g_score / den
            g_den = np.where(den_raw >= p.eps, -g_score * (score / den), 0.0)
            g_i = g_num + g_den - p.alpha * g_den - p.beta * g_den
            a, b = p.alpha * g_den + g_i / 2, -g_i / 2
            shape = (n, c, 1) if p.per_image else (1, c, 1)
            g_pm = (a.reshape(shape) + b.reshape(shape) * np.sign(pm - t)) * mk
            p.grad[...] = backward(g_pm, prob).reshape(p.grad.shape)
        return finish(p, mean if p.gamma == 1.0 else mean ** p.gamma)


def dice_loss(pred, target, *, mode, from_logits=True, smooth=0.0, eps=1e-7, ignore_index=None,
              per_image=False, reduction="mean", return_grad=False, grad_out=None, n_threads=None, upstream=None):
    """NumPy reference of :func:`lossk.dice_loss` (n_threads is ignored)."""
    return segmentation_prepared(prepare(pred, target, mode, from_logits, smooth, eps, ignore_index, per_image,
                                         reduction, return_grad, grad_out, n_threads, "numpy",
                                         upstream=upstream))


def tversky_loss(pred, target, *, mode, alpha=0.5, beta=0.5, gamma=1.0, from_logits=True, smooth=0.0,
                 eps=1e-7, ignore_index=None, per_image=False, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None, upstream=None):
    """NumPy reference of :func:`lossk.tversky_loss` (n_threads is ignored)."""
    return segmentation_prepared(prepare(pred, target, mode, from_logits, smooth, eps, ignore_index, per_image,
                                         reduction, return_grad, grad_out, n_threads, "numpy",
                                         alpha=alpha, beta=beta, gamma=gamma, upstream=upstream))


__all__ = ["dice_loss", "tversky_loss"]
