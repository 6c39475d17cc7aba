"""The segmentation family: Dice and Tversky losses with the numbers of
segmentation_models_pytorch 0.6 (DiceLoss, TverskyLoss). Arguments checked by
_args/segmentation.py, one kernel entry for both in csrc/segmentation/, NumPy
twins in reference/segmentation.py.

The loss of a batch is not a sum over its samples (the counts are summed over
the batch before the ratio), hence mean="none" and split="no" in the registry.
"""
from . import _kernels
from ._args.segmentation import finish, prepare, target_range_error
from ._checks import REDUCTION_CODES, flat
from ._registry import register

_SPEC = dict(mean="none", reductions=("mean", "none"), split="no")


def _run(name, p):
    if p.backend == "numpy":
        from .reference import segmentation as ref
        return ref.segmentation_prepared(p)
    try:
        value = _kernels.segmentation(name.encode(), flat(p.x), flat(p.target), flat(p.loss_none), flat(p.grad),
                                      p.n, p.c, p.inner, p.from_logits, p.ignore is not None,
                                      0 if p.ignore is None else p.ignore, p.smooth, p.eps, p.alpha, p.beta,
                                      p.gamma, p.per_image, REDUCTION_CODES[p.reduction], p.n_threads, p.upstream)
    except _kernels.TargetIndexError as e:
        raise target_range_error(p, e.position) from None
    return finish(p, value)


@register(peer="segmentation_models_pytorch.losses.DiceLoss", **_SPEC)
def dice_loss(pred, target, *, mode, from_logits=True, smooth=0.0, eps=1e-7, ignore_index=None,
              per_image=False, reduction="mean", return_grad=False, grad_out=None, n_threads=None,
              backend="c", upstream=None):
    r"""Soft Dice loss, = ``segmentation_models_pytorch.losses.DiceLoss`` (0.6).

    Probabilities ``p``: ``softmax(pred)`` over the class axis (``"multiclass"``),
    ``sigmoid(pred)`` (``"binary"``, ``"multilabel"``), or ``pred`` itself when
    ``from_logits=False``. Elements whose target equals ``ignore_index`` are dropped
    from every count (``p`` and the target are multiplied by 0 there, as SMP does).
    For each class ``k``, summed over the batch and the spatial axes:
    ``Sp = sum p``, ``St = sum t``, ``D = sum |p - t|``, ``I = (Sp + St - D) / 2``,

    ``score_k = (I + smooth) / max(I + (Sp - I)/2 + (St - I)/2 + smooth, eps)``,
    ``L_k = 1 - score_k``, and 0 for a class with ``St = 0`` (absent from the target).

    ``"mean"``: the mean of ``L_k`` over the classes; ``"none"``: the ``L_k``, shape (C,).
    ``per_image=True`` sums per image and class instead: ``L`` is (N, C) and the mean
    is over the N*C pairs (absent pairs count 0 in it), so the loss does not depend on
    how images are batched (SMP has no such option: smp #712).

    SMP's conventions kept: ``I`` is written with the L1 distance (SMP 0.6), so for
    hard 0/1 masks it is ``sum p t`` and for soft masks ``sum min(p, t)``; mask values
    outside [0, 1] are accepted and enter the same formula. ``eps`` clamps the
    denominator from below (no gradient through a clamped one); the gradient of
    ``|p - t|`` is 0 where ``p == t`` (torch's). ``"binary"`` treats all of an image's
    elements as one class (C = 1, SMP's reshape to (N, 1, -1)).

    Parameters
    ----------
    pred : array_like (N, C, *spatial), float16/32/64: logits (``from_logits``) or probabilities
    target : ``"multiclass"``: int class indices (N, *spatial) in [0, C) or ``ignore_index``;
        ``"binary"``/``"multilabel"``: masks of pred's shape (``"binary"`` with C = 1 also
        (N, *spatial))
    mode : ``"binary"``, ``"multiclass"`` or ``"multilabel"``
    from_logits : bool
    smooth, eps : floats >= 0
    ignore_index : None or int
    per_image : bool
    reduction : ``"mean"`` or ``"none"``
    return_grad, grad_out, n_threads, backend : as for every lossk loss; the gradient is
        w.r.t. ``pred`` (the logits when ``from_logits``); for ``"none"`` of the sum of
        the ``L_k``. Bitwise identical for every ``n_threads``.
    upstream : None or an array of the ``"none"`` output's shape ((C,), or (N, C) with
        ``per_image``), only with ``reduction="none"`` and ``return_grad=True``: the
        gradient is then that of ``sum_k upstream_k L_k`` (the backward of any
        ``grad_output``; the classes share every pixel, so it is not the sum's
        gradient scaled).
    """
    p = prepare(pred, target, mode, from_logits, smooth, eps, ignore_index, per_image, reduction,
                return_grad, grad_out, n_threads, backend, upstream=upstream)
    return _run("dice_loss", p)


@register(peer="segmentation_models_pytorch.losses.TverskyLoss", **_SPEC)
def tversky_loss(pred, target, *, mode, alpha=0.5, beta=0.5, gamma=1.0, from_logits=True, smooth=0.0,
                 eps=1e-7, ignore_index=None, per_image=False, reduction="mean", return_grad=False,
                 grad_out=None, n_threads=None, backend="c", upstream=None):
    r"""Tversky loss, = ``segmentation_models_pytorch.losses.TverskyLoss`` (0.6).

    As :func:`dice_loss` with ``score_k = (I + smooth) / max(I + alpha FP + beta FN + smooth, eps)``,
    ``FP = Sp - I``, ``FN = St - I``; ``alpha = beta = 0.5`` is the Dice loss.
    ``"mean"`` returns ``(mean of L_k) ** gamma``: SMP raises the class mean to
    ``gamma`` (its "focal Tversky"), unlike the paper's sum of ``(1 - TI_k)^(1/gamma)``;
    with ``per_image=True`` the mean over the N*C pairs, raised to ``gamma``.
    ``"none"`` returns the ``L_k`` before the mean and without ``gamma``.
    With ``gamma < 1`` the gradient at the minimum (mean 0: every present class
    scored perfectly) is taken as 0, where SMP's autograd gives NaN (inf times 0).

    alpha, beta : floats >= 0 (weights of false positives and false negatives)
    gamma : float > 0
    Other arguments (``upstream`` too) as :func:`dice_loss`.
    """
    p = prepare(pred, target, mode, from_logits, smooth, eps, ignore_index, per_image, reduction,
                return_grad, grad_out, n_threads, backend, alpha=alpha, beta=beta, gamma=gamma,
                upstream=upstream)
    return _run("tversky_loss", p)


def _none_shape(shapes, options):
    """The "none" output's shape from pred's shape and the options (lossk.torch's
    fake kernel): (K,) classes, (N, K) per image; binary mode is one class."""
    pred = shapes[0]
    k = 1 if options.get("mode") == "binary" else pred[1]
    return (pred[0], k) if options.get("per_image") else (k,)


dice_loss.none_shape = tversky_loss.none_shape = _none_shape

__all__ = ["dice_loss", "tversky_loss"]
