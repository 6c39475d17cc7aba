"""The crf family: the linear-chain CRF of pytorch-crf (its ``CRF`` with
``batch_first=True``), the negative log-likelihood with its four gradients and
Viterbi decoding. Arguments checked by _args/crf.py, one kernel entry
(lossk_crf) in csrc/crf/, NumPy twins in reference/crf.py."""
from . import _kernels
from ._args.crf import (CRF_REDUCTION_CODES, CRF_REDUCTIONS, decode_result, nll_result, prepare_crf_decode,
                        prepare_crf_nll_loss)
from ._registry import register


@register(mean="none", peer="torchcrf.CRF.forward", target="tags",
          grads=("emissions", "transitions", "start_transitions", "end_transitions"),
          reductions=CRF_REDUCTIONS, split="no")
def crf_nll_loss(emissions, tags, transitions, start_transitions, end_transitions, *, mask=None,
                 reduction="mean", return_grad=False, grad_out=None, upstream=None, n_threads=None, backend="c"):
    r"""Negative log-likelihood of a linear-chain CRF, = ``-torchcrf.CRF(K, batch_first=True)
    .forward(emissions, tags, mask, reduction)`` (pytorch-crf 0.7.2).

    For a sequence of length L with tags y::

        score = start[y_0] + em[0, y_0] + sum_{0<t<L} (transitions[y_{t-1}, y_t] + em[t, y_t]) + end[y_{L-1}]
        loss  = logsumexp over all tag paths of score  -  score(y)

    Parameters
    ----------
    emissions : (B, T, K) float array (float16 computed in float32)
    tags : (B, T) integer array, in [0, K) where the mask is on (else ValueError
        naming the first position; pytorch-crf wraps -1 silently); any value elsewhere
    transitions : (K, K), from tag i to tag j at ``[i, j]``; start_transitions,
        end_transitions : (K,)
    mask : None (every step on) or (B, T) boolean/0-1, on for a prefix of each
        sequence: its first step must be on (as pytorch-crf requires) and shorter
        sequences are padded at the end. pytorch-crf also accepts gaps, which it
        scores inconsistently (the numerator adds transitions across them, the
        normalizer does not); lossk raises ValueError for them.
    reduction : "mean" (over sequences, pytorch-crf's mean), "sum", "none" (one
        loss per sequence) or "token_mean" (the sum over the unmasked steps).
    return_grad : True returns ``(loss, (g_emissions, g_transitions, g_start, g_end))``,
        the gradients of the returned loss (of the sum for "none") in argument order;
        g_emissions is 0 at masked steps.
    grad_out : None or a tuple of four arrays (the gradients' shapes and the
        result dtype), as the other losses of several inputs; each may be its own
        input (in place).
    upstream : None or (B,) weights, with reduction="none" and return_grad=True only
        (else ValueError): the gradients are then those of ``sum_b upstream[b] loss[b]``
        (what ``lossk.torch`` needs for any upstream gradient of "none": the
        transitions' gradients are sums over the sequences, not per-sequence rows).

    Computed in float64 for both dtypes (forward-backward in log space, scaled
    products where exact, log-sum-exp where not: finite for transitions of -1e4),
    sequences in fixed blocks summed in order: bitwise identical for every
    ``n_threads``. Non-finite emissions propagate to their sequence's loss.
    """
    p = prepare_crf_nll_loss(emissions, tags, transitions, start_transitions, end_transitions, mask,
                             reduction, return_grad, grad_out, n_threads, backend, upstream)
    if p.backend == "numpy":
        from .reference import crf as ref
        return ref.crf_nll_loss_prepared(p)
    xs = p.xs
    loss = _kernels.crf(b"crf_nll_loss", p.em, p.tags, p.lengths, xs["transitions"], xs["start_transitions"],
                        xs["end_transitions"], CRF_REDUCTION_CODES[p.reduction], p.loss_none, p.grads, None,
                        p.n_threads, p.upstream)
    return nll_result(p, loss)


def crf_decode(emissions, transitions, start_transitions, end_transitions, *, mask=None, n_threads=None,
               backend="c"):
    r"""Viterbi paths of a linear-chain CRF, = ``torchcrf.CRF.decode`` (pytorch-crf 0.7.2,
    ``batch_first=True``). Not a loss: not in ``lossk.LOSSES``.

    Returns ``(paths, lengths)``: ``paths`` a (B, T) int64 array holding the best tag
    sequence of each sequence in its first ``lengths[b]`` steps and -1 after them
    (pytorch-crf returns a list of lists: ``paths[b, :lengths[b]].tolist()`` is its
    ``b``-th), ``lengths`` (B,) int64 from the mask (T without one).

    Scores are added in the input dtype in pytorch-crf's order
    (``(score_i + transitions[i, j]) + emissions[t, j]``) and ties go to the first
    maximum, as torch's ``max``: the paths are pytorch-crf's, near-ties included.
    Arguments as :func:`crf_nll_loss`.
    """
    p = prepare_crf_decode(emissions, transitions, start_transitions, end_transitions, mask, n_threads, backend)
    if p.backend == "numpy":
        from .reference import crf as ref
        return ref.crf_decode_prepared(p)
    xs = p.xs
    _kernels.crf(b"crf_decode", p.em, None, p.lengths, xs["transitions"], xs["start_transitions"],
                 xs["end_transitions"], 0, None, None, p.paths, p.n_threads)
    return decode_result(p)


__all__ = ["crf_nll_loss", "crf_decode"]
