"""crf_nll_loss / crf_decode: kernel vs reference over dtypes, reductions and
ragged masks; gradients vs finite differences of the reference; pytorch-crf's
values, autograd gradients and decode paths; -1e4 transitions, K = 1, float32 at
T = 512; bitwise results for every thread count; grad_out and in place; every
bad argument; crf_decode kept out of the loss registry."""
import numpy as np
import pytest

import lossk
from lossk import reference
from helpers import TOL, assert_bitwise_across_threads, assert_close, finite_difference_grad, torch

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("none", "sum", "mean", "token_mean")
GRADS = ("emissions", "transitions", "start_transitions", "end_transitions")


def _problem(rng, dtype, B=5, T=7, K=4, lengths=(7, 3, 1, 6, 7), scale=1.0):
    em = (scale * rng.standard_normal((B, T, K))).astype(dtype)
    tags = rng.integers(0, K, (B, T))
    tr, st, en = (rng.uniform(-1, 1, s).astype(dtype) for s in ((K, K), (K,), (K,)))
    mask = np.arange(T)[None, :] < np.asarray(lengths)[:B, None]
    tags[~mask] = -1                                    # padding: ignored where the mask is off
    return (em, tags, tr, st, en), mask


def _args64(args):
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in args]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("masked", (False, True))
def test_kernel_equals_reference(dtype, reduction, masked):
    args, mask = _problem(np.random.default_rng(0), dtype)
    if not masked:
        args[1][args[1] < 0] = 0
    kw = dict(mask=mask if masked else None, reduction=reduction, return_grad=True)
    loss, grads = lossk.crf_nll_loss(*args, **kw)
    ref_loss, ref_grads = reference.crf_nll_loss(*args, **kw)
    assert np.asarray(loss).dtype == dtype and len(grads) == 4
    assert_close(loss, ref_loss)
    for g, r, x in zip(grads, ref_grads, (args[0],) + args[2:]):
        assert g.shape == x.shape and g.dtype == dtype
        assert_close(g, r)
    if masked:   # the emissions' gradient is 0 at masked steps
        assert not grads[0][~mask].any()
    assert lossk.crf_nll_loss(*args, mask=kw["mask"], reduction=reduction).tobytes() == np.asarray(loss).tobytes()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradients_equal_finite_differences(reduction):
    (em, tags, tr, st, en), mask = _problem(np.random.default_rng(1), np.float64, B=3, T=4, K=3,
                                            lengths=(4, 2, 1))
    args = [em, tags, tr, st, en]
    _, grads = lossk.crf_nll_loss(*args, mask=mask, reduction=reduction, return_grad=True)
    for k, name in zip((0, 2, 3, 4), GRADS):
        def f(x, k=k):
            a = list(args)
            a[k] = x
            return np.sum(reference.crf_nll_loss(*a, mask=mask, reduction=reduction))
        assert_close(grads[(0, 2, 3, 4).index(k)], finite_difference_grad(f, args[k]), rtol=1e-6, atol=1e-8)


def _pytorch_crf(args):
    """pytorch-crf's CRF holding the problem's transitions (skips without the
    peer), and the emissions as a tensor that requires grad."""
    torchcrf = pytest.importorskip("torchcrf")
    if torch is None:
        pytest.skip("torch is not installed")
    em, _, tr, st, en = args
    crf = torchcrf.CRF(em.shape[2], batch_first=True).to(torch.from_numpy(em).dtype)
    with torch.no_grad():
        for name, v in zip(GRADS[1:], (tr, st, en)):
            getattr(crf, name).copy_(torch.from_numpy(v))
    return crf, torch.from_numpy(em.copy()).requires_grad_()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_equals_pytorch_crf_values_and_autograd(dtype, reduction):
    args, mask = _problem(np.random.default_rng(2), dtype, B=6, T=9, K=5, lengths=(9, 4, 1, 8, 9, 2))
    tags = args[1]
    crf, et = _pytorch_crf(args)
    nll = -crf(et, torch.from_numpy(tags), torch.from_numpy(mask), reduction=reduction)   # tags -1 wrap there
    nll.sum().backward()
    loss, grads = lossk.crf_nll_loss(*args, mask=mask, reduction=reduction, return_grad=True)
    assert_close(loss, nll.detach().numpy())
    peer = (et.grad, crf.transitions.grad, crf.start_transitions.grad, crf.end_transitions.grad)
    for g, pg in zip(grads, peer):
        assert_close(g, pg.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_decode_equals_pytorch_crf_and_reference(dtype):
    torchcrf = pytest.importorskip("torchcrf")
    if torch is None:
        pytest.skip("torch is not installed")
    (em, _, tr, st, en), mask = _problem(np.random.default_rng(3), dtype, B=6, T=9, K=5, lengths=(9, 4, 1, 8, 9, 2))
    # integer scores: many exact ties, which both must break at the first maximum
    em_ties = np.random.default_rng(4).integers(-1, 2, em.shape).astype(dtype)
    tr_ties = np.random.default_rng(5).integers(-1, 2, tr.shape).astype(dtype)
    for e, t in ((em, tr), (em_ties, tr_ties), (em_ties, np.zeros_like(tr))):
        crf = torchcrf.CRF(5, batch_first=True).to(torch.from_numpy(e).dtype)
        with torch.no_grad():
            for name, v in zip(GRADS[1:], (t, st if t is tr else np.zeros_like(st), en if t is tr else np.zeros_like(en))):
                getattr(crf, name).copy_(torch.from_numpy(v))
        s, n = (st, en) if t is tr else (np.zeros_like(st), np.zeros_like(en))
        for m in (mask, None):
            peer = crf.decode(torch.from_numpy(e), None if m is None else torch.from_numpy(m))
            paths, lengths = lossk.crf_decode(e, t, s, n, mask=m)
            assert paths.dtype == np.int64 and paths.shape == e.shape[:2] and lengths.dtype == np.int64
            assert [paths[b, :lengths[b]].tolist() for b in range(len(peer))] == peer
            assert (paths[np.arange(e.shape[1])[None, :] >= lengths[:, None]] == -1).all()
            ref_paths, ref_lengths = reference.crf_decode(e, t, s, n, mask=m)
            assert np.array_equal(ref_paths, paths) and np.array_equal(ref_lengths, lengths)


def test_decode_is_bitwise_across_threads_and_not_a_loss():
    (em, _, tr, st, en), mask = _problem(np.random.default_rng(6), np.float32, B=40, T=12, K=6,
                                         lengths=np.arange(40) % 12 + 1)
    out = [lossk.crf_decode(em, tr, st, en, mask=mask, n_threads=t)[0] for t in (1, 2, 3)]
    assert all(np.array_equal(out[0], o) for o in out[1:])
    assert "crf_decode" not in lossk.LOSSES and lossk.LOSSES["crf_nll_loss"] is lossk.crf_nll_loss
    from lossk._bench import workloads
    assert "crf_decode" not in workloads.WORKLOADS


def test_very_negative_transitions_and_one_tag():
    rng = np.random.default_rng(7)
    (em, tags, tr, st, en), mask = _problem(rng, np.float64)
    tags[tags < 0] = 0
    far = np.full_like(tr, -1e4)
    far[np.arange(4), np.arange(4)] = 0.0                  # only staying is allowed
    for t in (far, np.where(rng.random(tr.shape) < 0.5, -1e4, tr)):
        for s in (st, np.full_like(st, -1e4)):
            loss, grads = lossk.crf_nll_loss(em, tags, t, s, en, mask=mask, reduction="none", return_grad=True)
            ref_loss, ref_grads = reference.crf_nll_loss(em, tags, t, s, en, mask=mask, reduction="none",
                                                         return_grad=True)
            assert np.isfinite(loss).all() and all(np.isfinite(g).all() for g in grads)
            assert_close(loss, ref_loss)
            for g, r in zip(grads, ref_grads):
                assert_close(g, r, atol=1e-10)           # loss ~ 1e4: alpha + beta - logZ cancels to ~1e-12
    # K = 1: one path, loss 0 and gradients 0 (to rounding)
    em1 = rng.standard_normal((3, 6, 1))
    loss, grads = lossk.crf_nll_loss(em1, np.zeros((3, 6), int), np.ones((1, 1)), np.ones(1), np.ones(1),
                                     mask=mask[:3, :6], reduction="sum", return_grad=True)
    assert loss == 0.0 and all(np.abs(g).max() < 1e-14 for g in grads)
    assert lossk.crf_decode(em1, np.ones((1, 1)), np.ones(1), np.ones(1))[0].tolist() == [[0] * 6] * 3


def test_float32_at_512_steps_keeps_float64_accuracy():
    """The sums run in float64 whatever the dtype: float32 inputs give the float64
    result of the same (rounded) inputs to rtol 1e-5 at T = 512."""
    args, _ = _problem(np.random.default_rng(8), np.float32, B=3, T=512, K=6, lengths=(512, 300, 17), scale=3.0)
    args[1][args[1] < 0] = 0
    loss, grads = lossk.crf_nll_loss(*args, reduction="none", return_grad=True)
    loss64, grads64 = lossk.crf_nll_loss(*_args64(args), reduction="none", return_grad=True)
    assert_close(loss, loss64, rtol=1e-5, atol=0)
    for g, g64 in zip(grads, grads64):
        assert_close(g, g64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_across_threads(dtype):
    args, mask = _problem(np.random.default_rng(9), dtype, B=70, T=6, K=5, lengths=np.arange(70) % 6 + 1)
    for reduction in ("sum", "token_mean"):
        assert_bitwise_across_threads(lossk.crf_nll_loss, *args, mask=mask, reduction=reduction)


def test_grad_out_and_in_place():
    args, mask = _problem(np.random.default_rng(10), np.float64)
    want_loss, want = lossk.crf_nll_loss(*args, mask=mask, return_grad=True)
    outs = tuple(np.empty_like(a) for a in (args[0],) + args[2:])
    loss, grads = lossk.crf_nll_loss(*args, mask=mask, return_grad=True, grad_out=outs)
    assert all(g is o for g, o in zip(grads, outs)) and loss == want_loss
    assert all(np.array_equal(g, w) for g, w in zip(grads, want))
    inputs = [a.copy() for a in args]
    loss, grads = lossk.crf_nll_loss(*inputs, mask=mask, return_grad=True,
                                     grad_out=(inputs[0], inputs[2], inputs[3], inputs[4]))
    assert loss == want_loss and all(np.array_equal(g, w) for g, w in zip(grads, want))
    with pytest.raises(TypeError, match="grad_out"):
        lossk.crf_nll_loss(*args, return_grad=True, grad_out=outs[0])


def test_empty_batch():
    em, tags = np.zeros((0, 5, 3)), np.zeros((0, 5), int)
    tr, st, en = np.zeros((3, 3)), np.zeros(3), np.zeros(3)
    loss, grads = lossk.crf_nll_loss(em, tags, tr, st, en, reduction="sum", return_grad=True)
    assert loss == 0 and grads[0].shape == em.shape and not any(g.any() for g in grads[1:])
    assert np.isnan(lossk.crf_nll_loss(em, tags, tr, st, en, reduction="mean"))
    assert lossk.crf_nll_loss(em, tags, tr, st, en, reduction="none").shape == (0,)
    paths, lengths = lossk.crf_decode(em, tr, st, en)
    assert paths.shape == (0, 5) and lengths.shape == (0,)


def test_nan_emission_propagates_to_its_sequence():
    args, mask = _problem(np.random.default_rng(11), np.float64)
    args[0][1, 0, 2] = np.nan
    loss = lossk.crf_nll_loss(*args, mask=mask, reduction="none")
    assert np.isnan(loss[1]) and np.isfinite(np.delete(loss, 1)).all()
    assert_close(loss, reference.crf_nll_loss(*args, mask=mask, reduction="none"))


def test_bad_input():
    args, mask = _problem(np.random.default_rng(12), np.float64)
    em, tags, tr, st, en = args
    call = lossk.crf_nll_loss
    bad_tags = tags.copy()
    bad_tags[3, 2] = 4
    with pytest.raises(ValueError, match=r"tags\[3, 2\] = 4"):
        call(em, bad_tags, tr, st, en, mask=mask)
    bad_tags = np.where(tags < 0, 0, tags)
    bad_tags[1, 5] = -1                                 # pytorch-crf wraps -1 silently
    with pytest.raises(ValueError, match=r"tags\[1, 5\] = -1"):
        call(em, bad_tags, tr, st, en)
    with pytest.raises(ValueError, match="emissions"):
        call(em[0], tags[0], tr, st, en)
    with pytest.raises(ValueError, match="tags"):
        call(em, tags[:, :3], tr, st, en, mask=mask)
    with pytest.raises(ValueError, match="transitions"):
        call(em, tags, tr[:3, :3], st, en, mask=mask)
    with pytest.raises(ValueError, match="start_transitions"):
        call(em, tags, tr, st[:2], en, mask=mask)
    with pytest.raises(ValueError, match="end_transitions"):
        call(em, tags, tr, st, en[None], mask=mask)
    with pytest.raises(ValueError, match="mask"):
        call(em, tags, tr, st, en, mask=mask[:, :4])
    with pytest.raises(ValueError, match=r"mask.*first step"):
        call(em, tags, tr, st, en, mask=np.roll(mask, 1, axis=1))
    gap = mask.copy()
    gap[0, 3] = False
    with pytest.raises(ValueError, match=r"mask\[0, 4\]"):
        call(em, tags, tr, st, en, mask=gap)
    with pytest.raises(ValueError, match="mask"):
        call(em, tags, tr, st, en, mask=mask * 2)
    with pytest.raises(TypeError, match="mask"):
        call(em, tags, tr, st, en, mask=mask.astype(complex))
    assert call(em, tags, tr, st, en, mask=mask.astype(np.uint8)) == call(em, tags, tr, st, en, mask=mask)
    with pytest.raises(ValueError, match="emissions"):
        call(em[:, :0], tags[:, :0], tr, st, en)        # sequences of length 0
    with pytest.raises(TypeError, match="tags"):
        call(em, tags.astype(float), tr, st, en, mask=mask)
    with pytest.raises(TypeError, match="transitions"):
        call(em, tags, tr.astype(int), st, en, mask=mask)
    with pytest.raises(ValueError, match="reduction"):
        call(em, tags, tr, st, en, mask=mask, reduction="batchmean")
    with pytest.raises(ValueError, match="mask"):
        lossk.crf_decode(em, tr, st, en, mask=np.roll(mask, 1, axis=1))
    with pytest.raises(ValueError, match="transitions"):
        lossk.crf_decode(em, tr[:2], st, en)


# ---- upstream= (reduction="none"): the gradient of sum_b upstream[b] loss_b ---------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_upstream_equals_reference_and_pytorch_crf(dtype):
    args, mask = _problem(np.random.default_rng(13), dtype, B=6, T=9, K=5, lengths=(9, 4, 1, 8, 9, 2))
    u = np.random.default_rng(14).standard_normal(6)
    kw = dict(mask=mask, reduction="none", return_grad=True, upstream=u)
    loss, grads = lossk.crf_nll_loss(*args, **kw)
    ref_loss, ref_grads = reference.crf_nll_loss(*args, **kw)
    assert_close(loss, ref_loss)
    assert np.array_equal(loss, lossk.crf_nll_loss(*args, mask=mask, reduction="none"))   # losses unweighted
    for g, r in zip(grads, ref_grads):
        assert_close(g, r)
    for t in (2, 3):   # bitwise for every thread count, upstream included
        _, gt = lossk.crf_nll_loss(*args, n_threads=t, **kw)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(grads, gt))
    ones = lossk.crf_nll_loss(*args, mask=mask, reduction="none", return_grad=True, upstream=np.ones(6))[1]
    plain = lossk.crf_nll_loss(*args, mask=mask, reduction="none", return_grad=True)[1]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(ones, plain))
    tags = args[1]
    crf, et = _pytorch_crf(args)
    nll = -crf(et, torch.from_numpy(tags), torch.from_numpy(mask), reduction="none")
    nll.backward(torch.from_numpy(u.astype(dtype)))       # a random grad_output
    peer = (et.grad, crf.transitions.grad, crf.start_transitions.grad, crf.end_transitions.grad)
    for g, pg in zip(grads, peer):
        assert_close(g, pg.numpy())


def test_upstream_gradients_equal_finite_differences():
    (em, tags, tr, st, en), mask = _problem(np.random.default_rng(15), np.float64, B=3, T=4, K=3,
                                            lengths=(4, 2, 1))
    args = [em, tags, tr, st, en]
    u = np.array([0.5, -2.0, 1.5])
    _, grads = lossk.crf_nll_loss(*args, mask=mask, reduction="none", return_grad=True, upstream=u)
    for k, g in zip((0, 2, 3, 4), grads):
        def f(x, k=k):
            a = list(args)
            a[k] = x
            return np.dot(u, reference.crf_nll_loss(*a, mask=mask, reduction="none"))
        assert_close(g, finite_difference_grad(f, args[k]), rtol=1e-6, atol=1e-8)


def test_upstream_bad_input():
    args, mask = _problem(np.random.default_rng(16), np.float64)
    call = lossk.crf_nll_loss
    for kw in (dict(reduction="mean", return_grad=True), dict(reduction="none", return_grad=False)):
        for fn in (call, reference.crf_nll_loss):
            with pytest.raises(ValueError, match="upstream"):
                fn(*args, mask=mask, upstream=np.ones(5), **kw)
    with pytest.raises(ValueError, match="upstream"):
        call(*args, mask=mask, reduction="none", return_grad=True, upstream=np.ones(4))
    with pytest.raises(TypeError, match="upstream"):
        call(*args, mask=mask, reduction="none", return_grad=True, upstream=np.ones(5, complex))
