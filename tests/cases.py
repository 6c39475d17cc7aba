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


def _binary_target(rng, shape, dtype):
    return (rng.random(shape) < 0.3).astype(dtype)


def _sigmoid_focal_loss(rng, dtype):
    x = (3 * rng.standard_normal((29, 5))).astype(dtype)
    return (x, _binary_target(rng, x.shape, dtype)), dict(alpha=0.25, gamma=2.0)


def _binary_cross_entropy(rng, dtype):
    p = rng.uniform(0.01, 0.99, (29, 5)).astype(dtype)
    return (p, _binary_target(rng, p.shape, dtype)), dict(weight=rng.random(5).astype(dtype))


def _binary_cross_entropy_with_logits(rng, dtype):
    x = (3 * rng.standard_normal((29, 5))).astype(dtype)
    return (x, _binary_target(rng, x.shape, dtype)), dict(weight=rng.random((29, 1)).astype(dtype),
                                                          pos_weight=rng.uniform(0.5, 3, 5).astype(dtype))


def _hinge_loss(rng, dtype):
    s = rng.standard_normal((29, 5)).astype(dtype)
    return (s, np.where(rng.random(s.shape) < 0.5, -1, 1).astype(dtype)), dict(margin=1.0, squared=False)


def _kl_div(rng, dtype):
    z = rng.standard_normal((29, 5))
    log_p = (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(dtype)
    return (log_p, rng.dirichlet(np.ones(5), 29).astype(dtype)), dict(reduction="batchmean")


CASES = {
    "cross_entropy": _cross_entropy,
    "softmax_focal_loss": _softmax_focal_loss,
    "nll_loss": _nll_loss,
    "multi_margin_loss": _multi_margin_loss,
    "sigmoid_focal_loss": _sigmoid_focal_loss,
    "binary_cross_entropy": _binary_cross_entropy,
    "binary_cross_entropy_with_logits": _binary_cross_entropy_with_logits,
    "hinge_loss": _hinge_loss,
    "kl_div": _kl_div,
}
