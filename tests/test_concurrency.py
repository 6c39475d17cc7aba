"""Kernels called from 8 Python threads at once (the GIL is released while a
kernel runs): shared read-only inputs and per-thread inputs, n_threads 1 and
2, a grad_out buffer per thread. Every result must be bitwise the serial one."""
import threading

import numpy as np
import pytest

import lossk
from awkward import bitwise, call, example, signature

PY_THREADS = 8
ROUNDS = 3
TARGET_ELEMS = 1 << 17   # prediction elements: enough for two OpenMP threads to really split the work


def _big_example(name, dtype, seed):
    """The example with its batch resampled to about TARGET_ELEMS prediction elements."""
    args, kwargs = example(name, dtype, seed=seed)
    pred = args[0]
    if isinstance(pred, list) and pred:   # a list of arrays (penalties): each resized to its share
        return [[np.resize(a, TARGET_ELEMS // len(pred)) for a in pred]] + args[1:], kwargs
    if not isinstance(pred, np.ndarray) or pred.ndim == 0 or pred.shape[0] == 0:
        return args, kwargs
    n = pred.shape[0]
    rows = max(n, TARGET_ELEMS // max(1, pred.size // n))
    idx = np.random.default_rng(seed).integers(0, n, rows)
    args = [a[idx] if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == n else a for a in args]
    kwargs = {k: (v[idx] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == n else v)
              for k, v in kwargs.items()}
    return args, kwargs


def _read_only(args, kwargs):
    for a in list(args) + list(kwargs.values()) + [x for v in args if isinstance(v, list) for x in v]:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return args, kwargs


@pytest.mark.parametrize("name", sorted(lossk.LOSSES))
def test_python_threads_give_the_serial_bits(name):
    sig = signature(name)
    grad_kw = {"return_grad": True} if sig.has_grad else {}
    shared = _read_only(*_big_example(name, np.float32, seed=0))
    own = [_big_example(name, (np.float32, np.float64)[i % 2], seed=i + 1) for i in range(PY_THREADS)]

    expected = {}
    for key, (args, kwargs) in [("shared", shared)] + [(i, own[i]) for i in range(PY_THREADS)]:
        for nt in (1, 2):
            o = call(name, "c", args, {**kwargs, **grad_kw, "n_threads": nt})
            assert o.error is None, f"serial call raised {o.describe()}"
            expected[key, nt] = o.value
        d = bitwise(expected[key, 2], expected[key, 1], f"{key}: n_threads=2 vs 1")
        assert d is None, d
    single_grad = sig.has_grad and "grad_out" in sig.keyword and len(expected["shared", 1]) == 2

    failures, barrier = [], threading.Barrier(PY_THREADS)

    def worker(i):
        try:
            bufs = {}
            if single_grad:
                for key in ("shared", i):
                    g = expected[key, 1][1]
                    bufs[key] = np.empty(g.shape, g.dtype)
            barrier.wait()
            for r in range(ROUNDS):
                for nt in ((1, 2) if (i + r) % 2 else (2, 1)):
                    for key, (args, kwargs) in (("shared", shared), (i, own[i])):
                        kw = {**kwargs, **grad_kw, "n_threads": nt}
                        if key in bufs:
                            kw["grad_out"] = bufs[key]
                        o = call(name, "c", args, kw)
                        d = o.describe() if o.error is not None else bitwise(o.value, expected[key, 1], "vs the serial call")
                        if d:
                            failures.append(f"thread {i}, round {r}, n_threads={nt}, input {key}: {d}")
                    with lossk.num_threads(1 + (i + r) % 2):   # per-thread default, no n_threads
                        o = call(name, "c", own[i][0], {**own[i][1], **grad_kw})
                        d = o.describe() if o.error is not None else bitwise(o.value, expected[i, 1], "vs the serial call")
                        if d:
                            failures.append(f"thread {i}, round {r}, lossk.num_threads: {d}")
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(PY_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, "\n".join(failures[:20])
