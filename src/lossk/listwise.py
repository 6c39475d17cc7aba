r"""Listwise learning-to-rank losses over B lists of L items, as allRank defines
them (allrank/models/losses/{listNet,listMLE,approxNDCG}.py). Arguments checked
by _args/listwise.py, one kernel entry in csrc/listwise/, NumPy twins in
reference/listwise.py.

``scores`` and ``relevance`` have shape (B, L). An item is padding where its
relevance is exactly -1 (allRank's ``padded_value_indicator``), always, or
where the optional boolean ``mask`` (True = a real item) is False. Padding
takes no part in its list's loss and gets gradient 0, so lists of unequal
length share one padded array. ``reduction``: ``"mean"`` divides the sum of
the per-list losses by B, every list counted (allRank's ``torch.mean``; a
list with no real item has loss 0 and counts), ``"sum"`` is that sum, and
``"none"`` gives the B per-list losses (allRank has no such argument: its
functions return the mean). ``eps`` is allRank's (``DEFAULT_EPS = 1e-10``).
The gradient is w.r.t. ``scores`` only (relevance is a target).
"""
from . import _kernels
from ._args.listwise import NO_ALPHA, prepare
from ._checks import REDUCTION_CODES, finish
from ._registry import register

# split "no", as the registry's docstring lists the listwise losses: a list's
# loss can exceed the float32 range where the mean over the batch does not
# (ListMLE at scores near float32's max), so chunk sums would overflow.
_SPEC = dict(mean="samples", grads=("scores",), target="relevance", split="no", independent=True)


def _run(name, scores, relevance, mask, eps, alpha, reduction, return_grad, grad_out, n_threads, backend):
    p = prepare(scores, relevance, mask, eps, alpha, reduction, return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference import listwise as ref
        return getattr(ref, name + "_prepared")(p)
    loss = _kernels.listwise(name.encode(), p.x, p.rel, p.mask, p.alpha, p.eps, REDUCTION_CODES[p.reduction],
                             p.loss_none, p.grad, p.n_threads)
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


_COMMON_ARGS = """
    Parameters
    ----------
    scores : array_like (B, L), float16/32/64: the model's scores, L >= 1
    relevance : array_like (B, L), real: graded relevance; -1 marks padding
    mask : None, or (B, L) bool (or 0/1 integers): False marks padding too
    eps : float in [0, 1], allRank's eps (see the formula)
    reduction : "mean" (over the B lists), "sum" or "none" (one loss per list)
    return_grad : also return d(loss)/d(scores) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``scores`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference``)
"""


def _doc(fn):
    fn.__doc__ = fn.__doc__.rstrip() + "\n" + _COMMON_ARGS
    return fn


@register(peer="allrank.models.losses.listNet", **_SPEC)
@_doc
def listnet_loss(scores, relevance, *, mask=None, eps=1e-10, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None, backend="c"):
    r"""ListNet (top-1 cross-entropy), allRank's ``listNet``: per list, over its real items,
    ``-sum_j softmax(relevance)_j * log(softmax(scores)_j + eps)``.

    A list with no real item has loss 0 and gradient 0; allRank's softmax of
    nothing gives NaN there (0/0), which would make the whole mean NaN.
    """
    return _run("listnet_loss", scores, relevance, mask, eps, NO_ALPHA, reduction, return_grad, grad_out,
                n_threads, backend)


@register(peer="allrank.models.losses.listMLE", **_SPEC)
@_doc
def listmle_loss(scores, relevance, *, mask=None, eps=1e-10, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None, backend="c"):
    r"""ListMLE, allRank's ``listMLE``: the Plackett-Luce negative log-likelihood of the
    order of decreasing relevance. Per list, with ``y_1..y_n`` the real items' scores
    in that order, ``M = max y`` and ``C_k = sum_{m >= k} exp(y_m - M)``:
    ``sum_k log(C_k + eps) - (y_k - M)``.

    Ties of relevance are ordered by position (a stable sort), so the loss is a
    function of the input: allRank shuffles the items with ``torch.randperm``
    first, which makes its loss random where relevances tie. ``M`` enters the
    gradient through ``eps`` as in torch (its share goes to the first maximal
    score in that order). A NaN relevance among a list's real items makes its
    loss and gradient NaN (a sort key with no order).
    """
    return _run("listmle_loss", scores, relevance, mask, eps, NO_ALPHA, reduction, return_grad, grad_out,
                n_threads, backend)


@register(peer="allrank.models.losses.approxNDCGLoss", **_SPEC)
@_doc
def approx_ndcg_loss(scores, relevance, *, alpha=1.0, mask=None, eps=1e-10, reduction="mean",
                     return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""ApproxNDCG (Qin et al. 2010), allRank's ``approxNDCGLoss``: minus the NDCG of
    smooth ranks. Per list, over its real items ``i``:

    * ``pos_i = 1 + sum_{j != i} max(sigmoid(alpha * (s_j - s_i)), eps)``;
    * gains ``G_i = (2 ** max(rel_i, 0) - 1) / max(IDCG, eps)``, ``IDCG = sum_k``
      (the gains sorted in decreasing order) ``/ log2(k + 1)``, k = 1, 2, ...;
    * loss ``-sum_i G_i / log2(1 + pos_i)``.

    ``alpha`` > 0 is the sigmoid's scale. The clamp at ``eps`` has no gradient
    where it holds (as torch's clamp). A list whose IDCG is 0 (no positive
    relevance) has loss 0 (not -1) and gradient 0, and counts in the mean, as in
    allRank. No truncation (NDCG over the whole list). allRank computes the
    discounts ``log2(k + 1)`` in float32 even for float64 scores; lossk computes
    them in float64 (a difference of about 1e-8 relative in float64 results).
    The cost is O(L^2) per list.
    """
    return _run("approx_ndcg_loss", scores, relevance, mask, eps, alpha, reduction, return_grad, grad_out,
                n_threads, backend)


__all__ = ["listnet_loss", "listmle_loss", "approx_ndcg_loss"]
