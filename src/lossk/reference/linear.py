"""NumPy reference of the linear family: the unfused computation (the whole N x V
logits) in float64. Same arguments and errors as the kernel path (both check them
with lossk._args.linear)."""
import numpy as np

from .._args.linear import finish, prepare_linear_cross_entropy


def linear_cross_entropy_prepared(p):
    h, w = p.h.astype(np.float64), p.w.astype(np.float64)
    with np.errstate(all="ignore"):
        x = h @ w.T
        if p.b is not None:
            x += p.b.astype(np.float64)
        m = x.max(axis=1, keepdims=True) if p.v else np.zeros((p.n, 1))
        m = np.where(np.isfinite(m), m, 0.0)
        lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
        kept = p.target != p.ignore_index
        t = np.where(kept, p.target, 0)
        picked = x[np.arange(p.n), t]
        # (1 - eps) (lse - x[t]) + eps/V sum_k (lse - x[k]); 0 for ignored rows
        losses = np.where(kept, (1 - p.eps) * (lse - picked) + p.eps * (lse - x.mean(axis=1)), 0.0)
        if p.loss_none is not None:
            p.loss_none[...] = losses
        if p.grads is not None:
            # d loss_i / d x_i = softmax(x_i) - (1 - eps) onehot(t_i) - eps / V
            g = np.exp(x - lse[:, None]) - p.eps / p.v
            g[np.arange(p.n), t] -= 1 - p.eps
            g[~kept] = 0.0
            if p.reduction == "mean" and p.count:
                g /= p.count
            p.grads[0][...] = g @ w
            p.grads[1][...] = g.T @ h
            if p.b is not None:
                p.grads[2][...] = g.sum(axis=0)
        return finish(p, float(np.sum(losses)))


def linear_cross_entropy(hidden, weight, target, *, bias=None, ignore_index=-100, label_smoothing=0.0,
                         reduction="mean", chunk_size=None, return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.linear_cross_entropy` (chunk_size and
    n_threads are checked and ignored)."""
    return linear_cross_entropy_prepared(prepare_linear_cross_entropy(
        hidden, weight, target, bias, ignore_index, label_smoothing, reduction, chunk_size, return_grad,
        grad_out, n_threads, "numpy"))
