"""The softmax family: cross-entropy and softmax focal loss over a class axis.

Each loss: `_prepare_<name>` validates and normalises the arguments (shared
with the NumPy reference, so both raise the same errors), then the kernel or
the reference writes into the same outputs.
"""
import math
from types import SimpleNamespace

import numpy as np

from . import _kernels
from ._checks import (REDUCTION_CODES, as_index, as_pred, as_real, check_backend, check_int,
                      check_reduction, check_scalar, finish, grad_output, resolve_n_threads)
from ._registry import register


def _class_layout(logits, name="logits", spatial=True):
    """(n, c, inner) of a (C,), (N, C) or (N, C, d1, ..., dk) array (no spatial dims unless spatial)."""
    if logits.ndim == 0 or (not spatial and logits.ndim > 2):
        layouts = "(C,), (N, C) or (N, C, d1, ..., dk)" if spatial else "(C,) or (N, C)"
        got = "a 0-d array" if logits.ndim == 0 else f"shape {logits.shape}"
        raise ValueError(f"{name} must have shape {layouts}, got {got}")
    if logits.ndim == 1:
        return 1, logits.shape[0], 1
    return logits.shape[0], logits.shape[1], math.prod(logits.shape[2:])


def _format_position(shape, flat):
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]" if shape else "[]"


def _prepare_class_index(pred, target, weight, ignore_index, reduction, return_grad, grad_out,
                         n_threads, backend, *, pred_name="logits", weight_name="weight",
                         soft_ok=False, spatial=True, has_ignore=True, **options):
    """The checks every class-index loss shares (API and reference): `pred` of a
    class layout (see _class_layout), `target` class indices of the sample shape
    (or, when soft_ok, probabilities of pred's shape), a per-class weight,
    ignore_index (unless has_ignore is False: then it is None), the outputs.
    `options` (already checked) are carried into the namespace."""
    check_backend(backend)
    check_reduction(reduction)
    x, dtype = as_pred(pred, pred_name)
    n, c, inner = _class_layout(x, pred_name, spatial)
    sample_shape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if has_ignore:
        ignore_index = check_int(ignore_index, "ignore_index")
    t = np.asarray(target)
    soft = soft_ok and t.dtype.kind == "f"
    if soft:
        if t.shape != x.shape:
            raise ValueError(f"probability target must have the {pred_name}' shape {x.shape}, got {t.shape} "
                             f"(class-index targets must be an integer array of shape {sample_shape})")
        if ignore_index >= 0:
            raise ValueError("ignore_index is not supported with probability targets "
                             f"(got ignore_index={ignore_index})")
        t = as_real(t, "target", dtype)
    else:
        t = as_index(t, "target")
        if t.shape != sample_shape:
            raise ValueError(f"target must have shape {sample_shape} for {pred_name} of shape {x.shape}, "
                             f"got {t.shape}")
    w = None if weight is None else as_real(weight, weight_name, dtype)
    if w is not None and w.shape != (c,):
        raise ValueError(f"{weight_name} must have shape ({c},) (one per class), got {w.shape}")
    grad = grad_output(x, dtype, return_grad, grad_out, {"pred": x, "target": t, weight_name: w})
    return SimpleNamespace(
        x=x, dtype=dtype, n=n, c=c, inner=inner, sample_shape=sample_shape, target=t, soft=soft,
        weight=w, ignore_index=ignore_index, reduction=reduction, return_grad=return_grad,
        grad=grad, loss_none=np.empty(sample_shape, dtype) if reduction == "none" else None,
        n_threads=resolve_n_threads(n_threads), backend=backend, **options)


def _prepare_cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction,
                           return_grad, grad_out, n_threads, backend):
    eps = check_scalar(label_smoothing, "label_smoothing", 0.0, 1.0)
    return _prepare_class_index(logits, target, weight, ignore_index, reduction, return_grad, grad_out,
                                n_threads, backend, soft_ok=True, eps=eps)


def _target_range_error(p, position):
    value = p.target.reshape(-1)[position]
    also = "" if p.ignore_index is None else f" nor ignore_index ({p.ignore_index})"
    return ValueError(f"target{_format_position(p.target.shape, position)} = {value} is not a class "
                      f"index in [0, {p.c}){also}")


def _flat(a):
    return None if a is None else a.reshape(-1)


def _run_index_kernel(p, kernel, *args):
    """kernel(pred, target, weight, loss_none, grad, *args, reduction, n_threads) on a
    prepared class-index call; an out-of-range target becomes a ValueError."""
    try:
        loss = kernel(_flat(p.x), _flat(p.target), p.weight, _flat(p.loss_none), _flat(p.grad), *args,
                      REDUCTION_CODES[p.reduction], p.n_threads)
    except _kernels.TargetIndexError as e:
        raise _target_range_error(p, e.position) from None
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


@register(mean="weight[target]")
def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Softmax cross-entropy, = ``torch.nn.functional.cross_entropy``.

    With ``p = softmax(logits)`` over the class axis (axis 1, or 0 for 1-D logits)
    and ``lse = log(sum_k exp(x_k))``, per sample:

    * class-index target ``y``: ``(1 - eps) * w[y] * (lse - x[y]) + eps/C * sum_k w[k] * (lse - x[k])``;
      samples with ``y == ignore_index`` contribute 0. ``"mean"`` divides the sum by
      ``sum of w[y]`` over the non-ignored samples (NaN if there are none, as torch).
    * probability target ``t`` (float, logits' shape): ``t' = (1 - eps) t + eps/C``,
      ``sum_k w[k] t'[k] (lse - x[k])``; ``"mean"`` divides by the number of samples.

    Parameters
    ----------
    logits : array_like, (C,), (N, C) or (N, C, d1, ..., dk), float16/32/64
    target : int32/int64 class indices of shape (), (N,) or (N, d1, ..., dk), or
        probabilities of the logits' shape
    weight : (C,) class weights, optional
    ignore_index : int, class-index targets only
    label_smoothing : float in [0, 1]
    reduction : "mean", "sum" or "none"
    return_grad : also return d(loss)/d(logits) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``logits`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference.cross_entropy``)
    """
    p = _prepare_cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction,
                               return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.softmax import cross_entropy_prepared
        return cross_entropy_prepared(p)
    if p.soft:
        loss = _kernels.cross_entropy_soft(_flat(p.x), _flat(p.target), p.weight, _flat(p.loss_none),
                                           _flat(p.grad), p.n, p.c, p.inner, p.eps,
                                           REDUCTION_CODES[p.reduction], p.n_threads)
        return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)
    return _run_index_kernel(p, _kernels.cross_entropy, p.n, p.c, p.inner, p.ignore_index, p.eps)


def _prepare_softmax_focal_loss(logits, target, alpha, gamma, ignore_index, reduction, return_grad,
                                grad_out, n_threads, backend):
    gamma = check_scalar(gamma, "gamma")
    if not (0.0 <= gamma < math.inf):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma!r}")
    return _prepare_class_index(logits, target, alpha, ignore_index, reduction, return_grad, grad_out,
                                n_threads, backend, weight_name="alpha", gamma=gamma)


@register(mean="alpha[target]")
def softmax_focal_loss(logits, target, *, alpha=None, gamma=2.0, ignore_index=-100,
                       reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Multi-class (softmax) focal loss of Lin et al. 2017.

    With ``p = softmax(logits)`` over the class axis (axis 1, or 0 for 1-D logits),
    ``t`` the target class and ``p_t = p[t]``, per sample:
    ``-alpha[t] * (1 - p_t)**gamma * log(p_t)``; samples with ``t == ignore_index``
    contribute 0. ``"mean"`` divides the sum by ``sum of alpha[t]`` over the
    non-ignored samples (their count without ``alpha``; NaN if there are none), as
    :func:`cross_entropy` does with ``weight``: ``gamma=0`` gives exactly
    ``cross_entropy(logits, target, weight=alpha)``.

    The gradient, ``alpha[t] (1 - p_t)^gamma (1 + gamma p_t (-log p_t) / (1 - p_t)) (p - onehot(t))``,
    is finite for every ``gamma >= 0``, ``p_t -> 1`` included.

    Parameters
    ----------
    logits : array_like, (C,), (N, C) or (N, C, d1, ..., dk), float16/32/64
    target : int32/int64 class indices of shape (), (N,) or (N, d1, ..., dk)
    alpha : (C,) per-class weights, optional
    gamma : float >= 0, the focusing exponent
    ignore_index : int
    reduction : "mean", "sum" or "none"
    return_grad : also return d(loss)/d(logits) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``logits`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference.softmax_focal_loss``)
    """
    p = _prepare_softmax_focal_loss(logits, target, alpha, gamma, ignore_index, reduction, return_grad,
                                    grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.softmax import softmax_focal_loss_prepared
        return softmax_focal_loss_prepared(p)
    return _run_index_kernel(p, _kernels.softmax_focal_loss, p.n, p.c, p.inner, p.ignore_index, p.gamma)
