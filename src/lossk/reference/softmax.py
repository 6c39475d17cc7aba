"""NumPy references of the softmax losses: the obvious stable formulas,
computed in float64, written into the same outputs as the kernels."""
import math

import numpy as np

from .._args.class_index import target_range_error
from .._args.softmax import prepare_cross_entropy, prepare_softmax_focal_loss
from .._checks import finish


def _log_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x - m
        return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _samples(p, a):
    """a as (n, c, positions) (class axis in the middle); or (n, positions) for a
    per-sample array (targets, losses): the spatial dims flattened."""
    positions = math.prod(p.spatial)
    return a.reshape((p.n, p.c, positions) if a.ndim == p.x.ndim else (p.n, positions))


def _index_targets(p):
    """Class indices as (n, positions) int64 (0 where ignored) and the mask of the
    non-ignored samples; an index out of range raises as the API does."""
    y = _samples(p, p.target.astype(np.int64))
    keep = np.ones(y.shape, bool) if p.ignore_index is None else y != p.ignore_index
    bad = keep & ((y < 0) | (y >= p.c))
    if bad.any():
        raise target_range_error(p, int(np.flatnonzero(bad.reshape(-1))[0]))
    return np.where(keep, y, 0), keep


def _class_weights(p):
    return np.ones(p.c) if p.weight is None else p.weight.astype(np.float64)


def _at_target(a, ys):
    """a[n, ys[n, i], i] of an (n, c, positions) array."""
    return np.take_along_axis(a, ys[:, None, :], axis=1)[:, 0, :]


def _onehot(shape, ys):
    onehot = np.zeros(shape)
    np.put_along_axis(onehot, ys[:, None, :], 1.0, axis=1)
    return onehot


def _reduce(p, loss, grad, denom, keep=None):
    """The reduced value and the gradient of it. "mean" divides both by denom:
    a NaN loss when denom is 0; the gradient scaled by 1/denom as IEEE gives it
    (NaN where denom is 0 or NaN, as the kernels and torch), except on ignored
    samples (`keep` False), whose gradient stays an exact 0."""
    total = float(loss.sum())
    if p.reduction != "mean":
        return total, grad
    scaled = grad * (1.0 / denom if denom != 0 else np.inf)
    if keep is not None:
        scaled = np.where(keep[:, None, :], scaled, 0.0)
    return (total / denom if denom != 0 else np.nan), scaled


def _no_classes(p):
    """The result of a call with no classes (C = 0), as the kernels give it: each
    loss 0, "sum" 0, "mean" NaN, an empty gradient. A class-index target other
    than ignore_index raises (_index_targets), as in the kernels."""
    if not p.soft:
        _index_targets(p)
    return _write(p, np.nan if p.reduction == "mean" else 0.0, np.zeros(p.sample_shape), np.zeros(p.x.shape))


def _write(p, value, loss, grad):
    if p.loss_none is not None:
        p.loss_none[...] = loss.reshape(p.sample_shape)
    if p.grad is not None:
        p.grad[...] = grad.reshape(p.x.shape)
    return finish(value, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def cross_entropy_prepared(p):
    """cross_entropy on arguments checked by prepare_cross_entropy."""
    if p.c == 0:
        return _no_classes(p)
    x = _samples(p, p.x.astype(np.float64))
    w = _class_weights(p)
    wc = w[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        logp = _log_softmax(x, axis=1)
        prob = np.exp(logp)
        if p.soft:
            t = _samples(p, p.target.astype(np.float64)) * (1.0 - p.eps) + p.eps / p.c
            loss = -np.sum(wc * t * logp, axis=1)                       # (n, positions)
            grad = prob * np.sum(wc * t, axis=1, keepdims=True) - wc * t
            denom = float(loss.size)
        else:
            ys, keep = _index_targets(p)
            w_y = np.where(keep, w[ys], 0.0)
            loss = (1.0 - p.eps) * w_y * -_at_target(logp, ys)
            grad = (1.0 - p.eps) * w_y[:, None, :] * (prob - _onehot(x.shape, ys))
            if p.eps > 0:
                smooth = -np.sum(wc * logp, axis=1)
                loss = loss + np.where(keep, p.eps / p.c * smooth, 0.0)
                grad = grad + np.where(keep[:, None, :], p.eps / p.c * (prob * w.sum() - wc), 0.0)
            loss = np.where(keep, loss, 0.0)
            grad = np.where(keep[:, None, :], grad, 0.0)
            denom = float(w_y.sum())
        value, grad = _reduce(p, loss, grad, denom, None if p.soft else keep)
    return _write(p, value, loss, grad)


def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.cross_entropy` (same arguments; n_threads is ignored)."""
    p = prepare_cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction,
                               return_grad, grad_out, n_threads, "numpy")
    return cross_entropy_prepared(p)


def softmax_focal_loss_prepared(p):
    """softmax_focal_loss on arguments checked by prepare_softmax_focal_loss.

    With ce = -log p_t and q = 1 - p_t = -expm1(-ce): loss = a_t q^g ce and
    dloss/dx = a_t q^g (1 + g p_t ce / q) (p - onehot), ce / q taken as 1 at ce = 0."""
    if p.c == 0:
        return _no_classes(p)
    x = _samples(p, p.x.astype(np.float64))
    ys, keep = _index_targets(p)
    a_t = np.where(keep, _class_weights(p)[ys], 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        logp = _log_softmax(x, axis=1)
        ce = -_at_target(logp, ys)
        q = -np.expm1(-ce)
        p_t = np.exp(-ce)
        q_g = q ** p.gamma
        ratio = np.where(ce > 0, ce / q, 1.0)
        slope = a_t * q_g * (1.0 + p.gamma * np.where(p_t > 0, p_t * ratio, 0.0))
        loss = np.where(keep, a_t * q_g * ce, 0.0)
        grad = np.where(keep[:, None, :], slope[:, None, :] * (np.exp(logp) - _onehot(x.shape, ys)), 0.0)
        value, grad = _reduce(p, loss, grad, float(a_t.sum()), keep)
    return _write(p, value, loss, grad)


def softmax_focal_loss(logits, target, *, alpha=None, gamma=2.0, ignore_index=-100,
                       reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.softmax_focal_loss` (same arguments; n_threads is ignored)."""
    p = prepare_softmax_focal_loss(logits, target, alpha, gamma, ignore_index, reduction, return_grad,
                                    grad_out, n_threads, "numpy")
    return softmax_focal_loss_prepared(p)
