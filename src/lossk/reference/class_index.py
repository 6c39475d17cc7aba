"""NumPy references of the class-index losses (lossk.class_index), in float64,
written into the same outputs as the kernels."""
import numpy as np

from .._args.class_index import prepare_multi_margin_loss, prepare_nll_loss
from .softmax import _at_target, _class_weights, _index_targets, _no_classes, _samples, _write


def nll_loss_prepared(p):
    """nll_loss on arguments checked by prepare_nll_loss. As torch, the mean's
    gradient is -w[t] / sum of w[t] at the targets (NaN there when the sum is 0)
    and 0 elsewhere."""
    if p.c == 0:
        return _no_classes(p)
    x = _samples(p, p.x.astype(np.float64))
    ys, keep = _index_targets(p)
    w_y = np.where(keep, _class_weights(p)[ys], 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        loss = np.where(keep, -w_y * _at_target(x, ys), 0.0)
        denom = float(w_y.sum())
        total = float(loss.sum())
        scale = 1.0 if p.reduction != "mean" else (1.0 / denom if denom != 0 else np.inf)
        value = total if p.reduction != "mean" else (total / denom if denom != 0 else np.nan)
        grad = np.zeros(x.shape)
        np.put_along_axis(grad, ys[:, None, :], np.where(keep, -w_y * scale, 0.0)[:, None, :], axis=1)
    return _write(p, value, loss, grad)


def nll_loss(log_probs, target, *, weight=None, ignore_index=-100,
             reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.nll_loss` (same arguments; n_threads is ignored)."""
    p = prepare_nll_loss(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                          n_threads, "numpy")
    return nll_loss_prepared(p)


def multi_margin_loss_prepared(p):
    """multi_margin_loss on arguments checked by prepare_multi_margin_loss."""
    x = p.x.astype(np.float64).reshape(p.n, p.c)
    y = _index_targets(p)[0][:, 0]
    rows = np.arange(p.n)
    w_y = _class_weights(p)[y]
    with np.errstate(invalid="ignore", over="ignore"):
        z = (x - x[rows, y][:, None]) + p.margin      # exact margin on ties, as the kernel
        counted = z > 0                      # NaN counts 0, as torch
        counted[rows, y] = False
        zp = np.where(counted, z, 0.0)
        h = np.sum(zp ** p.p, axis=1)
        loss = np.where(h != 0, w_y * h / p.c, 0.0)         # only counted terms, as torch: no inf * 0
        slope = np.where(counted, 1.0, 0.0) if p.p == 1 else 2.0 * zp
        grad = np.where(counted, (w_y / p.c)[:, None] * slope, 0.0)
        grad[rows, y] = -np.sum(grad, axis=1)
    value = float(loss.sum())
    if p.reduction == "mean":
        value, grad = (value / p.n, grad / p.n) if p.n else (np.nan, grad)
    return _write(p, value, loss, grad)


def multi_margin_loss(scores, target, *, p=1, margin=1.0, weight=None,
                      reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.multi_margin_loss` (same arguments; n_threads is ignored)."""
    pr = prepare_multi_margin_loss(scores, target, p, margin, weight, reduction, return_grad, grad_out,
                                    n_threads, "numpy")
    return multi_margin_loss_prepared(pr)
