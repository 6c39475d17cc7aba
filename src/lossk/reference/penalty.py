"""NumPy references of the penalties (Keras' regularizers), in float64. Same
arguments and errors as the kernels (both check them with lossk._args.penalty)."""
import numpy as np

from .._args.penalty import finish, prepare


def _penalty(p, value, grad):
    """lam times value(w) summed over every array; grad(w) written or added into p.grads."""
    total = 0.0
    with np.errstate(all="ignore"):
        for i, x in enumerate(p.arrays):
            w = x.astype(np.float64)
            total += float(np.sum(value(w)))
            if p.grads is not None:
                g = grad(w)
                p.grads[i][...] = p.grads[i] + g if p.accumulate else g
        return finish(p, p.lam * total)


def l1_penalty_prepared(p):
    return _penalty(p, np.abs, lambda w: p.lam * np.sign(w))   # sign: 0 at 0, NaN at NaN


def l2_penalty_prepared(p):
    return _penalty(p, np.square, lambda w: 2.0 * p.lam * w)


def l1_penalty(arrays, lam, *, grad_out=None, accumulate=False, return_grad=False, n_threads=None):
    """NumPy reference of :func:`lossk.l1_penalty` (n_threads is ignored)."""
    return l1_penalty_prepared(prepare(arrays, lam, return_grad, grad_out, accumulate, n_threads, "numpy"))


def l2_penalty(arrays, lam, *, grad_out=None, accumulate=False, return_grad=False, n_threads=None):
    """NumPy reference of :func:`lossk.l2_penalty` (n_threads is ignored)."""
    return l2_penalty_prepared(prepare(arrays, lam, return_grad, grad_out, accumulate, n_threads, "numpy"))
