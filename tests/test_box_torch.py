"""The IoU family against torch: the torchvision losses written in torch ops
and the papers' formulas (lossk._bench.box_torch), losses and autograd gradients, on
random and on degenerate boxes; and the degenerate boxes' finiteness."""
import numpy as np
import pytest

import lossk
from lossk import reference
from cases import BOX_DEGENERATE
from helpers import assert_close, requires_torch, torch
from test_box import FORMATS, LOSS_CASES, LOSS_IDS, make_boxes, to_format

if torch is not None:
    from lossk._bench import box_torch

DEGENERATE = BOX_DEGENERATE
DEG_PRED = np.array([p for p, _ in DEGENERATE.values()], np.float64)
DEG_TARGET = np.array([t for _, t in DEGENERATE.values()], np.float64)


def per_box(fn, pred, target, **kw):
    return fn(pred, target, reduction="none", return_grad=True, **kw)


# ---- degenerate boxes: finite everywhere -------------------------------------------------

@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
@pytest.mark.parametrize("box_format", FORMATS)
def test_degenerate_boxes_give_finite_losses_and_gradients(name, opts, box_format):
    pred, target = to_format(DEG_PRED, box_format), to_format(DEG_TARGET, box_format)
    ref = per_box(getattr(reference, name), pred, target, box_format=box_format, **opts)
    for dtype in (np.float32, np.float64):
        loss, grad = per_box(getattr(lossk, name), pred.astype(dtype), target.astype(dtype),
                             box_format=box_format, **opts)
        bad = sorted({list(DEGENERATE)[i] for i in np.flatnonzero(
            ~np.isfinite(loss) | ~np.isfinite(grad).all(axis=1))})
        assert not bad, f"{dtype.__name__}: non-finite for {bad}"
        if dtype == np.float64:
            assert_close(loss, ref[0]) and assert_close(grad, ref[1])
    assert np.isfinite(ref[0]).all() and np.isfinite(ref[1]).all()
    # the WIoU v3 class too, its state included
    if name == "wiou_loss":
        fn = lossk.WIoULoss(momentum=0.5)
        loss, grad = fn(pred, target, box_format=box_format, reduction="none", return_grad=True)
        assert np.isfinite(loss).all() and np.isfinite(grad).all() and np.isfinite(fn.mean_iou_loss)


def test_all_zero_batch_keeps_wiou_state_finite():
    zero = np.zeros((8, 4))
    fn = lossk.WIoULoss(momentum=1.0)
    loss, grad = fn(zero, zero, return_grad=True)     # 1 - IoU = 1 for every pair
    assert fn.mean_iou_loss == 1.0 and np.isfinite(loss) and np.isfinite(grad).all()


# ---- against torch: random boxes ------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
@pytest.mark.parametrize("box_format", FORMATS)
def test_float64_matches_torch_autograd(name, opts, box_format):
    rng = np.random.default_rng(21)
    pred, target = make_boxes(rng, 400, np.float64, box_format)
    for reduction in ("mean", "none"):
        loss, grad = getattr(lossk, name)(pred, target, box_format=box_format, reduction=reduction,
                                          return_grad=True, **opts)
        t_loss, t_grad = box_torch.oracle(name, pred, target, box_format, reduction, **opts)
        assert_close(loss, t_loss)
        assert_close(grad, t_grad)


@requires_torch
@pytest.mark.parametrize("name", ["giou_loss", "diou_loss", "ciou_loss"])
@pytest.mark.parametrize("box_format", FORMATS)
def test_float32_matches_torchvision_formulas_in_float32(name, box_format):
    rng = np.random.default_rng(22)
    pred, target = make_boxes(rng, 400, np.float32, box_format)
    loss, grad = getattr(lossk, name)(pred, target, box_format=box_format, reduction="sum",
                                      return_grad=True)
    t_loss, t_grad = box_torch.oracle(name, pred, target, box_format, "sum")
    assert_close(loss, t_loss, np.float32)
    assert_close(grad, t_grad, np.float32)


@requires_torch
@pytest.mark.parametrize("alpha", ["torchvision", "yolo"])
def test_ciou_alpha_is_a_constant_for_the_gradient(alpha):
    rng = np.random.default_rng(23)
    pred, target = make_boxes(rng, 50)
    _, grad = lossk.ciou_loss(pred, target, alpha=alpha, return_grad=True)
    p = torch.from_numpy(pred.copy()).requires_grad_()
    t = torch.from_numpy(target)
    w, h = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    wg, hg = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    v = 4 / np.pi ** 2 * (torch.atan(wg / hg) - torch.atan(w / h)) ** 2
    iou = 1 - box_torch.iou_loss(p, t)
    a = v / (v - iou + (1 + 1e-7)) if alpha == "yolo" else v / (1 - iou + v + 1e-7)
    (box_torch.tv_diou(p, t) + a * v).mean().backward()    # alpha not detached
    assert not np.allclose(grad, p.grad.numpy(), rtol=1e-6)
    assert_close(grad, box_torch.oracle("ciou_loss", pred, target, alpha=alpha)[1])


@requires_torch
def test_wiou_v3_matches_torch_autograd():
    rng = np.random.default_rng(24)
    pred, target = make_boxes(rng, 300, box_format="cxcywh")
    fn = lossk.WIoULoss(momentum=0.05, alpha=2.2, delta=2.0)
    for _ in range(2):
        before = fn.mean_iou_loss
        loss, grad = fn(pred, target, box_format="cxcywh", return_grad=True)
        liou = lossk.iou_loss(pred, target, box_format="cxcywh", reduction="none")
        assert fn.mean_iou_loss == pytest.approx(0.95 * before + 0.05 * liou.mean(), rel=1e-14)
        t_loss, t_grad = box_torch.oracle("wiou_loss", pred, target, "cxcywh", mean=fn.mean_iou_loss,
                                          alpha=2.2, delta=2.0)
        assert_close(loss, t_loss) and assert_close(grad, t_grad)


@requires_torch
def test_siou_switches_angle_past_45_degrees():
    # centres offset along rays at 10 and 80 degrees: the paper takes the
    # smaller angle to the axes, so both cost the same; Lambda = sin(2 alpha)
    pred = np.array([[0, 0, 2, 2], [0, 0, 2, 2]], np.float64)
    target = pred.copy()
    for row, deg in enumerate((10, 80)):
        target[row] += 0.3 * np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg))] * 2)
    loss, grad = lossk.siou_loss(pred, target, reduction="none", return_grad=True)
    assert loss[0] == pytest.approx(loss[1], rel=1e-12)
    t_loss, t_grad = box_torch.oracle("siou_loss", pred, target, reduction="none")
    assert_close(loss, t_loss) and assert_close(grad, t_grad)


# ---- against torch: degenerate boxes where torch is finite ------------------------------------

@requires_torch
@pytest.mark.parametrize("name,opts", LOSS_CASES, ids=LOSS_IDS)
@pytest.mark.parametrize("box_format", FORMATS)
def test_degenerate_boxes_match_torch_where_torch_is_finite(name, opts, box_format):
    """Ties (identical boxes, shared edges), masked intersections and huge
    coordinates follow torch autograd's subgradients exactly."""
    pred, target = to_format(DEG_PRED, box_format), to_format(DEG_TARGET, box_format)
    loss, grad = per_box(getattr(lossk, name), pred, target, box_format=box_format, **opts)
    t_loss, t_grad = box_torch.oracle(name, pred, target, box_format, "none", **opts)
    ok = np.isfinite(t_loss)
    assert ok.sum() >= 10
    assert_close(loss[ok], t_loss[ok])
    ok &= np.isfinite(t_grad).all(axis=1)
    assert_close(grad[ok], t_grad[ok])


@requires_torch
def test_ciou_stays_finite_where_torchvision_is_nan():
    cases = ["zero height pred", "zero height both", "identical zero height", "all zero",
             "all zero pred", "zero size target"]
    rows = [list(DEGENERATE).index(c) for c in cases]
    pred, target = DEG_PRED[rows], DEG_TARGET[rows]
    t_loss, t_grad = box_torch.oracle("ciou_loss", pred, target, reduction="none")
    assert not np.isfinite(t_grad).all(axis=1).any()      # torch: NaN gradient in every row
    loss, grad = per_box(lossk.ciou_loss, pred, target)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    finite = np.isfinite(t_loss)                           # h = 0, w != 0: atan(inf) = pi/2
    assert finite.sum() >= 2 and np.allclose(loss[finite], t_loss[finite], rtol=1e-12)
    # a zero-height pred (w = 2, h = 0) apart from its target: d atan(w/h)/dh
    # is its limit -1/w, so the gradient is torch's at a tiny positive height
    p, t = np.array([[3.0, 3.0, 5.0, 3.0]]), np.array([[0.0, 0.0, 2.0, 1.0]])
    _, g_tiny = box_torch.oracle("ciou_loss", p + [0, 0, 0, 1e-9], t, reduction="sum")
    assert np.isnan(box_torch.oracle("ciou_loss", p, t, reduction="sum")[1]).any()
    assert_close(per_box(lossk.ciou_loss, p, t)[1], g_tiny, rtol=1e-6, atol=1e-8)


# ---- pairwise matrices ---------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("generalized", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_matches_torchvision(generalized, dtype):
    rng = np.random.default_rng(25)
    b1, _ = make_boxes(rng, 200, dtype)
    b2, _ = make_boxes(rng, 150, dtype)
    b1[:5] = DEG_PRED[[0, 1, 5, 10, 18]]          # zero width/height, identical, touching, huge
    b2[:5] = DEG_TARGET[[0, 1, 5, 10, 18]]
    fn = lossk.generalized_box_iou if generalized else lossk.box_iou
    expected = box_torch.box_iou(torch.from_numpy(b1), torch.from_numpy(b2), generalized).numpy()
    assert_close(fn(b1, b2), expected, dtype)
    zero = np.zeros((2, 4), dtype)                 # 0/0 is NaN in both
    assert_close(fn(zero, zero), box_torch.box_iou(torch.from_numpy(zero), torch.from_numpy(zero),
                                                   generalized).numpy(), dtype)
