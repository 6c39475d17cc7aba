"""Arguments of the linear family (lossk.linear): (N, D) hidden states, a (V, D)
classifier, an optional (V,) bias and N class indices."""
import numpy as np

from .._checks import (Call, as_index, as_pred, as_real, check_backend, check_bool, check_int,
                       check_output, check_reduction, check_scalar, check_upstream, resolve_n_threads)

CHUNK_BYTES = 128 << 20   # the default chunk: at most this many bytes of logits (benchmarks/recorded)
MIN_ROWS = 1024           # ... but at least this many rows while they fit in MAX_CHUNK_BYTES:
MAX_CHUNK_BYTES = 512 << 20  # d_hidden's product (rows x V by V x D) costs OpenBLAS a fixed part per call


def default_chunk_rows(v, itemsize):
    """Rows per chunk: one chunk of logits (rows x V) of at most CHUNK_BYTES, or
    MIN_ROWS rows when they fit in MAX_CHUNK_BYTES (the d_hidden products with few
    rows and K = V cost 2.7x one 1024-row product at 256 rows, 1.6x at 512: in
    benchmarks/recorded/2026-12-07-linear-ce.md). It depends on V and the dtype
    only, never on the thread count."""
    row = max(1, v * itemsize)
    return max(1, CHUNK_BYTES // row, min(MIN_ROWS, MAX_CHUNK_BYTES // row))


def _matrix(x, name, what):
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape {what}, got shape {x.shape}")
    return x


def _same(a, b):
    """a and b are the same memory with the same layout."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.shape == b.shape
            and a.strides == b.strides)


def _grad_outputs(grad_out, shapes, dtype, inputs):
    """The caller's gradient arrays: a tuple of one per differentiated input, in
    argument order, sharing no memory with the inputs or each other."""
    names = ("hidden", "weight", "bias")[:len(shapes)]
    if not isinstance(grad_out, (list, tuple)):
        raise TypeError(f"grad_out must be a tuple of arrays for ({', '.join(names)}), "
                        f"got {type(grad_out).__name__}")
    if len(grad_out) != len(shapes):
        raise ValueError(f"grad_out must hold {len(shapes)} arrays, for ({', '.join(names)}), got {len(grad_out)}")
    for i, (g, shape) in enumerate(zip(grad_out, shapes)):
        check_output(g, f"grad_out[{i}]", dtype, shape)
        for other_name, other in list(inputs.items()) + [(f"grad_out[{j}]", grad_out[j]) for j in range(i)]:
            if i == 0 and other_name == "hidden" and _same(g, other):
                continue                                  # d_hidden in place (each chunk reads its rows first)
            if other is not None and np.may_share_memory(g, other):
                raise ValueError(f"grad_out[{i}] overlaps {other_name}: the gradients must not share "
                                 f"memory with the inputs or with each other (only grad_out[0] may be "
                                 f"hidden itself)")
    return tuple(grad_out)


def prepare_linear_cross_entropy(hidden, weight, target, bias, ignore_index, label_smoothing, reduction,
                                 chunk_size, return_grad, grad_out, n_threads, backend, upstream=None):
    """The checked call: p.h (N, D), p.w (V, D), p.b (V,) or None, p.target (N,)
    every value in [0, V) or ignore_index, p.count (non-ignored rows), p.rows
    (rows per chunk), p.grads (the outputs, or None), p.loss_none, p.upstream
    (float64 (N,) or None)."""
    check_backend(backend)
    check_reduction(reduction)
    return_grad = check_bool(return_grad, "return_grad")
    h, dtype = as_pred(hidden, "hidden")
    w, _ = as_pred(weight, "weight")                     # real floating point too
    w = as_real(w, "weight", dtype)                       # in hidden's dtype, as every second input
    _matrix(h, "hidden", "(N, D)")
    _matrix(w, "weight", "(V, D)")
    n, d = h.shape
    v = w.shape[0]
    if w.shape[1] != d:
        raise ValueError(f"weight must have shape (V, {d}) (hidden's D = {d}), got {w.shape}")
    if v == 0:
        raise ValueError("weight must have at least one row (one class), got shape (0, D)")
    b = None if bias is None else as_real(bias, "bias", dtype)
    if b is not None and b.shape != (v,):
        raise ValueError(f"bias must have shape ({v},) (one per row of weight), got {b.shape}")
    ignore_index = check_int(ignore_index, "ignore_index")
    eps = check_scalar(label_smoothing, "label_smoothing", 0.0, 1.0)
    t = as_index(target, "target")
    if t.shape != (n,):
        raise ValueError(f"target must have shape ({n},) (one per row of hidden), got {t.shape}")
    kept = t != ignore_index
    bad = np.flatnonzero(kept & ((t < 0) | (t >= v)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"target[{i}] = {t[i]} is not a class index in [0, {v}) nor ignore_index "
                         f"({ignore_index})")
    if chunk_size is None:
        rows = default_chunk_rows(v, dtype.itemsize)
    else:
        rows = check_int(chunk_size, "chunk_size")
        if rows <= 0:
            raise ValueError(f"chunk_size must be a positive number of rows, got {rows}")
    shapes = [h.shape, w.shape] + ([b.shape] if b is not None else [])
    if grad_out is not None and not return_grad:
        raise ValueError("grad_out was given but return_grad=False: pass return_grad=True")
    upstream = check_upstream(upstream, (n,), reduction, return_grad)
    grads = None
    if return_grad:
        grads = (tuple(np.empty(s, dtype) for s in shapes) if grad_out is None
                 else _grad_outputs(grad_out, shapes, dtype, {"hidden": h, "weight": w, "bias": b, "target": t}))
    return Call(h=h, w=w, b=b, dtype=dtype, n=n, d=d, v=v, target=t, count=int(np.count_nonzero(kept)),
                ignore_index=ignore_index, eps=eps, reduction=reduction, rows=min(rows, max(n, 1)),
                return_grad=return_grad, grads=grads, upstream=upstream,
                loss_none=np.empty(n, dtype) if reduction == "none" else None,
                n_threads=resolve_n_threads(n_threads), backend=backend)


def finish(p, total):
    """The result from the float64 sum of the per-row losses: mean (NaN when every
    row is ignored, as torch), sum, or the per-row array; with the gradients."""
    if p.reduction == "none":
        out = p.loss_none
    elif p.reduction == "mean":
        out = p.dtype.type(total / p.count if p.count else float("nan"))
    else:
        out = p.dtype.type(total)
    return (out, p.grads) if p.return_grad else out
