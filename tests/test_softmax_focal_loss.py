"""softmax_focal_loss: kernel vs reference, vs torch, finite differences, gamma = 0
against cross_entropy, thread determinism, outputs and bad input.

Its kernel is the cross-entropy row machinery (csrc/softmax/softmax.c, focal factors
in ce_row_finish), so these tests also run it through every path of that file:
rows, chunked long rows (C > 4096), split rows (rows < threads), spatial tiles and
the non-temporal gradient stores.
"""
import numpy as np
import pytest

import lossk
from helpers import (F, assert_all_raise, assert_bitwise_across_threads, assert_close,
                     assert_gradient_matches_finite_differences, assert_grad_out_and_in_place,
                     assert_matches_peer, assert_matches_reference, assert_none_gradient_is_sum_gradient,
                     awkward_copies, class_index_case, requires_torch, to_torch, torch)

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
LAYOUTS = [(7,), (13, 5), (6, 4, 3), (3, 5, 2, 4), (2, 3, 1)]
OPTIONS = [
    {},
    {"gamma": 0.5},
    {"gamma": 0.0, "alpha": True},
    {"alpha": True, "ignore_index": 1},
    {"gamma": 3.7, "alpha": True, "ignore_index": -100},
    {"gamma": 1.0, "ignore_index": 0},
]


def make_case(rng, shape, dtype, options=(), scale=3.0, int32=False):
    return class_index_case(rng, shape, dtype, options, "alpha", int32, scale)


def torch_focal(x, t, reduction, alpha=None, gamma=2.0, ignore_index=-100):
    """The focal loss written in torch ops; loss and d(sum of returned losses)/dx."""
    xt = to_torch(x, requires_grad=True)
    tt = torch.from_numpy(np.asarray(t).astype(np.int64))
    if xt.ndim == 1:
        xs, ts = xt[None], tt[None]
    else:
        xs, ts = xt, tt
    keep = ts != ignore_index
    ys = torch.where(keep, ts, torch.zeros_like(ts))
    logp = F.log_softmax(xs, dim=1)
    logpt = logp.gather(1, ys.unsqueeze(1)).squeeze(1)
    a = torch.ones(xs.shape[1], dtype=xs.dtype) if alpha is None else to_torch(alpha)
    at = torch.where(keep, a[ys], torch.zeros((), dtype=xs.dtype))
    per = -at * (1 - logpt.exp()) ** gamma * logpt
    per = torch.where(keep, per, torch.zeros((), dtype=xs.dtype))
    if reduction == "mean":
        loss = per.sum() / at.sum()
    elif reduction == "sum":
        loss = per.sum()
    else:
        loss = per[0] if xt.ndim == 1 else per
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


# ---------------------------------------------------------------- vs reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference(dtype, shape, options, reduction):
    rng = np.random.default_rng(len(shape) * 100 + OPTIONS.index(options) * 10 + REDUCTIONS.index(reduction))
    x, t, kw = make_case(rng, shape, dtype, options, int32=len(shape) % 2 == 0)
    assert_matches_reference("softmax_focal_loss", (x, t), reduction, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 9000), (1, 20000), (5, 8192), (4200, 1000)])
def test_long_rows_split_rows_and_streaming_paths(dtype, shape):
    rng = np.random.default_rng(1)
    x, t, kw = make_case(rng, shape, dtype, {"alpha": True, "gamma": 1.5}, scale=8)
    ref_loss, ref_grad = lossk.reference.softmax_focal_loss(x, t, return_grad=True, **kw)
    for n_threads in (1, 2):
        loss, grad = lossk.softmax_focal_loss(x, t, return_grad=True, n_threads=n_threads, **kw)
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype)


def test_documented_value_on_a_small_example():
    # p = softmax([0, ln 3]) = [1/4, 3/4]; target 0: -(3/4)^2 log(1/4) * alpha[0]
    x = np.array([[0.0, np.log(3.0)]])
    loss = lossk.softmax_focal_loss(x, np.array([0]), alpha=np.array([0.5, 2.0]), reduction="sum")
    assert loss == pytest.approx(0.5 * 0.75 ** 2 * np.log(4.0), rel=1e-14)
    # mean divides by alpha[t] summed over the samples, like cross_entropy's weight
    mean = lossk.softmax_focal_loss(np.vstack([x, x]), np.array([0, 1]), alpha=np.array([0.5, 2.0]))
    expected = (0.5 * 0.75 ** 2 * np.log(4.0) + 2.0 * 0.25 ** 2 * np.log(4 / 3)) / 2.5
    assert mean == pytest.approx(expected, rel=1e-14)


# ---------------------------------------------------------------- gamma = 0 is cross-entropy

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS + [(3, 9000), (1, 20000), (40, 4, 100)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_equals_cross_entropy_bitwise(dtype, shape, reduction):
    rng = np.random.default_rng(sum(shape))
    x, t, kw = make_case(rng, shape, dtype, {"alpha": True, "ignore_index": 2})
    alpha = kw.pop("alpha")
    for n_threads in (1, 2):
        loss, grad = lossk.softmax_focal_loss(x, t, alpha=alpha, gamma=0.0, reduction=reduction,
                                              return_grad=True, n_threads=n_threads, **kw)
        ce_loss, ce_grad = lossk.cross_entropy(x, t, weight=alpha, reduction=reduction, return_grad=True,
                                               n_threads=n_threads, **kw)
        assert np.asarray(loss).tobytes() == np.asarray(ce_loss).tobytes()
        assert grad.tobytes() == ce_grad.tobytes()
    plain = lossk.softmax_focal_loss(x, t, gamma=0, reduction=reduction, **kw)
    assert np.asarray(plain).tobytes() == np.asarray(lossk.cross_entropy(x, t, reduction=reduction, **kw)).tobytes()


# ---------------------------------------------------------------- edge values

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.25, 1.0, 2.0])
def test_confident_rows_give_finite_gradients(dtype, gamma):
    # p_t -> 1 (q = 1 - p_t tiny or exactly 0) and p_t -> 0: (1 - p_t)^(gamma - 1) alone
    # would be inf for gamma < 1; the kernel's form has no 0 * inf.
    x = np.array([[60, 0, 0], [1e4, 0, -3], [30, 0, 0], [-1e4, 0, 1], [0, 0, 0], [20, 21, 0]], dtype)
    t = np.array([0, 0, 0, 0, 1, 0])
    loss, grad = lossk.softmax_focal_loss(x, t, gamma=gamma, reduction="none", return_grad=True)
    ref_loss, ref_grad = lossk.reference.softmax_focal_loss(x, t, gamma=gamma, reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert_close(loss, ref_loss, dtype, atol=1e-6 * 1e4 if dtype == np.float32 else 1e-12)
    assert_close(grad, ref_grad, dtype)
    assert loss[1] == 0 and np.all(grad[1] == 0)         # p_t rounds to 1 exactly
    assert np.all(grad[3] * np.array([1, 0, -1]) <= 0)   # pushes the target up, the max down


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_ignored_and_empty(dtype, reduction):
    x = np.ones((4, 3), dtype)
    loss, grad = lossk.softmax_focal_loss(x, np.full(4, -100), reduction=reduction, return_grad=True)
    assert np.isnan(loss) if reduction == "mean" else np.all(np.asarray(loss) == 0)
    assert np.all(grad == 0)
    empty = np.zeros((0, 5), dtype)
    loss, grad = lossk.softmax_focal_loss(empty, np.zeros(0, np.int64), reduction=reduction, return_grad=True)
    assert np.isnan(loss) if reduction == "mean" else np.asarray(loss).size == 0 or loss == 0
    assert grad.shape == (0, 5)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_inf_and_nan_propagate_like_torch(dtype):
    inf, nan = np.inf, np.nan
    x = np.array([[0, inf, 1], [nan, 0, 0], [-inf, 0, 1], [1e4, -1e4, 0]], dtype)
    t = np.array([0, 2, 0, 1])
    loss, grad = lossk.softmax_focal_loss(x, t, reduction="none", return_grad=True)
    tl, tg = torch_focal(x, t, "none")
    assert_close(loss, tl, dtype)
    assert np.all(np.isnan(grad[:2]))
    assert_close(grad[[0, 1, 3]], tg[[0, 1, 3]], dtype)
    # row 2: p_t = 0 exactly; torch's autograd of (1 - p_t)^2 log p_t gives 0 * inf = NaN
    # there, the kernel the limit, the cross-entropy gradient softmax(x) - onehot
    p = np.exp(np.array([-inf, 0, 1])) / np.exp(np.array([-inf, 0, 1])).sum()
    assert np.all(np.isnan(tg[2])) or np.all(np.isfinite(tg[2]))
    assert_close(grad[2], p - [1, 0, 0], dtype)


# ---------------------------------------------------------------- vs torch

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS + [(64, 1000), (2, 9000)])
@pytest.mark.parametrize("options", OPTIONS)
def test_matches_torch(dtype, shape, options):
    rng = np.random.default_rng(sum(shape) + 3 * OPTIONS.index(options))
    x, t, kw = make_case(rng, shape, dtype, options)
    assert_matches_peer(lossk.softmax_focal_loss, torch_focal, (x, t), dtype, **kw)


@requires_torch
def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 6)).astype(np.float16)
    t = rng.integers(0, 6, 20)
    loss, grad = lossk.softmax_focal_loss(x, t, return_grad=True)
    assert np.asarray(loss).dtype == np.float32 and grad.dtype == np.float32
    tl, tg = torch_focal(x.astype(np.float32), t, "mean")
    assert_close(loss, tl, np.float32)
    assert_close(grad, tg, np.float32)


# ---------------------------------------------------------------- gradient

@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (6,)])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(shape, options, reduction):
    rng = np.random.default_rng(5)
    x, t, kw = make_case(rng, shape, np.float64, options, scale=1.5)
    assert_gradient_matches_finite_differences("softmax_focal_loss", (x, t), reduction, **kw)


def test_gradient_of_none_is_gradient_of_the_sum():
    rng = np.random.default_rng(6)
    x, t, kw = make_case(rng, (9, 4), np.float64, {"alpha": True, "gamma": 2.5, "ignore_index": 0})
    assert_none_gradient_is_sum_gradient(lossk.softmax_focal_loss, x, t, **kw)


@pytest.mark.parametrize("c", [1, 2, 3, 10, 16, 17, 21, 32, 33, 47])
def test_narrow_rows_in_registers(c):
    """float32 rows of up to 47 classes take cross_entropy's register kernel (ce_rows16)
    with the focal factors computed 16 rows at a time (ce_focal512): gamma = 2 by a
    square, other gammas by exp and log; confident rows (q near 0 and exactly 0),
    hopeless ones (q = 1) and the rest; vs the reference, in place, every thread count."""
    rng = np.random.default_rng(c)
    for n in (2, 17, 257):                              # (n = 1 with ignore_index: all ignored)
        for options in ({"gamma": 2.0}, {"gamma": 0.5, "alpha": True, "ignore_index": 1 % c},
                        {"gamma": 3.7, "alpha": True}, {"gamma": 25.0, "ignore_index": 0}):
            x, t, kw = make_case(rng, (n, c), np.float32, options, int32=n == 17)
            rows = np.arange(n)
            x[rows[::5], t[rows[::5]] % c] += 40        # confident: q tiny or 0
            x[rows[1::5], t[rows[1::5]] % c] -= 40      # hopeless: q = 1
            for reduction in REDUCTIONS:
                loss, grad = lossk.softmax_focal_loss(x, t, reduction=reduction, return_grad=True, **kw)
                ref_loss, ref_grad = lossk.reference.softmax_focal_loss(x, t.astype(np.int64), reduction=reduction,
                                                                        return_grad=True, **kw)
                if reduction != "mean" or (t != kw.get("ignore_index", -100)).any():   # else 0 / 0
                    assert np.isfinite(loss).all() and np.isfinite(grad).all()
                assert_close(loss, ref_loss, np.float32)
                assert_close(grad, ref_grad, np.float32)
            assert_grad_out_and_in_place(lossk.softmax_focal_loss, x, t, **kw)
            assert_bitwise_across_threads(lossk.softmax_focal_loss, x, t, reduction="mean", **kw)


@pytest.mark.parametrize("shape", [(3, 5, 37), (2, 19, 8, 9), (2, 60, 33)])
def test_spatial_positions_sixteen_at_a_time(shape):
    """The (N, C, d...) layout's focal factors: groups of 16 positions by ce_focal512 on
    AVX-512, the rest one at a time (ce_focal_f); both against the reference, with
    confident and hopeless positions."""
    rng = np.random.default_rng(sum(shape))
    for options in ({"gamma": 2.0}, {"gamma": 0.5, "alpha": True, "ignore_index": 1}, {"gamma": 3.7}):
        x, t, kw = make_case(rng, shape, np.float32, options)
        xm, tm = np.moveaxis(x, 1, -1).reshape(-1, shape[1]), t.reshape(-1)   # rows of classes (a copy)
        xm[::4][np.arange(len(tm[::4])), tm[::4] % shape[1]] += 40
        xm[1::4][np.arange(len(tm[1::4])), tm[1::4] % shape[1]] -= 40
        x = np.ascontiguousarray(np.moveaxis(xm.reshape(shape[:1] + shape[2:] + shape[1:2]), -1, 1))
        for reduction in REDUCTIONS:
            loss, grad = lossk.softmax_focal_loss(x, t, reduction=reduction, return_grad=True, **kw)
            ref_loss, ref_grad = lossk.reference.softmax_focal_loss(x, t, reduction=reduction, return_grad=True, **kw)
            assert np.isfinite(loss).all() and np.isfinite(grad).all()
            assert_close(loss, ref_loss, np.float32)
            assert_close(grad, ref_grad, np.float32)


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6000, 37), (3, 20000), (16, 7, 40, 40), (2100, 1000)])
def test_bitwise_identical_for_every_thread_count(dtype, shape):
    rng = np.random.default_rng(7)
    x, t, kw = make_case(rng, shape, dtype, {"alpha": True, "gamma": 2.0, "ignore_index": 3})
    for reduction in REDUCTIONS:
        assert_bitwise_across_threads(lossk.softmax_focal_loss, x, t, reduction=reduction, **kw)


# ---------------------------------------------------------------- outputs and layouts

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(40, 6), (3, 9000), (1, 30000), (4, 5, 6), (2100, 1000)])
def test_grad_out_and_in_place_on_every_kernel_path(dtype, shape):
    rng = np.random.default_rng(8)
    x, t, kw = make_case(rng, shape, dtype, {"alpha": True, "gamma": 1.5, "ignore_index": 3})
    for n_threads in (1, 2):
        assert_grad_out_and_in_place(lossk.softmax_focal_loss, x, t, n_threads=n_threads, **kw)


def test_awkward_inputs_give_the_same_numbers():
    rng = np.random.default_rng(10)
    x, t, kw = make_case(rng, (12, 5), np.float64, {"alpha": True, "gamma": 2.0})
    expected = lossk.softmax_focal_loss(x, t, reduction="none", **kw)
    for xa in awkward_copies(x):
        assert_close(lossk.softmax_focal_loss(xa, t, reduction="none", **kw), expected, rtol=0, atol=0)
    for ta in awkward_copies(t) + [t.astype(np.uint8), t.astype(np.int32)]:
        assert_close(lossk.softmax_focal_loss(x, ta, reduction="none", **kw), expected, rtol=0, atol=0)
    assert_close(lossk.softmax_focal_loss(x, t, reduction="none", alpha=kw["alpha"].tolist(), gamma=2),
                 expected, rtol=0, atol=0)


def test_registry_and_reference():
    assert lossk.LOSSES["softmax_focal_loss"] is lossk.softmax_focal_loss
    assert lossk.reference.softmax_focal_loss is lossk.reference.softmax.softmax_focal_loss


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_clear_errors():
    x = np.zeros((4, 3))
    t = np.array([0, 1, 2, 0])
    fl = lossk.softmax_focal_loss
    cases = [
        (lambda: fl(np.zeros((4, 3), np.int64), t), TypeError, "logits must be a real floating-point array"),
        (lambda: fl(np.zeros((4, 3), np.complex64), t), TypeError, "complex"),
        (lambda: fl(np.float64(1.0), np.int64(0)), ValueError, "0-d"),
        (lambda: fl(x, np.array([0, 1, 2])), ValueError, r"target must have shape \(4,\)"),
        (lambda: fl(x, t.astype(float)), TypeError, "target must hold integer class indices"),
        (lambda: fl(x, np.full((4, 3), 1 / 3)), TypeError, "target must hold integer class indices"),
        (lambda: fl(x, np.array([0, 1, 3, 0])), ValueError, r"target\[2\] = 3 is not a class index in \[0, 3\) nor ignore_index \(-100\)"),
        (lambda: fl(np.zeros((2, 3, 2)), np.array([[0, 1], [2, -1]])), ValueError, r"target\[1, 1\] = -1"),
        (lambda: fl(x, t, gamma=-0.5), ValueError, "gamma must be finite and >= 0, got -0.5"),
        (lambda: fl(x, t, gamma=float("nan")), ValueError, "gamma"),
        (lambda: fl(x, t, gamma=float("inf")), ValueError, "gamma must be finite and >= 0, got inf"),
        (lambda: fl(x, t, gamma="2"), TypeError, "gamma"),
        (lambda: fl(x, t, alpha=np.ones(4)), ValueError, r"alpha must have shape \(3,\)"),
        (lambda: fl(x, t, alpha=0.25), ValueError, r"alpha must have shape \(3,\)"),
        (lambda: fl(x, t, alpha=np.ones(3, complex)), TypeError, "alpha"),
        (lambda: fl(x, t, ignore_index=1.5), TypeError, "ignore_index"),
        (lambda: fl(x, t, reduction="batchmean"), ValueError, "reduction must be one of"),
        (lambda: fl(x, t, backend="torch"), ValueError, "backend must be one of"),
        (lambda: fl(x, t, n_threads=0), ValueError, "n_threads"),
        (lambda: fl(x, t, grad_out=np.empty((4, 3))), ValueError, "return_grad=False"),
        (lambda: fl(x, t, return_grad=True, grad_out=np.empty((4, 3), np.float32)), TypeError, "grad_out must have dtype float64"),
        (lambda: fl(x, t, return_grad=True, grad_out=np.empty((3, 4))), ValueError, r"grad_out must have shape \(4, 3\)"),
    ]
    assert_all_raise(cases)
    for backend in ("c", "numpy"):  # the reference raises the same errors
        with pytest.raises(ValueError, match=r"target\[2\] = 3"):
            fl(x, np.array([0, 1, 3, 0]), backend=backend)
