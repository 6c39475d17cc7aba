"""margin_ranking_loss through the pointwise family entry: torch values and autograd
gradients (at the kink too), both gradients, y's domain, broadcast y, threads."""
import numpy as np
import pytest

import lossk
from helpers import assert_close, finite_difference_grad

DTYPES = (np.float32, np.float64)


def _inputs(dtype, shape=(40, 7), seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal(shape)
    x2 = rng.standard_normal(shape)
    x2.reshape(-1)[::5] = x1.reshape(-1)[::5]                    # x1 == x2: z = margin
    y = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return x1.astype(dtype), x2.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", (0.0, 0.5, -0.25))
def test_torch_values_and_autograd_gradients_including_the_kink(dtype, margin):
    torch = pytest.importorskip("torch")
    x1, x2, y = _inputs(dtype)
    for reduction in ("mean", "sum", "none"):
        loss, (g1, g2) = lossk.margin_ranking_loss(x1, x2, y, margin=margin, reduction=reduction,
                                                   return_grad=True)
        a, b = (torch.from_numpy(v.copy()).requires_grad_() for v in (x1, x2))
        peer = torch.nn.functional.margin_ranking_loss(a, b, torch.from_numpy(y), margin=margin,
                                                       reduction=reduction)
        peer.sum().backward()
        assert_close(loss, peer.detach().numpy(), dtype)
        assert_close(g1, a.grad.numpy(), dtype)
        assert_close(g2, b.grad.numpy(), dtype)
        ref_loss, (r1, r2) = lossk.reference.margin_ranking_loss(x1, x2, y, margin=margin,
                                                                 reduction=reduction, return_grad=True)
        assert_close(loss, ref_loss, dtype)
        assert_close(g1, r1, dtype)
        assert_close(g2, r2, dtype)


def test_gradients_match_finite_differences_away_from_the_kink():
    x1, x2, y = _inputs(np.float64, (6, 3), seed=1)
    x2 = x2 + 0.01                                               # no element on the kink
    _, (g1, g2) = lossk.margin_ranking_loss(x1, x2, y, margin=0.1, return_grad=True)
    ref = lossk.reference.margin_ranking_loss
    np.testing.assert_allclose(g1, finite_difference_grad(lambda z: ref(z, x2, y, margin=0.1), x1), atol=1e-8)
    np.testing.assert_allclose(g2, finite_difference_grad(lambda z: ref(x1, z, y, margin=0.1), x2), atol=1e-8)


def test_broadcast_y_threads_and_in_place():
    x1, x2, y = _inputs(np.float32, (3000, 37))
    y_row = y[:, :1].copy()
    full = lossk.margin_ranking_loss(x1, x2, np.broadcast_to(y_row, x1.shape).copy(), return_grad=True)
    results = [lossk.margin_ranking_loss(x1, x2, y_row, return_grad=True, n_threads=k) for k in (1, 2, 3, 7)]
    for loss, (g1, g2) in results:
        assert np.asarray(loss).tobytes() == np.asarray(full[0]).tobytes()
        assert g1.tobytes() == full[1][0].tobytes() and g2.tobytes() == full[1][1].tobytes()
    a, b = x1.copy(), x2.copy()
    lossk.margin_ranking_loss(a, b, y_row, return_grad=True, grad_out=(a, b))
    assert a.tobytes() == full[1][0].tobytes() and b.tobytes() == full[1][1].tobytes()


@pytest.mark.parametrize("backend", ("c", "numpy"))
def test_labels_other_than_plus_minus_one_raise_naming_the_first(backend):
    x1, x2, y = _inputs(np.float64, (4, 3))
    for bad in (0.0, 0.5, 2.0, np.nan):
        yb = y.copy()
        yb[2, 1] = bad
        yb[3, 0] = 0.0
        with pytest.raises(ValueError, match=r"y\[2, 1\] = .* expected -1 or 1"):
            lossk.margin_ranking_loss(x1, x2, yb, backend=backend)
    # in place: nothing is overwritten before the labels are checked
    yb = y.copy()
    yb[3, 2] = 0.0
    a = x1.copy()
    with pytest.raises(ValueError, match=r"y\[3, 2\]"):
        lossk.margin_ranking_loss(a, x2, yb, return_grad=True, grad_out=(a, np.empty_like(x2)))
    assert a.tobytes() == x1.tobytes()


def test_bad_options_and_shapes_raise():
    x1, x2, y = _inputs(np.float64, (4, 3))
    with pytest.raises(ValueError, match="margin"):
        lossk.margin_ranking_loss(x1, x2, y, margin=np.nan)
    with pytest.raises(ValueError, match="x2"):
        lossk.margin_ranking_loss(x1, x2[:, :2], y)
    with pytest.raises(ValueError, match="y"):
        lossk.margin_ranking_loss(x1, x2, y[:, :2])
    with pytest.raises(TypeError, match="grad_out"):
        lossk.margin_ranking_loss(x1, x2, y, return_grad=True, grad_out=np.empty_like(x1))
    assert lossk.margin_ranking_loss(x1, x2, y, margin=-1.0) >= 0


@pytest.mark.parametrize("shapes", [((5, 1), (1, 4), (5, 4)), ((5, 4), (1, 4), (5, 1)),
                                    ((1, 4), (5, 4), (1, 1))])
def test_inputs_broadcast_as_torch_with_gradients_summed_back(shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x1, x2 = (rng.standard_normal(s) for s in shapes[:2])
    y = np.where(rng.random(shapes[2]) < 0.5, -1.0, 1.0)
    for dtype in (np.float32, np.float64):
        a, b = x1.astype(dtype), x2.astype(dtype)
        g1, g2 = np.full(a.shape, np.nan, dtype), np.full(b.shape, np.nan, dtype)
        for reduction in ("mean", "sum", "none"):
            loss, (r1, r2) = lossk.margin_ranking_loss(a, b, y.astype(dtype), margin=0.2, reduction=reduction,
                                                       return_grad=True, grad_out=(g1, g2))
            ta, tb = (torch.from_numpy(v.copy()).requires_grad_() for v in (a, b))
            peer = torch.nn.functional.margin_ranking_loss(ta, tb, torch.from_numpy(y.astype(dtype)),
                                                           margin=0.2, reduction=reduction)
            peer.sum().backward()
            assert_close(loss, peer.detach().numpy())
            assert r1 is g1 and r2 is g2
            assert_close(g1, ta.grad.numpy())
            assert_close(g2, tb.grad.numpy())
            ref = lossk.reference.margin_ranking_loss(a, b, y.astype(dtype), margin=0.2, reduction=reduction,
                                                      return_grad=True)
            assert_close(loss, ref[0])
            assert_close(g2, ref[1][1])


def test_broadcast_x1_is_not_expanded():
    """A broadcast x1 beside a full x2 is not copied: the kernel takes x2 as its
    prediction, with bitwise the numbers of the expanded x1."""
    from lossk._args.pointwise import prepare_margin_ranking_loss
    x1, x2, y = _inputs(np.float32, (40, 7), seed=3)
    row = x1[:1].copy()
    p = prepare_margin_ranking_loss(row, x2, y, 0.1, "none", True, None, None, "c")
    assert p.x is row
    losses, (g1, g2) = lossk.margin_ranking_loss(row, x2, y, margin=0.1, reduction="none", return_grad=True)
    full = np.broadcast_to(row, x2.shape).copy()
    ref_l, (ref_g1, ref_g2) = lossk.margin_ranking_loss(full, x2, y, margin=0.1, reduction="none",
                                                        return_grad=True)
    np.testing.assert_array_equal(losses, ref_l)
    np.testing.assert_array_equal(g2, ref_g2)
    np.testing.assert_array_equal(g1, ref_g1.sum(axis=0, dtype=np.float64, keepdims=True).astype(np.float32))
