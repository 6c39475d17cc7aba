"""The pointwise family: every element of the prediction has its own
loss term and gradient (sigmoid focal, binary cross-entropy on probabilities and
on logits, hinge, KL divergence). Argument policy here, kernels in csrc/pointwise/binary.c
and csrc/pointwise/kl_div.c, NumPy twins in reference/pointwise.py.

The prediction and the target have the same (any) shape (kl_div: or shapes that
broadcast, as in torch); "mean" averages over all elements, as torch does.
Elementwise weights broadcast to the prediction without being expanded (see
_checks.broadcast_operand).
"""
import math

import numpy as np

from . import _kernels
from ._checks import (REDUCTION_CODES, REDUCTIONS, as_pred, as_real, broadcast_operand,
                      check_backend, check_reduction, check_scalar, finish, grad_output,
                      resolve_n_threads)
from ._registry import register
from .softmax import _flat, _format_position


def _empty_aligned(shape, dtype):
    """np.empty with the data 64-byte aligned: the kernels stream large outputs
    past the caches only into whole cache lines."""
    n = math.prod(shape)
    buf = np.empty(n + 64 // dtype.itemsize, dtype)
    skip = (-buf.ctypes.data % 64) // dtype.itemsize
    return buf[skip:skip + n].reshape(shape)


def _check_finite(value, name, low=None, high=None):
    v = check_scalar(value, name, low, high)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


class _Call:
    """The checked arguments of one call, as attributes (what the kernels' and
    the references' wrappers read as `p`). A plain class: setting attributes
    one by one costs less than building a SimpleNamespace, on every call."""


def _prepare(pred, target, pred_name, reduction, return_grad, grad_out, n_threads, backend,
             reductions=REDUCTIONS, operands=None):
    """Checks the arguments every elementwise loss shares; `operands` maps the
    names of broadcast weights to their values (None: absent). The caller adds
    its own options, already checked, to the result."""
    check_backend(backend)
    check_reduction(reduction, reductions)
    x, dtype = as_pred(pred, pred_name)
    t = as_real(target, "target", dtype)
    if t.shape != x.shape:
        raise ValueError(f"target must have the shape of {pred_name} {x.shape}, got {t.shape}")
    ops = {}
    inputs = {"pred": x, "target": t}
    for name, value in operands.items() if operands else ():
        if value is None:
            ops[name] = None
        else:
            ops[name] = op = broadcast_operand(value, name, dtype, x.shape)
            inputs[name] = op[0]
    p = _Call()
    p.x, p.t, p.dtype, p.pred_name, p.operands = x, t, dtype, pred_name, ops
    p.reduction, p.return_grad = reduction, return_grad
    p.grad = grad_output(x, dtype, return_grad, grad_out, inputs)
    p.loss_none = _empty_aligned(x.shape, dtype) if reduction == "none" else None
    p.n_threads, p.backend = resolve_n_threads(n_threads), backend
    return p


def _kernel_arrays(p):
    """pred, target, loss_none and grad as the 1-d arrays the kernels take. All
    have pred's shape: when that is 1-d (no views to make) they go as they are,
    which saves a few calls on small inputs."""
    if p.x.ndim == 1:
        return p.x, p.t, p.loss_none, p.grad
    return _flat(p.x), _flat(p.t), _flat(p.loss_none), _flat(p.grad)


def _operand_args(op):
    """(flat, inner, period) of a broadcast operand for the bridge; absent: (None, 1, 1)."""
    return (None, 1, 1) if op is None else op[1:]


def _finish(p, loss):
    return finish(loss, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


# ---- sigmoid focal loss ----------------------------------------------------------

def _prepare_sigmoid_focal_loss(logits, target, alpha, gamma, reduction, return_grad, grad_out,
                                n_threads, backend):
    alpha = _check_finite(alpha, "alpha")
    if alpha > 1:
        raise ValueError(f"alpha must be in [0, 1], or negative to disable the alpha weighting, "
                         f"got {alpha!r}")
    gamma = _check_finite(gamma, "gamma", 0.0)
    p = _prepare(logits, target, "logits", reduction, return_grad, grad_out, n_threads, backend)
    p.alpha, p.gamma = alpha, gamma
    return p


@register(mean="elements")
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
    p = _prepare_sigmoid_focal_loss(logits, target, alpha, gamma, reduction, return_grad, grad_out,
                                    n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import sigmoid_focal_loss_prepared
        return sigmoid_focal_loss_prepared(p)
    loss = _kernels.sigmoid_focal_loss(*_kernel_arrays(p), p.alpha, p.gamma,
                                       REDUCTION_CODES[p.reduction], p.n_threads)
    return _finish(p, loss)


# ---- binary cross-entropy on probabilities ------------------------------------------

def _prepare_binary_cross_entropy(probs, target, weight, reduction, return_grad, grad_out, n_threads,
                                  backend):
    return _prepare(probs, target, "probs", reduction, return_grad, grad_out, n_threads, backend,
                    operands={"weight": weight})


def _bce_domain_error(p, position):
    where = _format_position(p.x.shape, position)
    value = p.x.reshape(-1)[position]
    if value < 0 or value > 1:
        return ValueError(f"probs{where} = {value} is not a probability in [0, 1]")
    return ValueError(f"target{where} = {p.t.reshape(-1)[position]} is not in [0, 1]")


@register(mean="elements")
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
    p = _prepare_binary_cross_entropy(probs, target, weight, reduction, return_grad, grad_out,
                                      n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import binary_cross_entropy_prepared
        return binary_cross_entropy_prepared(p)
    x, t, loss_none, grad = _kernel_arrays(p)
    try:
        loss = _kernels.binary_cross_entropy(x, t, *_operand_args(p.operands["weight"]), loss_none, grad,
                                             REDUCTION_CODES[p.reduction], p.n_threads)
    except _kernels.DomainError as e:
        raise _bce_domain_error(p, e.position) from None
    return _finish(p, loss)


# ---- binary cross-entropy on logits -------------------------------------------------

def _prepare_binary_cross_entropy_with_logits(logits, target, weight, pos_weight, reduction,
                                              return_grad, grad_out, n_threads, backend):
    return _prepare(logits, target, "logits", reduction, return_grad, grad_out, n_threads, backend,
                    operands={"weight": weight, "pos_weight": pos_weight})


@register(mean="elements")
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
    p = _prepare_binary_cross_entropy_with_logits(logits, target, weight, pos_weight, reduction,
                                                  return_grad, grad_out, n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import binary_cross_entropy_with_logits_prepared
        return binary_cross_entropy_with_logits_prepared(p)
    x, t, loss_none, grad = _kernel_arrays(p)
    loss = _kernels.binary_cross_entropy_with_logits(
        x, t, *_operand_args(p.operands["weight"]), *_operand_args(p.operands["pos_weight"]),
        loss_none, grad, REDUCTION_CODES[p.reduction], p.n_threads)
    return _finish(p, loss)


# ---- hinge loss ----------------------------------------------------------------------

def _prepare_hinge_loss(scores, target, margin, squared, reduction, return_grad, grad_out,
                        n_threads, backend):
    margin = _check_finite(margin, "margin")
    squared = _check_bool(squared, "squared")
    p = _prepare(scores, target, "scores", reduction, return_grad, grad_out, n_threads, backend)
    p.margin, p.squared = margin, squared
    return p


def _hinge_domain_error(p, position):
    return ValueError(f"target{_format_position(p.t.shape, position)} = {p.t.reshape(-1)[position]} "
                      f"is not a label: expected -1 or 1 (or 0, meaning -1)")


@register(mean="elements")
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
    p = _prepare_hinge_loss(scores, target, margin, squared, reduction, return_grad, grad_out,
                            n_threads, backend)
    if p.backend == "numpy":
        from .reference.pointwise import hinge_loss_prepared
        return hinge_loss_prepared(p)
    try:
        loss = _kernels.hinge_loss(*_kernel_arrays(p), p.margin, p.squared, REDUCTION_CODES[p.reduction],
                                   p.n_threads)
    except _kernels.DomainError as e:
        raise _hinge_domain_error(p, e.position) from None
    return _finish(p, loss)


# ---- KL divergence -------------------------------------------------------------------

KL_REDUCTIONS = REDUCTIONS + ("batchmean",)


def _prepare_kl_div(log_input, target, log_target, reduction, return_grad, grad_out, n_threads,
                    backend):
    """As _prepare, with torch's broadcasting of log_input and target: the smaller
    one is expanded once (a copy of the result's size). Where log_input itself is
    expanded, the kernel's gradient goes to a temporary of the result's shape and
    p.grad_to receives its sums over the expanded axes (_kl_div_result)."""
    log_target = _check_bool(log_target, "log_target")
    check_backend(backend)
    check_reduction(reduction, KL_REDUCTIONS)
    x, dtype = as_pred(log_input, "log_input")
    t = as_real(target, "target", dtype)
    grad_to = None
    batch_size = x.shape[0] if x.ndim > 0 else 1   # torch: log_input's first dimension (0-d: the sum)
    if t.shape != x.shape:
        try:
            shape = np.broadcast_shapes(x.shape, t.shape)
        except ValueError:
            raise ValueError(f"target must have the shape of log_input {x.shape} or broadcast with it, "
                             f"got {t.shape}") from None
        if shape != x.shape:
            grad_to = grad_output(x, dtype, return_grad, grad_out, {"target": t})
            grad_out = None
            x = np.array(np.broadcast_to(x, shape))
        if shape != t.shape:
            t = np.array(np.broadcast_to(t, shape))
    p = _prepare(x, t, "log_input", reduction, return_grad, grad_out, n_threads, backend,
                 reductions=KL_REDUCTIONS)
    p.log_target, p.grad_to, p.batch_size = log_target, grad_to, batch_size
    return p


def _kl_div_result(p, result):
    """The call's result, the gradient summed over the axes along which log_input
    was expanded (in float64), as torch's autograd does."""
    if p.grad_to is None:
        return result
    loss, grad = result
    lead = grad.ndim - p.grad_to.ndim
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(p.grad_to.shape)
                                      if n == 1 and grad.shape[lead + i] != 1)
    p.grad_to[...] = grad.sum(axis=axes, dtype=np.float64).reshape(p.grad_to.shape)
    return loss, p.grad_to


@register(mean="elements")
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
    p = _prepare_kl_div(log_input, target, log_target, reduction, return_grad, grad_out, n_threads,
                        backend)
    if p.backend == "numpy":
        from .reference.pointwise import kl_div_prepared
        return _kl_div_result(p, kl_div_prepared(p))
    loss = _kernels.kl_div(*_kernel_arrays(p), p.batch_size, p.log_target, REDUCTION_CODES[p.reduction],
                           p.n_threads)
    return _kl_div_result(p, _finish(p, loss))
