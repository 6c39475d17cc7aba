"""kl_div (csrc/kl_div.c): kernel vs reference, gradient vs finite differences,
vs torch, the reductions ("mean" over all elements, "batchmean"), log_target,
and torch's conventions at 0 and non-finite values. Layouts, threads and buffers:
test_elementwise.py."""
import warnings

import numpy as np
import pytest

import lossk
from helpers import (F, assert_close, assert_gradient_matches_finite_differences, requires_torch,
                     to_torch)

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("mean", "batchmean", "sum", "none")


def distributions(rng, shape):
    """Log-probabilities (softmax along the last axis) and probability targets with zeros."""
    z = rng.standard_normal(shape)
    log_p = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    t = rng.dirichlet(np.ones(shape[-1]), shape[:-1])
    t[..., 0] = 0.0
    return log_p, t / t.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_target", (False, True))
def test_matches_reference(dtype, reduction, log_target):
    rng = np.random.default_rng(1)
    for shape in [(37, 11), (4, 5, 6), (13,)]:
        x, t = distributions(rng, shape)
        with np.errstate(divide="ignore"):
            target = np.log(t) if log_target else t
        x, target = x.astype(dtype), target.astype(dtype)
        loss, grad = lossk.kl_div(x, target, log_target=log_target, reduction=reduction, return_grad=True)
        loss_ref, grad_ref = lossk.reference.kl_div(x, target, log_target=log_target, reduction=reduction,
                                                    return_grad=True)
        assert_close(loss, loss_ref, dtype)
        assert_close(grad, grad_ref, dtype)


def test_reductions():
    rng = np.random.default_rng(2)
    x, t = distributions(rng, (8, 5))
    losses = lossk.kl_div(x, t, reduction="none")
    np.testing.assert_allclose(lossk.kl_div(x, t, reduction="sum"), losses.sum(), rtol=1e-14)
    np.testing.assert_allclose(lossk.kl_div(x, t), losses.sum() / 40, rtol=1e-14)           # all elements
    np.testing.assert_allclose(lossk.kl_div(x, t, reduction="batchmean"), losses.sum() / 8, rtol=1e-14)
    # batchmean is the KL divergence per sample
    kl = np.sum(np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0), axis=1)
    np.testing.assert_allclose(lossk.kl_div(x, t, reduction="batchmean"), kl.mean(), rtol=1e-13)
    _, grad = lossk.kl_div(x, t, reduction="batchmean", return_grad=True)
    np.testing.assert_allclose(grad, -t / 8, rtol=1e-15)
    # torch: batchmean of a 0-d input is the sum; of an empty batch NaN
    assert lossk.kl_div(np.float64(-1.0), np.float64(0.5), reduction="batchmean") == \
        lossk.kl_div(np.float64(-1.0), np.float64(0.5), reduction="sum")
    assert np.isnan(lossk.kl_div(np.zeros((0, 3)), np.zeros((0, 3)), reduction="batchmean"))


def test_torch_conventions_at_zero_and_non_finite_values():
    # xlogy: t = 0 contributes 0, even where log_input is -inf the product t * x is 0 * -inf = NaN (torch)
    x = np.array([-1.0, -np.inf, -2.0, np.nan, -1.0])
    t = np.array([0.0, 0.0, -1.0, 0.5, np.nan])
    losses, grad = lossk.kl_div(x, t, reduction="none", return_grad=True)
    assert losses[0] == 0.0
    assert np.all(np.isnan(losses[1:]))
    np.testing.assert_array_equal(grad[:3], -t[:3])
    # log_target: exp(t) (t - x); t = -inf gives NaN as in torch (0 * -inf)
    losses, grad = lossk.kl_div(np.array([-1.0, -1.0]), np.array([-np.inf, 0.0]), log_target=True,
                                reduction="none", return_grad=True)
    assert np.isnan(losses[0]) and losses[1] == 1.0
    np.testing.assert_array_equal(grad, [0.0, -1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_target", (False, True))
def test_gradient_vs_finite_differences(reduction, log_target):
    rng = np.random.default_rng(3)
    x, t = distributions(rng, (4, 5))
    t[:, 0] = 0.1
    target = np.log(t) if log_target else t
    assert_gradient_matches_finite_differences("kl_div", (x, target), reduction, atol=1e-9,
                                               log_target=log_target)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_target", (False, True))
def test_vs_torch(dtype, reduction, log_target):
    rng = np.random.default_rng(4)
    x, t = distributions(rng, (64, 9))
    with np.errstate(divide="ignore"):
        target = np.log(t) if log_target else t
    if log_target:
        target[:, 0] = -30.0   # torch gives NaN at -inf
    x, target = x.astype(dtype), target.astype(dtype)
    xt = to_torch(x.astype(np.float64), requires_grad=True)
    with warnings.catch_warnings():   # torch warns that "mean" is not the KL divergence
        warnings.simplefilter("ignore", UserWarning)
        expected = F.kl_div(xt, to_torch(target.astype(np.float64)), reduction=reduction, log_target=log_target)
    expected.sum().backward()
    loss, grad = lossk.kl_div(x, target, log_target=log_target, reduction=reduction, return_grad=True)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss, expected.detach().numpy(), **tol)
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tol)


def test_bad_input():
    x, t = np.zeros((3, 2)), np.zeros((3, 2))
    with pytest.raises(ValueError, match="reduction must be one of .*batchmean"):
        lossk.kl_div(x, t, reduction="batch_mean")
    with pytest.raises(TypeError, match="log_target must be a bool"):
        lossk.kl_div(x, t, log_target="yes")
    with pytest.raises(ValueError, match="target must have the shape of log_input"):
        lossk.kl_div(x, t[:, :1])
