"""One valid example call per registered loss, for the registry-driven tests.

CASES[name](rng, dtype) -> (args, kwargs): positional arrays (prediction first)
and keyword options of a typical call. Every loss in lossk.LOSSES has an entry
(tests/test_registry.py checks it).
"""
import numpy as np


def _cross_entropy(rng, dtype):
    x = rng.standard_normal((37, 11)).astype(dtype)
    t = rng.integers(0, 11, 37)
    t[::5] = -100
    return (x, t), dict(weight=rng.random(11).astype(dtype), label_smoothing=0.1)


def _softmax_focal_loss(rng, dtype):
    x = rng.standard_normal((5, 11, 3)).astype(dtype)
    t = rng.integers(0, 11, (5, 3))
    t[::2, 1] = -100
    return (x, t), dict(alpha=rng.random(11).astype(dtype), gamma=2.0)


def _nll_loss(rng, dtype):
    x = rng.standard_normal((37, 11)).astype(dtype)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    t = rng.integers(0, 11, 37)
    t[::5] = 3
    return (x, t), dict(weight=rng.random(11).astype(dtype), ignore_index=3)


def _multi_margin_loss(rng, dtype):
    x = rng.standard_normal((37, 11)).astype(dtype)
    return (x, rng.integers(0, 11, 37)), dict(p=2, margin=0.8, weight=rng.random(11).astype(dtype))
def _boxes(rng, dtype, n=29):
    """n valid xyxy predictions and overlapping targets."""
    xy = rng.uniform(0, 50, (n, 2))
    pred = np.concatenate([xy, xy + rng.uniform(1, 20, (n, 2))], axis=1)
    target = pred + rng.normal(0, 3, (n, 4))
    target[:, 2:] = np.maximum(target[:, 2:], target[:, :2] + 0.5)
    return pred.astype(dtype), target.astype(dtype)


def _box_case(**kwargs):
    return lambda rng, dtype: (_boxes(rng, dtype), dict(kwargs))


CASES = {
    "cross_entropy": _cross_entropy,
    "softmax_focal_loss": _softmax_focal_loss,
    "nll_loss": _nll_loss,
    "multi_margin_loss": _multi_margin_loss,
    "iou_loss": _box_case(),
    "giou_loss": _box_case(box_format="xyxy"),
    "diou_loss": _box_case(),
    "ciou_loss": _box_case(alpha="yolo"),
    "eiou_loss": _box_case(focal_gamma=0.5),
    "siou_loss": _box_case(theta=4.0),
    "wiou_loss": _box_case(),
}
