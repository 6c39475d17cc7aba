"""Metric learning: triplet_margin_loss, nt_xent_loss, info_nce_loss. Kernel vs
reference over dtypes, options and reductions; bitwise over thread counts and
(contrastive) block sizes; gradients vs finite differences of the reference;
torch (F.triplet_margin_loss; torch-op transcriptions with autograd for the
contrastive losses) and pytorch-metric-learning's NTXentLoss; zero distances
and zero embeddings; grad_out and in place; bad input."""
import numpy as np
import pytest

import lossk
from lossk import reference
from lossk._args.metric import UNIT_ROWS
from helpers import (F, assert_all_raise, assert_close, finite_difference_grad, requires_torch, to_torch,
                     torch)

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("mean", "sum", "none")


def _triplet(rng, dtype, n=37, d=9):
    a, p, ng = (rng.standard_normal((n, d)) for _ in range(3))
    if n > 7:
        p[3] = a[3]                   # zero difference (the distance is |eps| * sqrt(d))
        ng[5] = a[5]
        p[7] = a[7] + 0.05            # close: active and inactive rows both present
    return tuple(x.astype(dtype) for x in (a, p, ng))


def _embeddings(rng, dtype, n=11, d=6, m=None):
    z1, z2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    out = [z1.astype(dtype), z2.astype(dtype)]
    if m is not None:
        out.append(rng.standard_normal((m, d)).astype(dtype))
    return out


def _leaves(res):
    loss, grads = res
    return [np.asarray(loss)] + list(grads)


def _assert_all_close(res, expected, dtype, **tol):
    for x, y in zip(_leaves(res), _leaves(expected)):
        assert np.asarray(x).shape == np.asarray(y).shape
        assert_close(x, y, dtype, **tol)


def _assert_bitwise(res, expected):
    for x, y in zip(_leaves(res), _leaves(expected)):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


# ---- triplet -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("swap", (False, True))
@pytest.mark.parametrize("p", (2.0, 1.0, 1.5, 0.5))
def test_triplet_kernel_equals_reference(dtype, swap, p):
    args = _triplet(np.random.default_rng(0), dtype)
    for reduction in REDUCTIONS:
        kw = dict(margin=0.7, p=p, swap=swap, reduction=reduction)
        res = lossk.triplet_margin_loss(*args, return_grad=True, **kw)
        ref = reference.triplet_margin_loss(*args, return_grad=True, **kw)
        assert all(g.dtype == dtype and g.shape == args[0].shape for g in res[1])
        _assert_all_close(res, ref, dtype)
        assert_close(lossk.triplet_margin_loss(*args, **kw), res[0], dtype, rtol=0, atol=0)


def test_triplet_bitwise_across_threads():
    args = _triplet(np.random.default_rng(1), np.float32, n=700, d=48)   # 170 rows a block: 5 blocks
    first = lossk.triplet_margin_loss(*args, swap=True, return_grad=True, n_threads=1)
    for t in (2, 3):
        _assert_bitwise(lossk.triplet_margin_loss(*args, swap=True, return_grad=True, n_threads=t), first)


@pytest.mark.parametrize("swap", (False, True))
@pytest.mark.parametrize("p", (2.0, 1.5, 3.0))
def test_triplet_finite_differences(swap, p):
    a, ps, ng = _triplet(np.random.default_rng(2), np.float64, n=8, d=4)
    ps[3] += 0.3                       # away from the kinks that central differences straddle
    ng[5] += 0.3
    _, grads = lossk.triplet_margin_loss(a, ps, ng, margin=0.8, p=p, swap=swap, return_grad=True)
    xs = [a, ps, ng]
    for k in range(3):
        def f(x, k=k):
            args = list(xs)
            args[k] = x
            return reference.triplet_margin_loss(*args, margin=0.8, p=p, swap=swap)
        np.testing.assert_allclose(grads[k], finite_difference_grad(f, xs[k]), rtol=1e-6, atol=1e-8)


def _torch_triplet(args, reduction, **kw):
    ts = [to_torch(x, True) for x in args]
    loss = F.triplet_margin_loss(*ts, reduction=reduction, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), tuple(t.grad.numpy() for t in ts)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("swap", (False, True))
def test_triplet_matches_torch(dtype, swap):
    args = _triplet(np.random.default_rng(3), dtype, n=50, d=7)
    for p in (2.0, 1.0, 1.5, 3.0):
        for reduction in REDUCTIONS:
            kw = dict(margin=0.9, p=p, swap=swap)
            res = lossk.triplet_margin_loss(*args, reduction=reduction, return_grad=True, **kw)
            _assert_all_close(res, _torch_triplet(args, reduction, **kw), dtype)


@requires_torch
def test_triplet_zero_distance_and_ties_match_torch():
    """eps = 0 and identical rows: distance 0, gradient 0 there (torch's norm backward);
    a swap tie d(a, n) = d(p, n) splits the gradient (torch's minimum); 1-d input."""
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    p = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0]])
    n = np.array([[1.0, 2.0, 3.0], [0.0, 0.5, 1.0], [1.0, 1.0, 1.5]])  # row 2: d(a,n) = d(p,n)
    for p_norm in (2.0, 1.0, 1.5, 0.5):
        for swap in (False, True):
            kw = dict(margin=1.0, p=p_norm, eps=0.0, swap=swap)
            res = lossk.triplet_margin_loss(a, p, n, return_grad=True, **kw)
            assert all(np.isfinite(g).all() for g in res[1])
            _assert_all_close(res, _torch_triplet((a, p, n), "mean", **kw), np.float64)
    res = lossk.triplet_margin_loss(a[1], p[1], n[1], reduction="none", return_grad=True)
    assert np.shape(res[0]) == ()
    _assert_all_close(res, _torch_triplet((a[1], p[1], n[1]), "none"), np.float64)


def test_triplet_grad_out_and_in_place():
    args = _triplet(np.random.default_rng(4), np.float64)
    expected = lossk.triplet_margin_loss(*args, swap=True, return_grad=True)
    outs = tuple(np.empty_like(x) for x in args)
    res = lossk.triplet_margin_loss(*args, swap=True, return_grad=True, grad_out=outs)
    assert all(g is o for g, o in zip(res[1], outs))
    _assert_bitwise(res, expected)
    copies = tuple(x.copy() for x in args)
    res = lossk.triplet_margin_loss(*copies, swap=True, return_grad=True, grad_out=copies)
    _assert_bitwise(res, expected)


def test_triplet_streaming_stores_give_the_same_bits():
    # gradients of >= 16 MiB that are 16-byte aligned (NumPy's) go out with streaming
    # stores through a scratch row; 4-byte offset ones with plain stores; in place too
    rng = np.random.default_rng(9)
    shape = (32768, 128)
    args = tuple(rng.random(shape, dtype=np.float32) for _ in range(3))
    bufs = tuple(np.empty(shape[0] * shape[1] + 1, np.float32) for _ in range(3))
    offset = tuple((b[1:] if b.ctypes.data % 16 == 0 else b[:-1]).reshape(shape) for b in bufs)
    assert all(o.ctypes.data % 16 for o in offset)
    streamed = lossk.triplet_margin_loss(*args, swap=True, return_grad=True, n_threads=2)
    assert all(g.ctypes.data % 16 == 0 for g in streamed[1])
    plain = lossk.triplet_margin_loss(*args, swap=True, return_grad=True, grad_out=offset, n_threads=1)
    _assert_bitwise(streamed, plain)
    copies = tuple(x.copy() for x in args)
    _assert_bitwise(lossk.triplet_margin_loss(*copies, swap=True, return_grad=True, grad_out=copies), plain)


def test_triplet_nonfinite_and_empty():
    a, p, n = _triplet(np.random.default_rng(5), np.float64, n=4, d=3)
    a[1, 0] = np.nan
    loss, grads = lossk.triplet_margin_loss(a, p, n, reduction="none", return_grad=True)
    ref = reference.triplet_margin_loss(a, p, n, reduction="none", return_grad=True)
    _assert_all_close((loss, grads), ref, np.float64)
    assert np.isnan(loss[1]) and np.isfinite(np.delete(loss, 1)).all()
    e = np.zeros((0, 3))
    assert np.isnan(lossk.triplet_margin_loss(e, e, e)) and lossk.triplet_margin_loss(e, e, e, reduction="sum") == 0


# ---- NT-Xent and InfoNCE -----------------------------------------------------------------

CONTRASTIVE = [("nt_xent_loss", dict(temperature=0.5), None),
               ("info_nce_loss", dict(temperature=0.1), None),
               ("info_nce_loss", dict(temperature=0.2, normalize=False), None),
               ("info_nce_loss", dict(temperature=0.1), 7),
               ("info_nce_loss", dict(temperature=0.3, normalize=False), 7)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kw, m", CONTRASTIVE)
def test_contrastive_kernel_equals_reference(dtype, name, kw, m):
    args = _embeddings(np.random.default_rng(6), dtype, m=m)
    args[0][2] = 0                          # a zero embedding
    for reduction in REDUCTIONS:
        res = getattr(lossk, name)(*args, reduction=reduction, return_grad=True, **kw)
        ref = getattr(reference, name)(*args, reduction=reduction, return_grad=True, **kw)
        assert len(res[1]) == len(args) and all(g.dtype == dtype for g in res[1])
        assert np.shape(res[0]) == (() if reduction != "none" else
                                    (2 * len(args[0]),) if name == "nt_xent_loss" else (len(args[0]),))
        _assert_all_close(res, ref, dtype)
        assert_close(getattr(lossk, name)(*args, reduction=reduction, **kw), res[0], dtype, rtol=0, atol=0)


@pytest.mark.parametrize("name, kw, m", CONTRASTIVE[:2] + CONTRASTIVE[3:4])
def test_contrastive_bitwise_across_threads_and_block_sizes(name, kw, m):
    """N beyond 2 units of rows: each block size cuts the rows differently."""
    args = _embeddings(np.random.default_rng(7), np.float32, n=300 if name == "nt_xent_loss" else 600,
                       d=8, m=m and 300)
    fn = getattr(lossk, name)
    first = fn(*args, return_grad=True, block_rows=UNIT_ROWS, n_threads=1, **kw)
    for block_rows, t in ((UNIT_ROWS, 2), (2 * UNIT_ROWS, 1), (3 * UNIT_ROWS, 2), (None, 1)):
        _assert_bitwise(fn(*args, return_grad=True, block_rows=block_rows, n_threads=t, **kw), first)
    _assert_all_close(first, getattr(reference, name)(*args, return_grad=True, **kw), np.float32)


@pytest.mark.parametrize("name, kw, m", CONTRASTIVE)
def test_contrastive_finite_differences(name, kw, m):
    args = _embeddings(np.random.default_rng(8), np.float64, n=4, d=3, m=m and 3)
    _, grads = getattr(lossk, name)(*args, return_grad=True, **kw)
    for k in range(len(args)):
        def f(x, k=k):
            a = list(args)
            a[k] = x
            return getattr(reference, name)(*a, **kw)
        np.testing.assert_allclose(grads[k], finite_difference_grad(f, args[k]), rtol=1e-6, atol=1e-8)


def _torch_nt_xent(z1, z2, temperature, reduction):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = z.shape[0]
    s = (z @ z.T / temperature).masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, (torch.arange(n2) + n2 // 2) % n2, reduction=reduction)


def _torch_info_nce(query, positive_key, negative_keys=None, temperature=0.1, normalize=True,
                    reduction="mean"):
    if normalize:
        query, positive_key = F.normalize(query, dim=1), F.normalize(positive_key, dim=1)
        negative_keys = None if negative_keys is None else F.normalize(negative_keys, dim=1)
    if negative_keys is None:
        logits, target = query @ positive_key.T, torch.arange(len(query))
    else:
        logits = torch.cat([(query * positive_key).sum(1, keepdim=True), query @ negative_keys.T], 1)
        target = torch.zeros(len(query), dtype=torch.long)
    return F.cross_entropy(logits / temperature, target, reduction=reduction)


def _torch_result(fn, args, reduction, **kw):
    ts = [to_torch(x, True) for x in args]
    loss = fn(*ts, reduction=reduction, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), tuple(t.grad.numpy() for t in ts)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kw, m", CONTRASTIVE)
def test_contrastive_matches_torch_transcription(dtype, name, kw, m):
    args = _embeddings(np.random.default_rng(9), dtype, n=13, d=5, m=m)
    args[1][4] = 0                           # a zero embedding: F.normalize's limit, finite
    peer = _torch_nt_xent if name == "nt_xent_loss" else _torch_info_nce
    for reduction in REDUCTIONS:
        res = getattr(lossk, name)(*args, reduction=reduction, return_grad=True, **kw)
        assert all(np.isfinite(g).all() for g in res[1])
        _assert_all_close(res, _torch_result(peer, args, reduction, **kw), dtype)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_contrastive_matches_pytorch_metric_learning(dtype):
    """PML's NTXentLoss with labels (i, i) for the pairs: its positive pairs are
    exactly SimCLR's, its mean over positive pairs is the mean over the 2N
    anchors, and its + finfo.tiny inside the log is below float resolution here.
    Its temperature default (0.07) differs: given explicitly."""
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    z1, z2 = _embeddings(np.random.default_rng(10), dtype, n=9, d=5)
    t1, t2 = to_torch(z1, True), to_torch(z2, True)
    labels = torch.arange(9)
    pml = losses.NTXentLoss(temperature=0.3)
    loss = pml(torch.cat([t1, t2]), torch.cat([labels, labels]))
    loss.backward()
    _assert_all_close(lossk.nt_xent_loss(z1, z2, temperature=0.3, return_grad=True),
                      (loss.detach().numpy(), (t1.grad.numpy(), t2.grad.numpy())), dtype)


def test_contrastive_zero_embeddings_are_finite():
    z = np.zeros((4, 3))
    loss, (g1, g2) = lossk.nt_xent_loss(z, z, return_grad=True)
    assert np.isclose(loss, np.log(7)) and np.all(g1 == 0) and np.all(g2 == 0)   # every logit 0
    q = np.random.default_rng(11).standard_normal((4, 3))
    loss, grads = lossk.info_nce_loss(q, z, z[:2], return_grad=True)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads)


def test_contrastive_grad_out_and_in_place():
    z1, z2 = _embeddings(np.random.default_rng(12), np.float64)
    expected = lossk.nt_xent_loss(z1, z2, return_grad=True)
    c1, c2 = z1.copy(), z2.copy()
    res = lossk.nt_xent_loss(c1, c2, return_grad=True, grad_out=(c1, c2))
    assert res[1][0] is c1 and res[1][1] is c2
    _assert_bitwise(res, expected)


def test_bad_input():
    rng = np.random.default_rng(13)
    a, p, n = _triplet(rng, np.float64, n=4, d=3)
    z1, z2, neg = _embeddings(rng, np.float64, n=4, d=3, m=2)
    assert_all_raise([
        (lambda: lossk.triplet_margin_loss(a, p, n, margin=0.0), ValueError, "margin"),
        (lambda: lossk.triplet_margin_loss(a, p, n, margin=-1.0), ValueError, "margin"),
        (lambda: lossk.triplet_margin_loss(a, p, n, margin=np.nan), ValueError, "margin"),
        (lambda: lossk.triplet_margin_loss(a, p, n, p=0.0), ValueError, "p must"),
        (lambda: lossk.triplet_margin_loss(a, p, n, p=-2.0), ValueError, "p must"),
        (lambda: lossk.triplet_margin_loss(a, p, n, p=np.inf), ValueError, "p must"),
        (lambda: lossk.triplet_margin_loss(a, p[:3], n), ValueError, "positive"),
        (lambda: lossk.triplet_margin_loss(a, p, n[:, :2]), ValueError, "negative"),
        (lambda: lossk.triplet_margin_loss(a, p, n, swap=1), TypeError, "swap"),
        (lambda: lossk.triplet_margin_loss(a.astype(int), p, n), TypeError, "anchor"),
        (lambda: lossk.nt_xent_loss(z1, z2, temperature=0.0), ValueError, "temperature"),
        (lambda: lossk.nt_xent_loss(z1, z2, temperature=-0.5), ValueError, "temperature"),
        (lambda: lossk.nt_xent_loss(z1, z2, temperature=np.nan), ValueError, "temperature"),
        (lambda: lossk.nt_xent_loss(z1, z2[:3]), ValueError, "z2"),
        (lambda: lossk.nt_xent_loss(z1[:1], z2[:1]), ValueError, "N >= 2"),
        (lambda: lossk.nt_xent_loss(z1[0], z2[0]), ValueError, "z1"),
        (lambda: lossk.nt_xent_loss(z1, z2, block_rows=100), ValueError, "block_rows"),
        (lambda: lossk.nt_xent_loss(z1, z2, block_rows=2.0), TypeError, "block_rows"),
        (lambda: lossk.info_nce_loss(z1, z2, temperature=0), ValueError, "temperature"),
        (lambda: lossk.info_nce_loss(z1, z2[:, :2]), ValueError, "positive_key"),
        (lambda: lossk.info_nce_loss(z1[:1], z2[:1]), ValueError, "N >= 2"),
        (lambda: lossk.info_nce_loss(z1, z2, neg[:, :2]), ValueError, "negative_keys"),
        (lambda: lossk.info_nce_loss(z1, z2, neg[:0]), ValueError, "negative_keys"),
        (lambda: lossk.info_nce_loss(z1, z2, normalize="yes"), TypeError, "normalize"),
        (lambda: lossk.info_nce_loss(z1, z2, reduction="batchmean"), ValueError, "reduction"),
    ])
    # one query with separate negatives is fine; none gives the mean of nothing
    assert np.isfinite(lossk.info_nce_loss(z1[:1], z2[:1], neg))
    assert np.isnan(lossk.info_nce_loss(z1[:0], z2[:0], neg)) and lossk.info_nce_loss(z1[:0], z2[:0], neg, reduction="sum") == 0


# ---- upstream= (the "none" backward of any grad_output) -----------------------------------

@pytest.mark.parametrize("name, kw, m", CONTRASTIVE[:2] + CONTRASTIVE[3:4])
def test_contrastive_upstream(name, kw, m):
    """d(sum_i u_i loss_i): kernel = reference (float32, float64), = finite differences
    of sum_i u_i loss_i, = torch autograd with grad_output u; bitwise for every
    thread count and block size."""
    fn, ref = getattr(lossk, name), getattr(reference, name)
    rng = np.random.default_rng(10)
    for dtype in DTYPES:
        args = _embeddings(rng, dtype, n=9, d=5, m=m)
        rows = 2 * 9 if name == "nt_xent_loss" else 9
        u = rng.standard_normal(rows)
        res = fn(*args, reduction="none", return_grad=True, upstream=u, **kw)
        _assert_all_close(res, ref(*args, reduction="none", return_grad=True, upstream=u, **kw), dtype)
        if torch is not None:
            peer = _torch_nt_xent if name == "nt_xent_loss" else _torch_info_nce
            ts = [to_torch(x, True) for x in args]
            loss = peer(*ts, reduction="none", **kw)
            loss.backward(torch.from_numpy(u.astype(dtype)))
            _assert_all_close(res, (loss.detach().numpy(), tuple(t.grad.numpy() for t in ts)), dtype)
    _, grads = res                                     # float64
    for k in range(len(args)):
        def f(x, k=k):
            a = list(args)
            a[k] = x
            return float(u @ ref(*a, reduction="none", **kw))
        np.testing.assert_allclose(grads[k], finite_difference_grad(f, args[k]), rtol=1e-6, atol=1e-8)
    big = _embeddings(rng, np.float32, n=300, d=4, m=m and 50)
    ub = rng.standard_normal(600 if name == "nt_xent_loss" else 300).astype(np.float32).astype(np.float64)
    first = fn(*big, reduction="none", return_grad=True, upstream=ub, block_rows=UNIT_ROWS, n_threads=1, **kw)
    _assert_bitwise(fn(*big, reduction="none", return_grad=True, upstream=ub.astype(np.float32), n_threads=2,
                       **kw), first)


def test_contrastive_upstream_bad_input():
    z1, z2 = _embeddings(np.random.default_rng(11), np.float64, n=3, d=2)
    u = np.ones(6)
    f = lossk.nt_xent_loss
    assert_all_raise([
        (lambda: f(z1, z2, upstream=u, return_grad=True), ValueError, "upstream"),            # mean
        (lambda: f(z1, z2, upstream=u, reduction="none"), ValueError, "upstream"),            # no gradient
        (lambda: f(z1, z2, upstream=u[:3], reduction="none", return_grad=True), ValueError, "upstream"),
        (lambda: f(z1, z2, upstream=u.astype(complex), reduction="none", return_grad=True), TypeError,
         "upstream")])
    with pytest.raises(ValueError, match="upstream"):
        lossk.info_nce_loss(z1, z2, reduction="none", return_grad=True, upstream=u)
    # non-finite weights propagate
    _, (g1, _) = lossk.info_nce_loss(z1, z2, reduction="none", return_grad=True, upstream=[1, np.nan, 1])
    assert np.isnan(g1).any()
