"""NumPy reference of the linear family: the unfused computation in float64, the
whole N x V logits and the softmax family's reference cross-entropy on them. Same
arguments and errors as the kernel path (both check them with lossk._args.linear)."""
import numpy as np

from .._args.linear import finish, prepare_linear_cross_entropy
from .softmax import cross_entropy


def linear_cross_entropy_prepared(p):
    h, w = p.h.astype(np.float64), p.w.astype(np.float64)
    with np.errstate(all="ignore"):
        logits = h @ w.T
        if p.b is not None:
            logits += p.b.astype(np.float64)
        # per-row losses ("none") or their sum, and d(sum)/d(logits)
        loss, g = cross_entropy(logits, p.target, ignore_index=p.ignore_index, label_smoothing=p.eps,
                                reduction="none" if p.reduction == "none" else "sum", return_grad=True)
        if p.loss_none is not None:
            p.loss_none[...] = loss
        if p.grads is not None:
            if p.reduction == "mean" and p.count:
                g /= p.count
            if p.upstream is not None:                   # d(sum_i up_i loss_i)/d(logits)
                g *= p.upstream[:, None]
            p.grads[0][...] = g @ w
            p.grads[1][...] = g.T @ h
            if p.b is not None:
                p.grads[2][...] = g.sum(axis=0)
        return finish(p, float(np.sum(loss)))


def linear_cross_entropy(hidden, weight, target, *, bias=None, ignore_index=-100, label_smoothing=0.0,
                         reduction="mean", chunk_size=None, return_grad=False, grad_out=None, upstream=None, n_threads=None):
    """NumPy reference of :func:`lossk.linear_cross_entropy` (chunk_size and
    n_threads are checked and ignored)."""
    return linear_cross_entropy_prepared(prepare_linear_cross_entropy(
        hidden, weight, target, bias, ignore_index, label_smoothing, reduction, chunk_size, return_grad,
        grad_out, n_threads, "numpy", upstream))
