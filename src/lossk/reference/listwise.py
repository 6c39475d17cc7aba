"""NumPy references of the listwise losses (allRank's formulas), in float64,
vectorised over the lists: padded items (relevance -1, mask 0) are kept out of
every sum by np.where, so each list's value is its real items' formula. Same
arguments and errors as the kernels (both check them with lossk._args.listwise)."""
import numpy as np

from .._args.listwise import NO_ALPHA, PADDING, prepare
from .._checks import finish

_PAIR_CHUNK = 1 << 16     # approx_ndcg_loss: (lists, L, L) pair arrays of at most this many elements


def _run(p, per_lists):
    """(loss per list, gradient (B, L)) of every list from per_lists(s, r, real, p),
    summed or kept, scaled for the mean. A list without real items: loss 0, gradient 0."""
    b = p.x.shape[0]
    x, rel = p.x.astype(np.float64), p.rel.astype(np.float64)
    real = rel != PADDING
    if p.mask is not None:
        real &= p.mask != 0
    with np.errstate(all="ignore"):
        losses, grad = per_lists(x, rel, real, p)
        some = real.any(axis=1)
        losses = np.where(some, losses, 0.0)
        grad = np.where(real, grad, 0.0)
        scale = 1.0 / b if p.reduction == "mean" and b else 1.0
        total = float(np.sum(losses)) if b or p.reduction == "sum" else np.nan
        loss = total * scale if p.reduction == "mean" and b else total
    if p.loss_none is not None:
        p.loss_none[...] = losses
    if p.grad is not None:
        p.grad[...] = grad * scale
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def _softmax(v, real):
    """softmax over each row's real items (0 elsewhere); NaN propagates."""
    v = np.where(real, v, -np.inf)
    m = np.max(v, axis=1, keepdims=True)
    e = np.where(real, np.exp(v - m), 0.0)
    return e / np.sum(e, axis=1, keepdims=True)


def _listnet(s, r, real, p):
    """-sum T log(P + eps); d/ds = P W - w, w = T P / (P + eps), W = sum w."""
    P, T = _softmax(s, real), _softmax(r, real)
    u = P + p.eps
    w = np.where(real, T * P / u, 0.0)
    return -np.sum(np.where(real, T * np.log(u), 0.0), axis=1), P * np.sum(w, axis=1, keepdims=True) - w


def _listmle(s, r, real, p):
    """Plackett-Luce NLL of the stable order of decreasing relevance (ties by
    position), the real items first; a NaN relevance makes its list NaN."""
    nan = np.any(real & np.isnan(r), axis=1)
    order = np.lexsort((-np.where(real & ~np.isnan(r), r, 0.0), ~real), axis=1)   # stable
    n = real.sum(axis=1)
    valid = np.arange(s.shape[1])[None, :] < n[:, None]     # the real items, in that order
    y = np.take_along_axis(s, order, axis=1)
    am = np.argmax(np.where(valid, y, -np.inf), axis=1)[:, None]    # the first maximum, as torch's max
    y = y - np.take_along_axis(y, am, axis=1)
    q = np.where(valid, np.exp(y), 0.0)
    c = np.cumsum(q[:, ::-1], axis=1)[:, ::-1] + p.eps
    loss = np.sum(np.where(valid, np.log(c) - y, 0.0), axis=1)
    gy = q * np.cumsum(np.where(valid, 1.0 / c, 0.0), axis=1) - 1.0
    shift = np.sum(np.where(valid, p.eps / c, 0.0), axis=1)   # the max shift M is a function of the scores
    np.put_along_axis(gy, am, np.take_along_axis(gy, am, axis=1) + shift[:, None], axis=1)
    g = np.zeros_like(gy)
    np.put_along_axis(g, order, np.where(valid, gy, 0.0), axis=1)
    return np.where(nan, np.nan, loss), np.where(nan[:, None], np.nan, g)


def _approx_ndcg(s, r, real, p):
    """-sum G_i / log2(1 + pos_i), pos_i = 1 + sum_{j != i} max(sigmoid(alpha (s_j - s_i)), eps),
    over chunks of lists (the pairs take (lists, L, L))."""
    b, l = s.shape
    loss, g = np.zeros(b), np.zeros((b, l))
    step = max(1, _PAIR_CHUNK // max(1, l * l))
    for lo in range(0, b, step):
        loss[lo:lo + step], g[lo:lo + step] = _approx_ndcg_lists(s[lo:lo + step], r[lo:lo + step],
                                                                 real[lo:lo + step], p)
    return loss, g


def _approx_ndcg_lists(s, r, real, p):
    l = s.shape[1]
    gain = np.where(r > 0, np.exp2(np.maximum(r, 0.0)) - 1.0, np.where(np.isnan(r), r, 0.0))
    gain = np.where(real, gain, 0.0)
    nan = np.any(np.isnan(gain), axis=1)
    ideal = -np.sort(-np.where(real & ~np.isnan(gain), gain, -1.0), axis=1)   # decreasing, padding (-1) last
    idcg = np.sum(np.where(ideal >= 0, ideal / np.log2(np.arange(2, l + 2)), 0.0), axis=1)
    idcg = np.where(nan, np.nan, idcg)
    G = gain / np.where(idcg < p.eps, p.eps, idcg)[:, None]        # clamp(min=eps), NaN kept
    t = 1.0 / (1.0 + np.exp(-p.alpha * (s[:, None, :] - s[:, :, None])))   # t[i, j] = sigmoid(alpha (s_j - s_i))
    pair = real[:, :, None] & real[:, None, :] & ~np.eye(l, dtype=bool)
    tc = np.where(np.isnan(t), t, np.maximum(t, p.eps))
    pos = 1.0 + np.sum(np.where(pair, tc, 0.0), axis=2)
    lnp = np.log1p(pos)
    loss = -np.sum(np.where(real, G * np.log(2.0) / lnp, 0.0), axis=1)
    c = np.where(real, G * np.log(2.0) / (lnp * lnp * (1.0 + pos)) * p.alpha, 0.0)   # dloss/dpos
    w = np.where(pair & (t >= p.eps), t * (1.0 - t), 0.0)             # dt_ij/ds_j / alpha
    w = np.where(pair & np.isnan(t), t, w)       # the diagonal is no pair (inf - inf there)
    # pos_i depends on s_j (+alpha w_ij) and on s_i (-alpha w_ij)
    g = np.matmul(c[:, None, :], w)[:, 0] - c * np.sum(w, axis=2)
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
