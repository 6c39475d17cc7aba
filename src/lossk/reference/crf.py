"""NumPy references of the linear-chain CRF (pytorch-crf's CRF, batch first):
the forward algorithm in log space, the gradients from the forward-backward
marginals, and Viterbi. Same arguments and errors as the kernels (both check
them with lossk._args.crf)."""
import numpy as np

from .._args.crf import decode_result, nll_result, prepare_crf_decode, prepare_crf_nll_loss


def _lse(x, axis):
    """log sum exp along axis; NaN propagates, an infinite maximum is the result."""
    m = np.max(x, axis=axis, keepdims=True)
    ms = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(np.log(np.sum(np.exp(x - ms), axis=axis, keepdims=True)) + ms, axis=axis)


def crf_nll_loss_prepared(p):
    """The forward algorithm relative to the gold path: alpha'_t = alpha_t minus
    the gold path's score up to t, each step's gold terms subtracted from its own
    (large common offsets cancel exactly); loss = logZ - score =
    logsumexp(alpha'_{L-1} + end - end[y_{L-1}])."""
    em = p.em.astype(np.float64)
    tr, st, en = (p.xs[k].astype(np.float64) for k in ("transitions", "start_transitions", "end_transitions"))
    B, T, K = p.B, p.T, p.K
    L = p.lengths if p.lengths is not None else np.full(B, T, np.int64)
    on = np.arange(T)[None, :] < L[:, None]                         # (B, T)
    y = np.where(on, p.tags, 0).astype(np.int64)
    rows = np.arange(B)
    last = y[rows, L - 1] if B else np.zeros(0, np.int64)
    with np.errstate(all="ignore"):
        e_gold = np.take_along_axis(em, y[:, :, None], axis=2)      # (B, T, 1)
        g_gold = tr[y[:, :-1], y[:, 1:]][:, :, None, None]           # (B, T - 1, 1, 1)
        emr = em - e_gold                                             # emissions relative to the gold tag
        trr = tr[None, None] - g_gold                                 # (B, T - 1, K, K)
        alpha = np.empty((B, T, K))
        alpha[:, 0] = (st - st[y[:, 0]][:, None]) + emr[:, 0]
        for t in range(1, T if B else 1):
            nxt = _lse(alpha[:, t - 1, :, None] + trr[:, t - 1], axis=1) + emr[:, t]
            alpha[:, t] = np.where(on[:, t, None], nxt, alpha[:, t - 1])
        enr = en[None] - en[last][:, None]
        loss = _lse(alpha[rows, L - 1] + enr, axis=1) if B else np.zeros(0)
        div = np.float64({"none": 1.0, "sum": 1.0, "mean": B, "token_mean": L.sum()}[p.reduction])
        value = np.sum(loss) / div        # the mean of nothing: NaN
        if p.reduction == "none":
            p.loss_none[...] = loss
        if p.return_grad:
            u = p.upstream if p.upstream is not None else np.ones(B)
            _gradients(p, emr, trr, enr, y, on, L, alpha, loss, u, 1.0 / div)
    return nll_result(p, value)


def _gradients(p, emr, trr, enr, y, on, L, alpha, loss, u, scale):
    """Marginals minus the gold path's counts, each sequence's weighted by u[b]
    (upstream), their sums times scale (the reduction's), into p.grads; beta'
    relative to the gold path's score after t, as alpha'."""
    B, T, K = p.B, p.T, p.K
    beta = np.empty((B, T, K))
    beta[:, T - 1] = enr
    for t in range(T - 2 if B else -1, -1, -1):
        nxt = _lse(trr[:, t] + (emr[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
        beta[:, t] = np.where((t < L - 1)[:, None], nxt, enr)
    gamma = np.where(on[:, :, None], np.exp(alpha + beta - loss[:, None, None]), 0.0)   # 0 when masked
    onehot = np.eye(K)[y] * on[:, :, None]
    w = u[:, None]
    # pair marginals of steps (t - 1, t), t in [1, L)
    xi = np.exp(alpha[:, :-1, :, None] + trr + (emr[:, 1:] + beta[:, 1:])[:, :, None, :]
                - loss[:, None, None, None])
    g_tr = np.sum(np.where(on[:, 1:, None, None], xi * w[:, :, None, None], 0.0), axis=(0, 1))
    np.add.at(g_tr, (y[:, :-1][on[:, 1:]], y[:, 1:][on[:, 1:]]), -np.broadcast_to(w, on[:, 1:].shape)[on[:, 1:]])
    rows = np.arange(B)
    g_st = (gamma[:, 0] * w).sum(axis=0) - np.bincount(y[:, 0], weights=u, minlength=K)
    g_en = (gamma[rows, L - 1] * w).sum(axis=0) - np.bincount(y[rows, L - 1], weights=u, minlength=K)
    for out, g in zip(p.grads, ((gamma - onehot) * w[:, :, None], g_tr, g_st, g_en)):
        out[...] = g * scale


def crf_decode_prepared(p):
    """Viterbi in the input dtype with pytorch-crf's order of operations; argmax
    takes the first maximum (and the first NaN), as torch's max."""
    em = p.em
    tr, st, en = (p.xs[k] for k in ("transitions", "start_transitions", "end_transitions"))
    B, T, K = p.B, p.T, p.K
    L = p.lengths if p.lengths is not None else np.full(B, T, np.int64)
    with np.errstate(all="ignore"):
        score = st + em[:, 0]
        history = np.zeros((B, T, K), np.int64)
        for t in range(1, T if B else 1):
            nxt = (score[:, :, None] + tr[None]) + em[:, t, None, :]
            idx = np.argmax(nxt, axis=1)
            history[:, t] = idx
            best = np.take_along_axis(nxt, idx[:, None, :], axis=1)[:, 0]
            score = np.where((t < L)[:, None], best, score)
        last = np.argmax(score + en, axis=1)
    p.paths[...] = -1
    for b in range(B):
        tag = last[b]
        p.paths[b, L[b] - 1] = tag
        for t in range(L[b] - 1, 0, -1):
            tag = history[b, t, tag]
            p.paths[b, t - 1] = tag
    return decode_result(p)


def crf_nll_loss(emissions, tags, transitions, start_transitions, end_transitions, *, mask=None,
                 reduction="mean", return_grad=False, grad_out=None, upstream=None, n_threads=None):
    """NumPy reference of :func:`lossk.crf_nll_loss` (n_threads is ignored)."""
    return crf_nll_loss_prepared(prepare_crf_nll_loss(
        emissions, tags, transitions, start_transitions, end_transitions, mask, reduction, return_grad,
        grad_out, n_threads, "numpy", upstream))


def crf_decode(emissions, transitions, start_transitions, end_transitions, *, mask=None, n_threads=None):
    """NumPy reference of :func:`lossk.crf_decode` (n_threads is ignored)."""
    return crf_decode_prepared(prepare_crf_decode(
        emissions, transitions, start_transitions, end_transitions, mask, n_threads, "numpy"))


__all__ = ["crf_nll_loss", "crf_decode"]
