"""The regression losses of the pointwise family (mse, l1, huber, smooth L1, RMSE,
log-cosh, quantile): kernel vs reference over dtypes, reductions and broadcast
targets, bitwise thread counts, finite differences, torch (values and autograd
gradients, at the kinks too), numerical edges and bad options."""
import numpy as np
import pytest

import lossk
from helpers import assert_close, finite_difference_grad

REGRESSION = [n for n in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "rmse_loss",
                          "log_cosh_loss", "quantile_loss") if n in lossk.LOSSES]
# options besides the defaults that each loss is run with
OPTIONS = {
    "huber_loss": [{}, dict(delta=0.7), dict(delta=3.0)],
    "smooth_l1_loss": [{}, dict(beta=0.5), dict(beta=0.0)],
    "quantile_loss": [{}, dict(q=0.1), dict(q=0.9), dict(q=0.0), dict(q=1.0)],
}
DTYPES = (np.float32, np.float64)


def reductions(name):
    return lossk._registry.SPECS[name].reductions


def targets(rng, shape, dtype):
    """A full, per-column, per-row and scalar target for a (N, C) prediction."""
    n, c = shape
    return {"full": rng.standard_normal(shape).astype(dtype),
            "column": rng.standard_normal(c).astype(dtype),
            "row": rng.standard_normal((n, 1)).astype(dtype),
            "scalar": dtype(0.25)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", REGRESSION)
def test_kernel_equals_reference_for_every_target_layout(name, dtype):
    rng = np.random.default_rng(0)
    fn, ref = getattr(lossk, name), getattr(lossk.reference, name)
    # 3000 x 37: chunks of 1024 cut rows and periods of 37 everywhere
    x = (2 * rng.standard_normal((3000, 37))).astype(dtype)
    for kind, t in targets(rng, x.shape, dtype).items():
        for kw in OPTIONS.get(name, [{}]):
            for reduction in reductions(name):
                loss, grad = fn(x, t, reduction=reduction, return_grad=True, **kw)
                ref_loss, ref_grad = ref(x, t, reduction=reduction, return_grad=True, **kw)
                assert np.asarray(loss).dtype == grad.dtype == dtype, (kind, kw, reduction)
                assert np.shape(loss) == (x.shape if reduction == "none" else ())
                assert_close(loss, ref_loss, dtype)
                assert_close(grad, ref_grad, dtype)
                # the broadcast target gives the numbers of the expanded one, bit for bit
                full = np.ascontiguousarray(np.broadcast_to(t, x.shape))
                loss_f, grad_f = fn(x, full, reduction=reduction, return_grad=True, **kw)
                assert np.asarray(loss).tobytes() == np.asarray(loss_f).tobytes(), (kind, kw, reduction)
                assert grad.tobytes() == grad_f.tobytes()
                assert_close(fn(x, t, reduction=reduction, **kw), loss, dtype, rtol=0, atol=0)


@pytest.mark.parametrize("name", REGRESSION)
def test_bits_are_the_same_for_every_thread_count(name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5000, 61)).astype(np.float32)      # 19 blocks
    for t in targets(rng, x.shape, np.float32).values():
        for kw in OPTIONS.get(name, [{}])[:2]:
            results = [fn_result for fn_result in
                       (getattr(lossk, name)(x, t, return_grad=True, n_threads=k, **kw) for k in (1, 2, 3, 7))]
            for loss, grad in results[1:]:
                assert np.asarray(loss).tobytes() == np.asarray(results[0][0]).tobytes()
                assert grad.tobytes() == results[0][1].tobytes()


@pytest.mark.parametrize("name", REGRESSION)
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 5))
    t = rng.standard_normal(5)
    ref = getattr(lossk.reference, name)
    for kw in OPTIONS.get(name, [{}]):
        for reduction in reductions(name):
            if reduction == "none":
                continue
            _, grad = getattr(lossk, name)(x, t, reduction=reduction, return_grad=True, **kw)
            fd = finite_difference_grad(lambda z: ref(z, t, reduction=reduction, **kw), x)
            np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def _kinks(dtype, at):
    """Predictions whose errors against target 0.5 sit exactly at -at, 0 and at,
    and random elsewhere."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 8))
    x[0, :3] = 0.5 - at, 0.5, 0.5 + at
    x[1, :3] = 0.5, 0.5, 0.5
    return x.astype(dtype), dtype(0.5)


TORCH_KINK = {"mse_loss": ({}, 1.0), "l1_loss": ({}, 1.0), "huber_loss": (dict(delta=0.75), 0.75),
              "smooth_l1_loss": (dict(beta=0.5), 0.5)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [n for n in TORCH_KINK if n in lossk.LOSSES])
def test_torch_values_and_autograd_gradients_including_the_kinks(name, dtype):
    torch = pytest.importorskip("torch")
    kw, at = TORCH_KINK[name]
    x, t = _kinks(dtype, at)
    cases = [(x, t, kw), (x, np.full(x.shape, t, dtype), kw)]
    if name == "smooth_l1_loss":
        cases.append((x, t, dict(beta=0.0)))        # beta = 0 is L1
    for xa, ta, kwa in cases:
        for reduction in ("mean", "sum", "none"):
            loss, grad = getattr(lossk, name)(xa, ta, reduction=reduction, return_grad=True, **kwa)
            xt = torch.from_numpy(xa.copy()).requires_grad_()
            tt = torch.as_tensor(np.asarray(ta))
            peer = getattr(torch.nn.functional, name)(xt, tt.expand_as(xt), reduction=reduction, **kwa)
            peer.sum().backward()
            assert_close(loss, peer.detach().numpy(), dtype)
            assert_close(grad, xt.grad.numpy(), dtype)
    # the kinks themselves: l1 and smooth L1 have gradient 0 at e = 0
    _, g = getattr(lossk, name)(x, t, reduction="sum", return_grad=True, **kw)
    assert g[1, 0] == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_quantile_gradient_at_zero_error_is_one_half_minus_q(dtype):
    if "quantile_loss" not in lossk.LOSSES:
        pytest.skip("quantile_loss not yet")
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, -1.0, 2.0], dtype)
    t = np.array([0.0, 1.0, 0.0, 0.0], dtype)
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        loss, g = lossk.quantile_loss(x, t, q=q, reduction="sum", return_grad=True)
        assert g[0] == g[1]
        assert_close(g, [0.5 - q, 0.5 - q, -q, 1 - q], dtype)   # e = t - x = 0, 0, 1, -2
        xt = torch.from_numpy(x.copy()).requires_grad_()
        e = torch.from_numpy(t) - xt
        peer = torch.maximum(q * e, (q - 1) * e).sum()
        peer.backward()
        assert_close(loss, peer.detach().numpy(), dtype)
        assert_close(g, xt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_cosh_is_finite_for_huge_errors_with_exact_limits(dtype):
    if "log_cosh_loss" not in lossk.LOSSES:
        pytest.skip("log_cosh_loss not yet")
    x = np.array([1e4, -1e4, 1e5, -3e7, 0.0, np.inf, -np.inf, 1e-3], dtype)
    loss, g = lossk.log_cosh_loss(x, dtype(0), reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss[:5])) and np.all(np.isfinite(g))
    assert_close(loss[:4], np.abs(x[:4].astype(np.float64)) - np.log(2.0), dtype)
    assert list(g[:4]) == [1, -1, 1, -1] and g[4] == 0 and loss[4] == 0
    assert loss[5] == loss[6] == np.inf and g[5] == 1 and g[6] == -1
    assert_close(loss[7], np.log(np.cosh(1e-3)), dtype)
    assert_close(g[7], np.tanh(np.float64(x[7])), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmse_gradient_is_zero_when_every_error_is_zero_and_nan_for_nothing(dtype):
    if "rmse_loss" not in lossk.LOSSES:
        pytest.skip("rmse_loss not yet")
    x = np.arange(12, dtype=dtype).reshape(3, 4)
    loss, g = lossk.rmse_loss(x, x.copy(), return_grad=True)
    assert loss == 0 and not np.any(g) and not np.isnan(g).any()
    loss, g = lossk.rmse_loss(np.zeros((0, 4), dtype), np.zeros(4, dtype), return_grad=True)
    assert np.isnan(loss) and g.shape == (0, 4)
    rng = np.random.default_rng(4)
    y = rng.standard_normal((50, 7)).astype(dtype)
    assert_close(lossk.rmse_loss(y, dtype(0.5)), np.sqrt(np.mean((y.astype(np.float64) - 0.5) ** 2)), dtype)
    for reduction in ("sum", "none"):
        with pytest.raises(ValueError, match="reduction"):
            lossk.rmse_loss(y, y, reduction=reduction)


BAD_OPTIONS = [("huber_loss", "delta", (0.0, -1.0, np.nan)),
               ("smooth_l1_loss", "beta", (-1.0, -1e-300, np.nan)),
               ("quantile_loss", "q", (-0.1, 1.1, np.nan))]


@pytest.mark.parametrize("name,option,values", [b for b in BAD_OPTIONS if b[0] in lossk.LOSSES])
def test_options_out_of_range_raise_naming_the_option(name, option, values):
    x = np.zeros((3, 2))
    for backend in ("c", "numpy"):
        for v in values:
            with pytest.raises(ValueError, match=option):
                getattr(lossk, name)(x, x, backend=backend, **{option: v})


@pytest.mark.parametrize("name", REGRESSION)
def test_bad_inputs_raise_naming_the_argument(name):
    fn = getattr(lossk, name)
    x = np.zeros((4, 3))
    with pytest.raises(TypeError, match="pred"):
        fn(np.zeros((4, 3), np.int64), x)
    with pytest.raises(TypeError, match="target"):
        fn(x, x.astype(np.complex128))
    with pytest.raises(ValueError, match="target"):
        fn(x, np.zeros(4))                       # (4,) does not broadcast to (4, 3)
    with pytest.raises(ValueError, match="target"):
        fn(x, np.zeros((2, 4, 3)))               # the target may not broadcast pred
    with pytest.raises(ValueError, match="overlaps target"):
        fn(x, x, return_grad=True, grad_out=x[...])


def test_the_family_entry_rejects_unknown_names_and_bad_options():
    """lossk_pointwise through the bridge: a name it does not know, an option out of
    range (C checks it again for C callers) and a reduction rmse lacks all raise."""
    from lossk import _kernels
    x = np.zeros(8)
    t = (x, 1, 8)
    for name, params, reduction in ((b"no_such_loss", (), 1), (b"huber_loss", (0.0,), 1),
                                    (b"quantile_loss", (1.5,), 1), (b"smooth_l1_loss", (-1.0,), 1),
                                    (b"rmse_loss", (), 2), (b"mse_loss", (), 7)):
        with pytest.raises(ValueError, match="lossk"):
            _kernels.pointwise(name, x, t, None, None, params, -1, reduction, None, None, None, 1)
    with pytest.raises(ValueError, match="dtype"):
        _kernels.pointwise(b"mse_loss", x, (x.astype(np.float32), 1, 8), None, None, (), -1, 1,
                           None, None, None, 1)
    assert _kernels.pointwise(b"mse_loss", x + 2, t, None, None, (), -1, 1, None, None, None, 1) == 4.0
