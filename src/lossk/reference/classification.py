"""NumPy references of the classification losses: the obvious stable formulas,
computed in float64, written into the same outputs as the kernels."""
import numpy as np

from .._checks import finish
from ..classification import _prepare_cross_entropy, _target_range_error


def _log_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x - m
        return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def cross_entropy_prepared(p):
    """cross_entropy on arguments checked by _prepare_cross_entropy."""
    x = p.x.astype(np.float64).reshape(p.n, p.c, p.inner)
    w = np.ones(p.c) if p.weight is None else p.weight.astype(np.float64)
    wc = w[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        logp = _log_softmax(x, axis=1)
        prob = np.exp(logp)
        if p.soft:
            t = p.target.astype(np.float64).reshape(p.n, p.c, p.inner) * (1.0 - p.eps) + p.eps / p.c
            loss = -np.sum(wc * t * logp, axis=1)                       # (n, inner)
            grad = prob * np.sum(wc * t, axis=1, keepdims=True) - wc * t
            denom = float(p.n * p.inner)
        else:
            y = p.target.astype(np.int64).reshape(p.n, p.inner)
            keep = y != p.ignore_index
            bad = ~keep & False | (keep & ((y < 0) | (y >= p.c)))
            if bad.any():
                raise _target_range_error(p, int(np.flatnonzero(bad.reshape(-1))[0]))
            ys = np.where(keep, y, 0)
            onehot = np.zeros_like(x)
            np.put_along_axis(onehot, ys[:, None, :], 1.0, axis=1)
            w_y = np.where(keep, w[ys], 0.0)
            nll = -np.take_along_axis(logp, ys[:, None, :], axis=1)[:, 0, :]
            loss = (1.0 - p.eps) * w_y * nll
            grad = (1.0 - p.eps) * w_y[:, None, :] * (prob - onehot)
            if p.eps > 0:
                smooth = -np.sum(wc * logp, axis=1)
                loss = loss + np.where(keep, p.eps / p.c * smooth, 0.0)
                grad = grad + np.where(keep[:, None, :], p.eps / p.c * (prob * w.sum() - wc), 0.0)
            loss = np.where(keep, loss, 0.0)
            grad = np.where(keep[:, None, :], grad, 0.0)
            denom = float(w_y.sum())
        total = float(loss.sum())
        if p.reduction == "mean":
            value = total / denom if denom != 0 else np.nan
            # ignored samples keep a zero gradient whatever the denominator
            # (0, NaN): the others are scaled by 1/denom as IEEE gives it
            scaled = grad * (1.0 / denom if denom != 0 else np.inf)
            grad = scaled if p.soft else np.where(keep[:, None, :], scaled, 0.0)
        else:
            value = total
    if p.loss_none is not None:
        p.loss_none[...] = loss.reshape(p.sample_shape)
    if p.grad is not None:
        p.grad[...] = grad.reshape(p.x.shape)
    return finish(value, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.cross_entropy` (same arguments; n_threads is ignored)."""
    p = _prepare_cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction,
                               return_grad, grad_out, n_threads, "numpy")
    return cross_entropy_prepared(p)
