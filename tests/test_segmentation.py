"""dice_loss / tversky_loss: kernel vs reference over modes and options, a
hand-computed value, gradients vs finite differences of the reference, bitwise
results for every thread count, grad_out and in place, odd layouts, empty and
non-finite inputs, bad arguments. SMP itself: tests/test_segmentation_smp.py."""
import numpy as np
import pytest

import lossk
from lossk import reference
from helpers import (assert_all_raise, assert_bitwise_across_threads, assert_close, assert_grad_out_and_in_place,
                     finite_difference_grad)

DTYPES = (np.float32, np.float64)
LOSSES = ("dice_loss", "tversky_loss")
TVERSKY = dict(alpha=0.3, beta=0.8, gamma=1.7)


def make(rng, mode, shape, dtype, ignore=None, from_logits=True):
    """pred of `shape` and a target for `mode`: class maps with a class absent, or
    0/1 masks with a channel empty; `ignore` marks some elements."""
    x = rng.standard_normal(shape)
    if not from_logits:
        x = rng.random(shape)
    x = x.astype(dtype)
    if mode == "multiclass":
        c = shape[1]
        t = rng.integers(0, c, (shape[0],) + shape[2:])
        if c > 2:
            t[t == c - 1] = 0                                  # the last class absent
        if ignore is not None:
            t.reshape(-1)[::4] = ignore
    else:
        t = (rng.random(shape) < 0.4).astype(dtype)
        if shape[1] > 1:
            t[:, -1] = 0                                       # the last channel empty
        if ignore is not None:
            t.reshape(-1)[1::5] = ignore
    return x, t


def options(name, **kw):
    return dict(TVERSKY, **kw) if name == "tversky_loss" else kw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ("multiclass", "multilabel", "binary"))
def test_kernel_equals_reference(mode, dtype):
    rng = np.random.default_rng(0)
    shape = (3, 1 if mode == "binary" else 4, 5, 6)
    for name in LOSSES:
        fn, ref = getattr(lossk, name), getattr(reference, name)
        for opts in (dict(), dict(from_logits=False), dict(smooth=1.0, eps=0.3), dict(ignore_index=-1),
                     dict(per_image=True), dict(per_image=True, ignore_index=2, smooth=0.25)):
            x, t = make(rng, mode, shape, dtype, opts.get("ignore_index"), opts.get("from_logits", True))
            for reduction in ("mean", "none"):
                kw = options(name, reduction=reduction, **opts)
                loss, grad = fn(x, t, mode=mode, return_grad=True, **kw)
                rloss, rgrad = ref(x, t, mode=mode, return_grad=True, **kw)
                classes = 1 if mode == "binary" else shape[1]
                expect = () if reduction == "mean" else (shape[0], classes) if opts.get("per_image") else (classes,)
                assert np.shape(loss) == expect and np.asarray(loss).dtype == dtype
                assert grad.dtype == dtype and grad.shape == x.shape
                assert_close(loss, rloss)
                assert_close(grad, rgrad)
                # the loss alone: no gradient work, the same bits
                assert np.asarray(fn(x, t, mode=mode, **kw)).tobytes() == np.asarray(loss).tobytes()
                assert_close(fn(x, t, mode=mode, backend="numpy", **kw), rloss, rtol=0, atol=0)


def test_formula_by_hand():
    # one image, two pixels, probabilities given: class 0 I = 1, Sp = 1, St = 2 -> dice 2/3;
    # class 1 is absent from the target: 0. Mean over the classes: 1/6.
    p = np.array([[[0.5, 0.5], [0.5, 0.5]]])
    t = np.array([[0, 0]])
    for backend in ("c", "numpy"):
        assert lossk.dice_loss(p, t, mode="multiclass", from_logits=False, backend=backend) == pytest.approx(1 / 6)
        np.testing.assert_allclose(lossk.dice_loss(p, t, mode="multiclass", from_logits=False, reduction="none",
                                                   backend=backend), [1 / 3, 0.0], rtol=1e-15)
        # Tversky alpha = 0, beta = 1: I / (I + FN) = 1 / 2 for class 0; gamma 2 squares the mean 1/4
        assert lossk.tversky_loss(p, t, mode="multiclass", from_logits=False, alpha=0.0, beta=1.0, gamma=2.0,
                                  backend=backend) == pytest.approx(1 / 16)
    # a perfect prediction scores 1: loss 0; soft masks take I = sum min(p, t) (SMP's L1 form)
    assert lossk.dice_loss(np.eye(2)[None, :, :], np.array([[0, 1]]), mode="multiclass", from_logits=False) == 0
    soft = lossk.dice_loss(np.array([[[0.2, 0.9]]]), np.array([[[0.5, 0.5]]]), mode="binary", from_logits=False)
    assert soft == pytest.approx(1 - 2 * (0.2 + 0.5) / (1.1 + 1.0))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("mode", ("multiclass", "multilabel"))
def test_gradients_match_finite_differences(name, mode):
    rng = np.random.default_rng(1)
    x, t = make(rng, mode, (2, 3, 2, 3), np.float64, ignore=-1)
    ref = getattr(reference, name)
    for kw in (options(name, ignore_index=-1),
               options(name, ignore_index=-1, per_image=True, smooth=0.5, reduction="none"),
               options(name, ignore_index=-1, from_logits=False, eps=0.0, smooth=0.1, per_image=True)):
        if not kw.get("from_logits", True):
            x = rng.uniform(0.05, 0.95, x.shape)         # away from the kinks of |p - t|
        _, grad = getattr(lossk, name)(x, t, mode=mode, return_grad=True, **kw)
        fd = finite_difference_grad(lambda z: np.sum(ref(z, t, mode=mode, **kw)), x)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("mode", ("multiclass", "multilabel", "binary"))
def test_bitwise_for_every_thread_count(mode):
    # 2 x 6 x 150 x 150 elements: several blocks of tiles, images split across blocks
    rng = np.random.default_rng(2)
    x, t = make(rng, mode, (2, 1 if mode == "binary" else 6, 150, 150), np.float32, ignore=-1)
    for per_image in (False, True):
        assert_bitwise_across_threads(lossk.tversky_loss, x, t, mode=mode, per_image=per_image, ignore_index=-1,
                                      **TVERSKY)


@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_out_and_in_place(dtype):
    rng = np.random.default_rng(3)
    for mode in ("multiclass", "multilabel"):
        x, t = make(rng, mode, (2, 3, 7, 5), dtype)
        assert_grad_out_and_in_place(lossk.dice_loss, x, t, mode=mode)
        assert_grad_out_and_in_place(lossk.tversky_loss, x, t, mode=mode, per_image=True, reduction="none",
                                     **TVERSKY)


@pytest.mark.parametrize("name", LOSSES)
def test_layouts(name):
    rng = np.random.default_rng(4)
    cases = [
        ("multiclass", (6, 5), None),              # 0-d spatial: (N, C) scores, (N,) labels
        ("multilabel", (6, 5), None),
        ("multiclass", (2, 3, 4, 3, 5), None),     # 3-d spatial
        ("multilabel", (2, 3, 4, 3, 5), None),
        ("binary", (2, 3, 4), None),               # binary over C > 1 channels: one class (SMP's reshape)
        ("binary", (2, 1, 4, 5), (2, 4, 5)),       # binary with SMP's (N, H, W) target
    ]
    for mode, shape, target_shape in cases:
        x, t = make(rng, mode, shape, np.float64)
        if target_shape is not None:
            t = t.reshape(target_shape)
        for kw in (options(name), options(name, per_image=True, reduction="none")):
            loss, grad = getattr(lossk, name)(x, t, mode=mode, return_grad=True, **kw)
            rloss, rgrad = getattr(reference, name)(x, t, mode=mode, return_grad=True, **kw)
            assert_close(loss, rloss)
            assert_close(grad, rgrad)
    # int32 class maps read as they are, same numbers as int64; float16 computed in float32
    x, t = make(rng, "multiclass", (2, 3, 4, 4), np.float32)
    fn = getattr(lossk, name)
    a, b = fn(x, t, mode="multiclass", return_grad=True), fn(x, t.astype(np.int32), mode="multiclass", return_grad=True)
    assert a[0] == b[0] and a[1].tobytes() == b[1].tobytes()
    h = fn(x.astype(np.float16), t, mode="multiclass")
    assert h.dtype == np.float32 and h == fn(x.astype(np.float16).astype(np.float32), t, mode="multiclass")


def test_empty_and_nonfinite():
    # no images: every class absent, loss 0 (as SMP); per image, the mean of nothing is NaN
    x, t = np.zeros((0, 3, 4)), np.zeros((0, 4), np.int64)
    loss, grad = lossk.dice_loss(x, t, mode="multiclass", return_grad=True)
    assert loss == 0 and grad.shape == x.shape
    assert np.isnan(lossk.dice_loss(x, t, mode="multiclass", per_image=True))
    assert lossk.dice_loss(x, t, mode="multiclass", reduction="none").shape == (3,)
    # NaN propagates to the loss and every gradient of its image's classes; NaN in an
    # ignored pixel too (SMP multiplies p by the mask: NaN * 0)
    rng = np.random.default_rng(5)
    x, t = make(rng, "multiclass", (2, 3, 4, 4), np.float64)
    x[0, 1, 2, 2] = np.nan
    for kw in (dict(), dict(ignore_index=-1)):
        tt = t.copy()
        if kw:
            tt[0, 2, 2] = -1
        loss, grad = lossk.dice_loss(x, tt, mode="multiclass", return_grad=True, **kw)
        assert np.isnan(loss) and np.isnan(grad).all()
        assert np.isnan(reference.dice_loss(x, tt, mode="multiclass", **kw))


def test_bad_input():
    x = np.zeros((2, 3, 4, 4))
    t = np.zeros((2, 4, 4), np.int64)
    m = np.zeros_like(x)
    bad = t.copy()
    bad[1, 2, 3] = 3
    neg = t.copy()
    neg[0, 0, 1] = -1
    cases = [(lambda kw=kw: lossk.tversky_loss(x, t, mode="multiclass", **kw), ValueError, pat)
             for kw, pat in ((dict(smooth=-1.0), "smooth"), (dict(eps=-1e-7), "eps"), (dict(alpha=-0.1), "alpha"),
                             (dict(beta=-0.1), "beta"), (dict(gamma=0.0), "gamma"), (dict(gamma=-1.0), "gamma"),
                             (dict(gamma=float("nan")), "gamma"), (dict(smooth=float("inf")), "smooth"),
                             (dict(reduction="sum"), "reduction"), (dict(ignore_index=1.5), None))
             if pat is not None]
    cases += [
        (lambda: lossk.dice_loss(x, t, mode="multi-class"), ValueError, "mode"),
        (lambda: lossk.dice_loss(x, t, mode=None), ValueError, "mode"),
        (lambda: lossk.dice_loss(x, bad, mode="multiclass"), ValueError, r"target\[1, 2, 3\] = 3 .*\[0, 3\)"),
        (lambda: lossk.dice_loss(x, bad, mode="multiclass", ignore_index=255), ValueError, r"target\[1, 2, 3\]"),
        (lambda: lossk.dice_loss(x, neg, mode="multiclass"), ValueError, r"target\[0, 0, 1\] = -1"),
        (lambda: lossk.dice_loss(x, bad, mode="multiclass", backend="numpy"), ValueError, r"target\[1, 2, 3\] = 3"),
        (lambda: lossk.dice_loss(x, t[:, :3], mode="multiclass"), ValueError, "target must have shape"),
        (lambda: lossk.dice_loss(x, m, mode="multiclass"), TypeError, "target"),
        (lambda: lossk.dice_loss(x, m[:, :2], mode="multilabel"), ValueError, "target must have the shape of pred"),
        (lambda: lossk.dice_loss(x, t, mode="binary"), ValueError, "target must have the shape of pred"),
        (lambda: lossk.dice_loss(x, m.astype(complex), mode="multilabel"), TypeError, "target"),
        (lambda: lossk.dice_loss(np.zeros(4), np.zeros(4), mode="binary"), ValueError, "pred must have shape"),
        (lambda: lossk.dice_loss(x.astype(np.int64), t, mode="multiclass"), TypeError, "pred"),
        (lambda: lossk.dice_loss(x, t, mode="multiclass", from_logits=1), TypeError, "from_logits"),
        (lambda: lossk.dice_loss(x, t, mode="multiclass", per_image="yes"), TypeError, "per_image"),
        (lambda: lossk.dice_loss(x, t, mode="multiclass", ignore_index=1.5), TypeError, "ignore_index"),
        (lambda: lossk.dice_loss(x, t, mode="multiclass", return_grad=True, grad_out=np.zeros((2, 3, 4))),
         ValueError, "grad_out"),
        (lambda: lossk.dice_loss(x, m, mode="multilabel", return_grad=True, grad_out=m), ValueError, "overlaps"),
    ]
    assert_all_raise(cases)


@pytest.mark.parametrize("name", LOSSES)
def test_upstream(name):
    """upstream=: d(sum_k u_k L_k)/d(pred), kernel = reference over modes and dtypes,
    = finite differences of sum_k u_k L_k (float64), bitwise for 1 and 2 threads;
    u = 1 is the plain "none" gradient. SMP's per-class backward: test_segmentation_smp.py."""
    fn, ref = getattr(lossk, name), getattr(reference, name)
    rng = np.random.default_rng(6)
    for mode, per_image in (("multiclass", False), ("multilabel", True), ("binary", True)):
        for dtype in DTYPES:
            x, t = make(rng, mode, (2, 1 if mode == "binary" else 3, 3, 4), dtype, ignore=-1)
            kw = options(name, mode=mode, ignore_index=-1, per_image=per_image, reduction="none", return_grad=True)
            shape = fn(x, t, **kw)[0].shape
            u = rng.standard_normal(shape)
            loss, grad = fn(x, t, upstream=u, **kw)
            rloss, rgrad = ref(x, t, upstream=u, **kw)
            assert_close(loss, rloss)
            assert_close(grad, rgrad)
            assert fn(x, t, upstream=u, n_threads=2, **kw)[1].tobytes() == grad.tobytes()
            assert fn(x, t, upstream=np.ones(shape, np.float32), **kw)[1].tobytes() == fn(x, t, **kw)[1].tobytes()
        kw.pop("return_grad")
        fd = finite_difference_grad(lambda z: float(np.sum(u * ref(z, t, **kw))), x)
        np.testing.assert_allclose(fn(x, t, upstream=u, return_grad=True, **kw)[1], fd, rtol=1e-6, atol=1e-9)
    x, t = make(rng, "multiclass", (2, 3, 2, 2), np.float64)
    f = getattr(lossk, name)
    assert_all_raise([
        (lambda: f(x, t, mode="multiclass", upstream=np.ones(3), return_grad=True), ValueError, "upstream"),
        (lambda: f(x, t, mode="multiclass", upstream=np.ones(3), reduction="none"), ValueError, "upstream"),
        (lambda: f(x, t, mode="multiclass", upstream=np.ones((2, 3)), reduction="none", return_grad=True),
         ValueError, "upstream"),
        (lambda: f(x, t, mode="multiclass", upstream=["a"] * 3, reduction="none", return_grad=True), TypeError,
         "upstream")])
    # non-finite weights propagate
    g = f(x, t, mode="multiclass", upstream=[np.nan, 1, 1], reduction="none", return_grad=True)[1]
    assert np.isnan(g).any()


def test_bad_index_writes_nothing_in_place():
    # pass 1 stores the softmax in grad: the class indices are checked before it
    rng = np.random.default_rng(7)
    x, t = make(rng, "multiclass", (2, 3, 40, 40), np.float32)
    t[1, 39, 39] = 3
    before = x.copy()
    with pytest.raises(ValueError, match=r"target\[1, 39, 39\] = 3"):
        lossk.dice_loss(x, t, mode="multiclass", return_grad=True, grad_out=x)
    assert x.tobytes() == before.tobytes()
