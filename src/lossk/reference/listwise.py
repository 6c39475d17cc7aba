"""NumPy references of the listwise losses (allRank's formulas), in float64, one
list at a time over its real items. Same arguments and errors as the kernels
(both check them with lossk._args.listwise)."""
import numpy as np

from .._args.listwise import NO_ALPHA, PADDING, prepare
from .._checks import finish


def _lists(p):
    """(row, positions of the real items, their scores, their relevance) per list, in float64."""
    x, rel = p.x.astype(np.float64), p.rel.astype(np.float64)
    for i in range(x.shape[0]):
        real = rel[i] != PADDING
        if p.mask is not None:
            real &= p.mask[i] != 0
        at = np.flatnonzero(real)
        yield i, at, x[i, at], rel[i, at]


def _run(p, one_list):
    """Each list's (loss, gradient over its real items) summed or kept, scaled for the mean."""
    b = p.x.shape[0]
    losses = np.zeros(b)
    grad = np.zeros(p.x.shape) if p.grad is not None else None
    with np.errstate(all="ignore"):
        for i, at, s, r in _lists(p):
            if at.size == 0:
                continue          # no real item: loss 0, gradient 0
            losses[i], g = one_list(s, r, p)
            if grad is not None:
                grad[i, at] = g
        scale = 1.0 / b if p.reduction == "mean" and b else 1.0
        total = float(np.sum(losses)) if b or p.reduction == "sum" else np.nan
        loss = total * scale if p.reduction == "mean" and b else total
    if p.loss_none is not None:
        p.loss_none[...] = losses
    if grad is not None:
        p.grad[...] = grad * scale
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def _softmax(v):
    e = np.exp(v - np.max(v))
    return e / np.sum(e)


def _listnet(s, r, p):
    """-sum T log(P + eps); d/ds = P W - w, w = T P / (P + eps), W = sum w."""
    P, T = _softmax(s), _softmax(r)
    u = P + p.eps
    w = T * P / u
    return -np.sum(T * np.log(u)), P * np.sum(w) - w


def _listmle(s, r, p):
    """Plackett-Luce NLL of the stable order of decreasing relevance (ties by position)."""
    if np.isnan(r).any():
        return np.nan, np.full(s.shape, np.nan)
    order = np.argsort(-r, kind="stable")
    y = s[order]
    am = int(np.argmax(y))       # the first maximum, as torch's max
    y = y - y[am]
    q = np.exp(y)
    c = np.cumsum(q[::-1])[::-1] + p.eps
    loss = np.sum(np.log(c) - y)
    gy = q * np.cumsum(1.0 / c) - 1.0
    gy[am] += np.sum(p.eps / c)  # the max shift M is a function of the scores
    g = np.empty_like(gy)
    g[order] = gy
    return loss, g


def _approx_ndcg(s, r, p):
    """-sum G_i / log2(1 + pos_i), pos_i = 1 + sum_{j != i} max(sigmoid(alpha (s_j - s_i)), eps)."""
    n = s.size
    gain = np.where(r > 0, np.exp2(np.maximum(r, 0.0)) - 1.0, np.where(np.isnan(r), r, 0.0))
    idcg = np.sum(np.sort(gain)[::-1] / np.log2(np.arange(2, n + 2))) if not np.isnan(gain).any() else np.nan
    G = gain / (idcg if not idcg < p.eps else p.eps)          # clamp(min=eps), NaN kept
    t = 1.0 / (1.0 + np.exp(-p.alpha * (s[None, :] - s[:, None])))   # t[i, j] = sigmoid(alpha (s_j - s_i))
    off = ~np.eye(n, dtype=bool)
    tc = np.maximum(t, p.eps)
    tc = np.where(np.isnan(t), t, tc)
    pos = 1.0 + np.sum(np.where(off, tc, 0.0), axis=1)
    lnp = np.log1p(pos)
    loss = -np.sum(G * np.log(2.0) / lnp)
    c = G * np.log(2.0) / (lnp * lnp * (1.0 + pos)) * p.alpha         # dloss/dpos
    w = np.where(off & (t >= p.eps), t * (1.0 - t), 0.0)                # dt_ij/ds_j / alpha
    w = np.where(off & np.isnan(t), t, w)        # the diagonal is no pair (inf - inf there)
    # pos_i depends on s_j (+alpha w_ij) and on s_i (-alpha w_ij)
    g = c @ w - c * np.sum(w, axis=1)
    return loss, g


def listnet_loss_prepared(p):
    return _run(p, _listnet)


def listmle_loss_prepared(p):
    return _run(p, _listmle)


def approx_ndcg_loss_prepared(p):
    return _run(p, _approx_ndcg)


def listnet_loss(scores, relevance, *, mask=None, eps=1e-10, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.listnet_loss` (n_threads is ignored)."""
    return _run(prepare(scores, relevance, mask, eps, NO_ALPHA, reduction, return_grad, grad_out, n_threads,
                        "numpy"), _listnet)


def listmle_loss(scores, relevance, *, mask=None, eps=1e-10, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.listmle_loss` (n_threads is ignored)."""
    return _run(prepare(scores, relevance, mask, eps, NO_ALPHA, reduction, return_grad, grad_out, n_threads,
                        "numpy"), _listmle)


def approx_ndcg_loss(scores, relevance, *, alpha=1.0, mask=None, eps=1e-10, reduction="mean",
                     return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.approx_ndcg_loss` (n_threads is ignored)."""
    return _run(prepare(scores, relevance, mask, eps, alpha, reduction, return_grad, grad_out, n_threads,
                        "numpy"), _approx_ndcg)


__all__ = ["listnet_loss", "listmle_loss", "approx_ndcg_loss"]
