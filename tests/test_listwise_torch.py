"""The listwise losses vs allRank's formulas in torch with autograd
(lossk._bench.listwise_torch, transcribed from allegro/allRank
allrank/models/losses/{listNet,listMLE,approxNDCG}.py with a stable ListMLE
sort): values and gradients over dtypes, reductions, padding by -1 and by mask,
options; and the documented departures (all-padded ListNet lists, ListMLE ties)."""
import numpy as np
import pytest

import lossk
from helpers import assert_close, requires_torch, torch

pytestmark = requires_torch
LOSSES = ("listnet_loss", "listmle_loss", "approx_ndcg_loss")


def _allrank(name, s, r, mask=None, reduction="mean", **kw):
    from lossk._bench import listwise_torch
    x = torch.from_numpy(np.ascontiguousarray(s)).requires_grad_()
    m = None if mask is None else torch.from_numpy(mask)
    out = listwise_torch.ORACLES[name](x, torch.from_numpy(r), m, reduction=reduction, **kw)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy()


def _case(rng, dtype, b=6, l=12):
    s = (2 * rng.standard_normal((b, l))).astype(dtype)
    r = rng.integers(0, 5, (b, l)).astype(dtype)
    r[1, 7:] = -1            # ragged
    r[4, 3] = -1
    r[2, 5] = 1.5
    mask = rng.random((b, l)) > 0.2
    mask[:, 0] = True
    return s, r, mask


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("name", LOSSES)
def test_equals_allrank(name, dtype):
    s, r, mask = _case(np.random.default_rng(10), dtype)
    options = [{}, {"eps": 1e-4}] + ([{"alpha": 0.3}, {"alpha": 4.0}] if name == "approx_ndcg_loss" else [])
    for kw in options:
        for m in (None, mask):
            for reduction in ("mean", "sum", "none"):
                loss, grad = getattr(lossk, name)(s, r, mask=m, reduction=reduction, return_grad=True, **kw)
                peer_loss, peer_grad = _allrank(name, s, r, m, reduction, **kw)
                assert_close(loss, peer_loss, dtype)
                assert_close(grad, peer_grad, dtype, atol=1e-15 if dtype == np.float64 else 1e-6)


def test_listmle_ties_equal_allrank_with_a_stable_sort():
    """Relevance with many ties: lossk's order is allRank's for the identity
    permutation (its randperm replaced by a stable sort)."""
    rng = np.random.default_rng(11)
    s = rng.standard_normal((4, 30))
    r = rng.integers(0, 2, (4, 30)).astype(np.float64)
    loss, grad = lossk.listmle_loss(s, r, reduction="none", return_grad=True)
    peer_loss, peer_grad = _allrank("listmle_loss", s, r, reduction="none")
    assert_close(loss, peer_loss)
    assert_close(grad, peer_grad, atol=1e-15)


def test_all_padded_listnet_list_is_zero_where_allrank_gives_nan():
    s = np.array([[0.3, -1.2], [1.0, 0.5]])
    r = np.array([[-1.0, -1.0], [2.0, 0.0]])
    peer_none, _ = _allrank("listnet_loss", s, r, reduction="none")
    assert np.isnan(peer_none[0])                       # softmax over nothing: 0/0
    none = lossk.listnet_loss(s, r, reduction="none")
    assert none[0] == 0 and none[1] == pytest.approx(peer_none[1], rel=1e-14)
    for name in ("listmle_loss", "approx_ndcg_loss"):   # where allRank gives 0, as lossk
        assert _allrank(name, s, r, reduction="none")[0][0] == 0
        assert getattr(lossk, name)(s, r, reduction="none")[0] == 0
