"""Arguments of the listwise family (lossk.listwise): scores and relevance of
shape (B, L), an optional boolean mask, eps and ApproxNDCG's alpha."""
import numpy as np

from .._checks import (Call, as_array, as_pred, as_real, check_backend, check_finite, check_reduction,
                       check_shape, grad_output, resolve_n_threads)

PADDING = -1.0   # allRank's padded_value_indicator (PADDED_Y_VALUE)


def as_mask(mask, shape):
    """A (B, L) mask, True = a real item: bool (read as uint8, no copy) or 0/1 integers."""
    m = as_array(mask, "mask")
    if m.dtype.kind == "b":
        m = np.ascontiguousarray(m).view(np.uint8)
    elif m.dtype.kind in "iu":
        if m.size and not np.all((m == 0) | (m == 1)):
            raise ValueError("mask must be boolean or hold only 0 and 1")
        m = np.ascontiguousarray(m, dtype=np.uint8)
    else:
        raise TypeError(f"mask must be boolean (or 0/1 integers), got dtype {m.dtype}")
    return check_shape(m, "mask", shape, "scores")


NO_ALPHA = object()   # the losses without alpha
# Lists longer than this are refused (the kernel indexes a list's items with int32).
MAX_L = 1 << 30


def prepare(scores, relevance, mask, eps, alpha, reduction, return_grad, grad_out, n_threads, backend):
    """The checked call: p.x (B, L) scores, p.rel relevance of their dtype, p.mask
    (uint8 or None), p.eps, p.alpha (NO_ALPHA for the losses without one: 1.0),
    the outputs."""
    check_backend(backend)
    check_reduction(reduction)
    eps = check_finite(eps, "eps", 0.0, 1.0)   # a small stabiliser: larger ones overflow float32 sums
    alpha = 1.0 if alpha is NO_ALPHA else check_finite(alpha, "alpha", 0.0, low_open=True)
    x, dtype = as_pred(scores, "scores")
    if x.ndim != 2:
        raise ValueError(f"scores must have shape (B, L): B lists of L items, got {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"scores must hold lists of length L >= 1, got shape {x.shape}")
    if x.shape[0] and x.shape[1] > MAX_L:
        raise ValueError(f"scores: lists of more than {MAX_L} items are not supported, got shape {x.shape}")
    rel = check_shape(as_real(relevance, "relevance", dtype), "relevance", x.shape, "scores")
    m = None if mask is None else as_mask(mask, x.shape)
    grad = grad_output(x, dtype, return_grad, grad_out, {"pred": x, "relevance": rel, "mask": m})
    return Call(x=x, rel=rel, mask=m, dtype=dtype, eps=eps, alpha=alpha,
                reduction=reduction, return_grad=return_grad, grad=grad,
                loss_none=np.empty(x.shape[0], dtype) if reduction == "none" else None,
                n_threads=resolve_n_threads(n_threads), backend=backend)
