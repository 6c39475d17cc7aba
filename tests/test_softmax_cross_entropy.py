"""cross_entropy (csrc/softmax/softmax.c): kernel vs reference, vs torch, finite
differences, thread determinism, outputs and bad input."""
import itertools

import numpy as np
import pytest

import lossk
from helpers import (F, assert_bitwise_across_threads, assert_close, assert_grad_out_and_in_place,
                     finite_difference_grad, requires_torch, run_python, torch, torch_loss_and_grad)

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
LAYOUTS = [(7,), (13, 5), (6, 4, 3), (3, 5, 2, 4), (2, 3, 1)]
OPTIONS = [
    {},
    {"weight": True},
    {"ignore_index": 1},
    {"label_smoothing": 0.25},
    {"weight": True, "ignore_index": 2, "label_smoothing": 0.1},
    {"label_smoothing": 1.0},
]


def make_case(rng, shape, dtype, options=(), soft=False, int32=False, scale=3.0):
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    kw = dict(options)
    if kw.get("weight") is True:
        kw["weight"] = (rng.random(c) + 0.1).astype(dtype)
    if soft:
        t = rng.random(shape).astype(dtype)
        t /= t.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
        kw.pop("ignore_index", None)
    else:
        tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
        t = rng.integers(0, c, tshape).astype(np.int32 if int32 else np.int64)
        if "ignore_index" in kw and t.ndim:
            t.reshape(-1)[::3] = kw["ignore_index"]
    return x, t, kw


def torch_ce(x, t, reduction, **kw):
    return torch_loss_and_grad(F.cross_entropy, x, t, reduction, **kw)


# ---------------------------------------------------------------- vs reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_index_targets(dtype, shape, options, reduction):
    rng = np.random.default_rng(hash((shape, str(options), reduction)) % 2**32)
    x, t, kw = make_case(rng, shape, dtype, options, int32=len(shape) % 2 == 0)
    loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
    assert np.shape(loss) == (np.shape(t) if reduction == "none" else ())
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)
    # return_grad=False gives the same loss, and backend="numpy" is the reference
    assert_close(lossk.cross_entropy(x, t, reduction=reduction, **kw), loss, dtype, rtol=0, atol=0)
    assert_close(lossk.cross_entropy(x, t, reduction=reduction, backend="numpy", **kw), ref_loss, dtype, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"label_smoothing": 0.3}, {"weight": True, "label_smoothing": 0.6}])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_probability_targets(dtype, shape, options, reduction):
    rng = np.random.default_rng(len(shape) * 7 + len(options))
    x, t, kw = make_case(rng, shape, dtype, options, soft=True)
    loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 9000), (1, 20000), (2, 4096 * 3 + 1), (5, 8192)])
@pytest.mark.parametrize("soft", [False, True])
def test_long_rows_chunked_and_split(dtype, shape, soft):
    # C > 4096 takes the chunked log-sum-exp; rows < threads take the split-row mode.
    rng = np.random.default_rng(1)
    x, t, kw = make_case(rng, shape, dtype, {"weight": True, "label_smoothing": 0.2}, soft=soft, scale=8)
    for n_threads in (1, 2, 8):
        loss, grad = lossk.cross_entropy(x, t, return_grad=True, n_threads=n_threads, **kw)
        ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, return_grad=True, **kw)
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_output_streaming_path(dtype):
    # >= 16 MiB of gradient switches to non-temporal stores from a row buffer.
    rng = np.random.default_rng(2)
    x, t, kw = make_case(rng, (4200 if dtype == np.float32 else 2100, 1000), dtype, {"ignore_index": 5, "label_smoothing": 0.1})
    loss, grad = lossk.cross_entropy(x, t, return_grad=True, **kw)
    ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, return_grad=True, **kw)
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)
    assert not grad[t == 5].any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_spatial_streamed_gradient_matches_small_calls_bit_for_bit(dtype):
    # (N, C, H, W) with >= 16 MiB of gradient: each tile's gradient is made in
    # scratch and streamed out (inner = 220800 / 110400: tiles at every offset
    # mod 64 bytes). Its bits must be those of slabs run as small calls (no
    # streaming), in place too, and close to the reference.
    rng = np.random.default_rng(4)
    shape = (1, 19, 460 if dtype == np.float32 else 230, 480)
    x, t, kw = make_case(rng, shape, dtype, {"weight": True, "ignore_index": 3, "label_smoothing": 0.1})
    loss, grad = lossk.cross_entropy(x, t, return_grad=True, reduction="none", **kw)
    for h0 in (0, 7):
        xs = np.ascontiguousarray(x[:, :, h0:h0 + 9])
        l_small, g_small = lossk.cross_entropy(xs, t[:, h0:h0 + 9], return_grad=True, reduction="none", **kw)
        assert np.array_equal(l_small, loss[:, h0:h0 + 9]) and np.array_equal(g_small, grad[:, :, h0:h0 + 9])
    xi = x.copy()
    lossk.cross_entropy(xi, t, return_grad=True, reduction="none", grad_out=xi, **kw)
    assert np.array_equal(xi, grad)
    ref_loss, ref_grad = lossk.reference.cross_entropy(x[:, :, :40], t[:, :40], return_grad=True, reduction="none", **kw)
    assert_close(loss[:, :40], ref_loss, dtype)
    assert_close(grad[:, :, :40], ref_grad, dtype)
    assert not grad.transpose(0, 2, 3, 1)[t == 3].any()


STREAMED_ROWS_CODE = """
import numpy as np, lossk
ok = []
for dtype in (np.float32, np.float64):
    rng = np.random.default_rng(3)
    c = 1001                                   # rows start at every 4-byte offset mod 64
    n = (16 << 20) // (c * np.dtype(dtype).itemsize) + 8
    x = (rng.standard_normal((n, c)) * 4).astype(dtype)
    t = rng.integers(0, c, n)
    t[:c] = np.arange(c)                       # the target in the head, body and tail of a row
    t[c + 3] = -100
    w = (rng.random(c) + 0.5).astype(dtype)
    kw = dict(weight=w, reduction="none", return_grad=True)
    loss, grad = lossk.cross_entropy(x, t, **kw)
    g_inplace = x.copy()
    lossk.cross_entropy(g_inplace, t, grad_out=g_inplace, **kw)
    same = np.array_equal(grad, g_inplace)
    for r0 in range(0, n, 512):                # small calls: scaled in cache, then the target
        l_small, g_small = lossk.cross_entropy(x[r0:r0 + 512], t[r0:r0 + 512], **kw)
        same &= np.array_equal(g_small, grad[r0:r0 + 512]) and np.array_equal(l_small, loss[r0:r0 + 512])
    ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, **kw)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    close = np.allclose(grad, ref_grad, rtol=tol, atol=tol / 10) and np.allclose(loss, ref_loss, rtol=tol, atol=tol / 10)
    ok += [bool(same), bool(close), not grad[c + 3].any()]
print(lossk.config()["simd_active"], *ok)
"""


@pytest.mark.parametrize("level", ["default", "baseline", "avx2"])
def test_streamed_gradient_matches_the_cached_path_bit_for_bit(level):
    # >= 16 MiB of gradient with index targets and no smoothing: each row's gradient
    # is scaled as it streams out of the row buffer (stream_scale). Its bits must be
    # those of the same rows in small calls, in place too, on every SIMD level.
    out = run_python(STREAMED_ROWS_CODE, **({} if level == "default" else {"LOSSK_SIMD": level}))
    words = out.stdout.split()
    assert words[1:] == ["True"] * 6, out.stdout + out.stderr
    if level != "default":
        assert words[0] == level


# ---------------------------------------------------------------- edge values

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_ignored_is_nan_mean_and_zero_gradient(dtype, reduction):
    x = np.ones((4, 3), dtype)
    t = np.full(4, -100)
    loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, label_smoothing=0.1)
    if reduction == "mean":
        assert np.isnan(loss)
    else:
        assert np.all(np.asarray(loss) == 0)
    assert np.all(grad == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(dtype):
    x = np.zeros((0, 5), dtype)
    t = np.zeros(0, np.int64)
    assert np.isnan(lossk.cross_entropy(x, t))
    assert lossk.cross_entropy(x, t, reduction="sum") == 0
    loss, grad = lossk.cross_entropy(x, t, reduction="none", return_grad=True)
    assert loss.shape == (0,) and grad.shape == (0, 5)
    assert np.isnan(lossk.cross_entropy(x, np.zeros((0, 5), dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_class_has_zero_loss(dtype):
    x = np.array([[3.0], [-2.0]], dtype)
    loss, grad = lossk.cross_entropy(x, np.array([0, 0]), return_grad=True, reduction="sum")
    assert loss == 0 and np.all(grad == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e4, 1e-4])
def test_huge_and_tiny_logits_are_finite(dtype, scale):
    rng = np.random.default_rng(3)
    x, t, kw = make_case(rng, (50, 7), dtype, {"label_smoothing": 0.1, "weight": True}, scale=scale)
    loss, grad = lossk.cross_entropy(x, t, return_grad=True, **kw)
    ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, return_grad=True, **kw)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # 1e4-scale logits: the loss is ~1e4, so compare relative to that scale
    assert_close(loss, ref_loss, dtype, atol=1e-6 * max(1.0, scale))
    assert_close(grad, ref_grad, dtype)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_inf_and_nan_propagate_like_torch(dtype, smoothing):
    inf, nan = np.inf, np.nan
    x = np.array([[0, inf, 1], [0, -inf, 1], [nan, 0, 0], [-inf, -inf, -inf], [1e4, -1e4, 0], [0, -inf, 2]], dtype)
    t = np.array([0, 1, 2, 0, 1, 0])
    for reduction in REDUCTIONS:
        loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, label_smoothing=smoothing)
        tl, tg = torch_ce(x, t, reduction, label_smoothing=smoothing)
        assert_close(loss, tl, dtype)
        if reduction == "none":  # per-row gradients are independent: compare them all
            assert_close(grad, tg, dtype)


# ---------------------------------------------------------------- vs torch

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS + [(64, 1000), (2, 9000)])
@pytest.mark.parametrize("options", OPTIONS)
def test_matches_torch_index_targets(dtype, shape, options):
    rng = np.random.default_rng(sum(shape) + 3 * len(options))
    x, t, kw = make_case(rng, shape, dtype, options)
    for reduction in REDUCTIONS:
        loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
        tl, tg = torch_ce(x, t, reduction, **kw)
        assert_close(loss, tl, dtype)
        assert_close(grad, tg, dtype)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("options", [{}, {"weight": True, "label_smoothing": 0.4}])
def test_matches_torch_probability_targets(dtype, shape, options):
    rng = np.random.default_rng(sum(shape))
    x, t, kw = make_case(rng, shape, dtype, options, soft=True)
    for reduction in REDUCTIONS:
        loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
        tl, tg = torch_ce(x, t, reduction, **kw)
        assert_close(loss, tl, dtype)
        assert_close(grad, tg, dtype)


@requires_torch
def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 6)).astype(np.float16)
    t = rng.integers(0, 6, 20)
    loss, grad = lossk.cross_entropy(x, t, return_grad=True)
    assert np.asarray(loss).dtype == np.float32 and grad.dtype == np.float32
    tl, tg = torch_ce(x.astype(np.float32), t, "mean")
    assert_close(loss, tl, np.float32)
    assert_close(grad, tg, np.float32)
    # a torch tensor is accepted like any array
    assert_close(lossk.cross_entropy(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(t)), tl, np.float32)


# ---------------------------------------------------------------- gradient

@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (6,)])
@pytest.mark.parametrize("options", OPTIONS[:5])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(shape, options, soft, reduction):
    rng = np.random.default_rng(5)
    x, t, kw = make_case(rng, shape, np.float64, options, soft=soft)
    _, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    fd = finite_difference_grad(lambda z: lossk.reference.cross_entropy(z, t, reduction=reduction, **kw), x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_gradient_of_none_is_gradient_of_the_sum():
    rng = np.random.default_rng(6)
    x, t, kw = make_case(rng, (9, 4), np.float64, {"weight": True, "label_smoothing": 0.3, "ignore_index": 0})
    _, g_none = lossk.cross_entropy(x, t, reduction="none", return_grad=True, **kw)
    _, g_sum = lossk.cross_entropy(x, t, reduction="sum", return_grad=True, **kw)
    assert_close(g_none, g_sum, np.float64)


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, soft", [((6000, 37), False), ((300, 1000), True), ((3, 20000), False),
                                         ((1, 50000), True), ((16, 7, 40, 40), False), ((8, 5, 1000), True)])
def test_bitwise_identical_for_every_thread_count(dtype, shape, soft):
    rng = np.random.default_rng(7)
    x, t, kw = make_case(rng, shape, dtype, {"weight": True, "label_smoothing": 0.1}, soft=soft)
    for reduction in REDUCTIONS:
        assert_bitwise_across_threads(lossk.cross_entropy, x, t, reduction=reduction, **kw)


@pytest.mark.parametrize("layout", ["rows", "spatial"])
def test_every_class_count_2_to_64(layout):
    """Each class count of the narrow and strip kernels (AVX2 float: 8x8 transposes
    of 16 rows, spatial strips of 16 positions with a tail), float32 with weights,
    ignore_index (int32 and int64 targets), smoothing and focal, vs the reference;
    1 vs 2 threads bitwise on several blocks."""
    rng = np.random.default_rng(27)
    for c in range(2, 65):
        shape = (37, c) if layout == "rows" else (2, c, 3, 13)   # 37 rows, 39 positions: partial groups
        x, t, kw = make_case(rng, shape, np.float32, {"weight": True, "ignore_index": c // 2}, int32=c % 2 == 1)
        w = kw.pop("weight")
        for fn, opts in [(lossk.cross_entropy, {"weight": w}), (lossk.cross_entropy, {"label_smoothing": 0.2}),
                         (lossk.softmax_focal_loss, {"alpha": w, "gamma": 2.0})]:
            for reduction in ("mean", "none"):
                loss, grad = fn(x, t, reduction=reduction, return_grad=True, **kw, **opts)
                ref, rgrad = fn(x, t, reduction=reduction, return_grad=True, backend="numpy", **kw, **opts)
                assert_close(loss, ref, np.float32)
                assert_close(grad, rgrad, np.float32)
    shape = (3000, 47) if layout == "rows" else (4, 21, 33, 31)
    x, t, kw = make_case(rng, shape, np.float32, {"weight": True, "ignore_index": 3})
    assert_bitwise_across_threads(lossk.cross_entropy, x, t, reduction="none", **kw)
    assert_bitwise_across_threads(lossk.softmax_focal_loss, x, t, alpha=kw["weight"], gamma=1.5, ignore_index=3)


def test_thread_settings():
    default = lossk.get_num_threads()
    assert default >= 1
    with lossk.num_threads(3) as n:
        assert n == 3 and lossk.get_num_threads() == 3
    assert lossk.get_num_threads() == default
    lossk.set_num_threads(1)
    try:
        assert lossk.get_num_threads() == 1
    finally:
        lossk.set_num_threads(default)
    for bad, exc in [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)]:
        with pytest.raises(exc, match="n_threads"):
            lossk.cross_entropy(np.zeros((2, 3)), np.zeros(2, int), n_threads=bad)
        with pytest.raises(exc):
            lossk.set_num_threads(bad)


def test_default_threads_follow_omp_num_threads():
    out = run_python("import lossk; print(lossk.get_num_threads())", OMP_NUM_THREADS="3")
    assert out.stdout.strip() == "3", out.stderr


@pytest.mark.parametrize("c", range(1, 48))
def test_narrow_rows_in_registers(c):
    """float32 rows of up to 47 classes have a kernel of their own on AVX-512 (ce_rows16:
    16 rows at a time, each block of 16 classes transposed in registers): every class
    count, row counts around its groups of 16 and tiles of 256, weights, label smoothing,
    ignored rows with int64 and int32 targets, probability targets (one-hot rows among
    them), each reduction; vs the reference, in place, every thread count."""
    rng = np.random.default_rng(c)
    for n in ((1, 15, 16, 17, 255, 257, 1537) if c <= 16 else (1, 17, 257, 1100)):
        for options, int32 in (({}, False), ({"weight": True, "ignore_index": 1 % c}, False),
                               ({"ignore_index": 0}, True), ({"weight": True}, True),
                               ({"label_smoothing": 0.1}, False),
                               ({"weight": True, "label_smoothing": 0.3, "ignore_index": 0}, True),
                               ({"label_smoothing": 1.0}, False)):
            x, t, kw = make_case(rng, (n, c), np.float32, options, int32=int32)
            if int32 and "ignore_index" not in kw:
                kw["ignore_index"] = 2**40  # beyond int32: no target is ignored
            for reduction in REDUCTIONS:
                loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
                ref_loss, ref_grad = lossk.reference.cross_entropy(x, t.astype(np.int64), reduction=reduction,
                                                                   return_grad=True, **kw)
                assert_close(loss, ref_loss, np.float32)
                assert_close(grad, ref_grad, np.float32)
                xi = x.copy()
                loss_in_place, _ = lossk.cross_entropy(xi, t, reduction=reduction, return_grad=True, grad_out=xi, **kw)
                assert np.array_equal(loss_in_place, loss, equal_nan=True) and xi.tobytes() == grad.tobytes()
            assert_bitwise_across_threads(lossk.cross_entropy, x, t, reduction="mean", **kw)
        for options in ({}, {"weight": True}, {"label_smoothing": 0.2}, {"weight": True, "label_smoothing": 1.0}):
            x, t, kw = make_case(rng, (n, c), np.float32, options, soft=True)    # probability targets
            t[::3] = 0.0
            t[::3, (np.arange(len(t[::3])) * 7) % c] = 1.0                       # one-hot rows among them
            for reduction in REDUCTIONS:
                loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
                ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
                assert_close(loss, ref_loss, np.float32)
                assert_close(grad, ref_grad, np.float32)
            assert_grad_out_and_in_place(lossk.cross_entropy, x, t, **kw)
            assert_bitwise_across_threads(lossk.cross_entropy, x, t, reduction="mean", **kw)


def test_narrow_rows_write_only_their_gradient():
    """ce_rows16 stores whole vectors that run into the next rows and masks only those that
    would leave the group of 16 rows: the memory after the gradient and the logits of
    rows not read yet (in place) stay untouched."""
    rng = np.random.default_rng(5)
    for c in (1, 3, 7, 10, 16, 17, 21, 40):
        for n in (1, 2, 5, 16, 17, 33):
            x, t, _ = make_case(rng, (n, c), np.float32)
            _, expected = lossk.cross_entropy(x, t, return_grad=True)
            buf = np.full(n * c + 64, 7.0, np.float32)
            grad_out = buf[:n * c].reshape(n, c)
            lossk.cross_entropy(x, t, return_grad=True, grad_out=grad_out)
            assert grad_out.tobytes() == expected.tobytes() and (buf[n * c:] == 7.0).all(), (c, n)
            buf[:n * c] = x.ravel()                     # in place, with the same guard after it
            lossk.cross_entropy(grad_out, t, return_grad=True, grad_out=grad_out)
            assert grad_out.tobytes() == expected.tobytes() and (buf[n * c:] == 7.0).all(), (c, n)


@pytest.mark.parametrize("c", (17, 31, 32, 33, 47, 48))
def test_narrow_rows_with_non_finite_logits(c):
    """+-inf and NaN logits in each block of 16 classes of ce_rows16 (and at 48 classes, the
    row kernel) give the reference's losses and gradients, NaN and inf where it has them."""
    rng = np.random.default_rng(c)
    x = (rng.standard_normal((40, c)) * 3).astype(np.float32)
    t = rng.integers(0, c, 40)
    for row, k in enumerate(range(0, c, 5)):          # a class of every block, in rows 0..
        x[row, k] = (np.inf, -np.inf, np.nan, 1e30)[row % 4]
        t[row + 12] = k
        x[row + 12, k] = -np.inf                        # the target's logit is -inf: loss inf
    x[30] = -np.inf
    t[31] = -100
    w = (rng.random(c) + 0.1).astype(np.float32)
    for kw in ({}, {"weight": w}, {"weight": w, "label_smoothing": 0.2}):
        for reduction in REDUCTIONS:
            loss, grad = lossk.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
            ref_loss, ref_grad = lossk.reference.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
            assert_close(loss, ref_loss, np.float32)
            assert_close(grad, ref_grad, np.float32)


# ---------------------------------------------------------------- outputs and layouts

@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_out_receives_the_gradient_and_in_place_works(dtype):
    rng = np.random.default_rng(8)
    x, t, kw = make_case(rng, (40, 6), dtype, {"label_smoothing": 0.2, "ignore_index": 3})
    _, expected = lossk.cross_entropy(x, t, return_grad=True, **kw)
    buf = np.full_like(x, np.nan)
    loss, grad = lossk.cross_entropy(x, t, return_grad=True, grad_out=buf, **kw)
    assert np.shares_memory(grad, buf) and grad is buf
    assert_close(buf, expected, dtype, rtol=0, atol=0)
    x_inplace = x.copy()
    loss2, grad2 = lossk.cross_entropy(x_inplace, t, return_grad=True, grad_out=x_inplace, **kw)
    assert grad2 is x_inplace and loss2 == loss
    assert_close(x_inplace, expected, dtype, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(3, 9000), (1, 30000), (4, 5, 6)])
def test_in_place_on_every_kernel_path(shape):
    rng = np.random.default_rng(9)
    for soft in (False, True):
        x, t, kw = make_case(rng, shape, np.float64, {"weight": True, "label_smoothing": 0.1}, soft=soft)
        ref_loss, ref_grad = lossk.cross_entropy(x, t, return_grad=True, **kw)
        for n_threads in (1, 2):
            xi = x.copy()
            loss, _ = lossk.cross_entropy(xi, t, return_grad=True, grad_out=xi, n_threads=n_threads, **kw)
            assert loss == ref_loss
            assert_close(xi, ref_grad, np.float64, rtol=0, atol=0)


def test_read_only_non_contiguous_and_list_inputs_give_the_same_numbers():
    rng = np.random.default_rng(10)
    x, t, kw = make_case(rng, (12, 5), np.float64, {"weight": True})
    expected = lossk.cross_entropy(x, t, reduction="none", **kw)
    ro = x.copy()
    ro.setflags(write=False)
    assert_close(lossk.cross_entropy(ro, t, reduction="none", **kw), expected, rtol=0, atol=0)
    wide = np.zeros((12, 10))
    wide[:, ::2] = x
    assert_close(lossk.cross_entropy(wide[:, ::2], t, reduction="none", **kw), expected, rtol=0, atol=0)
    assert_close(lossk.cross_entropy(np.asfortranarray(x), t, reduction="none", **kw), expected, rtol=0, atol=0)
    assert_close(lossk.cross_entropy(x.astype(">f8"), t.astype(">i8"), reduction="none", **kw), expected, rtol=0, atol=0)
    assert_close(lossk.cross_entropy(x.tolist(), t.tolist(), reduction="none", **kw), expected, rtol=0, atol=0)
    assert_close(lossk.cross_entropy(x, t[::-1][::-1].astype(np.uint8), reduction="none", **kw), expected, rtol=0, atol=0)


def test_registry_and_reference_are_the_same_functions():
    assert lossk.LOSSES["cross_entropy"] is lossk.cross_entropy
    assert lossk.reference.cross_entropy is lossk.reference.softmax.cross_entropy


def test_show_config_reports_build(capsys):
    lossk.show_config()
    out = capsys.readouterr().out
    assert lossk.__version__ in out and "OpenMP" in out and "SIMD level" in out
    cfg = lossk.config()
    assert cfg["version"] == lossk.__version__
    assert cfg["simd_active"] in ("baseline", "avx2", "avx512")


@pytest.mark.parametrize("level", ["baseline", "avx2"])
def test_lower_simd_levels_give_the_same_numbers(level):
    # Each level is its own compiled kernel; LOSSK_SIMD selects it in a fresh process.
    code = ("import numpy as np, lossk; rng = np.random.default_rng(0); "
            "x = rng.standard_normal((300, 5000)); t = rng.integers(0, 5000, 300); "
            "l, g = lossk.cross_entropy(x, t, return_grad=True, label_smoothing=0.1); "
            "r, rg = lossk.reference.cross_entropy(x, t, return_grad=True, label_smoothing=0.1); "
            "print(lossk.config()['simd_active'], abs(l - r) < 1e-12, np.abs(g - rg).max() < 1e-14)")
    out = run_python(code, LOSSK_SIMD=level)
    assert out.stdout.split() == [level, "True", "True"], out.stderr


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_clear_errors():
    x = np.zeros((4, 3))
    t = np.array([0, 1, 2, 0])
    ce = lossk.cross_entropy
    cases = [
        (lambda: ce(np.zeros((4, 3), np.int64), t), TypeError, "logits must be a real floating-point array"),
        (lambda: ce(np.zeros((4, 3), np.complex128), t), TypeError, "complex"),
        (lambda: ce(np.zeros((4, 3), bool), t), TypeError, "bool"),
        (lambda: ce(np.float64(1.0), np.int64(0)), ValueError, "0-d"),
        (lambda: ce(x, np.array([0, 1, 2])), ValueError, r"target must have shape \(4,\)"),
        (lambda: ce(x, t.astype(float)), ValueError, "probability target must have the shape of logits"),
        (lambda: ce(x, t.astype(bool)), TypeError, "target must hold integer class indices"),
        (lambda: ce(x, np.array([0, 1, 3, 0])), ValueError, r"target\[2\] = 3 is not a class index in \[0, 3\)"),
        (lambda: ce(x, np.array([0, -1, 2, 0])), ValueError, r"target\[1\] = -1"),
        (lambda: ce(np.zeros((2, 3, 2)), np.array([[0, 1], [2, 7]])), ValueError, r"target\[1, 1\] = 7"),
        (lambda: ce(x, t, label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0.0, 1.0\]"),
        (lambda: ce(x, t, label_smoothing=-0.1), ValueError, "label_smoothing"),
        (lambda: ce(x, t, label_smoothing=float("nan")), ValueError, "label_smoothing"),
        (lambda: ce(x, t, weight=np.ones(4)), ValueError, r"weight must have shape \(3,\)"),
        (lambda: ce(x, t, weight=np.ones(3, complex)), TypeError, "weight"),
        (lambda: ce(x, t, reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: ce(x, t, reduction=None), ValueError, "reduction"),
        (lambda: ce(x, np.full((4, 3), 1 / 3), ignore_index=0), ValueError, "ignore_index is not supported"),
        (lambda: ce(x, t, ignore_index=1.5), TypeError, "ignore_index"),
        (lambda: ce(x, t, backend="torch"), ValueError, "backend must be one of"),
        (lambda: ce(x, t, grad_out=np.empty((4, 3))), ValueError, "return_grad=False"),
        (lambda: ce(x, t, return_grad=True, grad_out=np.empty((4, 3), np.float32)), TypeError, "grad_out must have dtype float64"),
        (lambda: ce(x, t, return_grad=True, grad_out=np.empty((3, 4))), ValueError, r"grad_out must have shape \(4, 3\)"),
        (lambda: ce(x, t, return_grad=True, grad_out=np.empty((3, 4)).T), ValueError, "C-contiguous"),
        (lambda: ce(x, t, return_grad=True, grad_out=[[0.0] * 3] * 4), TypeError, "numpy.ndarray"),
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()
    ro = np.empty((4, 3))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        ce(x, t, return_grad=True, grad_out=ro)
    soft = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match="grad_out overlaps target"):
        ce(x, soft, return_grad=True, grad_out=soft)
    big = np.zeros((5, 3))
    with pytest.raises(ValueError, match="grad_out overlaps pred"):
        ce(big[:4], t, return_grad=True, grad_out=big[1:])


def test_bad_labels_are_reported_for_every_index_dtype_and_layout():
    for dt in (np.int32, np.int64, np.int16, np.uint16):
        t = np.zeros((2, 3), dt)
        t[1, 2] = 9
        with pytest.raises(ValueError, match=r"target\[1, 2\] = 9"):
            lossk.cross_entropy(np.zeros((2, 4, 3), np.float32), t, return_grad=True)
    # ignore_index itself is fine even when outside [0, C)
    assert lossk.cross_entropy(np.zeros((2, 4)), np.array([-7, 1]), ignore_index=-7) == pytest.approx(np.log(4))
    # an ignore_index inside [0, C) ignores that class
    assert lossk.cross_entropy(np.zeros((2, 4)), np.array([2, 1]), ignore_index=2, reduction="sum") == pytest.approx(np.log(4))
