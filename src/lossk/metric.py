"""The metric-learning family: the triplet margin loss (one C kernel over rows)
and the contrastive losses NT-Xent and InfoNCE, whose N x N similarities are
never held whole: blocks of anchor rows go through NumPy's BLAS (the
similarities, then the gradient products) and the C row step
(lossk_contrastive_rows: the masked log-softmax of each row, its loss, and
d loss / d logit written over the block in place). Arguments checked by
_args/metric.py, NumPy twins (unblocked) in reference/metric.py.

Determinism of the contrastive losses: BLAS's result rows depend on the shape
of the product (OpenBLAS float32 differs in the last bit between a 256-row and
a 512-row product), so every product is made per fixed unit of UNIT_ROWS
anchor rows, always the same call for the same unit, and block_rows (a
multiple of the unit) only sets how many units share a buffer and a C call.
The row step is per row; the products that reach every key row (the
transposed part of the gradient) are added unit by unit in unit order, in
float64. So the bits do not depend on block_rows or n_threads (lossk's
threads; the BLAS thread count is NumPy's, which splits rows and columns,
never the inner sums). tests/test_metric.py checks both.
"""
import numpy as np

from . import _kernels
from ._args.metric import (UNIT_ROWS, finish, prepare_info_nce_loss, prepare_nt_xent_loss,
                           prepare_triplet_margin_loss, row_weights)
from ._checks import REDUCTION_CODES
from ._registry import family, register

# F.normalize's eps: a row of norm below it is divided by eps (so a zero row
# stays zero, with the finite gradient d/eps of the limit).
NORMALIZE_EPS = 1e-12


@register(mean="samples", peer="torch.nn.functional.triplet_margin_loss",
          grads=("anchor", "positive", "negative"), target=None)
def triplet_margin_loss(anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Triplet margin loss, = ``torch.nn.functional.triplet_margin_loss``.

    Per row: ``max(0, margin + d(a, p) - d(a, n))`` with ``d(x, y) = ||x - y + eps||_p``
    (torch's ``pairwise_distance``: ``eps`` is added to the difference, then the
    p-norm); ``swap=True`` uses ``min(d(a, n), d(p, n))`` as the negative distance
    (Balntas et al.). ``anchor``, ``positive``, ``negative``: one shape, (N, D) or (D,).

    ``return_grad=True`` returns ``(loss, (g_anchor, g_positive, g_negative))``.
    Where a distance is 0 (possible with ``eps=0``) its gradient is 0 (torch's norm
    backward), so the gradients stay finite; at ``loss = 0`` on the hinge the
    gradient passes (torch's ``clamp_min``); a tie in the swap's ``min`` gives each
    side half (torch's ``minimum``). ``margin`` must be finite and > 0 (torch raises
    too), ``p`` finite and > 0 (torch also takes ``p = inf``, lossk does not),
    ``eps`` finite. ``grad_out``: None or a tuple of three arrays (each may be its
    own input). Rows are independent: bitwise identical for every ``n_threads``.
    """
    c = prepare_triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction,
                                    return_grad, grad_out, n_threads, backend)
    if c.backend == "numpy":
        from .reference import metric as reference
        return reference.triplet_margin_loss_prepared(c)
    a, ps, ng = c.xs["anchor"], c.xs["positive"], c.xs["negative"]
    loss = _kernels.triplet_margin_loss(a, ps, ng, c.n, c.d, c.margin, c.p, c.eps, c.swap,
                                        REDUCTION_CODES[c.reduction], c.loss_none, c.grads, c.n_threads)
    out = c.loss_none if c.reduction == "none" else c.dtype.type(loss)
    return (out, c.grads) if c.return_grad else out


def _normalized(z, normalize=True):
    """(u, r): u = z / max(||z||, eps) in z's dtype, r (float64) the divisor; r None
    without normalisation."""
    if not normalize:
        return z, None
    r = np.sqrt(np.einsum("ij,ij->i", z, z, dtype=np.float64))
    r = np.maximum(r, NORMALIZE_EPS)
    # divided in float64, then rounded: tiny (subnormal float32) rows keep their bits
    return (z.astype(np.float64) / r[:, None]).astype(z.dtype), r


def _normalize_backward(z, r, du):
    """d loss / d z from d loss / d u (float64, overwritten) through
    u = z / max(||z||, eps): (du - u (u . du)) / ||z|| where ||z|| >= eps (torch's
    clamp_min passes there), du / eps below. With u = z / r that is
    (du - z (z . du) / r^2) / r, in place: one (N, D) float64 temporary."""
    if r is None:
        return du
    inside = r > NORMALIZE_EPS
    coef = np.where(inside, np.einsum("ij,ij->i", z, du, dtype=np.float64) / (r * r), 0.0)
    du -= z * coef[:, None]
    du /= np.where(inside, r, NORMALIZE_EPS)[:, None]
    return du


def _contrastive_blocks(a, b, inv_tau, pos_shift, exclude_self, extra, weights, grad, block_rows, n_threads):
    """The blocked engine: logits a b^T / tau one block of a's rows at a time.
    Returns the per-row losses (float64) and, with grad, d/da and d/db of
    sum_i weights[i] loss_i times tau (float64; the caller scales by 1/tau),
    and d/d extra."""
    n_a, n_b = a.shape[0], b.shape[0]
    loss = np.empty(n_a)
    buf = np.empty((min(block_rows, n_a), n_b), a.dtype)
    da = db = tmp = eg = None
    if grad:
        da = np.empty(a.shape, a.dtype)
        db = np.zeros(b.shape, np.float64)
        tmp = np.empty(b.shape, a.dtype)
        eg = np.empty(n_a) if extra is not None else None
    for r0 in range(0, n_a, block_rows):
        r1 = min(n_a, r0 + block_rows)
        s = buf[:r1 - r0]
        units = [(u0, min(r1, u0 + UNIT_ROWS)) for u0 in range(r0, r1, UNIT_ROWS)]
        # one product per fixed unit of rows: BLAS's rows depend on the product's
        # shape (OpenBLAS float32 does), so every unit is always one same-shaped call
        for u0, u1 in units:
            np.matmul(a[u0:u1], b.T, out=s[u0 - r0:u1 - r0])
        _kernels.contrastive_rows(s, r0, inv_tau, pos_shift, exclude_self,
                                  None if extra is None else extra[r0:r1],
                                  weights[r0:r1] if grad else None, loss[r0:r1],
                                  None if eg is None else eg[r0:r1], grad, n_threads)
        if not grad:
            continue
        for u0, u1 in units:
            g = s[u0 - r0:u1 - r0]
            np.matmul(g, b, out=da[u0:u1])                   # rows: d/da of the unit's own rows
            np.matmul(g.T, a[u0:u1], out=tmp)                # columns: added in unit order
            db += tmp
    return loss, da, db, eg


@register(mean="none", peer=None, grads=("z1", "z2"), target=None, split="no")
def nt_xent_loss(z1, z2, *, temperature=0.5, block_rows=None, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None, backend="c", upstream=None):
    r"""NT-Xent (SimCLR): z = [z1; z2] (2N rows), u = z / max(||z||, 1e-12) (torch's
    ``F.normalize``), ``s_ij = u_i . u_j / temperature``; anchor i's positive is
    i + N (mod 2N), every other sample but i itself a negative:
    ``loss_i = -s_{i,pos} + log sum_{j != i} exp(s_ij)``; ``"mean"`` over the 2N
    anchors, ``"none"`` the 2N losses (z1's anchors first).

    ``return_grad=True`` returns ``(loss, (g_z1, g_z2))``, exact through the
    normalisation. A zero row is the limit of F.normalize with eps = 1e-12: u = 0,
    and its gradient is ``d loss / d u`` divided by 1e-12 (finite, large), as torch
    autograd gives. ``temperature`` finite and > 0; N >= 2.

    ``upstream``: None or (2N,) weights, only with ``reduction="none"`` and
    ``return_grad=True``: the gradients are then those of ``sum_i upstream_i loss_i``
    (the backward of any ``grad_output``; anchor i's loss depends on every row).

    The 2N x 2N similarities are never held: ``block_rows`` anchor rows at a time
    (None: about 1 Mi similarities a block; else a positive multiple of 256), so
    the extra memory is one block plus a few (2N, D) arrays. The result does not
    depend on ``block_rows`` or ``n_threads`` (bitwise; see the module's docstring).
    Unlike pytorch-metric-learning's ``NTXentLoss`` (temperature 0.07, mean over
    positive pairs, ``+ finfo.tiny`` inside the log), lossk follows SimCLR.
    """
    c = prepare_nt_xent_loss(z1, z2, temperature, block_rows, reduction, return_grad, grad_out,
                             n_threads, backend, upstream)
    if c.backend == "numpy":
        from .reference import metric as reference
        return reference.nt_xent_loss_prepared(c)
    x1, x2 = c.xs["z1"], c.xs["z2"]
    n = x1.shape[0]
    z = np.concatenate([x1, x2])
    u, r = _normalized(z)
    inv_tau = 1.0 / c.temperature
    loss, du, acc, _ = _contrastive_blocks(u, u, inv_tau, n, True, None, row_weights(c, 2 * n),
                                           c.return_grad, c.block_rows, c.n_threads)
    if not c.return_grad:
        return finish(c, loss, ())
    # s = u u^T / tau is symmetric: d/du = (G + G^T) u / tau
    acc += du
    acc *= inv_tau
    g = _normalize_backward(z, r, acc)
    return finish(c, loss, (g[:n], g[n:]))


# lossk.torch's fake kernel: the 2N anchors of z1 and z2
nt_xent_loss.none_shape = lambda shapes, options: (2 * shapes[0][0],)


@register(mean="none", peer=None, grads=("query", "positive_key", "negative_keys"), target=None,
          split="no")
def info_nce_loss(query, positive_key, negative_keys=None, *, temperature=0.1, normalize=True,
                  block_rows=None, reduction="mean", return_grad=False, grad_out=None, n_threads=None,
                  backend="c", upstream=None):
    r"""InfoNCE (the ``info-nce-pytorch`` formulation, unpaired negatives).

    With ``normalize=True`` each row of every input is divided by max(||row||, 1e-12)
    (torch's ``F.normalize``). Without ``negative_keys``: logits
    ``query @ positive_key.T / temperature`` (N x N) and the target of query i is
    key i: the other positives are the negatives. With ``negative_keys`` (M, D),
    shared by every query: logits ``[q_i . k_i, q_i @ negative_keys.T] / temperature``
    and the target is the first. ``loss_i`` is the cross-entropy of row i;
    ``"mean"`` over the N queries, ``"none"`` the N losses.

    ``return_grad=True`` returns ``(loss, (g_query, g_positive_key))``, or with
    ``negative_keys`` ``(loss, (g_query, g_positive_key, g_negative_keys))``. Zero
    rows: the limit of F.normalize as in :func:`nt_xent_loss`. ``temperature`` finite
    and > 0; N >= 2 without ``negative_keys``; M >= 1. ``upstream``: None or (N,)
    weights of the per-query losses, as in :func:`nt_xent_loss`.

    Blocked as :func:`nt_xent_loss` (``block_rows`` query rows at a time; results
    independent of ``block_rows`` and ``n_threads``).
    """
    c = prepare_info_nce_loss(query, positive_key, negative_keys, temperature, normalize, block_rows,
                              reduction, return_grad, grad_out, n_threads, backend, upstream)
    if c.backend == "numpy":
        from .reference import metric as reference
        return reference.info_nce_loss_prepared(c)
    q, k = c.xs["query"], c.xs["positive_key"]
    n = q.shape[0]
    uq, rq = _normalized(q, c.normalize)
    uk, rk = _normalized(k, c.normalize)
    inv_tau = 1.0 / c.temperature
    w = row_weights(c, n)
    if c.neg is None:
        loss, dq, dk, _ = _contrastive_blocks(uq, uk, inv_tau, 0, False, None, w, c.return_grad,
                                              c.block_rows, c.n_threads)
        if not c.return_grad:
            return finish(c, loss, ())
        dq = dq.astype(np.float64)
        dq *= inv_tau
        dk *= inv_tau
        return finish(c, loss, (_normalize_backward(q, rq, dq), _normalize_backward(k, rk, dk)))
    un, rn = _normalized(c.neg, c.normalize)
    extra = np.einsum("ij,ij->i", uq, uk, dtype=np.float64)      # the positives' dot products
    loss, dq, dn, eg = _contrastive_blocks(uq, un, inv_tau, -1, False, extra, w, c.return_grad,
                                           c.block_rows, c.n_threads)
    if not c.return_grad:
        return finish(c, loss, ())
    egs = (eg * inv_tau)[:, None]
    dq = dq.astype(np.float64)
    dq *= inv_tau
    dq += egs * uk
    dk = egs * uq
    dn *= inv_tau
    return finish(c, loss, (_normalize_backward(q, rq, dq), _normalize_backward(k, rk, dk),
                            _normalize_backward(c.neg, rn, dn)))


__all__ = family("metric")
