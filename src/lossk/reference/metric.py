"""NumPy references of the metric-learning losses, in float64 and unblocked
(the whole similarity matrix at once). Same arguments and errors as the
kernels (both check them with lossk._args.metric)."""
import numpy as np

from .._args.metric import (finish, prepare_info_nce_loss, prepare_nt_xent_loss,
                            prepare_triplet_margin_loss, row_weights)

_EPS = 1e-12   # F.normalize's


def _dist(v, p):
    """||v||_p over the last axis and d||v||_p / dv (0 where the norm is 0, and
    where v = 0 for p < 1: torch's norm backward)."""
    av = np.abs(v)
    if p == 2:
        d = np.sqrt(np.sum(v * v, axis=-1))
        g = v / np.where(d == 0, 1.0, d)[..., None]
    elif p == 1:
        d = np.sum(av, axis=-1)
        g = np.sign(v)
    else:
        d = np.sum(av ** p, axis=-1) ** (1.0 / p)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(v == 0, 0.0, np.sign(v) * av ** (p - 1)) / np.where(d == 0, 1.0, d ** (p - 1))[..., None]
    g = np.where((d == 0)[..., None], 0.0, g)
    return d, g


def triplet_margin_loss_prepared(c):
    dt = c.dtype.type
    a, ps, ng = (c.xs[k].reshape(c.n, c.d) for k in ("anchor", "positive", "negative"))
    with np.errstate(all="ignore"):
        # the difference and eps formed in the dtype, as torch forms them
        vap = ((a - ps) + dt(c.eps)).astype(np.float64)
        van = ((a - ng) + dt(c.eps)).astype(np.float64)
        dap, gap = _dist(vap, c.p)
        dan, gan = _dist(van, c.p)
        share_an, share_pn = np.ones(c.n), np.zeros(c.n)
        dneg = dan
        gpn = np.zeros_like(gan)
        if c.swap:
            vpn = ((ps - ng) + dt(c.eps)).astype(np.float64)
            dpn, gpn = _dist(vpn, c.p)
            dneg = np.where(np.isnan(dan) | (dan <= dpn), dan, dpn)
            share_an = np.where(dan == dpn, 0.5, np.where(np.isnan(dan) | (dan < dpn), 1.0, 0.0))
            share_pn = 1.0 - share_an
        # the distances and the hinge rounded to the dtype, as torch (and the kernel) form them
        dap, dneg = dap.astype(c.dtype).astype(np.float64), dneg.astype(c.dtype).astype(np.float64)
        z = ((dt(c.margin) + dap.astype(c.dtype)) - dneg.astype(c.dtype)).astype(np.float64)
        loss = np.where(np.isnan(z), z, np.maximum(z, 0.0))
        grads = ()
        if c.return_grad:
            w = row_weights(c, c.n)
            coef = np.where(z >= 0, w, np.where(np.isnan(z), z, 0.0))[:, None]
            g_an, g_pn = coef * share_an[:, None] * gan, coef * share_pn[:, None] * gpn
            g_ap = coef * gap
            grads = tuple(x.reshape(c.xs["anchor"].shape) for x in (g_ap - g_an, -g_ap - g_pn, g_an + g_pn))
    if c.reduction == "none":
        loss = loss.reshape(c.xs["anchor"].shape[:-1])
    return finish(c, loss, grads)


def _normalize(z, normalize=True):
    z = z.astype(np.float64)
    if not normalize:
        return z, None
    r = np.maximum(np.sqrt(np.sum(z * z, axis=1)), _EPS)
    return z / r[:, None], r


def _normalize_grad(u, r, du):
    if r is None:
        return du
    return np.where((r > _EPS)[:, None], (du - u * np.sum(u * du, axis=1)[:, None]) / r[:, None], du / _EPS)


def _log_softmax_rows(logits, mask=None):
    """Row-wise log-softmax with masked (-inf) entries; the softmax too."""
    if mask is not None:
        logits = np.where(mask, -np.inf, logits)
    m = np.max(logits, axis=1, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    lse = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return logits - lse, np.exp(logits - lse)


def nt_xent_loss_prepared(c):
    z = np.concatenate([c.xs["z1"], c.xs["z2"]])
    n2 = z.shape[0]
    n = n2 // 2
    u, r = _normalize(z)
    with np.errstate(all="ignore"):
        s = u @ u.T / c.temperature
        logp, prob = _log_softmax_rows(s, np.eye(n2, dtype=bool))
        pos = (np.arange(n2) + n) % n2
        loss = -logp[np.arange(n2), pos]
        grads = ()
        if c.return_grad:
            w = row_weights(c, n2)
            g = prob
            g[np.arange(n2), np.arange(n2)] = 0.0
            g[np.arange(n2), pos] -= 1.0
            g *= w[:, None]
            du = (g + g.T) @ u / c.temperature
            dz = _normalize_grad(u, r, du)
            grads = (dz[:n], dz[n:])
    return finish(c, loss, grads)


def info_nce_loss_prepared(c):
    q, rq = _normalize(c.xs["query"], c.normalize)
    k, rk = _normalize(c.xs["positive_key"], c.normalize)
    n = q.shape[0]
    w = row_weights(c, n)
    with np.errstate(all="ignore"):
        if c.neg is None:
            logits = q @ k.T / c.temperature
            logp, prob = _log_softmax_rows(logits)
            loss = -logp[np.arange(n), np.arange(n)]
            if not c.return_grad:
                return finish(c, loss, ())
            g = prob
            g[np.arange(n), np.arange(n)] -= 1.0
            g *= w[:, None]
            dq, dk = g @ k / c.temperature, g.T @ q / c.temperature
            return finish(c, loss, (_normalize_grad(q, rq, dq), _normalize_grad(k, rk, dk)))
        neg, rn = _normalize(c.neg, c.normalize)
        logits = np.concatenate([np.sum(q * k, axis=1)[:, None], q @ neg.T], axis=1) / c.temperature
        logp, prob = _log_softmax_rows(logits)
        loss = -logp[:, 0]
        if not c.return_grad:
            return finish(c, loss, ())
        g = prob
        g[:, 0] -= 1.0
        g *= w[:, None]
        dq = (g[:, :1] * k + g[:, 1:] @ neg) / c.temperature
        dk = g[:, :1] * q / c.temperature
        dn = g[:, 1:].T @ q / c.temperature
        return finish(c, loss, (_normalize_grad(q, rq, dq), _normalize_grad(k, rk, dk),
                                _normalize_grad(neg, rn, dn)))


def triplet_margin_loss(anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.triplet_margin_loss` (n_threads is ignored)."""
    return triplet_margin_loss_prepared(prepare_triplet_margin_loss(
        anchor, positive, negative, margin, p, eps, swap, reduction, return_grad, grad_out, n_threads,
        "numpy"))


def nt_xent_loss(z1, z2, *, temperature=0.5, block_rows=None, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None, upstream=None):
    """NumPy reference of :func:`lossk.nt_xent_loss` (unblocked; block_rows is checked
    and ignored, as n_threads)."""
    return nt_xent_loss_prepared(prepare_nt_xent_loss(z1, z2, temperature, block_rows, reduction,
                                                      return_grad, grad_out, n_threads, "numpy",
                                                      upstream))


def info_nce_loss(query, positive_key, negative_keys=None, *, temperature=0.1, normalize=True,
                  block_rows=None, reduction="mean", return_grad=False, grad_out=None, n_threads=None,
                  upstream=None):
    """NumPy reference of :func:`lossk.info_nce_loss` (unblocked)."""
    return info_nce_loss_prepared(prepare_info_nce_loss(query, positive_key, negative_keys, temperature,
                                                        normalize, block_rows, reduction, return_grad,
                                                        grad_out, n_threads, "numpy", upstream))


__all__ = ["triplet_margin_loss", "nt_xent_loss", "info_nce_loss"]
