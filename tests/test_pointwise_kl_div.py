"""kl_div (csrc/pointwise/kl_div.c): kernel vs reference, gradient vs finite differences,
vs torch, the reductions ("mean" over all elements, "batchmean"), log_target,
and torch's conventions at 0 and non-finite values. Layouts, threads and buffers:
test_pointwise_driver.py."""
import warnings

import numpy as np
import pytest

import lossk
from helpers import (F, assert_close, assert_gradient_matches_finite_differences, requires_torch,
                     to_torch, torch)

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
    with pytest.raises(ValueError, match=r"target must have the shape of log_input \(3, 2\) or broadcast with it, "
                                         r"got \(3, 3\)"):
        lossk.kl_div(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2,\)"):   # log_input's shape
        lossk.kl_div(np.zeros(2), np.zeros((3, 2)), return_grad=True, grad_out=np.zeros((3, 2)))


# (log_input shape, target shape): torch broadcasts either way
BROADCASTS = [((4, 3), (3,)), ((4, 3), (4, 1)), ((3,), (4, 3)), ((4, 1), (1, 3)), ((2, 1, 3), (5, 1)),
              ((), (4,)), ((4,), ())]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape,tshape", BROADCASTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_broadcasting_matches_reference(dtype, xshape, tshape, reduction):
    rng = np.random.default_rng(len(xshape) + 3 * len(tshape))
    x = np.log(rng.uniform(0.05, 1.0, xshape)).astype(dtype)
    t = rng.uniform(0.0, 1.0, tshape).astype(dtype)
    loss, grad = lossk.kl_div(x, t, reduction=reduction, return_grad=True)
    loss_ref, grad_ref = lossk.reference.kl_div(x, t, reduction=reduction, return_grad=True)
    assert np.shape(loss) == np.broadcast_shapes(xshape, tshape) if reduction == "none" else np.ndim(loss) == 0
    assert grad.shape == xshape and grad.dtype == dtype
    assert_close(loss, loss_ref, dtype)
    assert_close(grad, grad_ref, dtype)
    # the expanded log_input's gradient is the sum of its copies' gradients
    full = np.broadcast_to(x, np.broadcast_shapes(xshape, tshape))
    _, grad_full = lossk.reference.kl_div(full, np.broadcast_to(t, full.shape), reduction="sum", return_grad=True)
    lead = grad_full.ndim - len(xshape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(xshape) if n == 1 and full.shape[lead + i] != 1)
    _, grad_sum = lossk.reference.kl_div(x, t, reduction="sum", return_grad=True)
    assert_close(grad_sum, grad_full.sum(axis=axes, dtype=np.float64).reshape(xshape), dtype)


def test_broadcast_input_gradient_goes_to_grad_out_and_in_place():
    rng = np.random.default_rng(12)
    x = np.log(rng.uniform(0.05, 1.0, (1, 5)))
    t = rng.uniform(0.0, 1.0, (6, 5))
    loss, grad = lossk.kl_div(x, t, reduction="batchmean", return_grad=True)
    out = np.zeros_like(x)
    loss2, g2 = lossk.kl_div(x, t, reduction="batchmean", return_grad=True, grad_out=out)
    assert g2 is out and np.array_equal(out, grad) and loss2 == loss
    xi = x.copy()
    loss3, g3 = lossk.kl_div(xi, t, reduction="batchmean", return_grad=True, grad_out=xi)
    assert g3 is xi and np.array_equal(xi, grad) and loss3 == loss
    np.testing.assert_allclose(grad, -t.sum(axis=0, keepdims=True) / 1, rtol=1e-14)   # batchmean: / log_input.shape[0] = 1


@requires_torch
@pytest.mark.parametrize("xshape,tshape", BROADCASTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_target", (False, True))
def test_broadcasting_vs_torch(xshape, tshape, reduction, log_target):
    rng = np.random.default_rng(13)
    x = np.log(rng.uniform(0.05, 1.0, xshape))
    t = rng.uniform(0.0, 1.0, tshape)
    target = np.log(t) if log_target else t
    xt = torch.tensor(x, requires_grad=True)   # 0-d stays 0-d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = F.kl_div(xt, torch.tensor(target), reduction=reduction, log_target=log_target)
    expected.sum().backward()
    loss, grad = lossk.kl_div(x, target, log_target=log_target, reduction=reduction, return_grad=True)
    assert np.shape(loss) == tuple(expected.shape) and grad.shape == tuple(xt.grad.shape)
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
