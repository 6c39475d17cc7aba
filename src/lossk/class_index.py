"""The class-index family: losses read at each sample's target class, without
a softmax (NLL of log-probabilities, multi-class margin). Kernels in
csrc/class_index/, NumPy twins in reference/class_index.py."""
from . import _kernels
from ._checks import check_int, check_scalar
from ._registry import register
from .softmax import _prepare_class_index, _run_index_kernel


def _prepare_nll_loss(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                      n_threads, backend):
    return _prepare_class_index(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                                n_threads, backend, pred_name="log_probs")


@register(mean="weight[target]")
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
    p = _prepare_nll_loss(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                          n_threads, backend)
    if p.backend == "numpy":
        from .reference.class_index import nll_loss_prepared
        return nll_loss_prepared(p)
    return _run_index_kernel(p, _kernels.nll_loss, p.n, p.c, p.inner, p.ignore_index)


def _prepare_multi_margin_loss(scores, target, p, margin, weight, reduction, return_grad, grad_out,
                               n_threads, backend):
    power = check_int(p, "p")
    if power not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {power}")
    margin = check_scalar(margin, "margin")
    prepared = _prepare_class_index(scores, target, weight, None, reduction, return_grad, grad_out,
                                    n_threads, backend, pred_name="scores", spatial=False,
                                    has_ignore=False, p=power, margin=margin)
    if prepared.c == 0:
        raise ValueError(f"scores must have at least one class, got shape {prepared.x.shape}")
    return prepared


@register(mean="samples")
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
    pr = _prepare_multi_margin_loss(scores, target, p, margin, weight, reduction, return_grad, grad_out,
                                    n_threads, backend)
    if pr.backend == "numpy":
        from .reference.class_index import multi_margin_loss_prepared
        return multi_margin_loss_prepared(pr)
    return _run_index_kernel(pr, _kernels.multi_margin_loss, pr.n, pr.c, pr.p, pr.margin)
