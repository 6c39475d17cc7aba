"""l1_penalty / l2_penalty: kernel vs reference, gradients vs finite differences,
grad_out (overwrite and accumulate), bitwise results for every thread count over
many small arrays, empty inputs, NaN/inf, and every bad argument."""
import numpy as np
import pytest

import lossk
from lossk import reference
from helpers import TOL, assert_close, finite_difference_grad

PENALTIES = ("l1_penalty", "l2_penalty")
DTYPES = (np.float32, np.float64)


def _params(rng, dtype, shapes=((5, 3), (17,), (), (2, 3, 4), (0, 4))):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _many(rng, dtype, n=200, total=300_000):
    """n arrays of 10 to ~10^5 elements (log-uniform), about `total` elements in all."""
    sizes = np.exp(rng.uniform(np.log(10), np.log(1e5), n)).astype(int)
    sizes = np.maximum(10, sizes * total // sizes.sum())
    return [rng.standard_normal(int(s)).astype(dtype) for s in sizes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PENALTIES)
@pytest.mark.parametrize("lam", (0.0, 1e-3, 2.5))
def test_kernel_equals_reference(name, dtype, lam):
    arrays = _params(np.random.default_rng(0), dtype) + _many(np.random.default_rng(1), dtype, n=20, total=50_000)
    loss, grads = getattr(lossk, name)(arrays, lam, return_grad=True)
    rloss, rgrads = getattr(reference, name)(arrays, lam, return_grad=True)
    assert loss.dtype == np.dtype(dtype) and isinstance(grads, tuple) and len(grads) == len(arrays)
    assert_close(loss, rloss)
    for g, r, a in zip(grads, rgrads, arrays):
        assert g.shape == a.shape and g.dtype == a.dtype
        assert_close(g, r)
    assert getattr(lossk, name)(arrays, lam) == loss              # no gradient: same loss
    assert_close(getattr(lossk, name)(arrays, lam, backend="numpy"), rloss)


@pytest.mark.parametrize("name", PENALTIES)
def test_formulas(name):
    w = [np.array([[1.0, -2.0], [0.0, 3.0]]), np.array([-0.5])]
    loss, (g0, g1) = getattr(lossk, name)(w, 0.1, return_grad=True)
    if name == "l1_penalty":
        assert loss == pytest.approx(0.1 * 6.5, rel=1e-15)
        np.testing.assert_array_equal(g0, [[0.1, -0.1], [0.0, 0.1]])
        np.testing.assert_array_equal(g1, [-0.1])
    else:
        assert loss == pytest.approx(0.1 * 14.25, rel=1e-15)
        np.testing.assert_allclose(g0, 0.2 * w[0], rtol=1e-15)
        np.testing.assert_allclose(g1, 0.2 * w[1], rtol=1e-15)


@pytest.mark.parametrize("name", PENALTIES)
def test_gradients_match_finite_differences(name):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal(5) + np.sign(rng.standard_normal(5))]
    ref = getattr(reference, name)
    _, grads = getattr(lossk, name)(arrays, 0.7, return_grad=True)
    for i, a in enumerate(arrays):
        def f(x, i=i):
            return ref(arrays[:i] + [x] + arrays[i + 1:], 0.7)
        assert_close(grads[i], finite_difference_grad(f, a), rtol=1e-6, atol=1e-8)


def test_float16_is_computed_in_float32():
    arrays = [np.linspace(-2, 2, 9, dtype=np.float16).reshape(3, 3)]
    loss, (g,) = lossk.l2_penalty(arrays, 0.5, return_grad=True)
    assert loss.dtype == g.dtype == np.float32
    assert_close(loss, reference.l2_penalty([arrays[0].astype(np.float32)], 0.5))


@pytest.mark.parametrize("accumulate", (False, True))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PENALTIES)
def test_grad_out_receives_or_accumulates(name, dtype, accumulate):
    rng = np.random.default_rng(3)
    arrays = _params(rng, dtype)
    # the outputs are views into one buffer with guard elements between them:
    # nothing outside the outputs may change
    buf = rng.standard_normal(sum(a.size for a in arrays) + len(arrays) + 1).astype(dtype)
    outs, starts, guards, pos = [], [], np.ones(buf.size, bool), 1
    for a in arrays:
        outs.append(buf[pos:pos + a.size].reshape(a.shape))
        starts.append(pos)
        guards[pos:pos + a.size] = False
        pos += a.size + 1
    before = buf.copy()
    old = [before[s:s + a.size].reshape(a.shape) for s, a in zip(starts, arrays)]
    loss, grads = getattr(lossk, name)(arrays, 0.3, grad_out=outs, accumulate=accumulate, return_grad=True)
    _, fresh = getattr(lossk, name)(arrays, 0.3, return_grad=True)
    for g, o, f, b in zip(grads, outs, fresh, old):
        assert g is o and (o.size == 0 or np.shares_memory(g, buf))
        if accumulate:   # old + grad (l2: may be one fused multiply-add, so not bitwise)
            assert_close(o, b.astype(np.float64) + f)
        else:
            np.testing.assert_array_equal(o, f)
    np.testing.assert_array_equal(buf[guards], before[guards])
    # the reference does the same (within the tolerance)
    routs = [b.copy() for b in old]
    rloss, _ = getattr(reference, name)(arrays, 0.3, grad_out=routs, accumulate=accumulate, return_grad=True)
    assert_close(loss, rloss)
    for o, r in zip(outs, routs):
        assert_close(o, r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PENALTIES)
def test_bitwise_for_every_thread_count_over_many_small_arrays(name, dtype):
    arrays = _many(np.random.default_rng(4), dtype)
    assert len(arrays) == 200 and 2e5 < sum(a.size for a in arrays) < 5e5
    base = getattr(lossk, name)(arrays, 1e-4, return_grad=True, n_threads=1)
    acc0 = [np.full(a.shape, 0.25, dtype) for a in arrays]
    base_acc = getattr(lossk, name)(arrays, 1e-4, return_grad=True, n_threads=1,
                                    grad_out=[a.copy() for a in acc0], accumulate=True)
    for t in (2, 3, 7):
        loss, grads = getattr(lossk, name)(arrays, 1e-4, return_grad=True, n_threads=t)
        assert loss.tobytes() == base[0].tobytes(), t
        assert all(g.tobytes() == b.tobytes() for g, b in zip(grads, base[1]))
        assert getattr(lossk, name)(arrays, 1e-4, n_threads=t).tobytes() == base[0].tobytes()
        loss, grads = getattr(lossk, name)(arrays, 1e-4, return_grad=True, n_threads=t,
                                           grad_out=[a.copy() for a in acc0], accumulate=True)
        assert loss.tobytes() == base_acc[0].tobytes()
        assert all(g.tobytes() == b.tobytes() for g, b in zip(grads, base_acc[1]))
    assert_close(base[0], getattr(reference, name)(arrays, 1e-4), rtol=TOL[np.dtype(dtype)]["rtol"])


@pytest.mark.parametrize("name", PENALTIES)
def test_empty_list_and_zero_size_arrays(name):
    fn = getattr(lossk, name)
    loss, grads = fn([], 1.0, return_grad=True)
    assert loss == 0 and grads == ()
    assert fn((), 1.0) == 0
    assert fn([], 1.0, grad_out=[], return_grad=True, accumulate=True) == (0, ())
    loss, grads = fn([np.zeros((0, 3), np.float32), np.ones(2, np.float32)], 1.0, return_grad=True)
    assert loss == 2 and loss.dtype == np.float32 and grads[0].shape == (0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PENALTIES)
def test_nan_and_inf_propagate(name, dtype):
    w = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0], dtype)
    loss, (g,) = getattr(lossk, name)([w], 0.5, return_grad=True)
    assert np.isnan(loss)
    rl, (rg,) = getattr(reference, name)([w], 0.5, return_grad=True)
    np.testing.assert_array_equal(g, rg.astype(dtype))
    assert np.isnan(g[0])
    loss = getattr(lossk, name)([w[1:]], 0.5)
    assert loss == np.inf


BAD = [
    ("mixed float dtypes", lambda: ([np.ones(2, np.float32), np.ones(2)], 1.0, {}), TypeError, r"arrays\[1\]"),
    ("float16 and float32", lambda: ([np.ones(2, np.float16), np.ones(2, np.float32)], 1.0, {}), TypeError,
     r"arrays\[1\]"),
    ("integer array", lambda: ([np.ones(2), np.arange(3)], 1.0, {}), TypeError, r"arrays\[1\]"),
    ("complex array", lambda: ([np.ones(2, complex)], 1.0, {}), TypeError, r"arrays\[0\]"),
    ("ragged array", lambda: ([np.ones(2), [[1.0, 2.0], [3.0]]], 1.0, {}), ValueError, r"arrays\[1\]"),
    ("not a list", lambda: (np.ones(3), 1.0, {}), TypeError, "arrays"),
    ("negative lam", lambda: ([np.ones(2)], -0.1, {}), ValueError, "lam"),
    ("NaN lam", lambda: ([np.ones(2)], np.nan, {}), ValueError, "lam"),
    ("inf lam", lambda: ([np.ones(2)], np.inf, {}), ValueError, "lam"),
    ("string lam", lambda: ([np.ones(2)], "1", {}), TypeError, "lam"),
    ("grad_out too short", lambda: ([np.ones(2), np.ones(3)], 1.0, dict(grad_out=[np.ones(2)])), ValueError,
     "grad_out"),
    ("grad_out not a list", lambda: ([np.ones(2)], 1.0, dict(grad_out=np.ones(2))), TypeError, "grad_out"),
    ("grad_out wrong shape", lambda: ([np.ones(2), np.ones(3)], 1.0, dict(grad_out=[np.ones(2), np.ones(4)])),
     ValueError, r"grad_out\[1\]"),
    ("grad_out wrong dtype", lambda: ([np.ones(2)], 1.0, dict(grad_out=[np.ones(2, np.float32)])), TypeError,
     r"grad_out\[0\]"),
    ("grad_out float16 for float16 input", lambda: ([np.ones(2, np.float16)], 1.0,
                                                    dict(grad_out=[np.ones(2, np.float16)])), TypeError, "grad_out"),
    ("grad_out non-contiguous", lambda: ([np.ones(2)], 1.0, dict(grad_out=[np.ones(4)[::2]])), ValueError,
     r"grad_out\[0\]"),
    ("grad_out read-only", lambda: ([np.ones(2)], 1.0, dict(grad_out=[_read_only(np.ones(2))])), ValueError,
     r"grad_out\[0\]"),
    ("grad_out a list of lists", lambda: ([np.ones(2)], 1.0, dict(grad_out=[[0.0, 0.0]])), TypeError,
     r"grad_out\[0\]"),
    ("grad_out is the input", lambda: _aliasing(0), ValueError, "overlaps"),
    ("grad_out is another input", lambda: _aliasing(1), ValueError, "overlaps"),
    ("grad_out overlaps an input", lambda: _aliasing(2), ValueError, "overlaps"),
    ("two grad_out share memory", lambda: _aliasing(3), ValueError, "overlaps"),
    ("grad_out without return_grad", lambda: ([np.ones(2)], 1.0, dict(grad_out=[np.ones(2)], return_grad=False)),
     ValueError, "return_grad"),
    ("accumulate without grad_out", lambda: ([np.ones(2)], 1.0, dict(accumulate=True)), ValueError, "grad_out"),
    ("accumulate not a bool", lambda: ([np.ones(2)], 1.0, dict(accumulate=1)), TypeError, "accumulate"),
    ("unknown backend", lambda: ([np.ones(2)], 1.0, dict(backend="gpu")), ValueError, "backend"),
    ("bad n_threads", lambda: ([np.ones(2)], 1.0, dict(n_threads=0)), ValueError, "n_threads"),
]


def _read_only(a):
    a.flags.writeable = False
    return a


def _aliasing(kind):
    """arrays a, b (views of one buffer) and a grad_out that: 0 is a, 1 is b
    (another input), 2 overlaps both, 3 has two outputs sharing memory."""
    buf = np.arange(1.0, 11.0)
    a, b = buf[:4], buf[4:8]
    g = np.empty(6)
    grads = {0: [a, np.empty(4)], 1: [b, np.empty(4)], 2: [buf[2:6], np.empty(4)], 3: [g[:4], g[2:]]}[kind]
    return [a, b], 1.0, dict(grad_out=grads)


@pytest.mark.parametrize("backend", ("c", "numpy"))
@pytest.mark.parametrize("name", PENALTIES)
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_raises_naming_the_argument(case, name, backend):
    _, make, exc, match = case
    arrays, lam, kw = make()
    kw = {"return_grad": True, **kw}
    if backend == "numpy" and kw.get("backend"):
        return
    kept = [(a, a.copy()) for a in (arrays if isinstance(arrays, list) else []) if isinstance(a, np.ndarray)]
    with pytest.raises(exc, match=match):
        getattr(lossk, name)(arrays, lam, backend=kw.pop("backend", backend), **kw)
    for a, b in kept:   # nothing written on error
        np.testing.assert_array_equal(a, b)


def test_the_c_entry_rejects_what_python_would():
    from lossk import _kernels
    a = [np.ones(3, np.float32)]
    with pytest.raises(ValueError):
        _kernels.penalty(b"l3_penalty", a, None, 1.0, False, 1)
    with pytest.raises(ValueError):
        _kernels.penalty(b"l1_penalty", a, None, -1.0, False, 1)
    with pytest.raises(ValueError):
        _kernels.penalty(b"l1_penalty", a, None, float("nan"), False, 1)
    with pytest.raises(ValueError, match="overlaps"):
        _kernels.penalty(b"l1_penalty", a, a, 1.0, False, 1)


@pytest.mark.parametrize("name", PENALTIES)
def test_gradients_beyond_the_caches_give_the_same_bits(name):
    """Above 16 MiB of gradients the kernel streams them past the caches: the
    loss keeps its bits, the gradients their exact values."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(n).astype(np.float32) for n in (3, 1 << 21, 1000, (1 << 21) + 77)]
    arrays[1][:5] = [0.0, -0.0, np.nan, np.inf, -1.0]
    fn = getattr(lossk, name)
    loss, grads = fn(arrays, 0.25, return_grad=True, n_threads=2)
    assert loss.tobytes() == fn(arrays, 0.25, n_threads=1).tobytes()
    scale = np.float32(0.25 if name == "l1_penalty" else 0.5)
    for g, w in zip(grads, arrays):
        expected = scale * np.sign(w) if name == "l1_penalty" else scale * w
        np.testing.assert_array_equal(g, expected)
    # gradients 4 to 60 bytes past a cache line: the streamed loop starts later and
    # holds its lanes rotated; the loss keeps its bits
    outs = [np.empty(w.size + 16, np.float32)[k:k + w.size] for k, w in zip((1, 3, 7, 15), arrays)]
    loss2, grads2 = fn(arrays, 0.25, return_grad=True, grad_out=outs, n_threads=1)
    assert loss2.tobytes() == loss.tobytes()
    for g, g2 in zip(grads, grads2):
        np.testing.assert_array_equal(g2, g)
