"""The pointwise driver (csrc/pointwise/driver.c, driver_loop.h) through the five
losses that use it: sizes across chunk and block boundaries, broadcast operands,
thread counts, output buffers, layouts, dtypes, empty inputs and the checks every
pointwise loss shares. Loss-specific semantics: test_pointwise_binary.py, test_pointwise_kl_div.py."""
import numpy as np
import pytest

import lossk
from lossk._registry import SPECS, family
from lossk._checks import as_operand, operand_layout
from helpers import assert_bitwise_across_threads, assert_close

# every pointwise loss of one prediction and one target of its shape (the driver's own form)
# with the three reductions (rmse_loss, only "mean", has tests of its own)
ELEMENTWISE = tuple(name for name in family("pointwise")
                    if SPECS[name].target is not None and len(SPECS[name].inputs) == 2
                    and {"mean", "sum", "none"} <= set(SPECS[name].reductions))
DTYPES = (np.float32, np.float64)
# EW_CHUNK, EW_BLOCK_ELEMS and EW_BIG_BLOCKS_FROM of csrc/pointwise/driver.h
CHUNK, BLOCK, BIG_FROM = 1024, 16384, 1 << 22


def make_inputs(name, rng, shape, dtype=np.float64):
    """A valid (pred, target) pair of `shape` for loss `name`."""
    if name == "binary_cross_entropy":
        x = rng.uniform(0.02, 0.98, shape)
    elif name == "kl_div":
        x = np.log(rng.uniform(0.05, 1.0, shape))
    else:
        x = 2.0 * rng.standard_normal(shape)
    if name == "hinge_loss":
        t = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    elif name == "kl_div":
        t = rng.uniform(0.0, 1.0, shape)
    else:
        t = (rng.random(shape) < 0.3).astype(np.float64)
    return np.asarray(x, dtype), np.asarray(t, dtype)


def options(name, shape):
    """Non-default options that exercise each loss's parameters (weights sized for `shape`)."""
    rng = np.random.default_rng(7)
    c = shape[-1] if shape else 1
    return {
        "sigmoid_focal_loss": dict(alpha=0.3, gamma=1.5),
        "binary_cross_entropy": dict(weight=rng.uniform(0.5, 2.0, c)),
        "binary_cross_entropy_with_logits": dict(weight=rng.uniform(0.5, 2.0, c),
                                                 pos_weight=rng.uniform(0.5, 3.0, c)),
        "hinge_loss": dict(margin=0.5, squared=True),
        "kl_div": dict(log_target=False),
    }.get(name, {})


def run_both(name, x, t, **kw):
    """(kernel result, reference result) of one call with return_grad=True."""
    fn, ref = getattr(lossk, name), getattr(lossk.reference, name)
    return fn(x, t, return_grad=True, **kw), ref(x, t, return_grad=True, **kw)


def assert_matches_reference(name, x, t, **kw):
    (loss, grad), (loss_ref, grad_ref) = run_both(name, x, t, **kw)
    assert np.asarray(loss).dtype == grad.dtype == np.asarray(loss_ref).dtype
    assert_close(loss, loss_ref, grad.dtype)
    assert_close(grad, grad_ref, grad.dtype)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 15, 16, 17, CHUNK - 1, CHUNK + 1, BLOCK - 1, BLOCK + 3, 3 * BLOCK + 5])
def test_sizes_across_chunks_and_blocks(name, dtype, n):
    rng = np.random.default_rng(n)
    x, t = make_inputs(name, rng, (n,), dtype)
    for reduction in ("mean", "sum", "none"):
        assert_matches_reference(name, x, t, reduction=reduction, **options(name, (n,)))


# Broadcast operands: every layout the (inner, period) pattern expresses, short
# and long periods and runs (around EW_CHUNK), and the one it does not.
WEIGHT_LAYOUTS = [
    ((37, 11), ()), ((37, 11), (1,)), ((37, 11), (11,)), ((37, 11), (37, 1)), ((37, 11), (37, 11)),
    ((37, 11), (1, 11)), ((200, 2), (2,)), ((3, 1500), (1500,)), ((3, 1500), (3, 1)),
    ((2, 3, 4, 5), (3, 1, 1)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((2, 3, 4, 5), (4, 5)),
    ((2, 3, 4, 5), (5,)), ((2, 3, 4, 5), (2, 1, 1, 1)), ((2, 3, 4, 5), (2, 3, 1, 1)),
    ((2, 3, 4, 5), (2, 1, 4, 5)), ((2, 3, 4, 5), (3, 1, 5)), ((4, 1, 6), (4, 1, 1)),
    ((4, 1, 6), (1, 6)), ((2, 1300, 3), (2, 1, 3)), ((3, 2500), (3, 1)),
]


@pytest.mark.parametrize("shape,wshape", WEIGHT_LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_weights_match_reference(shape, wshape, dtype):
    rng = np.random.default_rng(len(wshape))
    w = rng.uniform(0.5, 2.0, wshape)
    pw = rng.uniform(0.5, 3.0, wshape)
    x, t = make_inputs("binary_cross_entropy_with_logits", rng, shape, dtype)
    for reduction in ("mean", "none"):
        assert_matches_reference("binary_cross_entropy_with_logits", x, t, weight=w, reduction=reduction)
        assert_matches_reference("binary_cross_entropy_with_logits", x, t, pos_weight=pw,
                                 reduction=reduction)
        assert_matches_reference("binary_cross_entropy_with_logits", x, t, weight=w, pos_weight=pw[::-1] if pw.ndim else pw,
                                 reduction=reduction)
    p, tp = make_inputs("binary_cross_entropy", rng, shape, dtype)
    assert_matches_reference("binary_cross_entropy", p, tp, weight=w, reduction="sum")


@pytest.mark.parametrize("shape,wshape,expanded", [
    ((37, 11), (11,), False), ((37, 11), (37, 1), False), ((2, 3, 4, 5), (3, 1, 1), False),
    ((2, 3, 4, 5), (4, 5), False), ((2, 3, 4, 5), (), False), ((2, 3, 4, 5), (2, 1, 4, 5), True),
])
def test_broadcast_operand_is_not_expanded(shape, wshape, expanded):
    w = np.arange(1.0, 1.0 + np.prod(wshape)).reshape(wshape)
    flat, inner, period = operand_layout(as_operand(w, "weight", np.dtype(np.float64), shape), shape)
    assert np.shares_memory(flat, w) != expanded
    assert flat.size == (np.prod(shape) if expanded else w.size)
    # the pattern reproduces the broadcast exactly
    i = np.arange(int(np.prod(shape)))
    np.testing.assert_array_equal(flat[(i // inner) % period], np.broadcast_to(w, shape).reshape(-1))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bitwise_identical_for_every_thread_count(name):
    rng = np.random.default_rng(3)
    shape = (3000, 101)   # 303,000 elements: 19 blocks, with chunk tails
    x, t = make_inputs(name, rng, shape, np.float32)
    opts = options(name, shape)
    assert_bitwise_across_threads(getattr(lossk, name), x, t, **opts)
    assert_bitwise_across_threads(getattr(lossk, name), x.astype(np.float64), t.astype(np.float64),
                                  reduction="sum", **opts)


@pytest.mark.parametrize("n", (BIG_FROM - 1, BIG_FROM + 3))
def test_sizes_around_the_big_blocks(n):
    """Either side of the switch to bigger blocks: the reference's numbers, and the
    same bits for every thread count."""
    rng = np.random.default_rng(n)
    x, t = make_inputs("sigmoid_focal_loss", rng, (n,), np.float32)
    assert_matches_reference("sigmoid_focal_loss", x, t, reduction="sum")
    assert_bitwise_across_threads(lossk.sigmoid_focal_loss, x, t)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_out_and_in_place(name, dtype):
    rng = np.random.default_rng(4)
    x, t = make_inputs(name, rng, (70, 13), dtype)
    opts = options(name, x.shape)
    fn = getattr(lossk, name)
    loss, grad = fn(x, t, return_grad=True, **opts)
    out = np.full_like(x, np.nan)
    loss2, grad2 = fn(x, t, return_grad=True, grad_out=out, **opts)
    assert grad2 is out and loss2 == loss
    np.testing.assert_array_equal(out, grad)
    x_in = x.copy()
    loss3, grad3 = fn(x_in, t, return_grad=True, grad_out=x_in, **opts)
    assert grad3 is x_in and loss3 == loss
    np.testing.assert_array_equal(x_in, grad)
    # "none": the per-element losses are a new array, the gradient is of their sum
    total, grad_sum = fn(x, t, reduction="sum", return_grad=True, **opts)
    losses, grad4 = fn(x, t, reduction="none", return_grad=True, **opts)
    assert losses.shape == x.shape and losses.dtype == dtype
    assert_close(losses.sum(dtype=np.float64), total, dtype)
    np.testing.assert_array_equal(grad4, grad_sum)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_layouts_and_read_only_inputs_give_the_same_numbers(name):
    rng = np.random.default_rng(5)
    x, t = make_inputs(name, rng, (40, 30), np.float64)
    opts = options(name, (40, 15))
    fn = getattr(lossk, name)
    xs, ts = x[:, ::2], t[:, ::2]                     # non-contiguous
    expected = fn(np.ascontiguousarray(xs), np.ascontiguousarray(ts), return_grad=True, **opts)
    got = fn(xs, ts, return_grad=True, **opts)
    xr, tr = np.ascontiguousarray(xs), np.ascontiguousarray(ts)
    xr.setflags(write=False)
    tr.setflags(write=False)
    got_ro = fn(xr, tr, return_grad=True, **opts)
    xf = np.asfortranarray(xs)
    got_f = fn(xf, ts, return_grad=True, **opts)
    got_list = fn(xs.tolist(), ts.tolist(), return_grad=True, **opts)
    for res in (got, got_ro, got_f, got_list):
        assert res[0] == expected[0]
        np.testing.assert_array_equal(res[1], expected[1])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_float16_is_computed_in_float32(name):
    rng = np.random.default_rng(6)
    x, t = make_inputs(name, rng, (9, 5), np.float16)
    loss, grad = getattr(lossk, name)(x, t, return_grad=True)
    assert np.asarray(loss).dtype == grad.dtype == np.float32
    loss32, grad32 = getattr(lossk, name)(x.astype(np.float32), t.astype(np.float32), return_grad=True)
    assert loss == loss32
    np.testing.assert_array_equal(grad, grad32)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_d_and_empty_inputs(name, dtype):
    rng = np.random.default_rng(8)
    x, t = make_inputs(name, rng, (), dtype)
    assert_matches_reference(name, x, t)
    losses, grad = getattr(lossk, name)(x, t, reduction="none", return_grad=True)
    assert losses.shape == grad.shape == ()
    fn = getattr(lossk, name)
    for shape in [(0,), (0, 4), (3, 0)]:
        x, t = np.zeros(shape, dtype), np.zeros(shape, dtype)
        loss, grad = fn(x, t, return_grad=True)
        assert np.isnan(loss) and grad.shape == shape and grad.dtype == dtype    # torch: mean of nothing
        assert fn(x, t, reduction="sum") == 0
        assert fn(x, t, reduction="none").shape == shape
    if name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        loss = fn(np.zeros((0, 4), dtype), np.zeros((0, 4), dtype), weight=np.ones(4), reduction="sum")
        assert loss == 0


def aligned_empty_like(a):
    """An array like `a` whose data starts on a 64-byte boundary."""
    buf = np.empty(a.size + 16, a.dtype)
    skip = (-buf.ctypes.data % 64) // a.itemsize
    out = buf[skip:skip + a.size].reshape(a.shape)
    assert out.ctypes.data % 64 == 0
    return out


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "sigmoid_focal_loss"])
def test_non_temporal_store_path(name):
    """Outputs of 16 MiB and more are streamed from the chunk buffers, a
    16-byte-aligned one from its first 64-byte boundary: the same numbers for
    either alignment."""
    rng = np.random.default_rng(9)
    n = (16 << 20) // 4 + 4099
    x, t = make_inputs(name, rng, (n // 7, 7), np.float32)
    opts = dict(weight=np.linspace(0.5, 2.0, 7)) if name == "binary_cross_entropy_with_logits" else {}
    fn = getattr(lossk, name)
    loss_ref, grad_ref = getattr(lossk.reference, name)(x, t, return_grad=True, **opts)
    aligned = aligned_empty_like(x)
    loss, grad = fn(x, t, return_grad=True, grad_out=aligned, **opts)
    assert_close(loss, loss_ref)
    assert_close(grad, grad_ref)
    loss2, grad2 = fn(x, t, return_grad=True, **opts)          # unaligned (NumPy's 16 bytes)
    assert loss2 == loss
    np.testing.assert_array_equal(grad2, grad)
    losses, grad3 = fn(x, t, reduction="none", return_grad=True, grad_out=aligned, **opts)
    assert losses.ctypes.data % 64 == 0                         # allocated aligned, so streamed too
    assert_close(losses, getattr(lossk.reference, name)(x, t, reduction="none", **opts))
    # the sum's gradient, scaled for the mean (not bitwise: BCE folds the scale into a division)
    assert_close(grad3 * np.float32(1.0 / x.size), grad2)


def test_registered():
    for name in ELEMENTWISE:
        assert lossk.LOSSES[name] is getattr(lossk, name)
        assert getattr(lossk.reference, name).__name__ == name


# ---- bad input: every loss raises before any kernel work, with a clear message ----

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bad_arrays_raise(name):
    rng = np.random.default_rng(10)
    x, t = make_inputs(name, rng, (6, 4), np.float64)
    fn = getattr(lossk, name)
    pred_name = SPECS[name].inputs[0]
    with pytest.raises(TypeError, match=pred_name):
        fn(np.ones((6, 4), np.int64), t)
    with pytest.raises(TypeError, match=pred_name):
        fn(x.astype(np.complex128), t)
    with pytest.raises(TypeError, match="target"):
        fn(x, t.astype(np.complex128))
    with pytest.raises(ValueError, match="target (must have the shape|of shape .* does not broadcast)"):
        fn(x, t[:, :3])
    if name != "kl_div":   # kl_div broadcasts as torch does (test_pointwise_kl_div.py)
        # a target of fewer dimensions raises, or (regression losses) broadcasts as torch
        try:
            loss = fn(x, t[0])
        except ValueError as e:
            assert "target must have the shape" in str(e)
        else:
            assert_close(loss, fn(x, np.broadcast_to(t[0], x.shape)))
    with pytest.raises(ValueError, match="reduction"):
        fn(x, t, reduction="avg")
    if name != "kl_div":
        with pytest.raises(ValueError, match="reduction"):
            fn(x, t, reduction="batchmean")
    with pytest.raises(ValueError, match="backend"):
        fn(x, t, backend="cuda")
    with pytest.raises(ValueError, match="n_threads"):
        fn(x, t, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        fn(x, t, n_threads=1.5)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bad_grad_out_raises(name):
    rng = np.random.default_rng(11)
    x, t = make_inputs(name, rng, (6, 4), np.float64)
    fn = getattr(lossk, name)
    with pytest.raises(ValueError, match="return_grad"):
        fn(x, t, grad_out=np.empty_like(x))
    with pytest.raises(TypeError, match="dtype"):
        fn(x, t, return_grad=True, grad_out=np.empty_like(x, np.float32))
    with pytest.raises(ValueError, match="shape"):
        fn(x, t, return_grad=True, grad_out=np.empty((4, 6)))
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(x, t, return_grad=True, grad_out=np.empty((6, 8))[:, ::2])
    ro = np.empty_like(x)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        fn(x, t, return_grad=True, grad_out=ro)
    with pytest.raises(ValueError, match="overlaps target"):
        fn(x, t, return_grad=True, grad_out=t)
    with pytest.raises(TypeError, match="grad_out"):
        fn(x, t, return_grad=True, grad_out=[0.0] * 24)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bad_weights_raise(name):
    rng = np.random.default_rng(12)
    x, t = make_inputs(name, rng, (6, 4), np.float64)
    fn = getattr(lossk, name)
    operands = ("weight", "pos_weight") if name.endswith("logits") else ("weight",)
    for op in operands:
        with pytest.raises(ValueError, match=f"{op} of shape \\(3,\\) does not broadcast"):
            fn(x, t, **{op: np.ones(3)})
        with pytest.raises(ValueError, match=f"{op} of shape \\(2, 6, 4\\) does not broadcast"):
            fn(x, t, **{op: np.ones((2, 6, 4))})
        with pytest.raises(TypeError, match=op):
            fn(x, t, **{op: np.ones(4, np.complex64)})
        w = np.ones_like(x)
        with pytest.raises(ValueError, match=f"overlaps {op}"):
            fn(x, t, return_grad=True, grad_out=w, **{op: w})


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "log_cosh_loss"])
def test_vector_lanes_are_independent(name):
    """The 8-lane kernels (AVX2) hand the elements they do not take (inf, NaN,
    |x| beyond their range) to the scalar formula: every element's loss and
    gradient depend on its own operands only, not on its lane, its neighbours
    or the chunk's tail mask; and they match the reference."""
    rng = np.random.default_rng(21)
    x = np.float32(3.0) * rng.standard_normal(45).astype(np.float32)
    t = (rng.random(45) < 0.4).astype(np.float32)
    x[[3, 17, 30]] = [np.inf, np.nan, -200.0]      # scalar lanes amid vector ones
    t[9] = np.inf
    fn = getattr(lossk, name)
    kw = dict(pos_weight=np.float32(1.5)) if name == "binary_cross_entropy_with_logits" else {}
    losses, grad = fn(x, t, reduction="none", return_grad=True, **kw)
    ref_l, ref_g = getattr(lossk.reference, name)(x, t, reduction="none", return_grad=True, **kw)
    assert_close(losses, ref_l)
    assert_close(grad, ref_g)
    for shift in (1, 5, 8):        # other lanes, other masked tails
        l2, g2 = fn(x[shift:].copy(), t[shift:].copy(), reduction="none", return_grad=True, **kw)
        np.testing.assert_array_equal(l2, losses[shift:])
        np.testing.assert_array_equal(g2, grad[shift:])
    finite = np.isfinite(x) & np.isfinite(t) & (np.abs(x) < 50)
    l3, g3 = fn(x[finite].copy(), t[finite].copy(), reduction="none", return_grad=True, **kw)
    np.testing.assert_array_equal(l3, losses[finite])
    np.testing.assert_array_equal(g3, grad[finite])
