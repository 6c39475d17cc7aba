"""The softmax family: cross-entropy and softmax focal loss over a class axis.
Arguments are checked by lossk._args.softmax (shared with the NumPy reference,
lossk.reference.softmax); kernels in csrc/softmax/.
"""
from ._args.softmax import prepare_cross_entropy, prepare_softmax_focal_loss
from ._registry import register
from .class_index import run_class_kernel


@register(mean="weight[target]", peer="torch.nn.functional.cross_entropy")
def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Softmax cross-entropy, = ``torch.nn.functional.cross_entropy``.

    With ``p = softmax(logits)`` over the class axis (axis 1, or 0 for 1-D logits)
    and ``lse = log(sum_k exp(x_k))``, per sample:

    * class-index target ``y``: ``(1 - eps) * w[y] * (lse - x[y]) + eps/C * sum_k w[k] * (lse - x[k])``;
      samples with ``y == ignore_index`` contribute 0. ``"mean"`` divides the sum by
      ``sum of w[y]`` over the non-ignored samples (NaN if there are none, as torch).
    * probability target ``t`` (float, logits' shape): ``t' = (1 - eps) t + eps/C``,
      ``sum_k w[k] t'[k] (lse - x[k])``; ``"mean"`` divides by the number of samples.

    Parameters
    ----------
    logits : array_like, (C,), (N, C) or (N, C, d1, ..., dk), float16/32/64
    target : int32/int64 class indices of shape (), (N,) or (N, d1, ..., dk), or
        probabilities of the logits' shape
    weight : (C,) class weights, optional
    ignore_index : int, class-index targets only
    label_smoothing : float in [0, 1]
    reduction : "mean", "sum" or "none"
    return_grad : also return d(loss)/d(logits) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``logits`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference.cross_entropy``)
    """
    p = prepare_cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction,
                               return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.softmax import cross_entropy_prepared
        return cross_entropy_prepared(p)
    return run_class_kernel("softmax", b"cross_entropy", p, ignore_index=p.ignore_index,
                            label_smoothing=p.eps)


@register(mean="alpha[target]", peer=None)
def softmax_focal_loss(logits, target, *, alpha=None, gamma=2.0, ignore_index=-100,
                       reduction="mean", return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Multi-class (softmax) focal loss of Lin et al. 2017.

    With ``p = softmax(logits)`` over the class axis (axis 1, or 0 for 1-D logits),
    ``t`` the target class and ``p_t = p[t]``, per sample:
    ``-alpha[t] * (1 - p_t)**gamma * log(p_t)``; samples with ``t == ignore_index``
    contribute 0. ``"mean"`` divides the sum by ``sum of alpha[t]`` over the
    non-ignored samples (their count without ``alpha``; NaN if there are none), as
    :func:`cross_entropy` does with ``weight``: ``gamma=0`` gives exactly
    ``cross_entropy(logits, target, weight=alpha)``.

    The gradient, ``alpha[t] (1 - p_t)^gamma (1 + gamma p_t (-log p_t) / (1 - p_t)) (p - onehot(t))``,
    is finite for every ``gamma >= 0``, ``p_t -> 1`` included.

    Parameters
    ----------
    logits : array_like, (C,), (N, C) or (N, C, d1, ..., dk), float16/32/64
    target : int32/int64 class indices of shape (), (N,) or (N, d1, ..., dk)
    alpha : (C,) per-class weights, optional
    gamma : float >= 0, the focusing exponent
    ignore_index : int
    reduction : "mean", "sum" or "none"
    return_grad : also return d(loss)/d(logits) (of the summed losses for "none")
    grad_out : array receiving the gradient (may be ``logits`` itself)
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (kernel) or "numpy" (``lossk.reference.softmax_focal_loss``)
    """
    p = prepare_softmax_focal_loss(logits, target, alpha, gamma, ignore_index, reduction, return_grad,
                                    grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.softmax import softmax_focal_loss_prepared
        return softmax_focal_loss_prepared(p)
    return run_class_kernel("softmax", b"softmax_focal_loss", p, ignore_index=p.ignore_index,
                            gamma=p.gamma)
