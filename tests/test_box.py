"""The IoU family (csrc/box/box_iou.c): kernel vs NumPy reference, gradients vs
finite differences, thread determinism, the calling convention, bad input,
Wise-IoU v3's state and the pairwise matrices. Torch oracles and degenerate
boxes: test_box_torch.py."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lossk
from lossk import reference
from lossk._registry import family
from helpers import THREAD_COUNTS, assert_bitwise_across_threads, assert_close, finite_difference_grad

LOSS_NAMES = tuple(family("box"))
FORMATS = ("xyxy", "xywh", "cxcywh")
# Every option value worth covering, per loss with options (the defaults first).
OPTIONS = {
    "ciou_loss": [{}, {"alpha": "yolo"}],
    "eiou_loss": [{}, {"focal_gamma": 0.5}, {"focal_gamma": 2.0}],
    "siou_loss": [{}, {"theta": 1.0}, {"theta": 2.5}],
}
LOSS_CASES = [(name, opts) for name in LOSS_NAMES for opts in OPTIONS.get(name, [{}])]
LOSS_IDS = [name + "".join(f"-{k}={v}" for k, v in opts.items()) for name, opts in LOSS_CASES]


def to_format(xyxy, box_format):
    x1, y1, x2, y2 = np.moveaxis(xyxy, -1, 0)
    if box_format == "xywh":
        return np.stack([x1, y1, x2 - x1, y2 - y1], axis=-1)
    if box_format == "cxcywh":
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)
    return xyxy


def make_boxes(rng, n, dtype=np.float64, box_format="xyxy", spread=3.0, grid=None):
    """n valid predictions and targets near them (some not overlapping).
    grid: coordinates are multiples of it, so that every format converts to
    corners exactly, in float32 too (the kernel converts in the input's type,
    the reference in float64); ties between coordinates then occur too."""
    xy = rng.uniform(0, 40, (n, 2))
    pred = np.concatenate([xy, xy + rng.uniform(0.5, 15, (n, 2))], axis=1)
    target = pred + rng.normal(0, spread, (n, 4))
    target[:, 2:] = np.maximum(target[:, 2:], target[:, :2] + 0.25)
    if grid:
        pred, target = np.round(pred / grid) * grid, np.round(target / grid) * grid
    return to_format(pred, box_format).astype(dtype), to_format(target, box_format).astype(dtype)


def call(fn, pred, target, **kw):
    return fn(pred, target, return_grad=True, **kw)


# ---- kernel vs reference ------------------------------------------------------

@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_reference(name, opts, box_format, dtype):
    rng = np.random.default_rng(LOSS_NAMES.index(name) + 10 * FORMATS.index(box_format))
    pred, target = make_boxes(rng, 300, dtype, box_format, grid=1 / 64)
    for reduction in ("mean", "sum", "none"):
        loss, grad = call(getattr(lossk, name), pred, target, box_format=box_format,
                          reduction=reduction, **opts)
        ref_loss, ref_grad = call(getattr(reference, name), pred, target, box_format=box_format,
                                  reduction=reduction, **opts)
        assert grad.dtype == dtype and grad.shape == pred.shape
        assert np.asarray(loss).dtype == dtype
        assert_close(loss, ref_loss, dtype)
        # float32 gradients: per-box terms of size ~1 cancel, so atol is the
        # float32 resolution of those terms, scaled as the gradient is.
        scale = 1.0 / len(pred) if reduction == "mean" else 1.0
        assert_close(grad, ref_grad, dtype, **({} if dtype == np.float64 else dict(atol=2e-6 * scale)))


def corners(b, box_format):
    x, y, u, v = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    if box_format == "xywh":
        return x, y, x + u, y + v
    if box_format == "cxcywh":
        return x - u / 2, y - v / 2, x + u / 2, y + v / 2
    return x, y, u, v


def aspect_term(b, t, box_format):
    """CIoU's v = 4/pi^2 (atan(wg/hg) - atan(w/h))^2."""
    x1, y1, x2, y2 = corners(b, box_format)
    X1, Y1, X2, Y2 = corners(t, box_format)
    return 4 / np.pi ** 2 * (np.arctan((X2 - X1) / (Y2 - Y1)) - np.arctan((x2 - x1) / (y2 - y1))) ** 2


def centre_ratio_parts(b, t, box_format, eps=1e-7):
    """rho^2 and the enclosing box's cw^2 + ch^2 + eps."""
    x1, y1, x2, y2 = corners(b, box_format)
    X1, Y1, X2, Y2 = corners(t, box_format)
    rho2 = ((x1 + x2 - X1 - X2) / 2) ** 2 + ((y1 + y2 - Y1 - Y2) / 2) ** 2
    cw, ch = np.maximum(x2, X2) - np.minimum(x1, X1), np.maximum(y2, Y2) - np.minimum(y1, Y1)
    diag2 = cw ** 2 + ch ** 2
    return rho2, diag2 + eps


def frozen_objective(name, opts, pred0, target, box_format):
    """The summed loss as a function of pred, with the factors the loss holds
    constant for its gradient frozen at pred0 (so that finite differences see
    what the gradient is the derivative of)."""
    def ref(fn, x, **kw):
        return getattr(reference, fn)(x, target, box_format=box_format, reduction="none", **kw)
    if name == "ciou_loss":   # alpha
        v0 = aspect_term(pred0, target, box_format)
        alpha0 = (ref("ciou_loss", pred0, **opts) - ref("diou_loss", pred0)) / v0
        return lambda x: np.sum(ref("diou_loss", x) + alpha0 * aspect_term(x, target, box_format))
    if name == "eiou_loss" and opts.get("focal_gamma"):   # IoU^gamma
        f0 = (1 - ref("iou_loss", pred0)) ** opts["focal_gamma"]
        return lambda x: np.sum(f0 * ref("eiou_loss", x))
    if name == "wiou_loss":   # the enclosing box's squared diagonal
        _, diag0 = centre_ratio_parts(pred0, target, box_format)
        ratio = lambda x: np.minimum(centre_ratio_parts(x, target, box_format)[0] / diag0, 1)
        return lambda x: np.sum(np.exp(ratio(x)) * ref("iou_loss", x))
    return lambda x: np.sum(ref(name, x, **opts))


@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
@pytest.mark.parametrize("box_format", FORMATS)
def test_reference_gradient_matches_finite_differences(name, opts, box_format):
    rng = np.random.default_rng(7)
    pred, target = make_boxes(rng, 6, np.float64, box_format)
    _, grad = call(getattr(reference, name), pred, target, box_format=box_format, reduction="sum",
                   **opts)
    fd = finite_difference_grad(frozen_objective(name, opts, pred, target, box_format), pred)
    assert_close(grad, fd, np.float64, rtol=1e-6, atol=1e-7)
    assert np.abs(grad).max() > 1e-3


def test_kernel_gradient_matches_finite_differences_wiou_v3():
    rng = np.random.default_rng(8)
    pred, target = make_boxes(rng, 6)
    loss_fn = lossk.WIoULoss().eval()
    loss_fn.mean_iou_loss = 0.4
    _, grad = loss_fn(pred, target, reduction="sum", return_grad=True)
    # r (and the v1 denominator) are constants for the gradient
    r0 = _wiou_r(lossk.iou_loss(pred, target, reduction="none"), 0.4)
    _, diag0 = centre_ratio_parts(pred, target, "xyxy")
    ratio = lambda x: np.minimum(centre_ratio_parts(x, target, "xyxy")[0] / diag0, 1)
    frozen = lambda x: np.sum(r0 * np.exp(ratio(x)) * lossk.iou_loss(x, target, reduction="none"))
    assert_close(grad, finite_difference_grad(frozen, pred), np.float64, rtol=1e-6, atol=1e-7)
    moving = finite_difference_grad(lambda x: loss_fn(x, target, reduction="sum"), pred)
    assert not np.allclose(grad, moving, rtol=1e-3)


def _wiou_r(liou, mean, alpha=1.9, delta=3.0):
    beta = liou / mean
    return beta / (delta * alpha ** (beta - delta))


# ---- threads, layouts, outputs ----------------------------------------------------

@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
def test_bitwise_identical_for_every_thread_count(name, opts):
    rng = np.random.default_rng(3)
    pred, target = make_boxes(rng, 100_003, np.float32)
    assert_bitwise_across_threads(getattr(lossk, name), pred, target, **opts)
    pred64, target64 = make_boxes(rng, 40_001, np.float64, "cxcywh")
    assert_bitwise_across_threads(getattr(lossk, name), pred64, target64, box_format="cxcywh",
                                  reduction="sum", **opts)


def test_wiou_v3_state_bitwise_identical_for_every_thread_count():
    rng = np.random.default_rng(4)
    pred, target = make_boxes(rng, 70_001, np.float32)
    results = []
    for t in THREAD_COUNTS:
        fn = lossk.WIoULoss(momentum=0.3)
        loss, grad = fn(pred, target, return_grad=True, n_threads=t)
        results.append((np.asarray(loss).tobytes(), grad.tobytes(), fn.mean_iou_loss))
    assert all(r == results[0] for r in results[1:])


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_grad_out_in_place_read_only_non_contiguous(name):
    fn = getattr(lossk, name)
    rng = np.random.default_rng(5)
    pred, target = make_boxes(rng, 5000, np.float32)
    loss, grad = call(fn, pred, target)
    out = np.empty_like(pred)
    loss2, grad2 = call(fn, pred, target, grad_out=out)
    assert grad2 is out and loss2 == loss and np.array_equal(grad2, grad)
    inplace = pred.copy()
    loss3, grad3 = call(fn, inplace, target, grad_out=inplace)
    assert grad3 is inplace and loss3 == loss and np.array_equal(inplace, grad)
    ro_pred, ro_target = pred.copy(), target.copy()
    ro_pred.flags.writeable = ro_target.flags.writeable = False
    assert np.array_equal(call(fn, ro_pred, ro_target)[1], grad)
    wide_p = np.zeros((5000, 8), np.float32); wide_p[:, ::2] = pred
    wide_t = np.zeros((8, 5000), np.float32); wide_t[::2] = target.T
    loss4, grad4 = call(fn, wide_p[:, ::2], wide_t[::2].T)
    assert loss4 == loss and np.array_equal(grad4, grad)
    # lists and float16 (computed in float32)
    loss5 = fn(pred[:3].tolist(), target[:3].tolist())
    assert_close(loss5, fn(pred[:3].astype(np.float64), target[:3].astype(np.float64)), np.float32)
    l16, g16 = call(fn, pred[:50].astype(np.float16), target[:50])
    assert g16.dtype == np.float32 and np.asarray(l16).dtype == np.float32
    assert_close(l16, fn(pred[:50].astype(np.float16).astype(np.float32), target[:50]), np.float32)
    # integer targets are fine
    assert np.isfinite(fn(pred[:20], np.rint(target[:20]).astype(np.int64)))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_shapes_single_box_batched_and_empty(name):
    fn = getattr(lossk, name)
    rng = np.random.default_rng(6)
    pred, target = make_boxes(rng, 12)
    per_box, grad = call(fn, pred, target, reduction="none")
    one, g1 = call(fn, pred[0], target[0], reduction="none")
    assert np.shape(one) == () and g1.shape == (4,)
    assert_close(one, per_box[0]) and assert_close(g1, grad[0])
    batched, gb = call(fn, pred.reshape(3, 4, 4), target.reshape(3, 4, 4), reduction="none")
    assert batched.shape == (3, 4) and gb.shape == (3, 4, 4)
    assert_close(batched.reshape(-1), per_box) and assert_close(gb.reshape(-1, 4), grad)
    empty = np.zeros((0, 4))
    mean, g = call(fn, empty, empty)
    assert mean == 0.0 and g.shape == (0, 4)     # torchvision: mean of nothing is 0 * sum
    assert fn(empty, empty, reduction="sum") == 0.0
    assert fn(empty, empty, reduction="none").shape == (0,)
    assert call(reference.__dict__[name], empty, empty)[0] == 0.0


def test_mean_and_sum_are_consistent_with_none():
    rng = np.random.default_rng(9)
    pred, target = make_boxes(rng, 1000)
    per_box, g_none = call(lossk.ciou_loss, pred, target, reduction="none")
    total, g_sum = call(lossk.ciou_loss, pred, target, reduction="sum")
    mean, g_mean = call(lossk.ciou_loss, pred, target)
    assert_close(total, per_box.sum()) and assert_close(mean, per_box.mean())
    assert_close(g_sum, g_none) and assert_close(g_mean, g_none / 1000)


def test_loss_without_gradient_equals_loss_with_it():
    # the loss-only instantiation skips all gradient work; FMA contraction may
    # round the two instantiations differently in the last bit
    rng = np.random.default_rng(10)
    pred, target = make_boxes(rng, 100)
    for name, opts in LOSS_CASES:
        fn = getattr(lossk, name)
        assert_close(fn(pred, target, reduction="none", **opts),
                     call(fn, pred, target, reduction="none", **opts)[0], rtol=1e-14, atol=0)


@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
def test_infinite_coordinates_match_reference(name, opts):
    """inf and NaN propagate as in the reference (IEEE): CIoU's one-atan angle
    difference is recomputed with clamped sizes for a tile with a NaN loss, so
    that atan(inf/h) is pi/2 there too, not inf/inf."""
    rng = np.random.default_rng(20)
    pred, target = make_boxes(rng, 300)
    pred[3, 2], target[7, 3], target[150, 0], pred[290, 1] = np.inf, np.inf, -np.inf, np.nan
    for dtype in (np.float32, np.float64):
        p, t = pred.astype(dtype), target.astype(dtype)
        with np.errstate(all="ignore"):
            loss, grad = call(getattr(lossk, name), p, t, reduction="none", **opts)
            ref_loss, ref_grad = call(getattr(reference, name), p, t, reduction="none", **opts)
        assert_close(loss, ref_loss, dtype)    # inf where inf, NaN where NaN
        finite = np.isfinite(ref_grad)
        assert_close(grad[finite], ref_grad[finite], dtype, **({} if dtype == np.float64 else dict(atol=2e-6)))
        assert np.isfinite(loss[[0, 1, 2, 4, 100, 299]]).all()


# ---- Wise-IoU v3 ---------------------------------------------------------------------

def test_wiou_v3_running_mean_update_and_focusing_factor():
    rng = np.random.default_rng(11)
    pred, target = make_boxes(rng, 500)
    fn = lossk.WIoULoss(momentum=0.1, alpha=1.7, delta=2.5)
    assert fn.mean_iou_loss == 1.0 and fn.training
    liou = lossk.iou_loss(pred, target, reduction="none")
    v1, g1 = call(lossk.wiou_loss, pred, target, reduction="none")
    per_box, grad = fn(pred, target, reduction="none", return_grad=True)
    mean = 0.9 * 1.0 + 0.1 * liou.mean()          # updated first, then used
    assert fn.mean_iou_loss == pytest.approx(mean, rel=1e-14)
    r = _wiou_r(liou, mean, 1.7, 2.5)
    assert_close(per_box, r * v1)
    assert_close(grad, r[:, None] * g1)           # r is a constant for the gradient
    fn.eval()
    assert not fn.training
    fn(pred, target)
    assert fn.mean_iou_loss == pytest.approx(mean, rel=1e-14)   # eval: not updated
    fn.train()
    fn(pred, target)
    assert fn.mean_iou_loss == pytest.approx(0.9 * mean + 0.1 * liou.mean(), rel=1e-14)
    fn.mean_iou_loss = 0.25
    expected = np.mean(_wiou_r(liou, 0.25, 1.7, 2.5) * v1)
    assert fn.eval()(pred, target) == pytest.approx(expected, rel=1e-12)
    fn.train()(np.zeros((0, 4)), np.zeros((0, 4)))
    assert fn.mean_iou_loss == 0.25               # no boxes: no update
    assert "mean_iou_loss=0.25" in repr(fn)


def test_wiou_v3_matches_reference_class():
    rng = np.random.default_rng(12)
    ours, ref = lossk.WIoULoss(momentum=0.2), reference.WIoULoss(momentum=0.2)
    for step in range(3):
        pred, target = make_boxes(rng, 200, box_format="xywh")
        a = ours(pred, target, box_format="xywh", return_grad=True)
        b = ref(pred, target, box_format="xywh", return_grad=True)
        assert_close(a[0], b[0]) and assert_close(a[1], b[1])
        assert ours.mean_iou_loss == pytest.approx(ref.mean_iou_loss, rel=1e-13)
    assert ours(pred, target, backend="numpy") == pytest.approx(ref(pred, target), rel=1e-12)


def test_wiou_v3_bad_parameters():
    with pytest.raises(ValueError, match="momentum"):
        lossk.WIoULoss(momentum=1.5)
    with pytest.raises(ValueError, match="alpha"):
        lossk.WIoULoss(alpha=0.0)
    with pytest.raises(ValueError, match="delta"):
        lossk.WIoULoss(delta=-1.0)
    fn = lossk.WIoULoss()
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="mean_iou_loss"):
            fn.mean_iou_loss = bad
    with pytest.raises(TypeError, match="mean_iou_loss"):
        fn.mean_iou_loss = "high"
    assert fn.mean_iou_loss == 1.0
    # a NaN box makes the running mean NaN, as in the reference code; calls go on
    pred, target = make_boxes(np.random.default_rng(0), 4)
    pred[0, 0] = np.nan
    fn(pred, target)
    assert np.isnan(fn.mean_iou_loss)
    assert np.isnan(fn(pred[1:], target[1:]))


# ---- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", LOSS_NAMES)
def test_bad_input_raises_with_a_message(name):
    fn = getattr(lossk, name)
    rng = np.random.default_rng(13)
    pred, target = make_boxes(rng, 4)
    with pytest.raises(TypeError, match="pred must be a real floating-point array"):
        fn(pred.astype(np.int64), target)
    with pytest.raises(TypeError, match="pred"):
        fn(pred.astype(np.complex128), target)
    with pytest.raises(TypeError, match="target"):
        fn(pred, target.astype(np.complex128))
    with pytest.raises(ValueError, match=r"pred must have shape \(N, 4\)"):
        fn(pred[:, :3], target[:, :3])
    with pytest.raises(ValueError, match=r"target must have the shape of pred \(4, 4\)"):
        fn(pred, target[:3])
    with pytest.raises(ValueError, match="box_format must be one of"):
        fn(pred, target, box_format="yxyx")
    with pytest.raises(ValueError, match="reduction"):
        fn(pred, target, reduction="avg")
    with pytest.raises(ValueError, match="eps"):
        fn(pred, target, eps=-1e-7)
    with pytest.raises(ValueError, match="eps"):
        fn(pred, target, eps=float("inf"))
    with pytest.raises(ValueError, match="backend"):
        fn(pred, target, backend="torch")
    with pytest.raises(ValueError, match="grad_out must have shape"):
        fn(pred, target, return_grad=True, grad_out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="grad_out must have dtype"):
        fn(pred, target, return_grad=True, grad_out=np.empty((4, 4), np.float32))
    with pytest.raises(ValueError, match="grad_out overlaps target"):
        fn(pred, target, return_grad=True, grad_out=target)
    with pytest.raises(ValueError, match="return_grad=False"):
        fn(pred, target, grad_out=np.empty_like(pred))
    with pytest.raises(ValueError, match="n_threads"):
        fn(pred, target, n_threads=0)


def test_bad_options_raise():
    pred, target = make_boxes(np.random.default_rng(14), 4)
    with pytest.raises(ValueError, match="alpha must be one of"):
        lossk.ciou_loss(pred, target, alpha="mmdet")
    with pytest.raises(ValueError, match="focal_gamma"):
        lossk.eiou_loss(pred, target, focal_gamma=-0.5)
    with pytest.raises(ValueError, match="theta"):
        lossk.siou_loss(pred, target, theta=0.5)
    with pytest.raises(TypeError, match="theta"):
        lossk.siou_loss(pred, target, theta=[4])
    with pytest.raises(TypeError):
        lossk.giou_loss(pred, target, "xywh")          # options are keyword-only


def test_eiou_focal_gamma_zero_and_none_are_plain_eiou():
    pred, target = make_boxes(np.random.default_rng(15), 50)
    plain = call(lossk.eiou_loss, pred, target)
    for g in (None, 0.0):
        other = call(lossk.eiou_loss, pred, target, focal_gamma=g)
        assert other[0] == plain[0] and np.array_equal(other[1], plain[1])


def test_registry_and_reference_exports():
    for name in LOSS_NAMES:
        assert lossk.LOSSES[name] is getattr(lossk, name)
        assert callable(getattr(reference, name))
    for name in ("box_iou", "generalized_box_iou", "WIoULoss"):
        assert name not in lossk.LOSSES and hasattr(lossk, name) and hasattr(reference, name)


# ---- pairwise matrices ---------------------------------------------------------------------

@pytest.mark.parametrize("generalized", [False, True])
@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_matches_reference(generalized, box_format, dtype):
    fn, ref = (lossk.generalized_box_iou, reference.generalized_box_iou) if generalized else \
              (lossk.box_iou, reference.box_iou)
    rng = np.random.default_rng(16)
    b1, _ = make_boxes(rng, 301, dtype, box_format, grid=1 / 64)
    b2, _ = make_boxes(rng, 257, dtype, box_format, grid=1 / 64)
    out = fn(b1, b2, box_format=box_format)
    assert out.shape == (301, 257) and out.dtype == dtype
    assert_close(out, ref(b1, b2, box_format=box_format), dtype)
    assert np.array_equal(out, fn(b1, b2, box_format=box_format, n_threads=1))


def test_pairwise_threads_dtypes_and_edges():
    rng = np.random.default_rng(17)
    b1, b2 = make_boxes(rng, 700, np.float32)
    outs = [lossk.generalized_box_iou(b1, b2, n_threads=t) for t in THREAD_COUNTS]
    assert all(np.array_equal(o, outs[0]) for o in outs[1:])
    ints = np.array([[0, 0, 4, 4], [1, 1, 3, 5]])
    out = lossk.box_iou(ints, ints)
    assert out.dtype == np.float64 and out[0, 0] == 1.0 and out[0, 1] == pytest.approx(6 / 18)
    assert lossk.box_iou(ints.astype(np.float16), ints).dtype == np.float32
    assert lossk.box_iou(ints.astype(np.float32), ints.astype(np.float64)).dtype == np.float64
    assert lossk.box_iou(np.zeros((0, 4)), ints).shape == (0, 2)
    assert lossk.box_iou(ints, np.zeros((0, 4))).shape == (2, 0)
    zero = np.zeros((1, 4))
    assert np.isnan(lossk.box_iou(zero, zero)[0, 0])     # torchvision: 0/0
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\)"):
        lossk.box_iou(np.zeros((2, 3)), ints)
    with pytest.raises(ValueError, match=r"shape \(N, 4\) and \(M, 4\)"):
        lossk.box_iou(np.zeros((2, 2, 4)), ints)
    with pytest.raises(TypeError, match="boxes"):
        lossk.box_iou(ints.astype(complex), ints)
    with pytest.raises(ValueError, match="box_format"):
        lossk.box_iou(ints, ints, box_format="XYXY")
    # out= receives the result, for both backends
    for fn in (lossk.box_iou, reference.box_iou, lossk.generalized_box_iou):
        buf = np.full((700, 700), np.nan, np.float32)
        assert fn(b1, b2, out=buf) is buf
        assert_close(buf, fn(b1, b2), np.float32, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"out must have shape \(700, 700\)"):
        lossk.box_iou(b1, b2, out=np.empty((700, 699), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        lossk.box_iou(b1, b2, out=np.empty((700, 700)))
    with pytest.raises(ValueError, match="C-contiguous"):
        lossk.box_iou(b1, b2, out=np.empty((700, 700), np.float32).T)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        lossk.box_iou(b1, b2, out=[[0.0]])
    big = np.zeros((4, 4))
    with pytest.raises(ValueError, match="out overlaps"):
        lossk.box_iou(big, big, out=big)


def test_pairwise_large_output_uses_streaming_stores_correctly():
    # 2100 x 2100 float32 = 16.8 MiB: the non-temporal path of the kernel
    rng = np.random.default_rng(18)
    b1, b2 = make_boxes(rng, 2100, np.float32)
    out = lossk.box_iou(b1, b2)
    rows = rng.integers(0, 2100, 20)
    assert_close(out[rows], reference.box_iou(b1[rows], b2), np.float32)


def test_large_gradient_uses_streaming_stores_correctly():
    # 1.1e6 boxes float32: a 17.6 MB gradient, written with non-temporal stores
    rng = np.random.default_rng(19)
    pred, target = make_boxes(rng, 1_100_000, np.float32)
    loss, grad = call(lossk.giou_loss, pred, target, reduction="sum")
    idx = rng.integers(0, len(pred), 500)
    ref_loss, ref_grad = call(reference.giou_loss, pred[idx], target[idx], reduction="none")
    _, per_box = call(lossk.giou_loss, pred[idx], target[idx], reduction="none")
    assert_close(grad[idx], per_box, np.float32)
    assert_close(loss, reference.giou_loss(pred, target, reduction="sum"), np.float32)


# ---- every SIMD level ----------------------------------------------------------------------

@pytest.mark.parametrize("level", ["baseline", "avx2"])
def test_lower_simd_levels_match_reference(level):
    """The baseline and AVX2 passes (LOSSK_SIMD is read once per process)."""
    script = textwrap.dedent("""
        import numpy as np, lossk
        from lossk import reference
        from helpers import assert_close
        from test_box import LOSS_CASES, make_boxes
        assert lossk.config()["simd_active"] == "%s", lossk.config()
        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            pred, target = make_boxes(rng, 333, dtype, "cxcywh")
            kw = dict(box_format="cxcywh", reduction="sum", return_grad=True)
            for name, opts in LOSS_CASES:
                a = getattr(lossk, name)(pred, target, **kw, **opts)
                b = getattr(reference, name)(pred, target, **kw, **opts)
                assert_close(a[0], b[0], dtype)
                assert_close(a[1], b[1], dtype, **({} if dtype == np.float64 else dict(atol=2e-6)))
            for fn in ("box_iou", "generalized_box_iou"):
                ours, ref = getattr(lossk, fn)(pred, target), getattr(reference, fn)(pred, target)
                assert_close(ours, ref, dtype)
        print("ok")
    """ % level)
    env = dict(os.environ, LOSSK_SIMD=level, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    if "simd_active" in res.stderr and "AssertionError" in res.stderr and level not in res.stderr:
        pytest.skip(f"{level} not available: {res.stderr[-200:]}")
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]
