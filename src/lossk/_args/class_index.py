"""Arguments of the losses over a class axis with class-index targets: the
class-index family (lossk.class_index) and, through prepare_class_index, the
softmax family (lossk.softmax)."""
import numpy as np

from .._checks import (Call, as_array, as_index, as_pred, as_real, check_backend, check_int, check_reduction,
                       check_scalar, format_position, grad_output, resolve_n_threads)


def class_layout(logits, name="logits", spatial=True):
    """(n, c, spatial dims) of a (C,), (N, C) or (N, C, d1, ..., dk) array (no
    spatial dims unless spatial)."""
    if logits.ndim == 0 or (not spatial and logits.ndim > 2):
        layouts = "(C,), (N, C) or (N, C, d1, ..., dk)" if spatial else "(C,) or (N, C)"
        got = "a 0-d array" if logits.ndim == 0 else f"shape {logits.shape}"
        raise ValueError(f"{name} must have shape {layouts}, got {got}")
    if logits.ndim == 1:
        return 1, logits.shape[0], ()
    return logits.shape[0], logits.shape[1], logits.shape[2:]


def prepare_class_index(pred, target, weight, ignore_index, reduction, return_grad, grad_out,
                        n_threads, backend, *, pred_name="logits", weight_name="weight",
                        soft_ok=False, spatial=True, has_ignore=True, **options):
    """The checks every class-index loss shares (API and reference): `pred` of a
    class layout (see class_layout), `target` class indices of the sample shape
    (or, when soft_ok, probabilities of pred's shape), a per-class weight,
    ignore_index (unless has_ignore is False: then it is None), the outputs.
    `options` (already checked) are carried into the result."""
    check_backend(backend)
    check_reduction(reduction)
    x, dtype = as_pred(pred, pred_name)
    n, c, spatial_dims = class_layout(x, pred_name, spatial)
    sample_shape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if has_ignore:
        ignore_index = check_int(ignore_index, "ignore_index")
    t = as_array(target, "target")
    soft = soft_ok and t.dtype.kind == "f"
    if soft:
        if t.shape != x.shape:
            raise ValueError(f"probability target must have the shape of {pred_name} {x.shape}, got {t.shape} "
                             f"(class-index targets must be an integer array of shape {sample_shape})")
        if ignore_index >= 0:
            raise ValueError("ignore_index is not supported with probability targets "
                             f"(got ignore_index={ignore_index})")
        t = as_real(t, "target", dtype)
    else:
        t = as_index(t, "target")
        if t.shape != sample_shape:
            raise ValueError(f"target must have shape {sample_shape} for {pred_name} of shape {x.shape}, "
                             f"got {t.shape}")
    w = None if weight is None else as_real(weight, weight_name, dtype)
    if w is not None and w.shape != (c,):
        raise ValueError(f"{weight_name} must have shape ({c},) (one per class), got {w.shape}")
    grad = grad_output(x, dtype, return_grad, grad_out, {"pred": x, "target": t, weight_name: w})
    return Call(
        x=x, dtype=dtype, n=n, c=c, spatial=spatial_dims, sample_shape=sample_shape, target=t, soft=soft,
        weight=w, ignore_index=ignore_index, reduction=reduction, return_grad=return_grad,
        grad=grad, loss_none=np.empty(sample_shape, dtype) if reduction == "none" else None,
        n_threads=resolve_n_threads(n_threads), backend=backend, **options)


def target_range_error(p, position):
    value = p.target.reshape(-1)[position]
    also = "" if p.ignore_index is None else f" nor ignore_index ({p.ignore_index})"
    return ValueError(f"target{format_position(p.target.shape, position)} = {value} is not a class "
                      f"index in [0, {p.c}){also}")


def prepare_nll_loss(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                     n_threads, backend):
    return prepare_class_index(log_probs, target, weight, ignore_index, reduction, return_grad, grad_out,
                               n_threads, backend, pred_name="log_probs")


def prepare_multi_margin_loss(scores, target, p, margin, weight, reduction, return_grad, grad_out,
                              n_threads, backend):
    power = check_int(p, "p")
    if power not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {power}")
    margin = check_scalar(margin, "margin")
    prepared = prepare_class_index(scores, target, weight, None, reduction, return_grad, grad_out,
                                   n_threads, backend, pred_name="scores", spatial=False,
                                   has_ignore=False, p=power, margin=margin)
    if prepared.c == 0:
        raise ValueError(f"scores must have at least one class, got shape {prepared.x.shape}")
    return prepared
