"""nll_loss (csrc/class_index/nll_loss.c): kernel vs reference, vs torch, finite differences,
thread determinism, every gradient write path (rows, whole-sample spatial slabs,
spatial tiles, non-temporal stores), outputs and bad input."""
import numpy as np
import pytest

import lossk
from helpers import (F, assert_all_raise, assert_bitwise_across_threads, assert_close,
                     assert_grad_out_and_in_place, assert_gradient_matches_finite_differences,
                     assert_matches_peer, assert_matches_reference,
                     assert_none_gradient_is_sum_gradient, awkward_copies, class_index_case,
                     requires_torch, torch, torch_loss_and_grad)

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
# (C,), rows, short spatial (whole-sample slabs), inner = 2048 (one full tile),
# inner > 2048 (several tiles, the last one partial)
LAYOUTS = [(7,), (13, 5), (6, 4, 3), (3, 5, 2, 4), (2, 3, 1), (2, 3, 2048), (2, 3, 4500)]
OPTIONS = [{}, {"weight": True}, {"ignore_index": 1}, {"weight": True, "ignore_index": -100},
           {"weight": True, "ignore_index": 0}]


def make_case(rng, shape, dtype, options=(), int32=False):
    x, t, kw = class_index_case(rng, shape, dtype, options, int32=int32, scale=1.0)
    x -= np.log(np.exp(x).sum(axis=0 if len(shape) == 1 else 1, keepdims=True))  # log-probabilities
    return x, t, kw


def torch_nll(x, t, reduction, **kw):
    return torch_loss_and_grad(F.nll_loss, x, t, reduction, **kw)


# ---------------------------------------------------------------- vs reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference(dtype, shape, options, reduction):
    rng = np.random.default_rng(len(shape) * 100 + OPTIONS.index(options) * 10 + REDUCTIONS.index(reduction))
    x, t, kw = make_case(rng, shape, dtype, options, int32=len(shape) % 2 == 1)
    assert_matches_reference("nll_loss", (x, t), reduction, **kw)


def test_documented_values():
    x = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]))
    t = np.array([0, 1, 2])
    w = np.array([1.0, 2.0, 4.0])
    per = -w[t] * x[[0, 1, 2], t]
    loss, grad = lossk.nll_loss(x, t, weight=w, return_grad=True)
    assert loss == pytest.approx(per.sum() / 7.0, rel=1e-15)           # divides by sum of w[t]
    expected = np.zeros((3, 3))
    expected[[0, 1, 2], t] = -w[t] / 7.0
    assert np.array_equal(grad, expected)
    assert lossk.nll_loss(x, t, weight=w, reduction="sum") == pytest.approx(per.sum(), rel=1e-15)
    # ignored samples leave the numerator and the denominator
    assert lossk.nll_loss(x, t, weight=w, ignore_index=2) == pytest.approx(per[:2].sum() / 3.0, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4200, 1000), (1100, 4, 1000), (2, 3, 512, 1400), (3, 70000)])
def test_large_outputs_and_long_rows(dtype, shape):
    # >= 16 MiB of gradient (float32) takes the non-temporal stores; each layout its own path
    rng = np.random.default_rng(2)
    x, t, kw = make_case(rng, shape, dtype, {"weight": True, "ignore_index": 5})
    ref_loss, ref_grad = lossk.reference.nll_loss(x, t, return_grad=True, **kw)
    for n_threads in (1, 2):
        loss, grad = lossk.nll_loss(x, t, return_grad=True, n_threads=n_threads, **kw)
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype)


# ---------------------------------------------------------------- edge values

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_ignored_and_empty(dtype, reduction):
    x = np.zeros((4, 3), dtype)
    loss, grad = lossk.nll_loss(x, np.full(4, -100), reduction=reduction, return_grad=True)
    assert np.isnan(loss) if reduction == "mean" else np.all(np.asarray(loss) == 0)
    assert np.all(grad == 0)
    for shape in [(0, 5), (0, 5, 3), (2, 0)]:
        t = np.full((shape[0],) + shape[2:], -100, np.int64)
        loss, grad = lossk.nll_loss(np.zeros(shape, dtype), t, reduction=reduction, return_grad=True)
        assert np.isnan(loss) if reduction == "mean" else np.all(np.asarray(loss) == 0)
        assert grad.shape == shape and np.all(grad == 0)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_weights_non_finite_values_and_inner_ignore_index_like_torch(dtype):
    inf, nan = np.inf, np.nan
    x = np.array([[0, nan, -1], [-inf, 0, 0], [nan, -2, 0], [1, 2, 3]], dtype)
    t = np.array([0, 0, 1, 2])
    for kw in [{}, {"weight": np.array([0.0, 1.0, 2.0], dtype)}, {"weight": np.zeros(3, dtype)},
               {"ignore_index": 2}, {"ignore_index": 0, "weight": np.array([0.0, 1.0, 0.0], dtype)}]:
        # the gradient is NaN at the targets where the sum of w[t] is 0, as torch's
        assert_matches_peer(lossk.nll_loss, torch_nll, (x, t), dtype, **kw)


# ---------------------------------------------------------------- vs torch

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS + [(64, 1000)])
@pytest.mark.parametrize("options", OPTIONS)
def test_matches_torch(dtype, shape, options):
    rng = np.random.default_rng(sum(shape) + 3 * OPTIONS.index(options))
    x, t, kw = make_case(rng, shape, dtype, options)
    assert_matches_peer(lossk.nll_loss, torch_nll, (x, t), dtype, **kw)


@requires_torch
def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(4)
    x, t, _ = make_case(rng, (20, 6), np.float32)
    loss, grad = lossk.nll_loss(x.astype(np.float16), t, return_grad=True)
    assert np.asarray(loss).dtype == np.float32 and grad.dtype == np.float32
    tl, tg = torch_nll(x.astype(np.float16).astype(np.float32), t, "mean")
    assert_close(loss, tl, np.float32)
    assert_close(grad, tg, np.float32)


# ---------------------------------------------------------------- gradient

@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (6,)])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(shape, options, reduction):
    rng = np.random.default_rng(5)
    x, t, kw = make_case(rng, shape, np.float64, options)
    assert_gradient_matches_finite_differences("nll_loss", (x, t), reduction, **kw)


def test_gradient_of_none_is_gradient_of_the_sum():
    rng = np.random.default_rng(6)
    x, t, kw = make_case(rng, (9, 4, 3), np.float64, {"weight": True, "ignore_index": 0})
    assert_none_gradient_is_sum_gradient(lossk.nll_loss, x, t, **kw)


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(60000, 7), (300, 1000), (3, 70000), (16, 7, 40, 40), (4, 3, 9000),
                                   (4200, 1000)])
def test_bitwise_identical_for_every_thread_count(dtype, shape):
    rng = np.random.default_rng(7)
    x, t, kw = make_case(rng, shape, dtype, {"weight": True, "ignore_index": 3})
    for reduction in REDUCTIONS:
        assert_bitwise_across_threads(lossk.nll_loss, x, t, reduction=reduction, **kw)


# ---------------------------------------------------------------- outputs and layouts

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(40, 6), (3, 70000), (4, 5, 6), (2, 3, 4500), (4200, 1000), (1100, 4, 1000)])
def test_grad_out_and_in_place_on_every_kernel_path(dtype, shape):
    # grad_out starts as NaN: every element must be written
    rng = np.random.default_rng(8)
    x, t, kw = make_case(rng, shape, dtype, {"weight": True, "ignore_index": 3})
    for n_threads in (1, 2):
        assert_grad_out_and_in_place(lossk.nll_loss, x, t, n_threads=n_threads, **kw)


def test_awkward_inputs_give_the_same_numbers():
    rng = np.random.default_rng(10)
    x, t, kw = make_case(rng, (12, 5, 2), np.float64, {"weight": True})
    expected = lossk.nll_loss(x, t, reduction="none", **kw)
    for xa in awkward_copies(x):
        assert_close(lossk.nll_loss(xa, t, reduction="none", **kw), expected, rtol=0, atol=0)
    for ta in awkward_copies(t) + [t.astype(np.uint8), t.astype(np.int32)]:
        assert_close(lossk.nll_loss(x, ta, reduction="none", **kw), expected, rtol=0, atol=0)


def test_registry_and_reference():
    assert lossk.LOSSES["nll_loss"] is lossk.nll_loss
    assert lossk.reference.nll_loss is lossk.reference.class_index.nll_loss


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_clear_errors():
    x = np.zeros((4, 3))
    t = np.array([0, 1, 2, 0])
    nll = lossk.nll_loss
    cases = [
        (lambda: nll(np.zeros((4, 3), np.int32), t), TypeError, "log_probs must be a real floating-point array"),
        (lambda: nll(np.zeros((4, 3), bool), t), TypeError, "bool"),
        (lambda: nll(np.float32(1.0), np.int64(0)), ValueError, "log_probs must have shape"),
        (lambda: nll(x, np.array([0, 1, 2])), ValueError, r"target must have shape \(4,\) for log_probs"),
        (lambda: nll(x, t.astype(np.float32)), TypeError, "target must hold integer class indices"),
        (lambda: nll(x, np.array([0, 1, 3, 0])), ValueError, r"target\[2\] = 3 is not a class index in \[0, 3\) nor ignore_index \(-100\)"),
        (lambda: nll(np.zeros((2, 3, 2)), np.array([[0, 1], [2, 7]])), ValueError, r"target\[1, 1\] = 7"),
        (lambda: nll(x, np.array([0, 1, -100, 0]), ignore_index=-1), ValueError, r"target\[2\] = -100"),
        (lambda: nll(x, t, weight=np.ones(2)), ValueError, r"weight must have shape \(3,\)"),
        (lambda: nll(x, t, weight="a"), TypeError, "weight"),
        (lambda: nll(x, t, ignore_index=None), TypeError, "ignore_index"),
        (lambda: nll(x, t, reduction="batchmean"), ValueError, "reduction must be one of"),
        (lambda: nll(x, t, backend="C"), ValueError, "backend must be one of"),
        (lambda: nll(x, t, n_threads=-1), ValueError, "n_threads"),
        (lambda: nll(x, t, return_grad=True, grad_out=np.empty((4, 3), np.float32)), TypeError, "grad_out must have dtype float64"),
        (lambda: nll(x, t, return_grad=True, grad_out=np.empty(12)), ValueError, r"grad_out must have shape \(4, 3\)"),
    ]
    assert_all_raise(cases)
    big = np.zeros((5, 3))
    with pytest.raises(ValueError, match="grad_out overlaps pred"):
        nll(big[:4], t, return_grad=True, grad_out=big[1:])
    with pytest.raises(ValueError, match=r"target\[2\] = 3"):
        nll(x, np.array([0, 1, 3, 0]), backend="numpy")
