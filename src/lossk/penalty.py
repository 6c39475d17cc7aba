"""The penalty family: regularisation terms over a list of arrays (a model's
parameters), Keras' regularizer convention. Arguments checked by
_args/penalty.py, one kernel entry for both penalties in csrc/penalty/, NumPy
twins in reference/penalty.py.

A penalty has no target and no reduction: the loss is the sum over every
element of every array, times lam. Its usual use is weight decay added to
gradients that already exist: ``grad_out=grads, accumulate=True`` adds the
penalty's gradient into the caller's arrays without a temporary.
"""
from . import _kernels
from ._args.penalty import finish, prepare
from ._registry import register

_SPEC = dict(mean="none", peer=None, grads=("arrays",), target=None, reductions=("sum",), split="no")


def _run(name, arrays, lam, grad_out, accumulate, return_grad, n_threads, backend):
    p = prepare(arrays, lam, return_grad, grad_out, accumulate, n_threads, backend)
    if p.backend == "numpy":
        from .reference import penalty as ref
        return getattr(ref, name + "_prepared")(p)
    return finish(p, _kernels.penalty(name.encode(), p.arrays, p.grads, p.lam, p.accumulate, p.n_threads))


@register(**_SPEC)
def l1_penalty(arrays, lam, *, grad_out=None, accumulate=False, return_grad=False, n_threads=None,
               backend="c"):
    r"""L1 penalty ``lam * sum(|w|)`` over every element of every array (Keras' ``L1``).

    The gradient of each array is ``lam * sign(w)``: 0 where ``w = 0``, NaN
    where ``w`` is NaN.

    Parameters
    ----------
    arrays : list or tuple of array_like, any shapes, one float dtype
        (float16 computed in float32). An empty list gives 0 and no gradients.
    lam : float, finite and >= 0
    grad_out : None, or a list of writeable C-contiguous arrays, one per input
        array, of its shape and of the result dtype, sharing no memory with
        the inputs or each other: they receive the gradients (needs
        ``return_grad=True``)
    accumulate : bool; True adds the gradients into ``grad_out`` (weight decay
        onto existing gradients) instead of overwriting it
    return_grad, n_threads, backend : as for every lossk loss; ``return_grad=True``
        returns ``(loss, grads)``, ``grads`` a tuple with one array per input

    The sum is taken in float64 in fixed blocks of each array, combined in a
    fixed order: bitwise identical for every ``n_threads``.
    """
    return _run("l1_penalty", arrays, lam, grad_out, accumulate, return_grad, n_threads, backend)


@register(**_SPEC)
def l2_penalty(arrays, lam, *, grad_out=None, accumulate=False, return_grad=False, n_threads=None,
               backend="c"):
    r"""L2 penalty ``lam * sum(w ** 2)`` over every element of every array (Keras' ``L2``:
    no factor 1/2).

    The gradient of each array is ``2 * lam * w``. Arguments as :func:`l1_penalty`.
    """
    return _run("l2_penalty", arrays, lam, grad_out, accumulate, return_grad, n_threads, backend)
