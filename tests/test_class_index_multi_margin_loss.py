"""multi_margin_loss (csrc/class_index/multi_margin_loss.c): kernel vs reference, vs torch,
finite differences, thread determinism, outputs and bad input."""
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
SHAPES = [(7,), (13, 5), (40, 1), (9, 37), (3, 5000)]
OPTIONS = [{}, {"p": 2}, {"margin": 0.3, "weight": True}, {"p": 2, "margin": -0.5, "weight": True},
           {"margin": 0.0}, {"p": 1, "margin": 2.5}]


def make_case(rng, shape, dtype, options=(), int32=False):
    return class_index_case(rng, shape, dtype, options, int32=int32, scale=1.0)


def torch_mm(x, t, reduction, **kw):
    return torch_loss_and_grad(F.multi_margin_loss, x, t, reduction, **kw)


# ---------------------------------------------------------------- vs reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference(dtype, shape, options, reduction):
    rng = np.random.default_rng(sum(shape) + OPTIONS.index(options) * 10 + REDUCTIONS.index(reduction))
    x, t, kw = make_case(rng, shape, dtype, options, int32=shape[-1] % 2 == 1)
    assert_matches_reference("multi_margin_loss", (x, t), reduction, **kw)


def test_documented_values():
    # x = [0.1, 0.5, -1], y = 1, margin 1: terms max(0, 1 - 0.5 + 0.1) = 0.6, max(0, 1 - 0.5 - 1) = 0
    x = np.array([[0.1, 0.5, -1.0]])
    w = np.array([3.0, 2.0, 5.0])
    loss, grad = lossk.multi_margin_loss(x, np.array([1]), weight=w, reduction="sum", return_grad=True)
    assert loss == pytest.approx(2.0 * 0.6 / 3, rel=1e-15)
    assert np.allclose(grad, [[2.0 / 3, -2.0 / 3, 0.0]], rtol=1e-15, atol=0)
    loss, grad = lossk.multi_margin_loss(x, np.array([1]), p=2, weight=w, reduction="sum", return_grad=True)
    assert loss == pytest.approx(2.0 * 0.36 / 3, rel=1e-14)
    assert np.allclose(grad, [[2.0 * 1.2 / 3, -2.0 * 1.2 / 3, 0.0]], rtol=1e-14, atol=0)
    # mean divides by the number of samples, not by the weights (torch)
    two = lossk.multi_margin_loss(np.vstack([x, x]), np.array([1, 1]), weight=w)
    assert two == pytest.approx(2.0 * 0.6 / 3, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_output_streaming_path(dtype):
    rng = np.random.default_rng(2)
    x, t, kw = make_case(rng, (4200 if dtype == np.float32 else 2100, 1000), dtype, {"p": 2, "weight": True})
    ref_loss, ref_grad = lossk.reference.multi_margin_loss(x, t, return_grad=True, **kw)
    for n_threads in (1, 2):
        loss, grad = lossk.multi_margin_loss(x, t, return_grad=True, n_threads=n_threads, **kw)
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype)


# ---------------------------------------------------------------- edge values

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2])
def test_non_finite_values_and_kinks_like_torch(dtype, p):
    # NaN terms count 0 (torch's z > 0 test); z == 0 exactly has gradient 0
    inf, nan = np.inf, np.nan
    x = np.array([[0, nan, 1], [nan, 0, 1], [0, 1, 0], [inf, 0, 1], [0, inf, 1], [-inf, 0, 0], [0, 0, 0]], dtype)
    t = np.array([0, 0, 1, 0, 0, 0, 2])
    assert_matches_peer(lossk.multi_margin_loss, torch_mm, (x, t), dtype, p=p)
    loss, grad = lossk.multi_margin_loss(x[2:3], t[2:3], p=p, reduction="none", return_grad=True)
    assert loss[0] == 0 and np.all(grad == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_class_and_empty(dtype):
    loss, grad = lossk.multi_margin_loss(np.array([[3.0], [-2.0]], dtype), np.array([0, 0]), return_grad=True)
    assert loss == 0 and np.all(grad == 0)
    empty = np.zeros((0, 4), dtype)
    assert np.isnan(lossk.multi_margin_loss(empty, np.zeros(0, np.int64)))   # torch returns garbage here
    assert lossk.multi_margin_loss(empty, np.zeros(0, np.int64), reduction="sum") == 0
    loss, grad = lossk.multi_margin_loss(empty, np.zeros(0, np.int64), reduction="none", return_grad=True)
    assert loss.shape == (0,) and grad.shape == (0, 4)


# ---------------------------------------------------------------- vs torch

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(64, 1000)])
@pytest.mark.parametrize("options", OPTIONS)
def test_matches_torch(dtype, shape, options):
    rng = np.random.default_rng(sum(shape) + 3 * OPTIONS.index(options))
    x, t, kw = make_case(rng, shape, dtype, options)
    # torch in float64 on the same values: torch's float32 kernel adds the target's
    # gradient up one term at a time in float32 (relative error ~4e-5 at C = 5000)
    kw64 = dict(kw, weight=kw["weight"].astype(np.float64)) if "weight" in kw else kw
    assert_matches_peer(lossk.multi_margin_loss, torch_mm, (x, t), dtype, peer_args=(x.astype(np.float64), t),
                        peer_kwargs=kw64, **kw)


@requires_torch
def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 6)).astype(np.float16)
    t = rng.integers(0, 6, 20)
    loss, grad = lossk.multi_margin_loss(x, t, p=2, return_grad=True)
    assert np.asarray(loss).dtype == np.float32 and grad.dtype == np.float32
    tl, tg = torch_mm(x.astype(np.float32), t, "mean", p=2)
    assert_close(loss, tl, np.float32)
    assert_close(grad, tg, np.float32)


# ---------------------------------------------------------------- gradient

@pytest.mark.parametrize("shape", [(4, 5), (6,)])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(shape, options, reduction):
    rng = np.random.default_rng(5)
    x, t, kw = make_case(rng, shape, np.float64, options)
    # keep every margin term away from its kink (|z| > 1e-3), where the loss is smooth
    margin = kw.get("margin", 1.0)
    xs = x.reshape(-1, shape[-1])
    rows = np.arange(xs.shape[0])
    z = margin - xs[rows, t.reshape(-1)][:, None] + xs
    z[rows, t.reshape(-1)] = 1.0   # the target's own term is not in the loss
    assert np.all(np.abs(z) > 1e-3), "pick another seed"
    assert_gradient_matches_finite_differences("multi_margin_loss", (x, t), reduction, **kw)


def test_gradient_of_none_is_gradient_of_the_sum():
    rng = np.random.default_rng(6)
    x, t, kw = make_case(rng, (9, 4), np.float64, {"p": 2, "weight": True})
    assert_none_gradient_is_sum_gradient(lossk.multi_margin_loss, x, t, **kw)


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6000, 37), (300, 1000), (2, 70000), (2100, 1000)])
@pytest.mark.parametrize("p", [1, 2])
def test_bitwise_identical_for_every_thread_count(dtype, shape, p):
    rng = np.random.default_rng(7)
    x, t, kw = make_case(rng, shape, dtype, {"p": p, "weight": True, "margin": 0.7})
    for reduction in REDUCTIONS:
        assert_bitwise_across_threads(lossk.multi_margin_loss, x, t, reduction=reduction, **kw)


# ---------------------------------------------------------------- outputs and layouts

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(40, 6), (7,), (2, 70000), (4200, 1000)])
def test_grad_out_and_in_place(dtype, shape):
    rng = np.random.default_rng(8)
    x, t, kw = make_case(rng, shape, dtype, {"p": 2, "weight": True})
    for n_threads in (1, 2):
        assert_grad_out_and_in_place(lossk.multi_margin_loss, x, t, n_threads=n_threads, **kw)


def test_awkward_inputs_give_the_same_numbers():
    rng = np.random.default_rng(10)
    x, t, kw = make_case(rng, (12, 5), np.float64, {"weight": True, "margin": 0.5})
    expected = lossk.multi_margin_loss(x, t, reduction="none", **kw)
    for xa in awkward_copies(x):
        assert_close(lossk.multi_margin_loss(xa, t, reduction="none", **kw), expected, rtol=0, atol=0)
    for ta in awkward_copies(t) + [t.astype(np.uint8), t.astype(np.int32)]:
        assert_close(lossk.multi_margin_loss(x, ta, reduction="none", **kw), expected, rtol=0, atol=0)
    assert_close(lossk.multi_margin_loss(x, t, reduction="none", p=np.int64(1), margin=np.float32(0.5),
                                         weight=kw["weight"]), expected, rtol=0, atol=0)


def test_registry_and_reference():
    assert lossk.LOSSES["multi_margin_loss"] is lossk.multi_margin_loss
    assert lossk.reference.multi_margin_loss is lossk.reference.class_index.multi_margin_loss


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_clear_errors():
    x = np.zeros((4, 3))
    t = np.array([0, 1, 2, 0])
    mm = lossk.multi_margin_loss
    cases = [
        (lambda: mm(np.zeros((4, 3), np.int64), t), TypeError, "scores must be a real floating-point array"),
        (lambda: mm(np.zeros((4, 3), np.complex128), t), TypeError, "complex"),
        (lambda: mm(np.zeros((4, 3, 2)), np.zeros((4, 2), int)), ValueError, r"scores must have shape \(C,\) or \(N, C\), got shape \(4, 3, 2\)"),
        (lambda: mm(np.float64(1.0), np.int64(0)), ValueError, "scores must have shape"),
        (lambda: mm(np.zeros((4, 0)), t), ValueError, "at least one class"),
        (lambda: mm(x, np.array([0, 1, 2])), ValueError, r"target must have shape \(4,\) for scores"),
        (lambda: mm(x, t.astype(float)), TypeError, "target must hold integer class indices"),
        (lambda: mm(x, np.array([0, 1, 3, 0])), ValueError, r"target\[2\] = 3 is not a class index in \[0, 3\)$"),
        (lambda: mm(x, np.array([0, -100, 1, 0])), ValueError, r"target\[1\] = -100"),
        (lambda: mm(x, t, p=3), ValueError, "p must be 1 or 2, got 3"),
        (lambda: mm(x, t, p=0), ValueError, "p must be 1 or 2"),
        (lambda: mm(x, t, p=1.5), TypeError, "p must be an int"),
        (lambda: mm(x, t, p=True), TypeError, "p must be an int"),
        (lambda: mm(x, t, margin=float("nan")), ValueError, "margin"),
        (lambda: mm(x, t, margin="1"), TypeError, "margin"),
        (lambda: mm(x, t, weight=np.ones(4)), ValueError, r"weight must have shape \(3,\)"),
        (lambda: mm(x, t, ignore_index=0), TypeError, "ignore_index"),
        (lambda: mm(x, t, reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: mm(x, t, backend="torch"), ValueError, "backend must be one of"),
        (lambda: mm(x, t, n_threads=0), ValueError, "n_threads"),
        (lambda: mm(x, t, grad_out=np.empty((4, 3))), ValueError, "return_grad=False"),
        (lambda: mm(x, t, return_grad=True, grad_out=np.empty((4, 3), np.float32)), TypeError, "grad_out must have dtype float64"),
    ]
    assert_all_raise(cases)
    with pytest.raises(ValueError, match=r"target\[2\] = 3"):
        mm(x, np.array([0, 1, 3, 0]), backend="numpy")
