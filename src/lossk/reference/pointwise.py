"""NumPy references of the pointwise losses: the textbook
formulas in float64, with the limits spelled out where IEEE arithmetic would
form 0 * inf. Same arguments and errors as the kernels (both check them with lossk._args.pointwise)."""
import numpy as np

from .._args.pointwise import (gan_result, margin_ranking_domain_error, prepare_margin_ranking_loss,
                               sum_to,
                               prepare_generator, prepare_lsgan_discriminator_loss,
                               prepare_lsgan_generator_loss, prepare_wasserstein_discriminator_loss)
from .._args.pointwise import (bce_domain_error, hinge_domain_error, kl_div_result,
                               prepare_binary_cross_entropy, prepare_binary_cross_entropy_with_logits,
                               prepare_hinge_loss, prepare_huber_loss, prepare_kl_div,
                               prepare_quantile_loss, prepare_regression, prepare_sigmoid_focal_loss,
                               prepare_smooth_l1_loss)
from .._checks import finish


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _times(c, v):
    """c * v with 0 where c == 0 (v may be inf)."""
    return np.where(c == 0, 0.0, c * v)


def _weight(p, name, shape):
    op = p.operands.get(name)
    return 1.0 if op is None else np.broadcast_to(op.astype(np.float64), shape)


def _inputs(p):
    return p.x.astype(np.float64), p.t.astype(np.float64)


def _reduce(p, loss, grad, divisor=None):
    """Writes the outputs and returns the result of the call."""
    if divisor is None:
        divisor = {"mean": loss.size, "sum": 1, "none": 1}[p.reduction]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.float64(np.sum(loss)) / np.float64(divisor)   # mean of nothing: NaN
        grad = grad / np.float64(divisor) if loss.size else grad
    if p.loss_none is not None:
        p.loss_none[...] = loss
    if p.grad is not None:
        p.grad[...] = grad
    return finish(value, p.loss_none, p.grad, p.reduction, p.dtype, p.return_grad)


def sigmoid_focal_loss_prepared(p):
    x, t = _inputs(p)
    with np.errstate(all="ignore"):
        s, q = _sigmoid(x), _sigmoid(-x)
        ce = _times(1 - t, _softplus(x)) + _times(t, _softplus(-x))
        dce = (1 - t) * s - t * q
        m = t * q + (1 - t) * s                    # 1 - p_t
        mg = m ** p.gamma                          # 0 ** 0 = 1
        # d m^gamma / dx = gamma m^(gamma-1) (1 - 2t) s q, and m^(gamma-1) s q = m^gamma R with
        # R = s q / m, whose limit where m = 0 (t = 1, q = 0 or t = 0, s = 0) is s or q.
        # Targets outside [0, 1] make m negative (torchvision accepts them): R = s q / m
        # holds for either sign of m, so only m == 0 takes the limit.
        r = np.where(m != 0, s * q / np.where(m != 0, m, 1.0), np.where(t == 1, s, q))
        alpha_t = 1.0 if p.alpha < 0 else p.alpha * t + (1 - p.alpha) * (1 - t)
        loss = alpha_t * ce * mg
        grad = alpha_t * (dce * mg + p.gamma * (1 - 2 * t) * _times(mg * r, ce))
    # The contract (as the kernel and torch): each element's loss is a value of
    # the result dtype and "mean"/"sum" add those values in float64. With
    # targets far outside [0, 1] the loss grows as |t|^(2 + gamma): float32
    # elements overflow to +-inf of either sign and the mean is NaN, as the
    # kernel's and torch's, where a float64 sum would still be finite.
    loss = loss.astype(p.dtype)
    return _reduce(p, loss, grad)


def binary_cross_entropy_prepared(p):
    x, t = _inputs(p)
    bad = (x < 0) | (x > 1) | (t < 0) | (t > 1)
    if bad.any():
        raise bce_domain_error(p, int(np.flatnonzero(bad.reshape(-1))[0]))
    w = _weight(p, "weight", x.shape)
    with np.errstate(all="ignore"):
        log_p = np.maximum(np.log(x), -100.0)
        log_1mp = np.maximum(np.log1p(-x), -100.0)
        loss = -w * (t * log_p + (1 - t) * log_1mp)
        grad = w * (x - t) / np.maximum(x * (1 - x), np.float64(np.float32(1e-12)))  # torch's float eps
    return _reduce(p, loss, grad)


def binary_cross_entropy_with_logits_prepared(p):
    x, t = _inputs(p)
    w = _weight(p, "weight", x.shape)
    pw = _weight(p, "pos_weight", x.shape)
    with np.errstate(all="ignore"):
        loss = w * (_times(1 - t, _softplus(x)) + _times(pw * t, _softplus(-x)))
        # a sigmoid that underflowed to 0 zeroes its product (an infinite t gives -+inf, as torch)
        grad = w * (_times(_sigmoid(x), 1 - t) - _times(_sigmoid(-x), pw * t))
    return _reduce(p, loss, grad)


def hinge_loss_prepared(p):
    x, t = _inputs(p)
    bad = ~((t == -1) | (t == 0) | (t == 1))
    if bad.any():
        raise hinge_domain_error(p, int(np.flatnonzero(bad.reshape(-1))[0]))
    y = np.where(t > 0, 1.0, -1.0)
    with np.errstate(all="ignore"):
        z = p.margin - y * x
        h = np.maximum(z, 0.0)
        loss = h * h if p.squared else h
        slope = -y * (2 * h if p.squared else 1.0)
        grad = np.where(z > 0, slope, np.where(z <= 0, 0.0, z))   # NaN stays NaN
    return _reduce(p, loss, grad)


def kl_div_prepared(p):
    x, t = _inputs(p)
    with np.errstate(all="ignore"):
        if p.log_target:
            loss = np.exp(t) * (t - x)
            grad = -np.exp(t) * np.ones_like(x)
        else:
            loss = np.where(t == 0, 0.0, t * np.log(t)) - t * x
            grad = -t * np.ones_like(x)
    return _reduce(p, loss, grad, divisor=p.batch_size if p.reduction == "batchmean" else None)


def sigmoid_focal_loss(logits, target, *, alpha=0.25, gamma=2.0, reduction="mean",
                       return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.sigmoid_focal_loss` (n_threads is ignored)."""
    return sigmoid_focal_loss_prepared(prepare_sigmoid_focal_loss(
        logits, target, alpha, gamma, reduction, return_grad, grad_out, n_threads, "numpy"))


def binary_cross_entropy(probs, target, *, weight=None, reduction="mean", return_grad=False,
                         grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.binary_cross_entropy` (n_threads is ignored)."""
    return binary_cross_entropy_prepared(prepare_binary_cross_entropy(
        probs, target, weight, reduction, return_grad, grad_out, n_threads, "numpy"))


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None,
                                     reduction="mean", return_grad=False, grad_out=None,
                                     n_threads=None):
    """NumPy reference of :func:`lossk.binary_cross_entropy_with_logits` (n_threads is ignored)."""
    return binary_cross_entropy_with_logits_prepared(prepare_binary_cross_entropy_with_logits(
        logits, target, weight, pos_weight, reduction, return_grad, grad_out, n_threads, "numpy"))


def hinge_loss(scores, target, *, margin=1.0, squared=False, reduction="mean", return_grad=False,
               grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.hinge_loss` (n_threads is ignored)."""
    return hinge_loss_prepared(prepare_hinge_loss(
        scores, target, margin, squared, reduction, return_grad, grad_out, n_threads, "numpy"))


def kl_div(log_input, target, *, log_target=False, reduction="mean", return_grad=False,
           grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.kl_div` (n_threads is ignored)."""
    p = prepare_kl_div(log_input, target, log_target, reduction, return_grad, grad_out, n_threads, "numpy")
    return kl_div_result(p, kl_div_prepared(p))


# ---- regression: e = pred - target (target broadcast to pred) ------------------------


def _error(p):
    return p.x.astype(np.float64) - np.broadcast_to(p.t.astype(np.float64), p.x.shape)


def mse_loss_prepared(p):
    e = _error(p)
    return _reduce(p, e * e, 2 * e)


def mse_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.mse_loss`: (pred - target)^2."""
    return mse_loss_prepared(prepare_regression(pred, target, reduction, return_grad, grad_out,
                                                n_threads, "numpy"))


def l1_loss_prepared(p):
    e = _error(p)
    return _reduce(p, np.abs(e), np.sign(e))


def l1_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.l1_loss`: |pred - target|, gradient sign (0 at 0)."""
    return l1_loss_prepared(prepare_regression(pred, target, reduction, return_grad, grad_out,
                                               n_threads, "numpy"))


def huber_loss_prepared(p):
    e, d = _error(p), p.delta
    a = np.abs(e)
    with np.errstate(invalid="ignore"):
        loss = np.where(a < d, 0.5 * e * e, d * (a - 0.5 * d))
    return _reduce(p, loss, np.clip(e, -d, d))


def huber_loss(pred, target, *, delta=1.0, reduction="mean", return_grad=False, grad_out=None,
               n_threads=None):
    """NumPy reference of :func:`lossk.huber_loss`."""
    return huber_loss_prepared(prepare_huber_loss(pred, target, delta, reduction, return_grad,
                                                  grad_out, n_threads, "numpy"))


def smooth_l1_loss_prepared(p):
    e, b = _error(p), p.beta
    a = np.abs(e)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = np.where(a < b, 0.5 * e * e / b if b else 0.0, a - 0.5 * b)
        grad = np.where(a < b, e / b if b else 0.0, np.sign(e))
    return _reduce(p, loss, grad)


def smooth_l1_loss(pred, target, *, beta=1.0, reduction="mean", return_grad=False, grad_out=None,
                   n_threads=None):
    """NumPy reference of :func:`lossk.smooth_l1_loss`."""
    return smooth_l1_loss_prepared(prepare_smooth_l1_loss(pred, target, beta, reduction, return_grad,
                                                          grad_out, n_threads, "numpy"))


def rmse_loss_prepared(p):
    e = _error(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sqrt(np.mean(e * e)) if e.size else np.float64(np.nan)
        if p.grad is not None:
            p.grad[...] = 0.0 if r == 0 else e / (e.size * r)    # every error 0: gradient 0
    return finish(r, None, p.grad, "mean", p.dtype, p.return_grad)


def rmse_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.rmse_loss`: sqrt(mean((pred - target)^2))."""
    return rmse_loss_prepared(prepare_regression(pred, target, reduction, return_grad, grad_out,
                                                 n_threads, "numpy", reductions=("mean",)))


def log_cosh_loss_prepared(p):
    e = _error(p)
    a = np.abs(e)
    with np.errstate(invalid="ignore", over="ignore"):
        loss = a + np.log1p(np.exp(-2 * a)) - np.log(2.0)
    return _reduce(p, loss, np.tanh(e))


def log_cosh_loss(pred, target, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.log_cosh_loss`: log(cosh(pred - target))."""
    return log_cosh_loss_prepared(prepare_regression(pred, target, reduction, return_grad, grad_out,
                                                     n_threads, "numpy"))


def quantile_loss_prepared(p):
    r, q = -_error(p), p.q                       # r = target - pred
    with np.errstate(invalid="ignore"):
        loss = np.where(r >= 0, _times(q, r), np.where(r < 0, _times(q - 1, r), r))
        grad = np.where(r > 0, -q, np.where(r < 0, 1 - q, np.where(r == 0, 0.5 - q, r)))
    return _reduce(p, loss, grad)


def quantile_loss(pred, target, *, q=0.5, reduction="mean", return_grad=False, grad_out=None,
                  n_threads=None):
    """NumPy reference of :func:`lossk.quantile_loss`: max(q e, (q - 1) e), e = target - pred."""
    return quantile_loss_prepared(prepare_quantile_loss(pred, target, q, reduction, return_grad,
                                                        grad_out, n_threads, "numpy"))


# ---- GAN losses ------------------------------------------------------------------------


def _gan_out(p, loss, grads, loss_none=None):
    """Writes the gradients (float64 formulas) and returns the call's result."""
    for out, g in zip(p.grads or (), grads):
        out[...] = g
    if loss_none is not None:
        p.loss_none[...] = loss_none
    return gan_result(p, loss, p.loss_none if loss_none is not None else None)


def _mean_or_sum(p, v):
    """The mean (of nothing: 0/0 = NaN, without np.mean's warning) or the sum."""
    with np.errstate(invalid="ignore"):
        return np.sum(v) / np.float64(v.size) if p.reduction == "mean" else np.sum(v)


def _per(p, x):
    """d(mean or sum)/d(each element): 1/n or 1."""
    return 1.0 / x.size if p.reduction == "mean" and x.size else 1.0


def lsgan_discriminator_loss_prepared(p):
    r, f = (p.xs[k].astype(np.float64) for k in ("d_real", "d_fake"))
    loss = 0.5 * (_mean_or_sum(p, (r - p.b) ** 2) + _mean_or_sum(p, (f - p.a) ** 2))
    return _gan_out(p, loss, ((r - p.b) * _per(p, r), (f - p.a) * _per(p, f)))


def lsgan_discriminator_loss(d_real, d_fake, *, a=0.0, b=1.0, reduction="mean", return_grad=False,
                             grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.lsgan_discriminator_loss`."""
    return lsgan_discriminator_loss_prepared(prepare_lsgan_discriminator_loss(
        d_real, d_fake, a, b, reduction, return_grad, grad_out, n_threads, "numpy"))


def lsgan_generator_loss_prepared(p):
    f = p.xs["d_fake"].astype(np.float64)
    per = 0.5 * (f - p.c) ** 2
    if p.reduction == "none":
        return _gan_out(p, 0.0, (f - p.c,), per)
    return _gan_out(p, _mean_or_sum(p, per), ((f - p.c) * _per(p, f),))


def lsgan_generator_loss(d_fake, *, c=1.0, reduction="mean", return_grad=False, grad_out=None,
                         n_threads=None):
    """NumPy reference of :func:`lossk.lsgan_generator_loss`."""
    return lsgan_generator_loss_prepared(prepare_lsgan_generator_loss(
        d_fake, c, reduction, return_grad, grad_out, n_threads, "numpy"))


def wasserstein_discriminator_loss_prepared(p):
    r, f = (p.xs[k].astype(np.float64) for k in ("d_real", "d_fake"))
    loss = _mean_or_sum(p, f) - _mean_or_sum(p, r)
    return _gan_out(p, loss, (np.full(r.shape, -_per(p, r)), np.full(f.shape, _per(p, f))))


def wasserstein_discriminator_loss(d_real, d_fake, *, reduction="mean", return_grad=False,
                                   grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.wasserstein_discriminator_loss`."""
    return wasserstein_discriminator_loss_prepared(prepare_wasserstein_discriminator_loss(
        d_real, d_fake, reduction, return_grad, grad_out, n_threads, "numpy"))


def wasserstein_generator_loss_prepared(p):
    f = p.xs["d_fake"].astype(np.float64)
    if p.reduction == "none":
        return _gan_out(p, 0.0, (np.full(f.shape, -1.0),), -f)
    return _gan_out(p, -_mean_or_sum(p, f), (np.full(f.shape, -_per(p, f)),))


def wasserstein_generator_loss(d_fake, *, reduction="mean", return_grad=False, grad_out=None,
                               n_threads=None):
    """NumPy reference of :func:`lossk.wasserstein_generator_loss`."""
    return wasserstein_generator_loss_prepared(prepare_generator(
        d_fake, reduction, return_grad, grad_out, n_threads, "numpy"))


def margin_ranking_loss_prepared(p):
    y = np.broadcast_to(p.t.astype(np.float64), p.shape)
    if not np.all((y == 1) | (y == -1)):
        raise margin_ranking_domain_error(p)
    z = p.margin - y * (p.x.astype(np.float64) - p.xs["x2"].astype(np.float64))
    with np.errstate(invalid="ignore"):
        loss = np.where(z > 0, z, np.where(z <= 0, 0.0, z))          # NaN propagates
        g1 = np.where(z >= 0, -y, np.where(z < 0, 0.0, z))           # torch: the kink passes
        per = 1.0 / z.size if p.reduction == "mean" and z.size else 1.0
        value = _mean_or_sum(p, loss)
    grads = []
    for full, x in zip((g1 * per, -g1 * per), p.xs.values()):   # back to each input's shape
        grads.append(full if full.shape == x.shape else np.empty(x.shape))
        sum_to(full, grads[-1])
    return _gan_out(p, value, grads, loss if p.reduction == "none" else None)


def margin_ranking_loss(x1, x2, y, *, margin=0.0, reduction="mean", return_grad=False,
                        grad_out=None, n_threads=None):
    """NumPy reference of :func:`lossk.margin_ranking_loss`: max(0, -y (x1 - x2) + margin)."""
    return margin_ranking_loss_prepared(prepare_margin_ranking_loss(
        x1, x2, y, margin, reduction, return_grad, grad_out, n_threads, "numpy"))


# every public function of this module (lossk.reference exports them)
__all__ = [name for name, fn in list(globals().items())
           if callable(fn) and not name.startswith("_") and not name.endswith("_prepared")
           and getattr(fn, "__module__", None) == __name__]
