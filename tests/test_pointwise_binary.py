"""The binary classification losses of csrc/pointwise/binary.c: sigmoid_focal_loss,
binary_cross_entropy, binary_cross_entropy_with_logits, hinge_loss. Kernel vs
reference over the options, gradient vs finite differences, vs torch (the
torchvision focal formula written in torch ops), saturated and infinite
logits, bad options. Layouts, threads and buffers: test_pointwise_driver.py."""
import numpy as np
import pytest

import lossk
from helpers import (F, assert_close, assert_gradient_matches_finite_differences, requires_torch,
                     run_python, to_torch, torch)

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("mean", "sum", "none")
GAMMAS = (0.0, 0.5, 1.0, 2.0, 2.5, 5.0, 17.0)   # 0..16 integers: multiplication kernel; others: exp/log
ALPHAS = (0.25, -1.0, 0.0, 1.0)


def check(name, x, t, dtype=None, **kw):
    """Kernel vs reference, loss and gradient, at the SPEC tolerance of the dtype."""
    loss, grad = getattr(lossk, name)(x, t, return_grad=True, **kw)
    loss_ref, grad_ref = getattr(lossk.reference, name)(x, t, return_grad=True, **kw)
    assert_close(loss, loss_ref, grad.dtype)
    assert_close(grad, grad_ref, grad.dtype)
    return loss, grad


def rounded(a, dtype):
    """a rounded to dtype, back in float64: the exact input the kernel sees."""
    return np.asarray(a, dtype).astype(np.float64)


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def torch_reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def compare_with_torch(name, torch_loss, x, t, dtype, reduction, **kw):
    """lossk in `dtype` vs torch in float64 on the same (rounded) inputs."""
    xt = to_torch(rounded(x, dtype), requires_grad=True)
    expected = torch_loss(xt, to_torch(rounded(t, dtype)))
    expected.sum().backward()
    loss, grad = getattr(lossk, name)(np.asarray(x, dtype), np.asarray(t, dtype), reduction=reduction,
                                      return_grad=True, **kw)
    np.testing.assert_allclose(loss, expected.detach().numpy(), **tolerance(dtype))
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tolerance(dtype))


# ---- sigmoid focal loss ---------------------------------------------------------------

def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (torchvision has no CPU wheel in the registry)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return torch_reduce(loss, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", GAMMAS)
def test_focal_matches_reference(dtype, gamma):
    rng = np.random.default_rng(int(gamma * 10))
    x = (3.0 * rng.standard_normal((37, 11))).astype(dtype)
    hard = (rng.random((37, 11)) < 0.2).astype(dtype)
    soft = rng.random((37, 11)).astype(dtype)
    for alpha in ALPHAS:
        for reduction in REDUCTIONS:
            check("sigmoid_focal_loss", x, hard, alpha=alpha, gamma=gamma, reduction=reduction)
        check("sigmoid_focal_loss", x, soft, alpha=alpha, gamma=gamma)


SATURATED = [-np.inf, -1e4, -745.0, -710.0, -100.0, -89.0, -88.0, -87.0, -30.0, -17.0, -5.0, -1e-3, 0.0,
             1e-3, 5.0, 17.0, 30.0, 87.0, 88.0, 89.0, 100.0, 710.0, 745.0, 1e4, np.inf]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", (0.0, 0.5, 1.0, 2.0, 5.0, 0.25, 0.999, 1.5, 16.0, 20.0))
def test_focal_finite_at_saturated_logits(dtype, gamma):
    """Peers ship NaN gradients for gamma < 1 at saturated logits ((1 - p_t)^(gamma-1) = inf, times 0)."""
    x = np.array(SATURATED * 2, dtype)
    t = np.repeat(np.array([0.0, 1.0], dtype), len(SATURATED))
    losses, grad = lossk.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none", return_grad=True)
    assert np.all(np.isfinite(grad)), grad
    finite = np.isfinite(x)
    assert np.all(np.isfinite(losses[finite]))
    # at +-inf: 0 on the right side, inf on the wrong side
    right = np.sign(x) == 2 * t - 1
    assert np.all(losses[~finite & right] == 0) and np.all(losses[~finite & ~right] == np.inf)
    losses_ref, grad_ref = lossk.reference.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none",
                                                              return_grad=True)
    assert_close(losses, losses_ref)
    assert_close(grad, grad_ref)
    # on the wrong side the gradient tends to -+alpha_t, on the right side to 0
    far = np.abs(x) >= 100
    np.testing.assert_array_equal(grad[np.isinf(x) & right], 0)
    assert np.all(np.abs(grad[far & right]) < 1e-40)
    expected = np.where(t == 1, -0.25, 0.75)
    np.testing.assert_allclose(grad[far & ~right], expected[far & ~right], rtol=1e-6)


@pytest.mark.parametrize("gamma", (0.0, 1.0, 2.0, 3.0))
def test_focal_saturated_finite_logits_without_infinities(gamma):
    """Finite logits beyond exp's range (|x| > 87 in float32), with no inf in the chunk
    to send it all to the scalar code: the gradient on the right side still vanishes."""
    x = np.array([100.0, 200.0, 1e4, -100.0, -300.0, -1e4] * 40, np.float32)
    t = (x > 0).astype(np.float32)
    losses, grad = lossk.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none", return_grad=True)
    assert np.all(np.abs(grad) < 1e-40) and np.all(losses < 1e-40)
    wrong = 1 - t
    losses, grad = lossk.sigmoid_focal_loss(x, wrong, gamma=gamma, reduction="none", return_grad=True)
    np.testing.assert_allclose(grad, np.where(wrong == 1, -0.25, 0.75), rtol=1e-6)
    assert_close(losses, lossk.reference.sigmoid_focal_loss(x, wrong, gamma=gamma, reduction="none"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", (0.0, 0.5, 2.0, 2.5, 5.0))
def test_focal_small_soft_targets_keep_their_relative_accuracy(dtype, gamma):
    """For x < 0 the focal formulas use v = t itself: 1 - (1 - t) lost t's low bits
    (float32, t = 1e-4: 4e-4 of the loss, hidden by atol when the loss is small).
    |x| > 87 takes the scalar code on every SIMD level, the others the vector kernel."""
    x = np.array([-90.0, -200.0, -1e4, -30.0, -11.0, -3.0] * 6, dtype)
    t = np.repeat(np.array([1.3e-4, 1.0001e-4, 3.7e-6, 2e-3, 0.013, 7.7e-8], dtype), 6)
    losses, grad = lossk.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none", return_grad=True)
    losses_ref, grad_ref = lossk.reference.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none",
                                                              return_grad=True)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert np.all(losses_ref > 0)
    np.testing.assert_allclose(losses, losses_ref, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, grad_ref, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_focal_huge_gamma_kernels_meet(dtype):
    """Non-integer gamma up to 1e30 takes the vector kernel (float32, AVX-512), beyond it
    the scalar one: they meet, finite. log m comes from log(u) - log1p(e), so an easy
    0/1 target (m rounds to 1) still gets m^gamma = 0 and a zero gradient."""
    rng = np.random.default_rng(3)
    x = np.concatenate([np.linspace(-100, 100, 201), 3 * rng.standard_normal(2000)]).astype(dtype)
    t = rng.random(x.size).astype(dtype)
    t[:1000] = np.round(t[:1000])
    a = lossk.sigmoid_focal_loss(x, t, gamma=1e30, reduction="none", return_grad=True)
    b = lossk.sigmoid_focal_loss(x, t, gamma=1.0000001e30, reduction="none", return_grad=True)
    for u, v in zip(a, b):   # the gammas differ by 1e-7: so may m^gamma, relatively
        assert np.all(np.isfinite(u)) and np.all(np.isfinite(v))
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    c = lossk.sigmoid_focal_loss(x.astype(np.float64), t.astype(np.float64), gamma=1e30, reduction="none",
                                 return_grad=True)
    for u, v in zip(a, c):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    easy = (t[:201] == (x[:201] > 0)) & (np.abs(x[:201]) >= 16)
    assert easy.sum() > 50
    np.testing.assert_array_equal(a[1][:201][easy], 0)


@pytest.mark.parametrize("gamma", (0.0, 0.5, 2.0, 2.5))
@pytest.mark.parametrize("alpha", (0.25, -1.0))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_gradient_vs_finite_differences(gamma, alpha, reduction):
    rng = np.random.default_rng(1)
    x = 2.0 * rng.standard_normal((5, 4))
    t = (rng.random((5, 4)) < 0.5).astype(np.float64)
    t[0, :2] = [0.3, 0.8]   # soft labels follow the same formula
    assert_gradient_matches_finite_differences("sigmoid_focal_loss", (x, t), reduction, alpha=alpha,
                                               gamma=gamma)


def test_focal_kernels_agree_across_integer_gamma():
    """Integer gamma (multiplications) and the exp/log kernel meet continuously."""
    rng = np.random.default_rng(2)
    x = 4.0 * rng.standard_normal(3000)
    t = (rng.random(3000) < 0.4).astype(np.float64)
    for gamma in (1.0, 2.0, 5.0):
        a = lossk.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none", return_grad=True)
        b = lossk.sigmoid_focal_loss(x, t, gamma=gamma * (1 + 1e-12), reduction="none", return_grad=True)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_focal_non_finite_targets_match_reference(dtype):
    """Targets of +-inf or NaN give the reference's NaN/inf on every kernel (gamma = 2,
    other integers, any gamma) with alpha on or off; with gamma = 0 no NaN comes from
    m, so alpha_t itself must be NaN for an infinite target, as torchvision's."""
    x = np.array([-3.0, -0.5, 0.0, 0.7, 4.0, 2.0, -2.0, 1.0], dtype)
    t = np.array([np.inf, -np.inf, np.inf, -np.inf, np.nan, 0.0, 1.0, 0.3], dtype)
    for gamma in (0.0, 0.5, 1.0, 2.0, 3.0, 7.5):
        for alpha in (0.25, -1.0, 0.0, 1.0, 0.5):
            got = lossk.sigmoid_focal_loss(x, t, gamma=gamma, alpha=alpha, reduction="none", return_grad=True)
            ref = lossk.reference.sigmoid_focal_loss(x, t, gamma=gamma, alpha=alpha, reduction="none",
                                                     return_grad=True)
            assert_close(got[0], ref[0], dtype)
            assert_close(got[1], ref[1], dtype)


def test_focal_special_cases():
    rng = np.random.default_rng(3)
    x = 2.0 * rng.standard_normal((50, 3))
    t = (rng.random((50, 3)) < 0.5).astype(np.float64)
    # gamma = 0, no alpha: plain binary cross-entropy with logits
    a = lossk.sigmoid_focal_loss(x, t, alpha=-1, gamma=0, return_grad=True)
    b = lossk.binary_cross_entropy_with_logits(x, t, return_grad=True)
    assert_close(a[0], b[0])
    assert_close(a[1], b[1])
    # alpha = 0 keeps the negatives only, alpha = 1 the positives only
    neg = lossk.sigmoid_focal_loss(x, t, alpha=0.0, reduction="none")
    pos = lossk.sigmoid_focal_loss(x, t, alpha=1.0, reduction="none")
    assert np.all(neg[t == 1] == 0) and np.all(pos[t == 0] == 0)
    both = lossk.sigmoid_focal_loss(x, t, alpha=-1.0, reduction="none")
    assert_close(neg + pos, both)
    # NaN propagates, it is not an error
    losses, grad = lossk.sigmoid_focal_loss(np.array([np.nan, 1.0]), np.array([1.0, np.nan]),
                                            reduction="none", return_grad=True)
    assert np.all(np.isnan(losses)) and np.all(np.isnan(grad))


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", (0.0, 0.5, 1.0, 2.0, 2.5, 5.0))
@pytest.mark.parametrize("alpha", (0.25, -1.0, 0.0, 1.0))
def test_focal_vs_torchvision(dtype, gamma, alpha):
    rng = np.random.default_rng(4)
    x = 3.0 * rng.standard_normal((64, 9))
    t = (rng.random((64, 9)) < 0.3).astype(np.float64)
    for reduction in REDUCTIONS:
        compare_with_torch("sigmoid_focal_loss",
                           lambda a, b: torchvision_sigmoid_focal_loss(a, b, alpha, gamma, reduction),
                           x, t, dtype, reduction, alpha=alpha, gamma=gamma)


def test_focal_bad_options():
    x, t = np.zeros((3, 2)), np.zeros((3, 2))
    for alpha in (1.5, 1.0000001):
        with pytest.raises(ValueError, match="alpha must be in \\[0, 1\\], or negative"):
            lossk.sigmoid_focal_loss(x, t, alpha=alpha)
    for alpha in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="alpha"):
            lossk.sigmoid_focal_loss(x, t, alpha=alpha)
    with pytest.raises(TypeError, match="alpha"):
        lossk.sigmoid_focal_loss(x, t, alpha=None)
    with pytest.raises(ValueError, match="gamma must be in \\[0.0, None\\]"):
        lossk.sigmoid_focal_loss(x, t, gamma=-0.5)
    for gamma in (np.nan, np.inf):
        with pytest.raises(ValueError, match="gamma"):
            lossk.sigmoid_focal_loss(x, t, gamma=gamma)
    with pytest.raises(TypeError, match="gamma"):
        lossk.sigmoid_focal_loss(x, t, gamma=[2.0])
    with pytest.raises(ValueError, match="gamma"):
        lossk.reference.sigmoid_focal_loss(x, t, gamma=-1)


# ---- binary cross-entropy on probabilities ----------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_reference(dtype, reduction):
    rng = np.random.default_rng(5)
    p = rng.random((41, 7)).astype(dtype)
    p[0] = [0.0, 1.0, 1e-30, 1e-8, 1 - 1e-7, 0.5, 1e-45]   # clamps and saturation
    t = (rng.random((41, 7)) < 0.5).astype(dtype)
    t[1] = rng.random(7)                                    # soft labels
    for weight in (None, rng.random(7), rng.random((41, 1)), 2.5, rng.random((41, 7))):
        check("binary_cross_entropy", p, t, weight=weight, reduction=reduction)


def test_bce_clamps_like_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    losses, grad = lossk.binary_cross_entropy(p, t, reduction="none", return_grad=True)
    np.testing.assert_array_equal(losses, [100.0, 100.0, 0.0, 0.0, 100.0])
    # torch's backward formula (p - t) / max(p (1 - p), float32(1e-12)), not the clamped loss's derivative
    eps = np.float64(np.float32(1e-12))
    np.testing.assert_allclose(grad, [-1 / eps, 1 / eps, 0.0, 0.0, -1 / eps], rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_gradient_vs_finite_differences(reduction):
    rng = np.random.default_rng(6)
    p = rng.uniform(0.05, 0.95, (5, 4))
    t = rng.random((5, 4))
    assert_gradient_matches_finite_differences("binary_cross_entropy", (p, t), reduction,
                                               weight=rng.uniform(0.5, 2, 4))


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_vs_torch(dtype, reduction):
    rng = np.random.default_rng(7)
    p = rng.random((64, 9))
    p[0, :6] = [0.0, 1.0, 1e-30, 1e-13, 1.0 - 1e-7, 0.5]
    t = (rng.random((64, 9)) < 0.5).astype(np.float64)
    t[1] = rng.random(9)
    for weight in (None, rng.random(9), rng.random((64, 1)), rng.random((64, 9))):
        w = None if weight is None else rounded(weight, dtype)
        compare_with_torch("binary_cross_entropy",
                           lambda a, b: F.binary_cross_entropy(a, b, weight=None if w is None else to_torch(w),
                                                               reduction=reduction),
                           p, t, dtype, reduction, weight=weight)


def test_bce_domain_errors():
    p = np.full((3, 4), 0.5)
    t = np.zeros((3, 4))
    for bad in (1.5, -0.1, np.inf, -np.inf):
        q = p.copy()
        q[1, 2] = bad
        for fn in (lossk.binary_cross_entropy, lossk.reference.binary_cross_entropy):
            with pytest.raises(ValueError, match=f"probs\\[1, 2\\] = {bad} is not a probability in \\[0, 1\\]"):
                fn(q, t)
    for bad in (2.0, -1.0):
        u = t.copy()
        u[2, 0] = bad
        for fn in (lossk.binary_cross_entropy, lossk.reference.binary_cross_entropy):
            with pytest.raises(ValueError, match=f"target\\[2, 0\\] = {bad} is not in \\[0, 1\\]"):
                fn(p, u)
    # NaN is not an error: it propagates
    q = p.copy()
    q[0, 0] = np.nan
    losses, grad = lossk.binary_cross_entropy(q, t, reduction="none", return_grad=True)
    assert np.isnan(losses[0, 0]) and np.isnan(grad[0, 0]) and np.isfinite(losses[1:]).all()


@pytest.mark.parametrize("offset", (0, 1, 9))
def test_bce_float32_domain_errors_inside_vector_chunks(offset):
    """Every value outside [0, 1] is reported, wherever it falls in a chunk of the vector
    kernel; -0, NaN and the edges 0 and 1 are not errors."""
    rng = np.random.default_rng(9)
    n = 5000
    p, t = rng.random(n).astype(np.float32), rng.random(n).astype(np.float32)
    for pos in (0, 17, 31, 2047, 4999):
        for bad in (1.0000001, -1e-30, -0.5, 2.0, np.inf, -np.inf):
            q = p.copy()
            q[pos] = bad
            with pytest.raises(ValueError, match=f"probs\\[{pos}\\] = "):
                lossk.binary_cross_entropy(shifted(q, offset), shifted(t, offset), return_grad=True)
            u = t.copy()
            u[pos] = bad
            with pytest.raises(ValueError, match=f"target\\[{pos}\\] = "):
                lossk.binary_cross_entropy(shifted(p, offset), shifted(u, offset))
    q, u = p.copy(), t.copy()
    q[[3, 40, 41]] = [-0.0, 0.0, 1.0]
    u[[5, 42]] = [-0.0, np.nan]
    losses = lossk.binary_cross_entropy(shifted(q, offset), shifted(u, offset), reduction="none")
    assert_close(losses, lossk.reference.binary_cross_entropy(q, u, reduction="none"), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_domain_error_reports_the_first_position_for_any_thread_count(dtype):
    # float32 on AVX-512: the check runs only on chunks the vector kernel did not take whole
    rng = np.random.default_rng(8)
    p = rng.uniform(0.1, 0.9, 400_000).astype(dtype)
    t = np.zeros_like(p)
    p[[150_001, 390_000]] = 3.0
    t[200_000] = -2.0
    for n_threads in (1, 2, 3, 8):
        with pytest.raises(ValueError, match="probs\\[150001\\] = 3.0"):
            lossk.binary_cross_entropy(p, t, n_threads=n_threads)
    # in place: every element is checked before any is written, so the error
    # leaves the caller's probabilities as they were (not half gradients)
    for n_threads in (1, 2, 8):
        q = p.copy()
        with pytest.raises(ValueError, match="probs\\[150001\\] = 3.0"):
            lossk.binary_cross_entropy(q, t, return_grad=True, grad_out=q, n_threads=n_threads)
        np.testing.assert_array_equal(q, p)


def test_hinge_in_place_error_leaves_the_scores():
    rng = np.random.default_rng(12)
    s = rng.standard_normal(300_000).astype(np.float32)
    y = np.where(rng.random(300_000) < 0.5, 1.0, -1.0).astype(np.float32)
    y[250_000] = 0.5
    for n_threads in (1, 2):
        s_in = s.copy()
        with pytest.raises(ValueError, match="target\\[250000\\] = 0.5 is not a label"):
            lossk.hinge_loss(s_in, y, return_grad=True, grad_out=s_in, n_threads=n_threads)
        np.testing.assert_array_equal(s_in, s)
    # valid labels: the in-place call still writes the gradient over the scores
    y[250_000] = 1.0
    s_in = s.copy()
    loss, g = lossk.hinge_loss(s_in, y, return_grad=True, grad_out=s_in)
    assert g is s_in
    assert_close(g, lossk.reference.hinge_loss(s, y, return_grad=True)[1])


# ---- binary cross-entropy on logits ------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_reference(dtype, reduction):
    rng = np.random.default_rng(9)
    x = (4.0 * rng.standard_normal((41, 7))).astype(dtype)
    t = (rng.random((41, 7)) < 0.5).astype(dtype)
    t[1] = rng.random(7)
    for weight in (None, rng.random(7), rng.random((41, 1))):
        for pos_weight in (None, rng.uniform(0, 4, 7), 3.0, rng.uniform(0, 4, (41, 1))):
            check("binary_cross_entropy_with_logits", x, t, weight=weight, pos_weight=pos_weight,
                  reduction=reduction)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_stable_for_any_logit(dtype):
    x = np.array(SATURATED * 2, dtype)
    t = np.repeat(np.array([0.0, 1.0], dtype), len(SATURATED))
    pw = np.array(2.0, dtype)
    losses, grad = lossk.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none",
                                                          return_grad=True)
    assert np.all(np.isfinite(grad))
    finite = np.isfinite(x)
    right = np.sign(x) == 2 * t - 1
    assert np.all(np.isfinite(losses[finite]))
    assert np.all(losses[~finite & right] == 0) and np.all(losses[~finite & ~right] == np.inf)
    # far on the wrong side the loss is |x| (times pos_weight for positives), exactly
    far = finite & ~right & (np.abs(x) >= 100)
    np.testing.assert_array_equal(losses[far], np.abs(x[far]) * np.where(t[far] == 1, 2, 1))
    np.testing.assert_array_equal(grad[np.isinf(x) & right], 0)
    np.testing.assert_array_equal(grad[np.isinf(x) & ~right], np.where(t == 1, -2.0, 1.0)[np.isinf(x) & ~right])
    ref = lossk.reference.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none",
                                                           return_grad=True)
    assert_close(losses, ref[0])
    assert_close(grad, ref[1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_gradient_vs_finite_differences(reduction):
    rng = np.random.default_rng(10)
    x = 2.0 * rng.standard_normal((5, 4))
    t = rng.random((5, 4))
    assert_gradient_matches_finite_differences("binary_cross_entropy_with_logits", (x, t), reduction,
                                               weight=rng.uniform(0.5, 2, (5, 1)), pos_weight=rng.uniform(0.5, 3, 4))


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_vs_torch(dtype, reduction):
    rng = np.random.default_rng(11)
    x = 5.0 * rng.standard_normal((64, 9))
    x[0, :4] = [-100.0, 100.0, -1e4, 1e4]
    t = (rng.random((64, 9)) < 0.5).astype(np.float64)
    t[1] = rng.random(9)
    cases = [(None, None), (rng.random(9), None), (None, rng.uniform(0, 4, 9)),
             (rng.random((64, 1)), rng.uniform(0, 4, 9)), (None, rng.uniform(0, 4, (64, 1))),
             (rng.random((64, 9)), np.array(2.5))]
    for weight, pos_weight in cases:
        w = None if weight is None else to_torch(rounded(weight, dtype))
        pw = None if pos_weight is None else to_torch(rounded(pos_weight, dtype))
        compare_with_torch("binary_cross_entropy_with_logits",
                           lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=pw,
                                                                           reduction=reduction),
                           x, t, dtype, reduction, weight=weight, pos_weight=pos_weight)


# ---- hinge loss ------------------------------------------------------------------------

def torch_hinge(scores, target, margin, squared, reduction):
    y = torch.where(target > 0, 1.0, -1.0).to(scores.dtype)
    h = F.relu(margin - y * scores)
    return torch_reduce(h * h if squared else h, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", (False, True))
@pytest.mark.parametrize("margin", (1.0, 0.5, 0.0, -0.5, 3.0))
def test_hinge_matches_reference(dtype, squared, margin):
    rng = np.random.default_rng(12)
    s = (2.0 * rng.standard_normal((41, 7))).astype(dtype)
    pm = np.where(rng.random((41, 7)) < 0.5, -1.0, 1.0).astype(dtype)
    for reduction in REDUCTIONS:
        check("hinge_loss", s, pm, margin=margin, squared=squared, reduction=reduction)
    # 0/1 labels: 0 means -1
    a = lossk.hinge_loss(s, (pm + 1) / 2, margin=margin, squared=squared, reduction="none", return_grad=True)
    b = lossk.hinge_loss(s, pm, margin=margin, squared=squared, reduction="none", return_grad=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # integer labels are accepted
    c = lossk.hinge_loss(s, pm.astype(np.int64), margin=margin, squared=squared, reduction="none")
    np.testing.assert_array_equal(c, b[0])


def test_hinge_values():
    s = np.array([2.0, 0.5, -0.5, 1.0, np.nan])
    y = np.array([1.0, 1.0, 0.0, 1.0, -1.0])
    losses, grad = lossk.hinge_loss(s, y, reduction="none", return_grad=True)
    np.testing.assert_array_equal(losses[:4], [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(grad[:4], [0.0, -1.0, 1.0, 0.0])   # 0 at the kink, as relu
    assert np.isnan(losses[4]) and np.isnan(grad[4])
    losses, grad = lossk.hinge_loss(s, y, squared=True, reduction="none", return_grad=True)
    np.testing.assert_array_equal(losses[:4], [0.0, 0.25, 0.25, 0.0])
    np.testing.assert_array_equal(grad[:4], [0.0, -1.0, 1.0, 0.0])


@pytest.mark.parametrize("squared", (False, True))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_gradient_vs_finite_differences(squared, reduction):
    rng = np.random.default_rng(13)
    s = 2.0 * rng.standard_normal((5, 4))
    y = np.where(rng.random((5, 4)) < 0.5, -1.0, 1.0)
    assert_gradient_matches_finite_differences("hinge_loss", (s, y), reduction, margin=0.7,
                                               squared=squared)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", (False, True))
def test_hinge_vs_torch(dtype, squared):
    rng = np.random.default_rng(14)
    s = 2.0 * rng.standard_normal((64, 9))
    y = np.where(rng.random((64, 9)) < 0.5, -1.0, 1.0)
    for margin in (1.0, 0.3):
        for reduction in REDUCTIONS:
            compare_with_torch("hinge_loss", lambda a, b: torch_hinge(a, b, margin, squared, reduction),
                               s, y, dtype, reduction, margin=margin, squared=squared)


def test_hinge_bad_input():
    s = np.zeros((3, 4))
    y = np.ones((3, 4))
    for bad in (2.0, 0.5, -3.0, np.nan):
        z = y.copy()
        z[2, 1] = bad
        for fn in (lossk.hinge_loss, lossk.reference.hinge_loss):
            with pytest.raises(ValueError, match=f"target\\[2, 1\\] = {bad} is not a label: expected -1 or 1"):
                fn(s, z)
    for margin in (np.nan, np.inf):
        with pytest.raises(ValueError, match="margin"):
            lossk.hinge_loss(s, y, margin=margin)
    with pytest.raises(TypeError, match="margin"):
        lossk.hinge_loss(s, y, margin="wide")
    with pytest.raises(TypeError, match="squared must be a bool"):
        lossk.hinge_loss(s, y, squared=1)


# ---- the AVX-512 float kernels (focal, BCE with logits, BCE) --------------------------------
# On an AVX-512 machine these run lossk__logistic512x2 (BCE: lossk__log512_2) and driver_loop.h's EW_VEC:
# vectors aligned to the output, masked tails, a scalar redo of the elements the vector
# kernel does not take (NaN or inf; for non-integer gamma also targets outside [0, 1]).

def _weighted(n):
    return dict(weight=np.linspace(0.5, 2.0, n, dtype=np.float32),
                pos_weight=np.linspace(0.1, 3.0, n, dtype=np.float32))


# name -> (loss, options, options that depend on the size n)
VEC_CASES = {
    "focal": ("sigmoid_focal_loss", {}, None),
    "focal_alpha_off": ("sigmoid_focal_loss", dict(alpha=-1.0), None),
    "focal_gamma0": ("sigmoid_focal_loss", dict(gamma=0.0), None),
    "focal_gamma1": ("sigmoid_focal_loss", dict(gamma=1.0), None),
    "focal_gamma5": ("sigmoid_focal_loss", dict(gamma=5.0, alpha=0.6), None),
    "focal_gamma16": ("sigmoid_focal_loss", dict(gamma=16.0), None),
    "focal_gamma0.5": ("sigmoid_focal_loss", dict(gamma=0.5), None),
    "focal_gamma2.5_alpha_off": ("sigmoid_focal_loss", dict(gamma=2.5, alpha=-1.0), None),
    "bce_logits": ("binary_cross_entropy_with_logits", {}, None),
    "bce_logits_weighted": ("binary_cross_entropy_with_logits", {}, _weighted),
}


def vec_call(name, x, t, n, module=lossk, **kw):
    """The case `name` through lossk (or module=lossk.reference)."""
    loss, options, sized = VEC_CASES[name]
    return getattr(module, loss)(x, t, **options, **(sized(n) if sized else {}), **kw)


def shifted(a, offset):
    """A copy of a whose data starts `offset` floats after a 64-byte boundary."""
    buf = np.empty(a.size + 32, np.float32)
    start = (-(buf.ctypes.data // 4) % 16) + offset
    out = buf[start:start + a.size].reshape(a.shape)
    out[...] = a
    assert out.ctypes.data % 64 == 4 * offset
    return out


def same_bits_at_offsets(run, arrays, offsets=(0, 1, 4, 9, 15)):
    """run(*copies), the copies of `arrays` starting at each 4-byte offset past a
    64-byte boundary, returns a tuple of results; asserts that every offset gives
    the same bytes and returns the first offset's results."""
    first = None
    for offset in offsets:
        got = run(*(shifted(a, offset) for a in arrays))
        bits = tuple(np.asarray(r).tobytes() for r in got)
        if first is None:
            first, results = bits, got
        assert bits == first, f"offset {offset} changes the results"
    return results


@pytest.mark.parametrize("name", sorted(VEC_CASES))
@pytest.mark.parametrize("n", (1, 15, 31, 32, 33, 1000, 1041, 70003))
def test_vector_kernels_do_not_depend_on_alignment(name, n):
    """Every 4-byte offset of the buffers gives the same bits: each element takes the
    same code (the vector kernel, masked at the ends) wherever the vectors start, and
    the reference's numbers."""
    rng = np.random.default_rng(n)
    x = (6.0 * rng.standard_normal((n, 80) if n < 1000 else n)).astype(np.float32).reshape(-1)
    t = rng.random(x.size).astype(np.float32)
    t[: x.size // 2] = np.round(t[: x.size // 2])
    m = x.size
    loss, grad, losses = same_bits_at_offsets(
        lambda xs, ts, g: (*vec_call(name, xs, ts, m, return_grad=True, grad_out=g),
                           vec_call(name, xs, ts, m, reduction="none")),
        (x, t, np.zeros_like(x)))
    loss_ref, grad_ref = vec_call(name, x, t, m, return_grad=True, module=lossk.reference)
    assert_close(loss, loss_ref, np.float32)
    assert_close(grad, grad_ref, np.float32)
    assert_close(losses, vec_call(name, x, t, m, reduction="none", module=lossk.reference), np.float32)


@pytest.mark.parametrize("name", sorted(VEC_CASES))
def test_vector_kernels_redo_chunks_with_nan_and_inf(name):
    rng = np.random.default_rng(5)
    n = 5000
    x = (3.0 * rng.standard_normal(n)).astype(np.float32)
    t = (rng.random(n) < 0.3).astype(np.float32)
    x[[7, 1500, 1501]] = [np.inf, -np.inf, np.nan]
    t[[2100, 4999]] = [np.nan, np.inf]
    t[[3000, 3001, 3002]] = [1.5, -0.25, -0.0]
    for reduction in ("sum", "none"):
        loss, grad = vec_call(name, x, t, n, reduction=reduction, return_grad=True)
        loss_ref, grad_ref = vec_call(name, x, t, n, reduction=reduction, return_grad=True, module=lossk.reference)
        assert_close(loss, loss_ref, np.float32)
        assert_close(grad, grad_ref, np.float32)
    # the finite elements of such a chunk agree with the same elements in a clean chunk
    clean = np.isfinite(x) & np.isfinite(t)
    loss_clean = vec_call(name, np.where(clean, x, 0).astype(np.float32), np.where(clean, t, 0).astype(np.float32),
                                 n, reduction="none")
    assert_close(loss[clean], loss_clean[clean], np.float32)


@pytest.mark.parametrize("name", sorted(VEC_CASES))
@pytest.mark.parametrize("bad_t", (np.inf, -np.inf, np.nan))
def test_vector_kernels_redo_a_lone_non_finite_target(name, bad_t):
    """One non-finite target in an otherwise clean array, beside each logit where a
    product with it could come out finite (0, -0, tiny, the edge of the vector range):
    focal and BCE with logits find such targets through their loss sums (inf or NaN
    there), not a test per vector, so each must reach the scalar code. Beyond 86.6
    float's scalar exp flushes sigmoid(-|x|) to 0 (and beyond 745 float64's): BCE with
    logits' gradient at an infinite target is still -+inf there, as torch's, not NaN."""
    rng = np.random.default_rng(7)
    n = 3000
    x0 = (3.0 * rng.standard_normal(n)).astype(np.float32)
    t0 = (rng.random(n) < 0.3).astype(np.float32)
    for xv in (0.0, -0.0, 1e-30, -1e-30, 86.0, -86.0, 3.0, -3.0, 86.7, -86.7, 1e4, -1e4):
        for k in (0, 1500, n - 1):
            x, t = x0.copy(), t0.copy()
            x[k], t[k] = xv, bad_t
            for reduction in ("sum", "none"):
                loss, grad = vec_call(name, x, t, n, reduction=reduction, return_grad=True)
                ref = vec_call(name, x, t, n, reduction=reduction, return_grad=True, module=lossk.reference)
                assert_close(loss, ref[0], np.float32)
                assert_close(grad, ref[1], np.float32)
            assert not np.isfinite(vec_call(name, x, t, n, reduction="none")[k])


@pytest.mark.parametrize("name", sorted(VEC_CASES))
def test_vector_kernels_with_nan_and_inf_do_not_depend_on_alignment(name):
    """Only the NaN/inf elements take the scalar code: where the vectors start (the
    output's address) does not change the bits of their finite neighbours."""
    rng = np.random.default_rng(6)
    n = 5000
    x = (3.0 * rng.standard_normal(n)).astype(np.float32)
    t = (rng.random(n) < 0.3).astype(np.float32)
    x[[7, 40, 1500, 1501]] = [np.inf, np.nan, -np.inf, np.nan]
    t[[25, 2100, 4999]] = [np.nan, np.inf, -np.inf]
    t[[60, 3001, 3002]] = [1.5, -0.25, -0.0]
    same_bits_at_offsets(
        lambda xs, ts, g: (*vec_call(name, xs, ts, n, reduction="sum", return_grad=True, grad_out=g),
                           vec_call(name, xs, ts, n, reduction="none")),
        (x, t, np.zeros_like(x)))


def _probabilities(rng, n):
    """Probabilities with the edges the table log must get right: 0, 1, 1/2, subnormal,
    tiny (down to 1e-44) and close to 1 (1 - 1e-1 up to 1 - 2^-24)."""
    p = rng.random(n).astype(np.float32)
    edges = np.concatenate([[0.0, 1.0, 0.5, 2.0**-24, 2.0**-25, 1.4e-45, 1e-40, 1e-12, 1 - 2.0**-24],
                            np.float32(10.0) ** -np.linspace(1, 44, 40), 1 - np.float32(10.0) ** -np.linspace(1, 7, 20)])
    p[rng.choice(n, min(n, edges.size), replace=False)] = edges[: min(n, edges.size)]
    return p


@pytest.mark.parametrize("n", (1, 15, 33, 1041, 70003))
@pytest.mark.parametrize("weighted", (False, True))
def test_bce_vector_kernel_does_not_depend_on_alignment(n, weighted):
    """binary_cross_entropy's AVX-512 kernel: every 4-byte offset gives the same bits,
    and the reference's numbers."""
    rng = np.random.default_rng(n)
    p = _probabilities(rng, n)
    t = rng.random(n).astype(np.float32)
    t[: n // 2] = np.round(t[: n // 2])
    kw = dict(weight=np.linspace(0.5, 2.0, n, dtype=np.float32)) if weighted else {}
    loss, grad, losses = same_bits_at_offsets(
        lambda ps, ts, g: (*lossk.binary_cross_entropy(ps, ts, return_grad=True, grad_out=g, **kw),
                           lossk.binary_cross_entropy(ps, ts, reduction="none", **kw)),
        (p, t, np.zeros_like(p)))
    loss_ref, grad_ref = lossk.reference.binary_cross_entropy(p, t, return_grad=True, **kw)
    assert_close(loss, loss_ref, np.float32)
    assert_close(grad, grad_ref, np.float32)
    assert_close(losses, lossk.reference.binary_cross_entropy(p, t, reduction="none", **kw), np.float32)


def test_bce_vector_kernel_keeps_relative_accuracy_of_small_losses():
    """-log p for p just below 1 and -log(1 - p) for tiny p are tiny losses that SPEC's
    atol would hide: held here to 4 float32 ulp of the float64 value (a table log whose
    entry below 1 was 31/32 put -log p at p = 1 - 6e-7 65536 ulp off)."""
    near_one = 1 - np.float32(10.0) ** -np.linspace(1, 7.2, 4001).astype(np.float32)
    tiny = np.float32(10.0) ** -np.linspace(1, 44, 4001).astype(np.float32)
    p = np.concatenate([near_one, tiny]).astype(np.float32)
    t = np.concatenate([np.ones_like(near_one), np.zeros_like(tiny)]).astype(np.float32)
    losses = lossk.binary_cross_entropy(p, t, reduction="none")
    pd = p.astype(np.float64)
    want = np.where(t == 1, -np.log(pd), -np.log1p(-pd))
    np.testing.assert_allclose(losses, want, rtol=4 * 2.0**-24, atol=0)


def test_bce_vector_kernel_redoes_nan_and_matches_clean_chunks():
    rng = np.random.default_rng(7)
    n = 5000
    p, t = _probabilities(rng, n), rng.random(n).astype(np.float32)
    p[[7, 1500]] = np.nan
    t[[25, 2100]] = np.nan
    ok = np.isfinite(p) & np.isfinite(t)
    losses, grad = same_bits_at_offsets(
        lambda ps, ts: (lossk.binary_cross_entropy(ps, ts, reduction="none"),
                        lossk.binary_cross_entropy(ps, ts, reduction="sum", return_grad=True)[1]),
        (p, t), offsets=(0, 1, 9))
    assert np.isnan(losses[~ok]).all() and np.isnan(grad[~ok]).all()
    clean = lossk.binary_cross_entropy(np.where(ok, p, 0.5).astype(np.float32), np.where(ok, t, 0.5).astype(np.float32),
                                       reduction="none")
    assert np.array_equal(losses[ok], clean[ok])


@pytest.mark.parametrize("level", ("baseline", "avx2"))
def test_lower_simd_levels_of_the_logistic_losses(level, tmp_path):
    """The scalar passes, which AVX-512 machines otherwise skip, against the default one
    (LOSSK_SIMD is read once per process)."""
    code = (
        "import sys, numpy as np, lossk\n"
        "rng = np.random.default_rng(0)\n"
        "x = (5 * rng.standard_normal(4099)).astype(np.float32)\n"
        "t = rng.random(4099).astype(np.float32)\n"
        "x[100] = np.inf\n"
        "res = [lossk.sigmoid_focal_loss(x, t, reduction='none', return_grad=True),\n"
        "       lossk.sigmoid_focal_loss(x, t, gamma=3.0, reduction='none', return_grad=True),\n"
        "       lossk.sigmoid_focal_loss(x, t, gamma=0.5, reduction='none', return_grad=True),\n"
        "       lossk.binary_cross_entropy_with_logits(x, t, reduction='none', return_grad=True),\n"
        "       lossk.binary_cross_entropy(1 / (1 + np.exp(-x)), t, reduction='none', return_grad=True)]\n"
        "np.save(sys.argv[1], np.concatenate([np.concatenate(r) for r in res]))\n"
        "print(lossk.config()['simd_active'])\n")
    out = {}
    for lv in (level, "default"):
        path = str(tmp_path / (lv + ".npy"))
        res = run_python(code.replace("sys.argv[1]", repr(path)), **({"LOSSK_SIMD": lv} if lv != "default" else {}))
        assert res.returncode == 0, res.stderr
        out[lv] = (np.load(path), res.stdout.strip())
    assert out[level][1] == level
    if out["default"][1] == level:
        pytest.skip(f"the default level is {level} here")
    assert_close(out[level][0], out["default"][0], np.float32)
