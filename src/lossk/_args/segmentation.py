"""Arguments of the segmentation family (lossk.segmentation): predictions
(N, C, *spatial), class-index or mask targets by `mode`, SMP's options."""
import math

import numpy as np

from .._checks import (Call, as_array, as_index, as_pred, as_real, check_backend, check_bool, check_finite,
                       check_int, check_reduction, check_upstream, format_position, grad_output,
                       resolve_n_threads)

MODES = ("binary", "multiclass", "multilabel")
REDUCTIONS = ("mean", "none")


def _nonnegative(value, name):
    v = check_finite(value, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def prepare(pred, target, mode, from_logits, smooth, eps, ignore_index, per_image, reduction, return_grad,
            grad_out, n_threads, backend, alpha=0.5, beta=0.5, gamma=1.0, upstream=None):
    """The checked call. The kernels' layout: p.x (N, C, inner) as p.n, p.c,
    p.inner (binary: C = 1 over all of an image's elements, as SMP's reshape);
    p.target class indices (multiclass) or a mask of p.x's dtype; p.ignore
    (None or the int); p.loss_none of shape p.none_shape for "none"; p.upstream
    None or float64 of that shape (the weights of the "none" losses in the gradient)."""
    check_backend(backend)
    check_reduction(reduction, REDUCTIONS)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    from_logits = check_bool(from_logits, "from_logits")
    per_image = check_bool(per_image, "per_image")
    smooth, eps = _nonnegative(smooth, "smooth"), _nonnegative(eps, "eps")
    alpha, beta = _nonnegative(alpha, "alpha"), _nonnegative(beta, "beta")
    gamma = check_finite(gamma, "gamma")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    ignore = None if ignore_index is None else check_int(ignore_index, "ignore_index")
    x, dtype = as_pred(pred, "pred")
    if x.ndim < 2:
        raise ValueError(f"pred must have shape (N, C, *spatial), got {x.shape}")
    n, c = x.shape[0], x.shape[1]
    sample_shape = (n,) + x.shape[2:]
    if mode == "multiclass":
        t = as_index(target, "target")
        if t.shape != sample_shape:
            raise ValueError(f"target must have shape {sample_shape} (class indices) for pred of shape "
                             f"{x.shape} in mode 'multiclass', got {t.shape}")
    else:
        t = as_array(target, "target")
        if t.dtype.kind not in "fiub":
            raise TypeError(f"target must be a real mask, got dtype {t.dtype}")
        # binary: SMP's usual (N, *spatial) target for a (N, 1, *spatial) prediction too
        if t.shape != x.shape and not (mode == "binary" and c == 1 and t.shape == sample_shape):
            raise ValueError(f"target must have the shape of pred {x.shape} (a mask) in mode {mode!r}, "
                             f"got {t.shape}")
        t = as_real(t, "target", dtype)
    inner = math.prod(x.shape[2:])
    k_classes = c
    if mode == "binary":
        k_classes, inner = 1, c * inner
    grad = grad_output(x, dtype, return_grad, grad_out, {"pred": x, "target": t})
    none_shape = (n, k_classes) if per_image else (k_classes,)
    upstream = check_upstream(upstream, none_shape, reduction, return_grad)
    return Call(x=x, dtype=dtype, target=t, mode=mode, n=n, c=k_classes, inner=inner, from_logits=from_logits,
                smooth=smooth, eps=eps, alpha=alpha, beta=beta, gamma=gamma, ignore=ignore,
                per_image=per_image, reduction=reduction, return_grad=return_grad, grad=grad,
                none_shape=none_shape, upstream=upstream,
                loss_none=np.empty(none_shape, dtype) if reduction == "none" else None,
                n_threads=resolve_n_threads(n_threads), backend=backend)


def target_range_error(p, position):
    value = p.target.reshape(-1)[position]
    also = "" if p.ignore is None else f" nor ignore_index ({p.ignore})"
    return ValueError(f"target{format_position(p.target.shape, position)} = {value} is not a class "
                      f"index in [0, {p.c}){also}")


def finish(p, loss):
    """The call's result: a scalar ("mean") or p.loss_none ("none"), and the gradient."""
    out = p.loss_none if p.reduction == "none" else p.dtype.type(loss)
    return (out, p.grad) if p.return_grad else out
