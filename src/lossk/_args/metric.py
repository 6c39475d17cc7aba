"""Arguments of the metric-learning family (lossk.metric): the triplet margin
loss and the contrastive losses (NT-Xent, InfoNCE) over (N, D) embeddings."""
import math
import operator
import sys

import numpy as np

from .._checks import check_bool, check_finite, check_scalar, check_upstream
from .pointwise import prepare_inputs

# Rows of the contrastive losses' column products: fixed units, so that the
# sums over anchors that reach every row of the keys are grouped the same for
# every block size (block_rows is a multiple of it).
UNIT_ROWS = 256
# The default block holds about this many similarities (4 MiB in float32). The
# products are made per unit whatever the block, so a small block costs no BLAS
# speed, only more (cheap) row-kernel calls, and bounds the peak memory.
BLOCK_ELEMS = 1 << 20


def _embeddings(p, names, what="an (N, D) array"):
    """Each named input 2-d (N, D), the second and later with the first's D."""
    first = p.xs[names[0]]
    for name in names:
        x = p.xs[name]
        if x.ndim != 2:
            raise ValueError(f"{name} must be {what}, got shape {x.shape}")
        if x.shape[1] != first.shape[1]:
            raise ValueError(f"{name} must have {names[0]}'s embedding size D = {first.shape[1]}, "
                             f"got shape {x.shape}")


def check_temperature(temperature):
    t = check_scalar(temperature, "temperature")                  # NaN raises
    if not (1 / sys.float_info.max <= t < math.inf):         # 1/temperature must be finite too
        raise ValueError(f"temperature must be finite and >= {1 / sys.float_info.max!r} (1/temperature "
                         f"finite), got {temperature!r}")
    return t


def check_block_rows(block_rows, n_rows, n_cols):
    """block_rows: None (about BLOCK_ELEMS similarities a block) or a positive
    multiple of UNIT_ROWS; never more rows than the input has (rounded up)."""
    if block_rows is None:
        b = max(UNIT_ROWS, BLOCK_ELEMS // max(n_cols, 1) // UNIT_ROWS * UNIT_ROWS)
    else:
        if isinstance(block_rows, (bool, np.bool_)):
            raise TypeError("block_rows must be an int or None, got a bool")
        try:
            b = operator.index(block_rows)
        except TypeError:
            raise TypeError(f"block_rows must be an int or None, got {type(block_rows).__name__}") from None
        if b <= 0 or b % UNIT_ROWS:
            raise ValueError(f"block_rows must be a positive multiple of {UNIT_ROWS}, got {block_rows!r}")
    return min(b, max(UNIT_ROWS, -(-n_rows // UNIT_ROWS) * UNIT_ROWS))


def prepare_triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction,
                                return_grad, grad_out, n_threads, backend):
    """anchor, positive, negative of one shape, (N, D) or (D,) (one triplet)."""
    margin = check_scalar(margin, "margin")
    if not (0 < margin < math.inf):
        raise ValueError(f"margin must be finite and > 0 (as torch), got {margin!r}")
    pv = check_scalar(p, "p")
    if not (0 < pv < math.inf):
        raise ValueError(f"p must be finite and > 0, got {p!r}")
    eps = check_finite(eps, "eps", 0.0)
    swap = check_bool(swap, "swap")
    c = prepare_inputs({"anchor": anchor, "positive": positive, "negative": negative}, reduction,
                       return_grad, grad_out, n_threads, backend)
    a = c.xs["anchor"]
    if a.ndim not in (1, 2):
        raise ValueError(f"anchor must be (N, D) or (D,), got shape {a.shape}")
    for name in ("positive", "negative"):
        if c.xs[name].shape != a.shape:
            raise ValueError(f"{name} must have the shape of anchor {a.shape}, got {c.xs[name].shape}")
    c.n, c.d = (1, a.shape[0]) if a.ndim == 1 else a.shape
    c.margin, c.p, c.eps, c.swap = margin, pv, eps, swap
    c.loss_none = np.empty(a.shape[:-1], c.dtype) if reduction == "none" else None
    return c


def prepare_nt_xent_loss(z1, z2, temperature, block_rows, reduction, return_grad, grad_out, n_threads,
                         backend, upstream=None):
    """z1, z2 (N, D) of one shape, N >= 2 (the negatives come from the batch; N = 0
    is the empty batch, whose mean is NaN)."""
    temperature = check_temperature(temperature)
    c = prepare_inputs({"z1": z1, "z2": z2}, reduction, return_grad, grad_out, n_threads, backend)
    _embeddings(c, ("z1", "z2"))
    z1a, z2a = c.xs["z1"], c.xs["z2"]
    if z2a.shape != z1a.shape:
        raise ValueError(f"z2 must have the shape of z1 {z1a.shape}, got {z2a.shape}")
    if z1a.shape[0] == 1:
        raise ValueError(f"z1 and z2 need N >= 2 rows (the negatives are the batch's other samples), "
                         f"got N = {z1a.shape[0]}")
    c.temperature = temperature
    c.block_rows = check_block_rows(block_rows, 2 * z1a.shape[0], 2 * z1a.shape[0])
    c.upstream = check_upstream(upstream, (2 * z1a.shape[0],), reduction, return_grad)
    return c


def prepare_info_nce_loss(query, positive_key, negative_keys, temperature, normalize, block_rows, reduction,
                          return_grad, grad_out, n_threads, backend, upstream=None):
    """query and positive_key (N, D); negative_keys None (N >= 2: the other
    positives are the negatives) or (M, D), M >= 1, shared by every query."""
    temperature = check_temperature(temperature)
    normalize = check_bool(normalize, "normalize")
    inputs = {"query": query, "positive_key": positive_key}
    if negative_keys is not None:
        inputs["negative_keys"] = negative_keys
    c = prepare_inputs(inputs, reduction, return_grad, grad_out, n_threads, backend)
    _embeddings(c, tuple(inputs))
    q, k = c.xs["query"], c.xs["positive_key"]
    if k.shape != q.shape:
        raise ValueError(f"positive_key must have the shape of query {q.shape}, got {k.shape}")
    if negative_keys is None and q.shape[0] == 1:
        raise ValueError(f"query needs N >= 2 rows without negative_keys (the other positives are the "
                         f"negatives), got N = {q.shape[0]}")
    if negative_keys is not None:
        if c.xs["negative_keys"].shape[0] < 1:
            raise ValueError("negative_keys must have at least one row (M >= 1)")
    c.neg = c.xs.get("negative_keys")
    c.temperature, c.normalize = temperature, normalize
    n_cols = q.shape[0] if c.neg is None else c.neg.shape[0]
    c.block_rows = check_block_rows(block_rows, q.shape[0], n_cols)
    c.upstream = check_upstream(upstream, (q.shape[0],), reduction, return_grad)
    return c


def row_weights(c, n):
    """d(returned loss) / d(loss_i): 1/n for the mean, upstream (given with
    "none"), else 1."""
    if getattr(c, "upstream", None) is not None:
        return c.upstream
    return np.full(n, (1.0 / n if n else np.nan) if c.reduction == "mean" else 1.0)


def finish(c, loss_rows, grads):
    """The result: the mean or sum of the per-row losses (float64, in a fixed
    order) as a scalar of the result dtype, or the rows; with the gradients."""
    if c.reduction == "none":
        out = np.asarray(loss_rows).astype(c.dtype, copy=False)
    else:
        total = float(np.sum(loss_rows))
        mean = total / loss_rows.size if loss_rows.size else np.nan     # torch: the mean of nothing is NaN
        out = c.dtype.type(mean if c.reduction == "mean" else total)
    if not c.return_grad:
        return out
    for g, value in zip(c.grads, grads):
        if g is not value:
            g[...] = value
    return out, c.grads
