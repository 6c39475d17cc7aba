"""linear_cross_entropy: against torch's F.linear + F.cross_entropy + autograd
(values and every gradient), the unfused reference, finite differences, chunk
sizes, thread counts (lossk's and the BLAS's), grad_out, empty and all-ignored
batches, and every bad argument.

float32 tolerance: the logits and the two gradient products are dot products of
length D, V (d_hidden) and N (d_weight), summed by different BLAS kernels in
lossk and torch, so float32 results differ by about K u |terms| with K the
longest of those lengths; SPEC's 1e-5 / 1e-6 is scaled by K / 16 (K = 37 here:
2.3e-5 / 2.3e-6, atol relative to the largest magnitude of the array)."""
import numpy as np
import pytest

import lossk
from lossk import reference
from helpers import (THREAD_COUNTS, assert_close, finite_difference_grad, requires_torch, run_python, to_torch,
                     torch, F)

N, D, V = 37, 16, 23
DTYPES = (np.float32, np.float64)


def _inputs(dtype, n=N, d=D, v=V, seed=0, ignored=True, bias=True):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, d)).astype(dtype)
    w = (rng.standard_normal((v, d)) / np.sqrt(d)).astype(dtype)
    t = rng.integers(0, v, n)
    if ignored:
        t[::4] = -100
    b = rng.standard_normal(v).astype(dtype) if bias else None
    return h, w, t, b


def _close(actual, expected, dtype, n=N, d=D, v=V):
    if np.dtype(dtype) == np.float64:
        assert_close(actual, expected, np.float64)
        return
    k = max(n, d, v) / 16
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0))) if np.size(expected) else 1.0
    assert_close(actual, expected, np.float32, rtol=1e-5 * k, atol=1e-6 * k * scale)


def _torch(h, w, t, b, reduction, **kw):
    ht, wt = to_torch(h, True), to_torch(w, True)
    bt = None if b is None else to_torch(b, True)
    loss = F.cross_entropy(F.linear(ht, wt, bt), torch.from_numpy(t.astype(np.int64)), reduction=reduction, **kw)
    loss.sum().backward()
    grads = (ht.grad, wt.grad) + (() if b is None else (bt.grad,))
    return loss.detach().numpy(), tuple(g.numpy() for g in grads)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("reduction", ("mean", "sum", "none"))
@pytest.mark.parametrize("smoothing,ignored", ((0.0, False), (0.2, True)))
def test_equals_torch_and_reference(dtype, bias, reduction, smoothing, ignored):
    h, w, t, b = _inputs(dtype, ignored=ignored, bias=bias)
    kw = dict(bias=b, label_smoothing=smoothing, reduction=reduction)
    loss, grads = lossk.linear_cross_entropy(h, w, t, chunk_size=8, return_grad=True, **kw)
    tloss, tgrads = _torch(h, w, t, b, reduction, label_smoothing=smoothing)
    rloss, rgrads = reference.linear_cross_entropy(h, w, t, return_grad=True, **kw)
    assert isinstance(grads, tuple) and len(grads) == (3 if bias else 2)
    assert np.asarray(loss).dtype == np.dtype(dtype) and np.shape(loss) == ((N,) if reduction == "none" else ())
    for g, x in zip(grads, (h, w, b)):
        assert g.shape == x.shape and g.dtype == np.dtype(dtype)
    _close(loss, tloss, dtype)
    _close(rloss, tloss, dtype)
    for g, r, tg in zip(grads, rgrads, tgrads):
        _close(g, tg, dtype)
        _close(r, tg, dtype)
    again = lossk.linear_cross_entropy(h, w, t, chunk_size=8, **kw)      # no gradient work: same loss
    assert np.asarray(again).tobytes() == np.asarray(loss).tobytes()


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ("mean", "sum", "none"))
def test_all_ignored_gives_nan_mean_and_zero_gradients_as_torch(dtype, reduction):
    h, w, t, b = _inputs(dtype)
    t[:] = 7
    loss, grads = lossk.linear_cross_entropy(h, w, t, bias=b, ignore_index=7, label_smoothing=0.1,
                                             reduction=reduction, chunk_size=10, return_grad=True)
    tloss, tgrads = _torch(h, w, t, b, reduction, ignore_index=7, label_smoothing=0.1)
    assert np.isnan(loss) if reduction == "mean" else not np.any(loss)
    assert np.isnan(tloss) if reduction == "mean" else not np.any(tloss)
    for g, tg in zip(grads, tgrads):
        assert not np.any(g) and not np.any(tg)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ("mean", "sum"))
def test_empty_batch(dtype, reduction):
    h, w, t, b = _inputs(dtype, n=0)
    loss, (dh, dw, db) = lossk.linear_cross_entropy(h, w, t, bias=b, reduction=reduction, return_grad=True)
    assert np.isnan(loss) if reduction == "mean" else loss == 0
    assert dh.shape == (0, D) and not np.any(dw) and not np.any(db)


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunk_size_changes_only_rounding(dtype):
    h, w, t, b = _inputs(dtype)
    kw = dict(bias=b, label_smoothing=0.1, return_grad=True)
    rloss, rgrads = reference.linear_cross_entropy(h, w, t, **kw)
    results = [lossk.linear_cross_entropy(h, w, t, chunk_size=c, **kw) for c in (1, 4, 36, N, 1000, None)]
    for loss, grads in results:
        _close(loss, rloss, dtype)
        for g, r in zip(grads, rgrads):
            _close(g, r, dtype)


@pytest.mark.parametrize("chunk_size", (5, None))
def test_bitwise_for_every_thread_count(chunk_size):
    h, w, t, b = _inputs(np.float32, n=200, v=300)
    kw = dict(bias=b, label_smoothing=0.1, chunk_size=chunk_size, return_grad=True)
    first = lossk.linear_cross_entropy(h, w, t, n_threads=1, **kw)
    for n_threads in THREAD_COUNTS[1:]:
        loss, grads = lossk.linear_cross_entropy(h, w, t, n_threads=n_threads, **kw)
        assert np.asarray(loss).tobytes() == np.asarray(first[0]).tobytes()
        for g, g1 in zip(grads, first[1]):
            assert g.tobytes() == g1.tobytes(), f"n_threads={n_threads}"


def test_blas_thread_count_changes_only_rounding():
    """The products run on NumPy's BLAS with its own threads. OpenBLAS's results
    depend on its thread count (measured: 1 and 2 threads give different bits for
    these products), so the bitwise guarantee holds at a fixed BLAS setting;
    across settings the results agree within rounding."""
    code = ("import numpy as np, lossk\n"
            "rng = np.random.default_rng(3)\n"
            "h = rng.standard_normal((300, 160)).astype(np.float32)\n"
            "w = (rng.standard_normal((700, 160)) / 13).astype(np.float32)\n"
            "t = rng.integers(0, 700, 300)\n"
            "loss, g = lossk.linear_cross_entropy(h, w, t, bias=w[:, 0].copy(), chunk_size=128,\n"
            "                                     return_grad=True, n_threads=1)\n"
            "print(repr(float(loss)), *(repr(float(np.abs(x).sum())) for x in g))\n")
    runs = []
    for threads in ("1", "2"):
        out = run_python(code, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        assert out.returncode == 0, out.stderr
        runs.append([float(x) for x in out.stdout.split()])
    _close(np.array(runs[1]), np.array(runs[0]), np.float32, n=700)


def test_gradients_equal_finite_differences_of_the_reference():
    h, w, t, b = _inputs(np.float64, n=5, d=3, v=4)
    t[2] = -100
    kw = dict(label_smoothing=0.15, reduction="mean")
    _, grads = lossk.linear_cross_entropy(h, w, t, bias=b, return_grad=True, chunk_size=2, **kw)
    fds = (finite_difference_grad(lambda x: reference.linear_cross_entropy(x, w, t, bias=b, **kw), h),
           finite_difference_grad(lambda x: reference.linear_cross_entropy(h, x, t, bias=b, **kw), w),
           finite_difference_grad(lambda x: reference.linear_cross_entropy(h, w, t, bias=x, **kw), b))
    for g, fd in zip(grads, fds):
        assert_close(g, fd, np.float64, rtol=1e-6, atol=1e-8)


def test_grad_out_receives_the_gradients():
    h, w, t, b = _inputs(np.float64)
    loss, grads = lossk.linear_cross_entropy(h, w, t, bias=b, return_grad=True, chunk_size=8)
    bufs = tuple(np.full_like(g, np.nan) for g in grads)
    loss1, out = lossk.linear_cross_entropy(h, w, t, bias=b, return_grad=True, chunk_size=8, grad_out=bufs)
    assert loss1 == loss and all(o is buf for o, buf in zip(out, bufs))
    assert all(o.tobytes() == g.tobytes() for o, g in zip(out, grads))
    hi = h.copy()                                                       # d_hidden in place
    loss2, out2 = lossk.linear_cross_entropy(hi, w, t, bias=b, return_grad=True, chunk_size=8,
                                             grad_out=(hi,) + bufs[1:])
    assert loss2 == loss and out2[0] is hi and hi.tobytes() == grads[0].tobytes()
    assert out2[1].tobytes() == grads[1].tobytes()
    big = np.concatenate([h, h[:1]])                                   # overlapping, not the same
    with pytest.raises(ValueError, match="grad_out\\[0\\] overlaps hidden"):
        lossk.linear_cross_entropy(big[1:], w, t, bias=b, return_grad=True, grad_out=(big[:-1],) + bufs[1:])
    with pytest.raises(ValueError, match="grad_out\\[1\\] overlaps weight"):
        lossk.linear_cross_entropy(h, w, t, bias=b, return_grad=True, grad_out=(bufs[0], w, bufs[2]))
    with pytest.raises(ValueError, match="3 arrays"):
        lossk.linear_cross_entropy(h, w, t, bias=b, return_grad=True, grad_out=bufs[:2])


def test_float16_and_torch_inputs_compute_in_float32():
    h, w, t, b = _inputs(np.float16, bias=False)
    loss, (dh, dw) = lossk.linear_cross_entropy(h, w, t, return_grad=True)
    rloss = reference.linear_cross_entropy(h.astype(np.float32), w.astype(np.float32), t)
    assert loss.dtype == np.float32 and dh.dtype == dw.dtype == np.float32
    _close(loss, rloss, np.float32)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_upstream_equals_torch_autograd_and_reference(dtype):
    """reduction="none" with upstream u: the gradients of sum_i u_i loss_i, as
    torch's backward(gradient=u); d_weight and d_bias sum the weighted rows."""
    h, w, t, b = _inputs(dtype)
    up = np.random.default_rng(5).standard_normal(N)
    kw = dict(bias=b, label_smoothing=0.1, reduction="none", return_grad=True, upstream=up)
    loss, grads = lossk.linear_cross_entropy(h, w, t, chunk_size=8, **kw)
    rloss, rgrads = reference.linear_cross_entropy(h, w, t, **kw)
    ht, wt, bt = to_torch(h, True), to_torch(w, True), to_torch(b, True)
    tl = F.cross_entropy(F.linear(ht, wt, bt), torch.from_numpy(t), reduction="none", label_smoothing=0.1)
    tl.backward(gradient=torch.from_numpy(up.astype(dtype)))
    _close(loss, tl.detach().numpy(), dtype)
    _close(rloss, tl.detach().numpy(), dtype)
    plain = lossk.linear_cross_entropy(h, w, t, bias=b, label_smoothing=0.1, reduction="none", chunk_size=8)
    assert loss.tobytes() == plain.tobytes()                           # upstream weighs gradients only
    for g, r, tg in zip(grads, rgrads, (ht.grad, wt.grad, bt.grad)):
        _close(g, tg.numpy(), dtype)
        _close(r, tg.numpy(), dtype)


def test_cblas_path_and_fallback_agree(monkeypatch):
    """d_weight accumulates by the BLAS's GEMM with beta = 1 when NumPy's OpenBLAS
    exposes it, else by column blocks of a temporary: the same within rounding."""
    from lossk import linear
    if np.__config__.CONFIG["Build Dependencies"]["blas"]["name"] == "scipy-openblas":
        assert linear._cblas_gemm(np.dtype(np.float32)) is not None       # the wheels' BLAS: found
    h, w, t, b = _inputs(np.float32, n=100, v=60)
    kw = dict(bias=b, chunk_size=7, return_grad=True, reduction="none", upstream=np.linspace(-1, 2, 100))
    fast = lossk.linear_cross_entropy(h, w, t, **kw)
    monkeypatch.setattr(linear, "USE_CBLAS", False)
    slow = lossk.linear_cross_entropy(h, w, t, **kw)
    assert fast[0].tobytes() == slow[0].tobytes()                       # the losses take no d_weight
    for g, s in zip(fast[1], slow[1]):
        _close(g, s, np.float32, n=100, v=60)


def test_weight_is_computed_in_hiddens_dtype():
    h, w, t, b = _inputs(np.float64)
    loss, grads = lossk.linear_cross_entropy(h, w.astype(np.float32), t, bias=b, return_grad=True)
    rloss = reference.linear_cross_entropy(h, w.astype(np.float32).astype(np.float64), t, bias=b)
    assert loss.dtype == np.float64 and all(g.dtype == np.float64 for g in grads)
    assert_close(loss, rloss)


def test_non_finite_values_propagate():
    h, w, t, b = _inputs(np.float64, ignored=False)
    h[3, 1] = np.nan
    losses, (dh, dw, db) = lossk.linear_cross_entropy(h, w, t, bias=b, reduction="none", return_grad=True)
    assert np.isnan(losses[3]) and np.isfinite(np.delete(losses, 3)).all()
    assert np.isnan(dh[3]).all() and np.isfinite(np.delete(dh, 3, axis=0)).all()
    assert np.isnan(dw).any() and np.isnan(db).all()


def _bad(dtype=np.float64):
    h, w, t, b = _inputs(dtype)
    return [
        (dict(hidden=h[:, :-1]), ValueError, "weight must have shape \\(V, 15\\)"),
        (dict(hidden=h[0]), ValueError, "hidden must have shape \\(N, D\\)"),
        (dict(weight=w[None]), ValueError, "weight must have shape \\(V, D\\)"),
        (dict(weight=w[:0]), ValueError, "at least one row"),
        (dict(bias=b[:-1]), ValueError, "bias must have shape \\(23,\\)"),
        (dict(target=t[:-1]), ValueError, "target must have shape \\(37,\\)"),
        (dict(target=np.where(t == 5, 23, t)), ValueError, "target\\[\\d+\\] = 23 is not a class index in \\[0, 23\\)"),
        (dict(target=np.where(t == 5, -1, t)), ValueError, "= -1 is not a class index"),
        (dict(target=t.astype(np.float64)), TypeError, "target must hold integer"),
        (dict(hidden=h.astype(np.int64)), TypeError, "hidden must be a real floating-point"),
        (dict(weight=w.astype(np.complex128)), TypeError, "weight must be a real floating-point"),
        (dict(chunk_size=0), ValueError, "chunk_size must be a positive"),
        (dict(chunk_size=-3), ValueError, "chunk_size must be a positive"),
        (dict(chunk_size=2.5), TypeError, "chunk_size must be an int"),
        (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
        (dict(reduction="batchmean"), ValueError, "reduction"),
        (dict(n_threads=0), ValueError, "n_threads"),
        (dict(grad_out=(h, w)), ValueError, "return_grad=False"),
        (dict(upstream=np.ones(N)), ValueError, "upstream .*reduction='none'"),
        (dict(upstream=np.ones(N), reduction="none"), ValueError, "upstream .*return_grad=True"),
        (dict(upstream=np.ones(N - 1), reduction="none", return_grad=True), ValueError,
         "upstream must have the shape .*\\(37,\\)"),
        (dict(upstream=np.ones(N, complex), reduction="none", return_grad=True), TypeError,
         "upstream must be a real"),
    ]


@pytest.mark.parametrize("backend", ("c", "numpy"))
def test_bad_input_raises_naming_the_argument(backend):
    h, w, t, b = _inputs(np.float64)
    for change, error, match in _bad():
        kw = dict(dict(hidden=h, weight=w, target=t, bias=b), **change)
        with pytest.raises(error, match=match):
            lossk.linear_cross_entropy(backend=backend, **kw)
