"""Arguments of the penalty family (lossk.penalty): a list of arrays of any
shapes and one float dtype, lam, and optional caller-owned gradient arrays."""
import numpy as np

from .._checks import (Call, as_array, as_pred, check_backend, check_bool, check_finite, check_output,
                       resolve_n_threads)


def _byte_range(a):
    """[lo, hi) of the bytes an array may touch (any strides)."""
    lo = hi = a.__array_interface__["data"][0]
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize


def _all_own_distinct(arrays, grads):
    """True when every array owns its memory and none is passed twice: such
    arrays cannot overlap (a model's parameters and gradients, the common case;
    reading each one's byte range costs microseconds an array)."""
    seen = set()
    for a in (*arrays, *grads):
        if not a.flags.owndata or id(a) in seen:
            return False
        seen.add(id(a))
    return True


def _check_no_overlap(arrays, grads):
    """ValueError if a gradient output overlaps an input or another output. One
    sort and sweep: a model's hundreds of parameters would take O(n^2)
    np.may_share_memory calls."""
    if _all_own_distinct(arrays, grads):
        return
    spans = sorted((*_byte_range(a), kind, i) for kind, group in (("arrays", arrays), ("grad_out", grads))
                   for i, a in enumerate(group) if a.size)
    reach = {"arrays": (0, None), "grad_out": (0, None)}   # the highest end so far, and whose
    for lo, hi, kind, i in spans:
        for other in ("grad_out",) if kind == "arrays" else ("arrays", "grad_out"):
            end, j = reach[other]
            if lo < end:
                first, second = sorted([(kind, i), (other, j)], key=lambda k: k[0] != "grad_out")
                raise ValueError(f"{first[0]}[{first[1]}] overlaps {second[0]}[{second[1]}]: the gradients "
                                 f"must not share memory with the inputs or with each other")
        if hi > reach[kind][0]:
            reach[kind] = (hi, i)


def _grad_outputs(arrays, originals, dtype, grad_out):
    if not isinstance(grad_out, (list, tuple)):
        raise TypeError(f"grad_out must be a list or tuple of arrays, one per input array, "
                        f"got {type(grad_out).__name__}")
    if len(grad_out) != len(arrays):
        raise ValueError(f"grad_out must hold one array per input array ({len(arrays)}), got {len(grad_out)}")
    for i, (g, a) in enumerate(zip(grad_out, arrays)):
        check_output(g, f"grad_out[{i}]", dtype, a.shape)
    _check_no_overlap(originals, grad_out)
    return list(grad_out)


def prepare(arrays, lam, return_grad, grad_out, accumulate, n_threads, backend):
    """The checked call: p.arrays (contiguous, of the compute dtype p.dtype),
    p.lam, p.grads (the output arrays, or None), p.accumulate."""
    check_backend(backend)
    return_grad = check_bool(return_grad, "return_grad")
    accumulate = check_bool(accumulate, "accumulate")
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"arrays must be a list or tuple of arrays, got {type(arrays).__name__}")
    lam = check_finite(lam, "lam")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    originals, converted, given = [], [], None
    dtype = np.dtype(np.float64)                    # the result dtype of an empty list
    for i, value in enumerate(arrays):
        name = f"arrays[{i}]"
        a = as_array(value, name)
        x, dtype_i = as_pred(a, name)
        if given is None:
            first, given, dtype = a.dtype, a.dtype.newbyteorder("="), dtype_i
        elif a.dtype is not first and a.dtype.newbyteorder("=") != given:     # byte order aside
            raise TypeError(f"every array must have the same float dtype: arrays[0] is {given}, "
                            f"{name} is {a.dtype}")
        originals.append(a)
        converted.append(x)
    if accumulate and grad_out is None:
        raise ValueError("accumulate=True adds into grad_out: pass grad_out (and return_grad=True)")
    if grad_out is not None and not return_grad:
        raise ValueError("grad_out was given but return_grad=False: pass return_grad=True")
    grads = None
    if return_grad:
        grads = ([np.empty(x.shape, dtype) for x in converted] if grad_out is None
                 else _grad_outputs(converted, originals, dtype, grad_out))
    return Call(arrays=converted, dtype=dtype, lam=lam, grads=grads, accumulate=accumulate,
                return_grad=return_grad, n_threads=resolve_n_threads(n_threads), backend=backend)


def finish(p, loss):
    """loss, or (loss, grads) with grads a tuple, one per array."""
    loss = p.dtype.type(loss)
    return (loss, tuple(p.grads)) if p.return_grad else loss
