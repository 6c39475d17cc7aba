"""Arguments of the crf family (lossk.crf): emissions (B, T, K), tags (B, T),
transitions (K, K), start and end transitions (K,), an optional mask (B, T)
that must be on for a prefix of each sequence (its first step included)."""
import numpy as np

from .._checks import as_array, as_index, check_shape, check_upstream, empty_aligned
from .pointwise import prepare_inputs

CRF_REDUCTIONS = ("mean", "sum", "none", "token_mean")
CRF_REDUCTION_CODES = {"none": 0, "mean": 1, "sum": 2, "token_mean": 4}   # lossk_reduction


def _shapes(em, transitions, start, end):
    """(B, T, K) of the emissions; the transitions' shapes against K."""
    if em.ndim != 3:
        raise ValueError(f"emissions must have 3 dimensions (batch, steps, num_tags), got shape {em.shape}")
    B, T, K = em.shape
    if K < 1:
        raise ValueError(f"emissions must have at least one tag (last dimension), got shape {em.shape}")
    if T < 1:
        raise ValueError(f"emissions must have sequences of at least one step, got shape {em.shape}")
    check_shape(transitions, "transitions", (K, K), "(num_tags, num_tags) of emissions")
    check_shape(start, "start_transitions", (K,), "(num_tags,) of emissions")
    check_shape(end, "end_transitions", (K,), "(num_tags,) of emissions")
    return B, T, K


def _lengths(mask, B, T):
    """The sequences' lengths (int64 (B,)) from a mask that is on for a prefix
    of each row, or None without a mask (every sequence has T steps)."""
    if mask is None:
        return None
    m = as_array(mask, "mask")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"mask must be boolean or hold 0/1 values, got dtype {m.dtype}")
    check_shape(m, "mask", (B, T), "emissions' first two dimensions")
    if m.dtype.kind != "b":
        bad = (m != 0) & (m != 1)
        if bad.any():
            b, t = np.argwhere(bad)[0]
            raise ValueError(f"mask must be boolean or hold 0/1 values, got mask[{b}, {t}] = {m[b, t]!r}")
        m = m != 0
    if B and not m[:, 0].all():
        raise ValueError(f"mask's first step must be on for every sequence (pytorch-crf requires it), "
                         f"got mask[{int(np.argmin(m[:, 0]))}, 0] off")
    gap = m[:, 1:] & ~m[:, :-1]
    if gap.any():
        b, t = np.argwhere(gap)[0]
        raise ValueError(f"mask must be on for a prefix of each sequence (shorter sequences padded at "
                         f"the end), got mask[{b}, {t + 1}] on after an off step")
    return np.ascontiguousarray(m.sum(axis=1, dtype=np.int64))


def _check_tags(tags, lengths, K):
    """ValueError naming the first tag outside [0, K) within the sequences
    (pytorch-crf would wrap -1 silently)."""
    bad = (tags < 0) | (tags >= K)
    if lengths is not None:
        bad &= np.arange(tags.shape[1]) < lengths[:, None]
    if bad.any():
        b, t = np.argwhere(bad)[0]
        raise ValueError(f"tags must be in [0, {K}) where the mask is on, got tags[{b}, {t}] = {tags[b, t]}")


def prepare_crf_nll_loss(emissions, tags, transitions, start_transitions, end_transitions, mask, reduction,
                         return_grad, grad_out, n_threads, backend, upstream=None):
    """p.xs the four differentiable inputs in one float dtype (p.grads their
    gradients or None), p.tags, p.lengths (None: all T), p.loss_none, p.upstream
    (None or (B,) float64 weights of the "none" losses in the gradients)."""
    p = prepare_inputs({"emissions": emissions, "transitions": transitions,
                        "start_transitions": start_transitions, "end_transitions": end_transitions},
                       reduction, return_grad, grad_out, n_threads, backend, CRF_REDUCTIONS)
    em = p.xs["emissions"]
    B, T, K = _shapes(em, p.xs["transitions"], p.xs["start_transitions"], p.xs["end_transitions"])
    t = check_shape(as_index(tags, "tags"), "tags", (B, T), "emissions' first two dimensions")
    p.lengths = _lengths(mask, B, T)
    _check_tags(t, p.lengths, K)
    p.em, p.tags, p.B, p.T, p.K = em, t, B, T, K
    p.loss_none = empty_aligned((B,), p.dtype) if reduction == "none" else None
    p.upstream = check_upstream(upstream, (B,), reduction, return_grad)
    return p


def prepare_crf_decode(emissions, transitions, start_transitions, end_transitions, mask, n_threads,
                       backend="c"):
    """As prepare_crf_nll_loss without tags, reduction and gradients; p.paths
    the (B, T) int64 output."""
    p = prepare_inputs({"emissions": emissions, "transitions": transitions,
                        "start_transitions": start_transitions, "end_transitions": end_transitions},
                       "mean", False, None, n_threads, backend)
    em = p.xs["emissions"]
    B, T, K = _shapes(em, p.xs["transitions"], p.xs["start_transitions"], p.xs["end_transitions"])
    p.lengths = _lengths(mask, B, T)
    p.em, p.B, p.T, p.K = em, B, T, K
    p.paths = np.empty((B, T), np.int64)
    return p


def nll_result(p, loss):
    """The call's result: (loss, (g_emissions, g_transitions, g_start, g_end)) with return_grad."""
    out = p.loss_none if p.reduction == "none" else p.dtype.type(loss)
    return (out, p.grads) if p.return_grad else out


def decode_result(p):
    """(paths, lengths): paths (B, T) int64, -1 beyond each sequence's length."""
    lengths = p.lengths if p.lengths is not None else np.full(p.B, p.T, np.int64)
    return p.paths, lengths


__all__ = ["CRF_REDUCTIONS", "CRF_REDUCTION_CODES", "prepare_crf_nll_loss", "prepare_crf_decode",
           "nll_result", "decode_result"]
