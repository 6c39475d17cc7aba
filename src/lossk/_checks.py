"""Validation and dtype/layout policy shared by every loss (API and reference).

Each check names the argument in its message. Conversions copy at most once and
only when the input is not already native-endian, aligned, C-contiguous and of
the compute dtype.
"""
import math
import operator

import numpy as np

from ._threads import resolve_n_threads

REDUCTIONS = ("mean", "sum", "none")
REDUCTION_CODES = {"none": 0, "mean": 1, "sum": 2, "batchmean": 3}  # lossk_reduction in lossk.h
BACKENDS = ("c", "numpy")
_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = _NATIVE_FLOATS


def check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def check_reduction(reduction, allowed=REDUCTIONS):
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _contiguous(a, dtype):
    """a as a native-endian, aligned, C-contiguous array of dtype (copies only if needed)."""
    a_dtype = a.dtype
    if a_dtype == dtype and a_dtype.isnative:
        flags = a.flags
        if flags.c_contiguous and flags.aligned:
            return a  # the common case, without np.require's overhead
    return np.require(a, dtype=np.dtype(dtype).newbyteorder("="), requirements=("C", "A"))


def _from_torch(x, name):
    """A torch tensor's data without importing torch: detached (zero-copy; lossk
    returns gradients, it does not propagate them) with lazy conjugate/negative
    bits resolved, so that np.asarray can read it; other devices raise."""
    device = getattr(x, "device", None)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        raise TypeError(f"{name} is a torch tensor on {device}: lossk computes on the CPU, "
                        f"pass {name}.cpu()")
    return x.detach().resolve_conj().resolve_neg()


def as_array(x, name):
    """np.asarray(x) for any input (an ndarray passes as it is); torch tensors are
    read in place (_from_torch), and what NumPy cannot read raises a ValueError
    (ragged nesting) or TypeError that names the argument."""
    if type(x) is np.ndarray:
        return x
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = _from_torch(x, name)
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError) as e:  # e.g. a list of tensors that require grad
        raise (ValueError if isinstance(e, ValueError) else TypeError)(
            f"{name} cannot be read as an array: {e}") from None


def as_pred(x, name):
    """The prediction array and its compute dtype: float32/float64 as given,
    float16 computed in float32; integer, bool, complex and others raise TypeError."""
    a = as_array(x, name)
    dtype = a.dtype
    if dtype is not _F32 and dtype is not _F64:  # else already the compute dtype (the common case)
        kind = dtype.kind
        if kind != "f":
            what = {"i": "integer", "u": "integer", "b": "bool", "c": "complex"}.get(kind, str(a.dtype))
            raise TypeError(f"{name} must be a real floating-point array, got {what} dtype {a.dtype}")
        if dtype.itemsize <= 4:
            dtype = _F32
        elif dtype.itemsize == 8:
            dtype = _F64
        else:
            raise TypeError(f"{name} must be float16, float32 or float64, got {a.dtype}")
    return _contiguous(a, dtype), dtype


def as_real(x, name, dtype, shape=None):
    """A real-valued input (target, weight) converted to the compute dtype."""
    a = as_array(x, name)
    if a.dtype is not dtype and a.dtype.kind not in "fiub":  # the compute dtype itself is real
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return _contiguous(a, dtype)


def as_index(x, name):
    """Class indices: int32/int64 kept as they are (no conversion copy), other
    integer dtypes converted to int64; floats, bools and others raise TypeError."""
    a = as_array(x, name)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    if a.dtype == np.int32 or a.dtype == np.int64:
        return _contiguous(a, a.dtype.newbyteorder("="))
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values too large for a class index (max {a.max()})")
    return _contiguous(a, np.int64)


def as_operand(value, name, dtype, shape):
    """An operand (an elementwise weight) that must broadcast to `shape` as torch
    and NumPy broadcast it, converted to dtype, in its own shape (not expanded)."""
    a = as_real(value, name, dtype)
    shape = tuple(shape)
    if a.shape != shape:
        padded = (1,) * (len(shape) - a.ndim) + a.shape
        if a.ndim > len(shape) or any(ad != 1 and ad != sd for ad, sd in zip(padded, shape)):
            raise ValueError(f"{name} of shape {a.shape} does not broadcast to the prediction's shape {shape}")
    return a


def broadcast_shapes(shape, other, name, other_name):
    """np.broadcast_shapes(shape, other): a ValueError naming `other` when they
    do not broadcast, and also beyond NumPy's 32 dimensions (a RuntimeError there)."""
    try:
        return np.broadcast_shapes(shape, other)
    except ValueError:
        raise ValueError(f"{other_name} must have the shape of {name} {shape} or broadcast with it, "
                         f"got {other}") from None
    except RuntimeError:
        raise ValueError(f"{other_name} of shape {other} and {name} of shape {shape} broadcast to more "
                         f"dimensions than NumPy supports") from None


def operand_layout(a, shape):
    """The kernels' form (flat, inner, period) of an operand `a` that broadcasts to
    `shape` (as_operand): element i of the prediction reads flat[(i // inner) % period].
    A per-class vector, a column of per-row values or a scalar is thus passed as it
    is, never expanded. The one layout this cannot express, full dimensions on both
    sides of a broadcast one (e.g. (N, 1, W) against (N, C, W)), is expanded once
    into a contiguous array of `shape`."""
    shape = tuple(shape)
    if a.shape == shape:                                     # the common case, checked cheaply
        return a.reshape(-1), 1, max(a.size, 1)
    padded = (1,) * (len(shape) - a.ndim) + a.shape
    # dimensions where the operand varies (size-1 dimensions of `shape` are neutral)
    varying = [d for d, (ad, sd) in enumerate(zip(padded, shape)) if ad == sd and sd != 1]
    if not varying or 0 in shape:                            # constant, or nothing to read
        return a.reshape(-1), 1, 1
    first, last = varying[0], varying[-1]
    if any(padded[d] == 1 and shape[d] != 1 for d in range(first, last)):
        full = np.ascontiguousarray(np.broadcast_to(a, shape))
        return full.reshape(-1), 1, full.size
    return a.reshape(-1), math.prod(shape[last + 1:]), a.size


def check_scalar(value, name, low=None, high=None, low_open=False):
    """A finite real scalar within [low, high] (or (low, high] with low_open)."""
    if type(value) is float:  # the common case: nothing to convert or reject
        v = value
    else:
        if isinstance(value, (str, bytes)):  # float("0.5") would accept a string
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
        except OverflowError:  # an int (or Fraction, Decimal) beyond float's range
            raise ValueError(f"{name} must be a real number within the range of a float, got "
                             f"{_short_repr(value)}") from None
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be a real number, got {value!r}")
    if v != v:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if (low is not None and (v < low or (low_open and v == low))) or (high is not None and v > high):
        lo = "(" if low_open else "["
        raise ValueError(f"{name} must be in {lo}{low}, {high}], got {value!r}")
    return v


def _short_repr(value, limit=40):
    r = repr(value)
    return r if len(r) <= limit else f"{r[:limit // 2]}...{r[-8:]} ({len(r)} characters)"


def check_shape(a, name, shape, of):
    """a must have `shape`, the shape of the argument named `of`: the same words
    in every family."""
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of {of} {tuple(shape)}, got {a.shape}")
    return a


def check_finite(value, name, low=None, high=None, low_open=False):
    """As check_scalar, and finite."""
    v = check_scalar(value, name, low, high, low_open)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_int(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got a bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError(f"{name} must fit in 64 bits, got {_short_repr(v)}")
    return v


def check_output(out, name, dtype, shape):
    """A caller's output array: an ndarray of dtype and shape, writeable, aligned
    and C-contiguous."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype is not dtype and out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the result dtype), got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if not out.flags.carray:  # C-contiguous, aligned and writeable
        raise ValueError(f"{name} must be writeable, aligned and C-contiguous")


def grad_output(pred, dtype, return_grad, grad_out, inputs):
    """The array that receives the gradient: grad_out (checked) or a new one.

    grad_out must be a writeable, aligned, C-contiguous ndarray of pred's shape
    and compute dtype. It may be pred itself (in place) but must not otherwise
    overlap pred or any other input.
    """
    if return_grad is False and grad_out is None:  # the common case, nothing to check
        return None
    return_grad = check_bool(return_grad, "return_grad")  # here: every prepare calls this
    if not return_grad:
        if grad_out is not None:
            raise ValueError("grad_out was given but return_grad=False: pass return_grad=True")
        return None
    if grad_out is None:
        return np.empty(pred.shape, dtype)
    check_output(grad_out, "grad_out", dtype, pred.shape)
    owns_data = grad_out.base is None and grad_out.flags.owndata
    for name, arr in inputs.items():
        if arr is None or arr is grad_out and name == "pred":
            continue
        # Distinct arrays that each own their memory cannot overlap: a cheaper
        # test than np.may_share_memory (0.35 us a call, two calls on every loss call).
        disjoint = owns_data and arr is not grad_out and arr.base is None and arr.flags.owndata
        if disjoint or not np.may_share_memory(grad_out, arr):
            continue
        same = (name == "pred" and grad_out.__array_interface__["data"][0] == arr.__array_interface__["data"][0]
                and grad_out.strides == arr.strides)
        if not same:
            raise ValueError(f"grad_out overlaps {name}: only grad_out=pred (the same array) may alias an input")
    return grad_out


def flat(a):
    """a as a 1-d view (the kernels' form); None stays None."""
    return None if a is None else a.reshape(-1)


def format_position(shape, flat_index):
    """'[i, j, ...]': the index of element `flat_index` of an array of `shape`."""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]" if shape else "[]"


def empty_aligned(shape, dtype):
    """np.empty with the data 64-byte aligned: the kernels stream large outputs
    past the caches only into whole cache lines."""
    n = math.prod(shape)
    buf = np.empty(n + 64 // dtype.itemsize, dtype)
    skip = (-buf.ctypes.data % 64) // dtype.itemsize
    return buf[skip:skip + n].reshape(shape)


class Call:
    """The checked arguments of one call, as attributes (what the kernels' and
    the references' wrappers read as `p`). A plain class: setting attributes
    one by one costs less than building a SimpleNamespace, on every call."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def check_upstream(upstream, shape, reduction, return_grad):
    """upstream= of the losses whose samples depend on each other (lossk.h's
    "Upstream weights"): None, or a real array of the "none" output's shape,
    only with reduction="none" and return_grad=True; float64, contiguous.
    Non-finite weights are allowed (they propagate)."""
    if upstream is None:
        return None
    if reduction != "none" or not return_grad:
        raise ValueError(f"upstream is only taken with reduction='none' and return_grad=True, got "
                         f"reduction={reduction!r}, return_grad={return_grad!r}")
    a = as_array(upstream, "upstream")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"upstream must be a real floating-point array, got dtype {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"upstream must have the shape of the 'none' losses {tuple(shape)}, got {a.shape}")
    return _contiguous(a, _F64)


def finish(loss, loss_none, grad, reduction, dtype, return_grad):
    """The call's result: a scalar of the result dtype, or the per-sample array."""
    out = loss_none if reduction == "none" else dtype.type(loss)
    return (out, grad) if return_grad else out


__all__ = ["REDUCTIONS", "REDUCTION_CODES", "Call", "check_backend", "check_reduction", "as_array",
           "as_pred", "as_real", "as_index", "as_operand", "broadcast_shapes", "operand_layout",
           "check_scalar", "check_finite", "check_bool", "check_shape", "check_int", "check_output", "check_upstream",
           "empty_aligned", "flat", "format_position", "grad_output", "finish", "resolve_n_threads"]
