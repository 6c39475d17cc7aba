"""Property-based tests (hypothesis) for every registered loss: random batch
sizes (0, 1, small, and large enough for several threads), dtypes, options
(each optional keyword of the example kept or dropped), reductions, thread
counts, layouts of the prediction and gradient outputs. The kernel must equal
the reference, and give bitwise the n_threads=1 result for every thread count.
Derandomized with a bounded number of examples, so CI runs the same cases
every time."""
import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import lossk
from awkward import GRAD_KW, bitwise, call, compare, example, signature, tol_scale
from cases import MAX_ROWS, MIN_ROWS

DTYPES = (np.float32, np.float64)
THREADS = (1, 2, 3, 8)
MAX_PRED_ELEMS = 1 << 18       # big batches: several reduction blocks, real threads
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _working_reductions(name, sig):
    """The reductions the loss accepts on its own example."""
    if "reduction" not in sig.keyword:
        return [None]
    args, kwargs = example(name, np.float64)
    ok = []
    for red in ("none", "mean", "sum"):
        if call(name, "c", args, {**kwargs, "reduction": red}).error is None:
            ok.append(red)
    assert ok, f"{name}: no reduction works on the example"
    return ok


def _batch_keys(args, kwargs):
    pred = args[0]
    n = pred.shape[0]
    keys = [("args", i) for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == n]
    keys += [("kwargs", k) for k, a in kwargs.items() if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == n]
    return keys


def _relayout(a, how):
    if how == "fortran" and a.ndim >= 2:
        return np.asfortranarray(a)
    if how == "strided" and a.ndim >= 1:
        big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., 1::2] = a
        return big[..., 1::2]
    if how == "reversed" and a.ndim >= 1:
        return np.flip(np.flip(a).copy())
    return a


_INFO = {}


def _info(name):
    """Per-loss facts the strategy needs, computed once."""
    if name not in _INFO:
        sig = signature(name)
        args0, kwargs0 = example(name, np.float64)
        batched = bool(args0) and isinstance(args0[0], np.ndarray) and args0[0].ndim > 0
        per_row = max(1, args0[0].size // max(1, args0[0].shape[0])) if batched else 1
        droppable = sorted(k for k in kwargs0 if k in sig.keyword and sig.keyword[k] is not inspect.Parameter.empty
                           and k not in (GRAD_KW, "grad_out"))
        max_rows = min(max(64, MAX_PRED_ELEMS // per_row), MAX_ROWS.get(name, 1 << 62))
        _INFO[name] = (sig, _working_reductions(name, sig), batched, max_rows, droppable)
    return _INFO[name]


@pytest.mark.parametrize("name", sorted(lossk.LOSSES))
@SETTINGS
@given(data=st.data())
def test_kernel_equals_reference_on_random_calls(name, data):
    sig, reductions, batched, max_rows, droppable = _info(name)
    if not batched:
        pytest.skip(f"{name}: the example's first input is not an array with a batch axis to resample "
                    f"(e.g. a list of arrays); its family's own tests draw random calls")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    args, kwargs = example(name, dtype, seed=seed)
    n0 = args[0].shape[0]
    rows = data.draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(3, 64), st.integers(65, max_rows)),
                     label="rows")
    rows = max(rows, MIN_ROWS.get(name, 0)) if rows else rows
    idx = np.random.default_rng(seed).integers(0, n0, rows) if n0 else np.zeros(0, int)
    for where, key in _batch_keys(args, kwargs):
        if where == "args":
            args[key] = args[key][idx]
        else:
            kwargs[key] = kwargs[key][idx]
    for k in data.draw(st.sets(st.sampled_from(droppable)) if droppable else st.just(set()), label="drop"):
        kwargs.pop(k)
    red = data.draw(st.sampled_from(reductions), label="reduction")
    if red is not None:
        kwargs["reduction"] = red
    grad = sig.has_grad and data.draw(st.booleans(), label="return_grad")
    if sig.has_grad:
        kwargs[GRAD_KW] = grad
    layout = data.draw(st.sampled_from(["c", "fortran", "strided", "reversed"]), label="layout")
    args[0] = _relayout(args[0], layout)
    ref = call(name, "numpy", args, kwargs)
    assert ref.error is None, f"the reference raised {ref.describe()}"
    base = call(name, "c", args, {**kwargs, "n_threads": 1})
    assert base.error is None, f"the kernel raised {base.describe()}"
    diff = compare(base.value, ref.value, "kernel vs reference", scale=tol_scale(name, args))
    assert diff is None, diff
    t = data.draw(st.sampled_from(THREADS[1:]), label="n_threads")
    out = data.draw(st.sampled_from(["new", "buffer", "in place"]) if grad and len(base.value) == 2
                    else st.just("new"), label="grad_out")
    kw = {**kwargs, "n_threads": t}
    a = list(args)
    if out == "buffer":
        kw["grad_out"] = np.full(base.value[1].shape, np.nan, base.value[1].dtype)
    elif out == "in place" and isinstance(a[0], np.ndarray) and a[0].dtype == base.value[1].dtype:
        a[0] = np.ascontiguousarray(a[0]).copy()
        kw["grad_out"] = a[0]
    event(f"rows {'0-2' if rows < 3 else '3-64' if rows <= 64 else '>64'}")
    event(f"grad_out {out}, layout {layout}")
    res = call(name, "c", a, kw)
    assert res.error is None, f"n_threads={t}, grad_out {out}: the kernel raised {res.describe()}"
    diff = bitwise(res.value, base.value, f"n_threads={t}, grad_out {out} vs n_threads=1")
    assert diff is None, diff
