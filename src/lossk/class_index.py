"""The class-index family: losses read at each sample's target class, without
a softmax (NLL of log-probabilities, multi-class margin). Kernels in
csrc/class_index/, NumPy twins in reference/class_index.py."""
import math

from . import _kernels
from ._args.class_index import prepare_multi_margin_loss, prepare_nll_loss, target_range_error
from ._checks import REDUCTION_CODES, finish, flat
from ._registry import register


def run_class_kernel(family, loss, call, ignore_index=0, label_smoothing=0.0, gamma=0.0, p=1,
                     margin=0.0):
    """The family entry (lossk_softmax_loss / lossk_class_index_loss) on a prepared
    call over a class axis; an out-of-range target becomes a ValueError."""
    try:
        value = _kernels.class_loss(family, loss, flat(call.x), flat(call.target), call.weight,
                                    flat(call.loss_none), flat(call.grad), call.n, call.c,
                                    math.prod(call.spatial), ignore_index, label_smoothing, gamma, p,
                                    margin, REDUCTION_CODES[call.reduction], call.n_threads)
    except _kernels.TargetIndexError as e:
        raise target_range_error(call, e.position) from None
    return finish(value, call.loss_none, call.grad, call.reduction, call.dtype, call.return_grad)


@register(mean="weight[target]", peer="torch.nn.functional.nll_loss")
def nll_loss(log_probs, target, *, weight=None, ignore_index=-100,
             reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Negative log-likelihood, = ``torch.nn.functional.nll_loss``.

    Per sample with target ``t``: ``-weight[t] * log_probs[t]`` (class axis 1, or 0 for
    1-D input); samples with ``t == ignore_index`` contribute 0. ``"mean"`` divides the
    sum by ``sum of weight[t]`` over the non-ignored samples (NaN if there are none, as
    torch). The gradient is ``-weight[t]`` (divided by that sum for ``"mean"``) at each
    sample's target and 0 everywhere else.

    Parameters
    ----------
    log_probs : array_like, (C,), (N, C) or (N, C, d1, ..., dk), float16/32/64
    target : int32/int64 class indices of shape (), (N,) or (N, d1, ..., dk)
    weight : (C,) class weights, optional
    ignore_index : int
    reduction : "mean", "sum" or "none"
    return_grad : also return d(loss)/d(log_probs) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``log_probs`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference.nll_loss``)
    """
    p = prepare_nll_loss(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                          n_threads, backend)
    if p.backend == "numpy":
        from .reference.class_index import nll_loss_prepared
        return nll_loss_prepared(p)
    return run_class_kernel("class_index", b"nll_loss", p, ignore_index=p.ignore_index)


@register(mean="samples", peer="torch.nn.functional.multi_margin_loss")
def multi_margin_loss(scores, target, *, p=1, margin=1.0, weight=None,
                      reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Multi-class margin (hinge) loss, = ``torch.nn.functional.multi_margin_loss``.

    Per sample with target ``y`` over ``C`` classes:
    ``sum_{i != y} weight[y] * max(0, margin - x[y] + x[i])**p / C``, ``p`` 1 or 2.
    ``"mean"`` divides the sum by the number of samples (not by the weights, as torch).
    As in torch, a term whose ``margin - x[y] + x[i]`` is NaN counts 0 (IEEE maxNum), and
    the gradient is 0 where that base is <= 0.

    Parameters
    ----------
    scores : array_like, (C,) or (N, C), float16/32/64
    target : int32/int64 class indices of shape () or (N,), each in [0, C)
    p : 1 or 2
    margin : float
    weight : (C,) class weights, optional (applied by the target's class)
    reduction : "mean", "sum" or "none"
    return_grad : also return d(loss)/d(scores) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``scores`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference.multi_margin_loss``)
    """
    pr = prepare_multi_margin_loss(scores, target, p, margin, weight, reduction, return_grad, grad_out,
                                    n_threads, backend)
    if pr.backend == "numpy":
        from .reference.class_index import multi_margin_loss_prepared
        return multi_margin_loss_prepared(pr)
    return run_class_kernel("class_index", b"multi_margin_loss", pr, p=pr.p, margin=pr.margin)
