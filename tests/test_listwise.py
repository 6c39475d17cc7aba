"""listnet_loss / listmle_loss / approx_ndcg_loss: kernel vs reference over dtypes,
reductions and padding (relevance -1, mask, ragged and all-padded lists),
ListMLE's stable ties, gradients vs finite differences, bitwise results for
every thread count, grad_out and in place, known values, and bad input.
allRank's own formulas (torch) are compared in test_listwise_torch.py."""
import numpy as np
import pytest

import lossk
from lossk import reference
from helpers import (assert_all_raise, assert_bitwise_across_threads, assert_close, assert_grad_out_and_in_place,
                     assert_none_gradient_is_sum_gradient, finite_difference_grad)

LOSSES = ("listnet_loss", "listmle_loss", "approx_ndcg_loss")
DTYPES = (np.float32, np.float64)


def _opts(name):
    return dict(alpha=1.7) if name == "approx_ndcg_loss" else {}


def assert_matches_reference(name, args, reduction, **kwargs):
    """Kernel vs reference (helpers' version, with one loss per list for "none"):
    dtypes, shapes, loss and gradient within the SPEC tolerance; the loss alone
    gives the same bits, backend="numpy" the reference's."""
    fn, ref = getattr(lossk, name), getattr(reference, name)
    x = args[0]
    loss, grad = fn(*args, reduction=reduction, return_grad=True, **kwargs)
    ref_loss, ref_grad = ref(*args, reduction=reduction, return_grad=True, **kwargs)
    assert np.asarray(loss).dtype == x.dtype and grad.dtype == x.dtype and grad.shape == x.shape
    assert np.shape(loss) == ((x.shape[0],) if reduction == "none" else ())
    assert_close(loss, ref_loss, x.dtype)
    assert_close(grad, ref_grad, x.dtype)
    assert np.asarray(fn(*args, reduction=reduction, **kwargs)).tobytes() == np.asarray(loss).tobytes()
    assert_close(fn(*args, reduction=reduction, backend="numpy", **kwargs), ref_loss, x.dtype, rtol=0, atol=0)


def _lists(rng, dtype, b=7, l=9):
    """Scores, graded relevance with padding at the end of list 1 (ragged), in the
    middle of list 3, list 2 all padding, a non-integer grade; and a mask that
    pads some more items (never the first)."""
    s = (2 * rng.standard_normal((b, l))).astype(dtype)
    r = rng.integers(0, 5, (b, l)).astype(dtype)
    r[1, 5:] = -1
    r[3, 4] = -1
    r[2] = -1
    r[4, 2] = 2.5
    mask = rng.random((b, l)) > 0.25
    mask[:, 0] = True
    return s, r, mask


@pytest.mark.parametrize("reduction", ("mean", "sum", "none"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
def test_kernel_equals_reference(name, dtype, reduction):
    s, r, mask = _lists(np.random.default_rng(0), dtype)
    assert_matches_reference(name, (s, r), reduction, **_opts(name))
    assert_matches_reference(name, (s, r), reduction, mask=mask, eps=1e-3, **_opts(name))


@pytest.mark.parametrize("dtype, l", ((np.float32, 1030), (np.float64, 730)))
def test_approx_ndcg_long_lists(dtype, l):
    """Lists whose l^2 pair weights exceed the kernel's 4 MiB pair cache: the
    gradient pass recomputes the pairs. An unpadded list and a padded, masked one."""
    rng = np.random.default_rng(1)
    s, r = rng.standard_normal((2, l)).astype(dtype), rng.integers(0, 5, (2, l)).astype(dtype)
    r[1, 600:] = -1
    mask = rng.random((2, l)) > 0.2
    mask[0] = True
    assert_matches_reference("approx_ndcg_loss", (s, r), "none", alpha=0.8, mask=mask)
    assert_bitwise_across_threads(lossk.approx_ndcg_loss, s, r, reduction="none")


@pytest.mark.parametrize("name", LOSSES)
def test_mask_equals_minus_one_padding_and_padding_is_ignored(name):
    rng = np.random.default_rng(1)
    s, r, mask = _lists(rng, np.float64)
    fn = getattr(lossk, name)
    by_mask = fn(s, r, mask=mask, reduction="none", return_grad=True, **_opts(name))
    by_value = fn(s, np.where(mask, r, -1.0), reduction="none", return_grad=True, **_opts(name))
    by_int_mask = fn(s, r, mask=mask.astype(np.int64), reduction="none", return_grad=True, **_opts(name))
    for a, b, c in zip(by_mask, by_value, by_int_mask):
        assert a.tobytes() == b.tobytes() == c.tobytes()
    real = mask & (r != -1)
    assert np.all(by_mask[1][~real] == 0)
    # what padded items hold does not matter
    s2 = np.where(real, s, 1e6)
    loss2, grad2 = fn(s2, r, mask=mask, reduction="none", return_grad=True, **_opts(name))
    assert loss2.tobytes() == by_mask[0].tobytes() and grad2.tobytes() == by_mask[1].tobytes()
    # a ragged list equals the same list alone, unpadded
    k = int(real[1].sum())
    alone = fn(s[1:2, real[1]], r[1:2, real[1]], reduction="none", return_grad=True, **_opts(name))
    assert_close(alone[0], by_mask[0][1:2], rtol=1e-14)
    assert_close(alone[1], by_mask[1][1:2, real[1]], rtol=1e-14)
    assert k >= 1


@pytest.mark.parametrize("name", LOSSES)
def test_all_padded_lists_give_zero_and_count_in_the_mean(name):
    s = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5]])
    r = np.array([[-1.0, -1.0, -1.0], [2.0, 0.0, 1.0]])
    fn = getattr(lossk, name)
    none, g = fn(s, r, reduction="none", return_grad=True, **_opts(name))
    assert none[0] == 0 and np.all(g[0] == 0) and none[1] != 0
    assert fn(s, r, **_opts(name)) == pytest.approx(none[1] / 2, rel=1e-15)
    loss, g = fn(s, r, mask=np.zeros_like(s, bool), return_grad=True, **_opts(name))
    assert loss == 0 and np.all(g == 0)


@pytest.mark.parametrize("name", LOSSES)
def test_empty_batch_and_single_item_lists(name):
    fn = getattr(lossk, name)
    empty = np.zeros((0, 4))
    assert np.isnan(fn(empty, empty, **_opts(name)))
    assert fn(empty, empty, reduction="sum", **_opts(name)) == 0
    assert fn(empty, empty, reduction="none", **_opts(name)).shape == (0,)
    s, r = np.array([[0.7], [-2.0]]), np.array([[3.0], [0.0]])
    assert_matches_reference(name, (s, r), "none", **_opts(name))


def test_listmle_ties_follow_position():
    """Tied relevance keeps the original order: the loss is the Plackett-Luce NLL of
    positions (0, 1, 2) for relevance (1, 1, 0), (1, 0, 2) when item 0 moves behind."""
    def pl(y):
        return sum(np.log(np.sum(np.exp(y[k:]))) - y[k] for k in range(len(y)))
    s = np.array([[0.2, 1.5, -0.3]])
    assert lossk.listmle_loss(s, np.array([[1.0, 1.0, 0.0]]), eps=0.0) == pytest.approx(pl(s[0]), rel=1e-14)
    assert lossk.listmle_loss(s, np.array([[1.0, 1.0, 2.0]]), eps=0.0) == pytest.approx(
        pl(s[0, [2, 0, 1]]), rel=1e-14)
    # many ties, non-integer grades (the merge sort) and graded ones (the counting sort) agree
    rng = np.random.default_rng(2)
    s = rng.standard_normal((5, 70))
    r = rng.integers(0, 3, (5, 70)).astype(np.float64)
    for rel in (r, r + 0.5, r * 40):     # counting sort; merge sort (0.5 steps, grades >= 32)
        assert_matches_reference("listmle_loss", (s, rel), "none")
    a = lossk.listmle_loss(s, r, reduction="none", return_grad=True)
    b = lossk.listmle_loss(s, r * 40, reduction="none", return_grad=True)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()


def test_known_values():
    s = np.array([[2.0, 1.0, 0.0, -1.0]])
    r = np.array([[3.0, 2.0, 1.0, 0.0]])
    # ListNet with eps = 0: cross-entropy of softmax(r) against softmax(s); gradient P - T
    r2 = r[:, ::-1] / 2
    p = np.exp(s[0]) / np.exp(s).sum()
    t = np.exp(r2[0]) / np.exp(r2).sum()
    loss, g = lossk.listnet_loss(s, r2, eps=0.0, reduction="sum", return_grad=True)
    assert loss == pytest.approx(-np.sum(t * np.log(p)), rel=1e-14)
    np.testing.assert_allclose(g[0], p - t, rtol=1e-13, atol=1e-16)
    # ApproxNDCG of a list ranked perfectly, with a steep sigmoid: -NDCG = -1
    assert lossk.approx_ndcg_loss(10 * s, r, alpha=100.0) == pytest.approx(-1.0, rel=1e-9)   # eps clamps
    # ... and reversed: -DCG(reversed) / IDCG
    gains = 2.0 ** r[0] - 1
    disc = 1 / np.log2(np.arange(2, 6))
    assert lossk.approx_ndcg_loss(-10 * s, r, alpha=100.0) == pytest.approx(
        -np.sum(gains[::-1] * disc) / np.sum(gains * disc), rel=1e-9)
    # no positive relevance: ideal DCG 0, loss 0 and gradient 0
    loss, g = lossk.approx_ndcg_loss(s, np.zeros_like(r), return_grad=True)
    assert loss == 0 and np.all(g == 0)


@pytest.mark.parametrize("reduction", ("sum", "mean"))
@pytest.mark.parametrize("name", LOSSES)
def test_gradients_match_finite_differences(name, reduction):
    rng = np.random.default_rng(3)
    s = np.linspace(-1.5, 1.5, 18)[rng.permutation(18)].reshape(3, 6)   # no two scores within 0.17
    r = rng.integers(0, 4, (3, 6)).astype(np.float64)
    r[2, 4:] = -1
    kw = dict(_opts(name), eps=1e-3)
    _, grad = getattr(lossk, name)(s, r, reduction=reduction, return_grad=True, **kw)
    ref = getattr(reference, name)
    fd = finite_difference_grad(lambda z: ref(z, r, reduction=reduction, **kw), s)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", LOSSES)
def test_bitwise_for_every_thread_count(name):
    rng = np.random.default_rng(4)
    s, r, mask = _lists(rng, np.float32, b=600, l=64)        # several blocks of lists
    assert_bitwise_across_threads(getattr(lossk, name), s, r, mask=mask, **_opts(name))
    assert_bitwise_across_threads(getattr(lossk, name), s.astype(np.float64), r.astype(np.float64),
                                  reduction="none", **_opts(name))


@pytest.mark.parametrize("name", LOSSES)
def test_grad_out_in_place_none_and_float16(name):
    s, r, mask = _lists(np.random.default_rng(5), np.float32)
    fn = getattr(lossk, name)
    assert_grad_out_and_in_place(fn, s, r, mask=mask, **_opts(name))
    assert_none_gradient_is_sum_gradient(fn, s, r, **_opts(name))
    loss, g = fn(s.astype(np.float16), r, return_grad=True, **_opts(name))
    assert loss.dtype == g.dtype == np.float32
    assert_close(loss, fn(s.astype(np.float16).astype(np.float32), r, **_opts(name)), rtol=0, atol=0)


@pytest.mark.parametrize("name", LOSSES)
def test_non_finite_values_propagate(name):
    s = np.array([[0.5, np.nan, 1.0], [0.5, -0.2, 1.0], [0.1, 0.2, 0.3]])
    r = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0], [1.0, np.nan, 2.0]])
    fn = getattr(lossk, name)
    for dtype in DTYPES:
        loss, g = fn(s.astype(dtype), r.astype(dtype), reduction="none", return_grad=True, **_opts(name))
        assert np.isnan(loss[0]) and np.isfinite(loss[1]) and np.isnan(loss[2])
        assert np.isfinite(g[1]).all()
        assert_close(loss, getattr(reference, name)(s, r, reduction="none", **_opts(name)), dtype)


def test_bad_input():
    s, r = np.zeros((2, 3)), np.ones((2, 3))
    cases = []
    for name in LOSSES:
        fn = getattr(lossk, name)
        cases += [
            (lambda fn=fn: fn(np.zeros(3), np.zeros(3)), ValueError, "scores must have shape"),
            (lambda fn=fn: fn(np.zeros((2, 3, 1)), np.zeros((2, 3, 1))), ValueError, "scores must have shape"),
            (lambda fn=fn: fn(np.zeros((2, 0)), np.zeros((2, 0))), ValueError, "length L >= 1"),
            (lambda fn=fn: fn(s, np.ones((2, 4))), ValueError, "relevance must have the shape"),
            (lambda fn=fn: fn(s, r, mask=np.ones((2, 4), bool)), ValueError, "mask must have the shape"),
            (lambda fn=fn: fn(s, r, mask=np.ones((2, 3))), TypeError, "mask must be boolean"),
            (lambda fn=fn: fn(s, r, mask=np.full((2, 3), 2)), ValueError, "mask must be boolean or hold only"),
            (lambda fn=fn: fn(s.astype(int), r), TypeError, "scores must be a real floating"),
            (lambda fn=fn: fn(s, r.astype(complex)), TypeError, "relevance must be a real"),
            (lambda fn=fn: fn(s, r, eps=-1.0), ValueError, "eps"),
            (lambda fn=fn: fn(s, r, eps=np.nan), ValueError, "eps"),
            (lambda fn=fn: fn(s, r, eps=2.0), ValueError, "eps"),
            (lambda fn=fn: fn(s, r, reduction="batchmean"), ValueError, "reduction"),
            (lambda fn=fn: fn(s, r, grad_out=np.zeros((2, 3))), ValueError, "return_grad"),
        ]
    for alpha in (0.0, -1.0, np.nan, np.inf):
        cases.append((lambda a=alpha: lossk.approx_ndcg_loss(s, r, alpha=a), ValueError, "alpha"))
    cases.append((lambda: lossk.approx_ndcg_loss(s, r, alpha="1"), TypeError, "alpha"))
    assert_all_raise(cases)
