"""The pointwise family: every element of the prediction has its own loss term
and gradient (sigmoid focal, binary cross-entropy on probabilities and on
logits, hinge, KL divergence). Arguments checked by _args/pointwise.py, kernels
in csrc/pointwise/ (one driver, driver.c, for every loss), NumPy twins in
reference/pointwise.py.

The prediction and the target have the same (any) shape (kl_div: or shapes that
broadcast, as in torch); "mean" averages over all elements, as torch does.
Elementwise weights broadcast to the prediction without being expanded (see
_checks.operand_layout).
"""
from . import _kernels
from ._args.pointwise import (KL_REDUCTIONS, bce_domain_error, hinge_domain_error, kl_div_result,
                              prepare_binary_cross_entropy, prepare_binary_cross_entropy_with_logits,
                              prepare_hinge_loss, prepare_kl_div, prepare_sigmoid_focal_loss)
from ._args.pointwise import (gan_result, margin_ranking_domain_error, prepare_margin_ranking_loss,
                              sum_to,
                              prepare_generator, prepare_huber_loss,
                              prepare_lsgan_discriminator_loss, prepare_lsgan_generator_loss,
                              prepare_quantile_loss, prepare_regression, prepare_smooth_l1_loss,
                              prepare_wasserstein_discriminator_loss)
import math

import numpy as np

from ._checks import REDUCTION_CODES, finish, flat, operand_layout
from ._registry import family, register


def _kernel_arrays(p):
    """pred, target, loss_none and grad as the 1-d arrays the kernels take. All
    have pred's shape: when that is 1-d (no views to make) they go as they are,
    which saves a few calls on small inputs."""
    if p.x.ndim == 1:
        return p.x, p.t, p.loss_none, p.grad
    return flat(p.x), flat(p.t), flat(p.loss_none), flat(p.grad)


def _operand_args(p, name):
    """(flat, inner, period) of a broadcast operand for the bridge; absent: (None, 1, 1)."""
    op = p.operands[name]
    return (None, 1, 1) if op is None else operand_layout(op, p.x.shape)


def _finish(p, loss):
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def _family_entry(p, name):
    """The loss `name` through the C family entry lossk_pointwise (or its
    reference <name>_prepared for backend="numpy"): p.t broadcast to p.x,
    p.params its scalar options in signature order."""
    if p.backend == "numpy":
        from .reference import pointwise as reference
        return getattr(reference, name + "_prepared")(p)
    x, t = p.x, p.t
    t = (t, 1, t.size or 1) if t.shape == x.shape else operand_layout(t, x.shape)   # same shape: as it is
    loss = _kernels.pointwise(name.encode(), x, t, None, None, p.params, -1,
                              REDUCTION_CODES[p.reduction], p.loss_none, p.grad, None, p.n_threads)
    return _finish(p, loss)


# ---- sigmoid focal loss ----------------------------------------------------------


@register(mean="elements", peer="torchvision.ops.sigmoid_focal_loss")
def sigmoid_focal_loss(logits, target, *, alpha=0.25, gamma=2.0, reduction="mean",
                       return_grad=False, grad_out=None, n_threads=None, backend="c"):
    r"""Sigmoid focal loss, = ``torchvision.ops.sigmoid_focal_loss`` (which defaults to
    ``reduction="none"``; lossk defaults to ``"mean"``).

    Per element, with ``p = sigmoid(x)``, ``p_t = p t + (1 - p)(1 - t)`` and
    ``alpha_t = alpha t + (1 - alpha)(1 - t)`` (1 when ``alpha < 0``)::

        loss = alpha_t * bce_with_logits(x, t) * (1 - p_t) ** gamma

    Loss and gradient are computed without overflow or cancellation: the
    gradient is finite for every ``gamma >= 0`` and every finite logit (and at
    ``+-inf``, where the loss is 0 or inf).

    Targets outside [0, 1] are accepted, as torchvision does, and follow the
    same formula and its exact derivative: ``1 - p_t`` may then be negative,
    and ``(1 - p_t) ** gamma`` is real for integer ``gamma`` and NaN for other
    ``gamma`` (as in torch). The loss grows as ``|t| ** (2 + gamma)``: for
    huge targets, elements overflow to +-inf (and the gradient to +-inf or
    NaN) as IEEE arithmetic does in the result dtype; ``"mean"``/``"sum"``
    add the elements as returned by ``reduction="none"`` (in float64), so
    +inf and -inf elements give NaN, as torch does. A ``gamma`` beyond
    float32's range (float32 input) acts as its limit: ``(1 - p_t) ** gamma``
    is 0 where ``1 - p_t < 1`` and its gradient term is 0, not ``0 * inf``.

    Accuracy: ``(1 - p_t) ** gamma`` multiplies the relative rounding error of
    ``1 - p_t`` in the result dtype (in float32 up to about 3e-8 from the
    rounding of ``1 - t`` alone) by ``gamma``: float32 results stay within
    rtol 1e-5 of the exact values up to ``gamma`` of about 200.

    Parameters
    ----------
    logits : array_like of any shape, float16/32/64
    target : array_like of the logits' shape: 0/1 labels (soft labels in [0, 1]
        follow the same formula)
    alpha : float in [0, 1], or negative to disable the alpha weighting
    gamma : float >= 0
    reduction : "mean" (over all elements), "sum" or "none"
    return_grad, grad_out, n_threads, backend : as for every lossk loss
    """
    p = prepare_sigmoid_focal_loss(logits, target, alpha, gamma, reduction, return_grad, grad_out,
                                    n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import sigmoid_focal_loss_prepared
        return sigmoid_focal_loss_prepared(p)
    loss = _kernels.sigmoid_focal_loss(*_kernel_arrays(p), p.alpha, p.gamma,
                                       REDUCTION_CODES[p.reduction], p.n_threads)
    return _finish(p, loss)


# ---- binary cross-entropy on probabilities ------------------------------------------


@register(mean="elements", peer="torch.nn.functional.binary_cross_entropy")
def binary_cross_entropy(probs, target, *, weight=None, reduction="mean", return_grad=False,
                         grad_out=None, n_threads=None, backend="c"):
    r"""Binary cross-entropy on probabilities, = ``torch.nn.functional.binary_cross_entropy``.

    Per element ``-w (t log p + (1 - t) log(1 - p))`` with each log clamped at -100
    as torch does; the gradient is torch's ``w (p - t) / max(p (1 - p), eps)`` (``eps`` =
    float32(1e-12), for float64 too).
    ``probs`` and ``target`` must lie in [0, 1] (ValueError naming the first
    element that does not; NaN propagates). On that error a separate ``grad_out``
    may already be partly written (the check runs inside the fused pass); in
    place (``grad_out=probs``) every element is checked first and ``probs`` is
    left as it was.

    Parameters
    ----------
    probs : array_like of any shape, float16/32/64, in [0, 1]
    target : array_like of the same shape, in [0, 1]
    weight : array_like broadcastable to ``probs`` (elementwise rescaling, torch's
        ``weight``); not expanded to full size in memory
    reduction : "mean" (over all elements, not divided by the weights, as torch),
        "sum" or "none"
    """
    p = prepare_binary_cross_entropy(probs, target, weight, reduction, return_grad, grad_out,
                                      n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import binary_cross_entropy_prepared
        return binary_cross_entropy_prepared(p)
    x, t, loss_none, grad = _kernel_arrays(p)
    try:
        loss = _kernels.binary_cross_entropy(x, t, *_operand_args(p, "weight"), loss_none, grad,
                                             REDUCTION_CODES[p.reduction], p.n_threads)
    except _kernels.DomainError as e:
        raise bce_domain_error(p, e.position) from None
    return _finish(p, loss)


# ---- binary cross-entropy on logits -------------------------------------------------


@register(mean="elements", peer="torch.nn.functional.binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None,
                                     reduction="mean", return_grad=False, grad_out=None,
                                     n_threads=None, backend="c"):
    r"""Binary cross-entropy on logits, = ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Per element ``w ((1 - t) softplus(x) + pw t softplus(-x))`` (torch's
    ``(1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x))`` regrouped), gradient
    ``w ((1 - t) sigmoid(x) - pw t sigmoid(-x))``, with ``softplus(x) =
    max(x, 0) + log1p(exp(-|x|))``: stable for logits of any magnitude; at
    ``+-inf`` the loss is 0 or inf and the gradient finite (torch gives NaN).

    Parameters
    ----------
    logits : array_like of any shape, float16/32/64
    target : array_like of the same shape (0/1 or soft labels)
    weight : array_like broadcastable to ``logits``: elementwise rescaling
    pos_weight : array_like broadcastable to ``logits``, typically one weight per
        class along the last dimension: weight of the positive term
    reduction : "mean" (over all elements), "sum" or "none"
    """
    p = prepare_binary_cross_entropy_with_logits(logits, target, weight, pos_weight, reduction,
                                                  return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import binary_cross_entropy_with_logits_prepared
        return binary_cross_entropy_with_logits_prepared(p)
    x, t, loss_none, grad = _kernel_arrays(p)
    loss = _kernels.binary_cross_entropy_with_logits(
        x, t, *_operand_args(p, "weight"), *_operand_args(p, "pos_weight"),
        loss_none, grad, REDUCTION_CODES[p.reduction], p.n_threads)
    return _finish(p, loss)


# ---- hinge loss ----------------------------------------------------------------------


@register(mean="elements", peer=None)
def hinge_loss(scores, target, *, margin=1.0, squared=False, reduction="mean", return_grad=False,
               grad_out=None, n_threads=None, backend="c"):
    r"""Binary hinge loss: per element ``max(0, margin - y s)`` (``squared``: its
    square), with ``y`` in {-1, +1}; 0/1 labels are accepted and 0 means -1.

    The gradient is ``-y`` (squared: ``-2 y max(0, margin - y s)``) where
    ``margin - y s > 0`` and 0 elsewhere. Labels other than -1, 0 and 1 raise
    ValueError (a separate ``grad_out`` may then be partly written; in place,
    ``grad_out=scores``, the labels are checked first and ``scores`` is left
    as it was).

    Parameters
    ----------
    scores : array_like of any shape, float16/32/64
    target : array_like of the same shape holding -1/1 or 0/1 labels
    margin : float
    squared : bool
    reduction : "mean" (over all elements), "sum" or "none"
    """
    p = prepare_hinge_loss(scores, target, margin, squared, reduction, return_grad, grad_out,
                            n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import hinge_loss_prepared
        return hinge_loss_prepared(p)
    try:
        loss = _kernels.hinge_loss(*_kernel_arrays(p), p.margin, p.squared, REDUCTION_CODES[p.reduction],
                                   p.n_threads)
    except _kernels.DomainError as e:
        raise hinge_domain_error(p, e.position) from None
    return _finish(p, loss)


# ---- KL divergence -------------------------------------------------------------------


@register(mean="elements", peer="torch.nn.functional.kl_div", reductions=KL_REDUCTIONS)
def kl_div(log_input, target, *, log_target=False, reduction="mean", return_grad=False,
           grad_out=None, n_threads=None, backend="c"):
    r"""Kullback-Leibler divergence, = ``torch.nn.functional.kl_div``.

    ``log_input`` holds log-probabilities. Per element ``t (log t - x)`` (0 where
    ``t = 0``, as torch's ``xlogy``), gradient ``-t``; with ``log_target`` the
    target holds log-probabilities too: ``exp(t) (t - x)``, gradient ``-exp(t)``.

    ``log_input`` and ``target`` broadcast against each other as in torch: the
    smaller one is expanded once (a copy of the result's size), ``"none"``
    returns the broadcast shape, and where ``log_input`` is the one expanded
    its gradient is summed over the expanded axes. ``"batchmean"`` divides by
    ``log_input.shape[0]``, as torch does (even when the target adds a
    leading dimension).

    Parameters
    ----------
    log_input : array_like of any shape, float16/32/64
    target : array_like of log_input's shape, or broadcasting with it
    log_target : bool
    reduction : "mean" (over all elements, as torch: not the mathematical KL),
        "batchmean" (sum / size of the first dimension: the KL per sample),
        "sum" or "none"
    """
    p = prepare_kl_div(log_input, target, log_target, reduction, return_grad, grad_out, n_threads,
                        backend)
    if p.backend == "numpy":
        from .reference.pointwise import kl_div_prepared
        return kl_div_result(p, kl_div_prepared(p))
    loss = _kernels.kl_div(*_kernel_arrays(p), p.batch_size, p.log_target, REDUCTION_CODES[p.reduction],
                           p.n_threads)
    return kl_div_result(p, _finish(p, loss))


# ---- regression ----------------------------------------------------------------------
# `target` broadcasts to `pred` as in torch (a scalar, a per-column target), without
# being expanded; "mean" divides by pred.size.


@register(mean="elements", peer="torch.nn.functional.mse_loss")
def mse_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None,
             backend="c"):
    r"""Mean squared error, = ``torch.nn.functional.mse_loss``: per element
    ``(pred - target) ** 2``, gradient ``2 (pred - target)``.

    Parameters
    ----------
    pred : array_like of any shape, float16/32/64
    target : array_like broadcastable to ``pred`` (not expanded in memory)
    reduction : "mean" (over all elements of ``pred``), "sum" or "none"
    """
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend)
    return _family_entry(p, "mse_loss")


@register(mean="elements", peer="torch.nn.functional.l1_loss")
def l1_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None,
            backend="c"):
    r"""Mean absolute error, = ``torch.nn.functional.l1_loss``: per element
    ``|pred - target|``, gradient ``sign(pred - target)`` (0 where they are equal, as torch).

    ``target`` broadcasts to ``pred``; ``reduction``: "mean" (over ``pred.size``), "sum", "none".
    """
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend)
    return _family_entry(p, "l1_loss")


@register(mean="elements", peer="torch.nn.functional.huber_loss")
def huber_loss(pred, target, *, delta=1.0, reduction="mean", return_grad=False, grad_out=None,
               n_threads=None, backend="c"):
    r"""Huber loss, = ``torch.nn.functional.huber_loss``: with ``e = pred - target``,
    ``e**2 / 2`` where ``|e| < delta``, else ``delta (|e| - delta / 2)``; gradient
    ``clip(e, -delta, delta)``.

    ``delta`` must be finite and > 0 (0 and NaN raise ValueError, as torch for 0).
    ``target`` broadcasts to ``pred``; ``reduction``: "mean" (over ``pred.size``), "sum", "none".
    """
    p = prepare_huber_loss(pred, target, delta, reduction, return_grad, grad_out, n_threads, backend)
    return _family_entry(p, "huber_loss")


@register(mean="elements", peer="torch.nn.functional.smooth_l1_loss")
def smooth_l1_loss(pred, target, *, beta=1.0, reduction="mean", return_grad=False, grad_out=None,
                   n_threads=None, backend="c"):
    r"""Smooth L1 loss, = ``torch.nn.functional.smooth_l1_loss``: with ``e = pred - target``,
    ``e**2 / (2 beta)`` where ``|e| < beta``, else ``|e| - beta / 2``; gradient ``e / beta``
    there, else ``sign(e)``. ``beta = 0`` is the L1 loss (gradient 0 at ``e = 0``).

    ``beta`` must be finite and >= 0 (negative and NaN raise ValueError).
    ``target`` broadcasts to ``pred``; ``reduction``: "mean" (over ``pred.size``), "sum", "none".
    """
    p = prepare_smooth_l1_loss(pred, target, beta, reduction, return_grad, grad_out, n_threads, backend)
    return _family_entry(p, "smooth_l1_loss")


@register(mean="none", peer=None, reductions=("mean",), split="no")
def rmse_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None,
              backend="c"):
    r"""Root mean squared error ``sqrt(mean((pred - target)**2))``, only ``reduction="mean"``.

    Gradient ``(pred - target) / (n rmse)``, ``n = pred.size``; where every error is 0 it is
    0, never NaN. The mean of nothing is NaN (as torch's mean). The gradient needs the
    total first: the kernel makes two passes (the sum, then the gradient).
    """
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend,
                           reductions=("mean",))
    return _family_entry(p, "rmse_loss")


@register(mean="elements", peer=None)
def log_cosh_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None,
                  n_threads=None, backend="c"):
    r"""Log-cosh loss: per element ``log(cosh(e))``, ``e = pred - target``, computed as
    ``|e| + log1p(exp(-2 |e|)) - log 2`` (no overflow for any ``e``: finite at
    ``|e| = 1e4`` and beyond, inf at ``+-inf``); gradient ``tanh(e)`` (``+-1`` at ``+-inf``).

    ``target`` broadcasts to ``pred``; ``reduction``: "mean" (over ``pred.size``), "sum", "none".
    """
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend)
    return _family_entry(p, "log_cosh_loss")


@register(mean="elements", peer=None)
def quantile_loss(pred, target, *, q=0.5, reduction="mean", return_grad=False, grad_out=None,
                  n_threads=None, backend="c"):
    r"""Quantile (pinball) loss: per element ``max(q e, (q - 1) e)``, ``e = target - pred``.

    Gradient w.r.t. ``pred``: ``-q`` where ``e > 0``, ``1 - q`` where ``e < 0``, and
    ``1/2 - q`` at ``e = 0`` (the mean of the one-sided derivatives, as torch autograd
    gives for a max at a tie). ``q`` must be in [0, 1] (else ValueError).
    ``target`` broadcasts to ``pred``; ``reduction``: "mean" (over ``pred.size``), "sum", "none".
    """
    p = prepare_quantile_loss(pred, target, q, reduction, return_grad, grad_out, n_threads, backend)
    return _family_entry(p, "quantile_loss")


# ---- GAN losses (torchgan's conventions), one C call per input -----------------------
# d_real and d_fake may have different shapes; "mean" averages each over its own size.


def _reference(name, p):
    from .reference import pointwise as reference
    return getattr(reference, name + "_prepared")(p)


_SCALARS: dict[tuple[float, float, str], np.ndarray] = {}   # (value, dtype) -> a read-only 1-element array: built once, not per call


def _scalar(value, dtype):
    key = (value, math.copysign(1.0, value), dtype.char)   # -0.0 apart from 0.0
    a = _SCALARS.get(key)
    if a is None:
        if len(_SCALARS) > 256:
            _SCALARS.clear()
        a = _SCALARS[key] = np.full(1, value, dtype)
        a.flags.writeable = False
    return a


def _gan_term(name, x, t, reduction, loss_none, grad, n_threads):
    """One input's term through the family entry (csrc/pointwise/gan.c): t, the
    input's label (LSGAN) or sign (WGAN), a scalar broadcast to x (not expanded)."""
    return _kernels.pointwise(name, x, (_scalar(t, x.dtype), 1, 1), None, None, (), -1,
                              REDUCTION_CODES[reduction], loss_none, grad, None, n_threads)


@register(mean="none", peer=None, grads=("d_real", "d_fake"), target=None,
          reductions=("mean", "sum"), split="no")
def lsgan_discriminator_loss(d_real, d_fake, *, a=0.0, b=1.0, reduction="mean", return_grad=False,
                             grad_out=None, n_threads=None, backend="c"):
    r"""Least-squares GAN discriminator loss (Mao et al.; torchgan's convention)::

        1/2 [mean((d_real - b)**2) + mean((d_fake - a)**2)]

    ``d_real`` and ``d_fake`` may have different shapes; each mean is over its own
    size (``"sum"``: the sums instead of the means). ``return_grad=True`` returns
    ``(loss, (grad_real, grad_fake))``; ``grad_out`` is a tuple of two arrays or None.
    ``a``, ``b`` finite.
    """
    p = prepare_lsgan_discriminator_loss(d_real, d_fake, a, b, reduction, return_grad, grad_out,
                                         n_threads, backend)
    if p.backend == "numpy":
        return _reference("lsgan_discriminator_loss", p)
    g_real, g_fake = p.grads or (None, None)
    name = b"lsgan_discriminator_loss"
    loss = (_gan_term(name, p.xs["d_real"], p.b, p.reduction, None, g_real, p.n_threads)
            + _gan_term(name, p.xs["d_fake"], p.a, p.reduction, None, g_fake, p.n_threads))
    return gan_result(p, loss)


@register(mean="elements", peer=None, target=None, split="no", independent=True)
def lsgan_generator_loss(d_fake, *, c=1.0, reduction="mean", return_grad=False, grad_out=None,
                         n_threads=None, backend="c"):
    r"""Least-squares GAN generator loss ``1/2 mean((d_fake - c)**2)`` (torchgan's
    convention), gradient ``(d_fake - c) / n``; ``"none"`` gives ``(d_fake - c)**2 / 2``
    per element. ``c`` finite.
    """
    p = prepare_lsgan_generator_loss(d_fake, c, reduction, return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        return _reference("lsgan_generator_loss", p)
    loss = _gan_term(b"lsgan_generator_loss", p.xs["d_fake"], p.c, p.reduction, p.loss_none,
                     p.grads and p.grads[0], p.n_threads)
    return gan_result(p, loss, p.loss_none)


@register(mean="none", peer=None, grads=("d_real", "d_fake"), target=None,
          reductions=("mean", "sum"), split="no")
def wasserstein_discriminator_loss(d_real, d_fake, *, reduction="mean", return_grad=False,
                                   grad_out=None, n_threads=None, backend="c"):
    r"""Wasserstein GAN critic loss ``mean(d_fake) - mean(d_real)`` (``"sum"``: the
    sums); gradients ``-1/n_real`` and ``1/n_fake``, returned as ``(grad_real, grad_fake)``.
    """
    p = prepare_wasserstein_discriminator_loss(d_real, d_fake, reduction, return_grad, grad_out,
                                               n_threads, backend)
    if p.backend == "numpy":
        return _reference("wasserstein_discriminator_loss", p)
    g_real, g_fake = p.grads or (None, None)
    name = b"wasserstein_discriminator_loss"
    loss = (_gan_term(name, p.xs["d_fake"], 1.0, p.reduction, None, g_fake, p.n_threads)
            + _gan_term(name, p.xs["d_real"], -1.0, p.reduction, None, g_real, p.n_threads))
    return gan_result(p, loss)


@register(mean="elements", peer=None, target=None, split="no", independent=True)
def wasserstein_generator_loss(d_fake, *, reduction="mean", return_grad=False, grad_out=None,
                               n_threads=None, backend="c"):
    r"""Wasserstein GAN generator loss ``-mean(d_fake)``, gradient ``-1/n``;
    ``"none"`` gives ``-d_fake``."""
    p = prepare_generator(d_fake, reduction, return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        return _reference("wasserstein_generator_loss", p)
    loss = _gan_term(b"wasserstein_generator_loss", p.xs["d_fake"], -1.0, p.reduction, p.loss_none,
                     p.grads and p.grads[0], p.n_threads)
    return gan_result(p, loss, p.loss_none)


# ---- margin ranking ------------------------------------------------------------------


@register(mean="elements", peer="torch.nn.functional.margin_ranking_loss", grads=("x1", "x2"),
          target="y")
def margin_ranking_loss(x1, x2, y, *, margin=0.0, reduction="mean", return_grad=False,
                        grad_out=None, n_threads=None, backend="c"):
    r"""Margin ranking loss, = ``torch.nn.functional.margin_ranking_loss``: per element
    ``max(0, -y (x1 - x2) + margin)``.

    Gradients (``return_grad=True`` returns ``(loss, (g1, g2))``): ``-y`` for ``x1`` and
    ``y`` for ``x2`` where ``-y (x1 - x2) + margin >= 0`` (torch autograd's at the kink),
    0 elsewhere. ``x1``, ``x2`` and ``y`` broadcast together as in torch (which also
    requires one number of dimensions), each gradient summed back to its input's shape;
    an ``x1`` smaller than the broadcast shape is expanded once (a copy) only when ``x2``
    is smaller too. ``y`` holds -1/1 labels (any other value raises ValueError naming its
    position). ``margin`` finite (NaN raises; negative is allowed, as torch). ``grad_out``:
    a tuple of two arrays or None.
    """
    p = prepare_margin_ranking_loss(x1, x2, y, margin, reduction, return_grad, grad_out, n_threads,
                                    backend)
    if p.backend == "numpy":
        return _reference("margin_ranking_loss", p)
    g1, g2 = p.full_grads if p.grads else (None, None)
    pred, other, params = p.x, p.xs["x2"], p.params
    if pred.shape != p.shape:       # x1 broadcast, x2 full: x2 is the prediction (params[1] < 0)
        pred, other, g1, g2, params = other, pred, g2, g1, params + (-1.0,)
    try:
        loss = _kernels.pointwise(b"margin_ranking_loss", pred, operand_layout(p.t, p.shape), None,
                                  operand_layout(other, p.shape), params, -1,
                                  REDUCTION_CODES[p.reduction], p.loss_none, g1, g2, p.n_threads)
    except _kernels.DomainError:
        raise margin_ranking_domain_error(p) from None
    for full, out in zip(p.full_grads if p.grads else (), p.grads or ()):
        sum_to(full, out)
    return gan_result(p, loss, p.loss_none)


__all__ = family("pointwise")
