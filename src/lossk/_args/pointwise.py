"""Arguments of the pointwise family (lossk.pointwise): prediction and target of
one shape (kl_div: shapes that broadcast, as in torch), broadcast weights."""
import numpy as np

from .._checks import _NATIVE_FLOATS
from .._checks import (REDUCTIONS, Call, as_operand, as_pred, as_real, broadcast_shapes, check_backend,
                       check_bool, check_finite, check_output, check_reduction, check_shape, empty_aligned,
                       format_position, grad_output, resolve_n_threads)


def prepare(pred, target, pred_name, reduction, return_grad, grad_out, n_threads, backend,
            reductions=REDUCTIONS, operands=None, broadcast_target=False):
    """Checks the arguments every pointwise loss shares; `operands` maps the
    names of broadcast weights to their values (None: absent). With
    `broadcast_target` the target may broadcast to the prediction (kept in its
    own shape, as the weights). The caller adds its own options, already
    checked, to the result."""
    check_backend(backend)
    check_reduction(reduction, reductions)
    if (type(pred) is np.ndarray and type(target) is np.ndarray and pred.dtype in _NATIVE_FLOATS
            and target.dtype is pred.dtype and target.shape == pred.shape and pred.flags.carray
            and target.flags.carray):
        # the common case (ndarrays of one native float dtype and shape, writeable,
        # aligned, C-contiguous): what as_pred and as_operand would conclude, cheaply
        x, t, dtype = pred, target, pred.dtype
        if return_grad is True and not operands:
            grad = _plain_grad(x, t, grad_out)
            if grad is not None:
                p = Call()
                p.x, p.t, p.dtype, p.pred_name, p.operands = x, t, dtype, pred_name, {}
                p.reduction, p.return_grad, p.grad = reduction, True, grad
                p.loss_none = empty_aligned(x.shape, dtype) if reduction == "none" else None
                p.n_threads, p.backend = resolve_n_threads(n_threads), backend
                return p
    else:
        x, dtype = as_pred(pred, pred_name)
        if broadcast_target:
            t = as_operand(target, "target", dtype, x.shape)
        else:
            t = check_shape(as_real(target, "target", dtype), "target", x.shape, pred_name)
    ops = {}
    inputs = {"pred": x, "target": t}
    for name, value in operands.items() if operands else ():
        ops[name] = inputs[name] = None if value is None else as_operand(value, name, dtype, x.shape)
    p = Call()
    p.x, p.t, p.dtype, p.pred_name, p.operands = x, t, dtype, pred_name, ops
    p.reduction, p.return_grad = reduction, return_grad
    p.grad = grad_output(x, dtype, return_grad, grad_out, inputs)
    p.loss_none = empty_aligned(x.shape, dtype) if reduction == "none" else None
    p.n_threads, p.backend = resolve_n_threads(n_threads), backend
    return p


def _plain_grad(x, t, grad_out):
    """The gradient array of the common call, as grad_output would conclude it
    (x and t: ndarrays of one native float dtype, C-contiguous): a new one, or
    grad_out when it is such an array of x's shape, writeable and owning its
    memory, as x and t do, and neither of them (so that it overlaps neither).
    Else None: grad_output decides."""
    if grad_out is None:
        return np.empty(x.shape, x.dtype)
    if (type(grad_out) is np.ndarray and grad_out.dtype is x.dtype and grad_out.shape == x.shape
            and grad_out is not x and grad_out is not t):
        f = grad_out.flags
        if f.carray and f.owndata and x.flags.owndata and t.flags.owndata:
            return grad_out
    return None


def prepare_sigmoid_focal_loss(logits, target, alpha, gamma, reduction, return_grad, grad_out,
                               n_threads, backend):
    alpha = check_finite(alpha, "alpha")
    if alpha > 1:
        raise ValueError(f"alpha must be in [0, 1], or negative to disable the alpha weighting, "
                         f"got {alpha!r}")
    gamma = check_finite(gamma, "gamma", 0.0)
    p = prepare(logits, target, "logits", reduction, return_grad, grad_out, n_threads, backend)
    p.alpha, p.gamma = alpha, gamma
    return p


def prepare_binary_cross_entropy(probs, target, weight, reduction, return_grad, grad_out, n_threads,
                                 backend):
    return prepare(probs, target, "probs", reduction, return_grad, grad_out, n_threads, backend,
                   operands={"weight": weight})


def bce_domain_error(p, position):
    where = format_position(p.x.shape, position)
    value = p.x.reshape(-1)[position]
    if value < 0 or value > 1:
        return ValueError(f"probs{where} = {value} is not a probability in [0, 1]")
    return ValueError(f"target{where} = {p.t.reshape(-1)[position]} is not in [0, 1]")


def prepare_binary_cross_entropy_with_logits(logits, target, weight, pos_weight, reduction,
                                             return_grad, grad_out, n_threads, backend):
    return prepare(logits, target, "logits", reduction, return_grad, grad_out, n_threads, backend,
                   operands={"weight": weight, "pos_weight": pos_weight})


def prepare_hinge_loss(scores, target, margin, squared, reduction, return_grad, grad_out,
                       n_threads, backend):
    margin = check_finite(margin, "margin")
    squared = check_bool(squared, "squared")
    p = prepare(scores, target, "scores", reduction, return_grad, grad_out, n_threads, backend)
    p.margin, p.squared = margin, squared
    return p


def hinge_domain_error(p, position):
    return ValueError(f"target{format_position(p.t.shape, position)} = {p.t.reshape(-1)[position]} "
                      f"is not a label: expected -1 or 1 (or 0, meaning -1)")


KL_REDUCTIONS = REDUCTIONS + ("batchmean",)


def prepare_kl_div(log_input, target, log_target, reduction, return_grad, grad_out, n_threads,
                   backend):
    """As prepare, with torch's broadcasting of log_input and target: the smaller
    one is expanded once (a copy of the result's size). Where log_input itself is
    expanded, the gradient goes to a temporary of the result's shape and
    p.grad_to receives its sums over the expanded axes (kl_div_result)."""
    log_target = check_bool(log_target, "log_target")
    check_backend(backend)
    check_reduction(reduction, KL_REDUCTIONS)
    x, dtype = as_pred(log_input, "log_input")
    t = as_real(target, "target", dtype)
    grad_to = None
    batch_size = x.shape[0] if x.ndim > 0 else 1   # torch: log_input's first dimension (0-d: the sum)
    if t.shape != x.shape:
        shape = broadcast_shapes(x.shape, t.shape, "log_input", "target")
        if shape != x.shape:
            grad_to = grad_output(x, dtype, return_grad, grad_out, {"target": t})
            grad_out = None
            x = np.array(np.broadcast_to(x, shape))
        if shape != t.shape:
            t = np.array(np.broadcast_to(t, shape))
    p = prepare(x, t, "log_input", reduction, return_grad, grad_out, n_threads, backend,
                reductions=KL_REDUCTIONS)
    p.log_target, p.grad_to, p.batch_size = log_target, grad_to, batch_size
    return p


def kl_div_result(p, result):
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


# ---- regression: the target broadcasts to pred (a scalar, a per-column target) -----


def prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend,
                       reductions=REDUCTIONS):
    """The arguments of a regression loss; p.target_layout is the target's
    (flat, inner, period) for the kernel (never expanded)."""
    p = prepare(pred, target, "pred", reduction, return_grad, grad_out, n_threads, backend,
                reductions=reductions, broadcast_target=True)
    p.params = ()
    return p


def prepare_huber_loss(pred, target, delta, reduction, return_grad, grad_out, n_threads, backend):
    delta = check_finite(delta, "delta", 0.0, low_open=True)   # 0 raises, as torch
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend)
    p.delta, p.params = delta, (delta,)
    return p


def prepare_smooth_l1_loss(pred, target, beta, reduction, return_grad, grad_out, n_threads, backend):
    beta = check_finite(beta, "beta", 0.0)                      # 0 is L1
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend)
    p.beta, p.params = beta, (beta,)
    return p


def prepare_quantile_loss(pred, target, q, reduction, return_grad, grad_out, n_threads, backend):
    q = check_finite(q, "q", 0.0, 1.0)
    p = prepare_regression(pred, target, reduction, return_grad, grad_out, n_threads, backend)
    p.q, p.params = q, (q,)
    return p


# ---- several differentiable inputs (GAN losses, margin ranking) --------------------


def prepare_inputs(inputs, reduction, return_grad, grad_out, n_threads, backend,
                   reductions=REDUCTIONS):
    """The arguments of a loss of several differentiable inputs, `inputs` a dict
    name -> array_like in argument order: p.xs their arrays (each real floating
    point, any shapes, computed in the first one's dtype, as a target is), p.grads
    one gradient array per input or None (grad_out: a tuple of arrays, one per
    input, or None)."""
    check_backend(backend)
    check_reduction(reduction, reductions)
    if return_grad is True:
        p = _prepare_plain(inputs, grad_out)
        if p is not None:
            p.reduction, p.n_threads, p.backend = reduction, resolve_n_threads(n_threads), backend
            return p
    xs, dtype = {}, None
    for name, value in inputs.items():
        a, dt = as_pred(value, name)
        if dtype is None:
            dtype = dt
        xs[name] = a if dt == dtype else as_real(a, name, dtype)
    if return_grad is False and grad_out is None:      # no gradients: nothing to check
        p = Call()
        p.xs, p.dtype, p.reduction, p.return_grad, p.grads = xs, dtype, reduction, False, None
        p.n_threads, p.backend = resolve_n_threads(n_threads), backend
        return p
    if grad_out is None or not return_grad:
        outs = (grad_out,) + (None,) * (len(xs) - 1)    # grad_out without return_grad raises below
    elif not isinstance(grad_out, tuple) or len(grad_out) != len(xs):
        raise TypeError(f"grad_out must be a tuple of {len(xs)} arrays ({', '.join(xs)}), or None")
    else:
        outs = grad_out
    grads = []
    if return_grad is True and grad_out is not None and _own_distinct((*xs.values(), *outs)):
        # owning, distinct arrays cannot overlap: only each output itself to check
        for x, g in zip(xs.values(), outs):
            check_output(g, "grad_out", dtype, x.shape)
        grads = outs
    for (name, x), g in zip(xs.items(), outs) if not grads else ():
        others = {o: xo for o, xo in xs.items() if o != name}
        grads.append(grad_output(x, dtype, return_grad, g, {"pred": x, **others, **{
            f"the gradient of {o}": go for o, go in zip(xs, grads)}}))
    p = Call()
    p.xs, p.dtype, p.reduction, p.return_grad = xs, dtype, reduction, return_grad
    p.grads = tuple(grads) if return_grad else None
    p.n_threads, p.backend = resolve_n_threads(n_threads), backend
    return p


def _prepare_plain(inputs, grad_out):
    """prepare_inputs' result for the common call (its checks concluded more
    cheaply): every input an ndarray of one native float dtype, C-contiguous,
    aligned and writeable; grad_out None (new gradients) or a tuple of such
    arrays of the inputs' shapes, each owning its memory, as the inputs do, so
    that none overlaps another. Else None: the general path decides."""
    vals = tuple(inputs.values())
    x0 = vals[0]
    if type(x0) is not np.ndarray or x0.dtype not in _NATIVE_FLOATS:
        return None
    dtype = x0.dtype
    if grad_out is None:
        for a in vals:
            if type(a) is not np.ndarray or a.dtype is not dtype or not a.flags.carray:
                return None
        grads = tuple(np.empty(a.shape, dtype) for a in vals)
    else:
        if type(grad_out) is not tuple or len(grad_out) != len(vals):
            return None
        for a, g in zip(vals, grad_out):
            if (type(a) is not np.ndarray or type(g) is not np.ndarray or a.dtype is not dtype
                    or g.dtype is not dtype or g.shape != a.shape):
                return None
            fa, fg = a.flags, g.flags
            if not (fa.carray and fa.owndata and fg.carray and fg.owndata):
                return None
        if len(set(map(id, vals + grad_out))) != 2 * len(vals):
            return None
        grads = grad_out
    p = Call()
    p.xs, p.dtype, p.return_grad, p.grads = inputs, dtype, True, grads
    return p


def _own_distinct(arrays):
    """Every one an ndarray owning its memory, none twice."""
    ids = set()
    for a in arrays:
        if type(a) is not np.ndarray or not a.flags.owndata:
            return False
        ids.add(id(a))
    return len(ids) == len(arrays)


GAN_REDUCTIONS = ("mean", "sum")


def prepare_lsgan_discriminator_loss(d_real, d_fake, a, b, reduction, return_grad, grad_out,
                                     n_threads, backend):
    a, b = check_finite(a, "a"), check_finite(b, "b")
    p = prepare_inputs({"d_real": d_real, "d_fake": d_fake}, reduction, return_grad, grad_out,
                       n_threads, backend, GAN_REDUCTIONS)
    p.a, p.b = a, b
    return p


def prepare_generator(d_fake, reduction, return_grad, grad_out, n_threads, backend):
    """A generator loss: one input, every reduction ("none": one loss per element)."""
    p = prepare_inputs({"d_fake": d_fake}, reduction, return_grad,
                       None if grad_out is None else (grad_out,), n_threads, backend)
    p.loss_none = empty_aligned(p.xs["d_fake"].shape, p.dtype) if reduction == "none" else None
    return p


def prepare_lsgan_generator_loss(d_fake, c, reduction, return_grad, grad_out, n_threads, backend):
    c = check_finite(c, "c")
    p = prepare_generator(d_fake, reduction, return_grad, grad_out, n_threads, backend)
    p.c = c
    return p


def prepare_wasserstein_discriminator_loss(d_real, d_fake, reduction, return_grad, grad_out,
                                           n_threads, backend):
    return prepare_inputs({"d_real": d_real, "d_fake": d_fake}, reduction, return_grad, grad_out,
                          n_threads, backend, GAN_REDUCTIONS)


def gan_result(p, loss, loss_none=None):
    """(loss, grads) as the GAN losses return them: one gradient (generators) as an array."""
    out = loss_none if p.reduction == "none" else p.dtype.type(loss)
    if not p.return_grad:
        return out
    return out, (p.grads[0] if len(p.grads) == 1 else p.grads)


def prepare_margin_ranking_loss(x1, x2, y, margin, reduction, return_grad, grad_out, n_threads,
                                backend):
    """x1, x2 and y (-1/1 labels) broadcast together as in torch (torch also asks
    for one number of dimensions; lossk does not). p.shape is the broadcast shape,
    p.x x1 (expanded to it, a copy, only where x1 and x2 are both broadcast), p.t y,
    p.full_grads the kernel's outputs of that shape (p.grads where an input has
    it, else temporaries that sum_to reduces back)."""
    margin = check_finite(margin, "margin")                  # NaN raises; negative is allowed
    p = prepare_inputs({"x1": x1, "x2": x2}, reduction, return_grad, grad_out, n_threads, backend)
    x, x2a = p.xs["x1"], p.xs["x2"]
    shape = x.shape if x2a.shape == x.shape else broadcast_shapes(x.shape, x2a.shape, "x1", "x2")
    yv = as_real(y, "y", p.dtype)
    if yv.shape != shape:
        shape = broadcast_shapes(shape, yv.shape, "x1 and x2", "y")
    p.shape = shape
    # a broadcast x1 beside a full x2 stays as it is (the kernel then takes x2 as its
    # prediction); broadcast both, x1 is expanded
    p.x = x if x.shape == shape or x2a.shape == shape else np.ascontiguousarray(np.broadcast_to(x, shape))
    p.t = as_operand(yv, "y", p.dtype, shape)
    if p.grads is not None:
        for name, g in zip(("x1", "x2"), p.grads):
            if np.may_share_memory(g, p.t):
                raise ValueError(f"grad_out for {name} overlaps y")
        p.full_grads = tuple(g if g.shape == shape else np.empty(shape, p.dtype) for g in p.grads)
    p.margin, p.params = margin, (margin,)
    p.loss_none = empty_aligned(shape, p.dtype) if reduction == "none" else None
    return p


def sum_to(full, out):
    """out = full summed over the dimensions out was broadcast along (the gradient
    of a broadcast input), in float64; nothing when full is out."""
    if full is out:
        return
    lead = full.ndim - out.ndim
    axes = tuple(range(lead)) + tuple(lead + d for d, n in enumerate(out.shape)
                                      if n == 1 and full.shape[lead + d] != 1)
    np.copyto(out, np.sum(full, axis=axes, dtype=np.float64).reshape(out.shape), casting="unsafe")


def margin_ranking_domain_error(p):
    """The ValueError for the first label of y that is neither -1 nor 1."""
    y = p.t.reshape(-1)
    position = int(np.flatnonzero((y != 1) & (y != -1))[0])
    return ValueError(f"y{format_position(p.t.shape, position)} = {y[position]} is not a label: "
                      f"expected -1 or 1")
