"""The linear family: a linear layer and cross-entropy fused over chunks of rows,
so that the N x V logits never exist whole. Arguments checked by _args/linear.py,
the NumPy twin (the unfused computation) in reference/linear.py.

No C of its own: the matrix products are NumPy's (its BLAS), the cross-entropy of
each chunk is the softmax family's kernel (lossk_softmax_loss), which writes
d(loss)/d(logits) over the chunk's logits in place. lossk.h says how a C caller
composes the same with its own BLAS.
"""
import numpy as np

from . import _kernels
from ._args.linear import finish, prepare_linear_cross_entropy
from ._checks import REDUCTION_CODES
from ._registry import register


def _find_cblas_gemm():
    """{dtype: cblas_?gemm} of the BLAS NumPy itself loaded, or {}: a GEMM with
    beta = 1 adds each chunk's d_weight product into the output (np.matmul cannot).
    Looked up only under the OpenBLAS ILP64 names (the ``64_`` suffix fixes the
    integer width, so a wrong ABI cannot be called), through the handle of NumPy's
    extension, whose dependencies dlsym searches; checked once on a small product.
    Elsewhere (MKL, Accelerate, Windows) {}: the column-block fallback."""
    import ctypes
    try:
        from numpy._core import _multiarray_umath as mod
    except ImportError:                                      # NumPy 1.x
        from numpy.core import _multiarray_umath as mod
    try:
        lib = ctypes.CDLL(mod.__file__)
    except OSError:
        return {}
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    found = {}
    for dtype, letter, real in ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double)):
        for prefix in ("scipy_cblas_", "cblas_"):
            fn = getattr(lib, f"{prefix}{letter}gemm64_", None)
            if fn is not None:
                fn.restype = None
                fn.argtypes = [ctypes.c_int] * 3 + [i64] * 3 + [real, ptr, i64, ptr, i64, real, ptr, i64]
                found[np.dtype(dtype)] = fn
                break
    rng = np.random.default_rng(0)
    for dtype in list(found):
        a, b = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
        c = np.ones((3, 4), dtype)
        _gemm_tn(found[dtype], c, a, b, 1.0)
        if not np.allclose(c, 1 + a.T @ b, rtol=1e-4):
            del found[dtype]
    return found


def _gemm_tn(fn, c, a, b, beta):
    """c = a.T @ b + beta c for C-contiguous c (M, N), a (K, M), b (K, N): CBLAS
    row-major (101), a transposed (112), b not (111); leading dimensions >= 1."""
    k, m = a.shape
    n = c.shape[1]
    fn(101, 112, 111, m, n, k, 1.0, a.ctypes.data, max(1, m), b.ctypes.data, max(1, n), beta,
       c.ctypes.data, max(1, n))


_CBLAS = None
USE_CBLAS = True      # False: the fallback everywhere (tests compare the two paths)


def _cblas_gemm(dtype):
    global _CBLAS
    if not USE_CBLAS:
        return None
    if _CBLAS is None:
        _CBLAS = _find_cblas_gemm()
    return _CBLAS.get(dtype)


def _accumulate(dw, dl, hc, tmp):
    """dw += dl.T @ hc without the BLAS's beta: the product taken in column blocks
    of tmp's width and added (tmp is at most one chunk of logits)."""
    cols = tmp.shape[1]
    for j in range(0, dw.shape[1], cols):
        block = tmp[:, :min(cols, dw.shape[1] - j)]
        np.matmul(dl.T, hc[:, j:j + block.shape[1]], out=block)
        dw[:, j:j + block.shape[1]] += block


def _run(p):
    n, v, rows, dtype = p.n, p.v, p.rows, p.dtype
    grads, b, up = p.grads, p.b, p.upstream
    # per chunk the kernel sums ("sum", or "none": per-row losses) and the
    # gradient of that sum; the mean's 1/count scales the products afterwards
    code = REDUCTION_CODES["none" if p.reduction == "none" else "sum"]
    scale = dtype.type(1.0 / p.count) if p.reduction == "mean" and p.count else None
    buf = np.empty((min(rows, n), v), dtype)
    if grads is not None:
        dh, dw = grads[0], grads[1]
        gemm = _cblas_gemm(dtype)
        tmp = np.empty((v, max(1, min(p.d, rows))) if n > rows and gemm is None else (0, 1), dtype)
        db = np.zeros(v) if b is not None else None           # float64 column sums
    total = 0.0
    for c0 in range(0, n, rows):
        c1 = min(n, c0 + rows)
        logits, hc = buf[:c1 - c0], p.h[c0:c1]
        np.matmul(hc, p.w.T, out=logits)
        if b is not None:
            logits += b
        flat = logits.reshape(-1)
        total += _kernels.class_loss(
            "softmax", b"cross_entropy", flat, p.target[c0:c1], None,
            None if p.loss_none is None else p.loss_none[c0:c1], None if grads is None else flat,
            c1 - c0, v, 1, p.ignore_index, p.eps, 0.0, 1, 0.0, code, p.n_threads)
        if grads is None:
            continue
        if up is not None:      # d(sum_i up_i loss_i)/d(logits): row i's gradient times up_i
            np.multiply(logits, up[c0:c1, None], out=logits)
        # logits now hold dL = d(chunk's loss sum)/d(logits); d_weight first: it
        # reads the chunk's hidden rows, which d_hidden may overwrite (in place)
        if gemm is not None:
            _gemm_tn(gemm, dw, logits, hc, 0.0 if c0 == 0 else 1.0)
        elif c0 == 0:
            np.matmul(logits.T, hc, out=dw)
        else:
            _accumulate(dw, logits, hc, tmp)
        np.matmul(logits, p.w, out=dh[c0:c1])
        if scale is not None:
            dh[c0:c1] *= scale
        if db is not None:
            db += logits.sum(axis=0, dtype=np.float64)
    if grads is not None:
        if n == 0:
            dw[...] = 0
        elif scale is not None:
            dw *= scale
        if db is not None:
            np.multiply(db, 1.0 if scale is None else 1.0 / p.count, out=db)
            grads[2][...] = db
    return finish(p, total)


@register(mean="weight[target]", peer="torch: F.cross_entropy(F.linear(hidden, weight, bias), target)",
          grads=("hidden", "weight"),
          split="no")
def linear_cross_entropy(hidden, weight, target, *, bias=None, ignore_index=-100, label_smoothing=0.0,
                         reduction="mean", chunk_size=None, return_grad=False, grad_out=None, upstream=None,
                         n_threads=None, backend="c"):
    r"""Cross-entropy of a linear layer's logits, = ``F.cross_entropy(F.linear(hidden,
    weight, bias), target, ...)`` in torch, without the (N, V) logits in memory.

    With ``x_i = hidden[i] @ weight.T + bias`` and ``lse_i = log(sum_k exp(x_ik))``,
    per row: ``(1 - eps) (lse_i - x_i[t_i]) + eps/V sum_k (lse_i - x_ik)``; rows with
    ``t_i == ignore_index`` contribute 0. ``"mean"`` divides by the number of
    non-ignored rows (NaN when there are none, with zero gradients, as torch).

    The rows are processed ``chunk_size`` at a time: the chunk's logits by one
    matrix product (NumPy's BLAS) into a reused buffer, the softmax family's fused
    kernel overwriting them with d(loss)/d(logits), then ``d_hidden[chunk] = dL @
    weight`` and ``d_weight += dL.T @ hidden[chunk]`` (``d_bias += dL.sum(0)``, in
    float64). ``d_weight`` accumulates by a GEMM with beta = 1 from the CBLAS of
    the OpenBLAS NumPy loaded (its ILP64 ``cblas_?gemm64_``, found at run time):
    extra memory one chunk of logits + O(N + V). With another BLAS (MKL,
    Accelerate) the products go through a temporary of at most one chunk more,
    added in column blocks (slower at large V). The loss is the float64 sum of the
    chunks' sums in chunk order.

    ``n_threads`` is the cross-entropy kernel's: results are bitwise identical for
    every ``n_threads`` at a fixed ``chunk_size`` (the default depends only on V and
    the dtype: 128 MiB of logits, or 1024 rows up to 512 MiB) and a fixed BLAS setting, and
    equal those of another ``chunk_size`` within rounding. The matrix products run
    on NumPy's BLAS with its own threads (``OPENBLAS_NUM_THREADS``, threadpoolctl);
    OpenBLAS's results change with its thread count by rounding (measured,
    tests/test_linear.py), so lossk leaves that setting to the caller.

    Parameters
    ----------
    hidden : array_like (N, D), float16/32/64
    weight : array_like (V, D), hidden's float dtype
    target : int32/int64 (N,) class indices in [0, V), or ignore_index
    bias : (V,) optional
    ignore_index : int
    label_smoothing : float in [0, 1]
    reduction : "mean", "sum" or "none" (per-row losses, (N,))
    chunk_size : rows per chunk, int > 0; None: 128 MiB of logits, or 1024 rows when
        that is more and at most 512 MiB (at V = 128256, float32: 1024 rows, 501 MiB)
    return_grad : also return ``(d_hidden, d_weight)`` (``+ (d_bias,)`` with a bias),
        of the summed losses for ``"none"``
    grad_out : a tuple of arrays of those shapes receiving the gradients (sharing
        no memory with the inputs, except ``grad_out[0]`` = ``hidden`` itself: in place)
    upstream : float (N,), optional, with ``reduction="none"`` and ``return_grad=True``:
        the gradients are those of ``sum_i upstream[i] loss_i`` (lossk.h's upstream
        convention: d_weight and d_bias sum over rows, so scaling the "none"
        gradients afterwards cannot give them); each row's d(logits) is scaled
        before the products
    n_threads : int, default ``lossk.get_num_threads()``
    backend : "c" (chunks) or "numpy" (``lossk.reference.linear_cross_entropy``)
    """
    p = prepare_linear_cross_entropy(hidden, weight, target, bias, ignore_index, label_smoothing, reduction,
                                     chunk_size, return_grad, grad_out, n_threads, backend, upstream)
    if p.backend == "numpy":
        from .reference.linear import linear_cross_entropy_prepared
        return linear_cross_entropy_prepared(p)
    return _run(p)
