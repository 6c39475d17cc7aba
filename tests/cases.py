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


CASES = {
    "cross_entropy": _cross_entropy,
}
