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


CASES = {
    "cross_entropy": _cross_entropy,
    "softmax_focal_loss": _softmax_focal_loss,
    "nll_loss": _nll_loss,
    "multi_margin_loss": _multi_margin_loss,
}
